"""Proactive monitoring through system cron (SPEC §8): schedules, runs, coverage.

Slots. A job's schedule is read in its own ``tz`` (zoneinfo, DST-aware, via croniter).
Its *current slot* is the most recent scheduled time ≤ now; ``cron run`` runs the job
once per slot:
- an overlap lock per job (``state/cron-<name>.lock``, taken without waiting) keeps a
  job that is still running from being started twice — the second call records
  ``skipped`` ("still running") and exits 0;
- ``state/cron.json`` remembers the last slot handled per job; a second call for the
  same slot records ``duplicate`` and runs nothing. Agent jobs also pass
  ``<job>:<slot>`` as the runner's idempotency key, so its ledger guards the run too;
- slots missed since the last one handled are caught up once (``catch_up: once``: the
  most recent missed slot runs first, keyed by that slot) or recorded as missed (``skip``).
Every call writes run records with ``job``, ``trigger: cron`` and ``agent`` (the job's
agent; ``None`` for built-ins, which are attributed by ``job``).

Coverage counts, per job, the slots of a window and the slots a run record covers
(its idempotency key names the slot; else the slot its start falls in).

The crontab block lives in ``agentctl.cron.crontab``.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agentctl.core.clock import iso, parse_iso
from agentctl.core.config import CronJob
from agentctl.core.records import RunError, RunRecord
from agentctl.errors import AgentctlError, ConfigError, NotFound, StateError, TryLater
from agentctl.storage import open_log
from agentctl.workspace.loader import Workspace

Clock = Callable[[], datetime]
RETRY_CODES = frozenset({75, 78})
"""Outcomes that leave the slot open: try later (breaker, budget, lock) and a config error fixed
before the next call — a rerun in the same slot is then a run, not a duplicate."""
PENDING_GRACE = timedelta(hours=1)
"""A slot with no record yet is *pending*, not missed, until min(this, its interval) has passed
(records are written when a run ends)."""

# --- schedule math -------------------------------------------------------------------------


def job_zone(job: CronJob) -> ZoneInfo:
    try:
        return ZoneInfo(job.tz)
    except (KeyError, ValueError):
        raise ConfigError(f"agentctl.yaml [cron {job.name}.tz]: unknown time zone {job.tz!r}") from None


def _iter(job: CronJob, start: datetime) -> Any:
    from croniter import croniter

    if len(job.schedule.split()) != 5 or not croniter.is_valid(job.schedule):
        raise ConfigError(f"agentctl.yaml [cron {job.name}.schedule]: invalid 5-field cron expression "
                          f"{job.schedule!r}")
    return croniter(job.schedule, start.astimezone(job_zone(job)))


def _fixed_hours(job: CronJob) -> bool:
    return job.schedule.split()[1] != "*"


def _repeat(job: CronJob, a: datetime, b: datetime) -> bool:
    """b is a second reading of a's wall-clock time (the hour repeated when DST ends):
    like cron, a job at fixed hours runs once there, not twice."""
    return _fixed_hours(job) and a.replace(tzinfo=None) == b.replace(tzinfo=None)


def next_runs(job: CronJob, now: datetime, n: int = 3) -> list[datetime]:
    """The next ``n`` scheduled times strictly after ``now`` (aware, in the job's tz)."""
    it = _iter(job, now)
    out: list[datetime] = []
    while len(out) < n:
        t = it.get_next(datetime)
        if not (out and _repeat(job, out[-1], t)):
            out.append(t)
    return out


def slot_for(job: CronJob, now: datetime) -> datetime:
    """The current slot: the most recent scheduled time ≤ now (aware, in the job's tz)."""
    it = _iter(job, now.replace(second=0, microsecond=0) + timedelta(minutes=1))
    slot = it.get_prev(datetime)
    before = it.get_prev(datetime)
    return before if _repeat(job, before, slot) else slot  # type: ignore[no-any-return]


def slots_between(job: CronJob, start: datetime, end: datetime) -> list[datetime]:
    """Every scheduled time s with start ≤ s < end."""
    it = _iter(job, start - timedelta(seconds=1))
    out: list[datetime] = []
    while (s := it.get_next(datetime)) < end:
        if not (out and _repeat(job, out[-1], s)):
            out.append(s)
    return out


def slot_key(job: CronJob, slot: datetime) -> str:
    """The idempotency key of a cron run: ``<job>:<slot in UTC ISO>``."""
    return f"{job.name}:{iso(slot)}"


# --- jobs ------------------------------------------------------------------------------


def find_job(ws: Workspace, name: str) -> CronJob:
    for job in ws.config.cron:
        if job.name == name:
            return job
    known = ", ".join(j.name for j in ws.config.cron) or "none defined"
    raise NotFound(f"unknown cron job {name!r} (known: {known})")


def list_jobs(ws: Workspace, now: datetime, n: int = 3) -> list[dict[str, Any]]:
    entries = {job.name: ws.storage.cron.get(job.name) for job in ws.config.cron}
    rows = []
    for job in ws.config.cron:
        nxt = next_runs(job, now, n)
        last = entries.get(job.name) or {}
        rows.append({"name": job.name, "schedule": job.schedule, "tz": job.tz, "agent": job.agent,
                     "builtin": job.builtin, "catchUp": job.catch_up, "description": job.description,
                     "next": [iso(t) for t in nxt], "nextLocal": [t.isoformat() for t in nxt],
                     "lastRun": {k: last.get(k) for k in ("slot", "at", "status", "exitCode")} if last else None})
    return rows


# --- running a job -----------------------------------------------------------------------


@dataclass
class CronOutcome:
    job: str
    slot: str
    status: str
    exit_code: int
    message: str
    records: list[RunRecord] = field(default_factory=list)
    caught_up: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "slot": self.slot, "status": self.status, "exitCode": self.exit_code,
                "message": self.message, "caughtUp": self.caught_up,
                "records": [r.model_dump(mode="json") for r in self.records]}


