"""The PostgreSQL backend against the file backend (SPEC §12, issue 14), ratios in one run.

- one task update's latency at 1,000 tasks, files vs PostgreSQL;
- update throughput: 16 PostgreSQL clients vs the file backend's 8 processes
  (target: >= 5x); lost updates counted on both. Both run ``registry_concurrency``'s worker
  (``update_task`` through the workspace's backend: half the updates on one shared task);
- the scorecard's per-agent aggregation over 365 days of runs, in SQL
  (target: <= 1 s at 1M runs; default 100k runs, ``--full`` for 1M).

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
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import make_workspace  # noqa: E402
from registry_concurrency import contention  # noqa: E402

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def pg_workspace(root: Path, n_tasks: int) -> Path:
    from agentctl.storage.postgres import PgStorage, open_database
    from agentctl.storage.postgres.migrate import apply
    from agentctl.storage.postgres.transfer import import_files

    make_workspace(root, n_tasks)
    st = PgStorage(open_database(None))
    apply(st.db)
    with st.db.tx() as cur:
        cur.execute("TRUNCATE tasks, events, agentctl_meta")
        cur.execute("INSERT INTO agentctl_meta VALUES ('nextSeq', '1')")
    import_files(st, root)
    st.close()
    with (root / "agentctl.yaml").open("a") as fh:
        fh.write("\nstorage:\n  backend: postgres\n  dsn_env: AGENTCTL_PG_DSN\n")
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


def load_runs(n: int) -> None:
    """n run records over the last 365 days, 40 agents, written with COPY."""
    import json

    from agentctl.storage.postgres import PgStorage, open_database

    st = PgStorage(open_database(None))
    start = NOW - timedelta(days=365)
    for d in range(0, 366, 28):
        st.runlog.ensure_partition((start + timedelta(days=d)).date())
    st.runlog.ensure_partition(NOW.date())
    step = 365 * 86400 / n
    with st.db.connect().cursor() as cur, cur.copy(
            "COPY runs (run_id, started_at, started_txt, agent, status, tier, tokens_in, tokens_out, cost_usd, "
            "duration_s, doc) FROM STDIN") as copy:
        for i in range(n):
            ts = (start + timedelta(seconds=i * step)).strftime("%Y-%m-%dT%H:%M:%SZ")
            agent, status = f"agent-{i % 40}", ("success", "failure", "rejected")[i % 7 % 3]
            doc = {"runId": f"r{i}", "startedAt": ts, "endedAt": ts, "agent": agent, "status": status,
                   "tier": "standard", "tokensIn": 1000, "tokensOut": 200, "costUsd": 0.01, "durationS": 3.0}
            copy.write_row((f"r{i}", ts, ts, agent, status, "standard", 1000, 200, 0.01, 3.0, json.dumps(doc)))
    with st.db.tx() as cur:
        cur.execute("ANALYZE runs")
    st.close()


def aggregate_365() -> float:
    from agentctl.storage.postgres import PgStorage, open_database

    st = PgStorage(open_database(None))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        rows = st.runlog.aggregate_by_agent(NOW - timedelta(days=365), NOW)
        best = min(best, time.perf_counter() - t0)
    assert len(rows) == 40
    st.close()
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1M runs for the scorecard aggregation")
    ap.add_argument("--runs", type=int, default=None, help="runs for the aggregation (default 100k; 1M with --full)")
    ap.add_argument("--updates", type=int, default=40, help="updates per process")
    ap.add_argument("--skip-scorecard", action="store_true", help="only the update latency and throughput")
    args = ap.parse_args()
    import psycopg

    name = f"agentctl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["AGENTCTL_PG_DSN"] = f"dbname={name}"
    try:
        run(args)
    finally:
        with psycopg.connect(autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
    t0 = time.perf_counter()
    load_runs(n)
    print(f"loaded {n:,} runs in {time.perf_counter() - t0:.1f} s")
    print(f"scorecard aggregation, 365 days over {n:,} runs (SQL): {aggregate_365() * 1000:.0f} ms (target <= 1 s at 1M)")


if __name__ == "__main__":
    main()
