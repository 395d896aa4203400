"""Proactive monitoring through system cron (SPEC §8): running jobs, listing them.

Two ways in:
- ``cron run NAME --scheduled`` is what the installed crontab entry calls. It acts only
  when now is in the minute of one of the job's slots, read in the job's own ``tz``
  (``schedule.is_due``); any other firing (the entry may fire more often than the job,
  see ``crontab.py``) does nothing and writes nothing. A due call runs the slot once:
  an overlap lock per job (``ws.storage.cron.overlap_lock``, taken without waiting) records
  ``skipped`` for a second concurrent call; the cron ledger remembers the last
  slot handled, so a second call for it records ``duplicate``; agent jobs pass
  ``<job>:<slot>`` as the runner's idempotency key (built-ins reserve it too); slots missed since the last one
  are caught up once (``catch_up: once``) or recorded as missed (``skip``). Records
  carry ``trigger: cron``; the outcome feeds the failure alerts (``failures.py``).
- ``cron run NAME`` by hand runs the job now, ``trigger: manual``, with no slot: it
  neither covers nor consumes a scheduled slot and does not touch the failure streak.

Every record has ``job`` and ``agent`` (the job's agent; None for built-ins, which are
attributed by ``job``). Schedule math is in ``schedule.py``, coverage in ``coverage.py``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentctl.core.clock import iso
from agentctl.core.config import CronJob
from agentctl.core.records import RunError, RunRecord
from agentctl.cron.coverage import PENDING_GRACE, daily_slots  # noqa: F401  (re-exported: tests)
from agentctl.cron.coverage import coverage as coverage  # re-exported: cli
from agentctl.cron.coverage import coverage_from_runs as coverage_from_runs  # re-exported: scorecard, tests
from agentctl.cron.schedule import (  # noqa: F401  (re-exported)
    check_job,
    is_due,
    job_zone,
    next_runs,
    slot_for,
    slot_key,
    slots_between,
)
from agentctl.cron.state import all_entries, coverage_start, entry_of, mark_defined, parse_stamp, update
from agentctl.errors import AgentctlError, ConfigError, NotFound, TryLater
from agentctl.workspace.loader import Workspace

Clock = Callable[[], datetime]
RETRY_CODES = frozenset({75, 78})
"""Outcomes that leave the slot open: try later (breaker, budget, lock) and a config error fixed
before the next call — a rerun in the same slot is then a run, not a duplicate."""
_parse = parse_stamp


# --- jobs ------------------------------------------------------------------------------


def find_job(ws: Workspace, name: str) -> CronJob:
    for job in ws.config.cron:
        if job.name == name:
            return job
    known = ", ".join(j.name for j in ws.config.cron) or "none defined"
    raise NotFound(f"unknown cron job {name!r} (known: {known})")


def list_jobs(ws: Workspace, now: datetime, n: int = 3) -> list[dict[str, Any]]:
    """Jobs with their next runs and last scheduled run, both in the job's own zone (and UTC)."""
    entries = all_entries(ws, [j.name for j in ws.config.cron])
    new = [j.name for j in ws.config.cron if coverage_start(entries.get(j.name) or {}) is None]
    if new:
        mark_defined(ws, new, now)
    rows = []
    for job in ws.config.cron:
        nxt = next_runs(job, now, n)
        last = entries.get(job.name) or {}
        last_run = {k: last.get(k) for k in ("slot", "at", "status", "exitCode")} if last.get("at") else None
        if last_run:
            at = _parse(last_run["at"])
            last_run["atLocal"] = at.astimezone(job_zone(job)).isoformat() if at else None
            last_run["consecutiveFailures"] = int(last.get("consecutiveFailures") or 0)
        rows.append({"name": job.name, "schedule": job.schedule, "tz": job.tz, "agent": job.agent,
                     "builtin": job.builtin, "catchUp": job.catch_up, "description": job.description,
                     "next": [iso(t) for t in nxt], "nextLocal": [t.isoformat() for t in nxt],
                     "lastRun": last_run})
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
    trigger: str = "cron"
    alert: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "slot": self.slot, "status": self.status, "exitCode": self.exit_code,
                "message": self.message, "caughtUp": self.caught_up, "trigger": self.trigger,
                "records": [r.model_dump(mode="json") for r in self.records]}


