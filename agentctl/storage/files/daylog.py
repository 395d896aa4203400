"""Where the file backend keeps the run log: ``logs/runs/YYYY-MM-DD.jsonl``, one file per UTC day
(light on purpose: re-exported by ``agentctl.storage``, which every command imports)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from agentctl.core.clock import window_bounds


def window_files(run_dir: Path, start: datetime, end: datetime) -> list[tuple[Path, bool]]:
    """(path, is_boundary) of the daily files that can hold runs started in [start, end)."""
    lo, hi = window_bounds(start, end)
    out, day, last = [], lo.date(), (hi - timedelta(microseconds=1)).date()
    while day <= last:
        boundary = day == lo.date() or day == last
        out.append((run_dir / f"{day.isoformat()}.jsonl", boundary))
        day += timedelta(days=1)
    return out
