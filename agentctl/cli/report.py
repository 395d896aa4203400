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

Reads only the daily run-log files of the window; torn or corrupt lines are skipped
and counted (skippedLines). Sections: per agent (runs, successes, failures, success
rate, consecutive errors at the end of the window, average tokens in/out and runtime,
cost and cost per success, trust score), per tier and per model, downgrade and upgrade
candidates, broken agents, idle agents, cron coverage gaps and the unknown bucket (runs
no defined agent can be attributed to).

\b
Counting: runs = success + failure + rejected + selftest_failed; skipped
(breaker, budget) and duplicate runs are counted apart, neither success nor failure.
Cost is the recorded costUsd; unpriced runs (costUsd null) are counted, never $0.

\b
Trust score (0-100) = 100 x (0.40 firstPass + 0.25 selfTestPass
  + 0.20 (1 - rejectionRate) + 0.15 breakerHealth), where firstPass = first
  attempts that succeeded / first attempts (a run is a retry when its task
  already failed in the window), selfTestPass = successes / (successes +
  selftest_failed), rejectionRate = (rejected runs + handoff rejections) /
  (successes + rejected runs), breakerHealth = max(0, 1 - 0.5 x trips); a
  component without data is dropped and the weights rescaled.

\b
Downgrade candidate: >= 10 runs at >= 95% success on a tier when a tier >= 10%
  cheaper for its token mix has evidence of doing the same work as well
  (same-role agents there, or its own fallback runs, within 5 points), or
  the role is structured (marketing, seo, content, ops, triage, briefing:
  one tier down, low confidence). Saving/month = (cost per run - the same
  tokens at the cheaper model's list-price ratio) x runs per 30 days.
Upgrade candidate: >= 5 runs with >= 30% quality failures (not rate limits or
  timeouts). Broken: >= 3 consecutive errors, an open breaker, or >= 50%
  failures over >= 4 runs. Idle: defined, no run in the window.
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

    end = parse_iso(now_) if now_ else now()
    report = build_scorecard(ws(ctx), days=days, now=end)
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

        width = max(100, shutil.get_terminal_size((160, 40)).columns) if sys.stdout.isatty() else 160
    typer.echo(render(report, kind, color=color, width=width), nl=False)


def register(app: typer.Typer) -> None:
    app.command("scorecard", help=HELP, no_args_is_help=False)(scorecard)
