"""The run log: logs/runs/YYYY-MM-DD.jsonl, one record per line, one file per UTC day.

Appends are single writes of one complete line (never interleaved); readers
open only the files of the window asked for and skip (and count) torn lines.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from agentctl.core.clock import iso, upper_bound_second
from agentctl.core.records import RunRecord
from agentctl.storage.base import DaySpend, RunScan
from agentctl.storage.files import durable, journal
from agentctl.storage.files.daylog import window_files
from agentctl.storage.files.durable import JsonlReader, dumps_line


@functools.cache
def _spend_decoder() -> tuple[Any, tuple[type[Exception], ...]]:
    """(decoder, its errors) for the four fields a budget needs: the day's file is read before every
    run, so each line is decoded into just these (msgspec), not into a whole record. Built on first
    use: msgspec is not imported by the hot read commands (tests/test_startup.py)."""
    import msgspec

    class _SpendLine(msgspec.Struct):
        agent: str | None = None
        costUsd: float | None = None  # noqa: N815 — the run record's field name
        status: str | None = None
        provider: str | None = None

    return msgspec.json.Decoder(_SpendLine), (msgspec.DecodeError, msgspec.ValidationError)


class FileRunLog:
    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "logs" / "runs"

    aggregates = False

    def day_files(self, start: datetime, end: datetime) -> list[tuple[Path, bool]]:
        return window_files(self.dir, start, end)

    def scorecard_facts(self, lo: datetime, hi: datetime, **kw: Any) -> dict[str, list[tuple[Any, ...]]]:
        raise NotImplementedError("the file run log does not aggregate: the scorecard folds day_files")

    def path_for(self, day: date) -> Path:
        return self.dir / f"{day.isoformat()}.jsonl"

    def append(self, record: RunRecord) -> None:
        day = date.fromisoformat(record.startedAt[:10])
        with journal.unit(self.root) as unit:
            unit.append(self.path_for(day), dumps_line(record.model_dump(mode="json")))

    def files_between(self, start: datetime, end: datetime) -> list[Path]:
        """The daily files that can hold runs started in [start, end)."""
        out = []
        day = start.date()
        while day <= end.date():
            p = self.path_for(day)
            if p.exists():
                out.append(p)
            day += timedelta(days=1)
        return out

    def read_window(self, start: datetime, end: datetime, reader: JsonlReader | None = None) -> Iterator[dict[str, Any]]:
        """Run records whose ``startedAt`` falls in [start, end), as dicts."""
        reader = reader or JsonlReader()
        lo = start.strftime("%Y-%m-%dT%H:%M:%S")
        hi = upper_bound_second(end)
        for path in self.files_between(start, end):
            for rec in reader.read(path):
                started = rec.get("startedAt")
                if isinstance(started, str) and lo <= started[:19] < hi:
                    yield rec

    def scan(self, start: datetime, end: datetime) -> RunScan:
        """The records of [start, end) and the count of unreadable lines."""
        reader = JsonlReader()
        records = list(self.read_window(start, end, reader))
        return RunScan(records, reader.skipped)

    def spend_of_day(self, day: date, agent: str | None = None) -> float:
        """Sum of ``costUsd`` of the day's runs (of ``agent``); unpriced runs count 0."""
        total = 0.0
        for rec in JsonlReader().read(self.path_for(day)):
            cost = rec.get("costUsd")
            if isinstance(cost, (int, float)) and (agent is None or rec.get("agent") == agent):
                total += float(cost)
        return total

    def spend_by_agent(self, day: date) -> DaySpend:
        """The day's spend per agent from that day's file only; torn lines skipped."""
        spend = DaySpend()
        decoder, errors = _spend_decoder()
        for line in (durable.read_bytes(self.path_for(day)) or b"").splitlines():
            try:
                rec = decoder.decode(line)
            except errors:
                continue
            add_spend(spend, rec.agent, rec.costUsd, rec.status, rec.provider)
        return spend

    def job_records(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Run records with a job in [start, end). Most runs have none: the compact
        `"job":null` the run log writes is skipped before parsing (a year: seconds, not a minute)."""
        lo, hi = iso(start)[:19], iso(end)[:19]
        for path in self.files_between(start, end):
            fh = durable.open_log(path)
            if fh is None:
                continue
            with fh:
                for raw in fh:
                    if b'"job":null' in raw or b'"job"' not in raw:
                        continue
                    rec = _job_record(raw)
                    started = rec.get("startedAt") if rec is not None else None
                    if rec is not None and isinstance(started, str) and lo <= started[:19] < hi:
                        yield rec

    def find(self, run_id: str, around: datetime | None = None) -> dict[str, Any] | None:
        """The record ``run_id``: the days around ``around`` first, else every file."""
        paths = sorted(self.dir.glob("*.jsonl"), reverse=True)
        if around is not None:
            near = self.files_between(around - timedelta(days=1), around + timedelta(days=1))
            paths = near + [p for p in paths if p not in near]
        for path in paths:
            for rec in JsonlReader().read(path):
                if rec.get("runId") == run_id:
                    return rec
        return None


def _job_record(raw: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(raw)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("job"), str) else None


def add_spend(spend: DaySpend, agent: str | None, cost: float | None, status: str | None,
              provider: str | None) -> None:
    """Count one run record into ``spend`` (the rule of ``DaySpend``)."""
    name = agent or "?"
    if cost is not None:
        spend.cost[name] = spend.cost.get(name, 0.0) + cost
    elif status not in ("skipped", "duplicate") and provider not in (None, "command"):
        spend.unpriced[name] = spend.unpriced.get(name, 0) + 1