def _record(ws: Workspace, job: CronJob, slot: datetime | None, status: str, started: datetime, ended: datetime,
            error: tuple[str, str] | None = None, *, run_id: str | None = None,
            retry_of: str | None = None) -> RunRecord:
    from agentctl.core.redact import redact

    team = role = None
    if job.agent:
        with contextlib.suppress(AgentctlError):
            agent = ws.agents.get(job.agent)
            team, role = (agent.team, agent.role) if agent else (None, None)
    rec = RunRecord(runId=run_id or uuid.uuid4().hex, retryOf=retry_of, startedAt=iso(started), endedAt=iso(ended), agent=job.agent,
                    team=team, role=role, job=job.name, trigger="cron" if slot else "manual",
                    status=status,
                    error=RunError(type=error[0], message=redact(error[1])) if error else None,
                    durationS=round(max((ended - started).total_seconds(), 0.0), 3),
                    idempotencyKey=slot_key(job, slot) if slot else None)
    ws.storage.runlog.append(rec)
    return rec


def run_job(ws: Workspace, name: str, now: datetime, clock: Clock, *, scheduled: bool = False) -> CronOutcome:
    """``scheduled``: a crontab firing (runs the current slot if now is in its minute);
    else a manual run now (``trigger: manual``, no slot)."""
    if not scheduled:
        return _with_lock(ws, find_job(ws, name), None, now, lambda job: _manual(ws, job, now, clock))
    from agentctl.cron.failures import note_outcome

    try:
        job = find_job(ws, name)
        if not is_due(job, now):
            minute = now.replace(second=0, microsecond=0)
            return CronOutcome(name, iso(minute), "not_due", 0, f"cron job {name}: {iso(minute)} is not one of its "
                               f"slots ({job.schedule!r} in {job.tz}); nothing to do")
        slot = slot_for(job, now)
        out = _with_lock(ws, job, slot, now, lambda j: _run_locked(ws, j, slot, now, clock))
    except AgentctlError as exc:  # a broken config, an unknown job: the cron job fails, and says so
        note_outcome(ws, name, "failure", exc.exit_code, exc.message, now)
        raise
    except Exception as exc:
        note_outcome(ws, name, "failure", 70, f"internal error: {type(exc).__name__}: {exc}", now)
        raise
    out.alert = note_outcome(ws, name, out.status, out.exit_code, out.message, now, out.slot)
    return out


def _with_lock(ws: Workspace, job: CronJob, slot: datetime | None, now: datetime,
               body: Callable[[CronJob], CronOutcome]) -> CronOutcome:
    guard = contextlib.ExitStack()
    try:
        guard.enter_context(ws.storage.cron.overlap_lock(job.name))
    except TryLater:
        msg = f"cron job {job.name}: still running (state/cron-{job.name}.lock is held); not started twice"
        rec = _record(ws, job, slot, "skipped", now, now, ("StillRunning", msg))
        return CronOutcome(job.name, iso(slot or now), "skipped", 0, msg, [rec], trigger=rec.trigger)
    with guard:
        return body(job)


def _manual(ws: Workspace, job: CronJob, now: datetime, clock: Clock) -> CronOutcome:
    """By hand: runs now; once it succeeded, a second call in the same slot is a duplicate (rerun
    freely after a failure). It never uses up the scheduled firing of the slot."""
    check_job(job)
    slot = slot_for(job, now)
    done = _parse(entry_of(ws, job.name).get("manualSlot"))
    if done is not None and done >= slot:
        msg = (f"cron job {job.name}: already run by hand for slot {iso(slot)}; not run again "
               "(the scheduled firing still runs)")
        rec = _record(ws, job, None, "duplicate", now, now)
        return CronOutcome(job.name, iso(slot), "duplicate", 0, msg, [rec], trigger="manual")
    def remember(_rec: RunRecord, code: int) -> None:
        if code == 0:
            with update(ws, job.name) as entry:
                entry["manualSlot"] = iso(slot)

    rec, code, msg = execute(ws, job, None, clock, remember=remember)
    return CronOutcome(job.name, iso(slot), rec.status, code, msg, [rec], trigger="manual")


def _run_locked(ws: Workspace, job: CronJob, slot: datetime, now: datetime, clock: Clock) -> CronOutcome:
    entry = entry_of(ws, job.name)
    last = _parse(entry.get("slot"))
    if last is not None and last >= slot:
        msg = f"cron job {job.name}: slot {iso(slot)} already handled; not run again"
        rec = _record(ws, job, slot, "duplicate", now, now)
        return CronOutcome(job.name, iso(slot), "duplicate", 0, msg, [rec])
    out = CronOutcome(job.name, iso(slot), "success", 0, "")
    seen = max((d for d in (last, _parse(entry.get("missedThrough"))) if d is not None), default=None)
    missed = slots_between(job, seen + timedelta(minutes=1), slot) if seen is not None else []
    if missed:
        _catch_up(ws, job, missed, now, clock, out)
    through = missed[-1] if missed else None
    rec, code, msg = execute(ws, job, slot, clock, remember=lambda r, c: _remember(
        ws, job, None if c in RETRY_CODES else slot, r, c, through, slot))
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
        rec, code, _ = execute(ws, job, missed[-1], clock, remember=lambda r, c: _remember(
            ws, job, None if c in RETRY_CODES else missed[-1], r, c, None, missed[-1]))
        out.records.append(rec)
        out.caught_up = iso(missed[-1])
        out.exit_code = code


