"""The pipelined registry transaction on PostgreSQL (``storage/postgres/deferred.py``): a
single-task change is read-and-lock, decide, write-and-commit in two round trips with no
BEGIN/COMMIT — and keeps every guarantee of the plain transaction:

- the row read stays locked until the writes commit (another writer waits, nothing is lost);
- the compare-and-set guard aborts the whole transaction (75 after the replays, nothing applied);
- a failing event write takes the task write back with it;
- a failure while the writes are being queued commits none of them, and the next command works;
- a store call nested inside joins the transaction: both commit, or neither.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
STAMP = "2026-12-03T12:00:00Z"


@pytest.fixture
def tasks(pg_ws: Path, pg_dsn: str) -> Path:
    run = Cli(pg_ws)
    for title in ("one", "two"):
        assert run("task", "add", "--title", title, "--agent", "bob", env={"AGENTCTL_PG_DSN": pg_dsn}).exit_code == 0
    return pg_ws


@pytest.fixture
def storage(pg_dsn: str) -> Iterator[Any]:
    from agentctl.storage.postgres import PgStorage
    from agentctl.storage.postgres.connection import Database

    st = PgStorage(Database(pg_dsn))
    yield st
    st.close()


def _state(dsn: str, task_id: str = "T-1") -> tuple[int, dict[str, Any], int]:
    """(version, doc, event count) of a task, read on a separate session."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        version, doc = conn.execute("SELECT version, doc FROM tasks WHERE task_id = %s", (task_id,)).fetchone()
        events = conn.execute("SELECT count(*) FROM events WHERE task_id = %s", (task_id,)).fetchone()[0]
    return version, doc, events


def _touch(tx: Any, task_id: str = "T-1", notes: str = "touched") -> None:
    task = tx.find(task_id)
    tx.log(task_id, "notes", task.notes, notes)
    task.notes = notes


def _wait_for_lock_waiter(dsn: str, timeout: float = 20.0) -> bool:
    """True once some session of this database waits on a lock (polls the server, no fixed sleep)."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock'").fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def test_the_row_read_stays_locked_until_the_writes_commit(tasks: Path, pg_dsn: str, storage: Any) -> None:
    from agentctl.registry.service import Update, update_task
    from agentctl.workspace.loader import Workspace

    other = Workspace(tasks)
    done: list[str] = []
    writer = threading.Thread(target=lambda: done.append(update_task(
        other, "T-1", Update(checks=["other=1"]), "other", NOW).taskId))
    with storage.registry.transaction("first", STAMP) as tx:
        _touch(tx)
        writer.start()
        waited = _wait_for_lock_waiter(pg_dsn)  # the other update blocks on T-1's row
    writer.join(30)
    other.storage.close()
    assert waited and done == ["T-1"]
    version, doc, events = _state(pg_dsn)
    assert doc["notes"] == "touched" and doc["checks"]["other"] == 1  # neither update lost
    assert version == 3 and events == 3  # created, then one event per update


def test_a_failed_compare_and_set_applies_nothing(tasks: Path, pg_dsn: str, storage: Any) -> None:
    from agentctl.errors import TryLater

    before = _state(pg_dsn)
    with pytest.raises(TryLater), storage.registry.transaction("t", STAMP) as tx:
        _touch(tx)
        tx.versions["T-1"] += 7  # as if the row had changed since it was read
    assert _state(pg_dsn) == before


@pytest.mark.parametrize("both", [False, True])  # one statement for one task; CAS per task + events for two
def test_a_failing_event_write_takes_the_task_writes_back(tasks: Path, pg_dsn: str, storage: Any, both: bool) -> None:
    from agentctl.errors import StateError

    before = [_state(pg_dsn, t) for t in ("T-1", "T-2")]
    with pytest.raises(StateError, match="database error"), storage.registry.transaction("t", STAMP) as tx:
        _touch(tx)
        if both:
            _touch(tx, "T-2")
        tx.log("T-2" if both else "T-1", None, None, "x")  # type: ignore[arg-type]  # events.change is NOT NULL
    assert [_state(pg_dsn, t) for t in ("T-1", "T-2")] == before


def test_a_failure_while_queuing_the_writes_commits_none(tasks: Path, pg_dsn: str, storage: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from agentctl.storage.postgres.deferred import Deferred

    real, calls = Deferred.write, []

    def second_fails(self: Deferred, cur: Any, sql: str, params: tuple[Any, ...]) -> None:
        calls.append(sql)
        if len(calls) == 2:  # T-1's write is queued, T-2's and the events are not
            raise KeyboardInterrupt
        real(self, cur, sql, params)

    monkeypatch.setattr(Deferred, "write", second_fails)
    before = [_state(pg_dsn, t) for t in ("T-1", "T-2")]
    with pytest.raises(KeyboardInterrupt), storage.registry.transaction("t", STAMP) as tx:
        _touch(tx)
        _touch(tx, "T-2")
    assert [_state(pg_dsn, t) for t in ("T-1", "T-2")] == before
    monkeypatch.setattr(Deferred, "write", real)
    with storage.registry.transaction("t", STAMP) as tx:  # the next transaction works (a new session)
        _touch(tx, notes="again")
    assert _state(pg_dsn)[1]["notes"] == "again"


def test_a_commit_interrupted_before_its_sync_commits_nothing_later(tasks: Path, pg_dsn: str, storage: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted in the commit before the Sync went out: the queued write must not ride along with
    the next transaction's Sync (the session is dropped)."""
    import contextlib

    real = contextlib.ExitStack.close

    def interrupted(self: contextlib.ExitStack) -> None:
        raise KeyboardInterrupt

    before = _state(pg_dsn)
    monkeypatch.setattr(contextlib.ExitStack, "close", interrupted)
    with pytest.raises(KeyboardInterrupt), storage.registry.transaction("t", STAMP) as tx:
        _touch(tx, notes="interrupted")
    monkeypatch.setattr(contextlib.ExitStack, "close", real)
    with storage.registry.transaction("t", STAMP) as tx:
        _touch(tx, "T-2", notes="next")
    assert _state(pg_dsn) == before  # T-1 unchanged: its write died with the session
    assert _state(pg_dsn, "T-2")[1]["notes"] == "next"


@pytest.mark.parametrize("fail", [False, True])
def test_a_nested_store_call_joins_the_transaction(tasks: Path, pg_dsn: str, storage: Any, fail: bool) -> None:
    before = _state(pg_dsn)
    with pytest.raises(RuntimeError) if fail else _nothing(), storage.registry.transaction("t", STAMP) as tx:
        _touch(tx)
        with storage.cache.transaction("k") as slot:  # a savepoint of the registry's transaction
            slot.value = {"v": 1}
        if fail:
            raise RuntimeError("after both writes")
    assert (storage.cache.get("k") is None) is fail
    assert (_state(pg_dsn) == before) is fail


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
