"""Registry read-modify-write cost and contention (PERFORMANCE.md "Registry").

- one update at 1,000 tasks (and 10,000 with --full) vs the durable atomic-write floor
  (temp + fsync + replace + fsync dir of the same bytes) measured in the same run, and vs
  two durable writes (what a journaled unit of work pays at least);
- P processes × U updates each (half on one shared task, half on their own), on whichever
  backend the workspace names (``benchmarks/postgres.py`` reuses ``contention`` for PostgreSQL):
  updates/s, p50/p99 latency, lost updates — and a no-lock control that shows
  what the lock prevents.

    python benchmarks/registry_concurrency.py [--procs 8] [--updates 40] [--full]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import make_workspace  # noqa: E402

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _worker(root: str, idx: int, updates: int, nolock: bool, barrier, out) -> None:
    from agentctl.registry.service import Update, update_task
    from agentctl.storage.files import durable as files
    from agentctl.storage.files import registry
    from agentctl.workspace.loader import Workspace

    if nolock:  # the registry's lock only (the journal keeps its own: else recovery races commits)
        real = files.locked

        def only_journal(path, *a, **k):  # type: ignore[no-untyped-def]
            return contextlib.nullcontext() if Path(path).name == "tasks.json" else real(path, *a, **k)

        registry.locked = only_journal  # type: ignore[assignment]
        files.locked = only_journal  # type: ignore[assignment]
    ws = Workspace(Path(root))
    lat = []
    barrier.wait()
    for j in range(updates):
        task = "T-1" if j % 2 == 0 else f"T-{idx + 2}"
        t0 = time.perf_counter()
        try:
            update_task(ws, task, Update(checks=[f"p{idx}_{j}=1"]), f"a{idx}", NOW)
        except Exception:  # noqa: S112 — the no-lock control may fail an update: counted as lost
            continue
        lat.append(time.perf_counter() - t0)
    ws.storage.close()
    out.put(lat)


def contention(root: Path, procs: int, updates: int, nolock: bool = False) -> dict[str, float]:
    barrier, out = mp.Barrier(procs), mp.Queue()
    ps = [mp.Process(target=_worker, args=(str(root), i, updates, nolock, barrier, out)) for i in range(procs)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    lats = [x for _ in ps for x in out.get()]
    for p in ps:
        p.join()
    wall = time.perf_counter() - t0
    keys = _update_keys(root)
    lats.sort()
    return {"updates": procs * updates, "wall_s": wall, "rate": procs * updates / wall,
            "p50_ms": statistics.median(lats) * 1000, "p99_ms": lats[int(len(lats) * 0.99) - 1] * 1000,
            "lost": procs * updates - keys}


def _update_keys(root: Path) -> int:
    """The check keys the workers wrote, read through the workspace's own backend (files or PostgreSQL)."""
    from agentctl.workspace.loader import Workspace

    ws = Workspace(root)
    try:
        return sum(len([k for k in t.checks if k.startswith("p")]) for t in ws.storage.registry.load().tasks)
    finally:
        ws.storage.close()


def rmw_vs_floor(root: Path, n: int = 50) -> dict[str, float]:
    """Medians (s): one update; the durable write of the same bytes (the floor); and two durable
    writes (the file, then a small intent), what a journaled unit of work must pay at least."""
    from agentctl.registry.service import Update, update_task
    from agentctl.storage.files.durable import atomic_write
    from agentctl.workspace.loader import Workspace

    ws = Workspace(root)
    data = (root / "tasks.json").read_bytes()
    floor, journal, rmw = [], [], []
    for i in range(n):
        t0 = time.perf_counter()
        atomic_write(root / "floor.json", data)
        floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        atomic_write(root / "floor.json", data)
        atomic_write(root / "intent.json", b'{"replace": ["tasks.json"]}')
        journal.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        update_task(ws, f"T-{len(data) % 7 + 2}", Update(sets=[f"notes={i}"]), "bench", NOW)
        rmw.append(time.perf_counter() - t0)
    return {"rmw": statistics.median(rmw), "floor": statistics.median(floor), "journal": statistics.median(journal)}


def _print_rmw(n: int, r: dict[str, float], target: float) -> None:
    print(f"{n:,} tasks: one update {r['rmw'] * 1000:.1f} ms vs durable-write floor {r['floor'] * 1000:.1f} ms "
          f"= {r['rmw'] / r['floor']:.2f}x (target <= {target:g}x); vs two durable writes "
          f"{r['journal'] * 1000:.1f} ms = {r['rmw'] / r['journal']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--updates", type=int, default=40)
    ap.add_argument("--full", action="store_true", help="also one update at 10,000 tasks")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"load avg {os.getloadavg()[0]:.1f}")
        for n, target in ((1000, 1.5), (10_000, 2.0)) if args.full else ((1000, 1.5),):
            _print_rmw(n, rmw_vs_floor(make_workspace(Path(tmp) / "ws", n), 30 if n > 1000 else 50), target)
        rows = []
        for label, procs, nolock in (("1 process", 1, False), (f"{args.procs} processes", args.procs, False),
                                     (f"{args.procs} processes, NO LOCK (control)", args.procs, True)):
            root = make_workspace(Path(tmp) / "ws", 1000)
            rows.append((label, contention(root, procs, args.updates if procs > 1 else args.updates * 2, nolock)))
        single = rows[0][1]["rate"]
        print(f"{'run':38} {'updates':>8} {'upd/s':>8} {'x 1 proc':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'lost':>6}")
        for label, r in rows:
            print(f"{label:38} {r['updates']:8d} {r['rate']:8.1f} {r['rate'] / single:8.2f} {r['p50_ms']:8.1f} "
                  f"{r['p99_ms']:8.1f} {r['p99_ms'] / r['p50_ms']:8.1f} {r['lost']:6d}")


if __name__ == "__main__":
    main()
