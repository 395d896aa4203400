"""`agentctl task …`, `agentctl status`, `agentctl blocked` (SPEC §3)."""


from typing import Annotated, Any

import typer

from agentctl.cli.common import actor, in_agent_process, now, ws
from agentctl.cli.render import emit_json, kv, table

task_app = typer.Typer(help="The task registry: add, show, list, update, claim, block.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="A person overriding an integrity rule (a gate, failed "
                                        "self-tests); recorded as a `forced` event. Refused inside an agent process.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the `forced` event).")]


def _who(force: bool, reason: str | None) -> Any:
    from agentctl.registry.policy import Actor

    return Actor(agent=in_agent_process(), force=force, reason=reason)
TASK_COLUMNS = ["taskId", "status", "agent", "product", "phase", "title", "blockedBy"]


def _task_dict(task: Any) -> dict[str, Any]:
    return task.model_dump(mode="json")  # type: ignore[no-any-return]


@task_app.command("add")
def add(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="What the task is.")],
    agent: Annotated[str | None, typer.Option("--agent", help="The agent that owns it.")] = None,
    task_id: Annotated[str | None, typer.Option("--id", help="Explicit id (default <PREFIX>-<n>).")] = None,
    product: Annotated[str | None, typer.Option("--product")] = None,
    phase: Annotated[str | None, typer.Option("--phase")] = None,
    depends_on: Annotated[list[str] | None, typer.Option("--depends-on", help="Task id this one depends on (repeatable).")] = None,
    input_: Annotated[str | None, typer.Option("--input", help="Input artifact path.")] = None,
    force: ForceOpt = False,
    reason: ReasonOpt = None,
    priority: Annotated[str, typer.Option("--priority", help="high, normal or low: `task next` hands out high first.")] = "normal",
    parent: Annotated[str | None, typer.Option("--parent", help="The task this one was delegated from (`task tree`).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Add a task; prints its id. Unknown dependencies, cycles and undefined agents are refused (2)."""
    from agentctl.core.records import PRIORITIES
    from agentctl.errors import UsageError
    from agentctl.registry.service import NewTask, add_task

    if priority not in PRIORITIES:
        raise UsageError(f"--priority must be one of {', '.join(PRIORITIES)}; got {priority!r}")
    task = add_task(ws(ctx), NewTask(title=title, agent=agent, task_id=task_id, product=product, phase=phase,
                                     depends_on=depends_on or [], input=input_, priority=priority, parent=parent),
                    actor(), now(), _who(force, reason))
    if json_:
        emit_json(_task_dict(task))
    else:
        typer.echo(task.taskId)


def print_task(t: dict[str, Any]) -> None:
    pairs = [(k, t.get(k)) for k in ("taskId", "title", "status", "agent", "product", "phase", "claimedBy",
                                     "blockedBy", "dependsOn", "pr", "input", "output", "attempts",
                                     "createdAt", "updatedAt")]
    pairs.append(("checks", ", ".join(f"{k}={v}" for k, v in (t.get("checks") or {}).items())))
    pairs += [(k, t[k]) for k in ("priority", "parent", "leaseExpiresAt") if t.get(k) not in (None, "normal")]
    if t.get("gate"):
        pairs.append(("gate", t["gate"]))
    typer.echo(kv(pairs))
    for rej in t.get("rejections") or []:
        typer.echo(f"rejected {rej['at']} by {rej.get('by')}: missing {', '.join(rej.get('missing') or []) or '-'}")
    if t.get("selfTest"):
        st = t["selfTest"]
        typer.echo(f"self-tests {'passed' if st['ok'] else 'FAILED'} at {st['at']}")
        for r in st["results"]:
            typer.echo(f"  {'ok  ' if r['ok'] else 'FAIL'} {r['name']}")


@task_app.command("show")
def show(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonOpt = False) -> None:
    """Show one task (live or archived)."""
    from agentctl.registry.service import find_task

    t = _task_dict(find_task(ws(ctx), task_id))
    emit_json(t) if json_ else print_task(t)


@task_app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status")] = None,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    product: Annotated[str | None, typer.Option("--product")] = None,
    phase: Annotated[str | None, typer.Option("--phase")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include archived tasks.")] = False,
    json_: JsonOpt = False,
) -> None:
    """List tasks, filtered."""
    from agentctl.registry.service import list_tasks

    rows = [_task_dict(t) for t in list_tasks(ws(ctx), status=status, agent=agent, product=product, phase=phase,
                                              include_archived=all_)]
    if json_:
        emit_json(rows)
    elif rows:
        typer.echo(table(rows, TASK_COLUMNS))
    else:
        typer.echo("no tasks match")


@task_app.command("update")
def update(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(metavar="ID")],
    status: Annotated[str | None, typer.Option("--status")] = None,
    phase: Annotated[str | None, typer.Option("--phase")] = None,
    pr: Annotated[str | None, typer.Option("--pr", help="Pull-request URL.")] = None,
    check: Annotated[list[str] | None, typer.Option("--check", help="NAME=VALUE, e.g. qa=passed (repeatable).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="FIELD=VALUE (repeatable).")] = None,
    force: ForceOpt = False,
    reason: ReasonOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Change a task's status, phase, PR, checks or fields."""
    from agentctl.registry.service import Update, update_task

    task = update_task(ws(ctx), task_id, Update(status=status, phase=phase, pr=pr, checks=check or [],
                                                sets=set_ or []), actor(), now(), who=_who(force, reason))
    emit_json(_task_dict(task)) if json_ else typer.echo(f"{task.taskId}: {task.status}")


@task_app.command("claim")
def claim(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")],
          agent: Annotated[str, typer.Option("--agent")], json_: JsonOpt = False) -> None:
    """Claim a task for an agent; exits 5 if another agent holds it."""
    from agentctl.registry.service import claim_task

    task = claim_task(ws(ctx), task_id, agent, now(), acting=in_agent_process())
    emit_json(_task_dict(task)) if json_ else typer.echo(f"{task.taskId}: claimed by {agent}")


@task_app.command("block")
def block(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")],
          by: Annotated[str, typer.Option("--by", help="What blocks it, in words.")],
          on: Annotated[list[str] | None, typer.Option("--on", help="The task it waits on (repeatable).")] = None,
          force: ForceOpt = False, reason: ReasonOpt = None, json_: JsonOpt = False) -> None:
    """Mark a task blocked, by what (and on which task)."""
    from agentctl.registry.service import block_task

    task = block_task(ws(ctx), task_id, by, on or [], actor(), now(), _who(force, reason))
    emit_json(_task_dict(task)) if json_ else typer.echo(f"{task.taskId}: blocked by {task.blockedBy}")  # as stored (redacted)


@task_app.command("unblock")
def unblock(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")],
            force: ForceOpt = False, reason: ReasonOpt = None, json_: JsonOpt = False) -> None:
    """Clear a task's block."""
    from agentctl.registry.service import unblock_task

    task = unblock_task(ws(ctx), task_id, actor(), now(), _who(force, reason))
    emit_json(_task_dict(task)) if json_ else typer.echo(f"{task.taskId}: {task.status}")


@task_app.command("archive")
def archive(ctx: typer.Context,
            older_than: Annotated[str, typer.Option("--older-than", help="Age of finished tasks to move out.")] = "30d",
            json_: JsonOpt = False) -> None:
    """Move done/cancelled tasks out of tasks.json into archive/tasks-YYYY-MM.jsonl."""
    from agentctl.core.clock import parse_duration
    from agentctl.registry.service import archive_finished

    ids = archive_finished(ws(ctx), parse_duration(older_than), actor(), now())
    emit_json({"archived": ids}) if json_ else typer.echo(f"archived {len(ids)} task(s)")


def status(ctx: typer.Context,
           product: Annotated[str | None, typer.Option("--product")] = None, json_: JsonOpt = False,
           watch: Annotated[bool, typer.Option("--watch", help="A live board, redrawn on change (Ctrl-C ends it).")] = False) -> None:
    """The board: counts per status, what runs now, what is in progress, blocked, rejected, waiting for a human."""
    from agentctl.registry.service import board

    if watch:
        from agentctl.cli.board import watch_board

        watch_board(ws(ctx), product)
        return
    b = board(ws(ctx), now(), product)
    b["cron"] = _cron_jobs(ws(ctx))
    if json_:
        emit_json(b)
        return
    counts = "  ".join(f"{k}={v}" for k, v in b["counts"].items() if v)
    typer.echo(f"{b['total']} task(s){' for ' + product if product else ''}: {counts or 'none'}")
    if b.get("running"):
        from agentctl.cli.runs import run_rows

        typer.echo("\nRunning now:")
        typer.echo(table(run_rows(b["running"]), ["runId", "agent", "taskId", "elapsed", "model"],
                         ["RUN", "AGENT", "TASK", "ELAPSED", "MODEL/COMMAND"]))
    for key, label in (("inProgress", "In progress"), ("blocked", "Blocked"), ("rejected", "Rejected"),
                       ("awaitingHuman", "Waiting for a human (gate)")):
        if b[key]:
            typer.echo(f"\n{label}:")
            typer.echo(table(b[key], ["taskId", "agent", "phase", "title", "blockedBy", "minutesSinceUpdate"],
                             ["ID", "AGENT", "PHASE", "TITLE", "BLOCKED BY", "MIN"]))
    if "breakers" in b and b["breakers"]:
        typer.echo("\nOpen breakers: " + ", ".join(b["breakers"]))
    _print_cron(b["cron"])


def _cron_jobs(w: Any) -> list[dict[str, Any]]:
    """Each cron job's last scheduled run and failure streak (the cron ledger only: cheap)."""
    if not ((w.root / "state" / "cron").is_dir() or (w.root / "state" / "cron.json").exists()):
        return []
    from agentctl.cron.failures import failing_jobs

    return failing_jobs(w)


def _print_cron(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    typer.echo("\nCron jobs (last scheduled run, UTC):")
    typer.echo(table(rows, ["job", "lastRunAt", "status", "exitCode", "consecutiveFailures"],
                     ["JOB", "LAST RUN", "STATUS", "EXIT", "FAILING"]))
    failing = [r for r in rows if r["consecutiveFailures"]]
    if failing:
        typer.echo("\nFailing cron jobs:")
        for r in failing:
            typer.echo(f"  {r['job']}: {r['consecutiveFailures']} consecutive failure(s) since {r['failingSince']}"
                       + (f" — {r['lastError']}" if r.get("lastError") else ""))


def blocked(ctx: typer.Context,
            product: Annotated[str | None, typer.Option("--product")] = None, json_: JsonOpt = False) -> None:
    """Every blocked task with its blocking chain, followed to the root causes."""
    from agentctl.registry.service import blocked_report

    report = blocked_report(ws(ctx), product)
    if json_:
        emit_json(report)
        return
    if not report:
        typer.echo("nothing is blocked")
        return
    for item in report:
        typer.echo(f"{item['taskId']} ({item['agent'] or '-'}) {item['title']}: blocked by {item['blockedBy'] or '-'}")
        for chain in item["chains"]:
            typer.echo("  chain: " + " → ".join(chain))
        if item["cycle"]:
            typer.echo("  CYCLE: " + " → ".join(item["cycle"]))
        for root in item["rootCauses"]:
            typer.echo(f"  root cause: {root['taskId']} ({root['agent'] or '-'}, {root['status']}) {root['title']}"
                       + (f" — {root['blockedBy']}" if root.get("blockedBy") else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")
    app.command("status")(status)
    app.command("blocked")(blocked)
