-- agentctl schema 5: two smaller rollups beside runs_rollup, kept by the same insert statement,
-- so a year's scorecard reads ~12 × groups rows and ~365 × statuses rows instead of 365 × groups.
--   runs_rollup_month: runs_rollup's sums per UTC month (first day) instead of per day — the
--     per-group and per-error-type sums of the whole months inside a window (their retries are
--     exact there: they start 15 days or more after the window does);
--   runs_rollup_daily: per UTC day and status, the runs, cost and unpriced runs, with the job
--     kept only for runs without an agent (`free` jobs are those) — the report's daily series.

CREATE TABLE IF NOT EXISTS runs_rollup_month (
    month         date NOT NULL,
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
    PRIMARY KEY (month, agent, model, status, job, tier, fallback_from, team, error_type)
);

CREATE TABLE IF NOT EXISTS runs_rollup_daily (
    day           date NOT NULL,
    status        text NOT NULL,
    agentless     boolean NOT NULL,
    job           text NOT NULL,  -- '' unless agentless
    runs          bigint NOT NULL,
    cost_usd      double precision NOT NULL,
    unpriced      bigint NOT NULL,
    PRIMARY KEY (day, status, agentless, job)
);

INSERT INTO runs_rollup_month
SELECT date_trunc('month', day)::date, agent, model, status, job, tier, fallback_from, team, error_type, sum(runs),
       sum(tokens_in), sum(tokens_out), sum(duration_s), sum(cost_usd), sum(unpriced), sum(retries), max(last_start)
FROM runs_rollup GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ON CONFLICT DO NOTHING;

INSERT INTO runs_rollup_daily
SELECT day, status, agent = '', CASE WHEN agent = '' THEN job ELSE '' END, sum(runs), sum(cost_usd), sum(unpriced)
FROM runs_rollup GROUP BY 1, 2, 3, 4
ON CONFLICT DO NOTHING;
