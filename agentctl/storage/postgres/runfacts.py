"""The scorecard's run-log facts on PostgreSQL, aggregated in SQL (SPEC §9, §12).

``scorecard_facts`` answers, in one read-only snapshot, what the file scan folds from the
daily files (``agentctl.scorecard.scan.ScanResult``), with no run decoded in Python:

- every sum (per group, per UTC day, per error type) in one statement over the rollups kept
  by the insert statement itself — ``runs_rollup_month`` for the whole months and
  ``runs_rollup`` (per day and group) for the other whole days 15 or more after the window's
  start, ``runs_rollup_daily`` (per day and status) for the daily series — and over ``runs``
  for the first days and the partial edge days;
- retries from ``prev_failed_at`` (the start of the task's latest earlier failure, set on
  insert): a retry when that failure is in the window and at most 14 days before the run;
- by index: each agent's last success and the failures after it (``LATERAL``), rejected
  runs, each cron job's runs, and the runs of labelled tasks (a scan, only when tasks carry
  a product or a tree).

Order is (started_at, seq): seq is the position in the log, so of two runs with the same start
the later one wins, as the later line does in a file. The scorecard layer turns the rows
into a ``ScanResult`` (``agentctl.scorecard.sql``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

FAILED = ("failure", "rejected", "selftest_failed")
ROLLUP_AFTER_DAYS = 15  # the rollup's retries use a 14-day horizon: exact 15 days after the window's start
_W = "started_at >= %(lo)s AND started_at < %(hi)s"

_KEY = "agent, model, status, job, tier, fallback_from, team, error_type"
_SUMS = "runs, tokens_in, tokens_out, duration_s, cost_usd, unpriced, retries, last_start"
GROUPED = f"""
WITH raw AS (
    SELECT (started_at AT TIME ZONE 'UTC')::date AS day, coalesce(agent, '') AS agent, coalesce(model, '') AS model,
           status, coalesce(job, '') AS job, coalesce(tier, '') AS tier, coalesce(fallback_from, '') AS fallback_from,
           coalesce(team, '') AS team, coalesce(error_type, '') AS error_type, count(*) AS n, sum(tokens_in) AS tin,
           sum(tokens_out) AS tout, sum(duration_s) AS dur, coalesce(sum(cost_usd), 0) AS cost,
           count(*) - count(cost_usd) AS unp,
           count(*) FILTER (WHERE prev_failed_at >= %(lo)s AND started_at >= prev_failed_at
                            AND started_at - prev_failed_at <= %(horizon)s) AS retries, max(started_at) AS last
    FROM runs WHERE (started_at >= %(lo)s AND started_at < %(r1)s) OR (started_at >= %(r2)s AND started_at < %(hi)s)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9),
keyed AS (
    SELECT {_KEY}, n, tin, tout, dur, cost, unp, retries, last FROM raw
    UNION ALL
    SELECT {_KEY}, {_SUMS} FROM runs_rollup
    WHERE (day >= %(d1)s AND day < %(m1)s) OR (day >= %(m2)s AND day < %(d2)s)
    UNION ALL
    SELECT {_KEY}, {_SUMS} FROM runs_rollup_month WHERE month >= %(m1)s AND month < %(m2)s),
daily AS (
    SELECT day, status, agent = '' AND job = ANY(%(free)s) AS free, n, cost, unp FROM raw
    UNION ALL
    SELECT day, status, agentless AND job = ANY(%(free)s), runs, cost_usd, unpriced FROM runs_rollup_daily
    WHERE day >= %(d1)s AND day < %(d2)s)
SELECT 3 + 3 * grouping(model), nullif(agent, ''), nullif(model, ''), status, nullif(job, ''), nullif(tier, ''),
       nullif(fallback_from, ''), nullif(team, ''), NULL::date, NULL::boolean, nullif(error_type, ''),
       sum(n)::bigint, sum(tin), sum(tout), sum(dur), sum(cost), sum(unp)::bigint, sum(retries)::bigint, max(last)
FROM keyed
GROUP BY GROUPING SETS ((agent, model, status, job, tier, fallback_from, team), (agent, status, error_type))
UNION ALL
SELECT 5, NULL, NULL, status, NULL, NULL, NULL, NULL, day, free, NULL, sum(n)::bigint, NULL, NULL, NULL, sum(cost),
       sum(unp)::bigint, NULL, NULL
