"""Handoffs, structured rejections and human gates (SPEC §6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Cli

from agentctl.contracts.handoff import approve_gate, handoff, kill_gate, rejection_context
from agentctl.core.records import Task
from agentctl.errors import Conflict, UsageError
from agentctl.registry.service import NewTask, add_task, find_task
from agentctl.workspace.loader import Workspace

NOW = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
FIXTURES = REPO / "tests" / "fixtures" / "artifacts"


def example(kind: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{kind}.valid.json").read_text())


@pytest.fixture
def ws(studio_ws: Path) -> Workspace:
    return Workspace(studio_ws)


def add(ws: Workspace, title: str, agent: str, phase: str | None = None, product: str = "AlphaNet",
        depends_on: list[str] | None = None, status: str = "todo") -> Task:
    return add_task(ws, NewTask(title=title, agent=agent, phase=phase, product=product,
                                depends_on=depends_on or [], status=status), "user:test", NOW)


def write(ws: Workspace, rel: str, data: Any) -> Path:
    path = ws.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def tasks(ws: Workspace) -> dict[str, Task]:
    return {t.taskId: t for t in ws.storage.registry.load().tasks}


def no_phone_design() -> dict[str, Any]:
    data = example("design")
    data["responsiveBreakpoints"] = [b for b in data["responsiveBreakpoints"] if b["name"] != "mobile"]
    return data


# --- valid handoffs ------------------------------------------------------------------------

def test_valid_handoff_creates_the_next_stage_task(ws: Workspace, studio_cli: Cli) -> None:
    design = add(ws, "AlphaNet screens", "vivi", phase="design")
    elsewhere = write(ws, "drafts/design.json", example("design"))
    res = studio_cli("handoff", design.taskId, "--artifact", elsewhere, "--json")
    assert res.exit_code == 0, res.stderr
    out = res.json()
    assert out["valid"] is True and out["status"] == "done" and out["rejection"] is None
    [new_id] = out["created"]
    after = tasks(ws)
    assert after[design.taskId].status == "done"
    assert after[design.taskId].output == f"artifacts/{design.taskId}/design.json"
    new = after[new_id]
    assert (new.agent, new.phase, new.product, new.status) == ("jack", "code", "AlphaNet", "todo")
    assert new.input == f"artifacts/{design.taskId}/design.json"
    assert new.dependsOn == [design.taskId]
    assert new.title == "code: AlphaNet screens"
    kept = ws.root / "artifacts" / design.taskId / "design.json"
    assert kept.read_bytes() == elsewhere.read_bytes()


def test_the_default_artifact_is_artifacts_id_produces(ws: Workspace) -> None:
    task = add(ws, "Review PR 42", "kai")  # no phase: the stage is found by agent
    write(ws, f"artifacts/{task.taskId}/review.json", example("review"))
    res = handoff(ws, task.taskId, None, "user:test", NOW)
    assert res.valid and res.stage.stage == "review"
    assert [(t.agent, t.phase, t.input) for t in res.created] == [
        ("quinn", "qa", f"artifacts/{task.taskId}/review.json")]


def test_the_tasks_output_is_used_when_set(ws: Workspace) -> None:
    task = add(ws, "Code", "jack", phase="code")
    write(ws, "out/code.json", example("code"))
    from agentctl.registry.service import Update, update_task

    update_task(ws, task.taskId, Update(sets=["output=out/code.json"]), "user:test", NOW)
    res = handoff(ws, task.taskId, None, "user:test", NOW)
    assert res.valid and res.artifact == f"artifacts/{task.taskId}/code.json"


def test_the_last_stage_just_becomes_done(ws: Workspace) -> None:
    task = add(ws, "Launch", "leo", phase="launch")
    res = handoff(ws, task.taskId, None, "user:test", NOW)
    assert res.valid and res.task.status == "done" and res.created == []


def test_a_repeated_handoff_is_refused(ws: Workspace, studio_cli: Cli) -> None:
    task = add(ws, "Design", "vivi", phase="design")
    write(ws, f"artifacts/{task.taskId}/design.json", example("design"))
    assert studio_cli("handoff", task.taskId).exit_code == 0
    again = studio_cli("handoff", task.taskId)
    assert again.exit_code == 5 and "is done" in again.stderr
    assert len(tasks(ws)) == 2


# --- rejections ------------------------------------------------------------------------------

def test_invalid_handoff_is_rejected_with_nothing_downstream(ws: Workspace, studio_cli: Cli) -> None:
    design = add(ws, "AlphaNet screens", "vivi", phase="design")
    data = example("design")
    del data["responsiveBreakpoints"]
    draft = write(ws, "drafts/design.json", data)
    res = studio_cli("handoff", design.taskId, "--artifact", draft, "--json")
    assert res.exit_code == 3
    out = res.json()
    assert out["valid"] is False and out["status"] == "rejected" and out["created"] == []
    after = tasks(ws)
    assert list(after) == [design.taskId]
    task = after[design.taskId]
    assert task.status == "rejected"
    assert task.blockedBy == "jack — missing responsive breakpoints"
    [rej] = task.rejections
    assert (rej.at, rej.stage, rej.by) == (task.updatedAt, "design", "jack")
    assert rej.missing == ["responsiveBreakpoints"]
    assert [(e.path, e.message) for e in rej.errors] == [("$", "missing required property: responsiveBreakpoints")]
    assert rej.summary == "missing responsive breakpoints"
    assert out["rejection"] == rej.model_dump(mode="json")
    assert not (ws.root / "artifacts" / design.taskId / "design.json").exists()
    assert task.output is None


def test_a_design_without_a_phone_breakpoint_reads_like_the_seed(ws: Workspace, studio_cli: Cli) -> None:
    design = add(ws, "AlphaNet screens", "vivi", phase="design")
    write(ws, f"artifacts/{design.taskId}/design.json", no_phone_design())
    res = studio_cli("handoff", design.taskId)
    assert res.exit_code == 3
    assert res.stdout.startswith(f"{design.taskId} rejected at the design handoff by jack: "
                                 "missing responsive breakpoints for screens < 768px")
    assert "$.responsiveBreakpoints: must contain at least one item matching" in res.stdout
    assert "handoff rejected" in res.stderr
    task = tasks(ws)[design.taskId]
    assert task.blockedBy == "jack — missing responsive breakpoints for screens < 768px"


def test_not_json_is_a_rejection(ws: Workspace) -> None:
    task = add(ws, "Design", "vivi", phase="design")
    write(ws, f"artifacts/{task.taskId}/design.json", "{half")
    res = handoff(ws, task.taskId, None, "user:test", NOW)
    assert not res.valid and res.task.status == "rejected"
    assert res.rejection is not None and res.rejection.errors[0].path == "$"
    assert res.task.blockedBy == "jack — the artifact is not valid JSON"


def test_rework_after_a_rejection_passes_and_clears_the_block(ws: Workspace) -> None:
    task = add(ws, "Design", "vivi", phase="design")
    artifact = write(ws, f"artifacts/{task.taskId}/design.json", no_phone_design())
    assert not handoff(ws, task.taskId, None, "user:test", NOW).valid
    artifact.write_text(json.dumps(example("design")))
    res = handoff(ws, task.taskId, None, "user:test", NOW)
    assert res.valid and res.task.status == "done" and res.task.blockedBy is None
    assert len(res.task.rejections) == 1 and len(res.created) == 1


def test_rejection_context_for_the_producing_agent(ws: Workspace) -> None:
    task = add(ws, "Design", "vivi", phase="design")
    assert rejection_context(task) == ""
    write(ws, f"artifacts/{task.taskId}/design.json", no_phone_design())
    handoff(ws, task.taskId, None, "user:test", NOW)
    text = rejection_context(find_task(ws, task.taskId))
    assert text.startswith(f"Your previous output for task {task.taskId} was rejected at the design handoff by jack")
    assert "missing responsive breakpoints for screens < 768px" in text
    assert "Missing: responsiveBreakpoints" in text
    assert "- $.responsiveBreakpoints: must contain at least one item matching" in text
    handoff(ws, task.taskId, None, "user:test", NOW)
    assert "rejected 1 time before" in rejection_context(find_task(ws, task.taskId))


def test_the_rejection_is_one_transaction_in_the_event_log(ws: Workspace) -> None:
    task = add(ws, "Design", "vivi", phase="design")
    write(ws, f"artifacts/{task.taskId}/design.json", no_phone_design())
    handoff(ws, task.taskId, None, "vivi", NOW)
    events = [e for e in ws.storage.registry.events() if e["change"] != "create"]
    assert [e["change"] for e in events] == ["rejection", "status", "blockedBy"]
    assert {e["ts"] for e in events} == {"2026-11-26T10:05:00Z"} and {e["actor"] for e in events} == {"vivi"}


def test_the_task_is_rechecked_inside_the_lock(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation runs without the lock; a task finished meanwhile must not be handed off twice."""
    import agentctl.contracts.handoff as mod
    from agentctl.registry.service import Update, update_task

    task = add(ws, "Design", "vivi", phase="design")
    write(ws, f"artifacts/{task.taskId}/design.json", example("design"))
    real = mod._check

    def slow_check(*args: Any) -> Any:
        checked = real(*args)
        update_task(ws, task.taskId, Update(status="done"), "another process", NOW)
        return checked

    monkeypatch.setattr(mod, "_check", slow_check)
    with pytest.raises(Conflict):
        handoff(ws, task.taskId, None, "user:test", NOW)
    assert len(tasks(ws)) == 1


