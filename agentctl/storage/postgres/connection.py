"""Connections to PostgreSQL (SPEC §12): the DSN, short transactions, errors mapped to exit codes.

- the DSN comes only from the environment variable named by ``storage.dsn_env``
  (default ``AGENTCTL_PG_DSN``); it is never written anywhere and its password is
  masked in every message (``safe``);
- psycopg missing → ConfigError (78) saying what to install;
- server unreachable, restarted or gone mid-command → TryLater (75) "database
  unavailable"; the open transaction is rolled back by the server, so nothing is
  half-applied;
- serialization failures and deadlocks are retried ``RETRIES`` times by ``retrying``,
  then TryLater (75).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from agentctl.core.redact import MASK, redact
from agentctl.errors import ConfigError, StateError, TryLater

DEFAULT_DSN_ENV = "AGENTCTL_PG_DSN"
INSTALL_HINT = "pip install 'agentctl[postgres]'"
RETRIES = 5
T = TypeVar("T")

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
_KV_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(f"storage.backend is postgres but psycopg 3 is not installed: {INSTALL_HINT}") from None
    return psycopg


def dsn_from_env(dsn_env: str | None) -> str:
    name = dsn_env or DEFAULT_DSN_ENV
    dsn = os.environ.get(name, "").strip()
    if not dsn:
        raise ConfigError(f"agentctl.yaml [storage.dsn_env]: ${name} is not set; export the database DSN in it "
                          f"(e.g. {name}=postgresql://agentctl@dbhost/agentctl) or put it in .agentctl/env")
    return dsn


def safe(text: str, dsn: str | None = None) -> str:
    """``text`` with any DSN password (URL or key=value form) masked."""
    if dsn:
        password = _password_of(dsn)
        if password and len(password) >= 3:
            text = text.replace(password, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return redact(_KV_PASSWORD.sub(lambda m: m.group(1) + MASK, text))


def _password_of(dsn: str) -> str | None:
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
        return None if password is None else str(password)
    except Exception:  # an unparsable DSN: the regexes still mask what they can
        return None


def _where(dsn: str) -> str:
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:
        return "the configured server"
    host = parts.get("host") or os.environ.get("PGHOST") or "localhost"
    return f"{host}:{parts.get('port') or os.environ.get('PGPORT') or 5432}/{parts.get('dbname') or ''}"


def unavailable(exc: BaseException, dsn: str) -> TryLater:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return TryLater(f"database unavailable ({_where(dsn)}): {safe(first, dsn)[:200]}; nothing was changed by "
                    "the failed step — try again later",
                    hint="check the server and $AGENTCTL_PG_DSN; `agentctl storage status` tests the connection")


class Database:
    """One lazily opened autocommit connection per process; ``tx()`` is one short transaction."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._conn: Any = None
        self.depth = 0
        self._retrying = False

    def connect(self) -> Any:
        psycopg = psycopg_module()
        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                         application_name="agentctl")
        except psycopg.OperationalError as exc:
            raise unavailable(exc, self.dsn) from None
        return self._conn

    def __del__(self) -> None:  # a Workspace dropped without close(): end the session quietly
        self.close()

    def close(self) -> None:
        if getattr(self, "_conn", None) is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def tx(self) -> Iterator[Any]:
        """A transaction (a savepoint when nested: the outer one is the unit of work); yields a cursor."""
        psycopg = psycopg_module()
        conn = self.connect()
        try:
            with conn.transaction(), conn.cursor() as cur:
                self.depth += 1
                try:
                    yield cur
                finally:
                    self.depth -= 1
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            if self._retrying:
                raise
            raise TryLater(f"database busy ({type(exc).__name__}: another command held the same rows); "
                           "nothing was changed — try again") from None
        except psycopg.OperationalError as exc:
            self.close()
            raise unavailable(exc, self.dsn) from None
        except psycopg.Error as exc:
            raise StateError(f"database error: {safe(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, self.dsn)}") from None

    def retrying(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in one transaction, retried on serialization failure or deadlock."""
        psycopg = psycopg_module()
        if self.depth:  # inside a unit of work: it cannot be replayed from here
            with self.tx() as cur:
                return fn(cur)
        for attempt in range(RETRIES + 1):
            self._retrying = True
            try:
                with self.tx() as cur:
                    return fn(cur)
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
                if attempt == RETRIES:
                    raise TryLater(f"database busy: {type(exc).__name__} {RETRIES + 1} times; "
                                   "nothing was changed — try again") from None
                time.sleep(0.005 * (2 ** attempt))
            finally:
                self._retrying = False
        raise AssertionError("unreachable")
