"""Task registry service (SPEC §3): add, update, claim, block, board, blocking chains.

Pure decisions on a registry read inside the lock; each change is logged as an
event. No printing; ``now`` is passed in.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentctl.core.clock import iso, parse_iso
from agentctl.core.records import FINISHED, STATUSES, TASK_ID_PATTERN, Task
from agentctl.errors import Conflict, NotFound, UsageError
from agentctl.registry import policy
from agentctl.registry.policy import Actor
from agentctl.storage.base import RegistryTx
from agentctl.storage.retry import replayable
from agentctl.workspace.loader import Workspace

_ID = re.compile(TASK_ID_PATTERN)
SETTABLE = {"title", "agent", "product", "phase", "blockedBy", "pr", "input", "output", "notes", "claimedBy"}


def check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _ID.fullmatch(task_id) or ".." in task_id:  # fullmatch: no trailing \n
        raise UsageError(f"invalid task id {task_id!r}: use letters, digits, '.', '_' or '-' (no paths)")
    return task_id


def _get(tx: RegistryTx, task_id: str) -> Task:
    task = tx.find(check_task_id(task_id))
    if task is None:
        raise NotFound(f"unknown task {task_id!r} (see `agentctl task list`)")
    return task


def set_field(tx: RegistryTx, task: Task, name: str, value: Any, now: str) -> None:
    before = getattr(task, name)
    if before == value:
        return
    setattr(task, name, value)
    task.updatedAt = now
    tx.log(task.taskId, name, before, value)


def find_task(ws: Workspace, task_id: str) -> Task:
    """A live task, else an archived one; unknown → NotFound (exit 2)."""
    check_task_id(task_id)
    live = ws.storage.registry.load().find(task_id)
    if live is not None:
        return live
    for t in ws.storage.registry.archived():
        if t.taskId == task_id:
            return t
    raise NotFound(f"unknown task {task_id!r} (see `agentctl task list --all`)")


@dataclass
class NewTask:
    title: str
    agent: str | None = None
    task_id: str | None = None
    product: str | None = None
    phase: str | None = None
    depends_on: list[str] = field(default_factory=list)
    input: str | None = None
    status: str = "todo"
    priority: str = "normal"
    parent: str | None = None


def add_task_tx(tx: RegistryTx, new: NewTask, prefix: str, now: str) -> Task:
    if new.task_id:
        task_id = check_task_id(new.task_id)
        if tx.find(task_id):
            raise Conflict(f"task {task_id} already exists")
    else:
        while tx.find(task_id := f"{prefix}-{tx.doc.nextSeq}"):
            tx.doc.nextSeq += 1
        tx.doc.nextSeq += 1
    for dep in new.depends_on:
        check_task_id(dep)
    task = Task(taskId=task_id, title=new.title, agent=new.agent, product=new.product, phase=new.phase,
                dependsOn=list(new.depends_on), input=new.input, status=new.status,
                priority=new.priority, parent=new.parent, createdAt=now, updatedAt=now)
    tx.add(task)
    tx.log(task_id, "create", None, task.model_dump(mode="json"))
    return task


@replayable
def add_task(ws: Workspace, new: NewTask, actor: str, now: datetime, who: Actor | None = None) -> Task:
    from agentctl.registry.ready import check_agent_defined, check_new_links

    if not new.title.strip():
        raise UsageError("--title must not be empty")
    for linked in [*new.depends_on, *([new.parent] if new.parent else [])]:
        check_task_id(linked)
    check_agent_defined(ws, new.agent)
    who = who or Actor()
    policy.check_force(who)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        check_new_links(tx, ws.storage.registry, new)
        policy.check_add([t for d in new.depends_on if (t := tx.find(d)) is not None], who)
        task = add_task_tx(tx, new, ws.config.task_prefix, stamp)
        _log_forced(tx, task, who)
        return task


def _log_forced(tx: RegistryTx, task: Task, who: Actor) -> None:
    forced = policy.forced_event(who)
    if forced is not None:
        tx.log(task.taskId, "forced", None, forced)


def parse_value(raw: str) -> Any:
    """``--check qa=passed`` / ``--set field=value``: null/true/false/numbers, else text."""
    lowered = raw.strip().lower()
    if lowered in ("null", "none", ""):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(raw)
    except ValueError:
        return raw


def _split(pair: str, flag: str) -> tuple[str, str]:
    if "=" not in pair:
        raise UsageError(f"{flag} expects NAME=VALUE, got {pair!r}")
    name, value = pair.split("=", 1)
    return name.strip(), value


@dataclass
class Update:
    status: str | None = None
    phase: str | None = None
    pr: str | None = None
    checks: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)


def task_version(task: Task) -> str | int:
    """What compare-and-set compares: the task's integer ``version`` when it has one, else ``updatedAt``."""
    version = getattr(task, "version", None)
    return version if isinstance(version, int) else task.updatedAt


