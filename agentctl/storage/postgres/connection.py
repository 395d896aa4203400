"""Connections to PostgreSQL (SPEC §12): the DSN, short transactions, errors mapped to exit codes.

- the DSN comes only from the environment variable named by ``storage.dsn_env``
  (default ``AGENTCTL_PG_DSN``); it is never written anywhere and its password is
  masked in every message (``safe``);
- psycopg missing → ConfigError (78) saying what to install;
- server unreachable, restarted or gone mid-command → TryLater (75) "database
  unavailable"; the open transaction is rolled back by the server, so nothing is
  half-applied;
- serialization failures and deadlocks (SQLSTATE 40001, 40P01) abort the transaction: the
  outermost one raises ``Busy`` (``agentctl.storage.retry``), which ``retrying`` and the
  ``replayable`` service functions run again a bounded number of times, then TryLater (75);
- one connection per thread (a run's lease-renewal thread has its own);
- ``deferred``: a registry transaction in one pipeline, two round trips (``postgres.deferred``).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from agentctl.core.redact import MASK, redact
from agentctl.errors import ConfigError, StateError, TryLater
from agentctl.storage.retry import ATTEMPTS, Busy, backoff

DEFAULT_DSN_ENV = "AGENTCTL_PG_DSN"
INSTALL_HINT = "pip install 'agentctl[postgres]'"
T = TypeVar("T")

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
_KV_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(f"storage.backend is postgres but psycopg 3 is not installed: {INSTALL_HINT}") from None
    return psycopg


def dsn_from_env(dsn_env: str | None, env: Mapping[str, str]) -> str:
    """The DSN from ``env`` (the environment the CLI read at its edge, env file applied)."""
    name = dsn_env or DEFAULT_DSN_ENV
    dsn = env.get(name, "").strip()
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


def _where(dsn: str, env: Mapping[str, str]) -> str:
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:
        return "the configured server"
    host = parts.get("host") or env.get("PGHOST") or "localhost"  # as libpq resolves them
    return f"{host}:{parts.get('port') or env.get('PGPORT') or 5432}/{parts.get('dbname') or ''}"


def unavailable(exc: BaseException, dsn: str, env: Mapping[str, str] | None = None) -> TryLater:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return TryLater(f"database unavailable ({_where(dsn, env or {})}): {safe(first, dsn)[:200]}; nothing was changed by "
                    "the failed step — try again later",
                    hint="check the server and $AGENTCTL_PG_DSN; `agentctl storage status` tests the connection")


class Database:
    """One lazily opened autocommit connection per process and thread; ``tx()`` is one short transaction."""

    def __init__(self, dsn: str, env: Mapping[str, str] | None = None):
        self.dsn = dsn
        self.env = env or {}
        """The CLI's environment: names the server in messages the way libpq finds it (PGHOST…)."""
        self._local = threading.local()
        self._all: list[Any] = []
        self._guard = threading.Lock()

    @property
    def depth(self) -> int:
        """How many ``tx()`` blocks this thread is inside (0: none; 1: the unit of work)."""
        return getattr(self._local, "depth", 0)

    @depth.setter
    def depth(self, value: int) -> None:
        self._local.depth = value

    def connect(self) -> Any:
        psycopg = psycopg_module()
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5, application_name="agentctl")
        except psycopg.OperationalError as exc:
            raise unavailable(exc, self.dsn, self.env) from None
        self._local.conn = conn
        with self._guard:
            self._all.append(conn)
        return conn

    def __del__(self) -> None:  # a Workspace dropped without close(): end the session quietly
        self.close()

    def close(self) -> None:
        with getattr(self, "_guard", contextlib.nullcontext()):
            conns, self._all = getattr(self, "_all", []), []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        if hasattr(self, "_local"):
            self._local.conn = None

    def _drop(self) -> None:
        """Forget this thread's connection (the server dropped it): the next ``tx()`` reconnects."""
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[Any]:
        """A transaction (a savepoint when nested: the outer one is the unit of work); yields a cursor."""
        conn = self.connect()
        outermost = self.depth == 0
        pending = getattr(self._local, "deferred", None)
        with self.mapped(outermost):
            if pending is not None:  # inside a pipelined transaction: make it a block, then join it
                pending.begin()
            with conn.transaction(), conn.cursor() as cur:
                self.depth += 1
                try:
                    yield cur
                finally:
                    self.depth -= 1

    @contextlib.contextmanager
    def deferred(self) -> Iterator[tuple[Any, Any]]:
        """``(cursor, Deferred)``: an outermost transaction in one pipeline, its writes sent with the
        commit (``agentctl.storage.postgres.deferred``); ``(cursor, None)`` inside a unit of work,
        which it joins as ``tx()`` does."""
        if self.depth:
            with self.tx() as cur:
                yield cur, None
            return
        from agentctl.storage.postgres.deferred import Deferred

        conn = self.connect()
        with self.mapped(outermost=True), conn.cursor() as cur:
            pending = self._local.deferred = Deferred(conn, self._drop)
            self.depth += 1
            try:
                yield cur, pending
                pending.commit()
            except BaseException:
                pending.abort()
                raise
            finally:
                self.depth -= 1
                self._local.deferred = None

    @contextlib.contextmanager
    def mapped(self, outermost: bool) -> Iterator[None]:
        """psycopg's errors as agentctl's: busy (replayable when ``outermost``), unavailable (75), state."""
        psycopg = psycopg_module()
        try:
            yield
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            kind = "deadlock" if isinstance(exc, psycopg.errors.DeadlockDetected) else "serialization failure"
            error = Busy if outermost else TryLater
            raise error(f"database busy ({kind}: another command held the same rows); nothing was changed "
                        "— try again") from None
        except psycopg.OperationalError as exc:
            self._drop()
            raise unavailable(exc, self.dsn, self.env) from None
        except psycopg.Error as exc:
            raise StateError(f"database error: {safe(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, self.dsn)}") from None

    def retrying(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in one transaction, run again on a deadlock or serialization failure
        (``ATTEMPTS`` times, jittered back-off), then TryLater (75). Inside a unit of work it runs once:
        the unit's own caller decides."""
        for attempt in range(ATTEMPTS):
            try:
                with self.tx() as cur:
                    return fn(cur)
            except Busy as exc:
                if attempt == ATTEMPTS - 1:
                    raise TryLater(f"{exc.message} ({ATTEMPTS} attempts)") from None
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def single(self) -> Iterator[Any]:
        """A cursor for one statement (a read, or one self-contained write): outside a unit of work it
        runs on its own, with no BEGIN and COMMIT round trips (autocommit: one statement is one
        transaction — all or nothing, one snapshot); inside one it joins the unit as ``tx()`` does."""
        if self.depth:
            with self.tx() as cur:
                yield cur
            return
        conn = self.connect()
        with self.mapped(outermost=True), conn.cursor() as cur:
            yield cur
