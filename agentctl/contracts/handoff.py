"""Handoffs between pipeline stages, structured rejections and human gates (SPEC §6).

A handoff checks a task's artifact against its stage's contract (``produces``;
also the next stage's ``consumes`` when that names another schema):

- valid: the artifact is kept as ``artifacts/<ID>/<produces>.json`` and set as the
  task's ``output``; at a gated stage the task waits in ``review`` with
  ``gate: pending``; otherwise it is ``done`` and the next stage's task is created
  (next agent, ``input`` = the artifact, ``dependsOn: [ID]``, same product);
- invalid: the task becomes ``rejected``, a structured Rejection is appended
  (``by`` = the next stage's agent, the one that needs the artifact) and
  ``blockedBy`` says "<next agent> — missing <what>"; nothing is created downstream.

Validation (the slow part) happens before the registry lock; inside the lock the
task is read again, re-checked, and every change is made in one transaction.

Gates: ``approve_gate`` / ``kill_gate`` are for humans only; they refuse to run
when ``agent_process`` (``$AGENTCTL_AGENT``, read by the CLI) is set.

INTERFACE (used by the CLI and the runner):
    handoff(ws, task_id, artifact, actor, now) -> HandoffResult
    approve_gate(ws, task_id, by, actor, now, agent_process) -> GateResult
    kill_gate(ws, task_id, by, actor, now, agent_process) -> GateResult
    pending_gates(ws) -> list[dict]
    rejection_context(task) -> str, format_rejection(task_id, rejection) -> str
        re-exported from ``contracts.rejections``, the one rejection builder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agentctl.contracts.rejections import format_rejection as format_rejection
from agentctl.contracts.rejections import from_verdict, record_rejection
from agentctl.contracts.rejections import rejection_context as rejection_context
from agentctl.contracts.schemas import VALID, Verdict
from agentctl.core.clock import iso
from agentctl.core.config import PipelineStage
from agentctl.core.records import FINISHED, Rejection, Task
from agentctl.errors import ConfigError, Conflict, SelfTestFailed, UsageError
from agentctl.registry.service import NewTask, _get, add_task_tx, check_task_id, find_task, set_field
from agentctl.storage.base import RegistryTx
from agentctl.storage.retry import replayable
from agentctl.workspace.loader import Workspace

# --- results -----------------------------------------------------------------------

@dataclass
class HandoffResult:
    task: Task
    stage: PipelineStage
    next_stage: PipelineStage | None
    artifact: str | None
    verdict: Verdict
    rejection: Rejection | None = None
    created: list[Task] = field(default_factory=list)
    sent_back: Task | None = None
    """A review that requested changes: the upstream task it sent back to its producer."""

    @property
    def valid(self) -> bool:
        return self.verdict.valid

    def to_json(self) -> dict[str, Any]:
        nxt = self.next_stage
        return {
            "taskId": self.task.taskId, "valid": self.valid, "status": self.task.status,
            "stage": self.stage.stage, "artifact": self.artifact, "gate": self.task.gate,
            "next": {"stage": nxt.stage, "agent": nxt.agent} if nxt else None,
            "rejection": self.rejection.model_dump(mode="json") if self.rejection else None,
            "problems": self.verdict.problems,
            "created": [t.taskId for t in self.created],
            "sentBack": self.sent_back.taskId if self.sent_back else None,
        }


@dataclass
class GateResult:
    task: Task
    decision: str
    by: str
    created: list[Task] = field(default_factory=list)
    cancelled: list[Task] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"taskId": self.task.taskId, "status": self.task.status, "gate": self.task.gate, "by": self.by,
                "created": [t.taskId for t in self.created], "cancelled": [t.taskId for t in self.cancelled]}


# --- the pipeline ----------------------------------------------------------------------

def _pipeline(ws: Workspace) -> list[PipelineStage]:
    stages = ws.config.pipeline
    if not stages:
        raise ConfigError("agentctl.yaml has no pipeline: nothing to hand off to",
                          hint="add ordered stages under `pipeline:` ({stage, agent, consumes, produces, gate})")
    return stages


def stage_index(stages: list[PipelineStage], task: Task) -> int:
    """The task's stage: by ``phase`` (the stage name), else by its agent."""
    for i, st in enumerate(stages):
        if task.phase and st.stage == task.phase:
            return i
    for i, st in enumerate(stages):
        if task.agent and st.agent == task.agent:
            return i
    names = ", ".join(f"{s.stage} ({s.agent})" for s in stages)
    raise UsageError(f"task {task.taskId} is in no pipeline stage (phase {task.phase!r}, agent {task.agent!r}; "
                     f"stages: {names})")