@replayable
def update_task(ws: Workspace, task_id: str, up: Update, actor: str, now: datetime,
                agent_process: str | None = None, who: Actor | None = None,
                expected_version: str | int | None = None) -> Task:
    """``agent_process`` ($AGENTCTL_AGENT, read by the CLI) or ``who``: the integrity rules of
    ``agentctl.registry.policy`` (no agent finishes, re-points or re-stages its own gated work).
    ``expected_version``: compare-and-set — refused (5) when the task changed since it was read."""
    who = who or Actor(agent=agent_process)
    policy.check_force(who)
    if up.status is not None and up.status not in STATUSES:
        raise UsageError(f"--status must be one of {', '.join(STATUSES)}; got {up.status!r}")
    parsed_sets = [_split(s, "--set") for s in up.sets]
    for name, _ in parsed_sets:
        if name not in SETTABLE:
            raise UsageError(f"--set {name}: not a settable field ({', '.join(sorted(SETTABLE))})")
    parsed_checks = [_split(c, "--check") for c in up.checks]
    for name, value in parsed_sets:
        if name == "agent" and value.strip().lower() not in ("null", "none"):
            from agentctl.registry.ready import check_agent_defined

            check_agent_defined(ws, value)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = _get(tx, task_id)
        if expected_version is not None and str(task_version(task)) != str(expected_version):
            raise Conflict(f"task {task_id} changed since it was read (version {task_version(task)}, "
                           f"expected {expected_version}): read it again, then update")
        policy.check_update(task, _changes(task, up, parsed_sets), who)
        _log_forced(tx, task, who)
        if up.status is not None:
            set_field(tx, task, "status", up.status, stamp)
            if up.status != "blocked" and task.blockedBy and up.status in ("todo", "in_progress", "done", "cancelled"):
                set_field(tx, task, "blockedBy", None, stamp)
                set_field(tx, task, "blockedOn", [], stamp)
        if up.phase is not None:
            set_field(tx, task, "phase", up.phase, stamp)
        if up.pr is not None:
            set_field(tx, task, "pr", up.pr, stamp)
        for name, value in parsed_checks:
            if task.checks.get(name) != (v := parse_value(value)) or name not in task.checks:
                before = dict(task.checks)
                task.checks = {**task.checks, name: v}
                task.updatedAt = stamp
                tx.log(task.taskId, f"checks.{name}", before.get(name), v)
        for name, value in parsed_sets:
            set_field(tx, task, name, None if value.strip().lower() in ("null", "none") else value, stamp)
        return task


def _changes(task: Task, up: Update, sets: list[tuple[str, str]]) -> dict[str, Any]:
    """The fields an update would really change (name → new value)."""
    wanted: dict[str, Any] = {"status": up.status, "phase": up.phase, "pr": up.pr}
    wanted = {k: v for k, v in wanted.items() if v is not None}
    for name, value in sets:
        wanted[name] = None if value.strip().lower() in ("null", "none") else value
    return {k: v for k, v in wanted.items() if getattr(task, k) != v}


