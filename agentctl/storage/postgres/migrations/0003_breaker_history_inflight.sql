-- agentctl schema 3: the breaker history and the runs in flight (SPEC §12, §13).
-- (0002 is the scorecard's run facts.)

-- breaker history: every transition, written in the transaction of the breaker's change
CREATE TABLE IF NOT EXISTS breaker_events (
    id         bigserial PRIMARY KEY,
    ts         text NOT NULL,
    agent      text NOT NULL,
    doc        json NOT NULL,
    source_key text UNIQUE  -- set by `storage import`: the imported line's hash (imported once)
);
CREATE INDEX IF NOT EXISTS breaker_events_ts ON breaker_events (ts);

-- runs in flight: one slot per run (or work loop); max_concurrent is counted here under the
-- agent's advisory lock, so it holds across hosts
CREATE TABLE IF NOT EXISTS inflight (
    slot_id          text PRIMARY KEY,
    agent            text NOT NULL,
    host             text NOT NULL,
    pid              integer,
    lease_expires_at timestamptz,
    started_at       text,
    doc              jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS inflight_agent ON inflight (agent);
