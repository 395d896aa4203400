"""`agentctl work`, `task next|release|tree` (SPEC §13): the fleet loop's commands."""


import os
import re
import signal
from typing import Annotated, Any

import typer

from agentctl.cli.common import actor, now, ws
from agentctl.cli.render import emit_json
from agentctl.cli.tasks import task_app

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: Any) -> str:
    """Data shown to people: no control characters (a title cannot move the cursor or ring the bell)."""
    return _CONTROL.sub(" ", "" if text is None else str(text))


@task_app.command("next")
def next_(
    ctx: typer.Context,
    agent: Annotated[str, typer.Option("--agent", help="The agent asking for work.")],
    claim: Annotated[bool, typer.Option("--claim", help="Claim it atomically (with a lease) for the agent.")] = False,
    json_: JsonOpt = False,
) -> None:
    """The next ready task for AGENT: todo or rejected, dependencies done, not blocked, not at a gate;
    high priority first, then oldest. Nothing ready: no output (`null` with --json), exit 0."""
    from agentctl.registry.ready import next_task

    w = ws(ctx)
    agent_def = w.agent(agent)
    task = next_task(w, agent_def, now(), claim=claim)
    if json_:
        emit_json(task.model_dump(mode="json") if task else None)
    elif task is not None:
        typer.echo(task.taskId)


@task_app.command("release")
def release(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonOpt = False) -> None:
    """Give a claim back: the task returns to todo for the next agent that asks (event `released`)."""
    from agentctl.registry.ready import release_task

    task = release_task(ws(ctx), task_id, actor(), now())
    emit_json(task.model_dump(mode="json")) if json_ else typer.echo(f"{task.taskId}: released ({task.status})")


@task_app.command("tree")
def tree(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")], json_: JsonOpt = False) -> None:
    """A task and everything delegated from it: status, agent and cost per node."""
    from agentctl.registry.tree import task_tree

    node = task_tree(ws(ctx), task_id, now())
    if json_:
        emit_json(node)
        return
    for line in tree_lines(node):
        typer.echo(line)


def _cost(node: dict[str, Any]) -> str:
    cost = f"${node['totalCostUsd']:.4f}"
    if node["totalUnpricedRuns"]:
        cost += f" + {node['totalUnpricedRuns']} unpriced run(s)"
    return cost


def tree_lines(node: dict[str, Any], prefix: str = "", last: bool = True, top: bool = True) -> list[str]:
    branch = "" if top else ("└─ " if last else "├─ ")
    head = (f"{prefix}{branch}{node['taskId']} [{node['status']}] {node['agent'] or '-'}: {plain(node['title'])[:60]}"
            f"  {_cost(node)}")
    lines = [head]
    inner = prefix + ("" if top else ("   " if last else "│  "))
    kids = node["children"]
    for i, kid in enumerate(kids):
        lines += tree_lines(kid, inner, i == len(kids) - 1, False)
    return lines


def work(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="The agent whose tasks to work (agents/AGENT.yaml).")],
    once: Annotated[bool, typer.Option("--once", help="Work one task (or none), then exit.")] = False,
    max_tasks: Annotated[int | None, typer.Option("--max-tasks", min=1, help="Exit after N tasks.")] = None,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Exit when no task is ready.")] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.0, help="Seconds between looks when nothing is ready.")] = 5.0,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout at the end.")] = False,
) -> None:
    """Claim the next ready task, run it, hand it off (contracts, gates), repeat.

    Transient failures are retried with backoff up to `retries`; an open breaker pauses the
    loop; SIGTERM or SIGINT finishes the current bookkeeping and releases the claim."""
    from agentctl.cli.run import run_clock
    from agentctl.run.work import WorkLoop, WorkOptions
    from agentctl.workspace.envfile import apply_env_file

    apply_env_file(ws(ctx).root)  # the env file's keys, as for run and cron run; the shell's own values win
    backoff = float(os.environ.get("AGENTCTL_WORK_BACKOFF_S", "2") or 2)
    opts = WorkOptions(once=once, max_tasks=max_tasks, until_idle=until_idle, poll_s=poll, backoff_s=backoff)
    say = (lambda m: typer.echo(plain(m), err=True)) if json_ else (lambda m: typer.echo(plain(m)))
    loop = WorkLoop(ws(ctx), agent, opts, run_clock(), say=say)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda signum, _frame: loop.request_stop(signal.Signals(signum).name))
    try:
        summary = loop.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if json_:
        emit_json(summary.to_json())
    else:
        typer.echo(f"{agent}: {summary.tasks} task(s), {len(summary.done)} done, {len(summary.failed)} failed, "
                   f"{len(summary.released)} released" + (f"; stopped by {summary.stopped}" if summary.stopped else ""))
    if summary.exit_code and once:
        raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("work")(work)
