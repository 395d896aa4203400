"""Circuit breakers (SPEC §7): one per agent, shared by every process.

A pure state machine (pybreaker's vocabulary) over a small persisted record in
``state/breakers.json`` (``data["agents"][name]``):

    closed ──threshold failures within window_s──▶ open ──cooldown elapsed──▶ half_open (one probe)
      ▲                                             ▲                              │
      │                                             └─ probe fails: cooldown ×2 ───┤ (capped at max_cooldown_s)
      └──────────────────────── probe succeeds: failures cleared ─────────────────┘

INTERFACE (used by the runner, the monitors and ``agentctl status``):
    admit(ws, agent, now) -> Admission             # raises errors.TryLater (75) when refused
    record_outcome(ws, agent, ok, now, admission) -> "tripped" | "recovered" | "reopened" | None
    release_probe(ws, agent, admission) -> bool    # a probe whose run never executed
    open_breakers(ws, now) -> list[str]

Every transition (tripped, reopened, recovered, reset, tripped manually) is also appended to
the breaker history (``logs/breakers.jsonl``; a table on PostgreSQL) in the same transaction
as the state change (``record_transition``), so a
report over a past window reads the breaker as it was then, not as it is today.

``decide_admit`` / ``apply_outcome`` / ``trip`` / ``reset`` are pure: they take the
record, the policy and ``now`` and mutate only the record. ``admit`` and
``record_outcome`` wrap them in one short transaction under the file's lock
(read, decide, write, release), so a cron run and a terminal count toward the same
breaker and exactly one process wins the half-open probe.

What counts as a failure is the runner's call; it reports ``ok=False`` only for
the agent's own failures: a provider error after every fallback, a command that
exits non-zero or times out, an artifact its schema rejects, failed self-tests.
Configuration errors, a busy lock, a spent budget or a refused admission do not
count. A success in the closed state does not clear the window: the policy is
"``threshold`` failures within ``window_s``", not "in a row".
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

from agentctl.core.clock import iso
from agentctl.core.config import AgentDef, BreakerPolicy
from agentctl.errors import StateError, TryLater
from agentctl.workspace.loader import Workspace

IsoTime = Annotated[datetime, PlainSerializer(iso, return_type=str)]
State = Literal["closed", "open", "half_open"]
PROBE_GRACE_S = 60.0
"""A probe older than the agent's timeout_s plus this is taken as lost (its process died)."""
MAX_FAILURES_KEPT = 1000


class BreakerRecord(BaseModel):
    """One agent's breaker as persisted in state/breakers.json."""

    model_config = ConfigDict(extra="ignore")

    state: State = "closed"
    failures: list[IsoTime] = Field(default_factory=list)
    """Times of recent failures (pruned to the window)."""
    openedAt: IsoTime | None = None
    retryAt: IsoTime | None = None
    """When an open breaker admits its half-open probe."""
    cooldownS: float | None = None
    """The cooldown in force; doubles after each failed probe, back to the policy's on recovery."""
    probeId: str | None = None
    probeStartedAt: IsoTime | None = None
    trips: int = 0
    lastChange: str | None = None
    lastChangeAt: IsoTime | None = None


@dataclass
class Admission:
    """What ``admit`` granted; hand it back to ``record_outcome``."""

    probe: bool = False
    probe_id: str | None = None


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    probe_id: str | None = None
    reason: str = ""
    retry_at: datetime | None = None


# --- the pure state machine ------------------------------------------------------

def _window(policy: BreakerPolicy) -> timedelta:
    return timedelta(seconds=policy.window_s)


def prune(rec: BreakerRecord, policy: BreakerPolicy, now: datetime) -> None:
    rec.failures = [t for t in rec.failures if now - t <= _window(policy)][-MAX_FAILURES_KEPT:]


def failures_in_window(rec: BreakerRecord, policy: BreakerPolicy, now: datetime) -> int:
    return sum(1 for t in rec.failures if now - t <= _window(policy))  # a peer's clock may run ahead


def _change(rec: BreakerRecord, state: State, what: str, now: datetime) -> None:
    rec.state, rec.lastChange, rec.lastChangeAt = state, what, now


def _open(rec: BreakerRecord, cooldown_s: float, what: str, now: datetime) -> None:
    _change(rec, "open", what, now)
    rec.openedAt, rec.cooldownS = now, cooldown_s
    rec.retryAt = now + timedelta(seconds=cooldown_s)
    rec.probeId = rec.probeStartedAt = None
    rec.trips += 1


