"""Idempotency ledger cost per operation at N keys (issue 13, PERFORMANCE p99 ≤ 20 ms at 100,000).

Fills the per-key store with N entries, then times reserve + complete of fresh keys and
prints p50/p99 next to the same at 100 keys (the baseline, measured in the same run), and
the ratio. `--full` uses 100,000 keys (about a minute to fill); the default is 10,000.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from agentctl.run import idempotency
from agentctl.storage.base import open_file_storage

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def fill(root: Path, n: int) -> None:
    """N committed entries, written directly in the store's layout (the fill is not what we time)."""
    store = open_file_storage(root).idempotency
    for i in range(n):
        path = store.path_for(f"old-{i}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"version": 1, "key": f"old-{i}", "value": {
            "fingerprint": "fp", "state": "done", "expiresAt": "2026-03-03T12:00:00Z", "result": {"runId": str(i)}}}))


def time_ops(root: Path, ops: int) -> list[float]:
    store = open_file_storage(root).idempotency
    out = []
    for i in range(ops):
        t = time.perf_counter()
        idempotency.reserve(store, f"new-{i}", "fp", T0, run_id=f"r-{i}")
        idempotency.complete(store, f"new-{i}", "fp", {"runId": f"r-{i}", "status": "success", "exitCode": 0}, T0)
        out.append((time.perf_counter() - t) * 1000)
    return out


def p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]


def main() -> None:
    n = 100_000 if "--full" in sys.argv else 10_000
    rows = {}
    for size in (100, n):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            fill(root, size)
            ms = time_ops(root, 200)
            rows[size] = (statistics.median(ms), p99(ms))
            print(f"{size:>7} keys: reserve+complete p50 {rows[size][0]:.2f} ms, p99 {rows[size][1]:.2f} ms")
    print(f"ratio p99 {n} / 100 keys: {rows[n][1] / rows[100][1]:.2f}")


if __name__ == "__main__":
    main()