def _record(ws: Workspace, job: CronJob, slot: datetime, status: str, started: datetime, ended: datetime,
            error: tuple[str, str] | None = None, *, run_id: str | None = None,
            retry_of: str | None = None) -> RunRecord:
    from agentctl.core.redact import redact

    team = role = None
    if job.agent:
        with contextlib.suppress(AgentctlError):
            agent = ws.agents.get(job.agent)
            team, role = (agent.team, agent.role) if agent else (None, None)
    rec = RunRecord(runId=run_id or uuid.uuid4().hex, retryOf=retry_of, startedAt=iso(started), endedAt=iso(ended), agent=job.agent,
                    team=team, role=role, job=job.name, trigger="cron", status=status,  # type: ignore[arg-type]
                    error=RunError(type=error[0], message=redact(error[1])) if error else None,
                    durationS=round(max((ended - started).total_seconds(), 0.0), 3),
                    idempotencyKey=slot_key(job, slot))
    ws.storage.runlog.append(rec)
    return rec


def run_job(ws: Workspace, name: str, now: datetime, clock: Clock, *, scheduled: bool = False) -> CronOutcome:
    """Run job ``name`` once for its current slot (and catch up per ``catch_up``).

    ``scheduled`` is set by installed crontab entries that fire more often than the job
    (its tz differs from cron's): a slot already handled then exits 0 without a record.
    """
    job = find_job(ws, name)
    slot = slot_for(job, now)
    guard = contextlib.ExitStack()
    try:
        guard.enter_context(ws.storage.cron.overlap_lock(job.name))
    except TryLater:
        msg = f"cron job {job.name}: still running (state/cron-{job.name}.lock is held); not started twice"
        rec = _record(ws, job, slot, "skipped", now, now, ("StillRunning", msg))
        return CronOutcome(job.name, iso(slot), "skipped", 0, msg, [rec])
    with guard:
        return _run_locked(ws, job, slot, now, clock, scheduled)