@pytest.mark.parametrize(("args", "code", "words"), [
    (["handoff", "NOPE-1"], 2, "unknown task"),
    (["handoff", "../x"], 2, "invalid task id"),
])
def test_handoff_usage_errors(studio_cli: Cli, args: list[str], code: int, words: str) -> None:
    res = studio_cli(*args)
    assert res.exit_code == code and words in res.stderr


def test_handoff_without_an_artifact_or_a_stage(ws: Workspace, studio_cli: Cli) -> None:
    task = add(ws, "Design", "vivi", phase="design")
    res = studio_cli("handoff", task.taskId)
    assert res.exit_code == 2 and f"artifacts/{task.taskId}/design.json does not exist" in res.stderr
    stray = add(ws, "Taxes", "penny")
    res = studio_cli("handoff", stray.taskId)
    assert res.exit_code == 2 and "no pipeline stage" in res.stderr
    assert tasks(ws)[task.taskId].status == "todo"


def test_handoff_in_a_workspace_without_a_pipeline_is_78(cli: Cli) -> None:
    cli("task", "add", "--title", "x", "--agent", "a", "--id", "X-1")
    res = cli("handoff", "X-1")
    assert res.exit_code == 78 and "no pipeline" in res.stderr


# --- gates -----------------------------------------------------------------------------------

