"""The one cron-schedule validator (SPEC §8), shared by `agents validate`, `cron install`,
`cron list`, `cron run` and coverage: what croniter reads as five fields (including
``L``, ``W``, ``#`` and names), provided the schedule fires at least once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

PROBE_BASE = datetime(2026, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=512)
def schedule_problem(schedule: str) -> str | None:
    """Why ``schedule`` is not a usable 5-field cron expression, or None."""
    from croniter import CroniterBadDateError, croniter

    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        return f"invalid 5-field cron expression {schedule!r}"
    try:
        croniter(schedule, PROBE_BASE).get_next(datetime)
    except CroniterBadDateError:
        return f"{schedule!r} never fires (no date matches it)"
    except (ValueError, KeyError, OverflowError) as exc:
        return f"invalid 5-field cron expression {schedule!r} ({exc})"
    return None
