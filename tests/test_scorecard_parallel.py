"""The scan split by days (agentctl.scorecard.parallel) equals one sequential pass.

Random histories (hypothesis): runs with same-startedAt ties, runs filed under a day other
than their start's (strays), tasks retried across the split point, failures, refusals,
rejections, cron runs, unpriced runs and invalid lines; any split point. The earlier half
folded here, the later half by ``fold_range`` (what the worker runs), merged: the same
ScanResult as ``Fold`` over every file (floating-point sums up to their last bits).
"""

from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentctl.scorecard import parallel
from agentctl.scorecard.scan import Fold, ScanResult, scan_window, window_files

DAY0 = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 40
START, END = DAY0 + timedelta(hours=5), DAY0 + timedelta(days=DAYS - 1, hours=7)
STATUSES = ["success", "success", "failure", "rejected", "selftest_failed", "skipped", "duplicate"]

runs = st.lists(st.tuples(
    st.integers(0, DAYS - 1),                    # the day it started
    st.sampled_from([0, 0, 0, 0, 1, -1, 2]),     # filed under that day, or a neighbour (a stray)
    st.integers(0, 23).map(lambda h: h * 3600),  # coarse starts: many ties
    st.sampled_from(["a", "b", None]),
    st.sampled_from(STATUSES),
    st.sampled_from([None, "T-1", "T-2", "T-3", "T-4"]),
    st.sampled_from([None, 0.25, 1.0]),
    st.sampled_from([None, None, "nightly"]),
    st.booleans(),                               # a breaker refusal's error type / a torn line
), max_size=160)


