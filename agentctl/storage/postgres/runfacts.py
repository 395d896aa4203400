"""The scorecard's run-log facts on PostgreSQL, aggregated in SQL (SPEC §9, §12).

``scorecard_facts`` answers, in one read-only transaction over the window's partitions,
what the file scan folds from the daily files (``agentctl.scorecard.scan.ScanResult``):
sums per group, per UTC day and per task label with ``GROUP BY``, and the order-dependent
facts with ``DISTINCT ON`` / window functions — the last success per agent and the
failures after it, the latest start, error types, breaker refusals, rejected tasks, the
runs of each cron job and the retries of failed tasks. Order is (started_at, seq): seq is
the position in the log (schema 2), so of two runs with the same start the later one
wins, as the later line does in a file. Python receives rows of sums, never every run.

Plain rows come back (tuples keyed by query name): the scorecard layer turns them into a
``ScanResult`` (``agentctl.scorecard.sql``); this module knows SQL, not the report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

FAILED = ("failure", "rejected", "selftest_failed")
_US = "(extract(epoch FROM started_at) * 1000000)::bigint"
_W = "started_at >= %(lo)s AND started_at < %(hi)s"

QUERIES: dict[str, str] = {
    # GroupKey = (agent, model, status, job, tier, fallbackFrom, team) → runs, tokens, duration, cost, unpriced
    "sums": f"""SELECT agent, model, status, job, tier, fallback_from, team, count(*), sum(tokens_in),
                       sum(tokens_out), sum(duration_s), coalesce(sum(cost_usd), 0), count(*) - count(cost_usd)
                FROM runs WHERE {_W} GROUP BY 1, 2, 3, 4, 5, 6, 7""",
    # UTC day × status × "a built-in's run (never unpriced)" → runs, cost, unpriced
    "daily": f"""SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), status,
                        agent IS NULL AND job = ANY(%(free)s), count(*), coalesce(sum(cost_usd), 0),
                        count(*) - count(cost_usd)
                 FROM runs WHERE {_W} GROUP BY 1, 2, 3""",
    "labels": f"""SELECT l.label, agent, status, job, count(*), coalesce(sum(cost_usd), 0), count(*) - count(cost_usd)
                  FROM runs JOIN unnest(%(task_ids)s::text[], %(label_ids)s::int[]) AS l(task_id, label)
                       USING (task_id)
                  WHERE {_W} GROUP BY 1, 2, 3, 4""",
    "last_run": f"SELECT agent, max(started_at) FROM runs WHERE {_W} GROUP BY 1",
    "last_ok": f"""SELECT DISTINCT ON (agent) agent, started_at, seq FROM runs
                   WHERE {_W} AND status = 'success' ORDER BY agent, started_at DESC, seq DESC""",
    # the failures after each agent's last success (all of them for an agent with none)
    "trailing": f"""WITH ok AS (SELECT DISTINCT ON (agent) coalesce(agent, '') AS a, started_at, seq FROM runs
                                WHERE {_W} AND status = 'success' ORDER BY agent, started_at DESC, seq DESC)
                    SELECT r.agent, r.started_at, r.seq FROM runs r LEFT JOIN ok ON ok.a = coalesce(r.agent, '')
                    WHERE {_W.replace('started_at', 'r.started_at')} AND r.status IN {FAILED}
                      AND (ok.a IS NULL OR (r.started_at, r.seq) > (ok.started_at, ok.seq))
                    ORDER BY r.started_at, r.seq""",
    "errors": f"""SELECT agent, status, coalesce(nullif(error_type, ''), status), count(*) FROM runs
                  WHERE {_W} AND status IN {FAILED} GROUP BY 1, 2, 3""",
    "refused": f"""SELECT agent, count(*) FROM runs WHERE {_W} AND status = 'skipped' AND error_type ~* 'breaker'
                   GROUP BY 1""",
    "rejected": f"SELECT agent, task_id, count(*) FROM runs WHERE {_W} AND status = 'rejected' GROUP BY 1, 2",
    "jobs": f"""SELECT job, status, idempotency_key, started_at, run_trigger, has_error, error_type FROM runs
                WHERE {_W} AND job IS NOT NULL ORDER BY started_at, seq""",
    # a run is a retry when its task's latest earlier failure in log order (the highest seq before
    # it) started at most `horizon` before it: max over [seq, start in µs] arrays carries that
    # failure's start along; only the runs of tasks that failed in the window are sorted
    "retries": f"""SELECT agent, model, status, job, tier, fallback_from, team, count(*) FROM (
                     SELECT agent, model, status, job, tier, fallback_from, team, {_US} AS us,
                            max(ARRAY[seq, {_US}]) FILTER (WHERE status IN {FAILED}) OVER (PARTITION BY task_id
                                ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS failed
                     FROM runs
                     WHERE {_W} AND task_id IN (SELECT task_id FROM runs WHERE {_W} AND status IN {FAILED})
                   ) t
                   WHERE failed IS NOT NULL AND us - failed[2] BETWEEN 0 AND %(horizon_us)s
                   GROUP BY 1, 2, 3, 4, 5, 6, 7""",
    "days": f"SELECT count(DISTINCT (started_at AT TIME ZONE 'UTC')::date) FROM runs WHERE {_W}",
}


def scorecard_facts(db: Any, lo: datetime, hi: datetime, *, free_jobs: list[str], labels: dict[str, int],
                    horizon: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every query's rows over runs started in [lo, hi), in one repeatable-read snapshot."""
    params = {"lo": lo, "hi": hi, "free": list(free_jobs), "task_ids": list(labels),
              "label_ids": list(labels.values()),
              "horizon_us": round(horizon.total_seconds() * 1e6)}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.tx() as cur:
        if db.depth == 1:  # not inside another unit of work: one snapshot for every query
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        for name, sql in QUERIES.items():
            if name == "labels" and not labels:
                out[name] = []
                continue
            cur.execute(sql, params)
            out[name] = cur.fetchall()
    return out
