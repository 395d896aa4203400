"""The work loop with real processes (SPEC §13): a fleet of loops drains a pipeline; a dead
claimer's lease lapses and its late result is refused; signals release the claim;
max_concurrent holds across processes; transient failures are retried."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import Cli, _clean_env, write_agent

from agentctl.storage.files.inflight import pid_alive

NOTE = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["by"],
        "properties": {"by": {"type": "string"}}}
STAGES = [{"stage": "draft", "agent": "a", "produces": "note"},
          {"stage": "check", "agent": "b", "consumes": "note", "produces": "note", "gate": True},
          {"stage": "ship", "agent": "c", "consumes": "note", "produces": "note"}]
# the spawner delegates three tasks to c on its first run, then finishes its own work
AGENT_A = """\
import json, os, pathlib
task = os.environ["AGENTCTL_TASK"]
out = {"by": "a", "run": os.environ["AGENTCTL_RUN_ID"]}
marker = pathlib.Path("artifacts", task, ".spawned")
if task == os.environ.get("SPAWNER") and not marker.exists():
    marker.write_text("1")
    out["spawn"] = [{"title": f"part {i}", "agent": "c"} for i in range(3)]
json.dump(out, open(os.environ["AGENTCTL_OUTPUT"], "w"))
"""
WRITE = ("import json, os; json.dump({'by': os.environ['AGENTCTL_AGENT'], 'run': os.environ['AGENTCTL_RUN_ID']}, "
         "open(os.environ['AGENTCTL_OUTPUT'], 'w'))")
# a slow first attempt per task (marker file), quick ones after; writes who ran it
SLOW = """\
import json, os, pathlib, sys, time
task = os.environ["AGENTCTL_TASK"]
marker = pathlib.Path("started-" + task)
first = not marker.exists()
pathlib.Path(f"{marker}.tmp").write_text(str(os.getpid()))
pathlib.Path(f"{marker}.tmp").replace(marker)
if first:
    deadline = time.time() + float(sys.argv[1])
    while time.time() < deadline and not pathlib.Path("go").exists():
        time.sleep(0.02)
