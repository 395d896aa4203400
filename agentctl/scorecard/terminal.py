"""The scorecard in a terminal (rich): nothing is ever truncated, at any width.

Tables show their columns by priority: every column when they fit the terminal; else the
most important ones that fit (a note names the others and where to see them). When not
even a table's core columns fit (80 columns and below, typically), each row is stacked: a
title line, then ``Header value`` pairs packed into lines that fit, broken only between
pairs. Colour only when asked (a terminal without ``NO_COLOR``); ``rich`` is imported here only.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from agentctl.scorecard import render as cells

Column = tuple[str, Callable[[dict[str, Any]], str]]
AGENT_PRIORITY = ("Agent", "Success", "Runs", "Cost", "Trust", "Consec. err", "Fail", "Cost/success", "OK", "Tier",
                  "Avg time", "Tokens in/out", "Team")
BUCKET_PRIORITY = ("Tier", "Model", "Runs", "Success", "Cost/run", "Cost", "Cost/success", "$/MTok", "Tokens/run",
                   "Agents", "Models", "Tiers")
MAX_HIDDEN_SHARE = 3
"""A table is drawn only when at most a third of its columns must be left out; else rows are stacked."""


def _table(headers: list[str], rows: list[list[str]], title: str, left: int, styles: list[str | None]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, h in enumerate(headers):
        t.add_column(h, justify="left" if i < left else "right", no_wrap=True, overflow="fold")
    for row, style in zip(rows, styles, strict=True):
        t.add_row(*(Text(c) for c in row), style=style)  # data is never markup
    return t


def _fits(console: Any, table: Any, width: int) -> bool:
    return bool(console.measure(table, options=console.options.update(width=10_000)).maximum <= width)


def fit_columns(console: Any, headers: list[str], rows: list[list[str]], priority: tuple[str, ...],
                width: int, left: int) -> list[int] | None:
    """Indexes of the columns to show (in their order), dropping the least important until the table fits;
    None when more than a third of them would be left out."""
    order = sorted(range(len(headers)), key=lambda i: priority.index(headers[i]) if headers[i] in priority else 99)
    for n in range(len(headers), len(headers) - len(headers) // MAX_HIDDEN_SHARE - 1, -1):
        keep = sorted(order[:n])
        t = _table([headers[i] for i in keep], [[r[i] for i in keep] for r in rows], "", sum(i < left for i in keep),
                   [None] * len(rows))
        if _fits(console, t, width):
            return keep
    return None


def _stacked(console: Any, title: str, headers: list[str], rows: list[list[str]], width: int, head: int,
             styles: list[str | None]) -> None:
    from rich.text import Text

    console.print(Text(title, style="bold italic"))
    for row, style in zip(rows, styles, strict=True):
        console.print(Text(" · ".join(row[:head]), style=style or "bold"), overflow="fold")
        line = " "
        for h, v in zip(headers[head:], row[head:], strict=True):
            pair = f"{h} {v}"
            if len(line) > 1 and len(line) + 3 + len(pair) > width:
                console.print(Text(line), overflow="fold")
                line = " "
            line += (" · " if len(line) > 1 else " ") + pair
        console.print(Text(line), overflow="fold")
    console.print()


def print_grid(console: Any, title: str, headers: list[str], rows: list[list[str]], priority: tuple[str, ...],
               width: int, left: int, styles: list[str | None] | None = None) -> None:
    """A table by priority, or stacked rows when its core columns do not fit."""
    from rich.text import Text

    styles = styles or [None] * len(rows)
    keep = fit_columns(console, headers, rows, priority, width, left)
    if keep is None:
        _stacked(console, title, headers, rows, width, left, styles)
        return
    console.print(_table([headers[i] for i in keep], [[r[i] for i in keep] for r in rows], title,
                         sum(i < left for i in keep), styles))
    hidden = [h for i, h in enumerate(headers) if i not in keep]
    if hidden:
        console.print(Text(f"  not shown at {width} columns: {', '.join(hidden)} (a wider terminal, or "
                           "--format markdown/json, shows them)", style="dim"), overflow="fold")
        console.print()


def render_table(report: dict[str, Any], *, color: bool = False, width: int | None = None) -> str:
    from rich.console import Console
    from rich.text import Text

    r = report
    width = width or 160
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False, emoji=False)
    console.print(Text(f"Agent scorecard — last {cells._days(r['window']['days'])}", style="bold"))
    console.print(Text(cells.headline(r)), overflow="fold")
    console.print()
    broken = {b["agent"] for b in r["brokenAgents"]}
    if not r["agents"]:
        console.print("No defined agent ran in the window.\n")
    else:
        styles = ["red" if a["agent"] in broken else ("yellow" if (a["successRate"] or 0) < 0.9 else None)
                  for a in r["agents"]]
        print_grid(console, "Agents", [h for h, _ in cells.AGENT_COLUMNS],
                   [[f(a) for _, f in cells.AGENT_COLUMNS] for a in r["agents"]], AGENT_PRIORITY, width, 3, styles)
    if r["tiers"]:
        print_grid(console, "Model efficiency — per tier", cells.TIER_HEADERS,
                   [cells._tier_cells(t) for t in r["tiers"]], BUCKET_PRIORITY, width, 2)
        print_grid(console, "Per model", cells.MODEL_HEADERS, [cells._model_cells(m) for m in r.get("models", [])],
                   BUCKET_PRIORITY, width, 2)
    _sections(console, r)
    return buf.getvalue()


def _sections(console: Any, r: dict[str, Any]) -> None:
    from rich.text import Text

    def section(title: str, lines: list[str], empty: str, style: str = "") -> None:
        console.print(Text(title, style="bold"))
        for line in lines or [empty]:
            console.print(Text(f"  • {line}" if lines else f"  {line}", style=style if lines else "dim"),
                          overflow="fold")
        console.print()

    available = r.get("cronCoverageAvailable", True)
    section("Broken agents", [cells.broken_line(b) for b in r["brokenAgents"]], "none", "red")
    section("Downgrade candidates", [cells.downgrade_line(c) for c in r["downgradeCandidates"]], "none", "green")
    section("Upgrade candidates", [cells.upgrade_line(u) for u in r.get("upgradeCandidates", [])], "none", "yellow")
    section("Idle agents", [f"{a['agent']} ({a['team']})" for a in r["idleAgents"]], "none")
    cron = [cells.cron_line(c) for c in r["cronCoverage"]] if available else []
    section("Cron coverage gaps", cron, "none" if available else "not available", "yellow")
    unknown = [cells.unknown_line(r["unknown"])] + [f"{cells.source_label(s)}: {s['runs']} runs"
                                                    for s in r["unknown"]["sources"]]
    section("Unknown bucket", unknown if r["unknown"]["runs"] else [], "none", "yellow")
    section("Notes", [*r.get("notes", [])], "none", "dim")