def _gated_prd(ws: Workspace) -> Task:
    prd = add(ws, "AlphaNet PRD", "pia", phase="prd")
    write(ws, f"artifacts/{prd.taskId}/prd.json", example("prd"))
    res = handoff(ws, prd.taskId, None, "pia", NOW)
    assert res.valid and res.created == []
    return res.task


def test_a_gated_stage_waits_for_a_human(ws: Workspace, studio_cli: Cli) -> None:
    prd = _gated_prd(ws)
    assert (prd.status, prd.gate) == ("review", "pending")
    listed = studio_cli("gate", "list", "--json")
    assert listed.exit_code == 0
    [row] = listed.json()
    assert row["taskId"] == prd.taskId and row["next"] == {"stage": "design", "agent": "vivi"}
    again = studio_cli("handoff", prd.taskId)
    assert again.exit_code == 5 and "waiting for a human" in again.stderr


def test_gate_approve_creates_the_next_task(ws: Workspace, studio_cli: Cli) -> None:
    prd = _gated_prd(ws)
    res = studio_cli("gate", "approve", prd.taskId, "--by", "alice", "--json")
    assert res.exit_code == 0, res.stderr
    out = res.json()
    assert (out["status"], out["gate"], out["by"]) == ("done", "approved", "alice")
    [new_id] = out["created"]
    new = tasks(ws)[new_id]
    assert (new.agent, new.phase, new.input, new.dependsOn) == (
        "vivi", "design", f"artifacts/{prd.taskId}/prd.json", [prd.taskId])
    decision = [e for e in ws.storage.registry.events() if e["change"] == "gateDecision"]
    assert decision[0]["after"] == {"decision": "approved", "by": "alice"}
    twice = studio_cli("gate", "approve", prd.taskId, "--by", "alice")
    assert twice.exit_code == 5 and "not waiting at a gate" in twice.stderr
    assert studio_cli("gate", "list").stdout.strip() == "no task is waiting at a gate"


