"""Append-only stores on PostgreSQL: the run log (partitioned by month on ``startedAt``),
alerts, plus the whole-document blobs (learn ledger, regressions) and artifacts.

Aggregates (budget spend, the scorecard — `runfacts` —, cron coverage) are
computed in SQL over the window's partitions, never by pulling every row into Python.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg.types.json import Json, Jsonb

from agentctl.core.records import RunRecord
from agentctl.storage.artifact_refs import RUNS_DIR, check_key
from agentctl.storage.base import DaySpend, RunScan
from agentctl.storage.postgres.connection import Database

PARTITION_LOCK = 0x72756E73  # "runs"
BLOB_LOCK_SPACE = 0x626C


PgRunScan = RunScan  # the seam's one scan result, for both backends


STATUSES = frozenset({"success", "failure", "rejected", "selftest_failed", "skipped", "duplicate"})
_TEXT = ("runId", "agent", "team", "taskId", "job", "tier", "model", "fallbackFrom", "idempotencyKey", "trigger")


def storable_run(d: Any) -> bool:
    """A record the scorecard can read (what its file scan would not skip): a known status, an
    ISO time (no offset: UTC), text fields as text, tokens, cost and duration numbers ≥ 0."""
    if not isinstance(d, dict) or d.get("status") not in STATUSES or not isinstance(d.get("startedAt"), str):
        return False
    try:
        datetime.fromisoformat(d["startedAt"].replace("Z", "+00:00"))
    except ValueError:
        return False
    if any(not isinstance(d.get(k), str | None) for k in _TEXT):
        return False
    err = d.get("error")
    if err is not None and not (isinstance(err, dict) and isinstance(err.get("type"), str | None)):
        return False
    ints = (d.get("tokensIn", 0), d.get("tokensOut", 0))
    nums = (d.get("durationS", 0.0), *(() if d.get("costUsd") is None else (d["costUsd"],)))
    return all(type(v) is int and v >= 0 for v in ints) and \
        all(type(v) in (int, float) and v >= 0 for v in nums)


PREV_FAILURE = ("(SELECT f.started_at FROM runs f WHERE f.task_id = %s AND f.status IN ('failure', 'rejected', "
                "'selftest_failed') ORDER BY f.seq DESC LIMIT 1)")
"""The start of the task's latest failure in log order (``prev_failed_at``: retries, schema 2)."""


_ROLLUP_UPSERT = """
ON CONFLICT ({day}, agent, model, status, job, tier, fallback_from, team, error_type) DO UPDATE SET
    runs = {t}.runs + 1, tokens_in = {t}.tokens_in + excluded.tokens_in,
    tokens_out = {t}.tokens_out + excluded.tokens_out, duration_s = {t}.duration_s + excluded.duration_s,
    cost_usd = {t}.cost_usd + excluded.cost_usd, unpriced = {t}.unpriced + excluded.unpriced,
    retries = {t}.retries + excluded.retries, last_start = greatest({t}.last_start, excluded.last_start)"""

INSERT_RUN = f"""
WITH ins AS (
    INSERT INTO runs (run_id, started_at, started_txt, agent, job, status, tier, model, tokens_in, tokens_out, cost_usd,
                      duration_s, team, task_id, fallback_from, error_type, has_error, idempotency_key, run_trigger,
                      seq, doc, prev_failed_at)
    VALUES (%s, %s::timestamptz, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
            nextval('runs_seq'), %s, {PREV_FAILURE})
    ON CONFLICT DO NOTHING
    RETURNING *),
r AS (
    SELECT (started_at AT TIME ZONE 'UTC')::date AS day, coalesce(agent, '') AS agent, coalesce(model, '') AS model,
           status, coalesce(job, '') AS job, coalesce(tier, '') AS tier, coalesce(fallback_from, '') AS fallback_from,
           coalesce(team, '') AS team, coalesce(error_type, '') AS error_type, 1 AS runs, tokens_in, tokens_out,
           duration_s, coalesce(cost_usd, 0) AS cost_usd, (cost_usd IS NULL)::int AS unpriced,
           (started_at >= prev_failed_at AND started_at - prev_failed_at <= interval '14 days' IS TRUE)::int AS retries,
           started_at AS last_start
    FROM ins),
d AS (INSERT INTO runs_rollup SELECT * FROM r {_ROLLUP_UPSERT.format(t="runs_rollup", day="day")}),
m AS (INSERT INTO runs_rollup_month SELECT date_trunc('month', day)::date, agent, model, status, job, tier,
             fallback_from, team, error_type, runs, tokens_in, tokens_out, duration_s, cost_usd, unpriced, retries,
             last_start FROM r {_ROLLUP_UPSERT.format(t="runs_rollup_month", day="month")})
INSERT INTO runs_rollup_daily
SELECT day, status, agent = '', CASE WHEN agent = '' THEN job ELSE '' END, 1, cost_usd, unpriced FROM r
ON CONFLICT (day, status, agentless, job) DO UPDATE SET runs = runs_rollup_daily.runs + 1,
    cost_usd = runs_rollup_daily.cost_usd + excluded.cost_usd, unpriced = runs_rollup_daily.unpriced + excluded.unpriced
"""
"""One run into the log and into its day's and month's rollup rows and its daily row, in one statement
(a duplicate: none of them). The main statement (the daily row, shared by every agent's runs of that
day and status) runs before the CTEs nobody reads (the day and month rows of the run's own key), so a
transaction recording one run waits for the shared row before it holds any other rollup row."""


