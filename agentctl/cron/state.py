"""Cron state: one small entry per job in the cron ledger (``ws.storage.cron``).

Per job: ``slot`` (the last slot handled), ``missedThrough``, the last scheduled run
(``at``, ``status``, ``exitCode``), ``manualSlot`` (the last slot run by hand with
success), when the job was installed or first seen (``installedAt`` / ``definedAt``:
coverage starts there) and the failure streak (``consecutiveFailures``,
``failingSince``, ``lastError``) that drives the alerts. Everything goes through the
storage seam's keyed transactions, one job at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from agentctl.core.clock import iso, parse_iso
from agentctl.errors import AgentctlError, StateError
from agentctl.workspace.loader import Workspace


def entry_of(ws: Workspace, name: str) -> dict[str, Any]:
    return dict(ws.storage.cron.get(name) or {})


def all_entries(ws: Workspace, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """The entries of ``names`` (default: every job in the ledger)."""
    if names is None:
        return {k: dict(v) for k, v in ws.storage.cron.items()}
    return {n: entry_of(ws, n) for n in names}


@contextlib.contextmanager
def update(ws: Workspace, name: str) -> Iterator[dict[str, Any]]:
    """Read-modify-write one job's entry under its lock (joins an ambient unit of work)."""
    with ws.storage.cron.transaction(name) as slot:
        entry = dict(slot.value or {})
        yield entry
        slot.value = entry


def parse_stamp(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        return parse_iso(stamp)
    except AgentctlError:
        raise StateError(f"cron ledger (state/cron/): bad timestamp {stamp!r}; fix or move the file away") from None


def mark_installed(ws: Workspace, names: Iterable[str], now: datetime) -> None:
    """Coverage of a job starts when it was first installed (kept across re-installs)."""
    for name in names:
        with update(ws, name) as entry:
            entry.setdefault("installedAt", iso(now))


def mark_defined(ws: Workspace, names: Iterable[str], now: datetime) -> None:
    """A job first seen now (never installed, never run): its coverage starts now. Best effort
    (a read-only or busy state folder only delays it)."""
    for name in names:
        with contextlib.suppress(AgentctlError, OSError), update(ws, name) as entry:
            if not entry.get("installedAt"):
                entry.setdefault("definedAt", iso(now))


def mark_uninstalled(ws: Workspace, names: Iterable[str]) -> None:
    for name in names:
        with update(ws, name) as entry:
            entry.pop("installedAt", None)


def coverage_start(entry: dict[str, Any]) -> datetime | None:
    """When the job's expected slots begin: its install, else its first scheduled run."""
    stamps = [d for d in (parse_stamp(entry.get("installedAt")), parse_stamp(entry.get("definedAt"))) if d]
    return min(stamps) if stamps else None
