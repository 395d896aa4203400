"""The one claim policy (SPEC §4, §13): who may claim or run which task, decided in one place.

``task claim``, ``task next [--claim]``, ``run --task``, ``work`` and the MCP claim tool all ask
``claim_refusal`` (pure) — through ``check_claim`` inside their registry transaction, or through
``ready.is_ready`` when picking the next task. Agent A may take task T when:

- A is a defined agent (else 2), and an agent process claims only for itself (else 2);
- T is A's (or has no agent yet; ``task claim`` may also take another agent's), is not finished, does not wait at a human gate, is not
  blocked (unless it is a parent whose delegated children are all done), and every
  ``dependsOn`` task is done;
- nobody else holds T: another agent's claim, or another run's, is refused unless its
  lease lapsed (its claimer died: the claim is taken over, event ``reclaimed``) or — for a
  run — the run holding it has no live slot any more.

Every other refusal is a conflict (5), with a hint saying what would unblock it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentctl.core.records import Task
from agentctl.errors import AgentctlError, Conflict, UsageError
from agentctl.registry.ready import Lookup, children_done, dependency_refusal, lease_expired, lookup_in


@dataclass(frozen=True)
class Refusal:
    message: str
    hint: str | None = None
    usage: bool = False
    """A usage error (2) rather than a conflict (5)."""

    def error(self) -> AgentctlError:
        return (UsageError if self.usage else Conflict)(self.message, hint=self.hint)


def _held(task: Task, agent: str, now: datetime, run_id: str | None,
          run_alive: Callable[[Task], bool]) -> Refusal | None:
    tid = task.taskId
    if lease_expired(task, now):
        return None
    if task.claimedBy and task.claimedBy != agent:
        return Refusal(f"task {tid} is claimed by {task.claimedBy}",
                       f"`agentctl task update {tid} --set claimedBy=null` frees it")
    if run_id is not None and task.claimRun not in (None, run_id) and run_alive(task):
        return Refusal(f"task {tid} is being run by {task.claimRun} (lease until {task.leaseExpiresAt})",
                       "`agentctl runs --running` shows it; `agentctl task release ID` gives the claim back")
    return None


def _state(task: Task, agent: str, look: Lookup, verb: str, any_assignee: bool = False) -> Refusal | None:
    tid = task.taskId
    if task.agent and task.agent != agent and not any_assignee:
        return Refusal(f"task {tid} belongs to agent {task.agent}", f"run `agentctl run {task.agent} --task {tid}`")
    if task.status in ("done", "cancelled"):
        return Refusal(f"task {tid} is {task.status}: nothing to {verb}", "create a new task for new work")
    if task.status == "review" or task.gate == "pending":
        return Refusal(f"task {tid} waits at a human gate", f"`agentctl gate approve {tid} --by NAME` (or `gate kill`)")
    if task.status == "blocked" and not children_done(task, look):
        return Refusal(f"task {tid} is blocked by {task.blockedBy or 'something'}",
                       f"`agentctl task unblock {tid}` first")
    refusal = dependency_refusal(task, look)
    return Refusal(*refusal) if refusal else None


def claim_refusal(task: Task, agent: str, look: Lookup, now: datetime, *, verb: str = "claim",
                  run_id: str | None = None, run_alive: Callable[[Task], bool] = lambda _t: True,
                  any_assignee: bool = False) -> Refusal | None:
    """Why ``agent`` may not take ``task`` now, or None. ``run_id``: the run that would hold the claim
    (another live run's claim is refused); ``run_alive``: whether the run holding it still runs;
    ``any_assignee``: ``task claim`` (SPEC §3: refused only when another agent *holds* the task) may
    take a task assigned to another agent — picking (``task next``) and running never do."""
    return _held(task, agent, now, run_id, run_alive) or _state(task, agent, look, verb, any_assignee)


def check_claim(ws: Any, tx: Any, task: Task, agent: str, now: datetime, *, verb: str = "claim",
                run_id: str | None = None, acting: str | None = None, any_assignee: bool = False) -> None:
    """Raise the refusal, if any, for ``agent`` taking ``task`` inside registry transaction ``tx``.
    ``acting``: the agent process asking ($AGENTCTL_AGENT, read at the CLI edge), None for a person."""
    if agent not in ws.agents:
        known = ", ".join(sorted(ws.agents)) or "none defined"
        raise UsageError(f"unknown agent {agent!r}: no agents/{agent}.yaml (known: {known})")
    if acting and acting != agent:
        raise UsageError(f"agent process {acting} cannot claim for {agent}: an agent claims only its own work")
    refusal = claim_refusal(task, agent, lookup_in(tx, ws.storage.registry), now, verb=verb,
                            run_id=run_id, run_alive=lambda t: run_alive(ws, t, now), any_assignee=any_assignee)
    if refusal is not None:
        raise refusal.error()


def run_alive(ws: Any, task: Task, now: datetime) -> bool:
    """Whether the run holding the claim still has a live slot (a crashed run's claim can be taken over
    at once, as its idempotency key can: SPEC §5)."""
    return any(task.claimRun in (e.get("slotId"), e.get("runId")) for e in ws.storage.inflight.running(now))
