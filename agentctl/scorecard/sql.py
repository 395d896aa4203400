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

from agentctl.scorecard.scan import EXECUTED, TASK_HORIZON_DAYS, ScanResult, window_bounds


def sql_scan(runlog: Any, start: datetime, end: datetime, labels: dict[str, int] | None = None,
             free_jobs: Any = ()) -> ScanResult:
    """The window [start, end)'s ScanResult from ``runlog.scorecard_facts`` (one snapshot)."""
    lo, hi = window_bounds(start, end)
    facts = runlog.scorecard_facts(lo, hi, free_jobs=sorted(free_jobs), labels=labels or {},
                                   horizon=timedelta(days=TASK_HORIZON_DAYS))
    out = ScanResult()
    _sums(out, facts)
    _daily(out, facts["daily"])
    for label, agent, status, job, n, cost, unpriced in facts["labels"]:
        out.label_sums[(label, agent, status, job)] = [n, cost, unpriced]
    _order_facts(out, facts)
    out.files = int(facts["days"][0][0]) if facts["days"] else 0
    return out


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def _sums(out: ScanResult, facts: dict[str, list[tuple[Any, ...]]]) -> None:
    for *key, n, tin, tout, dur, cost, unpriced in facts["sums"]:
        out.sums[tuple(key)] = [n, int(tin), int(tout), float(dur), float(cost), unpriced, 0]
    for *key, n in facts["retries"]:
        out.sums[tuple(key)][6] = n


def _daily(out: ScanResult, rows: list[tuple[Any, ...]]) -> None:
    for day, status, free, n, cost, unpriced in rows:
        if status not in EXECUTED:
            continue
        d = out.daily.setdefault(day, [0, 0, 0, 0.0, 0])
        d[0] += n
        d[1 if status == "success" else 2] += n
        d[3] += float(cost)
        d[4] += 0 if free else unpriced


def _order_facts(out: ScanResult, facts: dict[str, list[tuple[Any, ...]]]) -> None:
    for agent, last in facts["last_run"]:
        out.last_run[agent] = _utc(last)
    for agent, t, seq in facts["last_ok"]:
        out.last_ok[agent] = (_utc(t), seq)
    for agent, t, seq in facts["trailing"]:
        out.trailing[agent].append((_utc(t), seq))
    counts: dict[tuple[str | None, str], Counter[str]] = {}
    for agent, status, etype, n in facts["errors"]:
        counts.setdefault((agent, status), Counter())[etype] += n
    out.error_counts = counts
    for agent, n in facts["refused"]:
        out.breaker_refused[agent] += n
    for agent, task, n in facts["rejected"]:
        out.rejected_tasks[agent][task] += n
    for job, status, key, t, trigger, has_error, etype in facts["jobs"]:
        out.job_runs[job].append({"status": status, "idempotencyKey": key, "startedAt": _utc(t), "trigger": trigger,
                                  "error": {"type": etype} if has_error else None})