json.dump({"by": os.environ["AGENTCTL_RUN_ID"]}, open(os.environ["AGENTCTL_OUTPUT"], "w"))
"""


def agentctl(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agentctl", "-w", str(root), *args], env=_clean_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(check, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def tasks(root: Path) -> dict[str, dict]:
    try:
        return {t["taskId"]: t for t in json.loads((root / "tasks.json").read_text())["tasks"]}
    except (FileNotFoundError, ValueError):
        return {}


def events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines() if line.strip()]


def records(root: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((root / "logs" / "runs").glob("*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


def command_agent(root: Path, name: str, argv: list[str], **extra) -> None:
    write_agent(root, name, yaml.safe_dump({"name": name, "runtime": "command", "command": argv, **extra}))


@pytest.fixture
def fleet_ws(minimal_ws: Path) -> Path:
    (minimal_ws / "schemas" / "note.json").write_text(json.dumps(NOTE))
    cfg = yaml.safe_load((minimal_ws / "agentctl.yaml").read_text())
    cfg["pipeline"] = STAGES
    (minimal_ws / "agentctl.yaml").write_text(yaml.safe_dump(cfg))
    (minimal_ws / "agent_a.py").write_text(AGENT_A)
    command_agent(minimal_ws, "a", [sys.executable, "agent_a.py"], produces="note", max_concurrent=3)
    command_agent(minimal_ws, "b", [sys.executable, "-c", WRITE], consumes="note", produces="note", max_concurrent=3)
    command_agent(minimal_ws, "c", [sys.executable, "-c", WRITE], consumes="note", produces="note", max_concurrent=3)
    return minimal_ws


def test_eight_loops_drain_a_sixty_task_pipeline_with_a_spawn_and_a_gate(fleet_ws: Path) -> None:
    cli = Cli(fleet_ws)
    seeds = [cli("task", "add", "--title", f"feature {i}", "--agent", "a", "--phase", "draft").stdout.strip()
             for i in range(19)]
    env = {"SPAWNER": seeds[0]}
    loops = [agentctl(fleet_ws, "work", agent, "--poll", "0.1", env=env) for agent in "aaabbbcc"]
    approved: set[str] = set()
    try:
        def drained() -> bool:
            for gate in cli("gate", "list", "--json").json():  # the person at the gate
                if gate["taskId"] not in approved and cli("gate", "approve", gate["taskId"], "--by", "ana").exit_code == 0:
                    approved.add(gate["taskId"])
            state = tasks(fleet_ws)
            return len(state) == 60 and all(t["status"] == "done" for t in state.values())
        wait_for(drained, timeout=240, what="the pipeline to drain")
    finally:
        for p in loops:
            p.send_signal(signal.SIGTERM)
        results = [finish(p) for p in loops]
    assert all(code == 0 for code, _, _ in results), results
    state, evs, recs = tasks(fleet_ws), events(fleet_ws), records(fleet_ws)
    assert len(approved) == 19

    done_at = {}
    for i, e in enumerate(evs):
        if e["change"] == "status" and e["after"] == "done":
            assert e["taskId"] not in done_at, f"{e['taskId']} done twice"
            done_at[e["taskId"]] = i
    assert set(done_at) == set(state)
    started_at: dict[str, int] = {}
    for i, e in enumerate(evs):
        if e["change"] == "status" and e["after"] == "in_progress":
            started_at.setdefault(e["taskId"], i)
    for t in state.values():
        for dep in t["dependsOn"]:
            assert done_at[dep] < started_at[t["taskId"]], f"{t['taskId']} started before {dep} was done"
    kids = [t for t in state.values() if t["parent"] == seeds[0]]
    assert len(kids) == 3 and all(done_at[k["taskId"]] < done_at[seeds[0]] for k in kids)

    runs = Counter(r["taskId"] for r in recs)
    assert {r["status"] for r in recs} == {"success"}
    assert runs[seeds[0]] == 2 and all(n == 1 for tid, n in runs.items() if tid != seeds[0])
    assert set(runs) == set(state) and len(recs) == 61
    created = {e["taskId"] for e in evs if e["change"] == "create"}
    claimed_by_run = {e["after"] for e in evs if e["change"] == "claimRun" and e["after"]}
    assert created == set(state) and {r["runId"] for r in recs} <= claimed_by_run
    assert sum(1 for e in evs if e["change"] == "gateDecision") == 19
    assert not json.loads((fleet_ws / "state" / "running.json").read_text())["slots"]


@pytest.fixture
def slow_ws(minimal_ws: Path) -> Path:
    (minimal_ws / "slow.py").write_text(SLOW)
    command_agent(minimal_ws, "slow", [sys.executable, "slow.py", "6"], lease_s=1, timeout_s=30)
    return minimal_ws


def _started(root: Path, tid: str) -> bool:
    return (root / f"started-{tid}").exists() and tasks(root)[tid].get("claimRun") is not None


def test_a_killed_loop_s_lease_lapses_and_another_loop_finishes_the_task(slow_ws: Path) -> None:
    cli = Cli(slow_ws)
    tid = cli("task", "add", "--title", "long job", "--agent", "slow").stdout.strip()
    first = agentctl(slow_ws, "work", "slow", "--once")
    wait_for(lambda: _started(slow_ws, tid), what="the first loop's run")
    dead_run = tasks(slow_ws)[tid]["claimRun"]
    first.send_signal(signal.SIGKILL)
    finish(first)
    wait_for(lambda: cli("monitor", "stale", "--json").exit_code == 1, timeout=10, what="the lease to lapse")
    assert cli("monitor", "stale", "--json").json()["findings"][0]["reason"] == "lease expired"
    code, out, err = finish(agentctl(slow_ws, "work", "slow", "--once"))
    assert code == 0, err
    task = tasks(slow_ws)[tid]
    assert task["status"] == "done" and task["claimRun"] is None
    [ev] = [e for e in events(slow_ws) if e["change"] == "reclaimed"]
    assert ev["before"]["claimRun"] == dead_run and ev["before"]["claimedBy"] == "slow"
    assert [r["status"] for r in records(slow_ws)] == ["success"]  # the dead loop recorded nothing


def test_a_frozen_claimer_s_late_result_is_refused(slow_ws: Path) -> None:
    cli = Cli(slow_ws)
    tid = cli("task", "add", "--title", "long job", "--agent", "slow").stdout.strip()
    frozen = agentctl(slow_ws, "work", "slow", "--once")
    wait_for(lambda: _started(slow_ws, tid), what="the first loop's run")
    late_run = tasks(slow_ws)[tid]["claimRun"]
    frozen.send_signal(signal.SIGSTOP)  # its lease renewal stops with it; its command goes on
    try:
        time.sleep(1.3)  # past the 1 s lease, measured by the system clock the loops use
        code, _, err = finish(agentctl(slow_ws, "work", "slow", "--once"))
        assert code == 0, err
        winner = tasks(slow_ws)[tid]
        assert winner["status"] == "done"
        (slow_ws / "go").write_text("1")  # the frozen claimer's command finishes too
    finally:
        frozen.send_signal(signal.SIGCONT)
    code, out, err = finish(frozen)
    assert code == 5 and "result not applied" in err + out
    task = tasks(slow_ws)[tid]
    assert task["status"] == "done" and task["output"] == winner["output"] and task["updatedAt"] == winner["updatedAt"]
    assert json.loads((slow_ws / task["output"]).read_text())["by"] != late_run  # the winner's artifact stays
    assert (slow_ws / "artifacts" / tid / f"output.not-applied.{late_run}.json").is_file()
    [refused] = [e for e in events(slow_ws) if e["change"] == "result not applied"]
    assert refused["after"]["runId"] == late_run
    assert sum(1 for e in events(slow_ws) if e["change"] == "status" and e["after"] == "done") == 1


def test_sigterm_releases_the_claim_and_stops_the_command(slow_ws: Path) -> None:
    cli = Cli(slow_ws)
    command_agent(slow_ws, "slow", [sys.executable, "slow.py", "30"])
    tid = cli("task", "add", "--title", "long job", "--agent", "slow").stdout.strip()
    loop = agentctl(slow_ws, "work", "slow", "--poll", "0.1")
    wait_for(lambda: _started(slow_ws, tid), what="the run")
    child = int((slow_ws / f"started-{tid}").read_text())
    t0 = time.monotonic()
    loop.send_signal(signal.SIGTERM)
    code, out, err = finish(loop)
    assert code == 0, err
    assert time.monotonic() - t0 < 10 and "stopped by SIGTERM" in out
    task = tasks(slow_ws)[tid]
    assert task["status"] == "todo" and task["claimedBy"] is None and task["claimRun"] is None
    [ev] = [e for e in events(slow_ws) if e["change"] == "released"]
    assert "SIGTERM" in ev["after"]["why"]
    wait_for(lambda: not pid_alive(child), timeout=5, what="the command to be stopped")
    assert cli("task", "next", "--agent", "slow").stdout.strip() == tid




def test_max_concurrent_holds_across_processes_and_runs_shows_what_is_running(slow_ws: Path) -> None:
    cli = Cli(slow_ws)
    first_task = cli("task", "add", "--title", "one", "--agent", "slow").stdout.strip()
    second_task = cli("task", "add", "--title", "two", "--agent", "slow").stdout.strip()
    command_agent(slow_ws, "slow", [sys.executable, "slow.py", "30"], max_concurrent=1)
    first = agentctl(slow_ws, "run", "slow", "--task", first_task)
    wait_for(lambda: _started(slow_ws, first_task), what="the first run")
    code, _, err = finish(agentctl(slow_ws, "run", "slow", "--task", second_task))
    assert code == 75 and "max_concurrent=1" in err
    running = cli("runs", "--running", "--json").json()
    assert [(r["agent"], r["taskId"], r["pid"]) for r in running] == [("slow", first_task, first.pid)]
    assert running[0]["elapsedS"] is not None and running[0]["model"].startswith(sys.executable[:20])
    board = cli("status")
    assert "Running now:" in board.stdout and first_task in board.stdout
    assert cli("status", "--json").json()["running"][0]["taskId"] == first_task
    log = slow_ws.parent / "loop.out"
    with log.open("w") as out_fh:
        waiting = subprocess.Popen([sys.executable, "-m", "agentctl", "-w", str(slow_ws), "work", "slow", "--once",
                                    "--poll", "0.1"], env=_clean_env(), stdout=out_fh, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: "waiting for a slot" in log.read_text(), what="the second loop to wait")
        assert tasks(slow_ws)[second_task]["status"] == "todo"  # it waits: it claimed nothing
        (slow_ws / "go").write_text("1")
        assert finish(first)[0] == 0
        code, _, err = finish(waiting)
    assert code == 0, err
    assert tasks(slow_ws)[second_task]["status"] == "done"
    assert cli("runs", "--running", "--json").json() == []
    recent = cli("runs", "--agent", "slow", "--json").json()
    assert len(recent) == 2 and {r["status"] for r in recent} == {"success"}  # the refused run never started
    shown = cli("runs", "show", recent[0]["runId"], "--json").json()
    assert shown["runId"] == recent[0]["runId"] and shown["running"] is False and shown["outputFile"]
    assert cli("runs", "show", "r-20261126T100000Z-abcdef").exit_code == 2


def test_transient_failures_are_retried_with_backoff_then_the_task_fails(minimal_ws: Path) -> None:
    cli = Cli(minimal_ws)
    flaky = ("import json, os, pathlib, sys; p = pathlib.Path('count'); n = int(p.read_text()) if p.exists() else 0; "
             "p.write_text(str(n + 1)); "
             "n < int(os.environ['FAILS']) and sys.exit(75); "  # 75: rate limited, try later
             "json.dump({'ok': 1}, open(os.environ['AGENTCTL_OUTPUT'], 'w'))")
    command_agent(minimal_ws, "flaky", [sys.executable, "-c", flaky], retries=2, breaker={"threshold": 100})
    env = {"AGENTCTL_WORK_BACKOFF_S": "0.001", "FAILS": "2"}
    tid = cli("task", "add", "--title", "t", "--agent", "flaky").stdout.strip()
    res = cli("work", "flaky", "--once", env=env)
    assert res.exit_code == 0 and "retry 2/2" in res.stdout
    assert tasks(minimal_ws)[tid]["status"] == "done"
    assert [r["status"] for r in records(minimal_ws)] == ["failure", "failure", "success"]
    (minimal_ws / "count").unlink()
    tid = cli("task", "add", "--title", "t2", "--agent", "flaky").stdout.strip()
    res = cli("work", "flaky", "--once", env={**env, "FAILS": "5"})
    assert res.exit_code == 1
    task = tasks(minimal_ws)[tid]
    assert task["status"] == "failed" and task["claimedBy"] is None
    assert [r["status"] for r in records(minimal_ws)][3:] == ["failure"] * 3


def test_an_open_breaker_pauses_the_loop_until_its_probe_time(minimal_ws: Path) -> None:
    from agentctl.cli.common import now
    from agentctl.run.work import WorkLoop, WorkOptions
    from agentctl.workspace.loader import Workspace

    cli = Cli(minimal_ws)
    command_agent(minimal_ws, "w", [sys.executable, "-c", WRITE], breaker={"cooldown_s": 120})
    cli("task", "add", "--title", "t", "--agent", "w")
    assert cli("breaker", "trip", "w").exit_code == 0
    loop = WorkLoop(Workspace(minimal_ws), "w", WorkOptions(until_idle=True), now)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        loop.stop_event.set()

    loop.wait = wait  # type: ignore[method-assign]
    summary = loop.run()
    assert 110 <= waits[0] <= 120 and summary.tasks == 0
    assert not (minimal_ws / "logs" / "runs").exists() or not records(minimal_ws)


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    import random

    from agentctl.run.work import WorkOptions, backoff_delay

    opts, rng = WorkOptions(backoff_s=2, backoff_cap_s=60), random.Random(7)
    for attempt, (lo, hi) in enumerate([(1, 2), (2, 4), (4, 8), (8, 16)]):
        delays = {backoff_delay(attempt, opts, rng) for _ in range(20)}
        assert all(lo <= d <= hi for d in delays) and len(delays) > 1
    assert all(30 <= backoff_delay(12, opts, rng) <= 60 for _ in range(10))


def test_a_live_run_renews_its_lease_so_nobody_reclaims_it(slow_ws: Path) -> None:
    cli = Cli(slow_ws)
    command_agent(slow_ws, "slow", [sys.executable, "slow.py", "4"], lease_s=1, timeout_s=30, max_concurrent=2)
    tid = cli("task", "add", "--title", "longer than its lease", "--agent", "slow").stdout.strip()
    loop = agentctl(slow_ws, "work", "slow", "--once")
    wait_for(lambda: _started(slow_ws, tid), what="the run")
    for _ in range(5):  # well past the 1 s lease, the claim is still alive
        time.sleep(0.5)
        assert cli("task", "next", "--agent", "slow", "--claim").stdout == ""
    code, _, err = finish(loop)
    assert code == 0, err
    assert tasks(slow_ws)[tid]["status"] == "done"
    assert not [e for e in events(slow_ws) if e["change"] in ("reclaimed", "result not applied")]
    assert [e for e in events(slow_ws) if e["change"] == "leaseExpiresAt"]
