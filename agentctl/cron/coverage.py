"""Honest cron coverage (SPEC §8): per job, what happened to each expected slot.

A job's expected slots start when it was installed or first ran on schedule
(the cron ledger), never before — and never before the window. Each slot is:
- ``ok``: a scheduled run of the slot succeeded;
- ``failed``: it ran and failed (failure, rejected, selftest_failed) — not covered;
- ``skipped``: refused to start (breaker open, budget, still running);
- ``missed``: nothing ran, once min(PENDING_GRACE, the slot's interval) has passed;
- ``pending``: nothing yet, but still within that grace.
Manual runs (``trigger: manual``) and duplicates cover nothing. A run names its slot by
its idempotency key (``<job>:<slot>``); a record without one falls in the slot its
start falls in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from agentctl.core.clock import iso, parse_iso, parse_iso_or_none
from agentctl.core.config import CronJob
from agentctl.cron.schedule import job_zone, next_runs, slot_for, slots_between
from agentctl.cron.state import all_entries, coverage_start, mark_defined
from agentctl.errors import AgentctlError
from agentctl.workspace.cronsyntax import schedule_problem
from agentctl.workspace.loader import Workspace

PENDING_GRACE = timedelta(hours=1)
"""A slot with no record yet is *pending*, not missed, until min(this, its interval) has passed
(records are written when a run ends)."""
FAILED = frozenset({"failure", "rejected", "selftest_failed"})
RANK = {"ok": 3, "failed": 2, "skipped": 1}
JobRecord = Any
"""A job's run record: its dict from the log, or the scorecard scan's ``JobRun`` (the same fields, read
by ``_fields``)."""


def coverage_from_runs(ws: Workspace, start: datetime, end: datetime,
                       runs: dict[str, list[JobRecord]], missed_shown: int | None = None) -> list[dict[str, Any]]:
    """Coverage from the job runs of a scan the caller already made (the scorecard's one pass)."""
    return coverage(ws, start, end, runs, missed_shown)


def coverage(ws: Workspace, start: datetime, end: datetime,
             runs: dict[str, list[JobRecord]] | None = None, missed_shown: int | None = None) -> list[dict[str, Any]]:
    """One row per job; a job whose schedule is unusable gets a row with ``error`` (and zeros).
    ``runs``: the job records of the window by job, when the caller scanned it already;
    ``missed_shown``: list only the first so many missed slots (all are counted)."""
    if not ws.config.cron:
        return []
    names = [j.name for j in ws.config.cron]
    state = all_entries(ws, names)
    new = [n for n in names if coverage_start(state.get(n) or {}) is None]
    if new:
        mark_defined(ws, new, end)
        state = all_entries(ws, names)
    by_job: dict[str, list[JobRecord]] = {} if runs is None else runs
    for rec in _job_records(ws, start, end) if runs is None else ():
        by_job.setdefault(rec["job"], []).append(rec)
    rows = []
    for job in ws.config.cron:
        problem = schedule_problem(job.schedule)
        try:
            if problem:
                raise AgentctlError(problem)
            rows.append(_job_coverage(job, start, end, by_job.get(job.name, []), state.get(job.name) or {},
                                      missed_shown))
        except AgentctlError as exc:
            rows.append({**_base(job), "since": None, "error": f"agentctl.yaml [cron {job.name}]: {exc.message}",
                         **{k: 0 for k in ("expected", "recorded", "covered", *RANK, "missed", "pending")},
                         "missedSlots": [], "pendingSlots": [], "failedSlots": [], "byStatus": {}})
    return rows


def _base(job: CronJob) -> dict[str, Any]:
    return {"job": job.name, "schedule": job.schedule, "tz": job.tz, "agent": job.agent, "builtin": job.builtin}


def _job_records(ws: Workspace, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Run records with a job in [start, end), from the run-log store (``job_records``: files skip
    job-less lines before parsing; a database filters in SQL)."""
    yield from ws.storage.runlog.job_records(start, end)


def _slot_states(job: CronJob, records: list[dict[str, Any]], known: set[datetime]) -> tuple[dict[datetime, str],
                                                                                             dict[str, int], int]:
    states: dict[datetime, str] = {}
    by_status: dict[str, int] = {}
    runs = 0
    prefix = f"{job.name}:"
    for rec in records:
        raw_status, trigger, raw_error, key, started = _fields(rec)
        status = str(raw_status)
        if trigger == "manual" or status == "duplicate":
            continue
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        if status == "skipped" and error.get("type") == "MissedSlots":
            continue  # a note that cron did not fire: those slots are missed
        by_status[status] = by_status.get(status, 0) + 1
        runs += 1
        verdict = "ok" if status == "success" else "failed" if status in FAILED else "skipped"
        s = _record_slot(job, key, started, known, prefix)
        if s is not None and RANK[verdict] > RANK.get(states.get(s, ""), 0):
            states[s] = verdict
    return states, by_status, runs


def _job_coverage(job: CronJob, start: datetime, end: datetime, records: list[dict[str, Any]],
                  entry: dict[str, Any], missed_shown: int | None = None) -> dict[str, Any]:
    since = min((d for d in (coverage_start(entry), _first_scheduled(records)) if d is not None), default=None)
    first = max(start, since) if since else end
    fast = daily_slots(job, first, end) if first < end else []
    slots = fast if fast is not None else [s.astimezone(UTC) for s in slots_between(job, first, end)]
    states, by_status, runs = _slot_states(job, records, set(slots))
    counts = dict.fromkeys(("ok", "failed", "skipped", "missed", "pending"), 0)
    lists: dict[str, list[str]] = {"missed": [], "pending": [], "failed": []}
    for i, s in enumerate(slots):
        verdict = states.get(s)
        if verdict is None:
            nxt = slots[i + 1] if i + 1 < len(slots) else next_runs(job, s, 1)[0].astimezone(UTC)
            verdict = "pending" if end - s < min(PENDING_GRACE, nxt - s) else "missed"
        counts[verdict] += 1
        if verdict in lists and (verdict != "missed" or missed_shown is None or counts["missed"] <= missed_shown):
            lists[verdict].append(iso(s))
    return {**_base(job), "since": iso(since) if since else None, "expected": len(slots), "recorded": runs,
            "covered": counts["ok"], **counts, "missedSlots": lists["missed"], "pendingSlots": lists["pending"],
            "failedSlots": lists["failed"], "byStatus": dict(sorted(by_status.items()))}


def daily_slots(job: CronJob, start: datetime, end: datetime) -> list[datetime] | None:
    """The UTC slots in [start, end) of a schedule that fires at the same times every day, in a zone whose
    offset does not change in the window: from croniter's expansion of the fields, without walking croniter
    slot by slot (a year of an hourly job is 8,760 slots, ~80 µs each). None when that does not apply."""
    from croniter import croniter

    try:
        fields, nth = croniter.expand(job.schedule)
    except (ValueError, KeyError, TypeError):
        return None
    if nth or any(f != ["*"] for f in fields[2:]):
        return None
    zone = job_zone(job)
    offset = start.astimezone(zone).utcoffset()
    day = (start.astimezone(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end + timedelta(days=1):  # the offset must hold at every day boundary of the window
        if day.astimezone(zone).utcoffset() != offset:
            return None
        day += timedelta(days=1)
    if offset is None or end.astimezone(zone).utcoffset() != offset:
        return None
    minutes = range(60) if fields[0] == ["*"] else fields[0]
    hours = range(24) if fields[1] == ["*"] else fields[1]
    times = sorted(timedelta(hours=int(h), minutes=int(m)) for h in hours for m in minutes)
    local_day = start.astimezone(zone).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    out: list[datetime] = []
    while True:
        for t in times:
            at = (local_day + t - offset).replace(tzinfo=UTC)
            if at >= end:
                return out
            if at >= start:
                out.append(at)
        local_day += timedelta(days=1)


def _first_scheduled(records: list[dict[str, Any]]) -> datetime | None:
    """No cron state (an older workspace): coverage starts at the first scheduled record."""
    starts = [f[4] for f in map(_fields, records) if f[1] == "cron" and f[4]]
    with contextlib.suppress(AgentctlError):
        if starts and all(isinstance(t, datetime) for t in starts):  # the scan's (aware) times: no parsing
            first: datetime = min(starts)
            return first.astimezone(UTC).replace(second=0, microsecond=0)
        stamps = [_when(t) for t in starts]
        return min(stamps).replace(second=0, microsecond=0) if stamps else None
    return None


def _when(started: str | datetime) -> datetime:
    """A record's start: text from the log, a datetime from the scorecard's scan."""
    return started.astimezone(UTC) if isinstance(started, datetime) else parse_iso(started)


def _fields(rec: JobRecord) -> tuple[Any, Any, Any, Any, Any]:
    """status, trigger, error, idempotencyKey and startedAt of a record (a dict from the log, or the
    scan's ``JobRun``: its attributes, without a call per field)."""
    if isinstance(rec, dict):
        return rec.get("status"), rec.get("trigger"), rec.get("error"), rec.get("idempotencyKey"), rec.get("startedAt")
    return rec.status, rec.trigger, rec.error, rec.idempotencyKey, rec.startedAt


def _record_slot(job: CronJob, key: Any, started: Any, known: set[datetime], prefix: str) -> datetime | None:
    if isinstance(key, str) and key.startswith(prefix):
        s = parse_iso_or_none(key[len(prefix):])
        if s is not None and s in known:
            return s
    if not isinstance(started, str | datetime):
        return None
    try:
        return slot_for(job, _when(started)).astimezone(UTC)
    except AgentctlError:
        return None
