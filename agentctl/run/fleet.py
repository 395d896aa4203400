"""What a run does for the fleet loop (SPEC §13), kept out of the run sequence itself.

The runner calls these at its claim, its contract check and its store steps (who may
start is ``registry.claims``, the one claim policy): the claim carries the run and
a lease, a ``spawn`` list is taken out of the artifact and becomes child tasks, a
review that requests changes is the reviewer's success, and a result whose claim
was lost meanwhile (lease lapsed and reclaimed, or released) is not applied.
"""

from __future__ import annotations

from typing import Any

from agentctl.contracts.verdicts import requests_changes
from agentctl.core.records import Task
from agentctl.errors import AgentctlError, Conflict
from agentctl.registry.delegation import spawn_children, spawn_problems, take_spawn
from agentctl.registry.ready import take_claim
from agentctl.storage.base import RegistryTx

__all__ = ["children_text", "claim_gone", "claim_lost", "requests_changes", "spawn_children", "spawn_verdict", "take_claim",
           "take_spawn"]


def children_text(ws: Any, task: Task) -> str:
    """What a parent's next run is told about the tasks it delegated ("" when none)."""
    kids = ws.storage.registry.children(task.taskId)
    if not kids:
        return ""
    lines = [f"- {k.taskId} ({k.agent or '-'}, {k.status}): {k.title}" + (f" → {k.output}" if k.output else "")
             for k in kids[:50]]
    return "## Tasks you delegated\n" + "\n".join(lines)


def spawn_verdict(ws: Any, spawn: list[Any] | None) -> Any:
    """A contract-style verdict for an invalid ``spawn`` list (None when absent or valid)."""
    if spawn is None:
        return None
    from agentctl.contracts.schemas import Verdict

    problems = spawn_problems(spawn, set(ws.agents))
    if not problems:
        return None
    rows = [{**p, "missing": []} for p in problems]
    return Verdict(rows, [], f"invalid spawn: {problems[0]['path']}: {problems[0]['message']}")


def claim_gone(ws: Any, task_id: str, run_id: str) -> bool:
    """A lock-free look before writing the artifact: is the claim still this run's?"""
    task = ws.storage.registry.get(task_id)
    return task is not None and task.claimRun != run_id


def claim_lost(tx: RegistryTx, task: Task, run_id: str, stamp: str) -> AgentctlError | None:
    """Compare-and-set on the claim: a run whose claim was reclaimed or released stores nothing."""
    if task.claimRun == run_id:
        return None
    tx.log(task.taskId, "result not applied", None,
           {"runId": run_id, "claimRun": task.claimRun, "claimedBy": task.claimedBy, "status": task.status})
    holder = f"{task.claimedBy} ({task.claimRun})" if task.claimRun else (task.claimedBy or "nobody")
    return Conflict(f"result not applied: task {task.taskId} is now held by {holder}, status {task.status}; "
                    "its lease lapsed or it was released while this run executed")
