"""`agentctl learn`, `agentctl regressions …`, `agentctl friction` (SPEC §9)."""


from datetime import datetime
from typing import Annotated, Any

import typer

from agentctl.cli.common import actor, echo_err, in_agent_process, now, ws
from agentctl.cli.render import emit_json, kv, table

regressions_app = typer.Typer(help="The regressions list: what the fleet learned from its failures.",
                              no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
NowOpt = Annotated[str | None, typer.Option("--now", help="Evaluate as of this ISO time (default: now).")]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="A regression id, e.g. REG-001.")]
REG_COLUMNS = ["id", "status", "agent", "role", "count", "lastSeen", "signature"]


def _clock(now_opt: str | None) -> datetime:
    from agentctl.core.clock import parse_iso

    return parse_iso(now_opt) if now_opt else now()


def _refuse_in_agent(what: str) -> None:
    agent = in_agent_process()
    if agent:
        from agentctl.errors import UsageError

        raise UsageError(f"`agentctl regressions {what}` is a human decision: refused inside an agent process "
                         f"(AGENTCTL_AGENT={agent}); no agent approves the rules it is given")


def learn(ctx: typer.Context,
          since: Annotated[str, typer.Option("--since", help="How far back to read, e.g. 24h, 7d.")] = "24h",
          now_opt: NowOpt = None, json_: JsonOpt = False) -> None:
    """Nightly extraction: group the window's failures into memory/regressions.yaml."""
    from agentctl.core.clock import parse_duration
    from agentctl.learning.learn import run_learn

    summary = run_learn(ws(ctx), parse_duration(since), _clock(now_opt))
    if json_:
        emit_json(summary)
        return
    typer.echo(f"learn {summary['window']['start']} → {summary['window']['end']}: "
               f"{summary['counted']} new occurrence(s), {len(summary['newCandidates'])} new candidate(s), "
               f"{len(summary['recurring'])} recurring, {summary['friction']} friction finding(s)")
    for c in summary["newCandidates"]:
        typer.echo(f"  new {c['id']}  {c['signature']}  ({c['count']}×)")
    for r in summary["recurring"]:
        typer.echo(f"  +{r['added']} {r['id']} [{r['status']}]  {r['signature']}  (now {r['count']}×)")
    if summary["newCandidates"]:
        typer.echo("review with `agentctl regressions list --status candidate`, then `agentctl regressions approve ID`")
    typer.echo(f"summary written to {summary['summaryFile']}")


@regressions_app.command("list")
def list_(ctx: typer.Context,
          status: Annotated[str | None, typer.Option("--status", help="candidate, active or retired.")] = None,
          json_: JsonOpt = False) -> None:
    """The regressions list, filtered by status."""
    from agentctl.learning.regressions import list_regressions

    rows = [r.model_dump(mode="json") for r in list_regressions(ws(ctx), status)]
    if json_:
        emit_json(rows)
    elif rows:
        typer.echo(table(rows, REG_COLUMNS))
    else:
        typer.echo("no regressions" + (f" with status {status}" if status else "") + " (run `agentctl learn`)")


def _print_regression(r: dict[str, Any]) -> None:
    keys = ("id", "status", "agent", "role", "signature", "rule", "count", "firstSeen", "lastSeen",
            "approvedBy", "approvedAt", "retiredBy", "retiredAt")
    typer.echo(kv([(k, r.get(k)) for k in keys if k in r]))
    if r.get("examples"):
        typer.echo("examples:")
    for e in r.get("examples") or []:
        typer.echo(f"  {e['at']}  {e['source']} {e['ref']}: {e['message']}")


@regressions_app.command("show")
def show(ctx: typer.Context, reg_id: IdArg, json_: JsonOpt = False) -> None:
    """One regression with its rule and examples."""
    from agentctl.learning.regressions import get_regression

    r = get_regression(ws(ctx), reg_id).model_dump(mode="json", exclude_none=True)
    emit_json(r) if json_ else _print_regression(r)


