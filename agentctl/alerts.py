"""Alerts (SPEC §8): always a line in logs/alerts.jsonl, then the configured sinks.

INTERFACE (stable; the cron/monitoring work fills in sinks and dedupe):
    raise_alert(ws, kind=..., message=..., source=..., now=..., severity=..., data=...) -> dict
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentctl.redact import redact, redact_obj
from agentctl.store.files import append_json
from agentctl.timeutil import iso
from agentctl.workspace import Workspace


def raise_alert(ws: Workspace, *, kind: str, message: str, source: str, now: datetime,
                severity: str = "warning", data: dict[str, Any] | None = None) -> dict[str, Any]:
    alert = {"ts": iso(now), "kind": kind, "severity": severity, "source": source,
             "message": redact(message), "data": redact_obj(data or {})}
    append_json(ws.alerts_path, alert)
    return alert
