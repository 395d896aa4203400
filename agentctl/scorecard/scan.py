"""The scorecard's run-log scan: the daily files of a window folded into sums per group.

It owns the hot path of ``agentctl scorecard`` (SPEC §9), kept apart from the report so
the code that must stay fast (see ``benchmarks/scorecard_scan.py``) is in one place.

It reads only the daily run-log files of the window (its cost follows the window,
not the history; files outside it are never opened), skips the out-of-window lines
of the two boundary files before parsing, decodes each file with one msgspec
``decode_lines`` call into a struct holding just the fields it needs (agent, model
and status typed as Literals of the workspace's names, so they come back interned),
skips and counts torn or corrupt lines, and folds the file in one pass into sums per
(agent, model, status, job) plus the few order-dependent facts the report needs
(trailing errors, first attempts, error types, breaker refusals, rejected tasks).
Prices, tiers and everything else the report derives from these sums live in
``agentctl.scorecard.build``.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as time_of_day
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

import msgspec

from agentctl.core.clock import upper_bound_second
from agentctl.errors import StateError
from agentctl.storage import open_log

STATUSES = ("success", "failure", "rejected", "selftest_failed", "skipped", "duplicate")
FAILED = frozenset({"failure", "rejected", "selftest_failed"})
TASK_HORIZON_DAYS = 14
BREAKER_ERROR = re.compile(r"breaker", re.I)


class _Error(msgspec.Struct, gc=False):
    type: str | None = None


class ScanRun(msgspec.Struct, gc=False, omit_defaults=True, forbid_unknown_fields=False):
    """The fields of a run record the scorecard reads; every other field is skipped by the decoder."""

    startedAt: str
    status: str
    agent: str | None = None
    taskId: str | None = None
    job: str | None = None
    model: str | None = None
    error: _Error | None = None
    tokensIn: int = 0
    tokensOut: int = 0
    costUsd: float | None = None
    durationS: float = 0.0


def _literal(values: Iterable[str]) -> Any:
    names = tuple(sorted(set(values)))
    return Literal[names] if names else str  # type: ignore[valid-type]


def scan_decoders(agents: Iterable[str] = (),
                  models: Iterable[str] = ()) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]:
    """(fast, general) decoders. The fast one types agent, model and status as Literals of the
    workspace's names, so msgspec hands back the same interned strings (hashed once) instead of a new
    string per field per run — grouping gets ~2× cheaper. A line with a name the workspace does not know
    fails it and is decoded again by the general one: unknown agents are counted, never dropped."""
    known = {"agent": _literal(agents), "model": _literal(models)}
    fields = []
    for f in msgspec.structs.fields(ScanRun):
        t = Literal[STATUSES] if f.name == "status" else (known[f.name] | None if f.name in known else f.type)
        fields.append((f.name, t, f.default))
    fast = msgspec.defstruct("ScanRunKnown", fields, gc=False)
    return msgspec.json.Decoder(fast), msgspec.json.Decoder(ScanRun)


_STARTED, _TASK = attrgetter("startedAt"), attrgetter("taskId")
_MARK = b'"startedAt":"'
CHUNK = 16 << 20

# per-group sums (the first slots of _Slots): runs, tokensIn, tokensOut, durationS, priced cost, unpriced, retries
N, TIN, TOUT, DUR, COST, UNPRICED, RETRIES = range(7)


def _decode(buf: bytes, fast: msgspec.json.Decoder[Any], general: msgspec.json.Decoder[Any]) -> tuple[list[Any], int]:
    """Decode a block of lines; when the batch fails, go line by line, skipping and counting bad lines."""
    try:
        return fast.decode_lines(buf), 0
    except msgspec.DecodeError:
        pass
    out, bad = [], 0
    for line in buf.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.append(fast.decode(line))
        except msgspec.ValidationError:
            try:
                out.append(general.decode(line))
            except msgspec.DecodeError:
                bad += 1
        except msgspec.DecodeError:
            bad += 1
    return out, bad


def _clip_lines(buf: bytes, lo: bytes, hi: bytes) -> bytes:
    """Drop the lines of a boundary file whose startedAt prefix is outside [lo, hi), before parsing."""
    keep = []
    for line in buf.split(b"\n"):
        i = line.find(_MARK, 0, 200)
        if i < 0:
            keep.append(line)  # not the usual layout: let the decoder (and the check after it) decide
            continue
        ts = line[i + 13:i + 32]
        if lo <= ts < hi:
            keep.append(line)
    return b"\n".join(keep)


def _chunks(path: Path) -> Iterator[bytes]:
    """The file in blocks that end on a line boundary: a daily file is usually one block, read at once."""
    fh = open_log(path)
    if fh is None:
        return
    with fh:
        rest = b""
        while True:
            try:
                block = fh.read(CHUNK)
            except OSError as exc:
                raise StateError(f"{path}: unreadable ({exc.strerror})") from None
            if not block:
                break
            if rest:
                block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == len(block):
                rest = b""
                yield block
            else:
                rest = block[cut:]
                if cut:
                    yield block[:cut]
        if rest:
            yield rest


def window_files(run_dir: Path, start: datetime, end: datetime) -> list[tuple[Path, bool]]:
    """(path, is_boundary) of the daily files that can hold runs started in [start, end)."""
    out, day, last = [], start.date(), (end - timedelta(microseconds=1)).date()
    cut_start = start.time() != time_of_day(0)  # a window starting at midnight takes its first day whole
    while day <= last:
        boundary = (day == start.date() and cut_start) or day == end.date()
        out.append((run_dir / f"{day.isoformat()}.jsonl", boundary))
        day += timedelta(days=1)
    return out


class _Slots(dict[tuple[Any, ...], list[Any]]):
    """Sums per (agent, model, status, job): [runs, tokensIn, tokensOut, durationS, priced cost,
    unpriced runs, retries, latest startedAt, the file's runs of the group (kept for failures and
    refusals only, else None), is-a-failure]. Slots are also listed by status kind, so the work done
    once per file walks a few dozen slots instead of every run."""

    def __init__(self) -> None:
        super().__init__()
        self.successes: list[tuple[str | None, list[Any]]] = []
        self.failed: list[tuple[str | None, str, list[Any]]] = []
        self.others: list[tuple[str | None, str, list[Any]]] = []

    def slot(self, key: tuple[Any, ...]) -> list[Any]:
        agent, status = key[0], key[2]
        failed = status in FAILED
        slot = self[key] = [0, 0, 0, 0.0, 0.0, 0, 0, "", None if status == "success" else [], failed]
        if status == "success":
            self.successes.append((agent, slot))
        else:
            (self.failed if failed else self.others).append((agent, status, slot))
        return slot


@dataclass
class Fold:
    """What the scan keeps: sums per (agent, model, status, job) plus a few order-dependent facts.

    Each file is folded right after it is decoded, in one pass over its runs while they are hot in
    the CPU cache (several C-level passes over a group cost more: each one walks the structs again).
    File order is time order for the attempts of one task (they are sequential), which is what the
    first-attempt count relies on.
    """

    lo: str
    hi: str
    fast: msgspec.json.Decoder[Any]
    general: msgspec.json.Decoder[Any]
    sums: _Slots = field(default_factory=_Slots)
    last_success: dict[str | None, str] = field(default_factory=dict)
    trailing_failures: dict[str | None, list[str]] = field(default_factory=lambda: defaultdict(list))
    error_types: dict[tuple[str | None, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    """(agent, failed status) → the error type of each such run (counted once, at the end)."""
    breaker_refused: Counter[str | None] = field(default_factory=Counter)
    rejected_tasks: dict[str | None, Counter[str | None]] = field(default_factory=lambda: defaultdict(Counter))
    failed_tasks: dict[str, int] = field(default_factory=dict)
    """Task ids with a failed run, and the day of that run (forgotten after TASK_HORIZON_DAYS)."""
    evicted_day: int = 0
    day: int = 0
    skipped_lines: int = 0
    files: int = 0
    bytes: int = 0

    def add_file(self, path: Path, boundary: bool, day: int = 0) -> None:
        lo_b, hi_b = self.lo.encode(), self.hi.encode()
        opened = False
        self.day = day
        for buf in _chunks(path):
            opened = True
            self.bytes += len(buf)
            if boundary:
                buf = _clip_lines(buf, lo_b, hi_b)
            recs, bad = _decode(buf, self.fast, self.general)
            self.skipped_lines += bad
            if boundary:  # interior files hold only their own day (FileRunLog files a run by its start)
                recs = [r for r in recs if self.lo <= r.startedAt[:19] < self.hi]
            self._fold(recs)
        self.files += opened

    def _fold(self, recs: list[Any]) -> None:
        sums, failed, day = self.sums, self.failed_tasks, self.day
        get = sums.get
        for r in recs:  # the hot loop: keep it to attribute loads, a dict lookup and a few adds
            key = (r.agent, r.model, r.status, r.job)
            s = get(key)
            if s is None:
                s = sums.slot(key)
            s[0] += 1
            s[1] += r.tokensIn
            s[2] += r.tokensOut
            s[3] += r.durationS
            c = r.costUsd
            if c is None:
                s[5] += 1
            else:
                s[4] += c
            if r.taskId in failed:  # (None never is)
                s[6] += 1  # a retry: its task already failed, earlier in the log
            runs = s[8]
            if runs is None:  # a success: only its time matters here
                st = r.startedAt
                if st > s[7]:
                    s[7] = st
            else:
                runs.append(r)
                if s[9] and r.taskId is not None:
                    failed.setdefault(r.taskId, day)
        self._after_file()

    def _after_file(self) -> None:
        """Once per file, per slot: last success, failure times, error types, refusals (C-level maps)."""
        for agent, slot in self.sums.successes:
            if slot[7] > self.last_success.get(agent, ""):
                self.last_success[agent] = slot[7]
        for agent, status, slot in self.sums.failed:
            runs = slot[8]
            if runs:
                starts = list(map(_STARTED, runs))
                latest = max(starts)
                if latest > slot[7]:
                    slot[7] = latest
                cut = self.last_success.get(agent, "")
                if latest > cut:  # some may be trailing errors: keep those after the last success
                    self.trailing_failures[agent].extend(t for t in starts if t > cut)
                self.error_types[agent, status].extend(_error_types(runs))
                if status == "rejected":
                    self.rejected_tasks[agent].update(map(_TASK, runs))
                runs.clear()
        for agent, status, slot in self.sums.others:
            runs = slot[8]
            if runs:
                slot[7] = max(slot[7], max(map(_STARTED, runs)))
                if status == "skipped":
                    self.breaker_refused[agent] += sum(1 for t in _error_types(runs) if BREAKER_ERROR.search(t))
                runs.clear()
        for agent, times in self.trailing_failures.items():
            last = self.last_success.get(agent)
            if times and last and min(times) <= last:
                times[:] = [t for t in times if t > last]
        if self.day - self.evicted_day >= TASK_HORIZON_DAYS:
            keep = self.day - TASK_HORIZON_DAYS
            self.failed_tasks = {t: d for t, d in self.failed_tasks.items() if d >= keep}
            self.evicted_day = self.day

    def errors(self) -> dict[tuple[str | None, str], Counter[str]]:
        """(agent, failed status) → error type → runs."""
        return {key: Counter(types) for key, types in self.error_types.items()}

    def consecutive_errors(self, agent: str | None) -> int:
        cut = self.last_success.get(agent, "")
        return sum(1 for t in self.trailing_failures.get(agent, ()) if t > cut)

    def last_run(self, agent: str | None) -> str | None:
        return max((s[7] for k, s in self.sums.items() if k[0] == agent), default=None) or None

    def agents_seen(self) -> set[str | None]:
        return {k[0] for k in self.sums}


_ERROR_TYPE = attrgetter("error.type")


def _error_types(g: list[Any]) -> list[str]:
    try:
        types = list(map(_ERROR_TYPE, g))
    except AttributeError:  # a failed run without an error object
        types = [r.error.type if r.error is not None else None for r in g]
    return [t or r.status for t, r in zip(types, g, strict=True)] if None in types else types


def scan_window(run_dir: Path, start: datetime, end: datetime, agents: Iterable[str] = (),
                models: Iterable[str] = ()) -> Fold:
    """Fold every run started in [start, end); opens only the window's daily files."""
    fast, general = scan_decoders(agents, models)
    fold = Fold(lo=start.strftime("%Y-%m-%dT%H:%M:%S"), hi=upper_bound_second(end),
                fast=fast, general=general)
    with _gc_paused():
        for day, (path, boundary) in enumerate(window_files(run_dir, start, end)):
            fold.add_file(path, boundary, day)
    return fold


def fold_blocks(blocks: Iterable[tuple[int, bytes]], start: datetime, end: datetime, agents: Iterable[str] = (),
                models: Iterable[str] = ()) -> Fold:
    """``scan_window`` over (day offset, JSONL bytes) blocks in time order — a run log kept in a
    database (``RunLog.day_blocks``) instead of daily files."""
    fast, general = scan_decoders(agents, models)
    fold = Fold(lo=start.strftime("%Y-%m-%dT%H:%M:%S"), hi=upper_bound_second(end), fast=fast, general=general)
    with _gc_paused():
        for day, buf in blocks:
            fold.day = day
            fold.bytes += len(buf)
            recs, bad = _decode(buf, fold.fast, fold.general)
            fold.skipped_lines += bad
            fold._fold(recs)
            fold.files += 1
    return fold


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC during the scan: it allocates millions of acyclic objects (structs, strings, key
    tuples) and CPython counts each allocation towards a collection, which doubles the scan time.
    Nothing the scan builds is cyclic, so nothing is left for the collector afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

