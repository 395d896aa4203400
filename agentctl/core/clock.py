"""Time in one place: UTC, ISO-8601 with ``Z``, durations like ``30d``/``24h``.
The clock is read once at the edge (``cli/``) and passed down."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from agentctl.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with ``Z`` and second precision (milliseconds when present)."""
    dt = dt.astimezone(UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO timestamp; naive input is taken as UTC."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"not an ISO-8601 time: {text!r}") from exc
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_iso_or_none(text: Any) -> datetime | None:
    """``parse_iso`` for a value read from a record: anything that is not an ISO time (missing,
    another type, malformed) is None, for the caller to skip."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_iso(text)
    except (UsageError, OverflowError):  # OverflowError: a year-1 time with an offset, moved to UTC
        return None


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``30d``, ``2w`` → timedelta."""
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"not a duration: {text!r} (use e.g. 90s, 15m, 24h, 30d)")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def upper_bound_second(end: datetime) -> str:
    """The exclusive upper bound of a window ending at ``end``, at the one-second precision
    of ``startedAt`` prefixes: a clock reading with a fraction (the real "now") includes
    its own second, so a run started a moment ago is in; a whole-second ``--now`` stays
    exclusive, so adjacent windows never count a run twice."""
    end = end.astimezone(UTC)
    if end.microsecond:
        end = end.replace(microsecond=0) + timedelta(seconds=1)
    return end.strftime("%Y-%m-%dT%H:%M:%S")


def window_bounds(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[lo, hi) in UTC at the one-second precision of run starts: a clock reading with a fraction (the
    real "now") includes its own second, so a run started a moment ago is in; a whole-second end stays
    exclusive, so adjacent windows never count a run twice."""
    end = end.astimezone(UTC)
    hi = end.replace(microsecond=0) + timedelta(seconds=1) if end.microsecond else end
    return start.astimezone(UTC).replace(microsecond=0), hi
