"""Pydantic models of the state files: tasks.json, events, run records (SPEC §3, §5).

Field names are camelCase because they are the wire format people read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

REGISTRY_VERSION = 1
TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

Status = Literal["todo", "in_progress", "blocked", "review", "rejected", "done", "failed", "cancelled"]
STATUSES: tuple[str, ...] = ("todo", "in_progress", "blocked", "review", "rejected", "done", "failed", "cancelled")
FINISHED: frozenset[str] = frozenset({"done", "cancelled"})

RunStatus = Literal["success", "failure", "rejected", "selftest_failed", "skipped", "duplicate"]


class _Model(BaseModel):
    # No use_attribute_docstrings here: it parses this module's source at every start
    # (~8 ms on `agentctl status`) and no editor schema is generated from these models.
    # Empty-list defaults are `= []` (pydantic copies them), not default_factory=list: pydantic
    # inspects a factory's signature, and list's costs ~12 ms of tokenize on the first schema build.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=False, defer_build=True)


class RejectionError(_Model):
    path: str
    message: str


class Rejection(_Model):
    """A structured rejection of a handoff, sent back to the producing agent."""

    at: str
    stage: str | None = None
    by: str | None = None
    """The agent (or gate) that rejected."""
    missing: list[str] = []
    errors: list[RejectionError] = []
    summary: str | None = None


class RuleResult(_Model):
    name: str
    ok: bool
    exitCode: int | None = None
    durationS: float = 0.0
    outputTail: str = ""


class SelfTestReport(_Model):
    at: str
    ok: bool
    results: list[RuleResult] = []


class Task(_Model):
    taskId: str = Field(pattern=TASK_ID_PATTERN)
    title: str
    agent: str | None = None
    product: str | None = None
    phase: str | None = None
    status: Status = "todo"
    blockedBy: str | None = None
    blockedOn: list[str] = []
    """Ids of tasks this one waits on because it is blocked (from `task block --on`)."""
    dependsOn: list[str] = []
    pr: str | None = None
    checks: dict[str, Any] = Field(default_factory=lambda: {"codeReview": None, "qa": None})
    claimedBy: str | None = None
    input: str | None = None
    output: str | None = None
    rejections: list[Rejection] = []
    selfTest: SelfTestReport | None = None
    attempts: int = 0
    gate: str | None = None
    """`pending` while a human gate waits, then `approved` / `killed`."""
    notes: str | None = None
    createdAt: str
    updatedAt: str
    version: int = 0
    """Incremented by every registry change of this task (compare-and-set of runs)."""


class RegistryFile(_Model):
    version: int = REGISTRY_VERSION
    nextSeq: int = 1
    tasks: list[Task] = []

    def find(self, task_id: str) -> Task | None:
        """The first task with this id (a sealed file's registry finds it without reading the others)."""
        return next((t for t in self.tasks if t.taskId == task_id), None)

    @field_validator("version")
    @classmethod
    def _known(cls, v: int) -> int:
        if v > REGISTRY_VERSION:
            raise ValueError(f"format version {v} is newer than this agentctl understands ({REGISTRY_VERSION})")
        return v


class RunError(_Model):
    type: str
    message: str


class RunRecord(_Model):
    """One line of logs/runs/YYYY-MM-DD.jsonl."""

    runId: str
    startedAt: str
    endedAt: str
    agent: str | None
    team: str | None = None
    role: str | None = None
    taskId: str | None = None
    job: str | None = None
    trigger: Literal["manual", "cron", "pipeline"] = "manual"
    tier: str | None = None
    provider: str | None = None
    model: str | None = None
    fallbackFrom: str | None = None
    status: RunStatus
    error: RunError | None = None
    tokensIn: int = 0
    tokensOut: int = 0
    cacheReadTokens: int = 0
    cacheWriteTokens: int = 0
    costUsd: float | None = None
    durationS: float = 0.0
    idempotencyKey: str | None = None
    duplicateOf: str | None = None
    """For a `duplicate` run: the runId of the first run with the same idempotency key."""
    output: str | None = None
    """Path (relative to the workspace) of the artifact written, if any."""
    selfTest: dict[str, Any] | None = None
    """Summary of self-test results: {ok, failed: [names]}."""
    rejection: dict[str, Any] | None = None
    """Summary of the schema rejection: {missing: [...], errors: n}."""
    retryOf: str | None = None
    """The runId of an earlier run with the same idempotency key whose process died."""
