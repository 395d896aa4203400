"""The self-approval matrix (agentctl.registry.policy): every path refused inside an agent
process (AGENTCTL_AGENT set, exit 2, nothing changed), allowed for a person, and a
person's override recorded as a `forced` event with who and why.

Checked once by hand with the protection off (``policy.check_update``/``check_add``/
``check_block`` returning at once): every agent case here fails (the change goes through).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, Cli
from fixtures_reliability import ARTIFACT_CMD, make_rel_ws, snapshot

AGENT = {"AGENTCTL_AGENT": "designer"}


@pytest.fixture
def gated(tmp_path: Path) -> Path:
    """T-1 waits at the design gate; T-2 is plain work whose self-tests failed."""
    agents = {"designer": {"name": "designer", "runtime": "command", "command": ARTIFACT_CMD, "produces": "design"},
              "coder": {"name": "coder", "runtime": "command", "command": ARTIFACT_CMD, "consumes": "design"}}
    pipeline = [{"stage": "design", "agent": "designer", "produces": "design", "gate": True},
                {"stage": "code", "agent": "coder", "consumes": "design"}]
    root = make_rel_ws(tmp_path / "ws", agents=agents, pipeline=pipeline)
    shutil.rmtree(root / "schemas")
    shutil.copytree(REPO / "schemas", root / "schemas")
    design = tmp_path / "design.json"
    shutil.copy(REPO / "tests" / "fixtures" / "artifacts" / "design.valid.json", design)
    cli = Cli(root)
    assert cli("task", "add", "--title", "design", "--agent", "designer", "--phase", "design").exit_code == 0
    assert cli("handoff", "T-1", "--artifact", str(design)).exit_code == 0
    assert cli("task", "add", "--title", "plain", "--agent", "coder").exit_code == 0
    _fail_selftests(root, "T-2")
    return root


def _fail_selftests(root: Path, tid: str) -> None:
    from agentctl.core.records import RuleResult, SelfTestReport
    from agentctl.workspace.loader import Workspace

    with Workspace(root).storage.registry.transaction("test", "2026-03-02T12:00:00Z") as tx:
        task = tx.find(tid)
        task.selfTest = SelfTestReport(at="2026-03-02T12:00:00Z", ok=False, results=[RuleResult(name="t", ok=False)])
        tx.log(tid, "selfTest", None, "failed")


PATHS = {
    "done": ["task", "update", "T-2", "--status", "done"],
    "cancelled": ["task", "update", "T-2", "--status", "cancelled"],
    "gate status": ["task", "update", "T-1", "--status", "in_progress"],
    "gate output": ["task", "update", "T-1", "--set", "output=other.json"],
    "gate phase": ["task", "update", "T-1", "--phase", "code"],
    "gate agent": ["task", "update", "T-1", "--set", "agent=coder"],
    "failed-tests output": ["task", "update", "T-2", "--set", "output=other.json"],
    "failed-tests phase": ["task", "update", "T-2", "--phase", "qa"],
    "failed-tests agent": ["task", "update", "T-2", "--set", "agent=designer"],
    "next stage early": ["task", "add", "--title", "code it", "--agent", "coder", "--depends-on", "T-1"],
    "block gated": ["task", "block", "T-1", "--by", "me"],
    "unblock gated": ["task", "unblock", "T-1"],
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_refused_for_an_agent(gated: Path, path: str) -> None:
    before = snapshot(gated)
    res = Cli(gated)(*PATHS[path], env=AGENT)
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    assert "agent process designer" in res.stderr and "Traceback" not in res.stderr
    assert {k: v for k, v in snapshot(gated).items() if not k.endswith(".lock")} == \
        {k: v for k, v in before.items() if not k.endswith(".lock")}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_forcing_is_refused_for_an_agent(gated: Path, path: str) -> None:
    res = Cli(gated)(*PATHS[path], "--force", "--reason", "trust me", env=AGENT)
    assert res.exit_code == 2 and "--force is for people" in res.stderr


def _events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("path", sorted(PATHS))
def test_allowed_for_a_person_and_recorded(gated: Path, path: str) -> None:
    argv = PATHS[path]
    if argv[-2:] == ["--status", "done"]:  # finishing failed work needs --force from a person too
        assert Cli(gated)(*argv).exit_code == 4
        argv = [*argv, "--force", "--reason", "hotfix shipped by hand"]
    res = Cli(gated)(*argv)
    assert res.exit_code == 0, res.stderr
    forced = [e for e in _events(gated) if e["change"] == "forced"]
    if path != "cancelled":
        assert forced and forced[-1]["actor"].startswith("user:"), path
    if "--reason" in argv:
        assert forced[-1]["after"]["reason"] == "hotfix shipped by hand" and forced[-1]["after"]["force"]


def test_a_person_marking_gated_work_done_needs_force(gated: Path) -> None:
    cli = Cli(gated)
    res = cli("task", "update", "T-1", "--status", "done")
    assert res.exit_code == 2 and "gate approve" in res.stderr
    res = cli("task", "update", "T-1", "--status", "done", "--force", "--reason", "approved on the phone")
    assert res.exit_code == 0
    forced = [e for e in _events(gated) if e["change"] == "forced"][-1]
    assert forced["after"] == {"reason": "approved on the phone", "rules": ["gate"], "force": True}


def test_handoff_still_moves_an_agents_work_on(gated: Path) -> None:
    cli = Cli(gated)
    assert cli("task", "add", "--title", "d2", "--agent", "designer", "--phase", "design", env=AGENT).exit_code == 0
    design = REPO / "tests" / "fixtures" / "artifacts" / "design.valid.json"
    res = cli("handoff", "T-3", "--artifact", str(design), env=AGENT)
    assert res.exit_code == 0 and "waiting in review" in res.stdout
