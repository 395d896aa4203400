"""Concurrency with real processes: zero lost updates, no duplicate executions, no stuck locks.

One mixed workload — N processes at once doing registry updates, command-agent runs,
cron invocations, breaker outcomes and idempotency-ledger entries — checked at the
end against what every worker recorded it did. Then `agentctl cron run` of one slot
from N processes (exactly one execution), and locks held by killed processes (the next
caller gets them at once). The 16-process registry test and the SIGKILL'd registry
writer live in test_registry_concurrency.py.

Checked once by hand: with `store.files.locked` (and every module's imported copy)
replaced by a no-op, the mixed workload loses registry updates, breaker failures and
ledger keys, and the shared idempotency keys execute more than once.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Cli
from fixtures_reliability import T0, make_rel_ws, run_records

import agentctl.breakers.breaker
import agentctl.cron.jobs
import agentctl.run.idempotency
import agentctl.run.runner  # noqa: F401 — imported before forking
from agentctl.workspace.loader import Workspace

FORK = mp.get_context("fork")
WORKERS = 8
ROUNDS = 6


def _worker(root: str, idx: int, barrier, out) -> None:
    from agentctl.breakers import breaker
    from agentctl.cron.jobs import run_job
    from agentctl.errors import TryLater
    from agentctl.registry.service import Update, update_task
    from agentctl.run import idempotency
    from agentctl.run.runner import RunRequest, run_agent

    ws = Workspace(Path(root))
    flaky = ws.agent("flaky")
    did: dict[str, list] = {"runs": [], "shared": [], "cron": [], "failures": [], "keys": []}
    barrier.wait()
    for j in range(ROUNDS):
        # registry: one key per worker on a shared task, and the worker's own task
        update_task(ws, "T-1", Update(checks=[f"w{idx}={j}"]), f"w{idx}", T0)
        update_task(ws, f"T-{idx + 2}", Update(sets=[f"notes={j}"]), f"w{idx}", T0)
        # a command-agent run
        out_ = run_agent(ws, RunRequest(agent="cmd", prompt=f"w{idx}-{j}"), lambda: T0)
        did["runs"].append((out_.record.runId, out_.exit_code))
        # a breaker outcome (a failure that never trips: each one must be kept)
        now = T0 + timedelta(seconds=idx * 1000 + j)
        breaker.record_outcome(ws, flaky, False, now, breaker.Admission())
        did["failures"].append(now.isoformat())
        # ledger: a key of its own, and one key all workers race for
        key = f"w{idx}-{j}"
        assert isinstance(idempotency.reserve(ws.storage.idempotency, key, "fp", T0), idempotency.Reserved)
        idempotency.complete(ws.storage.idempotency, key, "fp", {"runId": key}, T0)
        did["keys"].append(key)
        try:
            got = idempotency.reserve(ws.storage.idempotency, f"shared-{j}", "fp", T0)
            if isinstance(got, idempotency.Reserved):
                did["shared"].append(f"shared-{j}")  # this worker "executes" it
                idempotency.complete(ws.storage.idempotency, f"shared-{j}", "fp", {"runId": f"w{idx}"}, T0)
        except TryLater:
            pass  # in flight in another worker: not executed here
        # cron: every worker asks for the same slot
        slot = T0 + timedelta(minutes=j)
        outcome = run_job(ws, "tick", slot, lambda slot=slot: slot, scheduled=True)
        if outcome.records and outcome.records[-1].status == "success":
            did["cron"].append(outcome.slot)
    out.put((idx, did))


def test_mixed_workload_loses_nothing_and_executes_nothing_twice(tmp_path: Path) -> None:
    from agentctl.registry.service import NewTask, add_task

    root = make_rel_ws(tmp_path / "ws")
    ws = Workspace(root)
    for i in range(WORKERS + 1):
        add_task(ws, NewTask(title=f"task {i}"), "setup", T0)
    barrier, out = FORK.Barrier(WORKERS), FORK.Queue()
    procs = [FORK.Process(target=_worker, args=(str(root), i, barrier, out)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0

    problems: list[str] = []  # every check, so one failing run shows all that went wrong

    def check(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    # registry: no lost update
    tasks = {t["taskId"]: t for t in json.loads((root / "tasks.json").read_text())["tasks"]}
    shared_checks = {k: v for k, v in tasks["T-1"]["checks"].items() if k.startswith("w")}
    check(shared_checks == {f"w{i}": ROUNDS - 1 for i in range(WORKERS)}, f"registry lost updates: {shared_checks}")
    check(all(tasks[f"T-{i + 2}"]["notes"] == str(ROUNDS - 1) for i in range(WORKERS)), "registry lost own-task updates")
    events = [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines() if line]
    check(len(events) == WORKERS + 1 + 2 * WORKERS * ROUNDS, f"{len(events)} events")

    # runs: every run recorded once, each with its artifact
    recs = run_records(root)
    cmd_runs = {r["runId"]: r for r in recs if r["agent"] == "cmd"}
    done = [rid for d in results.values() for rid, code in d["runs"]]
    check(sorted(cmd_runs) == sorted(done) and len(done) == WORKERS * ROUNDS, "run records lost or duplicated")
    check(all(code == 0 for d in results.values() for _, code in d["runs"]), "a run failed")
    check(all((root / r["output"]).is_file() for r in cmd_runs.values()), "an artifact is missing")

    # breaker: every failure kept
    saved = json.loads((root / "state" / "breakers.json").read_text())["agents"]["flaky"]
    check(len(saved["failures"]) == WORKERS * ROUNDS, f"breaker kept {len(saved['failures'])} failures")

    # ledger: every own key kept; every shared key executed by exactly one worker
    keys = dict(Workspace(root).storage.idempotency.items())
    own = [k for d in results.values() for k in d["keys"]]
    lost = [k for k in own if (keys.get(k) or {}).get("state") != "done"]
    check(not lost and len(own) == WORKERS * ROUNDS, f"ledger lost {len(lost)} keys")
    shared = Counter(k for d in results.values() for k in d["shared"])
    check(shared == Counter({f"shared-{j}": 1 for j in range(ROUNDS)}), f"shared keys executed: {dict(shared)}")

    # cron: no slot executed twice, and the records agree with what the workers saw
    claimed = Counter(s for d in results.values() for s in d["cron"])
    check(bool(claimed) and all(n == 1 for n in claimed.values()), f"cron executions per slot: {dict(claimed)}")
    executed = Counter(r["idempotencyKey"] for r in recs if r.get("job") == "tick" and r["status"] == "success")
    check(all(n == 1 for n in executed.values()), f"cron records per slot: {dict(executed)}")
    check(sorted(k.split(":", 1)[1] for k in executed) == sorted(claimed), "cron records disagree with the workers")
    assert not problems, problems


SLOW_JOB = [{"name": "nightly", "schedule": "0 3 * * *", "agent": "slow", "prompt": "go"}]


def test_cron_run_of_one_slot_from_many_processes_executes_once(tmp_path: Path) -> None:
    executions = tmp_path / "executions.txt"
    slow = {"name": "slow", "runtime": "command", "timeout_s": 30,
            "command": ["sh", "-c", f'echo $$ >> "{executions}"; sleep 0.3; printf "{{}}" > "$AGENTCTL_OUTPUT"']}
    root = make_rel_ws(tmp_path / "ws", agents={"slow": slow}, cron=SLOW_JOB)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}
    env["AGENTCTL_NOW"] = "2026-03-02T03:00:30Z"
    procs = [subprocess.Popen([sys.executable, "-m", "agentctl", "-w", str(root), "cron", "run", "nightly", "--scheduled", "--json"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [(*p.communicate(timeout=60), p.returncode) for p in procs]
    outs = [(code, out, err) for out, err, code in outs]
    assert all(code == 0 for code, _, _ in outs), outs
    assert len(executions.read_text().splitlines()) == 1, outs
    statuses = Counter(json.loads(o)["status"] for _, o, _ in outs)
    assert statuses["success"] == 1 and set(statuses) <= {"success", "skipped", "duplicate"}, statuses
    recs = [r for r in run_records(root) if r.get("job") == "nightly"]
    assert all(r["agent"] == "slow" and r["trigger"] == "cron" for r in recs)  # attributed
    assert [r["status"] for r in recs].count("success") == 1


def _hold(path: str, ready) -> None:
    from agentctl.storage.files.durable import locked

    with locked(Path(path), timeout=5):
        ready.set()
        time.sleep(60)


def _keyed_rel(kind: str, key: str) -> str:
    """A per-key entry's lock is its bucket's (state/<kind>/<hh>/bucket.lock)."""
    from agentctl.storage.files.keyed import FileKeyed
    return str(FileKeyed(Path("."), kind).path_for(key).parent / "bucket")


LOCKED_FILES = {
    "breakers": ("state/breakers.json", ["breaker", "trip", "flaky"]),
    "ledger": (_keyed_rel("idempotency", "k"), ["run", "cmd", "--prompt", "p", "--idempotency-key", "k"]),
    "regressions": ("memory/regressions.yaml", ["regressions", "approve", "REG-001"]),
    "cron-ledger": (_keyed_rel("cron", "tick"), ["cron", "run", "tick"]),
    "cron-overlap": ("state/cron-tick", ["cron", "run", "tick"]),
    "tasks": ("tasks.json", ["task", "add", "--title", "after"]),
}


@pytest.mark.parametrize("which", list(LOCKED_FILES))
def test_a_lock_held_by_a_killed_process_never_blocks_the_next_one(tmp_path: Path, which: str) -> None:
    root = make_rel_ws(tmp_path / "ws")
    (root / "memory" / "regressions.yaml").write_text(
        "version: 1\nregressions:\n  - {id: REG-001, role: ops, signature: 's', rule: 'r', count: 1, "
        "firstSeen: '2026-03-01T00:00:00Z', lastSeen: '2026-03-01T00:00:00Z', status: candidate}\n")
    rel, argv = LOCKED_FILES[which]
    ready = FORK.Event()
    p = FORK.Process(target=_hold, args=(str(root / rel), ready))
    p.start()
    assert ready.wait(10)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    try:  # a lock still held would make this exit 75 after 1 s
        res = Cli(root)("--lock-timeout", "1", *argv, "--json")
    finally:
        from agentctl.storage.files.durable import DEFAULT_LOCK_TIMEOUT, set_lock_timeout

        set_lock_timeout(DEFAULT_LOCK_TIMEOUT)
    assert res.exit_code == 0, (res.exit_code, res.stderr)
    if which == "cron-overlap":
        assert res.json()["status"] == "success"  # not "skipped: still running"
