"""Per-task overhead of `agentctl work` (PERFORMANCE.md, Work loop; SPEC §13).

A pipeline of N tasks (a chain: each depends on the one before) for a command agent
whose command is `true`, drained by one `agentctl work AGENT --until-idle` process.
Measured in the same run, so machine noise hits every figure alike:

- the loop over an empty registry (start-up, one look, exit),
- the loop over the N tasks,
- spawning `true` N times from Python (the agent's own time),
- `agentctl status` (median), the reference every command is held to.

per-task overhead = (loop(N) − loop(0) − N × true) / N: claim with a lease, the run
slot, the run's bookkeeping (claim, run record, breaker, registry update), the
dependency check of the next task. Beside it, the loop's CPU time per task (user + system
of the loop and its children, the empty loop's subtracted, the `true` processes included):
it moves far less than the wall clock when other work on the machine makes fsync slow.
Target: ≤ 60 ms on files, ≤ 30 ms on PostgreSQL
(``--backend postgres``: a fresh database on the server the ``PG*`` variables name, e.g.
under ``pg_virtualenv -t --``; the pipeline is written as files, then ``storage import``ed).

    python benchmarks/work_loop.py [-n 200] [--full] [--json] [--backend files|postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import agentctl_argv, compile_bytecode, fresh_database, median_wall, point_at_postgres  # noqa: E402


def make_pipeline(root: Path, n: int) -> None:
    from datetime import UTC, datetime

    from agentctl.core.clock import iso
    from agentctl.core.records import RegistryFile, Task
    from agentctl.workspace.templates import init_workspace

    if root.exists():
        shutil.rmtree(root)
    init_workspace(root, "minimal", force=False)
    (root / "agents" / "bench.yaml").write_text("name: bench\nruntime: command\ncommand: [\"true\"]\n"
                                                "breaker: {threshold: 1000000}\n")
    now = iso(datetime.now(UTC))
    tasks = [Task(taskId=f"T-{i}", title=f"step {i}", agent="bench", dependsOn=[f"T-{i - 1}"] if i > 1 else [],
                  createdAt=now, updatedAt=now) for i in range(1, n + 1)]
    (root / "tasks.json").write_text(RegistryFile(nextSeq=n + 1, tasks=tasks).model_dump_json(indent=1) + "\n")


ENVS: dict[Path, dict[str, str]] = {}
"""Per workspace: extra environment of every agentctl run on it (the DSN on PostgreSQL)."""


def on_postgres(root: Path, dsn: str) -> None:
    """Move the workspace's state into the (fresh) database ``dsn`` and point the workspace at it."""
    ENVS[root] = {"AGENTCTL_PG_DSN": dsn}
    point_at_postgres(root)
    for argv in (["storage", "init"], ["storage", "import"]):
        subprocess.run([*agentctl_argv(), "-w", str(root), *argv], check=True, env=_env(root),
                       stdout=subprocess.DEVNULL)
    (root / "tasks.json").unlink()  # the database holds the state now


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, **ENVS.get(root, {})}


def time_loop(root: Path) -> float:
    return cpu_and_wall_loop(root)[1]


def cpu_and_wall_loop(root: Path) -> tuple[float, float]:
    """(CPU seconds of the loop process and its children, wall seconds)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([*agentctl_argv(), "-w", str(root), "work", "bench", "--until-idle", "--poll", "0"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(root))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def done_count(root: Path) -> int:
    out = subprocess.run([*agentctl_argv(), "-w", str(root), "task", "list", "--status", "done", "--json"],
                         check=True, capture_output=True, text=True, env=_env(root)).stdout
    return len(json.loads(out))


def time_true(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["true"], check=True)
    return time.perf_counter() - t0


def measure(n: int, base: Path, backend: str = "files") -> dict[str, float]:
    with contextlib.ExitStack() as dbs:
        return _measure(n, base, backend, dbs)


def _measure(n: int, base: Path, backend: str, dbs: contextlib.ExitStack) -> dict[str, float]:
    empty, full = base / "empty", base / "full"
    make_pipeline(empty, 0)
    make_pipeline(full, n)
    if backend == "postgres":
        on_postgres(full, dbs.enter_context(fresh_database()))
        on_postgres(empty, dbs.enter_context(fresh_database()))  # the empty loop pays the same connection
    status = median_wall([*agentctl_argv(), "-w", str(full), "status"], 5, env=_env(full))
    empties = [cpu_and_wall_loop(empty) for _ in range(3)]
    loop0, cpu0 = statistics.median(w for _, w in empties), statistics.median(c for c, _ in empties)
    cpu_n, loop_n = cpu_and_wall_loop(full)
    true_s = time_true(n)
    done = done_count(full)
    if done != n:
        raise SystemExit(f"the loop finished {done} of {n} tasks")
    per_task = (loop_n - loop0 - true_s) / n
    return {"tasks": n, "loopS": round(loop_n, 3), "emptyLoopS": round(loop0, 3), "trueS": round(true_s, 3),
            "perTaskOverheadMs": round(per_task * 1000, 1), "perTaskCpuMs": round((cpu_n - cpu0) / n * 1000, 1),
            "statusMs": round(status * 1000, 1),
            "perTaskVsStatus": round(per_task / status, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="tasks in the pipeline (default 200)")
    ap.add_argument("--full", action="store_true", help="also 1,000 tasks")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--backend", choices=["files", "postgres"], default="files",
                    help="where the state lives (postgres: a fresh database on the PG* server)")
    args = ap.parse_args()
    compile_bytecode()
    sizes = [args.n] + ([1000] if args.full else [])
    with tempfile.TemporaryDirectory() as tmp:
        results = [{**measure(n, Path(tmp) / str(n), args.backend), "backend": args.backend} for n in sizes]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    target = 30 if args.backend == "postgres" else 60
    print(f"load avg {os.getloadavg()[0]:.1f}, backend {args.backend}")
    for r in results:
        print(f"{r['tasks']} tasks: loop {r['loopS']}s (empty loop {r['emptyLoopS']}s, `true` x{r['tasks']} "
              f"{r['trueS']}s) → per-task overhead {r['perTaskOverheadMs']} ms (CPU {r['perTaskCpuMs']} ms, "
              f"`true` included); `agentctl status` "
              f"{r['statusMs']} ms; per task = {r['perTaskVsStatus']}× status  (target ≤ {target} ms)")


if __name__ == "__main__":
    main()
