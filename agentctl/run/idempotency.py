"""Idempotency keys for runs (SPEC §5), one entry per key in the storage's keyed
idempotency store (files: ``state/idempotency/<hh>/<hash>.json``, O(1) per key).

Entry: ``{fingerprint, state: in_flight|done, runId, createdAt, expiresAt,
leaseExpiresAt, owner: {pid, host}, result, retryOf}``. Each decision is taken inside
that key's own transaction:

- a new key is *reserved* (``in_flight``, with the runId) before anything executes, so
  two processes racing one key can never both run the agent;
- same key, same input, first run finished (within the TTL, 24 h by default) → the
  first run's ``result`` (status ``duplicate``); a reservation whose holder died after
  writing its run record counts as finished (its result is rebuilt from the record);
- same key, different input → Conflict (exit 5);
- same key while the holder is alive and its lease (the agent's timeout + a grace)
  runs → TryLater (75);
- holder dead or lease expired and no run record → taken over: the new run's record
  carries ``retryOf`` (the dead reservation's runId);
- a run refused before it executed, or ending in "try later" (75), *releases* its key:
  a 75 is never stored as a key's result.

Expired entries are treated as absent and dropped (``KeyedStore.sweep``).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentctl.core.clock import iso, parse_iso
from agentctl.errors import AgentctlError, Conflict, TryLater
from agentctl.storage.base import KeyedStore

DEFAULT_TTL = timedelta(hours=24)
STALE_GRACE = timedelta(minutes=5)


def fingerprint(agent: str, task_id: str | None, prompt: str | None, input_bytes: bytes | None) -> str:
    """The identity of a run's input: agent, task, prompt and the input file's content."""
    doc = json.dumps({"agent": agent, "task": task_id, "prompt": prompt,
                      "input": hashlib.sha256(input_bytes).hexdigest() if input_bytes is not None else None},
                     sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


@dataclass
class Duplicate:
    key: str
    result: dict[str, Any]
    """The first run's result: runId, status, exitCode, message, output, startedAt."""


def _owner() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _alive(owner: dict[str, Any]) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # another machine's process: cannot tell, trust the age limit
    try:
        os.kill(int(owner.get("pid", 0)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


@dataclass
class Reserved:
    key: str
    retry_of: str | None = None
    """The runId of a reservation whose holder died, taken over by this run."""


FindRun = Callable[[str], "dict[str, Any] | None"]


def reserve(store: KeyedStore, key: str, fp: str, now: datetime, *, run_id: str = "",
            ttl: timedelta = DEFAULT_TTL, stale_after: timedelta = timedelta(minutes=15),
            find_run: FindRun | None = None) -> Duplicate | Reserved:
    """Reserve ``key`` for run ``run_id``; a Duplicate when it already ran; Conflict / TryLater otherwise."""
    with store.transaction(key, now) as slot:
        entry = slot.value
        retry_of = None
        if entry is not None:
            if entry.get("fingerprint") != fp:
                raise Conflict(f"idempotency key {key!r} was already used at {entry.get('createdAt')} with a "
                               "different input (agent, task, prompt or input file)",
                               hint="use a new key for a new input")
            if entry.get("state") == "done":
                return Duplicate(key, dict(entry.get("result") or {}))
            finished = _finished_run(entry, find_run)
            if finished is not None:
                entry.update(state="done", result=finished, completedAt=iso(now))
                entry.pop("owner", None)
                return Duplicate(key, finished)
            if _lease_alive(entry, now):
                owner = entry.get("owner") or {}
                raise TryLater(f"a run with idempotency key {key!r} is in flight (pid {owner.get('pid')} since "
                               f"{entry.get('createdAt')}); try again when it has finished",
                               data={"reason": "in_flight", "key": key})
            retry_of = entry.get("runId")
        slot.value = {"fingerprint": fp, "state": "in_flight", "runId": run_id, "createdAt": iso(now),
                      "expiresAt": iso(now + ttl), "leaseExpiresAt": iso(now + stale_after + STALE_GRACE),
                      "owner": _owner(), "result": None, "retryOf": retry_of}
    return Reserved(key, retry_of)


def _lease_alive(entry: dict[str, Any], now: datetime) -> bool:
    try:
        lease = parse_iso(entry.get("leaseExpiresAt") or "")
    except AgentctlError:
        lease = parse_iso(entry.get("createdAt") or iso(now)) + timedelta(minutes=15) + STALE_GRACE
    return _alive(entry.get("owner") or {}) and now < lease


def _finished_run(entry: dict[str, Any], find_run: FindRun | None) -> dict[str, Any] | None:
    """The result of the reserved run when its record exists (its holder died after writing it)."""
    run_id = entry.get("runId")
    if not run_id or find_run is None:
        return None
    rec = find_run(run_id)
    if rec is None or rec.get("status") == "skipped":
        return None
    status = rec.get("status")
    code = {"success": 0, "failure": 1, "rejected": 3, "selftest_failed": 4}.get(str(status), 1)
    return {"runId": run_id, "status": status, "exitCode": code, "message": "", "output": rec.get("output"),
            "startedAt": rec.get("startedAt")}


def complete(store: KeyedStore, key: str, fp: str, result: dict[str, Any], now: datetime) -> None:
    """Bind the finished run's result to the key (the TTL counts from the reservation).
    A "try later" (75) is never a key's result: the key is released instead."""
    if int(result.get("exitCode", 0)) == 75:
        release(store, key, fp, now)
        return
    with store.transaction(key, now) as slot:
        entry = slot.value
        if entry is None or entry.get("fingerprint") != fp:
            entry = {"fingerprint": fp, "createdAt": iso(now), "expiresAt": iso(now + DEFAULT_TTL)}
        entry = {**entry, "state": "done", "result": result, "completedAt": iso(now)}
        entry.pop("owner", None)
        slot.value = entry


def release(store: KeyedStore, key: str, fp: str, now: datetime) -> None:
    """Give the key back (the run did not execute), if it is still this run's reservation."""
    with store.transaction(key, now) as slot:
        entry = slot.value
        if entry is not None and entry.get("state") == "in_flight" and entry.get("fingerprint") == fp \
                and (entry.get("owner") or {}).get("pid") == os.getpid():
            slot.value = None
