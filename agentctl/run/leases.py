"""Leases and run slots (SPEC §13): who is running what now, for how long.

- A claim carries ``leaseExpiresAt`` (agent ``lease_s``, default ``timeout_s + 60``).
  While a run's model call or command executes, a background thread renews the
  lease (every third of it) on the task and on the run's slot, so only a claimer
  that died (or froze) lets it lapse; ``task next`` then reclaims the task.
- A run holds one of its agent's ``max_concurrent`` slots in ``state/running.json``
  from start to end: a second ``run`` exits 75, a ``work`` loop waits for a slot.
- ``executing_now()`` tells the work loop's signal handler that it may interrupt
  (a model call or a command is in progress, no registry write is).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from agentctl.core.clock import iso
from agentctl.core.config import AgentDef
from agentctl.errors import TryLater
from agentctl.registry.ready import lease_seconds, lease_until

Clock = Callable[[], datetime]
_EXECUTING: list[int] = [0]


def executing_now() -> bool:
    return _EXECUTING[0] > 0


def _model_of(agent: AgentDef, ws: Any) -> str | None:
    if agent.runtime == "command":
        return " ".join((agent.command or [])[:3])[:120]
    try:
        tier = ws.tier_for(agent)
    except Exception:  # a config problem is reported by the run itself
        return agent.model
    return agent.model or (tier.model if tier else None)


def slot_entry(ws: Any, agent: AgentDef, slot_id: str, run_id: str | None, task_id: str | None,
               now: datetime, trigger: str = "manual") -> dict[str, Any]:
    return {"slotId": slot_id, "runId": run_id, "agent": agent.name, "taskId": task_id, "startedAt": iso(now),
            "leaseExpiresAt": lease_until(agent, now), "model": _model_of(agent, ws),
            "runtime": agent.runtime, "trigger": trigger}


def acquire_slot(ws: Any, entry: dict[str, Any], agent: AgentDef, now: datetime) -> None:
    """Take one of the agent's slots or raise TryLater (75) naming the runs that hold them."""
    held = ws.storage.inflight.acquire(entry, agent.max_concurrent, now)
    if held:
        names = ", ".join(f"{e.get('runId') or 'a work loop'} (pid {e.get('pid')}, task {e.get('taskId') or '-'})"
                          for e in held[:3])
        raise TryLater(f"agent {agent.name} already runs {len(held)} of max_concurrent={agent.max_concurrent}: "
                       f"{names}; try again when one ends",
                       hint="`agentctl runs --running` shows them; raise `max_concurrent` in the agent file")


@contextlib.contextmanager
def run_slot(ws: Any, agent: AgentDef, run_id: str, task_id: str | None, now: datetime,
             slot_id: str | None = None, trigger: str = "manual") -> Iterator[None]:
    """The run's slot for its whole duration; a slot already held by a work loop is updated, not taken."""
    inflight = ws.storage.inflight
    if slot_id is not None:
        inflight.update(slot_id, {"runId": run_id, "taskId": task_id, "startedAt": iso(now),
                                  "leaseExpiresAt": lease_until(agent, now)})
        yield
        return
    acquire_slot(ws, slot_entry(ws, agent, run_id, run_id, task_id, now, trigger), agent, now)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            inflight.release(run_id)


@contextlib.contextmanager
def executing(ws: Any, agent: AgentDef, run_id: str, task_id: str | None, slot_id: str, clock: Clock) -> Iterator[None]:
    """Around a model call or a command: renew the lease in the background; interruptible."""
    stop = threading.Event()
    period = max(0.05, lease_seconds(agent) / 3)

    def renew() -> None:
        while not stop.wait(period):
            with contextlib.suppress(Exception):  # a busy lock now is retried at the next tick
                renew_lease(ws, agent, run_id, task_id, slot_id, clock())

    thread = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
    thread.start()
    _EXECUTING[0] += 1
    try:
        yield
    finally:
        _EXECUTING[0] -= 1
        stop.set()
        thread.join(timeout=5)


def renew_lease(ws: Any, agent: AgentDef, run_id: str, task_id: str | None, slot_id: str, now: datetime) -> None:
    until = lease_until(agent, now)
    ws.storage.inflight.update(slot_id, {"leaseExpiresAt": until})
    if task_id is None:
        return
    with ws.storage.registry.transaction(agent.name, iso(now)) as tx:
        task = tx.find(task_id)
        if task is not None and task.claimRun == run_id:
            before, task.leaseExpiresAt = task.leaseExpiresAt, until
            tx.log(task_id, "leaseExpiresAt", before, until)
