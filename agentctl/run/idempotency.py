"""Idempotency keys for runs (SPEC §5), kept in the ledger (``state/idempotency.json``).

``data["keys"][KEY]`` = ``{fingerprint, state: in_flight|done, createdAt, expiresAt,
owner: {pid, host}, result}``. Everything is decided inside the ledger's own lock:

- a new key is *reserved* (``in_flight``) before anything executes, so two processes
  racing one key can never both run the agent: the loser sees the reservation;
- same key, same input, first run finished (within the TTL, 24 h by default) →
  the first run's ``result`` comes back and nothing executes (status ``duplicate``);
- same key, different input (fingerprint of agent + task + prompt + input file
  content) → Conflict (exit 5), whether the first run finished or not;
- same key while the first run is still in flight → TryLater (exit 75): waiting up
  to the agent's timeout for its result would block cron, and the caller can retry
  and then get the duplicate. A reservation whose process is gone (same host, pid
  dead) or older than the agent's timeout plus a grace is stale and taken over.
- a run refused before it executed (breaker open, budget spent, task conflict,
  rejected input, lock busy) *releases* its key: "try later" must be able to run.

Expired entries are pruned on every write.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentctl.core.clock import iso, parse_iso
from agentctl.errors import AgentctlError, Conflict, TryLater
from agentctl.storage.base import StateStore

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


def prune(keys: dict[str, Any], now: datetime) -> None:
    for key in [k for k, e in keys.items() if _expired(e, now)]:
        del keys[key]


def _expired(entry: Any, now: datetime) -> bool:
    try:
        return bool(parse_iso(entry["expiresAt"]) <= now)
    except (KeyError, TypeError, AgentctlError):  # a malformed entry is dropped, not trusted
        return True


def reserve(store: StateStore, key: str, fp: str, now: datetime, *, ttl: timedelta = DEFAULT_TTL,
            stale_after: timedelta = timedelta(minutes=15)) -> Duplicate | None:
    """Reserve ``key`` for this run; a Duplicate when it already ran; Conflict / TryLater otherwise."""
    with store.transaction() as data:
        keys = data["keys"]
        prune(keys, now)
        entry = keys.get(key)
        if entry is not None:
            if entry.get("fingerprint") != fp:
                raise Conflict(f"idempotency key {key!r} was already used at {entry.get('createdAt')} with a "
                               "different input (agent, task, prompt or input file)",
                               hint="use a new key for a new input")
            if entry.get("state") == "done":
                return Duplicate(key, dict(entry.get("result") or {}))
            started = parse_iso(entry.get("createdAt") or iso(now))
            if _alive(entry.get("owner") or {}) and now - started < stale_after + STALE_GRACE:
                owner = entry.get("owner") or {}
                raise TryLater(f"a run with idempotency key {key!r} is in flight (pid {owner.get('pid')} since "
                               f"{entry.get('createdAt')}); try again when it has finished",
                               data={"reason": "in_flight", "key": key})
        keys[key] = {"fingerprint": fp, "state": "in_flight", "createdAt": iso(now),
                     "expiresAt": iso(now + ttl), "owner": _owner(), "result": None}
    return None


def complete(store: StateStore, key: str, fp: str, result: dict[str, Any], now: datetime) -> None:
    """Bind the finished run's result to the key (the TTL counts from the reservation)."""
    with store.transaction() as data:
        keys = data["keys"]
        prune(keys, now)
        entry = keys.get(key)
        if entry is None or entry.get("fingerprint") != fp:
            entry = {"fingerprint": fp, "createdAt": iso(now), "expiresAt": iso(now + DEFAULT_TTL)}
            keys[key] = entry
        entry.update(state="done", result=result, completedAt=iso(now))
        entry.pop("owner", None)


def release(store: StateStore, key: str, fp: str, now: datetime) -> None:
    """Give the key back (the run did not execute), if it is still this run's reservation."""
    with store.transaction() as data:
        keys = data["keys"]
        entry = keys.get(key)
        if entry is not None and entry.get("state") == "in_flight" and entry.get("fingerprint") == fp \
                and (entry.get("owner") or {}).get("pid") == os.getpid():
            del keys[key]
        prune(keys, now)
