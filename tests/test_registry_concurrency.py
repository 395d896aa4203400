"""Real processes against a real workspace: no lost update, no torn tasks.json (SPEC §3).

Checked once by hand: with `store.files.locked` replaced by a no-op, the
same-task test loses most updates and the crash test sees torn files only
when atomic_write writes in place.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from agentctl.registry.service import NewTask, Update, add_task, update_task
from agentctl.storage.files.registry import registry_bytes_ok
from agentctl.workspace.loader import Workspace

PROCS = 16
UPDATES = 15
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _worker(root: str, idx: int, barrier) -> None:
    ws = Workspace(Path(root))
    barrier.wait()
    for j in range(UPDATES):
        # the same task: each process owns one key of `checks`; a lost update drops a key
        update_task(ws, "T-1", Update(checks=[f"p{idx}={j}"]), f"agent-{idx}", NOW)
        # a distinct task per process
        update_task(ws, f"T-{idx + 2}", Update(sets=[f"notes={j}"]), f"agent-{idx}", NOW)


def test_sixteen_processes_lose_nothing(minimal_ws: Path) -> None:
    ws = Workspace(minimal_ws)
    for i in range(PROCS + 1):
        add_task(ws, NewTask(title=f"task {i}"), "setup", NOW)
    barrier = mp.Barrier(PROCS)
    procs = [mp.Process(target=_worker, args=(str(minimal_ws), i, barrier)) for i in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    doc = json.loads((minimal_ws / "tasks.json").read_text())
    tasks = {t["taskId"]: t for t in doc["tasks"]}
    shared = tasks["T-1"]["checks"]
    assert {k: v for k, v in shared.items() if k.startswith("p")} == {f"p{i}": UPDATES - 1 for i in range(PROCS)}
    for i in range(PROCS):
        assert tasks[f"T-{i + 2}"]["notes"] == str(UPDATES - 1)
    events = (minimal_ws / "logs" / "events.jsonl").read_text().splitlines()
    assert len(events) == PROCS + 1 + 2 * PROCS * UPDATES
    assert all(json.loads(e) for e in events)  # no interleaved lines


def _writer(root: str) -> None:
    ws = Workspace(Path(root))
    for i in range(10_000):
        add_task(ws, NewTask(title=f"t{i}"), "writer", NOW)


def _count(path: Path) -> int:
    try:
        return len(json.loads(path.read_bytes())["tasks"])
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkilled_writer_never_leaves_a_torn_registry(minimal_ws: Path) -> None:
    path = minimal_ws / "tasks.json"
    rng = random.Random(7)
    last_count = 0
    for _ in range(40):
        p = mp.Process(target=_writer, args=(str(minimal_ws),))
        p.start()
        deadline = time.monotonic() + 20  # a busy machine starts the writer late: kill only once it writes
        while _count(path) <= last_count and time.monotonic() < deadline and p.is_alive():
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        raw = path.read_bytes()
        assert registry_bytes_ok(raw), raw[-200:]
        titles = [t["title"] for t in json.loads(raw)["tasks"]]
        # a committed state: every task present was fully added, in order, nothing lost before it
        assert len(titles) >= last_count
        last_count = len(titles)
    assert last_count > 0
    # a lock held by a killed process never blocks the next one
    ws = Workspace(minimal_ws)
    add_task(ws, NewTask(title="after the kills"), "human", NOW)
    assert json.loads(path.read_text())["tasks"][-1]["title"] == "after the kills"


def _hold_lock_forever(root: str, ready) -> None:
    from agentctl.storage.files.durable import locked

    with locked(Path(root) / "tasks.json"):
        ready.set()
        time.sleep(60)


def test_lock_of_killed_holder_is_released(minimal_ws: Path) -> None:
    ready = mp.Event()
    p = mp.Process(target=_hold_lock_forever, args=(str(minimal_ws), ready))
    p.start()
    assert ready.wait(10)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    task = add_task(Workspace(minimal_ws), NewTask(title="x"), "human", NOW)
    assert task.taskId == "T-1"