@replayable
def claim_task(ws: Workspace, task_id: str, agent: str, now: datetime, acting: str | None = None) -> Task:
    """`task claim ID --agent A`: the one claim policy (``registry.claims``) decides; a lapsed
    claim of another agent is taken over (event ``reclaimed``)."""
    from agentctl.registry.claims import check_claim
    from agentctl.registry.ready import claim_lease, lease_expired

    stamp = iso(now)
    with ws.storage.registry.transaction(agent, stamp) as tx:
        task = _get(tx, task_id)
        check_claim(ws, tx, task, agent, now, acting=acting, any_assignee=True)
        if lease_expired(task, now) and task.claimedBy != agent:
            tx.log(task.taskId, "reclaimed", {"claimedBy": task.claimedBy, "claimRun": task.claimRun,
                                              "leaseExpiresAt": task.leaseExpiresAt}, {"claimedBy": agent})
            set_field(tx, task, "claimRun", None, stamp)
        set_field(tx, task, "leaseExpiresAt", claim_lease(ws, agent, now), stamp)
        set_field(tx, task, "claimedBy", agent, stamp)
        if task.status in ("todo", "rejected"):
            set_field(tx, task, "status", "in_progress", stamp)
        return task


@replayable
def block_task(ws: Workspace, task_id: str, by: str, on: list[str], actor: str, now: datetime,
               who: Actor | None = None) -> Task:
    who = who or Actor()
    policy.check_force(who)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = _get(tx, task_id)
        policy.check_block(task, "block", who)
        _log_forced(tx, task, who)
        for other in on:
            _get(tx, other)
        set_field(tx, task, "status", "blocked", stamp)
        set_field(tx, task, "blockedBy", by, stamp)
        if on:
            set_field(tx, task, "blockedOn", sorted(set(task.blockedOn) | set(on)), stamp)
        return task


@replayable
def unblock_task(ws: Workspace, task_id: str, actor: str, now: datetime, who: Actor | None = None) -> Task:
    who = who or Actor()
    policy.check_force(who)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = _get(tx, task_id)
        policy.check_block(task, "unblock", who)
        _log_forced(tx, task, who)
        set_field(tx, task, "blockedBy", None, stamp)
        set_field(tx, task, "blockedOn", [], stamp)
        if task.status == "blocked":
            set_field(tx, task, "status", "in_progress" if task.claimedBy else "todo", stamp)
        return task


def list_tasks(ws: Workspace, *, status: str | None = None, agent: str | None = None, product: str | None = None,
               phase: str | None = None, include_archived: bool = False) -> list[Task]:
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status must be one of {', '.join(STATUSES)}; got {status!r}")
    tasks = list(ws.storage.registry.load().tasks)
    if include_archived:
        live = {t.taskId for t in tasks}
        tasks += [t for t in ws.storage.registry.archived() if t.taskId not in live]
    return [t for t in tasks
            if (status is None or t.status == status) and (agent is None or t.agent == agent)
            and (product is None or t.product == product) and (phase is None or t.phase == phase)]


# --- the board and blocking chains ----------------------------------------------

def _waits_on(task: Task, by_id: dict[str, Task]) -> list[str]:
    """What a task waits on: explicit --on ids, else unfinished dependencies."""
    if task.blockedOn:
        return list(task.blockedOn)
    if task.status == "blocked":
        return [d for d in task.dependsOn if d in by_id and by_id[d].status not in FINISHED]
    return []


