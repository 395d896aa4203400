"""Compare-and-set of a run's task (SPEC §5, issue 13): real processes change the task
while its agent runs; the finishing run must not overwrite them.

The agent (a command) announces that it started, then waits for a ``go`` file; the test
changes the task from another process in between. Checked once by hand: with the
version check in ``runner._store_task`` removed, every case but the agent's own block
fails (the result overwrites the change).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_reliability import make_rel_ws

AGENT = ("import json, os, pathlib, sys, time\n"
         "here = pathlib.Path('..')\n"
         "(here / 'started').write_text('1')\n"
         "deadline = time.monotonic() + 30\n"
         "while not (here / 'go').exists() and time.monotonic() < deadline:\n"
         "    time.sleep(0.01)\n"
         "if len(sys.argv) > 1:\n"
         "    os.system(sys.argv[1])\n"
         "json.dump({'ok': True}, open(os.environ['AGENTCTL_OUTPUT'], 'w'))\n")


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}, **extra}


def agentctl(root: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentctl", "-w", str(root), *argv], capture_output=True,
                          text=True, env=_env(**env), timeout=60)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    block = f"{sys.executable} -m agentctl task block $AGENTCTL_TASK --by 'needs the API spec'"
    agents = {"worker": {"name": "worker", "runtime": "command", "command": [sys.executable, "-c", AGENT],
                         "timeout_s": 60},
              "blocker": {"name": "blocker", "runtime": "command",
                          "command": [sys.executable, "-c", AGENT, block], "timeout_s": 60},
              "other": {"name": "other", "runtime": "command", "command": ["true"]}}
    root = make_rel_ws(tmp_path / "ws", agents=agents)
    for agent in ("worker", "blocker"):
        assert agentctl(root, "task", "add", "--title", "work", "--agent", agent).returncode == 0
    return root


def _run_while(root: Path, agent: str, task: str, change: list[str] | None) -> subprocess.CompletedProcess[str]:
    """Start ``run``; once its agent is executing, apply ``change`` from another process; let it finish."""
    proc = subprocess.Popen([sys.executable, "-m", "agentctl", "-w", str(root), "run", agent, "--task", task],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 30
    while not (root.parent / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    if change is not None:
        res = agentctl(root, *change)
        assert res.returncode == 0, res.stderr
    (root.parent / "go").write_text("1")
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _task(root: Path, tid: str) -> dict:
    return json.loads(agentctl(root, "task", "show", tid, "--json").stdout)


def _events(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "logs" / "events.jsonl").read_text().splitlines()]


def _records(root: Path) -> list[dict]:
    return [json.loads(x) for p in (root / "logs" / "runs").glob("*.jsonl") for x in p.read_text().splitlines()]


CHANGES = {
    "cancelled": (["task", "update", "T-1", "--status", "cancelled"], lambda t: t["status"] == "cancelled"),
    "blocked": (["task", "block", "T-1", "--by", "legal review"], lambda t: t["blockedBy"] == "legal review"),
    "reassigned": (["task", "update", "T-1", "--set", "agent=other"], lambda t: t["agent"] == "other"),
    "phase": (["task", "update", "T-1", "--phase", "qa"], lambda t: t["phase"] == "qa"),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_task_changed_during_the_run_keeps_the_change(ws: Path, kind: str) -> None:
    change, kept = CHANGES[kind]
    res = _run_while(ws, "worker", "T-1", change)
    assert res.returncode == 5, (res.returncode, res.stderr)
    assert "result not applied: task changed during the run (user:" in res.stderr
    task = _task(ws, "T-1")
    assert kept(task), task
    assert task["output"] is None  # the result was not applied …
    [record] = _records(ws)
    assert record["status"] == "success"  # … but the run is recorded as executed
    assert (ws / "artifacts" / "T-1" / "output.json").exists()  # and its artifact kept beside
    [event] = [e for e in _events(ws) if e["change"] == "result not applied"]
    assert event["actor"] == "worker" and event["after"]["runId"] == record["runId"]
    assert event["after"]["reason"].startswith("result not applied: task changed during the run (user:")


def test_an_unrelated_change_does_not_stop_the_result(ws: Path) -> None:
    res = _run_while(ws, "worker", "T-1", ["task", "update", "T-1", "--pr", "https://example.test/pr/1"])
    assert res.returncode == 0, res.stderr
    task = _task(ws, "T-1")
    assert task["status"] == "done" and task["pr"] == "https://example.test/pr/1"


def test_the_agent_blocking_its_own_task_stays_blocked(ws: Path) -> None:
    res = _run_while(ws, "blocker", "T-2", None)
    assert res.returncode == 0, res.stderr
    task = _task(ws, "T-2")
    assert task["status"] == "blocked" and task["blockedBy"] == "needs the API spec"
    assert task["output"] == "artifacts/T-2/output.json"


def test_versions_count_every_change(ws: Path) -> None:
    before = _task(ws, "T-1")["version"]
    assert agentctl(ws, "task", "update", "T-1", "--phase", "x").returncode == 0
    assert _task(ws, "T-1")["version"] == before + 1
    raw = json.loads((ws / "tasks.json").read_text())
    for t in raw["tasks"]:
        del t["version"]  # a registry written before versions existed still loads
    (ws / "tasks.json").write_text(json.dumps(raw))
    assert _task(ws, "T-1")["version"] == 0
