"""`agentctl breaker list|show|reset|trip` and `agentctl selftest ID` (SPEC §7)."""


from typing import Annotated, Any

import typer

from agentctl.cli.common import actor, now, ws
from agentctl.cli.render import emit_json, kv, table

breaker_app = typer.Typer(help="Circuit breakers per agent: list, show, reset, trip.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
AgentArg = Annotated[str, typer.Argument(metavar="AGENT", help="Agent name.")]
STATE_LABEL = {"closed": "closed", "open": "OPEN", "half_open": "half-open"}


def _row(b: dict[str, Any]) -> dict[str, Any]:
    p = b["policy"]
    return {**b, "stateLabel": STATE_LABEL[b["state"]],
            "failures": f"{b['failuresInWindow']}/{p['threshold']} in {p['window_s']:g}s",
            "retry": f"{b['retryAt']} (in {b['retryInS']}s)" if b["retryAt"] else None,
            "cooldown": f"{b['cooldownS'] or p['cooldown_s']:g}s"}


def _print_breaker(b: dict[str, Any]) -> None:
    r, p = _row(b), b["policy"]
    pairs: list[tuple[str, Any]] = [("agent", b["agent"]), ("role", b["role"]), ("state", r["stateLabel"]),
                                    ("failures", r["failures"])]
    if b["state"] != "closed":
        pairs += [("opened at", b["openedAt"]), ("probe at", r["retry"]), ("probe started", b["probeStartedAt"]),
                  ("cooldown", r["cooldown"])]
    pairs += [("trips", b["trips"]), ("last change", f"{b['lastChange']} at {b['lastChangeAt']}" if b["lastChange"] else None),
              ("policy", f"{p['threshold']} failures in {p['window_s']:g}s → open {p['cooldown_s']:g}s "
                         f"(doubling after a failed probe, ≤ {p['max_cooldown_s']:g}s)")]
    typer.echo(kv(pairs))


@breaker_app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Every agent's breaker: state, failures in the window, when an open one is retried, policy."""
    from agentctl.breakers.breaker import list_breakers

    rows = list_breakers(ws(ctx), now())
    if json_:
        emit_json(rows)
    elif rows:
        typer.echo(table([_row(b) for b in rows], ["agent", "role", "stateLabel", "failures", "retry", "cooldown"],
                         ["AGENT", "ROLE", "STATE", "FAILURES", "PROBE AT", "COOLDOWN"]))
    else:
        typer.echo("no agents defined")


@breaker_app.command("show")
def show(ctx: typer.Context, agent: AgentArg, json_: JsonOpt = False) -> None:
    """One agent's breaker in detail."""
    from agentctl.breakers.breaker import breaker_status

    w = ws(ctx)
    b = breaker_status(w, w.agent(agent), now())
    emit_json(b) if json_ else _print_breaker(b)


@breaker_app.command("reset")
def reset(ctx: typer.Context, agent: AgentArg, json_: JsonOpt = False) -> None:
    """Close the breaker now and forget its failures."""
    from agentctl.breakers.breaker import reset_breaker

    w = ws(ctx)
    b = reset_breaker(w, w.agent(agent), actor(), now())
    emit_json(b) if json_ else typer.echo(f"{agent}: breaker closed (was {STATE_LABEL[b['was']]})")


@breaker_app.command("trip")
def trip(ctx: typer.Context, agent: AgentArg, json_: JsonOpt = False) -> None:
    """Open the breaker now for its cooldown: runs are refused until the probe time."""
    from agentctl.breakers.breaker import trip_breaker

    w = ws(ctx)
    b = trip_breaker(w, w.agent(agent), actor(), now())
    emit_json(b) if json_ else typer.echo(f"{agent}: breaker open until {b['retryAt']} ({b['retryInS']}s)")


def selftest(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonOpt = False) -> None:
    """Re-run the task's agent's self-tests against its artifact (no agent run); exit 4 if one fails."""
    from agentctl.errors import SelfTestFailed
    from agentctl.selftests.selftest import selftest_task

    agent, report = selftest_task(ws(ctx), task_id, actor(), now())
    if json_:
        emit_json({"taskId": task_id, "agent": agent, **report.model_dump(mode="json")})
    elif not report.results:
        typer.echo(f"{task_id}: agent {agent} has no self-tests (roles.<role>.self_tests or self_tests in its file)")
    else:
        for r in report.results:
            code = f" exit {r.exitCode}" if r.exitCode not in (None, 0) else ""
            typer.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.name} ({r.durationS:.2f}s{code})")
            if not r.ok and r.outputTail:
                typer.echo("\n".join("     " + line for line in r.outputTail.rstrip().splitlines()[-20:]))
    failed = [r.name for r in report.results if not r.ok]
    if failed:
        raise SelfTestFailed(f"{task_id}: {len(failed)} of {len(report.results)} self-test(s) failed: "
                             + ", ".join(failed))
    if not json_ and report.results:
        typer.echo(f"{task_id}: all {len(report.results)} self-test(s) passed")


def register(app: typer.Typer) -> None:
    app.add_typer(breaker_app, name="breaker")
    app.command("selftest")(selftest)