def _probe_deadline(rec: BreakerRecord, probe_timeout_s: float) -> datetime | None:
    return rec.probeStartedAt + timedelta(seconds=probe_timeout_s) if rec.probeStartedAt else None


def _start_probe(rec: BreakerRecord, now: datetime, probe_id: str) -> Verdict:
    _change(rec, "half_open", "probe", now)
    rec.probeId, rec.probeStartedAt = probe_id, now
    return Verdict(True, probe_id=probe_id)


def decide_admit(rec: BreakerRecord, policy: BreakerPolicy, now: datetime, *,
                 probe_timeout_s: float, new_probe_id: str) -> Verdict:
    """Admit, admit as the one half-open probe, or refuse (saying until when)."""
    if rec.state == "closed":
        return Verdict(True)
    if rec.state == "open":
        if rec.retryAt is not None and now < rec.retryAt:
            return Verdict(False, reason="open", retry_at=rec.retryAt)
        return _start_probe(rec, now, new_probe_id)
    deadline = _probe_deadline(rec, probe_timeout_s)
    if deadline is None or now >= deadline:  # the probe's process died: admit a new one
        return _start_probe(rec, now, new_probe_id)
    return Verdict(False, reason="probe in progress", retry_at=deadline)


def apply_outcome(rec: BreakerRecord, policy: BreakerPolicy, now: datetime, ok: bool,
                  probe_id: str | None) -> str | None:
    """Count one outcome; return "tripped", "recovered", "reopened" or None.

    Outside the closed state only the current probe's outcome matters: a run admitted
    before the trip, or a probe taken as lost and replaced, changes nothing.
    """
    if rec.state == "closed":
        if ok:
            return None
        prune(rec, policy, now)
        rec.failures.append(now)
        if failures_in_window(rec, policy, now) >= max(policy.threshold, 1):
            _open(rec, min(policy.cooldown_s, policy.max_cooldown_s), "tripped", now)
            return "tripped"
        return None
    if rec.state != "half_open" or probe_id is None or probe_id != rec.probeId:
        return None
    if ok:
        _close(rec, "recovered", now)
        return "recovered"
    current = rec.cooldownS or policy.cooldown_s
    _open(rec, min(current * 2, policy.max_cooldown_s), "reopened", now)
    return "reopened"


def _close(rec: BreakerRecord, what: str, now: datetime) -> None:
    _change(rec, "closed", what, now)
    rec.failures = []
    rec.openedAt = rec.retryAt = rec.cooldownS = rec.probeId = rec.probeStartedAt = None


def release(rec: BreakerRecord, probe_id: str | None) -> bool:
    """Give back a probe whose run never executed (refused later, config error): the breaker
    stays open with its probe time already past, so the next caller probes at once."""
    if rec.state != "half_open" or probe_id is None or probe_id != rec.probeId:
        return False
    rec.state, rec.probeId, rec.probeStartedAt = "open", None, None
    return True


def trip(rec: BreakerRecord, policy: BreakerPolicy, now: datetime) -> None:
    """Open now for the policy's cooldown (an operator's `breaker trip`)."""
    _open(rec, min(policy.cooldown_s, policy.max_cooldown_s), "tripped manually", now)


def reset(rec: BreakerRecord, now: datetime) -> None:
    """Close and forget the failures (an operator's `breaker reset`)."""
    _close(rec, "reset", now)


def effective_state(rec: BreakerRecord, now: datetime) -> State:
    """What a caller would meet: an open breaker whose cooldown elapsed is half-open."""
    if rec.state == "open" and (rec.retryAt is None or now >= rec.retryAt):
        return "half_open"
    return rec.state


# --- persistence -------------------------------------------------------------------

def _load(ws: Workspace, data: dict[str, Any], name: str) -> BreakerRecord:
    raw = data["agents"].get(name)
    if raw is None:
        return BreakerRecord()
    try:
        return BreakerRecord.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise StateError(f"{ws.storage.breakers.path}: breaker of {name!r} is unreadable "
                         f"({'.'.join(map(str, first['loc']))}: {first['msg']}); it was not changed") from None


def _store(data: dict[str, Any], name: str, rec: BreakerRecord) -> None:
    data["agents"][name] = rec.model_dump(mode="json")


