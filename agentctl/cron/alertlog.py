"""`agentctl alerts`: the alerts of a recent window, read from ``logs/alerts.jsonl``.

Lines were redacted when written; control characters are still stripped before they
reach a terminal, and torn lines are skipped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from agentctl.core.clock import parse_duration, parse_iso
from agentctl.core.redact import redact
from agentctl.errors import AgentctlError
from agentctl.workspace.loader import Workspace

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")
KEYS = ("ts", "kind", "severity", "source", "message", "data", "deduped", "sinks", "sink", "alertKind")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub("?", redact(value)).replace("\n", " ")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def list_alerts(ws: Workspace, now: datetime, since: str) -> list[dict[str, Any]]:
    """Alerts with ``ts`` within ``since`` of ``now`` (a bad duration is a usage error, 2)."""
    horizon = now - parse_duration(since)
    rows = []
    for line in ws.storage.alerts.read():  # the alert log, through the seam (rows on PostgreSQL)
        ts = line.get("ts")
        try:
            at = parse_iso(ts) if isinstance(ts, str) else None
        except AgentctlError:
            at = None
        if at is None or not horizon <= at <= now:
            continue
        rows.append(_clean({k: line[k] for k in KEYS if k in line}))
    return rows
