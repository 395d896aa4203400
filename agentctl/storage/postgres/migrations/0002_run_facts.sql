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
CREATE INDEX IF NOT EXISTS runs_job_time ON runs (job, started_at) WHERE job IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_rejected ON runs (started_at) WHERE status = 'rejected';
CREATE INDEX IF NOT EXISTS runs_failed_tasks ON runs (task_id, seq)
    WHERE task_id IS NOT NULL AND status IN ('failure', 'rejected', 'selftest_failed');
