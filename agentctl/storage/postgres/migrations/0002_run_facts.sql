-- agentctl schema 2: the run log's columns the scorecard aggregates on (SPEC §9 in SQL).
-- seq is the position in the log (insertion order): of two runs with the same startedAt
-- the later one wins, as the later line does in a daily file. Existing rows are numbered
-- in (started_at, run_id) order, the order they were read in before.

CREATE SEQUENCE IF NOT EXISTS runs_seq;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS seq bigint;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS team text;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS task_id text;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS fallback_from text;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS error_type text;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS has_error boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS idempotency_key text;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS run_trigger text;
-- the start of the latest earlier failure (in log order) of the run's task, set on insert:
-- a run is a retry when that failure is in the window and at most 14 days before it
ALTER TABLE runs ADD COLUMN IF NOT EXISTS prev_failed_at timestamptz;

UPDATE runs r SET seq = o.n, team = r.doc->>'team', task_id = r.doc->>'taskId',
       fallback_from = r.doc->>'fallbackFrom', error_type = r.doc->'error'->>'type',
       has_error = coalesce(json_typeof(r.doc->'error') = 'object', false),
       idempotency_key = r.doc->>'idempotencyKey', run_trigger = r.doc->>'trigger'
FROM (SELECT run_id, started_at, nextval('runs_seq') AS n
      FROM (SELECT run_id, started_at FROM runs ORDER BY started_at, run_id) s) o
WHERE r.run_id = o.run_id AND r.started_at = o.started_at;

ALTER TABLE runs ALTER COLUMN seq SET DEFAULT nextval('runs_seq');

UPDATE runs r SET prev_failed_at = p.f
FROM (SELECT run_id, started_at, (max(ARRAY[seq, (extract(epoch FROM started_at) * 1000000)::bigint])
             FILTER (WHERE status IN ('failure', 'rejected', 'selftest_failed'))
             OVER (PARTITION BY task_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS a
      FROM runs WHERE task_id IS NOT NULL) q,
     LATERAL (SELECT timestamptz 'epoch' + q.a[2] * interval '1 microsecond' AS f) p
WHERE q.a IS NOT NULL AND r.run_id = q.run_id AND r.started_at = q.started_at;

-- the order-dependent facts read by index (the per-group sums read the window's partitions
-- once): each agent's last success and the failures after it, each cron job's runs, rejected runs,
-- and on insert a task's latest failure
CREATE INDEX IF NOT EXISTS runs_agent_status_time ON runs (agent, status, started_at, seq);
-- (index-only scans: what the report reads is in the index)
CREATE INDEX IF NOT EXISTS runs_job_time ON runs (started_at, seq)
    INCLUDE (job, status, idempotency_key, run_trigger, has_error, error_type) WHERE job IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_rejected ON runs (started_at) INCLUDE (agent, task_id) WHERE status = 'rejected';
CREATE INDEX IF NOT EXISTS runs_failed_tasks ON runs (task_id, seq)
    WHERE task_id IS NOT NULL AND status IN ('failure', 'rejected', 'selftest_failed');

-- the scorecard's sums per UTC day and group, kept with each insert (same statement): a
-- year's report reads ~365 × groups rows instead of every run. NULL is stored as '' (a key).
-- retries: the runs whose task's latest earlier failure started at most 14 days before them
-- (exact for the days 15 or more after a window's start; the report reads the first 15 days
-- and the partial edge days from runs).
CREATE TABLE IF NOT EXISTS runs_rollup (
    day           date NOT NULL,
    agent         text NOT NULL,
    model         text NOT NULL,
    status        text NOT NULL,
    job           text NOT NULL,
    tier          text NOT NULL,
    fallback_from text NOT NULL,
    team          text NOT NULL,
    error_type    text NOT NULL,
    runs          bigint NOT NULL,
    tokens_in     bigint NOT NULL,
    tokens_out    bigint NOT NULL,
    duration_s    double precision NOT NULL,
    cost_usd      double precision NOT NULL,
    unpriced      bigint NOT NULL,
    retries       bigint NOT NULL,
    last_start    timestamptz NOT NULL,
    PRIMARY KEY (day, agent, model, status, job, tier, fallback_from, team, error_type)
);

INSERT INTO runs_rollup
SELECT (started_at AT TIME ZONE 'UTC')::date, coalesce(agent, ''), coalesce(model, ''), status, coalesce(job, ''),
       coalesce(tier, ''), coalesce(fallback_from, ''), coalesce(team, ''), coalesce(error_type, ''), count(*),
       sum(tokens_in), sum(tokens_out), sum(duration_s), coalesce(sum(cost_usd), 0), count(*) - count(cost_usd),
       count(*) FILTER (WHERE started_at >= prev_failed_at AND started_at - prev_failed_at <= interval '14 days'),
       max(started_at)
FROM runs GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ON CONFLICT DO NOTHING;