def _check_can_handoff(task: Task) -> None:
    if task.status in FINISHED:
        raise Conflict(f"task {task.taskId} is {task.status}: nothing to hand off")
    if task.status == "review" and task.gate == "pending":
        raise Conflict(f"task {task.taskId} is waiting for a human at its gate: "
                       f"`agentctl gate approve {task.taskId} --by NAME` (or `gate kill`)")
    if task.selfTest is not None and not task.selfTest.ok:
        failed = ", ".join(r.name for r in task.selfTest.results if not r.ok) or "self-tests"
        raise SelfTestFailed(f"task {task.taskId} is not done: its self-tests failed ({failed}); "
                             f"fix it and run `agentctl selftest {task.taskId}` before the handoff")


def _artifact_path(ws: Workspace, task: Task, stage: PipelineStage, given: Path | None) -> Path | None:
    if given is not None:
        return given
    if task.output:
        out = Path(task.output)
        return out if out.is_absolute() else ws.root / out
    if stage.produces:
        return ws.artifact_dir(task.taskId) / f"{stage.produces}.json"
    return None


# --- validation (outside the lock) ---------------------------------------------------------

@dataclass
class _Checked:
    verdict: Verdict
    raw: bytes | None
    source: Path | None


def _merge(a: Verdict, b: Verdict) -> Verdict:
    if b.valid:
        return a
    if a.valid:
        return b
    return Verdict(a.problems + b.problems, list(dict.fromkeys(a.missing + b.missing)),
                   f"{a.summary}; {b.summary}")


def _check(ws: Workspace, task: Task, stage: PipelineStage, nxt: PipelineStage | None,
           given: Path | None) -> _Checked:
    from agentctl.contracts.schemas import check_artifact, parse_artifact
    from agentctl.storage.artifact_refs import exists_ref, read_ref

    schemas = [s for s in dict.fromkeys([stage.produces, nxt.consumes if nxt else None]) if s]
    path = _artifact_path(ws, task, stage, given)
    if not schemas:
        return _Checked(VALID, None, path if path and exists_ref(ws.storage, ws.root, path) else None)
    if path is None:
        raise UsageError(f"no artifact for {task.taskId}: pass --artifact FILE")
    if not exists_ref(ws.storage, ws.root, path):
        raise UsageError(f"no artifact for {task.taskId}: {ws.rel(path)} does not exist (pass --artifact FILE)")
    try:
        raw = read_ref(ws.storage, ws.root, path)  # a stored artifact through the store, else the given file
    except OSError as exc:
        raise UsageError(f"cannot read artifact {ws.rel(path)}: {exc.strerror}") from None
    data, not_json = parse_artifact(raw)
    if not_json is not None:
        return _Checked(not_json, raw, path)
    verdict = VALID
    for name in schemas:
        verdict = _merge(verdict, check_artifact(ws, name, data, ws.storage.cache))
    return _Checked(verdict, raw, path)


# --- the handoff -----------------------------------------------------------------------------

