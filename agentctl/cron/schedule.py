"""Schedule math for cron jobs (SPEC §8): one validator, slots in the job's own zone.

``schedule_problem`` is the one validator: ``agents validate``, ``cron install``,
``cron list``, ``cron run`` and coverage all accept exactly the same syntax — what
croniter reads as five fields (including ``L``, ``W``, ``#`` and names), provided the
schedule fires at least once. The crontab line written for a job may use wider fields
(system cron reads no ``L``/``W``/``#`` and no other zone); agentctl then decides
at each firing whether the minute is one of the job's slots (``is_due``).

Slots are read in the job's ``tz`` (zoneinfo, via croniter). When DST ends, a job at
fixed hours runs once in the repeated hour, like cron; when DST starts, croniter moves
a slot in the skipped hour to the first minute after the change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter  # every caller of this module reads schedules

from agentctl.core.clock import iso
from agentctl.core.config import CronJob
from agentctl.errors import ConfigError
from agentctl.workspace.cronsyntax import schedule_problem


def job_zone(job: CronJob) -> ZoneInfo:
    try:
        return ZoneInfo(job.tz)
    except (KeyError, ValueError):
        raise ConfigError(f"agentctl.yaml [cron {job.name}.tz]: unknown time zone {job.tz!r}") from None


def check_job(job: CronJob) -> None:
    problem = schedule_problem(job.schedule)
    if problem:
        raise ConfigError(f"agentctl.yaml [cron {job.name}.schedule]: {problem}")
    job_zone(job)


def _iter(job: CronJob, start: datetime) -> Any:
    check_job(job)
    return croniter(job.schedule, start.astimezone(job_zone(job)))


def _fixed_hours(job: CronJob) -> bool:
    return job.schedule.split()[1] != "*"


def _repeat(job: CronJob, a: datetime, b: datetime) -> bool:
    """b is a second reading of a's wall-clock time (the hour repeated when DST ends):
    like cron, a job at fixed hours runs once there, not twice."""
    return _fixed_hours(job) and a.replace(tzinfo=None) == b.replace(tzinfo=None)


def next_runs(job: CronJob, now: datetime, n: int = 3) -> list[datetime]:
    """The next ``n`` scheduled times strictly after ``now`` (aware, in the job's tz)."""
    it = _iter(job, now)
    out: list[datetime] = []
    while len(out) < n:
        t = it.get_next(datetime)
        if not (out and _repeat(job, out[-1], t)):
            out.append(t)
    return out


def slot_for(job: CronJob, now: datetime) -> datetime:
    """The current slot: the most recent scheduled time ≤ now (aware, in the job's tz)."""
    it = _iter(job, now.replace(second=0, microsecond=0) + timedelta(minutes=1))
    slot = it.get_prev(datetime)
    before = it.get_prev(datetime)
    return before if _repeat(job, before, slot) else slot  # type: ignore[no-any-return]


def is_due(job: CronJob, now: datetime) -> bool:
    """Whether ``now`` falls in the minute of one of the job's slots (what a scheduled firing runs)."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    return slot_for(job, now).astimezone(UTC) == minute


def slots_between(job: CronJob, start: datetime, end: datetime) -> list[datetime]:
    """Every scheduled time s with start ≤ s < end."""
    it = _iter(job, start - timedelta(seconds=1))
    out: list[datetime] = []
    while (s := it.get_next(datetime)) < end:
        if not (out and _repeat(job, out[-1], s)):
            out.append(s)
    return out


def slot_key(job: CronJob, slot: datetime) -> str:
    """The idempotency key of a scheduled cron run: ``<job>:<slot in UTC ISO>``."""
    return f"{job.name}:{iso(slot)}"
