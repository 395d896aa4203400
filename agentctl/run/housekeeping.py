"""Where task-less runs keep their output, and how long (SPEC §8 housekeeping).

A run with no task (a cron job's prompt, `run AGENT --prompt …`) writes under
``artifacts/_runs/YYYY-MM-DD/<runId>/`` — one folder per UTC day, not one per run at
the top of ``artifacts/`` (the artifact store's key ``_runs/<day>/<runId>``; on PostgreSQL,
rows). Each task-less run first removes the days older than ``retention_days``
(agentctl.yaml, default 30): one listing on files, one DELETE on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from agentctl.errors import AgentctlError
from agentctl.storage.artifact_refs import RUNS_DIR
from agentctl.workspace.loader import Workspace

DEFAULT_RETENTION_DAYS = 30
_RUN_DAY = re.compile(r"^r-(\d{4})(\d{2})(\d{2})T")


def runs_root(ws: Workspace) -> Path:
    return ws.root / "artifacts" / RUNS_DIR


def day_of(run_id: str, now: datetime) -> str:
    m = _RUN_DAY.match(run_id)  # the run's own start day: a run crossing midnight stays in one folder
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else now.strftime("%Y-%m-%d")


def taskless_dir(ws: Workspace, run_id: str, now: datetime) -> Path:
    """The local folder of a task-less run's files (the old days pruned first)."""
    from agentctl.run.artifacts import run_key

    key = run_key(ws.storage, None, run_id, now, retention(ws))
    return ws.storage.artifacts.local_path(key, "x").parent


def retention(ws: Workspace) -> int:
    try:
        return int(ws.config.retention_days)
    except AgentctlError:
        return DEFAULT_RETENTION_DAYS


def prune(ws: Workspace, now: datetime, retention_days: int | None = None) -> list[str]:
    """Remove the task-less runs' days older than the retention (through the artifact store)."""
    keep = retention(ws) if retention_days is None else retention_days
    return ws.storage.artifacts.prune_runs((now - timedelta(days=keep)).date())
