"""A budget check's cost on PostgreSQL: ``RunLogStore.spend_by_agent`` (one GROUP BY over the
day) against the previous way (every record of the day pulled into Python and summed), in the
same run, over N runs of one day (default 20,000; ``--n``). Needs a server: run it under
``pg_virtualenv -t -- python benchmarks/budget_spend.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_database  # noqa: E402

DAY = date(2026, 3, 2)


def _fill(storage, n: int) -> None:  # type: ignore[no-untyped-def]
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    docs = []
    for i in range(n):
        at = (t0 + timedelta(seconds=i * 86400 // n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        docs.append({"runId": f"r-{i}", "startedAt": at, "endedAt": at, "agent": f"a{i % 12}", "status": "success",
                     "provider": "anthropic", "model": "claude-haiku-4-5", "costUsd": None if i % 17 == 0 else 0.001,
                     "tokensIn": 1000, "tokensOut": 200, "durationS": 1.0})
    storage.runlog.append_many(docs)


def _python_sum(storage) -> dict[str, float]:  # type: ignore[no-untyped-def]
    start = datetime(2026, 3, 2, tzinfo=UTC)
    out: dict[str, float] = {}
    for rec in storage.runlog.read_window(start, start + timedelta(days=1)):
        if rec.get("costUsd") is not None:
            out[rec["agent"]] = out.get(rec["agent"], 0.0) + rec["costUsd"]
    return out


def _time(fn, reps: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    from agentctl.storage.postgres import Database, PgStorage
    from agentctl.storage.postgres.migrate import ensure_current

    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 20_000
    with fresh_database("agentctl_b") as dsn:
        storage = PgStorage(Database(dsn))
        ensure_current(storage.db)
        _fill(storage, n)
        sql = storage.runlog.spend_by_agent(DAY).cost
        assert {k: round(v, 6) for k, v in sql.items()} == {k: round(v, 6) for k, v in _python_sum(storage).items()}
        new, old = _time(lambda: storage.runlog.spend_by_agent(DAY), 9), _time(lambda: _python_sum(storage), 5)
        print(f"{n} runs in the day: spend_by_agent {new * 1000:.1f} ms, rows into Python {old * 1000:.1f} ms "
              f"({old / new:.1f}x)")
        storage.close()


if __name__ == "__main__":
    main()
