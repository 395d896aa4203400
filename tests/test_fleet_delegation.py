"""Delegation (SPEC §13): an artifact's `spawn` becomes child tasks; the parent waits; `task tree`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Cli, write_agent

BOSS = """\
import json, os, pathlib
task = os.environ["AGENTCTL_TASK"]
marker = pathlib.Path("artifacts", task, ".spawned")
spawn = json.loads(os.environ.get("SPAWN", "null"))
if marker.exists() or spawn is None:
    out = {"plan": "all delegated work is done"}
else:
    marker.write_text("1")
    out = {"plan": "split in two", "spawn": spawn}
json.dump(out, open(os.environ["AGENTCTL_OUTPUT"], "w"))
"""
WORKER = "import json, os; json.dump({'ok': os.environ['AGENTCTL_TASK']}, open(os.environ['AGENTCTL_OUTPUT'], 'w'))"
TWO = [{"title": "child one", "agent": "w"}, {"title": "child two", "agent": "w", "dependsOn": [0], "priority": "high"}]


@pytest.fixture
def ws(minimal_ws: Path) -> Path:
    (minimal_ws / "boss.py").write_text(BOSS)
    write_agent(minimal_ws, "boss", yaml.safe_dump({"name": "boss", "role": "orchestrator", "runtime": "command",
                                                    "command": [sys.executable, "boss.py"]}))
    write_agent(minimal_ws, "w", yaml.safe_dump({"name": "w", "runtime": "command",
                                                 "command": [sys.executable, "-c", WORKER]}))
    return minimal_ws


def events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines() if line.strip()]


def tasks(root: Path) -> dict[str, dict]:
    return {t["taskId"]: t for t in json.loads((root / "tasks.json").read_text())["tasks"]}


def test_spawned_children_block_the_parent_until_they_are_done(ws: Path) -> None:
    cli = Cli(ws)
    env = {"SPAWN": json.dumps(TWO)}
    parent = cli("task", "add", "--title", "launch plan", "--agent", "boss").stdout.strip()
    res = cli("work", "boss", "--once", env=env)
    assert res.exit_code == 0, res.stderr
    state = tasks(ws)
    kids = [t for t in state.values() if t["parent"] == parent]
    assert [k["title"] for k in kids] == ["child one", "child two"]
    one, two = kids
    assert two["dependsOn"] == [one["taskId"]] and two["priority"] == "high" and one["agent"] == "w"
    assert state[parent]["status"] == "blocked" and state[parent]["blockedOn"] == [one["taskId"], two["taskId"]]
    assert state[parent]["claimedBy"] is None
    run_id = next(e["after"]["runId"] for e in events(ws) if e["change"] == "spawn")
    spawned = [e for e in events(ws) if e["change"] == "spawnedBy"]
    assert {e["taskId"] for e in spawned} == {one["taskId"], two["taskId"]}
    assert {e["after"]["runId"] for e in spawned} == {run_id}
    assert cli("task", "next", "--agent", "boss").stdout == ""  # waits on its children

    assert cli("work", "w", "--until-idle", "--poll", "0").exit_code == 0
    done = [e["taskId"] for e in events(ws) if e["change"] == "status" and e["after"] == "done"]
    assert done == [one["taskId"], two["taskId"]]  # child two depends on child one
    assert cli("task", "next", "--agent", "boss").stdout.strip() == parent  # ready again
    assert cli("work", "boss", "--once", env=env).exit_code == 0
    prompt = (ws / "artifacts" / parent / "boss.prompt.md").read_text()
    assert "## Tasks you delegated" in prompt and f"{two['taskId']} (w, done): child two" in prompt
    final = tasks(ws)[parent]
    assert final["status"] == "done" and final["blockedOn"] == [] and final["blockedBy"] is None
    assert "spawn" not in json.loads((ws / final["output"]).read_text())


def test_task_tree_shows_status_agent_and_cost_with_unpriced_runs_named(ws: Path) -> None:
    cli = Cli(ws)
    parent = cli("task", "add", "--title", "plan", "--agent", "boss").stdout.strip()
    child = cli("task", "add", "--title", "part", "--agent", "w", "--parent", parent).stdout.strip()
    grand = cli("task", "add", "--title", "sub-part", "--agent", "w", "--parent", child).stdout.strip()
    day = json.loads((ws / "tasks.json").read_text())["tasks"][0]["createdAt"][:10]
    log = ws / "logs" / "runs" / f"{day}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    recs = [(parent, 0.25), (child, None), (grand, 0.5), (grand, 0.125)]
    log.write_text("".join(json.dumps({"runId": f"r-{i}", "startedAt": f"{day}T23:59:0{i}Z", "endedAt": f"{day}T23:59:09Z",
                                       "agent": "w", "taskId": tid, "status": "success", "costUsd": cost}) + "\n"
                           for i, (tid, cost) in enumerate(recs)))
    res = cli("task", "tree", parent, "--json")
    assert res.exit_code == 0, res.stderr
    root = res.json()
    assert root["taskId"] == parent and root["agent"] == "boss" and root["status"] == "todo"
    assert root["costUsd"] == 0.25 and root["totalCostUsd"] == 0.875 and root["totalUnpricedRuns"] == 1
    [kid] = root["children"]
    assert kid["taskId"] == child and kid["costUsd"] == 0 and kid["unpricedRuns"] == 1
    assert kid["children"][0]["taskId"] == grand and kid["children"][0]["costUsd"] == 0.625
    text = cli("task", "tree", parent).stdout
    assert "1 unpriced run(s)" in text and "└─ " in text and grand in text
    assert cli("task", "tree", "NOPE-1").exit_code == 2


@pytest.mark.parametrize(("spawn", "message"), [
    ([{"title": "x", "agent": "ghost"}], "spawn[0].agent"),
    ([{"title": "x", "agent": "w"}] * 51, "at most 50"),
    ([{"title": "", "agent": "w"}], "spawn[0].title"),
])
def test_an_invalid_spawn_rejects_the_output_and_creates_nothing(ws: Path, spawn: list, message: str) -> None:
    cli = Cli(ws)
    parent = cli("task", "add", "--title", "plan", "--agent", "boss").stdout.strip()
    res = cli("run", "boss", "--task", parent, env={"SPAWN": json.dumps(spawn)})
    assert res.exit_code == 3 and message in res.stderr
    assert list(tasks(ws)) == [parent] and tasks(ws)[parent]["status"] == "rejected"