def _remember(ws: Workspace, job: CronJob, slot: datetime | None, rec: RunRecord, code: int,
              missed_through: datetime | None, attempted: datetime) -> None:
    with update(ws, job.name) as entry:
        entry.setdefault("definedAt", iso(attempted))
        if slot is not None and (_parse(entry.get("slot")) or slot) <= slot:
            entry["slot"] = iso(slot)
        if missed_through is not None:
            entry["missedThrough"] = iso(missed_through)
        entry.update({"at": rec.startedAt, "status": rec.status, "exitCode": code})


def execute(ws: Workspace, job: CronJob, slot: datetime | None, clock: Clock,
            remember: Callable[[RunRecord, int], None] | None = None) -> tuple[RunRecord, int, str]:
    """Run the job once for ``slot`` (None: a manual run): an agent through the runner, else the
    built-in. ``remember`` updates the cron ledger — in the same unit of work as a built-in's record."""
    if job.agent:
        rec, code, msg = _execute_agent(ws, job, slot, clock)
        if remember is not None:
            remember(rec, code)
        return rec, code, msg
    return _execute_builtin(ws, job, slot, clock, remember)


def _builtin_outcome(ws: Workspace, job: CronJob, started: datetime) -> tuple[str, int, str, tuple[str, str] | None]:
    try:
        return run_builtin(ws, job, started)
    except AgentctlError as exc:
        status = "skipped" if exc.exit_code == 75 else "failure"
        return status, exc.exit_code, exc.message, (type(exc).__name__, exc.message)
    except Exception as exc:  # a bug in a built-in still leaves an attributed record
        return "failure", 70, f"internal error: {exc}", (type(exc).__name__, str(exc)[:300])


def _execute_builtin(ws: Workspace, job: CronJob, slot: datetime | None, clock: Clock,
                     remember: Callable[[RunRecord, int], None] | None) -> tuple[RunRecord, int, str]:
    """A scheduled built-in follows the idempotency rule of runs: its slot key is reserved first and
    bound to the result together with the record and the ledger (SPEC §5). A manual one has no key."""
    from agentctl.run import idempotency

    started = clock()
    if slot is None:
        status, code, msg, error = _builtin_outcome(ws, job, started)
        with ws.storage.unit_of_work():  # the record and the ledger together
            rec = _record(ws, job, None, status, started, clock(), error)
            if remember is not None:
                remember(rec, code)
        return rec, code, msg
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
    status, code, msg, error = _builtin_outcome(ws, job, started)
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


def _execute_agent(ws: Workspace, job: CronJob, slot: datetime | None, clock: Clock) -> tuple[RunRecord, int, str]:
    from agentctl.run.runner import RunRequest, run_agent

    started = clock()
    req = RunRequest(agent=job.agent or "", prompt=job.prompt, idempotency_key=slot_key(job, slot) if slot else None,
                     trigger="cron" if slot else "manual", job=job.name)
    try:
        if job.agent not in ws.agents:
            raise ConfigError(f"agentctl.yaml [cron {job.name}.agent]: unknown agent {job.agent!r} "
                              f"(known: {', '.join(sorted(ws.agents)) or 'none defined'})")
        outcome = run_agent(ws, req, clock)
    except AgentctlError as exc:
        status = "skipped" if exc.exit_code == 75 else "failure"
        rec = _record(ws, job, slot, status, started, clock(), (type(exc).__name__, exc.message))
        return rec, exc.exit_code, exc.message
    except Exception as exc:  # a crash in the runner still leaves an attributed record (and an alert)
        msg = f"internal error: {type(exc).__name__}: {str(exc)[:300]}"
        return _record(ws, job, slot, "failure", started, clock(), (type(exc).__name__, msg)), 70, msg
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
    ``run_cron_job(ws, *, now, args) -> int`` (the exit code)."""
    import importlib

    module = importlib.import_module(SERVICES[job.builtin or ""])
    result = module.run_cron_job(ws, now=now, args=dict(job.args))
    code = result if isinstance(result, int) and not isinstance(result, bool) else 0
    if code == 0:
        return "success", 0, f"builtin {job.builtin}: done", None
    msg = f"builtin {job.builtin}: exit {code}"
    return "failure", code, msg, ("BuiltinFailed", msg)
