"""The PostgreSQL backend of the storage seam (SPEC §12): every store in one database.

``storage: {backend: postgres, dsn_env: AGENTCTL_PG_DSN}`` in agentctl.yaml; the DSN is read
from that environment variable only. Configuration (agentctl.yaml, agents/, schemas/,
prompts/) stays in the workspace folder, shared through git; state lives here.
A unit of work is one transaction on the process's one connection: every store call made
inside it joins it (a savepoint), so it commits all or nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from agentctl.storage.postgres.connection import DEFAULT_DSN_ENV, Database, dsn_from_env, psycopg_module

if TYPE_CHECKING:
    from agentctl.workspace.loader import Workspace


class PgStorage:
    backend = "postgres"

    def __init__(self, db: Database):
        from agentctl.storage.postgres.documents import PgBreakers
        from agentctl.storage.postgres.history import PgBreakerHistory
        from agentctl.storage.postgres.inflight import PgInflight
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
        self.breaker_history = PgBreakerHistory(db)
        self.inflight = PgInflight(db)
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


def open_database(dsn_env: str | None, env: Mapping[str, str]) -> Database:
    """The database the variable ``dsn_env`` of ``env`` (the CLI's environment) names."""
    psycopg_module()
    return Database(dsn_from_env(dsn_env, env), env)


def open_storage(workspace: Workspace) -> PgStorage:
    """The workspace's PostgreSQL storage (78 without psycopg or without the DSN variable)."""
    return PgStorage(open_database(workspace.config.storage.dsn_env or DEFAULT_DSN_ENV, workspace.env))
