"""The one claim policy (agentctl.registry.claims): task claim, task next --claim and run --task
refuse and accept the same tasks, with the same exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Cli, write_agent

T0 = "2026-11-26T10:00:00Z"
LATER = "2026-11-26T11:00:00Z"


@pytest.fixture
def ws(minimal_ws: Path) -> Path:
    for name in ("a", "b"):
        write_agent(minimal_ws, name, f"name: {name}\nruntime: command\ncommand: [\"true\"]\nlease_s: 60\n")
    return minimal_ws


def add(cli: Cli, *extra: str) -> str:
    res = cli("task", "add", "--title", "t", *extra, env={"AGENTCTL_NOW": T0})
    assert res.exit_code == 0, res.stderr
    return res.stdout.strip()


def refusals(cli: Cli, tid: str) -> tuple[int, int, str]:
    """(task claim exit, run --task exit, task next --claim's answer) for agent a."""
    claim = cli("task", "claim", tid, "--agent", "a", env={"AGENTCTL_NOW": T0})
    run = cli("run", "a", "--task", tid, env={"AGENTCTL_NOW": T0})
    nxt = cli("task", "next", "--agent", "a", "--claim", env={"AGENTCTL_NOW": T0})
    return claim.exit_code, run.exit_code, nxt.stdout.strip()


def test_another_agents_task_is_never_picked_nor_run_but_a_person_may_claim_it(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli, "--agent", "b")
    run = cli("run", "a", "--task", tid, env={"AGENTCTL_NOW": T0})
    assert run.exit_code == 5 and "belongs to agent b" in run.stderr
    assert cli("task", "next", "--agent", "a", "--claim", env={"AGENTCTL_NOW": T0}).stdout.strip() == ""
    # SPEC §3: `task claim` exits 5 only when another agent *holds* the task
    assert cli("task", "claim", tid, "--agent", "a", env={"AGENTCTL_NOW": T0}).exit_code == 0
    res = cli("task", "claim", tid, "--agent", "b", env={"AGENTCTL_NOW": T0})
    assert res.exit_code == 5 and "claimed by a" in res.stderr


def test_unmet_dependencies_are_refused_everywhere(ws: Path) -> None:
    cli = Cli(ws)
    dep = add(cli, "--agent", "b")
    tid = add(cli, "--agent", "a", "--depends-on", dep)
    assert refusals(cli, tid) == (5, 5, "")


def test_a_blocked_task_is_refused_everywhere(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli, "--agent", "a")
    assert cli("task", "block", tid, "--by", "legal").exit_code == 0
    assert refusals(cli, tid) == (5, 5, "")
    assert "blocked by legal" in cli("task", "claim", tid, "--agent", "a").stderr


def test_a_finished_task_is_refused(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli, "--agent", "a")
    assert cli("task", "update", tid, "--status", "cancelled").exit_code == 0
    res = cli("task", "claim", tid, "--agent", "a")
    assert res.exit_code == 5 and "nothing to claim" in res.stderr
    assert refusals(cli, tid) == (5, 5, "")


def test_undefined_agents_and_agents_claiming_for_others_are_usage_errors(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli, "--agent", "a")
    res = cli("task", "claim", tid, "--agent", "ghost")
    assert res.exit_code == 2 and "unknown agent 'ghost'" in res.stderr
    res = cli("task", "claim", tid, "--agent", "a", env={"AGENTCTL_AGENT": "b"})
    assert res.exit_code == 2 and "claims only its own work" in res.stderr
    assert cli("task", "claim", tid, "--agent", "a", env={"AGENTCTL_AGENT": "a"}).exit_code == 0


def test_a_lapsed_claim_is_taken_over_and_a_live_one_is_not(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli)
    assert cli("task", "claim", tid, "--agent", "b", env={"AGENTCTL_NOW": T0}).exit_code == 0
    assert cli("task", "update", tid, "--status", "in_progress").exit_code == 0
    live = cli("task", "claim", tid, "--agent", "a", env={"AGENTCTL_NOW": T0})
    assert live.exit_code == 5 and "claimed by b" in live.stderr
    taken = cli("task", "claim", tid, "--agent", "a", "--json", env={"AGENTCTL_NOW": LATER})
    assert taken.exit_code == 0, taken.stderr
    assert json.loads(taken.stdout)["claimedBy"] == "a"
    lines = (ws / "logs" / "events.jsonl").read_text().splitlines()
    assert any(json.loads(line)["change"] == "reclaimed" for line in lines)