def blocking_chain(task: Task, by_id: dict[str, Task]) -> dict[str, Any]:
    """Follow what ``task`` waits on to the root causes; a cycle is reported, not looped on."""
    chains: list[list[str]] = []
    roots: dict[str, Task] = {}
    cycle: list[str] | None = None

    def walk(t: Task, path: list[str]) -> None:
        nonlocal cycle
        nxt = _waits_on(t, by_id)
        if not nxt:
            chains.append(path)
            roots.setdefault(t.taskId, t)
            return
        for other_id in nxt:
            if other_id in path:
                cycle = cycle or path[path.index(other_id):] + [other_id]
                chains.append(path + [other_id])
                continue
            other = by_id.get(other_id)
            if other is None:
                chains.append(path + [other_id])
                continue
            walk(other, path + [other_id])

    walk(task, [task.taskId])
    return {
        "taskId": task.taskId, "title": task.title, "agent": task.agent, "product": task.product,
        "blockedBy": task.blockedBy, "chains": chains, "cycle": cycle,
        "rootCauses": [{"taskId": r.taskId, "title": r.title, "agent": r.agent, "status": r.status,
                        "blockedBy": r.blockedBy} for r in roots.values() if r.taskId != task.taskId]
        or [{"taskId": task.taskId, "title": task.title, "agent": task.agent, "status": task.status,
             "blockedBy": task.blockedBy}],
    }


def blocked_report(ws: Workspace, product: str | None = None) -> list[dict[str, Any]]:
    tasks = ws.storage.registry.load().tasks
    by_id = {t.taskId: t for t in tasks}
    return [blocking_chain(t, by_id) for t in tasks if is_held(t) and (product is None or t.product == product)]


def is_held(task: Task) -> bool:
    """Blocked, or stopped with a reason (a rejected handoff names who needs what)."""
    return task.status == "blocked" or (task.status not in FINISHED and bool(task.blockedBy))


def _open_breakers(ws: Workspace, now: datetime) -> list[str]:
    """Open or half-open breakers for the board; a missing or unreadable state shows nothing."""
    if ws.storage.backend == "files" and not (ws.root / "state" / "breakers.json").exists():
        return []
    from agentctl.breakers.breaker import open_breakers

    return open_breakers(ws, now)


def board(ws: Workspace, now: datetime, product: str | None = None) -> dict[str, Any]:
    tasks = [t for t in ws.storage.registry.load().tasks if product is None or t.product == product]
    counts: Counter[str] = Counter(t.status for t in tasks)

    def brief(t: Task) -> dict[str, Any]:
        age = (now - parse_iso(t.updatedAt)) // timedelta(minutes=1)
        return {"taskId": t.taskId, "title": t.title, "agent": t.agent, "product": t.product,
                "phase": t.phase, "status": t.status, "claimedBy": t.claimedBy, "blockedBy": t.blockedBy,
                "minutesSinceUpdate": age}

    return {
        "product": product,
        "total": len(tasks),
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "inProgress": [brief(t) for t in tasks if t.status == "in_progress"],
        "blocked": [brief(t) for t in tasks if t.status == "blocked"],
        "rejected": [brief(t) for t in tasks if t.status == "rejected"],
        "awaitingHuman": [brief(t) for t in tasks if t.status == "review"],
        "breakers": _open_breakers(ws, now),
        "running": _running(ws, now, product, tasks),
    }


def _running(ws: Workspace, now: datetime, product: str | None, tasks: list[Task]) -> list[dict[str, Any]]:
    """Runs in flight now, with elapsed time (SPEC §13); none when nothing ever ran here."""
    if ws.storage.backend == "files" and not (ws.root / "state" / "running.json").exists():
        return []  # (a database backend keeps its slots in a table)
    from agentctl.run.runs import running_runs

    ids = {t.taskId for t in tasks}
    return [r for r in running_runs(ws, now) if product is None or r["taskId"] in ids]


@replayable
def archive_finished(ws: Workspace, older_than: timedelta, actor: str, now: datetime) -> list[str]:
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        old = [t for t in tx.doc.tasks if t.status in FINISHED and now - parse_iso(t.updatedAt) >= older_than]
        tx.archive(old)
        ids = {t.taskId for t in old}
        for t in old:
            tx.log(t.taskId, "archive", t.status, "archived")
    _sweep_expired(ws, now)
    return sorted(ids)


def _sweep_expired(ws: Workspace, now: datetime) -> None:
    """Archiving (also the nightly job) drops expired idempotency keys and alert dedupe entries."""
    ws.storage.idempotency.sweep(now)
    ws.storage.alerts.dedupe.sweep(now)
