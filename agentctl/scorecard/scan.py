"""The scorecard's run-log scan: the daily files of a window folded into sums per group.

It owns the hot path of ``agentctl scorecard`` (SPEC §9) and of cron coverage, kept apart
from the report so the code that must stay fast (``benchmarks/scorecard_scan.py``) is in
one place. One pass over the window feeds both.

- Only the window's daily files are opened (cost follows the window, not the history).
- Each file is decoded with one msgspec ``decode_lines`` call into a struct of just the
  fields the report reads: whitespace, key order and null fields do not matter. The
  struct validates in C: ``startedAt`` is an RFC 3339 time (offsets honoured), ``status``
  one of SPEC §5's, tokens, cost and duration ≥ 0. A block that fails is decoded line
  by line; each line that still fails is skipped and counted by reason (``REASONS``;
  decoding lives in ``agentctl.scorecard.decode``).
- Every run is filtered by time (parsed, never compared as text): runs outside the
  window are dropped wherever they are filed.
- The fold keeps sums per group (``GroupKey``: agent, model, status, job, recorded tier,
  fallbackFrom, recorded team), per UTC day and per task label (product, task tree), plus the few
  order-dependent facts (trailing errors, first attempts, error types, breaker refusals,
  rejected tasks, the runs of each cron job). Order is (startedAt, position in the
  log): of two runs with the same start, the later line is the later run.

``ScanResult`` is the seam: a SQL source (PostgreSQL) can produce the same sums with
``GROUP BY`` and the report builder (``agentctl.scorecard.build``) cannot tell.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from agentctl.core.clock import window_bounds
from agentctl.scorecard.decode import REASONS, STATUSES, Decoders, chunks
from agentctl.storage import window_files

EXECUTED = frozenset(STATUSES[:4])
FAILED = frozenset({"failure", "rejected", "selftest_failed"})
TASK_HORIZON_DAYS = 14
BREAKER_ERROR = re.compile(r"breaker", re.I)
NEVER = datetime.min.replace(tzinfo=UTC)
HORIZON = timedelta(days=TASK_HORIZON_DAYS)
ZERO = timedelta(0)

# GroupKey = (agent, model, status, job, tier, fallbackFrom, team)
GroupKey = tuple[Any, ...]
# per-group sums: runs, tokensIn, tokensOut, durationS, priced cost, unpriced runs, retries
N, TIN, TOUT, DUR, COST, UNPRICED, RETRIES = range(7)
AGENT, MODEL, STATUS, JOB, TIER, FALLBACK, TEAM = range(7)


TRIGGERS = {t: t for t in ("cron", "manual", "work", "mcp")}
"""One string object per common trigger value (a year of an hourly job is 8,760 runs kept)."""


class JobRun(msgspec.Struct, frozen=True, gc=False):
    """A cron job's run, as cron coverage reads it (its fields are the record's keys): a small
    struct, not a dict per run, because the scan keeps every job run of the window."""

    status: str
    idempotencyKey: str | None
    startedAt: datetime
    trigger: str | None = None
    error: dict[str, Any] | None = None


def _day_start(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@dataclass
class ScanResult:
    """What the scan keeps — the builder's only input from the run log (a SQL source fills the same).

    ``sums``: GroupKey → [runs, tokensIn, tokensOut, durationS, priced cost, unpriced runs, retries];
    ``daily``: UTC day → [executed runs, successes, failures, priced cost, unpriced runs] (runs of
    ``free_jobs`` built-ins are never unpriced); ``label_sums``: (task label, agent, status, job) →
    [runs, priced cost, unpriced runs], for runs of the tasks the builder labelled (product, tree);
    the rest are per agent.
    """

    sums: dict[GroupKey, list[Any]] = field(default_factory=dict)
    label_sums: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)
    daily: dict[str, list[Any]] = field(default_factory=dict)
    last_ok: dict[str | None, tuple[datetime, int]] = field(default_factory=dict)
    trailing: dict[str | None, list[tuple[datetime, int]]] = field(default_factory=lambda: defaultdict(list))
    last_run: dict[str | None, datetime] = field(default_factory=dict)
    error_counts: dict[tuple[str | None, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    """(agent, failed status) → error type → runs (in the order each type first appears)."""
    breaker_refused: Counter[str | None] = field(default_factory=Counter)
    rejected_tasks: dict[str | None, Counter[str | None]] = field(default_factory=lambda: defaultdict(Counter))
    job_runs: dict[str, list[JobRun]] = field(default_factory=lambda: defaultdict(list))
    """cron job → its runs in the window, in log order (what cron coverage reads)."""
    skipped: Counter[str] = field(default_factory=Counter)
    files: int = 0
    bytes: int = 0

    def error_types(self) -> dict[tuple[str | None, str], Counter[str]]:
        """(agent, failed status) → error type → runs."""
        return dict(self.error_counts)

    def consecutive_errors(self, agent: str | None) -> int:
        cut = self.last_ok.get(agent, (NEVER, -1))
        return sum(1 for t in self.trailing.get(agent, ()) if t > cut)

    def agents_seen(self) -> set[str | None]:
        return {k[AGENT] for k in self.sums}

    def skipped_lines(self) -> dict[str, Any]:
        return {"total": sum(self.skipped.values()), "byReason": {r: self.skipped[r] for r in REASONS}}


class Fold:
    """Folds the window's files, in day order, into a ScanResult.

    Each block is folded right after it is decoded, in one pass over its runs while they are hot
    in the CPU cache, into block-local slots merged once per block: the per-run work is a few
    attribute loads, one dict lookup and a few adds. A slot is [runs, tokensIn, tokensOut,
    durationS, cost, unpriced, retries, keep-details (failures, refusals, cron runs: read once per
    block by ``_details``; a success without a job needs only its latest start), latest start, its
    position, is-a-failure]. File order is time
    order for the attempts of one task (they are sequential): a run is a retry when its task's
    latest earlier failure in the log started at most TASK_HORIZON_DAYS before it (and not after it).
    """

    def __init__(self, start: datetime, end: datetime, agents: Iterable[str] = (), models: Iterable[str] = (),
                 labels: dict[str, int] | None = None, free_jobs: Iterable[str] = (), tiers: Iterable[str] = (),
                 teams: Iterable[str] = ()):
        self.lo, self.hi = window_bounds(start, end)
        self.decoders = Decoders(agents, models, tiers, teams)
        self.labels = labels or {}
        self.free_jobs = frozenset(free_jobs)
        self.out = ScanResult()
        self.failed_tasks: dict[str, datetime] = {}
        """task → start of its latest failure in the log (evicted once older than the horizon)."""
        self.file_no = self.seq = 0
        self.evicted = self.floor = NEVER
        """floor: a failure that started before it makes no retry in this file (the file's day − horizon − 1 day:
        eviction never changes a result, and a scan split by days gives what one pass gives)."""

    def add_file(self, path: Path, day: str) -> None:
        d0 = _day_start(day)
        self.floor = d0 - HORIZON - timedelta(days=1)
        strays: list[Any] = []
        opened = False
        for buf in chunks(path):
            opened = True
            self.out.bytes += len(buf)
            recs = self.decoders.block(buf, self.out.skipped)
            strays += self._fold(recs, max(self.lo, d0), min(self.hi, d0 + timedelta(days=1)), day)
        self.out.files += opened
        self.file_no += 1
        self._strays(strays)
        self._evict(d0)

    def _evict(self, d0: datetime) -> None:
        """Forget failures too old to make a retry of any run from day ``d0`` on (every horizon's days)."""
        if d0 - self.evicted >= HORIZON:
            self.failed_tasks = {t: f for t, f in self.failed_tasks.items() if f >= self.floor}
            self.evicted = d0

    def _strays(self, strays: list[Any]) -> None:
        """Runs filed under another day than their start's: those in the window count under their own day."""
        by_day: dict[str, list[Any]] = defaultdict(list)
        for r in strays:
            t = r.startedAt.astimezone(UTC)
            if self.lo <= t < self.hi:
                by_day[t.date().isoformat()].append(r)
        for day, recs in sorted(by_day.items()):
            d0 = _day_start(day)
            self._fold(recs, max(self.lo, d0), min(self.hi, d0 + timedelta(days=1)), day)

    def _fold(self, recs: list[Any], lo: datetime, hi: datetime, day: str) -> list[Any]:
        local: dict[GroupKey, list[Any]] = {}
        get, failed, horizon, zero, floor = local.get, self.failed_tasks, HORIZON, ZERO, self.floor
        strays: list[Any] = []
        others: list[tuple[Any, int]] = []
        keep = others.append
        base = self.seq
        self.seq += len(recs)
        for i, r in enumerate(recs):  # the hot loop: keep it to attribute loads, a dict lookup and a few adds
            ts = r.startedAt
            if not lo <= ts < hi:
                strays.append(r)
                continue
            t = r.taskId
            key = (r.agent, r.model, r.status, r.job, r.tier, r.fallbackFrom, r.team)
            s = get(key)
            if s is None:
                s = local[key] = _new_slot(key)
            s[0] += 1
            s[1] += r.tokensIn
            s[2] += r.tokensOut
            s[3] += r.durationS
            c = r.costUsd
            if c is None:
                s[5] += 1
            else:
                s[4] += c
            if t in failed and zero <= ts - (f := failed[t]) <= horizon and f >= floor:  # (None is never in failed)
                s[6] += 1
            if s[7]:  # a failure, a refusal or a cron run: its details are read once per file
                keep((r, i))
                if s[10] and t is not None:
                    failed[t] = ts
            elif ts >= s[8]:  # a success: only its latest start matters
                s[8] = ts
                s[9] = i
        self._details(others, base)
        self._merge(local, day, base)
        if self.labels:
            self._by_label(recs, lo, hi)
        return strays

    def _by_label(self, recs: list[Any], lo: datetime, hi: datetime) -> None:
        """Runs of labelled tasks (a second, cheap pass: only workspaces whose tasks have a product or a tree)."""
        label, sums = self.labels.get, self.out.label_sums
        for r in recs:
            lab = label(r.taskId)
            if lab is None or not lo <= r.startedAt < hi:
                continue
            key = (lab, r.agent, r.status, r.job)
            s = sums.get(key)
            if s is None:
                s = sums[key] = [0, 0.0, 0]
            s[0] += 1
            if r.costUsd is None:
                s[2] += 1
            else:
                s[1] += r.costUsd

    def _merge(self, local: dict[GroupKey, list[Any]], day: str, base: int) -> None:
        out, sums, free = self.out, self.out.sums, self.free_jobs
        daily = out.daily.setdefault(day, [0, 0, 0, 0.0, 0])
        touched = set()
        for key, s in local.items():
            g = sums.get(key)
            if g is None:
                sums[key] = s[:7]
            else:
                g[0] += s[0]
                g[1] += s[1]
                g[2] += s[2]
                g[3] += s[3]
                g[4] += s[4]
                g[5] += s[5]
                g[6] += s[6]
            agent, status = key[AGENT], key[STATUS]
            touched.add(agent)
            if status in EXECUTED:
                daily[0] += s[0]
                daily[1 if status == "success" else 2] += s[0]
                daily[3] += s[4]
                daily[4] += 0 if agent is None and key[JOB] in free else s[5]
            if not s[7]:
                self._latest_ok(agent, (s[8], base + s[9]))
        for agent in touched:
            cut = out.last_ok.get(agent)
            times = out.trailing.get(agent)
            if cut and times and min(times) <= cut:
                times[:] = [t for t in times if t > cut]

    def _latest_ok(self, agent: str | None, latest: tuple[datetime, int]) -> None:
        out = self.out
        if latest > out.last_ok.get(agent, (NEVER, -1)):
            out.last_ok[agent] = latest
        if latest[0] > out.last_run.get(agent, NEVER):
            out.last_run[agent] = latest[0]

    def _details(self, others: list[tuple[Any, int]], base: int) -> None:
        """One pass over the block's non-success and cron runs: latest starts, failures in order, error
        types, rejected tasks, breaker refusals and each cron job's runs."""
        out = self.out
        last_run, last_ok, trailing, errors = out.last_run, out.last_ok, out.trailing, out.error_counts
        for r, i in others:
            agent, status, ts = r.agent, r.status, r.startedAt
            if ts > last_run.get(agent, NEVER):
                last_run[agent] = ts
            if status == "success":
                if (ts, base + i) > last_ok.get(agent, (NEVER, -1)):
                    last_ok[agent] = (ts, base + i)
            elif status in FAILED:
                trailing[agent].append((ts, base + i))
                errors[agent, status][(r.error.type if r.error is not None else None) or status] += 1
                if status == "rejected":
                    out.rejected_tasks[agent][r.taskId] += 1
            elif status == "skipped" and r.error is not None and BREAKER_ERROR.search(r.error.type or ""):
                out.breaker_refused[agent] += 1
            if r.job is not None:
                out.job_runs[r.job].append(JobRun(status, r.idempotencyKey, ts, TRIGGERS.get(r.trigger, r.trigger),
                                                  None if r.error is None else {"type": r.error.type}))


def _new_slot(key: GroupKey) -> list[Any]:
    status = key[STATUS]
    return [0, 0, 0, 0.0, 0.0, 0, 0, status != "success" or key[JOB] is not None, NEVER, -1, status in FAILED]


def scan_window(run_dir: Path, start: datetime, end: datetime, agents: Iterable[str] = (),
                models: Iterable[str] = (), labels: dict[str, int] | None = None,
                free_jobs: Iterable[str] = (), tiers: Iterable[str] = (), teams: Iterable[str] = ()) -> ScanResult:
    """Fold every run started in [start, end) of the daily files under ``run_dir`` (tests, benchmarks)."""
    return scan_files([p for p, _b in window_files(run_dir, start, end)], start, end, agents, models, labels,
                      free_jobs, tiers, teams)


def scan_files(paths: list[Path], start: datetime, end: datetime, agents: Iterable[str] = (),
               models: Iterable[str] = (), labels: dict[str, int] | None = None,
               free_jobs: Iterable[str] = (), tiers: Iterable[str] = (), teams: Iterable[str] = ()) -> ScanResult:
    """Fold every run started in [start, end) of the window's daily files, as the run-log store
    lists them (``RunLogStore.day_files``): the scorecard never works out where the log lives."""
    kw: dict[str, Any] = dict(agents=agents, models=models, labels=labels, free_jobs=free_jobs, tiers=tiers,
                              teams=teams)
    from agentctl.scorecard.parallel import scan_parts

    with _gc_paused():
        parts = scan_parts(paths, start, end, kw)
        if parts is not None:
            return parts
        fold = Fold(start, end, **kw)
        for path in paths:
            fold.add_file(path, path.stem)
    return fold.out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC during the scan: it allocates millions of acyclic objects (structs, strings, key
    tuples) and CPython counts each allocation towards a collection, which doubles the scan time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
