"""The PostgreSQL backend against the file backend (SPEC §12, issue 14), ratios in one run.

- one task update's latency at 1,000 tasks, files vs PostgreSQL;
- update throughput: 16 PostgreSQL clients vs the file backend's 8 processes
  (target: >= 5x); lost updates counted on both. Both run ``registry_concurrency``'s worker
  (``update_task`` through the workspace's backend: half the updates on one shared task);
- ``scorecard --days 365`` aggregated in SQL (``benchmarks/scorecard_sql.py``; target:
  <= 1 s at 1M runs; default 100k runs, ``--full`` for 1M).

Needs a server: the PG* variables (``pg_virtualenv -- python benchmarks/postgres.py``);
a scratch database is created and dropped.

    python benchmarks/postgres.py [--full] [--runs N] [--updates 40] [--skip-scorecard]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_database, make_workspace, point_at_postgres  # noqa: E402
from registry_concurrency import contention  # noqa: E402

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def pg_workspace(root: Path, n_tasks: int) -> Path:
    from agentctl.storage.postgres import PgStorage, open_database
    from agentctl.storage.postgres.migrate import apply
    from agentctl.storage.postgres.transfer import import_files

    make_workspace(root, n_tasks)
    st = PgStorage(open_database(None, os.environ))
    apply(st.db)
    with st.db.tx() as cur:
        cur.execute("TRUNCATE tasks, events, agentctl_meta")
        cur.execute("INSERT INTO agentctl_meta VALUES ('nextSeq', '1')")
    import_files(st, root)
    st.close()
    point_at_postgres(root)
    return root


def one_update(root: Path, n: int = 40) -> float:
    from agentctl.registry.service import Update, update_task
    from agentctl.workspace.loader import Workspace

    ws = Workspace(root)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        update_task(ws, "T-500", Update(sets=[f"notes={i}"]), "bench", NOW)
        times.append(time.perf_counter() - t0)
    if ws.config.storage.backend == "postgres":
        ws.storage.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1M runs for the scorecard aggregation")
    ap.add_argument("--runs", type=int, default=None, help="runs for the aggregation (default 100k; 1M with --full)")
    ap.add_argument("--updates", type=int, default=40, help="updates per process")
    ap.add_argument("--skip-scorecard", action="store_true", help="only the update latency and throughput")
    args = ap.parse_args()
    with fresh_database() as dsn:
        os.environ["AGENTCTL_PG_DSN"] = dsn
        run(args)


def run(args: argparse.Namespace) -> None:
    from agentctl.storage.files.durable import set_lock_timeout

    set_lock_timeout(300)  # inherited by the forked workers: a loaded machine must not turn waits into 75s
    with tempfile.TemporaryDirectory() as tmp:
        files = make_workspace(Path(tmp) / "files", 1000)
        pg = pg_workspace(Path(tmp) / "pg", 1000)
        f1, p1 = one_update(files), one_update(pg)
        print(f"one update at 1,000 tasks: files {f1 * 1000:.1f} ms, postgres {p1 * 1000:.1f} ms")
        fr = contention(make_workspace(Path(tmp) / "files", 1000), 8, args.updates)
        pr = contention(pg_workspace(Path(tmp) / "pg2", 1000), 16, args.updates)  # the same worker, on PostgreSQL
        for label, r in (("files, 8 processes", fr), ("postgres, 16 clients", pr)):
            print(f"{label:22} {r['rate']:8.1f} updates/s  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
                  f"lost {r['lost']}")
        print(f"throughput ratio: postgres 16 clients / files 8 processes = {pr['rate'] / fr['rate']:.2f}x "
              f"(target >= 5x); load avg {os.getloadavg()[0]:.1f}")
    if args.skip_scorecard:
        return
    n = args.runs or (1_000_000 if args.full else 100_000)
    from scorecard_sql import bench  # the scorecard on PostgreSQL: benchmarks/scorecard_sql.py

    with tempfile.TemporaryDirectory() as tmp:
        r = bench(Path(tmp) / "sc", n, 3)
    print(f"loaded {n:,} runs in {r['load']:.1f} s")
    print(f"scorecard --days 365 over {n:,} runs (SQL): {r['scorecard'] * 1000:.0f} ms (queries "
          f"{r['facts'] * 1000:.0f} ms; target <= 1 s at 1M)")

if __name__ == "__main__":
    main()