@replayable  # reads, validates, then one unit of work: safe to run again when the database broke a deadlock
def handoff(ws: Workspace, task_id: str, artifact: Path | None, actor: str, now: datetime) -> HandoffResult:
    """Validate the task's artifact against its stage's contract and move the pipeline on (or reject)."""
    stages = _pipeline(ws)
    task = find_task(ws, check_task_id(task_id))
    _check_can_handoff(task)
    idx = stage_index(stages, task)
    stage, nxt = stages[idx], (stages[idx + 1] if idx + 1 < len(stages) else None)
    checked = _check(ws, task, stage, nxt, artifact)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = _get(tx, task_id)
        _check_can_handoff(task)
        if stage_index(stages, task) != idx:
            raise Conflict(f"task {task_id} changed stage while its artifact was validated; run the handoff again")
        if not checked.verdict.valid and (changes := _change_request(checked)) is not None:
            from agentctl.contracts.verdicts import send_back

            back = send_back(tx, ws, task, changes, stage.stage, stamp)
            return HandoffResult(task, stage, nxt, _display(ws, checked.source), VALID, sent_back=back.upstream)
        if not checked.verdict.valid:
            rejection = _reject(tx, task, stage, nxt, checked.verdict, stamp)
            return HandoffResult(task, stage, nxt, _display(ws, checked.source), checked.verdict, rejection)
        output = _keep_artifact(ws, task, stage, checked)
        if output is not None:
            set_field(tx, task, "output", output, stamp)
        set_field(tx, task, "blockedBy", None, stamp)
        set_field(tx, task, "blockedOn", [], stamp)
        if stage.gate:
            set_field(tx, task, "status", "review", stamp)
            set_field(tx, task, "gate", "pending", stamp)
            return HandoffResult(task, stage, nxt, output, checked.verdict)
        set_field(tx, task, "status", "done", stamp)
        created = _create_next(tx, ws, task, stage, nxt, output, stamp)
        return HandoffResult(task, stage, nxt, output, checked.verdict, created=created)


def _change_request(checked: _Checked) -> dict[str, Any] | None:
    """The artifact, when it is a review requesting changes or a QA report with blocking bugs."""
    from agentctl.contracts.schemas import parse_artifact
    from agentctl.contracts.verdicts import requests_changes

    data, bad = parse_artifact(checked.raw or b"")
    return data if bad is None and requests_changes(data) else None


def _display(ws: Workspace, path: Path | None) -> str | None:
    return ws.rel(path.resolve()) if path is not None else None


def _keep_artifact(ws: Workspace, task: Task, stage: PipelineStage, checked: _Checked) -> str | None:
    """The accepted artifact at artifacts/<ID>/<produces>.json (copied there if it came from elsewhere)."""
    if not stage.produces or checked.raw is None or checked.source is None:
        return task.output if checked.source is None else _display(ws, checked.source)
    name = f"{stage.produces}.json"
    canonical = ws.artifact_dir(task.taskId) / name
    clean = _redacted_artifact(checked.raw)  # the copy kept never carries a key
    if checked.source.resolve() != canonical.resolve() or clean != checked.raw:  # in the registry's unit of work
        return ws.storage.artifacts.put(task.taskId, name, clean)
    return ws.rel(canonical)


def _redacted_artifact(raw: bytes) -> bytes:
    """The artifact as kept in the workspace: secrets masked in its values and keys (the
    original, validated file is the caller's; the copy never carries a key)."""
    from agentctl.core.redact import redact, redact_obj

    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return redact(raw.decode("utf-8", "replace")).encode()
    clean = redact_obj(data)
    return raw if clean == data else (json.dumps(clean, indent=2, ensure_ascii=False) + "\n").encode()


def _reject(tx: RegistryTx, task: Task, stage: PipelineStage, nxt: PipelineStage | None, verdict: Verdict,
            stamp: str) -> Rejection:
    by = nxt.agent if nxt else f"{stage.produces} contract"
    rejection = from_verdict(verdict, at=stamp, stage=stage.stage, by=by)
    record_rejection(tx, task, rejection, stamp)
    set_field(tx, task, "status", "rejected", stamp)
    set_field(tx, task, "blockedBy", f"{by} — {verdict.summary}", stamp)
    return rejection


def _base_title(title: str, stage: PipelineStage) -> str:
    prefix = f"{stage.stage}: "
    return title[len(prefix):] if title.startswith(prefix) else title


