"""A registry write touches only the tasks it changes (issue 20), and never trusts a file it did not write.

- every write leaves tasks.json byte-for-byte what pydantic's whole-file dump would give;
- on a sealed file one update validates and encodes one task, whatever the registry's size;
- a file changed behind agentctl's back (by hand, in place or by rename; a newer task model)
  is validated in full again: a bad task there is still 74, and the file is left alone.

Checked once by hand: with ``regcodec.is_sealed`` forced to True, the two edit tests fail
(the write goes through and keeps the invalid task).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentctl.core.records import RegistryFile
from agentctl.registry.service import NewTask, Update, add_task, block_task, claim_task, update_task
from agentctl.storage.files import regcodec
from agentctl.workspace.loader import Workspace

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ODD = 'quote " backslash \\ tab \t newline \n brace {\n  } unicode é 漢 \u2028'


def _canonical(path: Path) -> bytes:
    raw = path.read_bytes()
    return RegistryFile.model_validate_json(raw).model_dump_json(indent=1).encode() + b"\n"


def _ws(root: Path, n: int) -> Workspace:
    from conftest import define_agents

    define_agents(root, "a")
    ws = Workspace(root)
    for i in range(n):
        add_task(ws, NewTask(title=f"{ODD} {i}", agent="a"), "t", NOW)
    return ws


def test_every_write_is_the_canonical_whole_file_dump(minimal_ws: Path) -> None:
    ws = _ws(minimal_ws, 6)
    path = minimal_ws / "tasks.json"
    steps = [
        lambda: update_task(ws, "T-3", Update(checks=["qa=passed"], sets=[f"notes={ODD}"]), "t", NOW),
        lambda: claim_task(ws, "T-1", "a", NOW),
        lambda: block_task(ws, "T-6", ODD, ["T-1", "T-2"], "t", NOW),
        lambda: update_task(ws, "T-1", Update(status="done"), "t", NOW),
        lambda: add_task(ws, NewTask(title="last", depends_on=["T-6"]), "t", NOW),
    ]
    for step in steps:
        step()
        assert path.read_bytes() == _canonical(path)
        assert regcodec.is_sealed(path, os.stat(path))
    doc = json.loads(path.read_text())
    assert [t["taskId"] for t in doc["tasks"]] == [f"T-{i}" for i in range(1, 8)]
    assert doc["nextSeq"] == 8
    assert doc["tasks"][2]["notes"] == ODD and doc["tasks"][5]["blockedOn"] == ["T-1", "T-2"]


def test_one_update_encodes_and_validates_one_task(minimal_ws: Path, monkeypatch) -> None:
    ws = _ws(minimal_ws, 40)
    path = minimal_ws / "tasks.json"
    before = path.read_bytes()
    encoded = []
    real = regcodec.encode_task
    monkeypatch.setattr(regcodec, "encode_task", lambda t: encoded.append(t.taskId) or real(t))
    update_task(ws, "T-20", Update(sets=["notes=n"]), "t", NOW)
    assert encoded == ["T-20"]
    after = path.read_bytes()
    old, new = json.loads(before)["tasks"], json.loads(after)["tasks"]
    assert [t for t in new if t["taskId"] != "T-20"] == [t for t in old if t["taskId"] != "T-20"]
    assert after == _canonical(path)


def test_sealed_reads_give_the_validated_tasks(minimal_ws: Path) -> None:
    ws = _ws(minimal_ws, 5)
    update_task(ws, "T-2", Update(checks=["qa=1"]), "t", NOW)
    sealed = ws.storage.registry.load()
    assert regcodec.is_sealed(minimal_ws / "tasks.json", os.stat(minimal_ws / "tasks.json"))
    full = RegistryFile.model_validate_json((minimal_ws / "tasks.json").read_bytes())
    assert sealed.model_dump() == full.model_dump()
    assert [t.model_dump() for t in sealed.tasks] == [t.model_dump() for t in full.tasks]


@pytest.mark.parametrize("how", ["in place", "by rename"])
def test_an_edit_behind_our_back_is_validated_again(minimal_ws: Path, how: str, cli) -> None:
    ws = _ws(minimal_ws, 3)
    update_task(ws, "T-2", Update(sets=["notes=x"]), "t", NOW)
    path = minimal_ws / "tasks.json"
    bad = json.loads(path.read_bytes())
    bad["tasks"][0]["status"] = "someday"
    data = json.dumps(bad, indent=1).encode() + b"\n"
    if how == "in place":
        with path.open("r+b") as fh:
            fh.write(data)
            fh.truncate()
    else:
        tmp = path.with_name("edit.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    for argv in (["task", "update", "T-2", "--set", "notes=y"], ["task", "add", "--title", "t"], ["status"],
                 ["task", "show", "T-3"]):
        res = cli(*argv)
        assert res.exit_code == 74, (argv, res.stdout)
        assert "tasks.json" in res.stderr and "status" in res.stderr
    assert path.read_bytes() == data


def test_a_seal_from_another_task_model_is_not_trusted(minimal_ws: Path, monkeypatch) -> None:
    ws = _ws(minimal_ws, 2)
    path = minimal_ws / "tasks.json"
    assert regcodec.is_sealed(path, os.stat(path))
    monkeypatch.setattr(regcodec, "_fingerprint", "another-model")
    assert not regcodec.is_sealed(path, os.stat(path))
    update_task(ws, "T-1", Update(sets=["notes=x"]), "t", NOW)  # slow path, then sealed for this model
    assert regcodec.is_sealed(path, os.stat(path)) and path.read_bytes() == _canonical(path)


def test_a_torn_or_missing_seal_means_one_full_read(minimal_ws: Path) -> None:
    ws = _ws(minimal_ws, 2)
    path = minimal_ws / "tasks.json"
    seal = regcodec.seal_path(path)
    seal.write_bytes(seal.read_bytes()[:40])
    assert not regcodec.is_sealed(path, os.stat(path))
    seal.unlink()
    assert [t.taskId for t in ws.storage.registry.load().tasks] == ["T-1", "T-2"]
    update_task(ws, "T-2", Update(sets=["notes=x"]), "t", NOW)
    assert regcodec.is_sealed(path, os.stat(path))


def test_a_hand_written_registry_is_validated_once_then_read_sealed(minimal_ws: Path, cli, monkeypatch) -> None:
    ws = _ws(minimal_ws, 1)
    add_task(ws, NewTask(title="plain", agent="a"), "t", NOW)
    path = minimal_ws / "tasks.json"
    text = path.read_text()
    assert '"plain"' in text
    path.write_text(text.replace('"plain"', '"edited by hand"'))  # a person's edit in an editor
    regcodec.seal_path(path).unlink()
    assert cli("status").exit_code == 0  # validates in full, then seals what it validated
    assert regcodec.is_sealed(path, os.stat(path))
    calls = []
    monkeypatch.setattr(RegistryFile, "model_validate", lambda *a, **k: calls.append(1))
    assert ws.storage.registry.get("T-2").title == "edited by hand" and calls == []  # the fast path
    bad = path.read_text().replace('"edited by hand"', '"edited again"').replace('"todo"', '"someday"', 1)
    path.write_text(bad)  # a second edit changes mtime/ctime: validated again, and refused
    monkeypatch.undo()
    assert cli("status").exit_code == 74 and not regcodec.is_sealed(path, os.stat(path))


def test_tasks_read_in_a_transaction_keep_their_identity(minimal_ws: Path) -> None:
    """find() first, then a walk over every task (as handoff does): one object per task."""
    ws = _ws(minimal_ws, 4)
    with ws.storage.registry.transaction("t", "2026-11-26T12:00:00Z") as tx:
        t3 = tx.find("T-3")
        assert t3 is not None
        t3.notes = "changed"
        tx.log("T-3", "notes", None, "changed")
        assert next(t for t in tx.doc.tasks if t.taskId == "T-3") is t3
        assert tx.find("T-3") is t3
    doc = json.loads((minimal_ws / "tasks.json").read_text())
    assert doc["tasks"][2]["notes"] == "changed"
