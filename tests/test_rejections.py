"""The one rejection builder (agentctl.contracts.rejections)."""

from __future__ import annotations

import re
from pathlib import Path

import agentctl
from agentctl.contracts.rejections import (
    MAX_MESSAGE,
    MAX_REJECTION_ERRORS,
    build_rejection,
    format_rejection,
    from_reason,
    from_verdict,
    problem,
    record_rejection,
    rejection_summary,
)
from agentctl.contracts.schemas import Verdict
from agentctl.core.records import Task


def test_problems_are_capped_with_a_count_and_messages_clipped() -> None:
    errors = [problem(f"$.a[{i}]", "x" * 1000) for i in range(30)]
    rej = build_rejection(at="2026-01-01T00:00:00Z", stage="spec", by="dev", errors=errors)
    assert len(rej.errors) == MAX_REJECTION_ERRORS
    assert rej.errors[-1].message == f"… and {30 - MAX_REJECTION_ERRORS + 1} more problems"
    assert all(len(e.message) <= MAX_MESSAGE for e in rej.errors)


def test_a_verdict_and_a_reason_become_rejections() -> None:
    verdict = Verdict([{"path": "$", "message": "missing required property: title", "missing": ["title"]}],
                      ["title"], "missing title")
    rej = from_verdict(verdict, at="t", stage="spec", by="spec contract")
    assert (rej.missing, rej.summary, rej.errors[0].path) == (["title"], "missing title", "$")
    assert rejection_summary(verdict) == {"missing": ["title"], "errors": 1, "summary": "missing title"}
    assert rejection_summary(None) is None
    gate = from_reason("  fix the intro  ", at="t", stage="draft", by="ann")
    assert gate.summary == "fix the intro" and gate.errors[0].message == "fix the intro"
    assert format_rejection("T-1", gate).splitlines()[0] == "T-1 rejected at the draft handoff by ann: fix the intro"


def test_recording_appends_and_logs_one_event() -> None:
    logged = []

    class Tx:
        def log(self, *args: object) -> None:
            logged.append(args)

    task = Task(taskId="T-1", title="t", createdAt="2026-01-01T00:00:00Z", updatedAt="2026-01-01T00:00:00Z")
    rej = from_reason("no", at="t1", stage=None, by="ann")
    record_rejection(Tx(), task, rej, "t1")
    assert task.rejections == [rej] and task.updatedAt == "t1"
    assert logged == [("T-1", "rejection", None, rej.model_dump(mode="json"))]


def test_rejections_are_built_only_by_the_builder() -> None:
    """One place: no other module constructs a Rejection or appends to task.rejections."""
    root = Path(agentctl.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "rejections.py" and re.search(r"(?<!class )\bRejection(Error)?\(|rejections = \[\*",
                                                            p.read_text(encoding="utf-8"))]
    assert offenders == []
