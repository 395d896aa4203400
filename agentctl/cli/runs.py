"""`agentctl runs [--running]`, `agentctl runs show RUN_ID` (SPEC §13): what is running now."""


from typing import Annotated, Any

import typer

from agentctl.cli.common import now, ws
from agentctl.cli.fleet import plain
from agentctl.cli.render import emit_json, kv, table

runs_app = typer.Typer(help="Runs in flight and recent runs; `runs show RUN_ID` for one.", invoke_without_command=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
RUN_COLUMNS = ["runId", "agent", "taskId", "startedAt", "elapsed", "status", "model", "host", "pid"]


def elapsed_text(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def run_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "status": r.get("status") or r.get("state"), "title": plain(r.get("title")),
             "elapsed": elapsed_text(r["elapsedS"] if r["running"] else r.get("durationS"))} for r in rows]


@runs_app.callback()
def runs(
    ctx: typer.Context,
    running: Annotated[bool, typer.Option("--running", help="Only runs in flight now.")] = False,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's runs.")] = None,
    since: Annotated[str, typer.Option("--since", help="Window of recent runs, e.g. 24h, 7d.")] = "24h",
    json_: JsonOpt = False,
) -> None:
    """Runs in flight (agent, task, started, elapsed, model or command, host, pid), then recent runs."""
    if ctx.invoked_subcommand is not None:
        return
    from agentctl.core.clock import parse_duration
    from agentctl.run.runs import recent_runs, running_runs

    w, at = ws(ctx), now()
    rows = running_runs(w, at, agent)
    if not running:
        rows += recent_runs(w, at, parse_duration(since), agent)
    if json_:
        emit_json(rows)
    elif rows:
        typer.echo(table(run_rows(rows), RUN_COLUMNS, ["RUN", "AGENT", "TASK", "STARTED", "ELAPSED", "STATUS",
                                                       "MODEL/COMMAND", "HOST", "PID"]))
    else:
        typer.echo("nothing is running" if running else f"no runs in the last {since}")


@runs_app.command("show")
def show(ctx: typer.Context, run_id: Annotated[str, typer.Argument(metavar="RUN_ID")], json_: JsonOpt = False) -> None:
    """One run's record with the tail of its output (a command's log, else its artifact)."""
    from agentctl.run.runs import show_run

    rec = show_run(ws(ctx), run_id, now())
    if json_:
        emit_json(rec)
        return
    keys = ["runId", "running", "agent", "taskId", "status", "trigger", "startedAt", "endedAt", "durationS",
            "model", "costUsd", "output", "outputFile"]
    typer.echo(kv([(k, plain(rec.get(k)) if isinstance(rec.get(k), str) else rec.get(k)) for k in keys if k in rec]))
    if rec.get("error"):
        typer.echo(f"error: {plain(rec['error'].get('type'))}: {plain(rec['error'].get('message'))}")
    if rec.get("outputTail"):
        typer.echo(f"--- last output ({rec['outputFile']}) ---")
        typer.echo("\n".join(plain(line) for line in rec["outputTail"].splitlines()[-40:]))


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
