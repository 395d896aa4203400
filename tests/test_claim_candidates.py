"""Claims that read only the agent's candidates (issue 20): ``RegistryTx.of_agent`` / ``peek`` and
``RegistryStore.children`` answer as the whole registry would, on both backends; a claim on a
sealed tasks.json builds only those tasks; concurrent claimers on PostgreSQL still get one
winner per task (the chosen task is locked and checked again).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures_postgres import pg_dsn, pg_ws  # noqa: F401 — fixtures
from test_storage_conformance import backend  # noqa: F401 — the both-backends fixture

from agentctl.core.records import Task
from agentctl.registry import ready
from agentctl.storage.base import RegistryTx, Storage

STAMP = "2026-03-02T12:00:00Z"
NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
CLAIMABLE = ready.CLAIMABLE


def _task(tid: str, **kw: object) -> Task:
    return Task(taskId=tid, title=f"task {tid}", createdAt=STAMP, updatedAt=STAMP, **kw)  # type: ignore[arg-type]


def _seed(storage: Storage, tasks: list[Task]) -> None:
    with storage.registry.transaction("seed", STAMP) as tx:
        for t in tasks:
            tx.add(t.model_copy(deep=True))
            tx.log(t.taskId, "created", None, t.taskId)


MIX = [_task("T-1", agent="a", status="done"), _task("T-2", agent="b"), _task("T-3", agent="a", dependsOn=["T-1"]),
       _task("T-4", agent="a", status="blocked", blockedBy="x"), _task("T-5", agent="a", status="review"),
       _task("T-6", agent="a", status="rejected", parent="T-3"), _task("T-7", agent="b", parent="T-3"),
       _task("T-8", agent="a.b-c_d", status="in_progress")]


def _ids(tasks: list[Task]) -> list[str]:
    return [t.taskId for t in tasks]


def test_of_agent_peek_and_children_answer_as_the_whole_registry(backend: Storage) -> None:  # noqa: F811
    _seed(backend, MIX)
    for agent in ("a", "b", "a.b-c_d", "nobody"):
        with backend.registry.transaction("x", STAMP) as tx:
            got = _ids(tx.of_agent(agent, CLAIMABLE))
        whole = [t.taskId for t in MIX if t.agent == agent and t.status in CLAIMABLE]
        assert got == whole, agent
    with backend.registry.transaction("x", STAMP) as tx:
        assert [(t.taskId, t.status) for t in map(tx.peek, ("T-1", "T-6"))] == [("T-1", "done"), ("T-6", "rejected")]
        assert tx.peek("T-99") is None
    assert _ids(backend.registry.children("T-3")) == ["T-6", "T-7"]
    assert backend.registry.children("T-1") == []
    assert backend.registry.children("T-") == []  # an id that is a prefix of others names no task


def test_of_agent_sees_changes_made_earlier_in_the_same_transaction(backend: Storage) -> None:  # noqa: F811
    _seed(backend, MIX)
    with backend.registry.transaction("x", STAMP) as tx:
        t3 = tx.find("T-3")
        assert t3 is not None
        t3.status = "done"
        tx.log("T-3", "status", "todo", "done")
        t2 = tx.find("T-2")
        assert t2 is not None
        t2.agent = "a"
        tx.log("T-2", "agent", "b", "a")
        assert _ids(tx.of_agent("a", CLAIMABLE)) == ["T-2", "T-4", "T-6"]
        assert tx.peek("T-3") is t3  # what this transaction changed, not the stored copy


def test_peeking_writes_nothing_and_bumps_no_version(backend: Storage) -> None:  # noqa: F811
    _seed(backend, MIX)
    with backend.registry.transaction("x", STAMP) as tx:
        tx.of_agent("a", CLAIMABLE)
        tx.peek("T-1")
        t3 = tx.find("T-3")
        assert t3 is not None
        t3.notes = "n"
        tx.log("T-3", "notes", None, "n")
    versions = {t.taskId: t.version for t in backend.registry.list()}
    assert versions["T-3"] == 2 and versions["T-1"] == versions["T-6"] == 1


def _claim_ws(tmp_path: Path, n_other: int) -> Path:
    from conftest import define_agents

    from agentctl.workspace.templates import init_workspace

    root = tmp_path / "ws"
    init_workspace(root, "minimal", force=False)
    define_agents(root, "a", "b")
    from agentctl.storage.base import open_file_storage

    storage = open_file_storage(root)
    _seed(storage, [_task(f"T-{i}", agent="b") for i in range(1, n_other + 1)]
          + [_task("T-900", agent="a", priority="low"), _task("T-901", agent="a", dependsOn=["T-1"]),
             _task("T-902", agent="a"), _task("T-903", agent="a", priority="high", dependsOn=["T-900"])])
    return root


def test_a_claim_on_a_sealed_registry_builds_only_the_agents_candidates(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from agentctl.storage.files import regcodec
    from agentctl.workspace.loader import Workspace

    ws = Workspace(_claim_ws(tmp_path, 300))
    built: list[str] = []
    real = regcodec.trusted

    def counting(cls: type, data: dict) -> object:
        if cls is Task:
            built.append(data["taskId"])
        return real(cls, data)

    monkeypatch.setattr(regcodec, "trusted", counting)
    agent = ws.agent("a")
    got = [ready.next_task(ws, agent, NOW, claim=True, run_id=f"r-{i}") for i in range(3)]
    assert [t.taskId if t else None for t in got] == ["T-902", "T-900", None]  # T-901 waits on T-1, T-903 on T-900
    assert len(built) < 20, f"{len(built)} tasks built for three claims"  # the whole registry: > 900
    assert ws.storage.registry.get("T-902").claimRun == "r-0"


def test_concurrent_claims_on_postgres_have_one_winner_each(pg_ws: Path) -> None:  # noqa: F811
    """Candidates are read unlocked; the chosen one is locked and checked again, so two claimers that
    chose the same task never both get it (fails with the re-check in ``next_task`` removed)."""
    from agentctl.workspace.loader import Workspace

    ws = Workspace(pg_ws)
    _seed(ws.storage, [_task(f"T-{i}", agent="a") for i in range(1, 13)])
    agent = ws.agent("a")
    start, won, errors = threading.Barrier(6), [], []

    def claimer(k: int) -> None:
        try:
            start.wait()
            while (task := ready.next_task(ws, agent, NOW, claim=True, run_id=f"r-{k}")) is not None:
                won.append(task.taskId)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ws.storage.close()
    assert not errors, errors
    assert sorted(won) == sorted(f"T-{i}" for i in range(1, 13)), won  # every task once, none twice


def test_the_default_of_agent_is_the_registry_filtered() -> None:
    from agentctl.core.records import RegistryFile

    tx = RegistryTx(RegistryFile(tasks=[t.model_copy() for t in MIX]), "x")
    assert _ids(tx.of_agent("a", CLAIMABLE)) == ["T-3", "T-4", "T-6"]
    assert tx.peek("T-5") is tx.find("T-5")
