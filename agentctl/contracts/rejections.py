"""The one rejection builder (SPEC §6): every structured rejection is made and recorded here.

A rejection sends work back to its producer: a handoff whose artifact breaks the next
stage's contract, a run whose output breaks its own, a review or QA verdict requesting
changes, a person rejecting work at a gate. Each becomes a ``Rejection`` with the same
bounds (at most ``MAX_REJECTION_ERRORS`` problems, the last one saying how many more;
each message at most ``MAX_MESSAGE`` characters), is appended to the task and logged as
one ``rejection`` event. The wording for people and for the agent that redoes the work
is here too, so what is recorded and what is shown cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentctl.core.records import Rejection, RejectionError, Task

MAX_REJECTION_ERRORS = 20
MAX_MESSAGE = 300
MAX_SUMMARY = 500


def build_rejection(*, at: str, stage: str | None, by: str | None, errors: Iterable[RejectionError] = (),
                    missing: Iterable[str] = (), summary: str | None = None) -> Rejection:
    """A bounded rejection: messages clipped, problems capped with an "… and N more" line."""
    errs = [RejectionError(path=e.path, message=e.message[:MAX_MESSAGE]) for e in errors]
    if len(errs) > MAX_REJECTION_ERRORS:
        more = len(errs) - MAX_REJECTION_ERRORS + 1
        errs = errs[: MAX_REJECTION_ERRORS - 1] + [RejectionError(path="$", message=f"… and {more} more problems")]
    return Rejection(at=at, stage=stage, by=by, missing=list(missing), errors=errs, summary=summary)


def problem(path: str, message: Any) -> RejectionError:
    """One problem, its message as text and clipped."""
    return RejectionError(path=path, message=str(message)[:MAX_MESSAGE])


def from_verdict(verdict: Any, *, at: str, stage: str | None, by: str) -> Rejection:
    """A contract's verdict (``contracts.schemas.Verdict``) as a rejection."""
    return build_rejection(at=at, stage=stage, by=by, missing=verdict.missing,
                           errors=[problem(p["path"], p["message"]) for p in verdict.problems],
                           summary=verdict.summary or None)


def from_reason(reason: str, *, at: str, stage: str | None, by: str) -> Rejection:
    """A person's reason (``gate reject``) as a rejection."""
    text = reason.strip()
    return build_rejection(at=at, stage=stage, by=by, summary=text[:MAX_SUMMARY], errors=[problem("$", text)])


def record_rejection(tx: Any, task: Task, rejection: Rejection, stamp: str | None = None) -> None:
    """Append ``rejection`` to the task and log it (inside the caller's registry transaction)."""
    task.rejections = [*task.rejections, rejection]
    if stamp is not None:
        task.updatedAt = stamp
    tx.log(task.taskId, "rejection", None, rejection.model_dump(mode="json"))


def rejection_summary(verdict: Any) -> dict[str, Any] | None:
    """What a run record keeps of a failed verdict (None when there is none or it passed)."""
    if verdict is None or verdict.valid:
        return None
    return {"missing": list(verdict.missing), "errors": len(verdict.problems), "summary": verdict.summary}


# --- rejections as text ----------------------------------------------------------------------

def rejection_body(rejection: Rejection) -> list[str]:
    lines = []
    if rejection.missing:
        lines.append("Missing: " + ", ".join(rejection.missing))
    if rejection.errors:
        lines.append("Problems to fix:")
        lines += [f"- {e.path}: {e.message}" for e in rejection.errors]
    return lines


def format_rejection(task_id: str, rejection: Rejection) -> str:
    """A rejection for people: who needs what, and every problem with its path."""
    stage = f" at the {rejection.stage} handoff" if rejection.stage else ""
    head = f"{task_id} rejected{stage} by {rejection.by or 'its contract'}: {rejection.summary or 'invalid artifact'}"
    return "\n".join([head, *("  " + line for line in rejection_body(rejection))])


def rejection_context(task: Task) -> str:
    """The task's latest rejection, worded for the agent that must redo the work ("" if none)."""
    if not task.rejections:
        return ""
    rej = task.rejections[-1]
    stage = f" at the {rej.stage} handoff" if rej.stage else ""
    earlier = len(task.rejections) - 1
    lines = [
        f"Your previous output for task {task.taskId} was rejected{stage} by {rej.by or 'its contract'} "
        f"({rej.at}): {rej.summary or 'it does not fit the contract'}.",
        *rejection_body(rej),
        "Produce the complete artifact again with every problem above fixed; keep what was already right.",
    ]
    if earlier:
        lines.append(f"(This task was rejected {earlier} time{'s' * (earlier > 1)} before.)")
    return "\n".join(lines)
