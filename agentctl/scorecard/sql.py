"""The scorecard's ScanResult from a run log that aggregates in SQL (PostgreSQL, SPEC §12).

The database answers with rows of sums and the few order-dependent facts
(``RunLog.scorecard_facts``); this module puts them where the file scan's fold puts its
own (``agentctl.scorecard.scan.ScanResult``), so the report builder cannot tell the two
apart. Positions are the log's ``seq`` instead of the fold's line counter: only their order
matters. Records are validated when stored, so nothing is skipped here (``skippedLines`` 0);
``window.bytes`` is 0: no JSONL is read.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from agentctl.core.clock import window_bounds
from agentctl.scorecard.scan import (
    BREAKER_ERROR,
    EXECUTED,
    FAILED,
    NEVER,
    TASK_HORIZON_DAYS,
    JobRun,
    ScanResult,
)

GROUP, DAY = 3, 5  # grouping() of the grouped query's sets: per GroupKey, per day (6: per error type)


def sql_scan(runlog: Any, start: datetime, end: datetime, labels: dict[str, int] | None = None,
             free_jobs: Any = (), jobs: bool = True) -> ScanResult:
    """The window [start, end)'s ScanResult from ``runlog.scorecard_facts`` (one snapshot)."""
    lo, hi = window_bounds(start, end)
    out = ScanResult()
    facts = runlog.scorecard_facts(lo, hi, free_jobs=sorted(free_jobs), labels=labels or {},
                                   horizon=timedelta(days=TASK_HORIZON_DAYS), jobs=jobs)
    _grouped(out, facts["grouped"])
    for label, agent, status, job, n, cost, unpriced in facts["labels"]:
        out.label_sums[(label, agent, status, job)] = [n, cost, unpriced]
    _order_facts(out, facts)
    return out


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def _grouped(out: ScanResult, rows: list[tuple[Any, ...]]) -> None:
    """The sums per group, per day and per error type, from the grouped query's rows."""
    errors: dict[tuple[str | None, str], Counter[str]] = {}
    days = set()
    for g, agent, model, status, job, tier, fb, team, day, free, etype, n, tin, tout, dur, cost, unp, retries, \
            last in rows:
        if g == GROUP:
            out.sums[(agent, model, status, job, tier, fb, team)] = [n, int(tin), int(tout), float(dur), float(cost),
                                                                      unp, retries]
            if last is not None and _utc(last) > out.last_run.get(agent, NEVER):
                out.last_run[agent] = _utc(last)
        elif g == DAY:
            days.add(day)
            _daily(out, day.isoformat(), status, free, n, float(cost), unp)
        elif status in FAILED:
            errors.setdefault((agent, status), Counter())[etype or status] += n
        elif status == "skipped" and etype and BREAKER_ERROR.search(etype):
            out.breaker_refused[agent] += n
    out.error_counts = errors
    out.files = len(days)


def _daily(out: ScanResult, day: str, status: str, free: bool, n: int, cost: float, unpriced: int) -> None:
    if status not in EXECUTED:
        return
    d = out.daily.setdefault(day, [0, 0, 0, 0.0, 0])
    d[0] += n
    d[1 if status == "success" else 2] += n
    d[3] += cost
    d[4] += 0 if free else unpriced


def _order_facts(out: ScanResult, facts: dict[str, list[tuple[Any, ...]]]) -> None:
    for agent, t, seq in facts["last_ok"]:
        out.last_ok[agent] = (_utc(t), seq)
    for agent, t, seq in facts["trailing"]:
        out.trailing[agent].append((_utc(t), seq))
    for agent, task, n in facts["rejected"]:
        out.rejected_tasks[agent][task] += n
    for job, status, key, t, trigger, has_error, etype in facts["jobs"]:
        out.job_runs[job].append(JobRun(status, key, _utc(t), trigger, {"type": etype} if has_error else None))
