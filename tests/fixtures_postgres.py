"""PostgreSQL for tests: a fresh database per test on the server the ``PG*`` variables name
(``pg_virtualenv -- pytest`` sets them; scripts/check does that when PostgreSQL is installed).

No server (or no psycopg): the PostgreSQL tests skip with one line saying why — except under
``CI=true``, where a missing server fails them: CI must never pass with them skipped.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

_PROBE: dict[str, str | None] = {}


def _server_problem() -> str | None:
    """None when a server answers; else why not (cached for the session)."""
    if "reason" in _PROBE:
        return _PROBE["reason"]
    reason = None
    try:
        import psycopg
    except ImportError:
        reason = "psycopg is not installed (pip install 'agentctl[postgres]')"
    else:
        if not any(os.environ.get(k) for k in ("PGHOST", "PGPORT", "PGDATABASE")):
            reason = "no PostgreSQL server: PG* variables unset (run under `pg_virtualenv -- pytest`)"
        else:
            try:
                psycopg.connect(connect_timeout=3, autocommit=True).close()
            except psycopg.Error as exc:
                reason = f"PostgreSQL server unreachable ({str(exc).strip().splitlines()[0][:120]})"
    _PROBE["reason"] = reason
    return reason


def require_postgres() -> None:
    reason = _server_problem()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the PostgreSQL tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def pg_dsn() -> str:
    """A new, empty database for this test; dropped afterwards. The DSN names only the database
    (host, user and password come from the PG* variables, as libpq reads them)."""
    require_postgres()
    import psycopg

    name = f"agentctl_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"dbname={name}"
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_storage_block(root: Path) -> None:
    with (root / "agentctl.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\nstorage:\n  backend: postgres\n  dsn_env: AGENTCTL_PG_DSN\n")


def use_postgres(root: Path, request: pytest.FixtureRequest) -> None:
    """Point an existing workspace at a fresh database (AGENTCTL_TEST_STORAGE=postgres)."""
    dsn = request.getfixturevalue("pg_dsn")
    request.getfixturevalue("monkeypatch").setenv("AGENTCTL_PG_DSN", dsn)
    add_storage_block(root)


def make_pg_workspace(root: Path, template: str = "minimal") -> Path:
    from agentctl.workspace.templates import init_workspace

    init_workspace(root, template, force=False)
    from conftest import define_agents

    define_agents(root, "a", "bob", "eve", "nobody")
    add_storage_block(root)
    return root


@pytest.fixture
def pg_ws(tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A minimal workspace on a fresh database (AGENTCTL_PG_DSN set for in-process calls)."""
    monkeypatch.setenv("AGENTCTL_PG_DSN", pg_dsn)
    return make_pg_workspace(tmp_path / "pgws")


def make_postgres_storage(tmp_path: Path):
    """A fresh database's storage for the conformance suite (tests/test_storage_conformance.py).
    The database lives as long as the throwaway cluster (pg_virtualenv drops it at the end)."""
    require_postgres()
    import psycopg

    from agentctl.storage.postgres import Database, PgStorage

    name = f"agentctl_c_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PgStorage(Database(f"dbname={name}"))
