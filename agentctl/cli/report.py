"""`agentctl scorecard` (SPEC §9): parse → build_scorecard → render → stdout or --output."""


import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from agentctl.cli.common import echo_err, now, path_arg, state, ws


class Format(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"
    html = "html"


HELP = """Agent performance scorecard over the last N days, from the run log only.

Reads only the daily run-log files of the window, once (the same pass feeds cron
coverage); invalid lines (torn, unknown status, negative numbers, bad timestamps) are
skipped and counted (skippedLines), by reason in skippedByReason. Sections: per agent
(runs, successes, failures, success rate, consecutive errors at the end of the window,
average tokens in/out and runtime, cost and cost per success, trust score), per tier,
model, team, product and task tree, a daily trend, downgrade and upgrade candidates,
broken agents, idle agents, cron coverage gaps and the unknown bucket (runs no defined
agent can be attributed to).

\b
Counting: runs = success + failure + rejected + selftest_failed; skipped
(breaker, budget) and duplicate runs are counted apart, neither success nor failure.
Each run counts under the tier, model, team and costUsd recorded on it; breaker
trips and state come from the breaker history (logs/breakers.jsonl) as of the
window's end. Unpriced runs (costUsd null) are counted, never $0; an agent with
only unpriced runs reads "unpriced".

\b
Trust score (0-100) = 100 x (0.40 firstPass + 0.25 selfTestPass
  + 0.20 (1 - rejectionRate) + 0.15 breakerHealth), where firstPass = first
  attempts that succeeded / first attempts (a run is a retry when its task
  already failed in the window), selfTestPass = successes / (successes +
  selftest_failed), rejectionRate = (rejected runs + handoff rejections) /
  (successes + rejected runs), breakerHealth = max(0, 1 - 0.5 x trips), trips =
  times its breaker opened in the window; a component without data is dropped
  and the weights rescaled.

\b
Downgrade candidate: >= 10 runs at >= 95% success with a recorded cost, when a
  tier >= 10% cheaper per run has evidence of doing the same work as well
  (same-role agents there, or its own runs answered by that model after a
  fallback from its own model, within 5 points), or the role is structured
  (marketing, seo, content, ops, triage, briefing: the nearest cheaper tier,
  low confidence). Saving/month = (cost per priced run - that cost x the
  cheaper model's list-price ratio for its average tokens) x runs x 30 / days.
Upgrade candidate: >= 5 runs with >= 30% quality failures (rejected,
  selftest_failed, failures other than rate limits, overload, timeouts,
  connection, 5xx, breaker or budget). Broken: >= 3 consecutive errors, a
  breaker open at the window's end, or >= 50% failures over >= 4 runs.
  Idle: defined, no run in the window.
"""


def scorecard(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", "-d", min=1, help="Window length in days, ending at --now.")] = 7,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table (terminal), markdown, json or html.",
                                        case_sensitive=False)] = Format.table,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the report to FILE (atomically) "
                                               "instead of stdout.", show_default=False)] = None,
    now_: Annotated[str | None, typer.Option("--now", help="End of the window, ISO-8601 (default: now, UTC).",
                                             show_default=False)] = None,
    json_: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    from agentctl.core.clock import parse_iso
    from agentctl.scorecard.build import build_scorecard
    from agentctl.scorecard.render import render

    wall = now()
    end = parse_iso(now_) if now_ else wall
    report = build_scorecard(ws(ctx), days=days, now=end, prices_at=wall)
    kind = "json" if json_ else fmt.value
    if output:
        from agentctl.storage import atomic_write

        path = path_arg(output)
        atomic_write(path, render(report, kind).encode("utf-8"))
        if state(ctx).verbose or sys.stderr.isatty():
            echo_err(f"scorecard written to {path}")
        return
    color = kind == "table" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    width = None
    if kind == "table":
        import shutil

        # the terminal's own width (never wider: rows would wrap); a pipe or file gets 160, or $COLUMNS
        width = shutil.get_terminal_size((160, 40)).columns if sys.stdout.isatty() else _pipe_width()
    import contextlib

    from agentctl.core.inert import trusted

    text = render(report, kind, color=color, width=width)  # its data is already inert and escaped
    with trusted() if kind != "json" else contextlib.nullcontext():
        typer.echo(text, nl=False)


def _pipe_width() -> int:
    try:
        return max(40, int(os.environ.get("COLUMNS", "160")))
    except ValueError:
        return 160


def register(app: typer.Typer) -> None:
    app.command("scorecard", help=HELP, no_args_is_help=False)(scorecard)
