"""Delegation (SPEC §13): an artifact's reserved top-level ``spawn`` becomes child tasks.

``spawn: [{title, agent, input?, dependsOn?, priority?}]`` (at most 50, every agent
defined) is taken out of the artifact before its contract is checked; the runner
creates the children of the run's task in the same transaction that stores the
result, attributes them to the spawning run in the events, and blocks the parent
on them (``blockedOn`` = the children) until they are all done — then it is ready
for its agent again (``agentctl.registry.ready``). ``dependsOn`` entries name
existing tasks, or earlier entries of the same list by their 0-based index.
"""

from __future__ import annotations

from typing import Any

from agentctl.core.records import PRIORITIES, Task
from agentctl.registry.service import NewTask, add_task_tx, set_field
from agentctl.storage.base import RegistryTx

MAX_SPAWN = 50
SPAWN_KEYS = {"title", "agent", "input", "dependsOn", "priority"}


def take_spawn(artifact: Any) -> tuple[Any, list[Any] | None]:
    """(the artifact without ``spawn``, the spawn list or None)."""
    if not isinstance(artifact, dict) or "spawn" not in artifact:
        return artifact, None
    rest = {k: v for k, v in artifact.items() if k != "spawn"}
    spawn = artifact["spawn"]
    return rest, spawn if isinstance(spawn, list) else [spawn]


def _entry_problems(i: int, item: Any, agents: set[str]) -> list[dict[str, Any]]:
    at = f"spawn[{i}]"
    if not isinstance(item, dict):
        return [{"path": at, "message": "must be an object {title, agent, input?, dependsOn?, priority?}"}]
    out = [{"path": f"{at}.{k}", "message": "unknown key"} for k in sorted(set(item) - SPAWN_KEYS)]
    if not isinstance(item.get("title"), str) or not item["title"].strip():
        out.append({"path": f"{at}.title", "message": "a non-empty title is required"})
    if item.get("agent") not in agents:
        out.append({"path": f"{at}.agent", "message": f"{item.get('agent')!r} is not a defined agent"})
    if item.get("priority", "normal") not in PRIORITIES:
        out.append({"path": f"{at}.priority", "message": f"must be one of {', '.join(PRIORITIES)}"})
    if item.get("input") is not None and not isinstance(item["input"], str):
        out.append({"path": f"{at}.input", "message": "must be a path (string)"})
    deps = item.get("dependsOn", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) or (isinstance(d, int) and 0 <= d < i)
                                             for d in deps):
        out.append({"path": f"{at}.dependsOn", "message": "a list of task ids or indexes of earlier entries"})
    return out


def spawn_problems(spawn: list[Any], agents: set[str]) -> list[dict[str, Any]]:
    if len(spawn) > MAX_SPAWN:
        return [{"path": "spawn", "message": f"at most {MAX_SPAWN} child tasks per run, got {len(spawn)}"}]
    return [p for i, item in enumerate(spawn) for p in _entry_problems(i, item, agents)]


def spawn_children(tx: RegistryTx, parent: Task, spawn: list[dict[str, Any]], run_id: str, prefix: str,
                   stamp: str) -> list[Task]:
    """Create the children, attribute them to ``run_id``, and block the parent on them."""
    made: list[Task] = []
    for item in spawn:
        deps = [made[d].taskId if isinstance(d, int) else d for d in item.get("dependsOn", [])]
        child = add_task_tx(tx, NewTask(title=item["title"].strip(), agent=item["agent"], product=parent.product,
                                        depends_on=deps, input=item.get("input")), prefix, stamp)
        child.priority = item.get("priority", "normal")
        child.parent = parent.taskId
        tx.log(child.taskId, "spawnedBy", None, {"runId": run_id, "parent": parent.taskId})
        made.append(child)
    ids = [c.taskId for c in made]
    tx.log(parent.taskId, "spawn", None, {"runId": run_id, "children": ids})
    set_field(tx, parent, "status", "blocked", stamp)
    set_field(tx, parent, "blockedBy", f"waiting on {len(ids)} delegated task(s): {', '.join(ids[:5])}"
              + (" …" if len(ids) > 5 else ""), stamp)
    set_field(tx, parent, "blockedOn", sorted(set(parent.blockedOn) | set(ids)), stamp)
    for name in ("claimedBy", "claimRun", "leaseExpiresAt"):
        set_field(tx, parent, name, None, stamp)
    return made
