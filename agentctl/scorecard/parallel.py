"""A long window's scan in several processes: the days are cut into parts of equal bytes; this
process folds the first part while a worker folds each of the others; the ScanResults are merged
in day order.

Only for windows of at least ``MIN_DAYS`` days and ``MIN_BYTES`` of files (a week stays in one
process: a worker's start costs more than it saves). The merge gives what one sequential
``Fold`` over every file gives:

- sums, daily and label sums, skipped lines, files and bytes add up;
- positions (ties on startedAt) of a later part are shifted by the run count of the parts before it,
  so the last success, the trailing failures and the latest start compare as in one pass;
- error types, refusals, rejected tasks and cron runs are appended in day order;
- retries across a cut: a failure counts for a run only when it started at most
  TASK_HORIZON_DAYS before it and not before the file's day minus the horizon and a day
  (``Fold``), so a worker first reads the ``PREREAD_DAYS`` files before its part to
  know the failed tasks the earlier parts leave it. A run filed more than that many days
  away from its start is the one case a single pass could count differently.

A worker is a fresh interpreter (``python -m agentctl.scorecard.parallel``, its job and its
result pickled through pipes): it imports only the scan's modules and never re-runs the
caller's main module. A worker that fails has its part folded here (raising its error).

How many processes: the CPUs this process may use, at most ``AUTO_MAX`` (2: the parent and one
worker peak near 60 + 40 MB on a year of 1M runs); ``AGENTCTL_SCAN_WORKERS=N`` sets it
(1: one process). Floating-point sums are added in another order than one pass adds them: a
rounded average can differ in its last digit (seen once over 1M runs: avgDurationS 120.98
against 120.99).
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
AUTO_MAX = 2
"""Processes by default (the usable CPUs, at most this): each one is ~40 MB, the target is 100 MB in all."""


def workers() -> int:
    """Processes for a long window: ``AGENTCTL_SCAN_WORKERS`` (1 = this process only), else the CPUs this
    process may use, at most AUTO_MAX."""
    raw = os.environ.get("AGENTCTL_SCAN_WORKERS", "").strip()
    if raw.isdigit():
        return max(1, min(int(raw), 16))
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, AUTO_MAX))


def plan(paths: list[Path], parts: int | None = None) -> list[int] | None:
    """Index of the first file of each part after the first, or None: one process. The parts take equal
    shares of the work: a worker's share counts its start and its PREREAD_DAYS days as one more day each."""
    parts = workers() if parts is None else parts
    if parts < 2 or len(paths) < MIN_DAYS:
        return None
    sizes = [p.stat().st_size if p.exists() else 0 for p in paths]
    total = sum(sizes)
    if total < MIN_BYTES:
        return None
    extra = (PREREAD_DAYS + 1) * total / len(sizes)  # a worker also starts and reads the days before its part
    share = (total + (parts - 1) * extra) / parts
    cuts: list[int] = []
    acc = 0
    for i, size in enumerate(sizes[:-1]):
        acc += size
        if acc >= share + len(cuts) * (share - extra):
            cuts.append(i + 1)
            if len(cuts) == parts - 1:
                break
    return cuts or None


def fold_range(paths: list[Path], first: int, start: datetime, end: datetime, kw: dict[str, Any],
               stop: int | None = None) -> Fold:
    """Fold ``paths[first:stop]`` after reading the failed tasks of the PREREAD_DAYS files before them."""
    pre = Fold(start, end, **kw)
    for path in paths[max(0, first - PREREAD_DAYS):first]:
        pre.add_file(path, path.stem)
    fold = Fold(start, end, **kw)
    fold.failed_tasks = pre.failed_tasks
    for path in paths[first:stop]:
        fold.add_file(path, path.stem)
    return fold


def _worker_main() -> None:
    """``python -m agentctl.scorecard.parallel``: (paths, first, stop, start, end, kw) pickled on stdin,
    (ScanResult, runs folded) pickled on stdout."""
    from agentctl.scorecard.scan import _gc_paused

    paths, first, stop, start, end, kw = pickle.load(sys.stdin.buffer)  # noqa: S301 — from scan_parts, a pipe
    with _gc_paused():
        fold = fold_range(paths, first, start, end, kw, stop)
    pickle.dump((fold.out, fold.seq), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)


def _spawn(job: bytes) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "agentctl.scorecard.parallel"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    try:
        proc.stdin.write(job)
        proc.stdin.close()
    except OSError:  # the worker died at once: its part is folded here (``_collect``)
        pass
    return proc


def _collect(proc: subprocess.Popen[bytes]) -> tuple[ScanResult, int] | None:
    assert proc.stdout is not None
    try:
        data = proc.stdout.read()
    finally:
        proc.stdout.close()
        proc.wait()
    if proc.returncode != 0:
        return None
    out, seq = pickle.loads(data)  # noqa: S301 — our own worker's answer, through a private pipe
    return out, seq


def scan_parts(paths: list[Path], start: datetime, end: datetime, kw: dict[str, Any],
               parts: int | None = None) -> ScanResult | None:
    """The window's daily files folded in several processes (this one folds the first part), or None
    when it is too small to gain from it (or one process is asked for)."""
    cuts = plan(paths, parts)
    if cuts is None:
        return None
    kw = {k: v if k == "labels" else sorted(v) for k, v in kw.items()}  # names only: what a worker needs
    bounds = list(zip(cuts, [*cuts[1:], len(paths)], strict=True))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for first, stop in bounds:
            procs.append(_spawn(pickle.dumps((paths, first, stop, start, end, kw), protocol=pickle.HIGHEST_PROTOCOL)))
        fold = Fold(start, end, **kw)
        for path in paths[:cuts[0]]:
            fold.add_file(path, path.stem)
        out, offset = fold.out, fold.seq
        for proc, (first, stop) in zip(procs, bounds, strict=True):
            got = _collect(proc)
            if got is None:  # the worker failed (an unreadable file…): its part here, raising its error
                again = fold_range(paths, first, start, end, kw, stop)
                got = again.out, again.seq
            out = merge(out, got[0], offset)
            offset += got[1]
        return out
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise


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
