"""An outermost transaction in two round trips (psycopg pipeline mode, SPEC §12).

A single-task registry change on a plain connection is five round trips — BEGIN,
``SELECT … FOR UPDATE``, the compare-and-set UPDATE, the event INSERT, COMMIT — and the
task's row stays locked for four of them. ``Deferred`` sends BEGIN together with the
transaction's first statement, and the writes queued with ``queue`` together with COMMIT,
each batch one round trip (``conn.pipeline()``); the row is locked from the first batch to
the end of the second only.

Nothing else changes: it is one transaction; an error in either batch (or in the caller's
code between them) rolls all of it back (``rollback``); a store call nested inside it first
sends the BEGIN (``Database.tx`` calls ``begin``), so it joins the transaction as a
savepoint; ``synchronous_commit`` is the server's, untouched.
"""

from __future__ import annotations

import contextlib
from typing import Any


class Deferred:
    """The pending state of one deferred transaction on ``conn`` (autocommit connection)."""

    def __init__(self, conn: Any):
        self.conn = conn
        self.begun = False
        self.queued: list[tuple[str, tuple[Any, ...]]] = []

    def begin(self) -> None:
        """Open the transaction now (a nested store call or a whole-registry read needs it open)."""
        if not self.begun:
            self.conn.execute("BEGIN")
            self.begun = True

    def first(self, cur: Any, sql: str, params: tuple[Any, ...]) -> None:
        """Execute ``sql`` on ``cur``; before the transaction is open, BEGIN goes in the same round trip."""
        if self.begun:
            cur.execute(sql, params, prepare=True)
            return
        self.begun = True  # from here on a failure must roll back
        with self.conn.pipeline():
            self.conn.execute("BEGIN")
            cur.execute(sql, params, prepare=True)

    def queue(self, sql: str, params: tuple[Any, ...]) -> None:
        """A write sent with COMMIT; its failure aborts the transaction (so it must raise, not count rows)."""
        self.queued.append((sql, params))

    def commit(self, cur: Any) -> None:
        """The queued writes and COMMIT, one round trip (nothing at all when nothing was read or queued)."""
        if not self.begun and not self.queued:
            return
        with self.conn.pipeline():
            if not self.begun:
                self.begun = True
                self.conn.execute("BEGIN")
            for sql, params in self.queued:
                cur.execute(sql, params, prepare=True)
            self.conn.execute("COMMIT")

    def rollback(self) -> None:
        """End an open or failed transaction; a connection already gone needs nothing (the server rolled back)."""
        from psycopg import pq

        if not self.begun or self.conn.closed:
            return
        with contextlib.suppress(Exception):
            if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK")
