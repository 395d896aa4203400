"""The breaker history on PostgreSQL: one ``breaker_events`` row per transition (SPEC §7, §9).

Appended inside the breaker's own transaction (``PgBreakers.transaction``), so a state change
and its history row commit together; the scorecard reads a window of it with an index on
``ts`` instead of a whole log.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from psycopg.types.json import Json

from agentctl.storage.postgres.connection import Database


class PgBreakerHistory:
    name = "database table breaker_events"
    skipped = 0

    def __init__(self, db: Database):
        self.db = db

    def append(self, event: dict[str, Any]) -> None:
        with self.db.tx() as cur:
            cur.execute("INSERT INTO breaker_events (ts, agent, doc) VALUES (%s, %s, %s)",
                        (str(event.get("ts") or ""), str(event.get("agent") or ""), Json(event)))

    def read(self, until: str | None = None) -> Iterator[dict[str, Any]]:
        """Every transition (before ``until``, an ISO time, when given), in commit order."""
        with self.db.tx() as cur:
            if until is None:
                cur.execute("SELECT doc FROM breaker_events ORDER BY id")
            else:
                cur.execute("SELECT doc FROM breaker_events WHERE ts < %s ORDER BY id", (until,))
            rows = cur.fetchall()
        yield from (r[0] for r in rows)

    def exists(self) -> bool:
        """Whether any transition was ever recorded (else the scorecard falls back to alerts)."""
        with self.db.tx() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM breaker_events)")
            return bool(cur.fetchone()[0])