def _as_utc(text: str) -> str:
    """A start without an offset is UTC, as everywhere in agentctl (not the session's time zone)."""
    try:
        naive = datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is None
    except ValueError:
        return text
    return text + "+00:00" if naive else text


def _fact_columns(d: dict[str, Any]) -> tuple[Any, ...]:
    """team, task_id, fallback_from, error_type, has_error, idempotency_key, run_trigger (schema 2)."""
    err = d.get("error")
    etype = err.get("type") if isinstance(err, dict) else None
    return (d.get("team"), d.get("taskId"), d.get("fallbackFrom"), etype, isinstance(err, dict),
            d.get("idempotencyKey"), d.get("trigger"))


def _month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


@dataclass
class PgRunLog:
    db: Database
    _months: set[str] = field(default_factory=set)

    def ensure_partition(self, day: date) -> None:
        first, nxt = _month_bounds(day)
        name = f"runs_{first:%Y_%m}"
        if name in self._months:
            return
        with self.db.tx() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
            if not cur.fetchone()[0]:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
                cur.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF runs FOR VALUES FROM "
                            f"('{first.isoformat()} 00:00:00+00') TO ('{nxt.isoformat()} 00:00:00+00')")
        self._months.add(name)

    def append(self, record: RunRecord) -> None:
        self.append_many([record.model_dump(mode="json")])

    def append_many(self, docs: list[dict[str, Any]]) -> int:
        for month in sorted({d["startedAt"][:7] for d in docs}):
            self.ensure_partition(date.fromisoformat(month + "-01"))
        rows = [(d["runId"], _as_utc(d["startedAt"]), d["startedAt"], d.get("agent"), d.get("job"), d["status"], d.get("tier"),
                 d.get("model"), int(d.get("tokensIn") or 0), int(d.get("tokensOut") or 0), d.get("costUsd"),
                 float(d.get("durationS") or 0), *_fact_columns(d), Json(d), d.get("taskId"))
                for d in docs]
        with self.db.tx() as cur:
            cur.executemany(INSERT_RUN, rows)
            return int(cur.rowcount)

    @staticmethod
    def _window(start: datetime, end: datetime) -> tuple[Any, ...]:
        """The file scan's bounds: from ``start``'s second to ``end``'s second included, on
        ``started_at`` (so only the window's partitions are read)."""
        return start.replace(microsecond=0), end.replace(microsecond=0) + timedelta(seconds=1)

    _WHERE = "started_at >= %s AND started_at < %s"

    def scan(self, start: datetime, end: datetime) -> PgRunScan:
        with self.db.tx() as cur:
            cur.execute(f"SELECT doc FROM runs WHERE {self._WHERE} ORDER BY started_at, run_id",
                        self._window(start, end))
            return PgRunScan([r[0] for r in cur.fetchall()])

    def read_window(self, start: datetime, end: datetime, reader: Any = None) -> Iterator[dict[str, Any]]:
        yield from self.scan(start, end).records

    def spend_of_day(self, day: date, agent: str | None = None) -> float:
        lo = f"{day.isoformat()}T00:00:00"
        hi = f"{(day + timedelta(days=1)).isoformat()}T00:00:00"
        with self.db.tx() as cur:
            cur.execute("SELECT coalesce(sum(cost_usd), 0) FROM runs WHERE started_at >= %s::timestamptz - interval "
                        "'1 second' AND started_at < %s::timestamptz + interval '1 second' AND left(started_txt, 19) "
                        ">= %s AND left(started_txt, 19) < %s AND (%s::text IS NULL OR agent = %s)",
                        (lo + "Z", hi + "Z", lo, hi, agent, agent))
            return float(cur.fetchone()[0])

    def spend_by_agent(self, day: date) -> DaySpend:
        """One aggregate over the day's partition: priced cost per agent and the unpriced model runs."""
        lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
        with self.db.tx() as cur:
            cur.execute("SELECT coalesce(agent, '?'), sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL AND "
                        "status NOT IN ('skipped', 'duplicate') AND coalesce(doc->>'provider', 'command') <> "
                        "'command') FROM runs WHERE started_at >= %s AND started_at < %s GROUP BY 1",
                        (lo, lo + timedelta(days=1)))
            rows = cur.fetchall()
        return DaySpend({a: float(c) for a, c, _ in rows if c is not None}, {a: int(n) for a, _, n in rows if n})

    def find(self, run_id: str, around: datetime | None = None) -> dict[str, Any] | None:
        with self.db.tx() as cur:
            cur.execute("SELECT doc FROM runs WHERE run_id = %s LIMIT 1", (run_id,))
            row = cur.fetchone()
        return row[0] if row else None

    aggregates = True

    def day_files(self, start: datetime, end: datetime) -> list[tuple[Path, bool]]:
        return []  # no files: the scorecard asks scorecard_facts

    def scorecard_facts(self, lo: datetime, hi: datetime, **kw: Any) -> dict[str, list[tuple[Any, ...]]]:
        """The scorecard's sums and order-dependent facts over [lo, hi), in SQL (``runfacts``)."""
        from agentctl.storage.postgres.runfacts import scorecard_facts

        return scorecard_facts(self.db, lo, hi, **kw)

    def job_records(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Run records with a ``job`` in [start, end) (cron coverage), filtered in SQL."""
        with self.db.tx() as cur:
            cur.execute(f"SELECT doc FROM runs WHERE job IS NOT NULL AND {self._WHERE} ORDER BY started_at, run_id",
                        self._window(start, end))
            rows = cur.fetchall()
        yield from (r[0] for r in rows)

    def count(self) -> int:
        with self.db.tx() as cur:
            cur.execute("SELECT count(*) FROM runs")
            return int(cur.fetchone()[0])


class PgAlerts:
    def __init__(self, db: Database, dedupe: Any):
        self.db = db
        self.dedupe = dedupe
        self.skipped = 0

    def append(self, alert: dict[str, Any]) -> None:
        with self.db.tx() as cur:
            cur.execute("INSERT INTO alerts (ts, doc) VALUES (%s, %s)", (str(alert.get("ts") or ""), Json(alert)))

    def read(self) -> Iterator[dict[str, Any]]:
        with self.db.tx() as cur:
            cur.execute("SELECT doc FROM alerts ORDER BY id")
            rows = cur.fetchall()
        yield from (r[0] for r in rows)


class PgBlob:
    def __init__(self, db: Database, name: str):
        self.db = db
        self.name = name

    def read(self) -> bytes | None:
        with self.db.single() as cur:
            cur.execute("SELECT data FROM blobs WHERE name = %s", (self.name,))
            row = cur.fetchone()
        return bytes(row[0]) if row else None

    def write(self, data: bytes) -> None:
        with self.db.tx() as cur:
            cur.execute("INSERT INTO blobs (name, data) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                        "SET data = excluded.data", (self.name, data))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The document's lock: a transaction holding its advisory lock (writes inside join it)."""
        with self.db.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (BLOB_LOCK_SPACE, self.name))
            yield


