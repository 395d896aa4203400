"""The PostgreSQL backend of the storage seam (SPEC §12): every store in one database.

``storage: {backend: postgres, dsn_env: AGENTCTL_PG_DSN}`` in agentctl.yaml; the DSN is read
from that environment variable only. Configuration (agentctl.yaml, agents/, schemas/,
prompts/) stays in the workspace folder, shared through git; state lives here.
A unit of work is one transaction on the process's one connection: every store call made
inside it joins it (a savepoint), so it commits all or nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from agentctl.storage.postgres.connection import DEFAULT_DSN_ENV, Database, dsn_from_env, psycopg_module

if TYPE_CHECKING:
    from agentctl.workspace.loader import Workspace


class _NoInflight:
    """Stand-in until runs in flight have a table: a configuration error (78) naming the gap,
    instead of an AttributeError (70), for `run`, `work` and `runs --running` on this backend."""

    def _refuse(self) -> NoReturn:
        from agentctl.errors import ConfigError

        raise ConfigError("agentctl.yaml: storage.backend postgres does not store runs in flight yet "
                          "(run, work, runs --running); use storage.backend files for them")

    def running(self, now: datetime) -> list[dict[str, Any]]:
        self._refuse()

    def acquire(self, entry: dict[str, Any], limit: int, now: datetime) -> list[dict[str, Any]]:
        self._refuse()

    def update(self, slot_id: str, change: Callable[[dict[str, Any]], None] | dict[str, Any]) -> None:
        self._refuse()

    def release(self, slot_id: str) -> None:
        self._refuse()


class PgStorage:
    backend = "postgres"

    def __init__(self, db: Database):
        from agentctl.storage.postgres.documents import PgBreakers
        from agentctl.storage.postgres.keyed import PgCron, PgKeyed
        from agentctl.storage.postgres.logs import PgAlerts, PgArtifacts, PgBlob, PgRunLog
        from agentctl.storage.postgres.registry import PgRegistry

        self.db = db
        self.registry = PgRegistry(db)
        self.runlog = PgRunLog(db)
        self.breakers = PgBreakers(db, "breakers", "agents")
        self.idempotency = PgKeyed(db, "idempotency")
        self.cron = PgCron(db, "cron")
        self.alerts = PgAlerts(db, PgKeyed(db, "alerts"))
        self.learn_ledger = PgBlob(db, "state/learn.json")
        self.regressions = PgBlob(db, "memory/regressions.yaml")
        self.artifacts = PgArtifacts(db)
        self.inflight = _NoInflight()
        self.cache = PgKeyed(db, "cache")

    @property
    def ledger(self) -> Any:
        """The idempotency ledger (old name)."""
        return self.idempotency

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[None]:
        with self.db.tx():
            yield

    def recover(self) -> Any:
        """Nothing to finish: an interrupted transaction was rolled back by the server."""
        from agentctl.storage.postgres.migrate import ensure_current

        ensure_current(self.db)
        from agentctl.storage.base import Recovery

        return Recovery()

    def close(self) -> None:
        self.artifacts.close()
        self.db.close()


def open_database(dsn_env: str | None) -> Database:
    psycopg_module()
    return Database(dsn_from_env(dsn_env))


def open_storage(workspace: Workspace) -> PgStorage:
    """The workspace's PostgreSQL storage (78 without psycopg or without the DSN variable)."""
    return PgStorage(open_database(workspace.config.storage.dsn_env or DEFAULT_DSN_ENV))