@regressions_app.command("approve")
def approve(ctx: typer.Context, reg_id: IdArg,
            by: Annotated[str | None, typer.Option("--by", help="Who approves (default: the current user).")] = None,
            rule: Annotated[str | None, typer.Option("--rule", help="Reword the rule while approving.")] = None,
            json_: JsonOpt = False) -> None:
    """Make a candidate active: its rule goes into every prompt of that role/agent. Humans only."""
    _refuse_in_agent("approve")
    from agentctl.learning.regressions import approve as approve_regression

    reg, changed = approve_regression(ws(ctx), reg_id, by or actor(), now(), rule)
    if json_:
        emit_json(reg.model_dump(mode="json", exclude_none=True) | {"changed": changed})
    else:
        who = " and ".join(x for x in (reg.role and f"role {reg.role}", reg.agent and f"agent {reg.agent}") if x)
        typer.echo(f"{reg.id}: active — its rule now goes into the prompts of {who or 'no agent'}"
                   if changed else f"{reg.id}: already active")


@regressions_app.command("retire")
def retire(ctx: typer.Context, reg_id: IdArg,
           by: Annotated[str | None, typer.Option("--by", help="Who retires it (default: the current user).")] = None,
           json_: JsonOpt = False) -> None:
    """Retire a regression: its rule leaves the prompts. Humans only."""
    _refuse_in_agent("retire")
    from agentctl.learning.regressions import retire as retire_regression

    reg, changed = retire_regression(ws(ctx), reg_id, by or actor(), now())
    if json_:
        emit_json(reg.model_dump(mode="json", exclude_none=True) | {"changed": changed})
    else:
        typer.echo(f"{reg.id}: retired" if changed else f"{reg.id}: already retired")


def friction(ctx: typer.Context,
             days: Annotated[float, typer.Option("--days", help="How many days back to look.")] = 7,
             conflict_window: Annotated[str, typer.Option(
                 "--conflict-window", help="Two actors setting one field within this time conflict.")] = "1h",
             now_opt: NowOpt = None, json_: JsonOpt = False) -> None:
    """Contradictions between agents (review vs QA, conflicting values, self-test vs rejection, reopened).

    A report: exits 0 whether or not it finds anything (the nightly `learn` job alerts on findings)."""
    from agentctl.core.clock import iso, parse_duration
    from agentctl.learning.friction import find_friction, window_for_days

    if days <= 0:
        from agentctl.errors import UsageError

        raise UsageError(f"--days must be positive; got {days:g}")
    from agentctl.storage import JsonlReader

    start, end = window_for_days(days, _clock(now_opt))
    reader = JsonlReader()
    findings = find_friction(ws(ctx), start, end, parse_duration(conflict_window), reader)
    if json_:
        emit_json({"window": {"start": iso(start), "end": iso(end)}, "count": len(findings), "findings": findings,
                   "skippedLines": reader.skipped})
        return
    if reader.skipped:
        echo_err(f"skipped {reader.skipped} torn or corrupt log line(s)")
    if not findings:
        typer.echo(f"no friction between agents from {iso(start)} to {iso(end)}")
        return
    typer.echo(f"{len(findings)} friction finding(s) from {iso(start)} to {iso(end)}:")
    for f in findings:
        typer.echo(f"\n{f['kind']}  {f['taskId']}  agents: {', '.join(f['agents']) or '-'}\n  {f['summary']}")
        for e in f["evidence"]:
            detail = (f"{e.get('change')}: {e.get('before')!r} → {e.get('after')!r}" if "after" in e
                      else ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("ts", "taskId", "actor")))
            typer.echo(f"    {e.get('ts')}  {e.get('actor') or '-'}  {e.get('taskId', f['taskId'])}  {detail}")


def register(app: typer.Typer) -> None:
    app.command("learn")(learn)
    app.command("friction")(friction)
    app.add_typer(regressions_app, name="regressions")
