"""Cost per operation of the keyed state documents at many keys (issue 20, "State documents").

For each store — the idempotency ledger (`reserve` + `complete` of a new key, as `run
--idempotency-key` does), the cron state (one job's entry, as `cron run` records a slot)
and the alert dedupe (one alert key, as an alert is claimed) — the store is filled with
N live keys, then OPS new keys are operated on (the ledger: a reserve and a complete, each
timed) through the storage API (``KeyedStore.transaction``: one small file per key since
i13). Printed: p50 / p99 ms per operation, both against the median durable write of one
small file measured in the same run, and the store's size. Target: p99 ≤ 20 ms at 100,000
keys (``--full``); on a busy machine read the ratio to the floor.

    python benchmarks/state_store.py [--keys 10000] [--ops 20] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = "2036-01-01T00:00:00Z"


def _ledger_entry(i: int) -> dict[str, Any]:
    return {"fingerprint": f"fp-{i}", "state": "done", "createdAt": "2026-11-26T11:00:00Z", "expiresAt": LATER,
            "result": {"runId": f"r-{i}", "status": "success"}, "completedAt": "2026-11-26T11:00:01Z"}


def _cron_entry(i: int) -> dict[str, Any]:
    return {"slot": "2026-11-26T11:59:00Z", "at": "2026-11-26T11:59:00Z", "status": "success", "exitCode": 0}


def _alert_entry(i: int) -> dict[str, Any]:
    return {"lastSentAt": "2026-11-26T11:59:00Z", "suppressed": 0}


def prefill(store: Any, n: int, entry: Callable[[int], dict[str, Any]]) -> None:
    """N live keys, written straight in the store's own layout (one file per key), not fsynced:
    filling through the API would cost N durable writes."""
    from agentctl.storage.files import keyed

    for i in range(n):
        path = store.path_for(f"pre-{i}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(keyed._encode(f"pre-{i}", entry(i)))


Op = Callable[[Any, int], None]


def _stores(ws: Any) -> dict[str, tuple[Any, Callable[[int], dict[str, Any]], list[Op]]]:
    """name → (store, the entry a prefilled key holds, the operations timed one by one per key)."""
    from agentctl.run import idempotency

    def reserve(store: Any, i: int) -> None:
        idempotency.reserve(store, f"bench-{i}", "fp", NOW, run_id=f"b-{i}")

    def complete(store: Any, i: int) -> None:
        idempotency.complete(store, f"bench-{i}", "fp", {"runId": f"b-{i}", "exitCode": 0}, NOW)

    def slot_op(value: Callable[[int], dict[str, Any]]) -> Callable[[Any, int], None]:
        def op(store: Any, i: int) -> None:
            with store.transaction(f"bench-{i}", NOW) as slot:
                slot.value = value(i)
        return op

    return {"idempotency ledger (reserve, complete)": (ws.storage.idempotency, _ledger_entry, [reserve, complete]),
            "cron state (one job entry)": (ws.storage.cron, _cron_entry, [slot_op(_cron_entry)]),
            "alert dedupe (one alert key)": (ws.storage.alerts.dedupe, _alert_entry, [slot_op(_alert_entry)])}


def _size(store: Any) -> int:
    root = getattr(store, "dir", None) or getattr(store, "root", None)
    if isinstance(root, Path) and root.is_dir():
        return sum(p.stat().st_size for p in root.rglob("*.json"))
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--ops", type=int, default=20)
    ap.add_argument("--full", action="store_true", help="100,000 keys (the target's size)")
    args = ap.parse_args()
    keys = 100_000 if args.full else args.keys
    from agentctl.storage.files.durable import atomic_write
    from agentctl.workspace.loader import Workspace
    from agentctl.workspace.templates import init_workspace

    print(f"state stores at {keys:,} keys, {args.ops} operations each, load avg {os.getloadavg()[0]:.1f}")
    print(f"{'store':40} {'p50 ms':>8} {'p99 ms':>8} {'p50/fl':>7} {'p99/fl':>7} {'size KiB':>9} {'p99<=20ms':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        init_workspace(root, "minimal", force=False)
        ws = Workspace(root)
        floor = []
        for i in range(args.ops):
            t0 = time.perf_counter()
            atomic_write(root / "state" / "floor.json", json.dumps({"k": i}).encode())
            floor.append(time.perf_counter() - t0)
        f50 = statistics.median(floor) * 1000
        print(f"{'floor: durable write of one small file':40} {f50:8.2f}")
        for name, (store, entry, ops) in _stores(ws).items():
            prefill(store, keys, entry)
            lat = []
            for i in range(args.ops):
                for op in ops:
                    t0 = time.perf_counter()
                    op(store, i)
                    lat.append(time.perf_counter() - t0)
            lat.sort()
            p50, p99 = statistics.median(lat) * 1000, lat[max(0, int(len(lat) * 0.99) - 1)] * 1000
            print(f"{name:40} {p50:8.2f} {p99:8.2f} {p50 / f50:7.1f} {p99 / f50:7.1f} {_size(store) / 1024:9.0f} "
                  f"{'ok' if p99 <= 20 else 'OVER':>9}")


if __name__ == "__main__":
    main()