def _probe_timeout(agent: AgentDef) -> float:
    return agent.timeout_s + PROBE_GRACE_S


def _refusal(agent: AgentDef, rec: BreakerRecord, policy: BreakerPolicy, verdict: Verdict, now: datetime) -> TryLater:
    when = verdict.retry_at or now
    secs = max(0, math.ceil((when - now).total_seconds()))
    if verdict.reason == "open":
        why = (f"breaker open for agent {agent.name} ({policy.threshold} failures within {policy.window_s:g}s); "
               f"it admits a probe run at {iso(when)} (in {secs}s)")
    else:
        started = iso(rec.probeStartedAt) if rec.probeStartedAt else "?"
        why = (f"breaker half-open for agent {agent.name}: a probe run is in progress (started {started}); "
               f"try again when it finishes (at the latest {iso(when)}, in {secs}s)")
    return TryLater(why, hint=f"`agentctl breaker show {agent.name}`; `agentctl breaker reset {agent.name}` closes it",
                    data={"agent": agent.name, "state": rec.state, "reason": verdict.reason,
                          "retryAt": iso(when), "retryInS": secs})


def admit(ws: Workspace, agent: AgentDef, now: datetime) -> Admission:
    """Let a run start, or raise TryLater (exit 75) naming when the agent will be tried again.

    The common cases (closed; open and cooling down; probe in flight) are decided on a
    lock-free read (os.replace makes it a whole file); only a transition takes the lock
    and decides again on what it re-reads there.
    """
    policy = ws.breaker_for(agent)
    store = ws.storage.breakers
    snapshot = _load(ws, store.read(), agent.name)
    verdict = decide_admit(snapshot.model_copy(deep=True), policy, now,
                           probe_timeout_s=_probe_timeout(agent), new_probe_id="would-probe")
    if verdict.admitted and verdict.probe_id is None:
        return Admission()
    if not verdict.admitted:
        raise _refusal(agent, snapshot, policy, verdict, now)
    with store.transaction() as data:
        rec = _load(ws, data, agent.name)
        verdict = decide_admit(rec, policy, now, probe_timeout_s=_probe_timeout(agent),
                               new_probe_id=uuid.uuid4().hex)
        if verdict.probe_id is not None:
            _store(data, agent.name, rec)
    if not verdict.admitted:
        raise _refusal(agent, rec, policy, verdict, now)
    return Admission(probe=verdict.probe_id is not None, probe_id=verdict.probe_id)


def record_outcome(ws: Workspace, agent: AgentDef, ok: bool, now: datetime, admission: Admission) -> str | None:
    """Count a finished run; returns the transition ("tripped", "recovered", "reopened") or None.

    A success that is not the probe changes nothing, so it costs no lock and no write.
    """
    if ok and not admission.probe:
        return None
    policy = ws.breaker_for(agent)
    with ws.storage.breakers.transaction() as data:
        rec = _load(ws, data, agent.name)
        transition = apply_outcome(rec, policy, now, ok, admission.probe_id if admission.probe else None)
        _store(data, agent.name, rec)
        if transition:  # the history row commits with the state change
            record_transition(ws, agent.name, rec, transition, now)
    if transition:
        _alert(ws, agent, rec, policy, transition, now)
    return transition


def release_probe(ws: Workspace, agent: AgentDef, admission: Admission) -> bool:
    """Call when a run admitted as the probe ends without an outcome that counts
    (budget refused, task conflict, config error); otherwise the probe stays taken
    until it goes stale (the agent's timeout_s + 60 s). A no-op for other admissions."""
    if not admission.probe:
        return False
    with ws.storage.breakers.transaction() as data:
        rec = _load(ws, data, agent.name)
        released = release(rec, admission.probe_id)
        if released:
            _store(data, agent.name, rec)
    return released


def record_transition(ws: Workspace, agent: str, rec: BreakerRecord, transition: str, now: datetime,
                      actor: str | None = None) -> None:
    """Append the transition to the breaker history (``storage.breaker_history``: files
    ``logs/breakers.jsonl``, PostgreSQL a table) inside the breaker's transaction: the scorecard
    reads a past window's trips and state from it (the breaker state is only today's)."""

    event = {"ts": iso(now), "agent": agent, "transition": transition, "state": rec.state,
             "retryAt": iso(rec.retryAt) if rec.retryAt else None, "cooldownS": rec.cooldownS,
             "trips": rec.trips}
    if actor:
        event["actor"] = actor
    ws.storage.breaker_history.append(event)


