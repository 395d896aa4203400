"""Where task-less runs keep their output, and how long (SPEC §8 housekeeping).

A run with no task (a cron job's prompt, `run AGENT --prompt …`) writes under
``artifacts/_runs/YYYY-MM-DD/<runId>/`` — one folder per UTC day, not one per run at
the top of ``artifacts/``. When a day's folder is created, the day folders older than
``retention_days`` (agentctl.yaml, default 30) are removed.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

from agentctl.errors import AgentctlError
from agentctl.workspace.loader import Workspace

RUNS_DIR = "_runs"
DEFAULT_RETENTION_DAYS = 30
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RUN_DAY = re.compile(r"^r-(\d{4})(\d{2})(\d{2})T")


def runs_root(ws: Workspace) -> Path:
    return ws.root / "artifacts" / RUNS_DIR


def _day_of(run_id: str, now: datetime) -> str:
    m = _RUN_DAY.match(run_id)  # the run's own start day: a run crossing midnight stays in one folder
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else now.strftime("%Y-%m-%d")


def taskless_dir(ws: Workspace, run_id: str, now: datetime) -> Path:
    day = runs_root(ws) / _day_of(run_id, now)
    if not day.is_dir():
        prune(ws, now)
    folder = day / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _retention(ws: Workspace) -> int:
    try:
        return int(ws.config.retention_days)
    except AgentctlError:
        return DEFAULT_RETENTION_DAYS


def prune(ws: Workspace, now: datetime, retention_days: int | None = None) -> list[str]:
    """Remove day folders older than the retention; returns the days removed."""
    keep = _retention(ws) if retention_days is None else retention_days
    horizon = (now - timedelta(days=keep)).date()
    root = runs_root(ws)
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(root.iterdir()):
            if not (_DAY.match(entry.name) and entry.is_dir() and not entry.is_symlink()):
                continue
            try:
                day = date.fromisoformat(entry.name)
            except ValueError:
                continue
            if day < horizon:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
    return removed
