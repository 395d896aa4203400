"""Numbered SQL migrations shipped in the package (``migrations/NNNN_name.sql``).

``apply`` runs every pending file in one transaction under
``pg_advisory_xact_lock``: two hosts running ``storage init`` at once apply each
migration exactly once; a second run is a no-op. Applied versions are recorded in
``agentctl_migrations``.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from agentctl.errors import ConfigError, StateError

LOCK_KEY = 0x6167656E74  # "agent": the advisory lock of schema changes
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def shipped() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration in the package, in order."""
    folder = resources.files("agentctl.storage.postgres") / "migrations"
    out = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def latest() -> int:
    return max((v for v, _, _ in shipped()), default=0)


def _ensure_table(cur: Any) -> None:
    cur.execute("CREATE TABLE IF NOT EXISTS agentctl_migrations (version int PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())")


def applied_version(cur: Any) -> int | None:
    """The schema version in the database; None when agentctl never initialised it."""
    cur.execute("SELECT to_regclass('agentctl_migrations') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT coalesce(max(version), 0) FROM agentctl_migrations")
    return int(cur.fetchone()[0])


def apply(db: Any) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date)."""
    with db.tx() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        _ensure_table(cur)
        current = applied_version(cur) or 0
        if current > latest():
            raise StateError(f"database schema version {current} is newer than this agentctl ({latest()}); "
                             "upgrade agentctl")
        done = []
        for version, name, sql in shipped():
            if version <= current:
                continue
            cur.execute(sql)
            cur.execute("INSERT INTO agentctl_migrations (version, name) VALUES (%s, %s)", (version, name))
            done.append(name)
        return done


def ensure_current(db: Any) -> None:
    """A fresh database gets the schema on first use; one behind this agentctl is refused (78)
    until `agentctl storage init` migrates it (an upgrade is a deliberate step)."""
    version = _version_now(db)
    if version is None:
        apply(db)
        return
    if version < latest():
        raise ConfigError(f"database schema version {version} is older than this agentctl ({latest()}); "
                         "run `agentctl storage init` to migrate")


def _version_now(db: Any) -> int | None:
    """``applied_version`` in one statement outside a transaction (every command's first round trip)."""
    if db.depth:
        with db.tx() as cur:
            return applied_version(cur)
    from psycopg.errors import UndefinedTable

    conn = db.connect()
    with db.mapped(outermost=True):
        try:
            return int(conn.execute("SELECT coalesce(max(version), 0) FROM agentctl_migrations").fetchone()[0])
        except UndefinedTable:  # agentctl never initialised this database
            return None
