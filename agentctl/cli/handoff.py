"""`agentctl validate`, `agentctl handoff`, `agentctl gate approve|kill|list` (SPEC §6)."""


import sys
from typing import Annotated, Any

import typer

from agentctl.cli.common import actor, in_agent_process, now, path_arg, ws
from agentctl.cli.render import emit_json, table

gate_app = typer.Typer(help="Human gates: approve, reject or kill work waiting in review.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
TaskArg = Annotated[str, typer.Argument(metavar="ID", help="Task id.")]
ByOpt = Annotated[str, typer.Option("--by", help="Your name: the human who decides.")]


def _read_input(file: str) -> tuple[bytes, str]:
    from agentctl.errors import UsageError

    if file == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    path = path_arg(file)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None


def validate(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The artifact (JSON); - reads stdin.")],
    schema: Annotated[str, typer.Option("--schema", "-s", help="Contract name (schemas/NAME.json).")],
    json_: JsonOpt = False,
) -> None:
    """Check an artifact against a contract: exit 0 if valid, else 3 with every problem."""
    from agentctl.contracts.schemas import check_artifact, parse_artifact, schema_path
    from agentctl.errors import Rejected

    workspace = ws(ctx)
    schema_path(workspace, schema)  # unknown contract → 78 before reading the file
    raw, shown = _read_input(file)
    data, verdict = parse_artifact(raw)
    if verdict is None:
        verdict = check_artifact(workspace, schema, data)
    if json_:
        emit_json({"file": shown, "schema": schema, "valid": verdict.valid, "summary": verdict.summary or None,
                   "missing": verdict.missing, "problems": verdict.problems})
    elif verdict.valid:
        typer.echo(f"{shown}: valid {schema}")
    else:
        typer.echo(f"{shown}: not a valid {schema}: {verdict.summary}")
        for p in verdict.problems:
            typer.echo(f"  {p['path']}: {p['message']}")
    if not verdict.valid:
        raise Rejected(f"{shown}: {len(verdict.problems)} problem(s) against schema {schema}")


def handoff(
    ctx: typer.Context,
    task_id: TaskArg,
    artifact: Annotated[str | None, typer.Option("--artifact", help="The artifact file (default: the task's output, "
                                                 "else artifacts/ID/<produces>.json).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Validate a task's artifact against its stage's contract; pass it on, or reject it (exit 3)."""
    from agentctl.contracts.handoff import handoff
    from agentctl.contracts.rejections import format_rejection
    from agentctl.errors import Rejected

    res = handoff(ws(ctx), task_id, path_arg(artifact).resolve() if artifact else None, actor(), now())
    if json_:
        emit_json(res.to_json())
    elif res.rejection is not None:
        typer.echo(format_rejection(res.task.taskId, res.rejection))
    else:
        typer.echo(_accepted(res))
    if res.rejection is not None:
        raise Rejected(f"{res.task.taskId}: handoff rejected ({res.task.blockedBy})")


def _accepted(res: Any) -> str:
    tid = res.task.taskId
    if res.sent_back is not None:
        back = res.sent_back
        return (f"{tid}: changes requested; {back.taskId} sent back to {back.agent or 'its producer'} "
                f"({back.rejections[-1].summary if back.rejections else 'rework'}); {tid} runs again after the rework")
    if res.task.gate == "pending":
        return (f"{tid}: {res.stage.stage} accepted; waiting in review for a human: "
                f"`agentctl gate approve {tid} --by NAME` (or `gate kill`)")
    made = ", ".join(f"{t.taskId} for {t.agent} ({t.phase})" for t in res.created)
    if made:
        return f"{tid}: done; created {made} with input {res.artifact}"
    return f"{tid}: done" + ("" if res.next_stage else " (last stage)")


@gate_app.command("approve")
def approve(ctx: typer.Context, task_id: TaskArg, by: ByOpt, json_: JsonOpt = False) -> None:
    """Approve work waiting at a gate: it is done and the next stage starts."""
    from agentctl.contracts.handoff import approve_gate

    res = approve_gate(ws(ctx), task_id, by, actor(), now(), agent_process=in_agent_process())
    if json_:
        emit_json(res.to_json())
        return
    made = ", ".join(f"{t.taskId} for {t.agent} ({t.phase})" for t in res.created)
    typer.echo(f"{res.task.taskId}: approved by {by}" + (f"; created {made}" if made else ""))


@gate_app.command("kill")
def kill(ctx: typer.Context, task_id: TaskArg, by: ByOpt, json_: JsonOpt = False) -> None:
    """Kill work waiting at a gate: it and its unfinished downstream tasks are cancelled."""
    from agentctl.contracts.handoff import kill_gate

    res = kill_gate(ws(ctx), task_id, by, actor(), now(), agent_process=in_agent_process())
    if json_:
        emit_json(res.to_json())
        return
    gone = ", ".join(t.taskId for t in res.cancelled)
    typer.echo(f"{res.task.taskId}: killed by {by}" + (f"; cancelled downstream {gone}" if gone else ""))


@gate_app.command("reject")
def reject(ctx: typer.Context, task_id: TaskArg, by: ByOpt,
           reason: Annotated[str, typer.Option("--reason", help="What must change: the producer's next run gets it.")],
           json_: JsonOpt = False) -> None:
    """Send work waiting at a gate back to its producer, with the reason as its rejection."""
    from agentctl.contracts.verdicts import reject_gate

    task = reject_gate(ws(ctx), task_id, by, reason, actor(), now(), agent_process=in_agent_process())
    if json_:
        emit_json({"taskId": task.taskId, "status": task.status, "gate": task.gate, "by": by,
                   "agent": task.agent, "reason": task.rejections[-1].summary})
        return
    typer.echo(f"{task.taskId}: rejected by {by}; back to {task.agent or 'its producer'} for rework")


@gate_app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Tasks waiting for a human at a gate."""
    from agentctl.contracts.handoff import pending_gates

    rows = pending_gates(ws(ctx))
    if json_:
        emit_json(rows)
    elif not rows:
        typer.echo("no task is waiting at a gate")
    else:
        for r in rows:
            r["then"] = f"{r['next']['stage']} ({r['next']['agent']})" if r["next"] else "-"
        typer.echo(table(rows, ["taskId", "phase", "agent", "product", "title", "waitingSince", "then"],
                         ["ID", "STAGE", "AGENT", "PRODUCT", "TITLE", "WAITING SINCE", "THEN"]))


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("handoff")(handoff)
    app.add_typer(gate_app, name="gate")