FROM daily GROUP BY day, status, free"""
"""Every sum in two aggregates: 3 = per group (GroupKey), 6 = per (agent, status, error type) — from
``runs_rollup_month`` for the whole months and ``runs_rollup`` for the other whole days 15 or more
after the window's start (retries are exact there) —, and 5 = per UTC day, from ``runs_rollup_daily``
for those days; from ``runs`` for the first days and the partial edge days (``split``)."""


def split(lo: datetime, hi: datetime) -> dict[str, Any]:
    """[lo, r1) ∪ [r2, hi) read from runs, the days [d1, d2) from the rollups: the months [m1, m2)
    from the monthly one, the days [d1, m1) ∪ [m2, d2) from the daily one (none: r1 = r2 = hi)."""
    first = (lo + timedelta(days=1, microseconds=-1)).replace(hour=0, minute=0, second=0, microsecond=0)
    d1 = first + timedelta(days=ROLLUP_AFTER_DAYS)
    d2 = hi.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if d1 >= d2:
        return {"r1": hi, "r2": hi, "d1": hi.date(), "d2": hi.date(), "m1": hi.date(), "m2": hi.date()}
    m1 = d1.date() if d1.day == 1 else (d1.date().replace(day=1) + timedelta(days=32)).replace(day=1)
    m2 = d2.date().replace(day=1)
    if m1 >= m2:
        m1 = m2 = d2.date()
    return {"r1": d1, "r2": d2, "d1": d1.date(), "d2": d2.date(), "m1": m1, "m2": m2}


QUERIES: dict[str, str] = {
    "labels": f"""SELECT l.label, agent, status, job, count(*), coalesce(sum(cost_usd), 0), count(*) - count(cost_usd)
                  FROM runs JOIN unnest(%(task_ids)s::text[], %(label_ids)s::int[]) AS l(task_id, label)
                       USING (task_id)
                  WHERE {_W} GROUP BY 1, 2, 3, 4""",
    "rejected": f"SELECT agent, task_id, count(*) FROM runs WHERE {_W} AND status = 'rejected' GROUP BY 1, 2",
    "jobs": f"""SELECT job, status, idempotency_key, started_at, run_trigger, has_error, error_type FROM runs
                WHERE {_W} AND job IS NOT NULL ORDER BY started_at, seq""",
}
LAST_OK = f"""
SELECT a.agent, r.started_at, r.seq FROM unnest(%(agents)s::text[]) AS a(agent)
CROSS JOIN LATERAL (SELECT started_at, seq FROM runs WHERE runs.agent = a.agent AND status = 'success' AND {_W}
                    ORDER BY started_at DESC, seq DESC LIMIT 1) r"""
"""Each named agent's last success in the window, by the (agent, status, started_at, seq) index."""
TRAILING = f"""
SELECT a.agent, r.started_at, r.seq
FROM unnest(%(agents)s::text[], %(cut_t)s::timestamptz[], %(cut_seq)s::bigint[]) AS a(agent, t, seq)
CROSS JOIN LATERAL (SELECT started_at, seq FROM runs
                    WHERE runs.agent = a.agent AND status IN {FAILED} AND started_at >= a.t AND started_at < %(hi)s
                      AND (started_at, seq) > (a.t, a.seq)) r
ORDER BY r.started_at, r.seq"""
"""The failures after each named agent's last success in the window (cut: that success, or the
window's start), by the same index."""


def scorecard_facts(db: Any, lo: datetime, hi: datetime, *, free_jobs: list[str], labels: dict[str, int],
                    horizon: Any, jobs: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every query's rows over runs started in [lo, hi), in one repeatable-read snapshot (``jobs``:
    read each cron job's runs too, for cron coverage)."""
    params = {"lo": lo, "hi": hi, "free": list(free_jobs), "task_ids": list(labels),
              "label_ids": list(labels.values()), "horizon": horizon, **split(lo.astimezone(UTC), hi)}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.tx() as cur:
        if db.depth == 1:  # not inside another unit of work: one snapshot for every query
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        cur.execute(GROUPED, params)
        out["grouped"] = cur.fetchall()
        for name, sql in QUERIES.items():
            if (name == "labels" and not labels) or (name == "jobs" and not jobs):
                out[name] = []
                continue
            cur.execute(sql, params)
            out[name] = cur.fetchall()
        named = sorted({r[1] for r in out["grouped"] if r[0] == 3 and r[1] is not None})
        cur.execute(LAST_OK, {**params, "agents": named})
        out["last_ok"] = cur.fetchall()
        last = {agent: (t, seq) for agent, t, seq in out["last_ok"]}
        cut = {agent: last.get(agent, (lo, -1)) for agent in named}
        cur.execute(TRAILING, {"hi": hi, "agents": list(cut), "cut_t": [c[0] for c in cut.values()],
                               "cut_seq": [c[1] for c in cut.values()]})
        out["trailing"] = cur.fetchall()
    return out