def _run_locked(ws: Workspace, job: CronJob, slot: datetime, now: datetime, clock: Clock,
                scheduled: bool) -> CronOutcome:
    entry = ws.storage.cron.get(job.name) or {}
    last = _parse(entry.get("slot"))
    if last is not None and last >= slot:
        msg = f"cron job {job.name}: slot {iso(slot)} already handled; not run again"
        if scheduled:
            return CronOutcome(job.name, iso(slot), "not_due", 0, msg)
        rec = _record(ws, job, slot, "duplicate", now, now)
        return CronOutcome(job.name, iso(slot), "duplicate", 0, msg, [rec])
    out = CronOutcome(job.name, iso(slot), "success", 0, "")
    seen = max((d for d in (last, _parse(entry.get("missedThrough"))) if d is not None), default=None)
    missed = slots_between(job, seen + timedelta(minutes=1), slot) if seen is not None else []
    if missed:
        _catch_up(ws, job, missed, now, clock, out)
    through = missed[-1] if missed else None
    rec, code, msg = execute(ws, job, slot, clock,
                             remember=lambda r, c: _remember(ws, job, None if c in RETRY_CODES else slot, r, c, through))
    out.records.append(rec)
    out.status, out.message = rec.status, msg
    out.exit_code = code if code != 0 or out.exit_code == 0 else out.exit_code
    return out


def _catch_up(ws: Workspace, job: CronJob, missed: list[datetime], now: datetime, clock: Clock,
              out: CronOutcome) -> None:
    skipped = missed[:-1] if job.catch_up == "once" else missed
    if skipped:
        msg = (f"missed {len(skipped)} slot(s) from {iso(skipped[0])} to {iso(skipped[-1])} "
               f"(catch_up: {job.catch_up}; not run)")
        out.records.append(_record(ws, job, skipped[-1], "skipped", now, now, ("MissedSlots", msg)))
    if job.catch_up == "once":
        rec, code, _ = execute(ws, job, missed[-1], clock,
                               remember=lambda r, c: _remember(ws, job, None if c in RETRY_CODES else missed[-1], r, c,
                                                               None))
        out.records.append(rec)
        out.caught_up = iso(missed[-1])
        out.exit_code = code


def _remember(ws: Workspace, job: CronJob, slot: datetime | None, rec: RunRecord, code: int,
              missed_through: datetime | None) -> None:
    with ws.storage.cron.transaction(job.name) as ledger_slot:
        entry = dict(ledger_slot.value or {})
        ledger_slot.value = entry
        if slot is not None and (_parse(entry.get("slot")) or slot) <= slot:
            entry["slot"] = iso(slot)
        if missed_through is not None:
            entry["missedThrough"] = iso(missed_through)
        entry.update({"at": rec.startedAt, "status": rec.status, "exitCode": code})


