"""Review verdicts belong to the reviewed work (SPEC §13).

A review that requests changes (``approved: false`` with revision requests) or a QA
report with critical or major bugs is not a failure of the reviewer: its run is a
success, and its handoff sends the *upstream* work back — the nearest task up the
``dependsOn`` chain whose artifact is not itself a verdict (QA's bugs go back to the
code, past the review) — as ``rejected`` with the requests as its rejection, so the
producer's next run carries them. The verdict task and any verdict in between go
back to ``todo``: they run again once the rework is done. A person does the same at
a gate with ``gate reject ID --by NAME --reason TEXT``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentctl.contracts.rejections import build_rejection, from_reason, problem, record_rejection
from agentctl.core.clock import iso
from agentctl.core.records import Rejection, RejectionError, Task
from agentctl.errors import UsageError
from agentctl.storage.base import RegistryTx

if TYPE_CHECKING:
    from agentctl.workspace.loader import Workspace

BLOCKING_SEVERITIES = ("critical", "major")
MAX_ITEMS = 20


def _requests(artifact: dict[str, Any]) -> list[Any]:
    for key in ("openRevisionRequests", "revisionRequests"):
        if isinstance(artifact.get(key), list) and artifact[key]:
            return list(artifact[key])
    return []


def _blocking_bugs(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    bugs = artifact.get("bugs")
    if not isinstance(bugs, list):
        return []
    return [b for b in bugs if isinstance(b, dict) and b.get("severity") in BLOCKING_SEVERITIES]


def requests_changes(artifact: Any) -> bool:
    """A review asking for changes, or a QA report with critical/major bugs."""
    if not isinstance(artifact, dict):
        return False
    return bool((artifact.get("approved") is False and _requests(artifact)) or _blocking_bugs(artifact))


def _is_verdict_shaped(artifact: Any) -> bool:
    return isinstance(artifact, dict) and ("approved" in artifact or "bugs" in artifact)


def change_list(artifact: dict[str, Any]) -> list[RejectionError]:
    """Each revision request or blocking bug as a problem the producer must fix."""
    out = []
    for i, req in enumerate(_requests(artifact)):
        if isinstance(req, dict):
            where = str(req.get("file") or f"openRevisionRequests[{i}]")
            out.append(problem(where, req.get("comment") or json.dumps(req)))
        else:
            out.append(problem(f"openRevisionRequests[{i}]", req))
    for i, bug in enumerate(_blocking_bugs(artifact)):
        text = f"{bug.get('severity')} bug {bug.get('id') or i}: {bug.get('title') or ''}".strip()
        out.append(problem(f"bugs[{i}]", text))
    return out[:MAX_ITEMS]


@dataclass
class SentBack:
    upstream: Task | None
    reset: list[Task] = field(default_factory=list)


def _artifact_of(ws: Workspace, task: Task) -> Any:
    """The task's output artifact, parsed (through the artifact store); None when absent or not JSON."""
    from agentctl.storage.artifact_refs import read_ref

    if not task.output:
        return None
    try:
        return json.loads(read_ref(ws.storage, ws.root, ws.root / task.output))
    except (OSError, ValueError):
        return None


def find_upstream(ws: Workspace, tx: RegistryTx, task: Task) -> tuple[Task | None, list[Task]]:
    """The work a verdict is about, and the verdict tasks between it and ``task``."""
    between: list[Task] = []
    current, seen = task, {task.taskId}
    while True:
        found = [tx.find(d) for d in current.dependsOn if d not in seen]
        parents = [p for p in found if p is not None]
        if not parents:
            return None, between
        up = parents[0]
        seen.add(up.taskId)
        if not _is_verdict_shaped(_artifact_of(ws, up)):
            return up, between
        between.append(up)
        current = up


def send_back(tx: RegistryTx, ws: Workspace, task: Task, artifact: dict[str, Any], stage: str | None,
              stamp: str) -> SentBack:
    """Apply a verdict that requests changes: reject the upstream work, reset the verdicts."""
    from agentctl.registry.service import set_field

    upstream, between = find_upstream(ws, tx, task)
    changes = change_list(artifact)
    who = task.agent or "the reviewer"
    summary = f"changes requested by {who}: {len(changes)} item(s) to fix"
    tx.log(task.taskId, "verdict", None, {"decision": "changes requested", "items": len(changes),
                                         "upstream": upstream.taskId if upstream else None})
    if upstream is None:
        set_field(tx, task, "status", "done", stamp)
        return SentBack(None)
    rejection = build_rejection(at=stamp, stage=upstream.phase or stage, by=who, errors=changes, summary=summary)
    reject_back(tx, upstream, rejection, f"{who} — {summary}", stamp)
    for t in [task, *between]:
        for name, value in (("status", "todo"), ("claimedBy", None), ("claimRun", None), ("leaseExpiresAt", None),
                            ("gate", None), ("blockedBy", f"waiting on the rework of {upstream.taskId}")):
            set_field(tx, t, name, value, stamp)
    return SentBack(upstream, [task, *between])


def reject_back(tx: RegistryTx, task: Task, rejection: Rejection, blocked_by: str, stamp: str) -> None:
    """``task`` goes back to its producer: rejected, unclaimed, with the rejection for its next run."""
    from agentctl.registry.service import set_field

    record_rejection(tx, task, rejection, stamp)
    for name, value in (("status", "rejected"), ("blockedBy", blocked_by), ("blockedOn", []),
                        ("claimedBy", None), ("claimRun", None), ("leaseExpiresAt", None)):
        set_field(tx, task, name, value, stamp)


def reject_gate(ws: Any, task_id: str, by: str, reason: str, actor: str, now: datetime,
                agent_process: str | None = None) -> Task:
    """A person rejects work waiting at a gate: back to its producer with the reason."""
    from agentctl.contracts.handoff import _refuse_agents, _waiting
    from agentctl.registry.service import check_task_id, set_field

    _refuse_agents(agent_process, by)
    if not reason.strip():
        raise UsageError("--reason TEXT must say what to change")
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = _waiting(tx, check_task_id(task_id))
        rejection = from_reason(reason, at=stamp, stage=task.phase, by=by)
        set_field(tx, task, "gate", "rejected", stamp)
        tx.log(task.taskId, "gateDecision", None, {"decision": "rejected", "by": by, "reason": reason.strip()[:500]})
        reject_back(tx, task, rejection, f"{by} — {reason.strip()[:200]}", stamp)
        return task