def _create_next(tx: RegistryTx, ws: Workspace, task: Task, stage: PipelineStage, nxt: PipelineStage | None,
                 artifact: str | None, stamp: str) -> list[Task]:
    if nxt is None:
        return []
    for other in tx.doc.tasks:
        if task.taskId in other.dependsOn and other.phase == nxt.stage and other.status != "cancelled":
            return []  # already created (a repeated approval, or by hand)
    new = NewTask(title=f"{nxt.stage}: {_base_title(task.title, stage)}", agent=nxt.agent, product=task.product,
                  phase=nxt.stage, depends_on=[task.taskId], input=artifact)
    return [add_task_tx(tx, new, ws.config.task_prefix, stamp)]


# --- human gates -----------------------------------------------------------------------------

def _refuse_agents(agent_process: str | None, by: str) -> None:
    if agent_process:
        raise UsageError(f"gate commands are for humans: refused inside agent process {agent_process} "
                         "(AGENTCTL_AGENT is set; no agent approves its own work)")
    if not by.strip():
        raise UsageError("--by NAME must name the human who decides")


def _waiting(tx: RegistryTx, task_id: str) -> Task:
    task = _get(tx, task_id)
    if task.status != "review" or task.gate != "pending":
        raise Conflict(f"task {task_id} is not waiting at a gate (status {task.status}, gate {task.gate or 'none'}); "
                       "see `agentctl gate list`")
    return task


@replayable
def approve_gate(ws: Workspace, task_id: str, by: str, actor: str, now: datetime,
                 agent_process: str | None = None) -> GateResult:
    """A human approves: the task is done and the next stage's task is created."""
    _refuse_agents(agent_process, by)
    stages = _pipeline(ws)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = _waiting(tx, check_task_id(task_id))
        idx = stage_index(stages, task)
        nxt = stages[idx + 1] if idx + 1 < len(stages) else None
        set_field(tx, task, "status", "done", stamp)
        set_field(tx, task, "gate", "approved", stamp)
        tx.log(task.taskId, "gateDecision", None, {"decision": "approved", "by": by})
        created = _create_next(tx, ws, task, stages[idx], nxt, task.output, stamp)
        return GateResult(task, "approved", by, created=created)


@replayable
def kill_gate(ws: Workspace, task_id: str, by: str, actor: str, now: datetime,
              agent_process: str | None = None) -> GateResult:
    """A human kills the work: the task and every unfinished task of its product downstream are cancelled."""
    _refuse_agents(agent_process, by)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = _waiting(tx, check_task_id(task_id))
        set_field(tx, task, "status", "cancelled", stamp)
        set_field(tx, task, "gate", "killed", stamp)
        tx.log(task.taskId, "gateDecision", None, {"decision": "killed", "by": by})
        cancelled = []
        for other in downstream(tx.doc.tasks, task):
            if other.status not in FINISHED:
                set_field(tx, other, "status", "cancelled", stamp)
                set_field(tx, other, "blockedBy", None, stamp)
                cancelled.append(other)
        return GateResult(task, "killed", by, cancelled=cancelled)


def downstream(tasks: list[Task], root: Task) -> list[Task]:
    """Tasks of ``root``'s product that depend on it, transitively (cycles are walked once)."""
    children: dict[str, list[Task]] = {}
    for t in tasks:
        for dep in t.dependsOn:
            children.setdefault(dep, []).append(t)
    seen, out, stack = {root.taskId}, [], [root.taskId]
    while stack:
        for child in children.get(stack.pop(), []):
            if child.taskId not in seen and child.product == root.product:
                seen.add(child.taskId)
                out.append(child)
                stack.append(child.taskId)
    return out


def pending_gates(ws: Workspace) -> list[dict[str, Any]]:
    """Tasks waiting for a human decision, oldest first."""
    stages = ws.config.pipeline
    out = []
    for t in ws.storage.registry.load().tasks:
        if t.status != "review" or t.gate != "pending":
            continue
        nxt = None
        try:
            idx = stage_index(stages, t)
            nxt = stages[idx + 1] if idx + 1 < len(stages) else None
        except UsageError:
            pass
        out.append({"taskId": t.taskId, "title": t.title, "agent": t.agent, "product": t.product,
                    "phase": t.phase, "artifact": t.output, "waitingSince": t.updatedAt,
                    "next": {"stage": nxt.stage, "agent": nxt.agent} if nxt else None})
    return sorted(out, key=lambda g: g["waitingSince"])