def _alert(ws: Workspace, agent: AgentDef, rec: BreakerRecord, policy: BreakerPolicy, transition: str,
           now: datetime, actor: str | None = None) -> None:
    from agentctl.cron.alerts import raise_alert

    if rec.state == "closed":
        kind, severity = "breaker_recovered", "info"
        message = f"breaker of {agent.name} closed ({transition}); runs are admitted again"
    else:
        kind, severity = "breaker_tripped", "warning"
        cause = {"tripped": f"{policy.threshold} failures within {policy.window_s:g}s",
                 "reopened": "the half-open probe failed"}.get(transition, transition)
        # no timestamp in the text: dedupe and `agentctl learn` group alerts by message
        message = f"breaker of {agent.name} open ({cause}); runs refused for {rec.cooldownS:g}s, then one probe run"
    data = {"agent": agent.name, "transition": transition, "state": rec.state,
            "retryAt": iso(rec.retryAt) if rec.retryAt else None, "cooldownS": rec.cooldownS}
    if actor:
        data["actor"] = actor
    raise_alert(ws, kind=kind, message=message, source="breaker", now=now, severity=severity, data=data)


# --- reading and operating (`agentctl breaker …`, the board, monitors) ---------------

def describe(agent: AgentDef, rec: BreakerRecord, policy: BreakerPolicy, now: datetime) -> dict[str, Any]:
    state = effective_state(rec, now)
    retry_in = max(0, math.ceil((rec.retryAt - now).total_seconds())) if rec.retryAt and rec.state == "open" else None
    return {
        "agent": agent.name, "role": agent.role, "state": state,
        "failuresInWindow": failures_in_window(rec, policy, now),
        "retryAt": iso(rec.retryAt) if rec.retryAt and rec.state == "open" else None,
        "retryInS": retry_in,
        "probeStartedAt": iso(rec.probeStartedAt) if rec.probeStartedAt and rec.state == "half_open" else None,
        "openedAt": iso(rec.openedAt) if rec.openedAt and rec.state != "closed" else None,
        "cooldownS": rec.cooldownS if rec.state != "closed" else None,
        "trips": rec.trips, "lastChange": rec.lastChange,
        "lastChangeAt": iso(rec.lastChangeAt) if rec.lastChangeAt else None,
        "policy": policy.model_dump(),
    }


def breaker_status(ws: Workspace, agent: AgentDef, now: datetime) -> dict[str, Any]:
    return describe(agent, _load(ws, ws.storage.breakers.read(), agent.name), ws.breaker_for(agent), now)


def list_breakers(ws: Workspace, now: datetime) -> list[dict[str, Any]]:
    """Every defined agent's breaker (agents without a record are closed)."""
    data = ws.storage.breakers.read()
    return [describe(a, _load(ws, data, a.name), ws.breaker_for(a), now) for a in ws.agents.values()]


def open_breakers(ws: Workspace, now: datetime) -> list[str]:
    """Names of agents whose breaker is not closed (open, or half-open), sorted."""
    data = ws.storage.breakers.read()
    names = []
    for name in data["agents"]:
        if effective_state(_load(ws, data, name), now) != "closed":
            names.append(name)
    return sorted(names)


def reset_breaker(ws: Workspace, agent: AgentDef, actor: str, now: datetime) -> dict[str, Any]:
    return _operate(ws, agent, actor, now, "reset")


def trip_breaker(ws: Workspace, agent: AgentDef, actor: str, now: datetime) -> dict[str, Any]:
    return _operate(ws, agent, actor, now, "trip")


def _operate(ws: Workspace, agent: AgentDef, actor: str, now: datetime, op: str) -> dict[str, Any]:
    policy = ws.breaker_for(agent)
    with ws.storage.breakers.transaction() as data:
        rec = _load(ws, data, agent.name)
        was = effective_state(rec, now)
        if op == "reset":
            reset(rec, now)
        else:
            trip(rec, policy, now)
        _store(data, agent.name, rec)
        record_transition(ws, agent.name, rec, "reset" if op == "reset" else "tripped manually", now, actor)
    if op == "trip" or was != "closed":
        _alert(ws, agent, rec, policy, "reset" if op == "reset" else "tripped manually", now, actor)
    return {**describe(agent, rec, policy, now), "was": was}