def write_history(root: Path, history: list[tuple[Any, ...]]) -> Path:
    files: dict[int, list[str]] = {}
    for n, (day, off, sec, agent, status, task, cost, job, flag) in enumerate(history):
        at = (DAY0 + timedelta(days=day, seconds=sec)).strftime("%Y-%m-%dT%H:%M:%SZ")
        error = None if status == "success" else {"type": "BreakerOpen" if flag else "RateLimitError"}
        rec = {"runId": f"r{n}", "startedAt": at, "agent": agent, "status": status, "taskId": task, "job": job,
               "costUsd": cost, "tokensIn": n, "tokensOut": 1, "durationS": 0.1 * n, "error": error,
               "idempotencyKey": f"{job}:{at}" if job else None}
        filed = min(DAYS - 1, max(0, day + off))
        files.setdefault(filed, []).append(json.dumps(rec))
        if flag and status == "duplicate":
            files[filed].append("{torn")
    run_dir = root / "logs" / "runs"
    run_dir.mkdir(parents=True)
    for day, lines in files.items():
        (run_dir / f"{(DAY0 + timedelta(days=day)).date().isoformat()}.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


def sequential(run_dir: Path) -> ScanResult:
    fold = Fold(START, END, labels={"T-1": 0, "T-3": 1})
    for path, _b in window_files(run_dir, START, END):
        fold.add_file(path, path.stem)
    return fold.out


def split(run_dir: Path, first: int) -> ScanResult:
    kw: dict[str, Any] = {"labels": {"T-1": 0, "T-3": 1}}
    paths = [p for p, _b in window_files(run_dir, START, END)]
    fold = Fold(START, END, **kw)
    for path in paths[:first]:
        fold.add_file(path, path.stem)
    later = parallel.fold_range(paths, first, START, END, kw)
    return parallel.merge(fold.out, later.out, fold.seq)


def close(x: Any, y: Any) -> bool:
    if isinstance(x, float) or isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(close(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple) and isinstance(y, list | tuple):
        return len(x) == len(y) and all(close(a, b) for a, b in zip(x, y, strict=True))
    return bool(x == y)


def assert_same(a: ScanResult, b: ScanResult) -> None:
    for name in ("sums", "label_sums", "daily"):
        assert close(getattr(a, name), getattr(b, name)), name
    for name in ("last_ok", "last_run", "breaker_refused", "skipped", "files", "bytes"):
        assert getattr(a, name) == getattr(b, name), name
    assert {k: dict(v) for k, v in a.rejected_tasks.items() if v} == \
        {k: dict(v) for k, v in b.rejected_tasks.items() if v}
    assert dict(a.job_runs) == dict(b.job_runs)
    assert a.error_types() == b.error_types()
    agents = a.agents_seen() | b.agents_seen()
    assert {g: a.consecutive_errors(g) for g in agents} == {g: b.consecutive_errors(g) for g in agents}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=runs, first=st.integers(1, DAYS - 1))
def test_split_scan_equals_one_pass(history: list[tuple[Any, ...]], first: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_history(Path(tmp), history)
        assert_same(sequential(run_dir), split(run_dir, first))


def test_a_retry_across_the_split_point_is_counted() -> None:
    """T-1 fails on day 9 (earlier half) and succeeds on day 10 (the worker's first file): a retry."""
    history = [(9, 0, 3600, "a", "failure", "T-1", 1.0, None, False),
               (10, 0, 3600, "a", "success", "T-1", 1.0, None, False)]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_history(Path(tmp), history)
        one, two = sequential(run_dir), split(run_dir, 10)
        ok = [s for k, s in two.sums.items() if k[2] == "success"]
        assert ok[0][6] == 1 == [s for k, s in one.sums.items() if k[2] == "success"][0][6]
        pre = parallel.PREREAD_DAYS
        parallel.PREREAD_DAYS = 0  # the protection off: the worker does not know the earlier failure
        try:
            assert [s for k, s in split(run_dir, 10).sums.items() if k[2] == "success"][0][6] == 0
        finally:
            parallel.PREREAD_DAYS = pre


def test_the_worker_process_answers_like_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real worker (a subprocess, pipes) when the window is long enough."""
    history = [(d % DAYS, 0, (d * 7 % 24) * 3600, "ab"[d % 2], STATUSES[d % 7], f"T-{d % 5}", 0.5, None, False)
               for d in range(300)]
    run_dir = write_history(tmp_path, history)
    monkeypatch.setattr(parallel, "MIN_DAYS", 10)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setenv("AGENTCTL_SCAN_WORKERS", "2")
    assert parallel.plan([p for p, _b in window_files(run_dir, START, END)]) is not None
    two = parallel.scan_parts([p for p, _b in window_files(run_dir, START, END)], START, END, {"labels": {"T-1": 0}},
                              parts=2)
    assert two is not None
    monkeypatch.setenv("AGENTCTL_SCAN_WORKERS", "0")
    one = scan_window(run_dir, START, END, labels={"T-1": 0})
    assert_same(one, two)


def test_three_worker_processes_answer_like_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``AGENTCTL_SCAN_WORKERS=3``: this process and two workers, merged in day order."""
    history = [(d % DAYS, 0, (d * 5 % 24) * 3600, "ab"[d % 2], STATUSES[d % 7], f"T-{d % 6}", 0.5, None, False)
               for d in range(400)]
    run_dir = write_history(tmp_path, history)
    monkeypatch.setattr(parallel, "MIN_DAYS", 10)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    paths = [p for p, _b in window_files(run_dir, START, END)]
    cuts = parallel.plan(paths, 3)
    assert cuts is not None and len(cuts) == 2 and 0 < cuts[0] < cuts[1] < len(paths)
    three = parallel.scan_parts(paths, START, END, {"labels": {"T-1": 0}}, parts=3)
    assert three is not None
    assert_same(scan_window(run_dir, START, END, labels={"T-1": 0}), three)


def test_how_many_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("AGENTCTL_SCAN_WORKERS", "1")
    assert parallel.workers() == 1
    monkeypatch.setenv("AGENTCTL_SCAN_WORKERS", "3")
    assert parallel.workers() == 3
    monkeypatch.delenv("AGENTCTL_SCAN_WORKERS")
    assert parallel.workers() == min(len(os.sched_getaffinity(0)), parallel.AUTO_MAX)
    monkeypatch.setenv("AGENTCTL_SCAN_WORKERS", "lots")  # not a number: the default
    assert parallel.workers() == min(len(os.sched_getaffinity(0)), parallel.AUTO_MAX)
    assert parallel.plan([], 1) is None
