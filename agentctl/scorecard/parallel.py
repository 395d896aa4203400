"""A long window's scan in two processes: the later half of the days is folded by a worker
while this process folds the earlier half; the two ScanResults are merged in day order.

Only for windows of at least ``MIN_DAYS`` days and ``MIN_BYTES`` of files (a week stays in one
process: a worker's start costs more than it saves). The merge gives what one sequential
``Fold`` over every file gives:

- sums, daily and label sums, skipped lines, files and bytes add up;
- positions (ties on startedAt) of the later half are shifted by the earlier half's run count,
  so the last success, the trailing failures and the latest start compare as in one pass;
- error types, refusals, rejected tasks and cron runs are appended in day order;
- retries across the split: a failure counts for a run only when it started at most
  TASK_HORIZON_DAYS before it and not before the file's day minus the horizon and a day
  (``Fold``), so the worker first reads the ``PREREAD_DAYS`` files before its half to
  know the failed tasks the earlier half leaves it. A run filed more than that many days
  away from its start is the one case a single pass could count differently.

The worker is a fresh interpreter (``python -m agentctl.scorecard.parallel``, its job and
its result pickled through pipes): it imports only the scan's modules and never re-runs the
caller's main module.

Opt-in (``AGENTCTL_SCAN_WORKERS=2``): on the shared 2-core machine, 365 days over 1M runs took
6.3 s against 10.1 s in one process at load 4–7, but 15.3 s against 11.2 s at load 9–13, and
the two processes peak at 86 + 78 MB (target: 100 MB in all), so one process stays the default.
Floating-point sums are added in another order than one pass adds them: a rounded average can
differ in its last digit (seen once over 1M runs: avgDurationS 120.98 against 120.99).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from agentctl.scorecard.scan import NEVER, TASK_HORIZON_DAYS, Fold, ScanResult

MIN_DAYS = 60
MIN_BYTES = 48 << 20
PREREAD_DAYS = TASK_HORIZON_DAYS + 2


def plan(paths: list[Path]) -> int | None:
    """Index of the first file of the worker's half (half of the bytes), or None: one process."""
    if os.environ.get("AGENTCTL_SCAN_WORKERS", "1") != "2" or len(paths) < MIN_DAYS:
        return None
    sizes = [p.stat().st_size if p.exists() else 0 for p in paths]
    total = sum(sizes)
    if total < MIN_BYTES:
        return None
    acc = 0
    for i, size in enumerate(sizes):
        acc += size
        if acc >= total / 2:
            return min(i + 1, len(paths) - 1)
    return None


def fold_range(paths: list[Path], first: int, start: datetime, end: datetime, kw: dict[str, Any]) -> Fold:
    """Fold ``paths[first:]`` after reading the failed tasks of the PREREAD_DAYS files before them."""
    pre = Fold(start, end, **kw)
    for path in paths[max(0, first - PREREAD_DAYS):first]:
        pre.add_file(path, path.stem)
    fold = Fold(start, end, **kw)
    fold.failed_tasks = pre.failed_tasks
    for path in paths[first:]:
        fold.add_file(path, path.stem)
    return fold


def _worker_main() -> None:
    """``python -m agentctl.scorecard.parallel``: (paths, first, start, end, kw) pickled on stdin,
    (ScanResult, runs folded) pickled on stdout."""
    from agentctl.scorecard.scan import _gc_paused

    paths, first, start, end, kw = pickle.load(sys.stdin.buffer)  # noqa: S301 — from scan_two, a pipe
    with _gc_paused():
        fold = fold_range(paths, first, start, end, kw)
    pickle.dump((fold.out, fold.seq), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)


def scan_two(paths: list[Path], start: datetime, end: datetime, kw: dict[str, Any]) -> ScanResult | None:
    """The window's daily files folded in two processes, or None when it is too small to gain from it."""
    first = plan(paths)
    if first is None:
        return None
    kw = {k: v if k == "labels" else sorted(v) for k, v in kw.items()}  # names only: what the worker needs
    job = pickle.dumps((paths, first, start, end, kw), protocol=pickle.HIGHEST_PROTOCOL)
    proc = subprocess.Popen([sys.executable, "-m", "agentctl.scorecard.parallel"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(job)
        proc.stdin.close()
        fold = Fold(start, end, **kw)
        for path in paths[:first]:
            fold.add_file(path, path.stem)
        data = proc.stdout.read()
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        proc.wait()
    if proc.returncode != 0:  # the worker failed (an unreadable file…): the later half here, raising its error
        return merge(fold.out, fold_range(paths, first, start, end, kw).out, fold.seq)
    out, _seq = pickle.loads(data)  # noqa: S301 — our own worker's answer, through a private pipe
    return merge(fold.out, out, fold.seq)


def _add(into: dict[Any, list[Any]], other: dict[Any, list[Any]]) -> None:
    for key, vals in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = vals
        else:
            for i, v in enumerate(vals):
                mine[i] += v


def merge(a: ScanResult, b: ScanResult, offset: int) -> ScanResult:
    """``b`` (the later days, positions from 0) folded into ``a`` (the earlier days, ``offset`` runs)."""
    _add(a.sums, b.sums)
    _add(a.label_sums, b.label_sums)
    _add(a.daily, b.daily)
    for agent, (t, pos) in b.last_ok.items():
        if (t, pos + offset) > a.last_ok.get(agent, (NEVER, -1)):
            a.last_ok[agent] = (t, pos + offset)
    for agent, times in b.trailing.items():
        a.trailing[agent].extend((t, pos + offset) for t, pos in times)
    for agent, t in b.last_run.items():
        if t > a.last_run.get(agent, NEVER):
            a.last_run[agent] = t
    for key, counts in b.error_counts.items():
        a.error_counts.setdefault(key, Counter()).update(counts)
    _extend(a.job_runs, b.job_runs.items())
    a.breaker_refused.update(b.breaker_refused)
    for agent, tasks in b.rejected_tasks.items():
        a.rejected_tasks[agent].update(tasks)
    a.skipped.update(b.skipped)
    a.files += b.files
    a.bytes += b.bytes
    return a


def _extend(into: Any, items: Iterable[tuple[Any, list[Any]]]) -> None:
    for key, values in items:
        into[key].extend(values)


if __name__ == "__main__":
    _worker_main()
