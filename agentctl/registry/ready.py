"""Readiness, `task next`, dependency checks and cycles (SPEC §13).

A task is ready for agent A when it is A's, ``todo`` or ``rejected`` (rework), every
``dependsOn`` is done, it is not blocked and not waiting at a gate — or it is a
parent whose delegated children are all done, or an in-progress claim whose lease
lapsed (its claimer died: reclaimed, event ``reclaimed``). Ready tasks go out by
``priority`` (high, normal, low), then age. Everything is decided inside one
registry transaction, so two loops never get the same task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from agentctl.core.clock import iso, parse_iso
from agentctl.core.config import AgentDef
from agentctl.core.records import FINISHED, Task
from agentctl.errors import UsageError
from agentctl.storage.base import RegistryTx

if TYPE_CHECKING:
    from agentctl.registry.service import NewTask

PRIORITY_RANK = {"high": 0, "normal": 1, "low": 2}


def lease_seconds(agent: AgentDef) -> float:
    return agent.lease_s if agent.lease_s is not None else agent.timeout_s + 60


def lease_until(agent: AgentDef, now: datetime) -> str:
    return iso(now + timedelta(seconds=lease_seconds(agent)))


def lease_expired(task: Task, now: datetime) -> bool:
    """An in-progress claim whose lease lapsed: its claimer died or froze."""
    if task.status != "in_progress" or not task.claimedBy or not task.leaseExpiresAt:
        return False
    try:
        return parse_iso(task.leaseExpiresAt) <= now
    except ValueError:
        return True


class Live(Protocol):
    def get(self, task_id: str, /) -> Task | None: ...


@dataclass
class Lookup:
    """Task ids to tasks: the live registry first, the archive only when asked for an id it lacks."""

    live: Live
    archived: Callable[[], Iterable[Task]]
    _arch: dict[str, Task] | None = None

    def get(self, task_id: str) -> Task | None:
        found = self.live.get(task_id)
        if found is not None:
            return found
        if self._arch is None:
            self._arch = {t.taskId: t for t in self.archived()}
        return self._arch.get(task_id)


def lookup_for(tasks: list[Task], registry: object) -> Lookup:
    return Lookup({t.taskId: t for t in tasks}, getattr(registry, "archived", lambda: iter(())))


@dataclass
class _Peek:
    """A transaction's tasks one id at a time (``tx.peek``): no reading of the whole registry."""

    tx: RegistryTx
    seen: dict[str, Task | None] = field(default_factory=dict)

    def get(self, task_id: str, /) -> Task | None:
        if task_id not in self.seen:
            self.seen[task_id] = self.tx.peek(task_id)
        return self.seen[task_id]


def lookup_in(tx: RegistryTx, registry: object) -> Lookup:
    """A Lookup inside a registry transaction that reads only the tasks asked for."""
    return Lookup(_Peek(tx), getattr(registry, "archived", lambda: iter(())))


def unmet_dependencies(task: Task, look: Lookup) -> list[tuple[str, str]]:
    """(id, status) of every dependency that is not done; an unknown one reads ``missing``."""
    out: list[tuple[str, str]] = []
    for dep in task.dependsOn:
        other = look.get(dep)
        if other is None or other.status != "done":
            out.append((dep, other.status if other else "missing"))
    return out


def dependency_refusal(task: Task, look: Lookup) -> tuple[str, str] | None:
    """Why ``task`` may not start yet (message, hint), or None."""
    unmet = unmet_dependencies(task, look)
    if not unmet:
        return None
    waits = ", ".join(f"{d} ({s})" for d, s in unmet)
    return f"task {task.taskId} is waiting on {waits}", "it starts when every dependsOn task is done"


def children_done(task: Task, look: Lookup) -> bool:
    """A parent blocked on its delegated children, all of them done: ready again."""
    if task.status != "blocked" or not task.blockedOn:
        return False
    kids = [look.get(c) for c in task.blockedOn]
    return all(k is not None and k.parent == task.taskId and k.status == "done" for k in kids)


CLAIMABLE = frozenset({"todo", "rejected", "blocked", "in_progress"})
"""The statuses a ready task can have (``is_ready``)."""


def is_ready(task: Task, agent: str, look: Lookup, now: datetime) -> bool:
    """A's own task, todo / rejected / a parent whose children are done / a lapsed claim, that the
    one claim policy (``registry.claims``) lets A take."""
    from agentctl.registry.claims import claim_refusal

    if task.agent != agent or task.status not in CLAIMABLE:
        return False
    if task.status == "in_progress" and not lease_expired(task, now):
        return False
    return claim_refusal(task, agent, look, now) is None


def rank(task: Task) -> tuple[int, str, str]:
    """The order ready tasks go out in: priority, then age, then id."""
    return PRIORITY_RANK.get(task.priority, 1), task.createdAt, task.taskId


def ready_tasks(tasks: list[Task], agent: str, look: Lookup, now: datetime) -> list[Task]:
    ready = [t for t in tasks if is_ready(t, agent, look, now)]
    return sorted(ready, key=rank)