def test_gate_kill_cancels_the_product_downstream(ws: Workspace, studio_cli: Cli) -> None:
    prd = _gated_prd(ws)
    design = add(ws, "design", "vivi", phase="design", depends_on=[prd.taskId])
    code = add(ws, "code", "jack", phase="code", depends_on=[design.taskId])
    done = add(ws, "spike", "jack", depends_on=[prd.taskId], status="done")
    other = add(ws, "other product", "jack", depends_on=[design.taskId], product="BetaNet")
    unrelated = add(ws, "unrelated", "vivi")
    res = studio_cli("gate", "kill", prd.taskId, "--by", "alice", "--json")
    assert res.exit_code == 0, res.stderr
    assert sorted(res.json()["cancelled"]) == sorted([design.taskId, code.taskId])
    after = tasks(ws)
    assert (after[prd.taskId].status, after[prd.taskId].gate) == ("cancelled", "killed")
    assert after[design.taskId].status == after[code.taskId].status == "cancelled"
    assert after[done.taskId].status == "done"
    assert after[other.taskId].status == after[unrelated.taskId].status == "todo"


@pytest.mark.parametrize("command", ["approve", "kill"])
def test_gates_are_refused_inside_an_agent_process(ws: Workspace, studio_cli: Cli, command: str) -> None:
    prd = _gated_prd(ws)
    res = studio_cli("gate", command, prd.taskId, "--by", "alice", env={"AGENTCTL_AGENT": "vivi"})
    assert res.exit_code == 2
    assert "gate commands are for humans: refused inside agent process vivi" in res.stderr
    task = tasks(ws)[prd.taskId]
    assert (task.status, task.gate) == ("review", "pending")
    with pytest.raises(UsageError):
        approve_gate(ws, prd.taskId, "alice", "vivi", NOW, agent_process="vivi")
    with pytest.raises(UsageError):
        kill_gate(ws, prd.taskId, "alice", "vivi", NOW, agent_process="vivi")


def test_gate_on_a_task_not_at_a_gate_is_refused(ws: Workspace, studio_cli: Cli) -> None:
    task = add(ws, "Design", "vivi", phase="design")
    res = studio_cli("gate", "approve", task.taskId, "--by", "alice")
    assert res.exit_code == 5 and "not waiting at a gate" in res.stderr
    assert studio_cli("gate", "kill", "NOPE-9", "--by", "alice").exit_code == 2


def test_gate_human_output(ws: Workspace, studio_cli: Cli) -> None:
    prd = _gated_prd(ws)
    listed = studio_cli("gate", "list")
    assert prd.taskId in listed.stdout and "design (vivi)" in listed.stdout
    res = studio_cli("gate", "approve", prd.taskId, "--by", "alice")
    assert res.stdout.startswith(f"{prd.taskId}: approved by alice; created ")


def test_a_task_whose_self_tests_failed_is_not_handed_off(ws: Workspace, studio_cli: Cli) -> None:
    from agentctl.core.clock import iso
    from agentctl.core.records import RuleResult, SelfTestReport

    design = add(ws, "AlphaNet screens", "vivi", phase="design")
    write(ws, f"artifacts/{design.taskId}/design.json", example("design"))
    with ws.storage.registry.transaction("user:test", iso(NOW)) as tx:
        task = tx.find(design.taskId)
        task.selfTest = SelfTestReport(at=iso(NOW), ok=False, results=[RuleResult(name="tests pass", ok=False)])
        tx.log(design.taskId, "selfTest", None, "failed")
    res = studio_cli("handoff", design.taskId)
    assert res.exit_code == 4 and "tests pass" in res.stderr
    assert tasks(ws)[design.taskId].status == "todo" and len(tasks(ws)) == 1
