-- agentctl schema 1: every store of the storage seam (SPEC §12).
-- Documents keep the file backend's own shapes: `json` where key order is output (tasks,
-- events, runs, alerts), `jsonb` where SQL looks inside (keyed state). The columns next to
-- them are what queries filter, lock and aggregate on.

CREATE TABLE IF NOT EXISTS agentctl_meta (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);
INSERT INTO agentctl_meta (key, value) VALUES ('nextSeq', '1') ON CONFLICT (key) DO NOTHING;

-- tasks: one row per live task; version is the compare-and-set column
CREATE TABLE IF NOT EXISTS tasks (
    task_id    text PRIMARY KEY,
    seq        bigserial NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    status     text NOT NULL,
    agent      text,
    claimed_by text,
    updated_at text NOT NULL,
    doc        json NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_agent_status ON tasks (agent, status);

CREATE TABLE IF NOT EXISTS tasks_archive (
    task_id  text PRIMARY KEY,
    seq      bigserial NOT NULL,
    month    text NOT NULL,
    doc      json NOT NULL
);

-- events: written in the transaction of the change
CREATE TABLE IF NOT EXISTS events (
    id      bigserial PRIMARY KEY,
    ts      text NOT NULL,
    task_id text,
    actor   text,
    change  text NOT NULL,
    before  json,
    after   json,
    source_key text UNIQUE  -- set by `storage import`: the imported line's hash (imported once)
);
CREATE INDEX IF NOT EXISTS events_task ON events (task_id);

-- run log: append-only, partitioned by month on startedAt (partitions made on demand)
CREATE TABLE IF NOT EXISTS runs (
    run_id      text NOT NULL,
    started_at  timestamptz NOT NULL,
    started_txt text NOT NULL,
    agent       text,
    job         text,
    status      text NOT NULL,
    tier        text,
    model       text,
    tokens_in   bigint NOT NULL DEFAULT 0,
    tokens_out  bigint NOT NULL DEFAULT 0,
    cost_usd    double precision,
    duration_s  double precision NOT NULL DEFAULT 0,
    doc         json NOT NULL,
    PRIMARY KEY (run_id, started_at)
) PARTITION BY RANGE (started_at);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);

-- small keyed state: breakers, idempotency ledger, cron ledger, alert dedupe (one row per key)
CREATE TABLE IF NOT EXISTS kv (
    store   text NOT NULL,
    key     text NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    value   jsonb NOT NULL,
    PRIMARY KEY (store, key)
);

-- cron ledger: one run per (job, slot)
CREATE TABLE IF NOT EXISTS cron_slots (
    job    text NOT NULL,
    slot   text NOT NULL,
    at     text NOT NULL,
    status text,
    doc    jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (job, slot)
);

-- alerts (append-only)
CREATE TABLE IF NOT EXISTS alerts (
    id   bigserial PRIMARY KEY,
    ts   text NOT NULL,
    doc  json NOT NULL,
    source_key text UNIQUE
);
-- learn ledger, regressions: whole small documents
CREATE TABLE IF NOT EXISTS blobs (
    name       text PRIMARY KEY,
    data       bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    task_id text NOT NULL,
    name    text NOT NULL,
    content jsonb,
    raw     bytea NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (task_id, name)
);
