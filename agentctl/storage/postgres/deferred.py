"""A registry transaction in two round trips and no BEGIN/COMMIT (psycopg pipeline mode, SPEC §12).

A single-task registry change on a plain connection is five round trips and five
statements — BEGIN, ``SELECT … FOR UPDATE``, the compare-and-set UPDATE, the event INSERT,
COMMIT — and the task's row stays locked for four of them. ``Deferred`` runs the whole
transaction in one pipeline instead:

- the protocol's own transaction: every statement sent between two Sync messages runs in one
  transaction, committed at the Sync if all succeeded and rolled back otherwise (the
  extended query protocol, "Pipelining"); psycopg's ``fetchone`` in a pipeline sends a Flush,
  not a Sync, so the rows read and locked stay in that transaction while the caller decides;
- the writes are sent last, with the Sync: read (one round trip), decide, write and commit
  (one round trip); a write that fails — the compare-and-set guard of migration 0004
  included — rolls every statement of the transaction back;
- anything else — a whole-registry read that writes with row counts, a store call nested
  inside (a savepoint) — first makes the transaction explicit (``begin``: BEGIN, which turns
  the protocol's transaction into a block holding what was already read and locked, then
  leaves pipeline mode) and ends with COMMIT, as before;
- ``abort``: nothing is written outside the explicit block and the writes are sent last, so
  a failure before them ends the protocol's transaction with its reads only; a failure while
  they are being queued, or one that leaves the session half-way (an interrupted Sync), drops
  the connection (the server rolls back what no Sync committed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


class Deferred:
    """The state of one pipelined transaction on ``conn`` (an autocommit connection)."""

    def __init__(self, conn: Any, drop: Callable[[], None]):
        self.conn = conn
        self.explicit = False
        self.writing = False
        self._drop = drop
        self._pipeline = contextlib.ExitStack()
        self._pipeline.enter_context(conn.pipeline())
        self.pipelined = True

    def begin(self) -> None:
        """Make the transaction an explicit block (what was read stays in it) and leave pipeline mode."""
        if not self.explicit:
            self.conn.execute("BEGIN")
            self.explicit = True
            self._leave()  # Sync: a block stays open across it

    def write(self, cur: Any, sql: str, params: tuple[Any, ...]) -> None:
        """A write whose failure must abort the transaction (it raises; its row count is never read)."""
        self.writing = True
        cur.execute(sql, params, prepare=True)

    def commit(self) -> None:
        if self.explicit:
            self.conn.execute("COMMIT")
        else:
            self._leave()  # Sync: the protocol's transaction commits, or rolls back on an error

    def abort(self) -> None:
        """End the transaction without committing anything it wrote."""
        if not self.explicit and self.writing and self.pipelined:
            self._drop()  # writes queued and no Sync yet: closing the session rolls them back
            return
        with contextlib.suppress(Exception):
            self._leave()  # only reads (or an error already) in the protocol's transaction
        if self.conn.closed:
            return
        from psycopg import pq

        if self.explicit:
            with contextlib.suppress(Exception):
                if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    self.conn.execute("ROLLBACK")
        if self.conn.pgconn.pipeline_status != pq.PipelineStatus.OFF or \
                self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
            self._drop()  # interrupted half-way (a Sync not sent, a reply not read): the session ends here

    def _leave(self) -> None:
        """Leave pipeline mode (sends the Sync); psycopg raises the first error of the batch, if any."""
        if self.pipelined:
            self.pipelined = False
            self._pipeline.close()
