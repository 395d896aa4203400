"""Keyed stores on PostgreSQL (the seam's ``KeyedStore`` / ``CronStore``): one row per key.

``transaction(key)`` takes an advisory transaction lock on (store, key) — it also covers
keys that have no row yet — reads the row, lets the caller set ``slot.value`` and
upserts or deletes it: O(1) in the number of keys, other keys never wait.
Entries whose ``expiresAt`` has passed read as absent and are swept in SQL.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from agentctl.core.clock import parse_iso
from agentctl.errors import AgentctlError, TryLater
from agentctl.storage.postgres.connection import Database

KEY_LOCK_SPACE = 0x6b79  # first key of the two-int advisory locks of keyed entries
OVERLAP_LOCK_SPACE = 0x6f76


@dataclass
class PgSlot:
    key: str
    value: dict[str, Any] | None


def _expired(value: Any, now: datetime | None) -> bool:
    if now is None or not isinstance(value, dict) or not value.get("expiresAt"):
        return False
    try:
        return parse_iso(value["expiresAt"]) <= now
    except (AgentctlError, TypeError, ValueError):
        return True


class PgKeyed:
    def __init__(self, db: Database, store: str):
        self.db = db
        self.store = store

    def get(self, key: str, now: datetime | None = None) -> dict[str, Any] | None:
        with self.db.single() as cur:
            cur.execute("SELECT value FROM kv WHERE store = %s AND key = %s", (self.store, key))
            row = cur.fetchone()
        value = row[0] if row else None
        return None if value is None or _expired(value, now) else value

    @contextlib.contextmanager
    def transaction(self, key: str, now: datetime | None = None) -> Iterator[PgSlot]:
        with self.db.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (KEY_LOCK_SPACE, f"{self.store}/{key}"))
            cur.execute("SELECT value FROM kv WHERE store = %s AND key = %s", (self.store, key))
            row = cur.fetchone()
            before = row[0] if row else None
            slot = PgSlot(key, None if before is None or _expired(before, now) else copy.deepcopy(before))
            yield slot
            if slot.value is None and before is not None:
                cur.execute("DELETE FROM kv WHERE store = %s AND key = %s", (self.store, key))
            elif slot.value is not None and slot.value != before:
                cur.execute("INSERT INTO kv (store, key, value) VALUES (%s, %s, %s) ON CONFLICT (store, key) "
                            "DO UPDATE SET value = excluded.value, version = kv.version + 1",
                            (self.store, key, Jsonb(slot.value)))

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        with self.db.tx() as cur:
            cur.execute("SELECT key, value FROM kv WHERE store = %s ORDER BY key", (self.store,))
            rows = cur.fetchall()
        yield from rows

    def sweep(self, now: datetime) -> int:
        with self.db.tx() as cur:
            cur.execute("DELETE FROM kv WHERE store = %s AND value ? 'expiresAt' AND "
                        "(value->>'expiresAt')::timestamptz <= %s", (self.store, now))
            return int(cur.rowcount)

    def reserve(self, key: str, value: dict[str, Any], now: datetime) -> tuple[bool, dict[str, Any]]:
        """``INSERT … ON CONFLICT`` with the TTL: (True, value) for the one caller that owns ``key``
        (new, or the old entry expired at ``now``); (False, the current entry) for the others."""
        with self.db.tx() as cur:
            cur.execute("INSERT INTO kv (store, key, value) VALUES (%s, %s, %s) ON CONFLICT (store, key) DO UPDATE "
                        "SET value = excluded.value, version = kv.version + 1 WHERE kv.value ? 'expiresAt' AND "
                        "(kv.value->>'expiresAt')::timestamptz <= %s RETURNING value",
                        (self.store, key, Jsonb(value), now))
            row = cur.fetchone()
            if row:
                return True, row[0]
            cur.execute("SELECT value FROM kv WHERE store = %s AND key = %s", (self.store, key))
            return False, cur.fetchone()[0]


class PgCron(PgKeyed):
    """The cron ledger (key = job) plus ``claim_slot`` (unique (job, slot)) and overlap locks."""

    @contextlib.contextmanager
    def overlap_lock(self, job: str) -> Iterator[None]:
        """A session advisory lock: held for the job's run, released on exit or when the client dies."""
        with self.db.tx() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (OVERLAP_LOCK_SPACE, job))
            got = cur.fetchone()[0]
        if not got:
            raise TryLater(f"cron job {job!r} is already running (on this or another host); not started twice")
        try:
            yield
        finally:
            with contextlib.suppress(AgentctlError), self.db.tx() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (OVERLAP_LOCK_SPACE, job))

    def claim_slot(self, job: str, slot: str, at: str) -> bool:
        """True for the one caller recording (job, slot); any other call for that slot is a duplicate."""
        with self.db.tx() as cur:
            cur.execute("INSERT INTO cron_slots (job, slot, at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING "
                        "RETURNING job", (job, slot, at))
            return cur.fetchone() is not None
