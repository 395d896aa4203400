"""Cron state (``state/cron.json``, one small entry per job, under its lock).

Per job: ``slot`` (the last slot handled), ``missedThrough``, the last scheduled run
(``at``, ``status``, ``exitCode``), when the job was installed or first seen
(``installedAt`` / ``definedAt``: coverage starts there) and the failure streak
(``consecutiveFailures``, ``failingSince``, ``lastError``) that drives the alerts.
All access goes through ``ledger()`` so the storage layer can take it over whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from agentctl.core.clock import iso, parse_iso
from agentctl.errors import AgentctlError, StateError
from agentctl.storage.files.durable import JsonState
from agentctl.workspace.loader import Workspace


def ledger(ws: Workspace) -> JsonState:
    return JsonState(ws.root / "state" / "cron.json", "jobs")


def entries(ws: Workspace) -> dict[str, dict[str, Any]]:
    return ledger(ws).read()["jobs"]  # type: ignore[no-any-return]


def parse_stamp(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        return parse_iso(stamp)
    except AgentctlError:
        raise StateError(f"state/cron.json: bad timestamp {stamp!r}; fix or move the file away") from None


def mark_installed(ws: Workspace, names: Iterable[str], now: datetime) -> None:
    """Coverage of a job starts when it was first installed (kept across re-installs)."""
    with ledger(ws).transaction() as data:
        for name in names:
            data["jobs"].setdefault(name, {}).setdefault("installedAt", iso(now))


def mark_defined(ws: Workspace, names: Iterable[str], now: datetime) -> None:
    """A job first seen now (never installed, never run): its coverage starts now. Best effort
    (a read-only or busy state folder only delays it)."""
    import contextlib

    with contextlib.suppress(AgentctlError, OSError), ledger(ws).transaction() as data:
        for name in names:
            entry = data["jobs"].setdefault(name, {})
            if not entry.get("installedAt"):
                entry.setdefault("definedAt", iso(now))


def mark_uninstalled(ws: Workspace, names: Iterable[str]) -> None:
    with ledger(ws).transaction() as data:
        for name in names:
            data["jobs"].get(name, {}).pop("installedAt", None)


def coverage_start(entry: dict[str, Any]) -> datetime | None:
    """When the job's expected slots begin: its install, else its first scheduled run."""
    stamps = [d for d in (parse_stamp(entry.get("installedAt")), parse_stamp(entry.get("definedAt"))) if d]
    return min(stamps) if stamps else None
