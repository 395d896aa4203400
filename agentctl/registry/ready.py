"""The next ready task for an agent, and releasing a claim (SPEC §13) — a minimal version for the
MCP tools ``task_next`` / ``task_release``.

MINIMAL on purpose: the fleet loop (``agentctl task next`` / ``task release``, leases, priorities,
reclaiming expired claims) is issue 15's; when it lands, ``agentctl.mcp.tools`` should call its
service and this module goes. Ready here means: the agent's (or unassigned), ``todo`` or
``rejected``, every ``dependsOn`` done, not blocked, not waiting at a gate, not claimed by
another agent; oldest first (``priority`` first when tasks have one). The pick and the claim
happen in one registry transaction, so two agents never get the same task.
"""

from __future__ import annotations

from datetime import datetime

from agentctl.core.clock import iso
from agentctl.core.records import Task
from agentctl.errors import Conflict, NotFound
from agentctl.registry.service import check_task_id, set_field
from agentctl.workspace.loader import Workspace

_PRIORITY = {"high": 0, "normal": 1, "low": 2}


def is_ready(task: Task, agent: str, done: set[str]) -> bool:
    return (task.status in ("todo", "rejected") and task.agent in (None, agent)
            and task.claimedBy in (None, agent) and task.gate != "pending" and not task.blockedOn
            and all(d in done for d in task.dependsOn))


def _order(task: Task) -> tuple[int, str, str]:
    return _PRIORITY.get(str(getattr(task, "priority", None) or "normal"), 1), task.createdAt, task.taskId


def next_task(ws: Workspace, agent: str, now: datetime, *, claim: bool) -> Task | None:
    """The next ready task for ``agent`` (claimed for it when ``claim``), or None."""
    stamp = iso(now)
    with ws.storage.registry.transaction(agent, stamp) as tx:
        done = {t.taskId for t in tx.doc.tasks if t.status == "done"}
        if {d for t in tx.doc.tasks for d in t.dependsOn} - {t.taskId for t in tx.doc.tasks}:  # archived deps
            done |= {t.taskId for t in ws.storage.registry.archived() if t.status == "done"}
        ready = sorted((t for t in tx.doc.tasks if is_ready(t, agent, done)), key=_order)
        if not ready:
            return None
        task = ready[0]
        if claim:
            if task.agent is None:
                set_field(tx, task, "agent", agent, stamp)
            set_field(tx, task, "claimedBy", agent, stamp)
            set_field(tx, task, "status", "in_progress", stamp)
        return task.model_copy(deep=True)


def release_task(ws: Workspace, task_id: str, agent: str, now: datetime) -> Task:
    """Give a claim back: ``claimedBy`` cleared, an ``in_progress`` task back to ``todo``."""
    stamp = iso(now)
    with ws.storage.registry.transaction(agent, stamp) as tx:
        task = tx.find(check_task_id(task_id))
        if task is None:
            raise NotFound(f"unknown task {task_id!r} (see `agentctl task list`)")
        if task.claimedBy not in (None, agent):
            raise Conflict(f"task {task_id} is claimed by {task.claimedBy}, not {agent}")
        set_field(tx, task, "claimedBy", None, stamp)
        if task.status == "in_progress":
            set_field(tx, task, "status", "todo", stamp)
        return task.model_copy(deep=True)
