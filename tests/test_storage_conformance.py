"""The storage seam's contract (agentctl/storage/base.py), one suite for every backend.

``backend`` yields a fresh ``Storage`` per test. Files today; a PostgreSQL backend plugs in
by adding its name to ``BACKENDS`` and a ``make_postgres_storage(tmp_path)`` factory in
``tests/fixtures_postgres.py`` (skipped when that module or a server is absent).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from agentctl.core.records import RunRecord, Task
from agentctl.errors import ConfigError, StateError
from agentctl.storage.base import Storage, open_file_storage

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STAMP = "2026-03-02T12:00:00Z"
BACKENDS = ["files", "postgres"]


def _files(tmp_path: Path) -> Storage:
    from agentctl.workspace.templates import init_workspace

    init_workspace(tmp_path / "ws", "minimal", force=False)
    return open_file_storage(tmp_path / "ws")


def _postgres(tmp_path: Path) -> Storage:
    try:
        fixtures = importlib.import_module("fixtures_postgres")
    except ImportError:
        pytest.skip("no PostgreSQL fixtures (tests/fixtures_postgres.py)")
    if not hasattr(fixtures, "make_postgres_storage"):  # to add: a fresh Storage on a throwaway database
        pytest.skip("tests/fixtures_postgres.py has no make_postgres_storage(tmp_path) yet")
    return fixtures.make_postgres_storage(tmp_path)


FACTORIES: dict[str, Callable[[Path], Storage]] = {"files": _files, "postgres": _postgres}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    storage = FACTORIES[request.param](tmp_path)
    storage.recover()
    yield storage
    storage.close()


def _task(tid: str, **kw: object) -> Task:
    return Task(taskId=tid, title=f"task {tid}", createdAt=STAMP, updatedAt=STAMP, **kw)  # type: ignore[arg-type]


def _record(run_id: str, started: datetime = T0, **kw: object) -> RunRecord:
    stamp = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    fields: dict[str, object] = {"agent": "a", "status": "success", **kw}
    return RunRecord(runId=run_id, startedAt=stamp, endedAt=stamp, **fields)  # type: ignore[arg-type]


# --- registry -----------------------------------------------------------------------------

def test_registry_transaction_commits_tasks_and_one_event_per_change(backend: Storage) -> None:
    assert backend.registry.list() == []
    with backend.registry.transaction("alice", STAMP) as tx:
        tx.doc.tasks.append(_task("T-1"))
        tx.log("T-1", "created", None, "todo")
    assert [t.taskId for t in backend.registry.list()] == ["T-1"]
    assert backend.registry.get("T-1").version == 1  # type: ignore[union-attr]
    assert backend.registry.get("T-9") is None
    [event] = list(backend.registry.events())
    assert (event["taskId"], event["actor"], event["change"], event["after"]) == ("T-1", "alice", "created", "todo")
    assert backend.registry.last_events("T-1")[-1]["change"] == "created"


def test_registry_transaction_without_changes_writes_nothing(backend: Storage) -> None:
    with backend.registry.transaction("alice", STAMP) as tx:
        tx.doc.tasks.append(_task("T-1"))  # no tx.log: not a change
    assert backend.registry.list() == [] and list(backend.registry.events()) == []


def test_registry_exception_applies_nothing(backend: Storage) -> None:
    with pytest.raises(RuntimeError), backend.registry.transaction("alice", STAMP) as tx:
        tx.doc.tasks.append(_task("T-1"))
        tx.log("T-1", "created", None, "todo")
        raise RuntimeError("boom")
    assert backend.registry.list() == [] and list(backend.registry.events()) == []


def test_archive_moves_tasks_in_the_same_commit(backend: Storage) -> None:
    with backend.registry.transaction("a", STAMP) as tx:
        tx.doc.tasks += [_task("T-1", status="done"), _task("T-2")]
        tx.log("T-1", "created", None, "done")
        tx.log("T-2", "created", None, "todo")
    with backend.registry.transaction("a", STAMP) as tx:
        tx.archive([tx.find("T-1")])  # type: ignore[list-item]
        tx.log("T-1", "archive", "done", "archived")
    assert [t.taskId for t in backend.registry.list()] == ["T-2"]
    assert [t.taskId for t in backend.registry.archived()] == ["T-1"]


def test_versions_increment_once_per_committed_change(backend: Storage) -> None:
    with backend.registry.transaction("a", STAMP) as tx:
        tx.doc.tasks.append(_task("T-1"))
        tx.log("T-1", "created", None, "todo")
    for n in range(3):
        with backend.registry.transaction("a", STAMP) as tx:
            tx.find("T-1").phase = f"p{n}"  # type: ignore[union-attr]
            tx.log("T-1", "phase", None, f"p{n}")
            tx.log("T-1", "note", None, "two events, one version")
    assert backend.registry.get("T-1").version == 4  # type: ignore[union-attr]


# --- the unit of work ------------------------------------------------------------------------

def test_unit_of_work_commits_every_store_together(backend: Storage) -> None:
    with backend.unit_of_work():
        with backend.registry.transaction("a", STAMP) as tx:
            tx.doc.tasks.append(_task("T-1"))
            tx.log("T-1", "created", None, "todo")
        backend.runlog.append(_record("r-1"))
        with backend.idempotency.transaction("k") as slot:
            slot.value = {"state": "done"}
        with backend.breakers.transaction() as data:
            data["agents"]["a"] = {"state": "closed"}
        with backend.cron.transaction("job") as slot:
            slot.value = {"slot": STAMP}
        backend.artifacts.put("T-1", "out.json", b"{}")
        with backend.registry.transaction("a", STAMP) as tx:  # sees the unit's own pending registry
            assert tx.find("T-1") is not None
    assert backend.registry.get("T-1") is not None and backend.idempotency.get("k") == {"state": "done"}
    assert [r["runId"] for r in backend.runlog.scan(T0, T0 + timedelta(hours=1)).records] == ["r-1"]
    assert backend.breakers.read()["agents"]["a"] == {"state": "closed"}
    assert backend.cron.get("job") == {"slot": STAMP} and backend.artifacts.get("T-1", "out.json") == b"{}"


def test_unit_of_work_failing_applies_nothing(backend: Storage) -> None:
    with pytest.raises(RuntimeError), backend.unit_of_work():
        with backend.registry.transaction("a", STAMP) as tx:
            tx.doc.tasks.append(_task("T-1"))
            tx.log("T-1", "created", None, "todo")
        backend.runlog.append(_record("r-1"))
        with backend.idempotency.transaction("k") as slot:
            slot.value = {"state": "done"}
        raise RuntimeError("boom")
    assert backend.registry.list() == [] and backend.idempotency.get("k") is None
    assert backend.runlog.scan(T0, T0 + timedelta(hours=1)).records == [] and list(backend.registry.events()) == []


def test_recover_is_cheap_and_idempotent(backend: Storage) -> None:
    first, second = backend.recover(), backend.recover()
    assert (first.completed, second.completed, second.rolled_back) == (0, 0, 0)


# --- run log ---------------------------------------------------------------------------------

def test_runlog_window_spend_and_find(backend: Storage) -> None:
    backend.runlog.append(_record("r-1", costUsd=0.5))
    backend.runlog.append(_record("r-2", T0 + timedelta(hours=1), costUsd=None))
    backend.runlog.append(_record("r-3", T0 + timedelta(days=1), costUsd=2.0))
    scan = backend.runlog.scan(T0, T0 + timedelta(hours=2))
    assert [r["runId"] for r in scan.records] == ["r-1", "r-2"] and scan.skipped == 0
    assert backend.runlog.spend_of_day(date(2026, 3, 2)) == 0.5
    assert backend.runlog.spend_of_day(date(2026, 3, 2), agent="nobody") == 0.0
    assert backend.runlog.find("r-3", T0)["costUsd"] == 2.0  # type: ignore[index]
    assert backend.runlog.find("r-404") is None


def test_runlog_spend_by_agent_of_one_day(backend: Storage) -> None:
    backend.runlog.append(_record("r-1", costUsd=0.5))
    backend.runlog.append(_record("r-2", T0 + timedelta(hours=1), costUsd=0.25))
    backend.runlog.append(_record("r-3", costUsd=None, provider="anthropic"))  # unpriced model run
    backend.runlog.append(_record("r-4", costUsd=None, provider="command"))  # a command: nothing to price
    backend.runlog.append(_record("r-5", costUsd=None, provider="anthropic", status="skipped"))
    backend.runlog.append(_record("r-6", costUsd=1.0, agent="b"))
    backend.runlog.append(_record("r-7", T0 + timedelta(days=1), costUsd=9.0))  # another day
    spend = backend.runlog.spend_by_agent(date(2026, 3, 2))
    assert spend.cost == {"a": 0.75, "b": 1.0} and spend.unpriced == {"a": 1}
    assert backend.runlog.spend_by_agent(date(2026, 3, 4)).cost == {}


# --- keyed stores ------------------------------------------------------------------------------

@pytest.mark.parametrize("store", ["idempotency", "cron", "dedupe", "cache"])
def test_keyed_store_get_set_delete_expire_sweep(backend: Storage, store: str) -> None:
    keyed = backend.alerts.dedupe if store == "dedupe" else getattr(backend, store)
    with keyed.transaction("a") as slot:
        assert slot.value is None
        slot.value = {"n": 1, "expiresAt": "2026-03-02T13:00:00Z"}
    with keyed.transaction("b") as slot:
        slot.value = {"n": 2}
    assert keyed.get("a") == {"n": 1, "expiresAt": "2026-03-02T13:00:00Z"}
    assert keyed.get("a", T0 + timedelta(hours=2)) is None  # expired: absent
    assert dict(keyed.items()).keys() == {"a", "b"}
    assert keyed.sweep(T0 + timedelta(hours=2)) == 1
    assert dict(keyed.items()).keys() == {"b"}
    with keyed.transaction("b") as slot:
        slot.value = None
    assert keyed.get("b") is None


def test_cron_overlap_lock_refuses_a_second_holder(backend: Storage) -> None:
    from agentctl.errors import TryLater

    with backend.cron.overlap_lock("job"), pytest.raises(TryLater):
        with open_again(backend).cron.overlap_lock("job"):
            pass


def open_again(backend: Storage) -> Storage:
    """A second handle on the same state, as another process would open it."""
    if backend.backend == "files":
        return open_file_storage(backend.root)  # type: ignore[attr-defined]
    from agentctl.storage.postgres import Database, PgStorage

    return PgStorage(Database(backend.db.dsn))  # type: ignore[attr-defined]  # a second session


# --- documents, blobs, alerts, artifacts -----------------------------------------------------

def test_breakers_document_and_corrupt_state_is_74(backend: Storage) -> None:
    with backend.breakers.transaction() as data:
        data["agents"]["x"] = {"state": "open"}
    assert backend.breakers.read()["agents"] == {"x": {"state": "open"}}
    if backend.backend == "files":
        (backend.root / "state" / "breakers.json").write_text("{torn")  # type: ignore[attr-defined]
        with pytest.raises(StateError):
            backend.breakers.read()


def test_blobs_alerts_and_artifacts(backend: Storage) -> None:
    with backend.regressions.lock():
        backend.regressions.write(b"version: 1\n")
    assert backend.regressions.read() == b"version: 1\n" and backend.learn_ledger.read() is None
    backend.alerts.append({"kind": "k", "message": "m"})
    assert [a["kind"] for a in backend.alerts.read()] == ["k"]
    rel = backend.artifacts.put("T-1", "prd.json", b'{"a": 1}')
    assert rel == backend.artifacts.rel("T-1", "prd.json") == "artifacts/T-1/prd.json"
    assert backend.artifacts.get("T-1", "prd.json") == b'{"a": 1}' and backend.artifacts.get("T-1", "x") is None
    assert backend.artifacts.local_path("T-2", "out.json").parent.is_dir()


def test_breaker_history_commits_with_the_breaker_state(backend: Storage) -> None:
    """A transition's history row is written in the breaker's own transaction: both or neither."""
    assert not backend.breaker_history.exists() and list(backend.breaker_history.read()) == []
    with backend.breakers.transaction() as data:
        data["agents"]["x"] = {"state": "open"}
        backend.breaker_history.append({"ts": STAMP, "agent": "x", "transition": "tripped", "state": "open"})
    with pytest.raises(RuntimeError), backend.breakers.transaction() as data:
        data["agents"]["x"] = {"state": "closed"}
        backend.breaker_history.append({"ts": STAMP, "agent": "x", "transition": "reset", "state": "closed"})
        raise RuntimeError("boom")
    other = open_again(backend)
    assert [e["transition"] for e in other.breaker_history.read()] == ["tripped"] and other.breaker_history.exists()
    assert other.breakers.read()["agents"]["x"] == {"state": "open"}
    other.close()


def _slot(sid: str, agent: str = "a", **kw: object) -> dict[str, object]:
    return {"slotId": sid, "runId": sid, "agent": agent, "taskId": None, "startedAt": STAMP,
            "leaseExpiresAt": (T0 + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), **kw}


def test_inflight_slots_limit_update_release(backend: Storage) -> None:
    """max_concurrent per agent, seen by every handle (process, host) on the same state."""
    inflight, other = backend.inflight, open_again(backend).inflight
    assert inflight.acquire(_slot("r1"), 2, T0) == [] and other.acquire(_slot("r2"), 2, T0) == []
    held = inflight.acquire(_slot("r3"), 2, T0)
    assert sorted(e["slotId"] for e in held) == ["r1", "r2"]  # refused: the holders are named
    assert other.acquire(_slot("b1", agent="b"), 2, T0) == []  # another agent's slots are its own
    assert inflight.acquire(_slot("r1", taskId="T-9"), 2, T0) == []  # the same slot: updated, not a new one
    other.update("r2", {"taskId": "T-2"})
    running = {e["slotId"]: e for e in inflight.running(T0)}
    assert sorted(running) == ["b1", "r1", "r2"] and running["r2"]["taskId"] == "T-2"
    assert running["r1"]["taskId"] == "T-9" and running["r1"]["pid"] > 0
    other.release("r2")
    assert inflight.acquire(_slot("r3"), 2, T0) == []
    later = T0 + timedelta(minutes=10)  # every lease lapsed: nothing counts any more
    assert inflight.running(later) == [] and inflight.acquire(_slot("r4"), 1, later) == []


def test_inflight_liveness_across_hosts(backend: Storage) -> None:
    """A pid is checked only on the host that made the slot; elsewhere the lease decides."""
    import os

    from agentctl.storage.files.inflight import HOST

    inflight = backend.inflight
    assert inflight.acquire(_slot("here"), 5, T0) == []
    dead_pid = 2 ** 22 + 12345  # above pid_max: no such process here
    for sid, host in (("there", "another-host"), ("dead-here", HOST)):
        assert inflight.acquire(_slot(sid), 5, T0) == []
        inflight.update(sid, {"host": host, "pid": dead_pid})
    assert sorted(e["slotId"] for e in inflight.running(T0)) == ["here", "there"]
    assert all(e["pid"] == os.getpid() for e in inflight.running(T0) if e["slotId"] == "here")
    inflight.update("there", {"leaseExpiresAt": "2026-03-02T11:59:00Z"})  # its lease lapsed
    assert [e["slotId"] for e in inflight.running(T0)] == ["here"]


# --- choosing a backend -------------------------------------------------------------------------

@pytest.mark.parametrize(("configured", "message"), [
    ("mongo", "unknown storage backend 'mongo' (backends: files, postgres)"),
])
def test_an_unknown_backend_is_a_configuration_error(tmp_path: Path, configured: str, message: str) -> None:
    from agentctl.workspace.loader import Workspace
    from agentctl.workspace.templates import init_workspace

    init_workspace(tmp_path / "ws", "minimal", force=False)
    cfg = tmp_path / "ws" / "agentctl.yaml"
    cfg.write_text(cfg.read_text() + f"storage:\n  backend: {configured}\n")
    with pytest.raises(ConfigError) as err:
        Workspace(tmp_path / "ws").storage  # noqa: B018
    assert err.value.exit_code == 78
    assert message in err.value.message + " ".join(p.render() for p in err.value.problems)


def test_postgres_without_its_module_says_it_is_not_installed(tmp_path: Path, monkeypatch) -> None:
    import sys

    from agentctl.workspace.loader import Workspace
    from agentctl.workspace.templates import init_workspace

    init_workspace(tmp_path / "ws", "minimal", force=False)
    cfg = tmp_path / "ws" / "agentctl.yaml"
    cfg.write_text(cfg.read_text() + "storage:\n  backend: postgres\n")
    import agentctl.storage

    monkeypatch.setitem(sys.modules, "agentctl.storage.postgres", None)  # the module is absent
    monkeypatch.delattr(agentctl.storage, "postgres", raising=False)  # … also as an attribute of its package
    with pytest.raises(ConfigError, match="postgres backend is not installed") as err:
        Workspace(tmp_path / "ws").storage  # noqa: B018
    assert err.value.exit_code == 78