class PgArtifacts:
    """Artifacts as rows (jsonb when the bytes are JSON); command agents get real files in a
    private temp folder per process (``local_path``), stored back by ``put``."""

    def __init__(self, db: Database):
        self.db = db
        self._staging: Path | None = None

    def rel(self, task_id: str, name: str) -> str:
        return f"artifacts/{task_id}/{name}"

    def put(self, task_id: str, name: str, data: bytes) -> str:
        check_key(task_id, name)
        try:
            content = Jsonb(json.loads(data))
        except (ValueError, RecursionError):
            content = None
        with self.db.single() as cur:
            cur.execute("INSERT INTO artifacts (task_id, name, content, raw, updated_at) VALUES (%s, %s, %s, %s, "
                        "now()::text) ON CONFLICT (task_id, name) DO UPDATE SET content = excluded.content, "
                        "raw = excluded.raw, updated_at = excluded.updated_at", (task_id, name, content, data))
        local = self._staging / task_id / name if self._staging is not None else None
        if local is not None and local.parent.is_dir():  # the key's local copies show what is stored now
            local.write_bytes(data)  # (so ``local_path`` of what was just put needs no read back)
        return self.rel(task_id, name)

    def prune_runs(self, before: date) -> list[str]:
        """Delete the task-less runs' rows of the days before ``before`` (key ``_runs/<day>/<runId>``)."""
        with self.db.tx() as cur:
            cur.execute("DELETE FROM artifacts WHERE task_id LIKE %s AND split_part(task_id, '/', 2) < %s "
                        "RETURNING split_part(task_id, '/', 2)", (RUNS_DIR.replace("_", "\\_") + "/%", before.isoformat()))
            return sorted({r[0] for r in cur.fetchall()})

    def get(self, task_id: str, name: str) -> bytes | None:
        with self.db.single() as cur:
            cur.execute("SELECT raw FROM artifacts WHERE task_id = %s AND name = %s", (task_id, name))
            row = cur.fetchone()
        return bytes(row[0]) if row else None

    def local_path(self, task_id: str, name: str) -> Path:
        check_key(task_id, name)
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="agentctl-artifacts-"))
            os.chmod(self._staging, 0o700)
        path = self._staging / task_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            data = self.get(task_id, name)
            if data is not None:
                path.write_bytes(data)
        return path

    def items(self) -> Iterator[tuple[str, str, bytes]]:
        with self.db.tx() as cur:
            cur.execute("SELECT task_id, name, raw FROM artifacts ORDER BY task_id, name")
            rows = cur.fetchall()
        for task_id, name, raw in rows:
            yield task_id, name, bytes(raw)

    def close(self) -> None:
        if self._staging is not None:
            import shutil

            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
