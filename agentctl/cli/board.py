"""`agentctl status --watch`: the board as a live view (rich Live), redrawn when it changes.

The board is read every ``AGENTCTL_WATCH_INTERVAL`` seconds (default 1); the screen
is redrawn only when what it shows changed (elapsed times tick once a second).
Ctrl-C ends it with exit 0. ``AGENTCTL_WATCH_MAX`` bounds the number of reads (tests).
"""


import os
import time
from datetime import datetime
from typing import Any

from agentctl.cli.common import now
from agentctl.cli.fleet import plain
from agentctl.cli.runs import elapsed_text


def render_board(b: dict[str, Any], at: datetime) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    counts = "  ".join(f"{k}={v}" for k, v in b["counts"].items() if v) or "no tasks"
    parts: list[Any] = [Text(f"agentctl board — {at.strftime('%H:%M:%S')} UTC — {b['total']} task(s): {counts}")]
    running = Table(title="Running now", expand=False)
    for col in ("RUN", "AGENT", "TASK", "ELAPSED", "MODEL/COMMAND", "PID"):
        running.add_column(col)
    for r in b.get("running", []):
        running.add_row(*(plain(v) for v in (r["runId"] or r["state"], r["agent"], r["taskId"] or "-",
                                             elapsed_text(r["elapsedS"]), r["model"] or "-", r["pid"])))
    parts.append(running if b.get("running") else Text("Nothing running now."))
    for key, label in (("blocked", "Blocked"), ("rejected", "Rejected"), ("awaitingHuman", "Waiting at a gate")):
        if b[key]:
            t = Table(title=label, expand=False)
            for col in ("ID", "AGENT", "TITLE", "BLOCKED BY"):
                t.add_column(col)
            for row in b[key][:20]:
                t.add_row(*(plain(v or "-")[:60] for v in (row["taskId"], row["agent"], row["title"], row["blockedBy"])))
            parts.append(t)
    if b.get("breakers"):
        parts.append(Text("Open breakers: " + ", ".join(b["breakers"])))
    return Group(*parts)


def _fingerprint(b: dict[str, Any]) -> Any:
    running = [(r["runId"], r["taskId"], elapsed_text(r["elapsedS"])) for r in b.get("running", [])]
    return (b["counts"], running, [r["taskId"] for r in b["blocked"]], b.get("breakers"))


def watch_board(ws: Any, product: str | None) -> None:
    from rich.console import Console
    from rich.live import Live

    from agentctl.registry.service import board

    interval = float(os.environ.get("AGENTCTL_WATCH_INTERVAL", "1") or 1)
    limit = int(os.environ.get("AGENTCTL_WATCH_MAX", "0") or 0)
    at = now()
    b = board(ws, at, product)
    seen, reads = _fingerprint(b), 1
    try:
        with Live(render_board(b, at), console=Console(), auto_refresh=False, transient=False) as live:
            live.refresh()
            while not limit or reads < limit:
                time.sleep(interval)
                at, reads = now(), reads + 1
                b = board(ws, at, product)
                if (fp := _fingerprint(b)) != seen:
                    seen = fp
                    live.update(render_board(b, at), refresh=True)
    except KeyboardInterrupt:
        return
