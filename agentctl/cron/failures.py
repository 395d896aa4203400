"""Failing cron jobs alert (SPEC §8): the first failure, every Nth after it, the recovery.

A scheduled run that fails — the agent failed, its output or self-tests were rejected,
a configuration error (a missing key, an unknown agent, a broken agentctl.yaml) or a
crash — extends the job's failure streak in the cron ledger. Failure 1, 1+N,
1+2N… (``alerts.failure_every``, default 10) raise a ``cron_job_failed`` alert through
the sinks; the first success after a streak raises ``cron_job_recovered``. "Try later"
outcomes (breaker open, budget spent, still running) and duplicates change nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentctl.core.clock import iso
from agentctl.core.redact import redact
from agentctl.cron.state import all_entries, entry_of, update
from agentctl.errors import AgentctlError
from agentctl.workspace.loader import Workspace

FAILED_STATUSES = frozenset({"failure", "rejected", "selftest_failed"})
DEFAULT_EVERY = 10


def verdict(status: str, exit_code: int) -> str | None:
    """"failed", "ok" or None (an outcome that neither breaks nor mends the streak)."""
    if status in ("duplicate", "skipped") or exit_code == 75:
        return None
    if status == "success" and exit_code == 0:
        return "ok"
    return "failed" if status in FAILED_STATUSES or exit_code != 0 else None


def _every(ws: Workspace) -> int:
    try:
        return ws.config.alerts.failure_every
    except AgentctlError:
        return DEFAULT_EVERY


def note_outcome(ws: Workspace, job: str, status: str, exit_code: int, message: str, now: datetime,
                 slot: str | None = None) -> dict[str, Any] | None:
    """Update the job's streak; returns the alert raised, if any."""
    outcome = verdict(status, exit_code)
    if outcome is None:
        return None
    if outcome == "ok" and not entry_of(ws, job).get("consecutiveFailures"):
        return None  # the usual case: nothing to mend, no second write of the ledger
    with update(ws, job) as entry:
        before = int(entry.get("consecutiveFailures") or 0)
        since = entry.get("failingSince")
        if outcome == "ok":
            entry.update(consecutiveFailures=0, failingSince=None, lastError=None)
        else:
            since = since if before else iso(now)
            entry.update(consecutiveFailures=before + 1, failingSince=since, lastError=redact(message)[:300])
    if outcome == "ok":
        return _recovered(ws, job, before, since, now) if before else None
    count = before + 1
    if (count - 1) % _every(ws) != 0:
        return None
    return _failed(ws, job, count, since, status, exit_code, message, now, slot)


def _failed(ws: Workspace, job: str, count: int, since: str | None, status: str, exit_code: int, message: str,
            now: datetime, slot: str | None) -> dict[str, Any]:
    from agentctl.cron.alerts import raise_alert

    streak = "first failure" if count == 1 else f"{count} consecutive failures since {since}"
    text = f"cron job {job} failed (exit {exit_code}, {streak}): {message[:300]}"
    return raise_alert(ws, kind="cron_job_failed", message=text, source=f"cron:{job}", now=now, severity="critical",
                       data={"job": job, "status": status, "exitCode": exit_code, "slot": slot,
                             "consecutiveFailures": count, "failingSince": since})


def _recovered(ws: Workspace, job: str, count: int, since: str | None, now: datetime) -> dict[str, Any]:
    from agentctl.cron.alerts import raise_alert

    text = f"cron job {job} recovered after {count} consecutive failure(s) since {since}"
    return raise_alert(ws, kind="cron_job_recovered", message=text, source=f"cron:{job}", now=now,
                       severity="info", data={"job": job, "consecutiveFailures": count, "failingSince": since})


def failing_jobs(ws: Workspace) -> list[dict[str, Any]]:
    """Each job's last scheduled run and streak, from cron state only (cheap enough for `status`)."""
    rows = []
    for name, e in sorted(all_entries(ws).items()):
        if not e.get("at"):
            continue
        rows.append({"job": name, "lastRunAt": e.get("at"), "status": e.get("status"), "exitCode": e.get("exitCode"),
                     "consecutiveFailures": int(e.get("consecutiveFailures") or 0),
                     "failingSince": e.get("failingSince"), "lastError": e.get("lastError")})
    return rows
