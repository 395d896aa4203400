"""Runs in flight on PostgreSQL: one ``inflight`` row per slot (SPEC §13), the file backend's
``FileInflight`` interface (``running`` / ``acquire`` / ``update`` / ``release``).

``max_concurrent`` holds across hosts: ``acquire`` takes the agent's advisory lock for its
transaction, drops the agent's dead slots, counts the live ones and inserts — so two hosts
never both take the last slot. A slot is dead when its lease lapsed, or — on the host that
made it only, since a pid means nothing elsewhere — when its process is gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from agentctl.storage.files.inflight import HOST, entry_live
from agentctl.storage.postgres.connection import Database

SLOT_LOCK_SPACE = 0x736C  # "sl": the first key of the agents' slot locks


def _lease(entry: dict[str, Any]) -> str | None:
    lease = entry.get("leaseExpiresAt")
    return lease if isinstance(lease, str) and lease else None


class PgInflight:
    def __init__(self, db: Database):
        self.db = db

    def _entries(self, cur: Any, agent: str | None = None) -> list[dict[str, Any]]:
        if agent is None:
            cur.execute("SELECT doc FROM inflight")
        else:
            cur.execute("SELECT doc FROM inflight WHERE agent = %s", (agent,))
        return [r[0] for r in cur.fetchall()]

    def running(self, now: datetime) -> list[dict[str, Any]]:
        """Live slots of every host, oldest first."""
        with self.db.single() as cur:
            entries = self._entries(cur)
        return sorted((e for e in entries if entry_live(e, now)), key=lambda e: e.get("startedAt") or "")

    def acquire(self, entry: dict[str, Any], limit: int, now: datetime) -> list[dict[str, Any]]:
        """Add ``entry`` unless its agent holds ``limit`` live slots (on any host); returns those
        slots (empty when acquired). The same slot id is updated in place."""
        agent, sid = entry["agent"], entry["slotId"]
        with self.db.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SLOT_LOCK_SPACE, agent))
            held = self._entries(cur, agent)
            dead = [e["slotId"] for e in held if not entry_live(e, now)]
            if dead:
                cur.execute("DELETE FROM inflight WHERE slot_id = ANY(%s)", (dead,))
            live = [e for e in held if e["slotId"] not in dead]
            mine = next((e for e in live if e["slotId"] == sid), None)
            if mine is None and len(live) >= limit:
                return live
            self._put(cur, {**(mine or {}), **entry, "host": HOST, "pid": os.getpid()})
            return []

    def _put(self, cur: Any, entry: dict[str, Any]) -> None:
        cur.execute("INSERT INTO inflight (slot_id, agent, host, pid, lease_expires_at, started_at, doc) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (slot_id) DO UPDATE SET agent = excluded.agent, "
                    "host = excluded.host, pid = excluded.pid, lease_expires_at = excluded.lease_expires_at, "
                    "started_at = excluded.started_at, doc = excluded.doc",
                    (entry["slotId"], entry.get("agent") or "", entry.get("host") or HOST, entry.get("pid"),
                     _lease(entry), entry.get("startedAt"), Jsonb(entry)))

    def update(self, slot_id: str, change: Callable[[dict[str, Any]], None] | dict[str, Any]) -> None:
        with self.db.tx() as cur:
            cur.execute("SELECT doc FROM inflight WHERE slot_id = %s FOR UPDATE", (slot_id,))
            row = cur.fetchone()
            if row is None:
                return
            entry = row[0]
            change(entry) if callable(change) else entry.update(change)
            self._put(cur, entry)

    def release(self, slot_id: str) -> None:
        with self.db.single() as cur:
            cur.execute("DELETE FROM inflight WHERE slot_id = %s", (slot_id,))