def next_task(ws: object, agent_def: object, now: datetime, *, claim: bool = False,
              run_id: str | None = None) -> Task | None:
    """The next ready task for the agent; with ``claim``, claimed in the same transaction."""
    agent = agent_def.name  # type: ignore[attr-defined]
    registry = ws.storage.registry  # type: ignore[attr-defined]
    if not claim:
        tasks = registry.load().tasks
        found = ready_tasks(tasks, agent, lookup_for(tasks, registry), now)
        return found[0] if found else None
    stamp = iso(now)
    tx: RegistryTx
    with registry.transaction(agent, stamp) as tx:
        look = lookup_in(tx, registry)
        for seen in sorted(tx.of_agent(agent, CLAIMABLE), key=rank):  # the first ready one, as ready_tasks()[0]
            if not is_ready(seen, agent, look, now):
                continue
            task = tx.find(seen.taskId)  # the one to change (on a database: now locked, so look again)
            if task is not None and is_ready(task, agent, look, now):
                take_claim(tx, task, agent_def, now, run_id)
                return task.model_copy(deep=True)
        return None


def take_claim(tx: RegistryTx, task: Task, agent_def: object, now: datetime, run_id: str | None) -> None:
    """Claim ``task`` for the agent with a fresh lease; an expired claim is logged as ``reclaimed``."""
    from agentctl.registry.service import set_field

    stamp = iso(now)
    agent = agent_def.name  # type: ignore[attr-defined]
    if lease_expired(task, now) or task.claimRun not in (None, run_id):
        tx.log(task.taskId, "reclaimed", {"claimedBy": task.claimedBy, "claimRun": task.claimRun,
                                          "leaseExpiresAt": task.leaseExpiresAt},
               {"claimedBy": agent, "claimRun": run_id})
    if task.status == "blocked":
        set_field(tx, task, "blockedBy", None, stamp)
        set_field(tx, task, "blockedOn", [], stamp)
    set_field(tx, task, "claimedBy", agent, stamp)
    set_field(tx, task, "status", "in_progress", stamp)
    set_field(tx, task, "claimRun", run_id, stamp)
    set_field(tx, task, "leaseExpiresAt", lease_until(agent_def, now), stamp)  # type: ignore[arg-type]


def release_claim(tx: RegistryTx, task: Task, stamp: str, why: str) -> None:
    """Give a claim back: an in-progress task returns to ``todo`` (its rejections stay for the next run),
    event ``released``."""
    from agentctl.registry.service import set_field

    if task.status in FINISHED or not (task.claimedBy or task.claimRun):
        return
    tx.log(task.taskId, "released", {"claimedBy": task.claimedBy, "claimRun": task.claimRun}, {"why": why})
    set_field(tx, task, "claimedBy", None, stamp)
    set_field(tx, task, "claimRun", None, stamp)
    set_field(tx, task, "leaseExpiresAt", None, stamp)
    if task.status == "in_progress":
        set_field(tx, task, "status", "todo", stamp)


def release_task(ws: object, task_id: str, actor: str, now: datetime) -> Task:
    """`task release ID` (and the MCP tool): give a claim back; Conflict (5) when it is not claimed."""
    from agentctl.errors import Conflict
    from agentctl.registry.service import _get

    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:  # type: ignore[attr-defined]
        task = _get(tx, task_id)
        if not (task.claimedBy or task.claimRun):
            raise Conflict(f"task {task_id} is not claimed (status {task.status})")
        release_claim(tx, task, stamp, f"released by {actor}")
        return task.model_copy(deep=True)


# --- what task add / update accept ------------------------------------------------------------

def find_cycle(start: str, deps_of: Callable[[str], list[str]]) -> list[str] | None:
    """A dependency path from ``start`` back to itself, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for dep in deps_of(node):
            if dep == start:
                return [*path, dep]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, [*path, dep]))
    return None


def check_links(task_id: str, depends_on: list[str], parent: str | None, look: Lookup,
                deps_of: Callable[[str], list[str]]) -> None:
    """Unknown dependency or parent, a task depending on itself, or a cycle: usage error (2)."""
    for dep in [*depends_on, *([parent] if parent else [])]:
        if dep == task_id:
            raise UsageError(f"task {task_id} cannot depend on itself")
        if look.get(dep) is None:
            raise UsageError(f"unknown task {dep!r} in --depends-on/--parent of {task_id} (see `agentctl task list`)")
    cycle = find_cycle(task_id, lambda t: depends_on if t == task_id else deps_of(t))
    if cycle:
        raise UsageError(f"dependency cycle: {' → '.join(cycle)}")


def check_new_links(tx: RegistryTx, registry: object, new: NewTask) -> None:
    """``task add``: every dependency and the parent exist; the new id closes no cycle."""
    look = lookup_for(tx.doc.tasks, registry)
    task_id = new.task_id or "the new task"

    def deps(t: str) -> list[str]:
        found = look.get(t)
        return list(found.dependsOn) if found else []

    check_links(task_id, list(new.depends_on), new.parent, look, deps)


def claim_lease(ws: object, agent: str, now: datetime) -> str | None:
    """The lease of a claim by ``agent`` (None for a name with no agent file)."""
    agents = ws.agents  # type: ignore[attr-defined]
    return lease_until(agents[agent], now) if agent in agents else None


def check_agent_defined(ws: object, agent: str | None) -> None:
    if agent is None:
        return
    agents = ws.agents  # type: ignore[attr-defined]
    if agent not in agents:
        known = ", ".join(sorted(agents)) or "none defined"
        raise UsageError(f"unknown agent {agent!r}: no agents/{agent}.yaml (known: {known})")
