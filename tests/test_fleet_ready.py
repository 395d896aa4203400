"""task next / claim / release, dependencies, names and leases (SPEC §13), through the CLI in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Cli, write_agent

T0 = "2026-11-26T10:00:00Z"


def at(ts: str) -> dict[str, str]:
    return {"AGENTCTL_NOW": ts}


@pytest.fixture
def ws(minimal_ws: Path) -> Path:
    for name in ("a", "b"):
        write_agent(minimal_ws, name, f"name: {name}\nruntime: command\ncommand: [\"true\"]\nlease_s: 60\n")
    return minimal_ws


def add(cli: Cli, title: str, *extra: str, ts: str = T0) -> str:
    res = cli("task", "add", "--title", title, *extra, env=at(ts))
    assert res.exit_code == 0, res.stderr
    return res.stdout.strip()


def events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines() if line.strip()]


def test_next_orders_by_priority_then_age_and_skips_what_is_not_ready(ws: Path) -> None:
    cli = Cli(ws)
    old = add(cli, "old normal", "--agent", "a", ts="2026-11-26T09:00:00Z")
    low = add(cli, "low", "--agent", "a", "--priority", "low", ts="2026-11-26T08:00:00Z")
    high = add(cli, "high", "--agent", "a", "--priority", "high")
    waits = add(cli, "waits", "--agent", "a", "--priority", "high", "--depends-on", old)
    add(cli, "other agent", "--agent", "b", "--priority", "high")
    blocked = add(cli, "blocked", "--agent", "a", "--priority", "high")
    cli("task", "block", blocked, "--by", "legal")
    order = []
    for _ in range(5):
        res = cli("task", "next", "--agent", "a", "--claim", env=at(T0))
        assert res.exit_code == 0, res.stderr
        if not res.stdout.strip():
            break
        order.append(res.stdout.strip())
        if order[-1] == old:
            cli("task", "update", old, "--status", "done")
    assert order == [high, old, waits, low]
    res = cli("task", "next", "--agent", "a", env=at(T0))
    assert res.exit_code == 0 and res.stdout == ""
    res = cli("task", "next", "--agent", "a", "--json", env=at(T0))
    assert res.exit_code == 0 and res.stdout.strip() == "null"


def test_rejected_tasks_are_ready_for_rework_and_gates_are_not(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli, "rework", "--agent", "a")
    cli("task", "update", tid, "--status", "rejected")
    assert cli("task", "next", "--agent", "a").stdout.strip() == tid
    cli("task", "update", tid, "--status", "review", "--set", "notes=x")
    data = json.loads((ws / "tasks.json").read_text())
    data["tasks"][0]["gate"] = "pending"
    (ws / "tasks.json").write_text(json.dumps(data))
    assert cli("task", "next", "--agent", "a").stdout == ""


def test_add_refuses_unknown_dependency_cycle_and_undefined_agent(ws: Path) -> None:
    cli = Cli(ws)
    res = cli("task", "add", "--title", "x", "--agent", "nobody")
    assert res.exit_code == 2 and "unknown agent 'nobody'" in res.stderr
    res = cli("task", "add", "--title", "x", "--agent", "a", "--depends-on", "PRD-999")
    assert res.exit_code == 2 and "PRD-999" in res.stderr
    res = cli("task", "add", "--title", "x", "--agent", "a", "--id", "X-1", "--depends-on", "X-1")
    assert res.exit_code == 2 and "itself" in res.stderr
    # a cycle through a dependency recorded before its target existed
    data = {"version": 1, "nextSeq": 1, "tasks": [{"taskId": "Y-1", "title": "y", "agent": "a", "dependsOn": ["Y-2"],
                                                   "createdAt": T0, "updatedAt": T0}]}
    (ws / "tasks.json").write_text(json.dumps(data))
    res = cli("task", "add", "--title", "x", "--agent", "a", "--id", "Y-2", "--depends-on", "Y-1")
    assert res.exit_code == 2 and "cycle" in res.stderr and "Y-2 → Y-1 → Y-2" in res.stderr
    res = cli("task", "update", "Y-1", "--set", "agent=ghost")
    assert res.exit_code == 2 and "unknown agent 'ghost'" in res.stderr
    res = cli("task", "add", "--title", "x", "--agent", "a", "--priority", "urgent")
    assert res.exit_code == 2 and "--priority" in res.stderr
    assert "Traceback" not in res.stderr


def test_run_and_claim_refuse_a_task_whose_dependency_is_not_done(ws: Path) -> None:
    cli = Cli(ws)
    first = add(cli, "first", "--agent", "a")
    second = add(cli, "second", "--agent", "a", "--depends-on", first)
    cli("task", "claim", first, "--agent", "a")
    res = cli("run", "a", "--task", second)
    assert res.exit_code == 5 and f"waiting on {first} (in_progress)" in res.stderr
    res = cli("task", "claim", second, "--agent", "a")
    assert res.exit_code == 5 and f"waiting on {first}" in res.stderr
    assert not (ws / "logs" / "runs").exists() or not list((ws / "logs" / "runs").glob("*.jsonl"))


def test_an_expired_lease_is_reclaimed_by_the_next_agent_that_asks(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli, "work", "--agent", "a")
    claimed = cli("task", "next", "--agent", "a", "--claim", "--json", env=at(T0)).json()
    assert claimed["claimedBy"] == "a" and claimed["leaseExpiresAt"] == "2026-11-26T10:01:00Z"
    # within the lease nobody else gets it
    assert cli("task", "next", "--agent", "a", "--claim", env=at("2026-11-26T10:00:30Z")).stdout == ""
    # past it: the claimer died; monitor stale says so, and the next ask reclaims it
    res = cli("monitor", "stale", "--older-than", "1d", "--json", env=at("2026-11-26T10:02:00Z"))
    assert res.exit_code == 1
    [finding] = res.json()["findings"]
    assert finding["taskId"] == tid and finding["reason"] == "lease expired"
    again = cli("task", "next", "--agent", "a", "--claim", "--json", env=at("2026-11-26T10:02:00Z")).json()
    assert again["taskId"] == tid and again["leaseExpiresAt"] == "2026-11-26T10:03:00Z"
    [ev] = [e for e in events(ws) if e["change"] == "reclaimed"]
    assert ev["taskId"] == tid and ev["before"]["claimedBy"] == "a" and ev["before"]["leaseExpiresAt"] == "2026-11-26T10:01:00Z"


def test_task_release_gives_the_claim_back(ws: Path) -> None:
    cli = Cli(ws)
    tid = add(cli, "work", "--agent", "a")
    cli("task", "next", "--agent", "a", "--claim")
    res = cli("task", "release", tid, "--json")
    assert res.exit_code == 0
    task = res.json()
    assert task["status"] == "todo" and task["claimedBy"] is None and task["leaseExpiresAt"] is None
    assert [e for e in events(ws) if e["change"] == "released"]
    res = cli("task", "release", tid)
    assert res.exit_code == 5 and "not claimed" in res.stderr
    assert cli("task", "next", "--agent", "a").stdout.strip() == tid


def test_run_with_nothing_but_the_agent_runs_its_own_command(ws: Path) -> None:
    cli = Cli(ws)
    res = cli("run", "a")
    assert res.exit_code == 0 and "a: success" in res.stdout
    write_agent(ws, "quiet", "name: quiet\ntier: economy\n")  # an LLM agent with no prompt of its own
    res = cli("run", "quiet")
    assert res.exit_code == 2 and "no prompt of its own" in res.stderr


def test_status_watch_draws_a_live_board(ws: Path) -> None:
    cli = Cli(ws)
    add(cli, "blocked thing", "--agent", "a")
    cli("task", "block", "T-1", "--by", "legal review")
    res = cli("status", "--watch", env={"AGENTCTL_WATCH_MAX": "2", "AGENTCTL_WATCH_INTERVAL": "0.01"})
    assert res.exit_code == 0, res.stderr
    assert "agentctl board" in res.stdout and "Nothing running now." in res.stdout and "legal review" in res.stdout
