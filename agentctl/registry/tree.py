"""Delegation trees (SPEC §13): a task, the tasks it delegated, theirs, with status, agent and cost.

Cost per node is the sum of its runs' ``costUsd`` (read from the run log, from the
day the oldest task of the tree was created); a node with a run that could not be
priced says so (``unpricedRuns``) instead of reading as $0. A node's ``totalCostUsd``
adds its subtree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from agentctl.core.clock import parse_iso
from agentctl.core.records import Task


def _costs(ws: Any, ids: set[str], since: datetime, now: datetime) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {i: {"costUsd": 0.0, "runs": 0, "unpricedRuns": 0} for i in ids}
    for rec in ws.storage.runlog.read_window(since, now + timedelta(days=1)):
        node = out.get(rec.get("taskId"))
        if node is None or rec.get("status") in ("duplicate",):
            continue
        node["runs"] += 1
        cost = rec.get("costUsd")
        if cost is None:
            node["unpricedRuns"] += 1
        elif isinstance(cost, (int, float)):
            node["costUsd"] += float(cost)
    return out


def task_tree(ws: Any, root_id: str, now: datetime) -> dict[str, Any]:
    from agentctl.registry.service import find_task

    root = find_task(ws, root_id)
    tasks = list(ws.storage.registry.load().tasks)
    live = {t.taskId for t in tasks}
    tasks += [t for t in ws.storage.registry.archived() if t.taskId not in live]
    kids: dict[str, list[Task]] = {}
    for t in tasks:
        if t.parent:
            kids.setdefault(t.parent, []).append(t)
    members: list[Task] = []
    stack, seen = [root], {root.taskId}
    while stack:
        t = stack.pop()
        members.append(t)
        for k in kids.get(t.taskId, []):
            if k.taskId not in seen:
                seen.add(k.taskId)
                stack.append(k)
    since = min(parse_iso(t.createdAt) for t in members)
    costs = _costs(ws, seen, since, now)
    return _node(root, kids, costs, set())


def _node(task: Task, kids: dict[str, list[Task]], costs: dict[str, dict[str, Any]], path: set[str]) -> dict[str, Any]:
    c = costs.get(task.taskId, {"costUsd": 0.0, "runs": 0, "unpricedRuns": 0})
    children = [_node(k, kids, costs, path | {task.taskId}) for k in sorted(kids.get(task.taskId, []),
                                                                           key=lambda t: t.createdAt)
                if k.taskId not in path]
    total = round(c["costUsd"] + sum(ch["totalCostUsd"] for ch in children), 10)
    unpriced = c["unpricedRuns"] + sum(ch["totalUnpricedRuns"] for ch in children)
    return {"taskId": task.taskId, "title": task.title, "status": task.status, "agent": task.agent,
            "runs": c["runs"], "costUsd": round(c["costUsd"], 10), "unpricedRuns": c["unpricedRuns"],
            "totalCostUsd": total, "totalUnpricedRuns": unpriced, "children": children}
