"""Document stores on PostgreSQL (breakers): the seam's ``DocumentStore``, one row per entry.

``PgState`` has the file backend's ``read`` / ``transaction`` interface (a document
``{"version": 1, KIND: {key: value}}``): the store's advisory lock, read, let the caller
decide, upsert the keys that changed and delete the ones removed — one transaction,
so decisions made inside it (one half-open probe, one owner per key) hold across
processes and hosts. The row-level primitives (conditional ``UPDATE … RETURNING``,
``INSERT … ON CONFLICT``) decide the same things in one statement.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from psycopg.types.json import Jsonb

from agentctl.storage.postgres.connection import Database

STATE_LOCK_SPACE = 0x6b76  # the first key of the two-int advisory locks of state stores


class PgState:
    table = "kv"

    def __init__(self, db: Database, store: str, kind: str):
        self.db = db
        self.store = store
        self.kind = kind
        self.path = f"database store {store}"

    def _rows(self, cur: Any) -> dict[str, Any]:
        cur.execute("SELECT key, value FROM kv WHERE store = %s", (self.store,))
        return dict(cur.fetchall())

    def read(self) -> dict[str, Any]:
        with self.db.single() as cur:
            return {"version": 1, self.kind: self._rows(cur)}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        with self.db.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (STATE_LOCK_SPACE, self.store))
            before = self._rows(cur)
            data: dict[str, Any] = {"version": 1, self.kind: copy.deepcopy(before)}
            yield data
            self._write(cur, before, data.get(self.kind) or {})

    def _write(self, cur: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
        changed = [(self.store, k, Jsonb(v)) for k, v in after.items() if before.get(k, _MISSING) != v]
        if changed:
            cur.executemany("INSERT INTO kv (store, key, value) VALUES (%s, %s, %s) ON CONFLICT (store, key) "
                            "DO UPDATE SET value = excluded.value, version = kv.version + 1", changed)
        gone = [k for k in before if k not in after]
        if gone:
            cur.execute("DELETE FROM kv WHERE store = %s AND key = ANY(%s)", (self.store, gone))

    # --- row-level primitives ---------------------------------------------------
    def compare_and_set(self, key: str, version: int | None, value: Any) -> int | None:
        """Write ``value`` if the row is still at ``version`` (None: absent); the new version, else None."""
        with self.db.tx() as cur:
            if version is None:
                cur.execute("INSERT INTO kv (store, key, value) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING "
                            "RETURNING version", (self.store, key, Jsonb(value)))
            else:
                cur.execute("UPDATE kv SET value = %s, version = version + 1 WHERE store = %s AND key = %s "
                            "AND version = %s RETURNING version", (Jsonb(value), self.store, key, version))
            row = cur.fetchone()
        return row[0] if row else None

    def get(self, key: str) -> tuple[int, Any] | None:
        with self.db.single() as cur:
            cur.execute("SELECT version, value FROM kv WHERE store = %s AND key = %s", (self.store, key))
            row = cur.fetchone()
        return (row[0], row[1]) if row else None


_MISSING = object()


class PgBreakers(PgState):
    def take_probe(self, agent: str, probe_id: str, now: str, stale_before: str) -> bool:
        """The one half-open probe: a conditional UPDATE … RETURNING on the agent's row. True for the
        one caller that moved an open breaker whose cool-down ended (or whose probe went stale) to
        half_open with its probe id."""
        with self.db.tx() as cur:
            cur.execute(
                "UPDATE kv SET version = version + 1, value = value || jsonb_build_object('state', 'half_open', "
                "'probeId', %s::text, 'probeStartedAt', %s::text) WHERE store = %s AND key = %s AND ("
                "(value->>'state' = 'open' AND coalesce(value->>'retryAt', '') <= %s) OR "
                "(value->>'state' = 'half_open' AND coalesce(value->>'probeStartedAt', '') < %s)) RETURNING key",
                (probe_id, now, self.store, agent, now, stale_before))
            return cur.fetchone() is not None