def _parse(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        return parse_iso(stamp)
    except AgentctlError:
        raise StateError(f"cron ledger (state/cron/): bad timestamp {stamp!r}; fix or move the file away") from None


def execute(ws: Workspace, job: CronJob, slot: datetime, clock: Clock,
            remember: Callable[[RunRecord, int], None] | None = None) -> tuple[RunRecord, int, str]:
    """Run the job once for ``slot``: an agent through the runner, else the built-in.
    ``remember`` updates the cron ledger — in the same unit of work as a built-in's record."""
    if job.agent:
        rec, code, msg = _execute_agent(ws, job, slot, clock)
        if remember is not None:
            remember(rec, code)
        return rec, code, msg
    return _execute_builtin(ws, job, slot, clock, remember)


def _execute_builtin(ws: Workspace, job: CronJob, slot: datetime, clock: Clock,
                     remember: Callable[[RunRecord, int], None] | None) -> tuple[RunRecord, int, str]:
    """A built-in follows the idempotency rule of runs: its slot key is reserved first and
    bound to the result together with the record and the ledger (SPEC §5)."""
    from agentctl.run import idempotency

    started = clock()
    key, store = slot_key(job, slot), ws.storage.idempotency
    run_id = uuid.uuid4().hex
    try:
        got = idempotency.reserve(store, key, f"builtin:{job.name}", started, run_id=run_id,
                                  find_run=lambda rid: ws.storage.runlog.find(rid, started))
    except AgentctlError as exc:
        status, code = ("skipped" if exc.exit_code == 75 else "failure"), exc.exit_code
        return _record(ws, job, slot, status, started, clock(), (type(exc).__name__, exc.message)), code, exc.message
    if isinstance(got, idempotency.Duplicate):
        msg = f"cron job {job.name}: slot {iso(slot)} already ran as {got.result.get('runId')}; not run again"
        return _record(ws, job, slot, "duplicate", started, clock()), 0, msg
    try:
        status, code, msg, error = run_builtin(ws, job, started)
    except AgentctlError as exc:
        status, code, msg = ("skipped" if exc.exit_code == 75 else "failure"), exc.exit_code, exc.message
        error = (type(exc).__name__, exc.message)
    except Exception as exc:  # a bug in a built-in still leaves an attributed record
        status, code, msg, error = "failure", 70, f"internal error: {exc}", (type(exc).__name__, str(exc)[:300])
    with ws.storage.unit_of_work():  # record, ledger and key: all or nothing
        rec = _record(ws, job, slot, status, started, clock(), error, run_id=run_id, retry_of=got.retry_of)
        if remember is not None:
            remember(rec, code)
        result = {"runId": rec.runId, "status": status, "exitCode": code, "message": msg}
        if code in RETRY_CODES:
            idempotency.release(store, key, f"builtin:{job.name}", clock())
        else:
            idempotency.complete(store, key, f"builtin:{job.name}", result, clock())
    return rec, code, msg


def _execute_agent(ws: Workspace, job: CronJob, slot: datetime, clock: Clock) -> tuple[RunRecord, int, str]:
    from agentctl.run.runner import RunRequest, run_agent

    started = clock()
    req = RunRequest(agent=job.agent or "", prompt=job.prompt, idempotency_key=slot_key(job, slot),
                     trigger="cron", job=job.name)
    try:
        outcome = run_agent(ws, req, clock)
    except AgentctlError as exc:
        status = "skipped" if exc.exit_code == 75 else "failure"
        rec = _record(ws, job, slot, status, started, clock(), (type(exc).__name__, exc.message))
        return rec, exc.exit_code, exc.message
    return outcome.record, outcome.exit_code, outcome.message


# --- built-ins ----------------------------------------------------------------------------

SERVICES = {"scorecard": "agentctl.scorecard.build", "learn": "agentctl.learning.learn", "friction": "agentctl.learning.friction"}


def run_builtin(ws: Workspace, job: CronJob, now: datetime) -> tuple[str, int, str, tuple[str, str] | None]:
    """(status, exit code, message, error) of one built-in run."""
    from agentctl.cron.monitors import MONITORS, monitor_from_args

    assert job.builtin is not None
    if job.builtin in MONITORS:
        res = monitor_from_args(ws, job.builtin, job.args, now, f"cron:{job.name}", f"cron {job.name}")
        if res.findings:
            return "failure", 1, res.message, ("FindingsRaised", res.message)
        return "success", 0, res.message, None
    return _run_service(ws, job, now)


def _run_service(ws: Workspace, job: CronJob, now: datetime) -> tuple[str, int, str, tuple[str, str] | None]:
    """scorecard / learn / friction live in their own modules, each with the contract
    ``run_cron_job(ws, *, now, args) -> int`` (the exit code); a build without one fails clearly."""
    import importlib

    module_name = SERVICES[job.builtin or ""]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        msg = f"builtin {job.builtin}: {module_name} is not available in this build of agentctl"
        return "failure", 1, msg, ("BuiltinUnavailable", msg)
    fn = getattr(module, "run_cron_job", None)
    if not callable(fn):
        msg = f"builtin {job.builtin}: {module_name} has no run_cron_job(ws, *, now, args)"
        return "failure", 1, msg, ("BuiltinUnavailable", msg)
    result = fn(ws, now=now, args=dict(job.args))
    code = result if isinstance(result, int) and not isinstance(result, bool) else 0
    if code == 0:
        return "success", 0, f"builtin {job.builtin}: done", None
    msg = f"builtin {job.builtin}: exit {code}"
    return "failure", code, msg, ("BuiltinFailed", msg)


# --- coverage ----------------------------------------------------------------------------


def coverage(ws: Workspace, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per job: slots expected in [start, end), run records of the job, covered / missed / pending slots.

    A slot is covered by a run record of the job that is not ``skipped`` and whose
    idempotency key names the slot (catch-up runs) or, failing that, that started in
    [slot, next slot). A slot without one is missed once min(PENDING_GRACE, its
    interval) has passed before ``end``; until then it is pending.
    """
    if not ws.config.cron:
        return []
    by_job: dict[str, list[dict[str, Any]]] = {}
    for rec in _job_records(ws, start, end):
        by_job.setdefault(rec["job"], []).append(rec)
    return [_job_coverage(job, start, end, by_job.get(job.name, [])) for job in ws.config.cron]


def _job_records(ws: Workspace, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Run records with a job in [start, end). Most runs have none: the compact
    `"job":null` the run log writes is skipped before parsing (a year: seconds, not a minute)."""
    lo, hi = iso(start)[:19], iso(end)[:19]
    for path in ws.storage.runlog.files_between(start, end):
        fh = open_log(path)
        if fh is None:
            continue
        with fh:
            for raw in fh:
                if b'"job":null' in raw or b'"job"' not in raw:
                    continue
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or not isinstance(rec.get("job"), str):
                    continue
                started = rec.get("startedAt")
                if isinstance(started, str) and lo <= started[:19] < hi:
                    yield rec


def _job_coverage(job: CronJob, start: datetime, end: datetime, records: list[dict[str, Any]]) -> dict[str, Any]:
    slots = [s.astimezone(UTC) for s in slots_between(job, start, end)]
    known = set(slots)
    covered: set[datetime] = set()
    by_status: dict[str, int] = {}
    for rec in records:
        status = str(rec.get("status"))
        by_status[status] = by_status.get(status, 0) + 1
        if status != "skipped" and (s := _record_slot(job, rec, known)) is not None:
            covered.add(s)
    missed: list[datetime] = []
    pending: list[datetime] = []
    for i, s in enumerate(slots):
        if s in covered:
            continue
        nxt = slots[i + 1] if i + 1 < len(slots) else next_runs(job, s, 1)[0].astimezone(UTC)
        (pending if end - s < min(PENDING_GRACE, nxt - s) else missed).append(s)
    return {"job": job.name, "schedule": job.schedule, "tz": job.tz, "agent": job.agent, "builtin": job.builtin,
            "expected": len(slots), "recorded": len(records), "covered": len(known & covered),
            "missed": len(missed), "missedSlots": [iso(s) for s in missed], "pending": [iso(s) for s in pending],
            "byStatus": dict(sorted(by_status.items()))}


def _record_slot(job: CronJob, rec: dict[str, Any], known: set[datetime]) -> datetime | None:
    key = rec.get("idempotencyKey")
    prefix = f"{job.name}:"
    if isinstance(key, str) and key.startswith(prefix):
        with contextlib.suppress(AgentctlError):
            if (s := parse_iso(key[len(prefix):])) in known:
                return s
    started = rec.get("startedAt")
    if not isinstance(started, str):
        return None
    try:
        return slot_for(job, parse_iso(started)).astimezone(UTC)
    except AgentctlError:
        return None
