"""The MCP tools (SPEC §14): what an agent session (Claude Code, Codex, Cursor) may do to the
registry, over the same services as the CLI, with typed results (pydantic models → output schemas).

The acting agent is fixed when the server starts (``--agent`` / ``AGENTCTL_AGENT``); a tool's
``agent`` argument may only name it, or name anyone when the server has no acting agent. Every
call is an agent process for the refusal rules: no tool approves a gate or a regression, and
``task_update`` cannot move a task out of a pending gate. ``task_update`` is compare-and-set:
``expected_version`` (from ``task_show``/``task_next``) must still be the task's version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from agentctl.core.records import Task
from agentctl.errors import UsageError
from agentctl.workspace.loader import Workspace

TOOL_NAMES = ("task_next", "task_show", "task_update", "task_block", "task_release", "handoff", "status",
              "blocked", "report_usage")


class TaskResult(BaseModel):
    """A task as the registry holds it (None: nothing ready), with the version `task_update` compares."""

    task: Task | None
    version: str | int | None = Field(description="Pass as expected_version to task_update")


class TaskBrief(BaseModel):
    taskId: str
    title: str
    agent: str | None
    product: str | None
    phase: str | None
    status: str
    claimedBy: str | None
    blockedBy: str | None
    minutesSinceUpdate: int


class BoardResult(BaseModel):
    """`agentctl status --json`: counts per status, what is in progress, blocked, waiting for a human."""

    product: str | None
    total: int
    counts: dict[str, int]
    inProgress: list[TaskBrief]
    blocked: list[TaskBrief]
    rejected: list[TaskBrief]
    awaitingHuman: list[TaskBrief]
    breakers: list[Any]


class BlockedTask(BaseModel):
    taskId: str
    title: str
    agent: str | None
    product: str | None
    blockedBy: str | None
    chains: list[list[str]]
    cycle: list[str] | None
    rootCauses: list[dict[str, Any]]


class BlockedResult(BaseModel):
    """`agentctl blocked --json`: every held task with its blocking chain to the root causes."""

    tasks: list[BlockedTask]


class HandoffResult(BaseModel):
    """`agentctl handoff --json`: valid → passed on (or waiting at a gate); invalid → rejected."""

    taskId: str
    valid: bool
    status: str
    stage: str
    artifact: str | None
    gate: str | None
    next: dict[str, Any] | None
    rejection: dict[str, Any] | None
    problems: list[dict[str, Any]]
    created: list[str]


class UsageResult(BaseModel):
    """The run record written for usage an MCP client reported."""

    runId: str
    agent: str
    model: str | None
    tokensIn: int
    tokensOut: int
    costUsd: float | None
    costSource: str | None


@dataclass
class ToolContext:
    ws: Workspace
    agent: str | None
    clock: Callable[[], datetime]

    def acting(self, agent: str | None) -> str:
        if self.agent and agent and agent != self.agent:
            raise UsageError(f"this server acts for agent {self.agent}; it cannot act as {agent}")
        name = self.agent or agent
        if not name:
            raise UsageError("no acting agent: start `agentctl mcp --agent NAME` (or set AGENTCTL_AGENT), "
                             "or pass `agent`")
        return name

    @property
    def actor(self) -> str:
        return self.agent or "mcp"


def _task(task: Task | None) -> TaskResult:
    from agentctl.registry.service import task_version

    return TaskResult(task=task, version=task_version(task) if task else None)


def make_tools(ctx: ToolContext) -> dict[str, Callable[..., BaseModel]]:
    """The tool functions, keyed by tool name (their signatures are the tools' input schemas)."""
    from agentctl.registry import ready, service

    def task_next(agent: str | None = None) -> TaskResult:
        """Claim the next ready task for the acting agent (todo or rejected, dependencies done, not
        blocked, not at a gate). `task` is null when nothing is ready."""
        return _task(ready.next_task(ctx.ws, ctx.ws.agent(ctx.acting(agent)), ctx.clock(), claim=True))

    def task_show(task_id: str) -> TaskResult:
        """One task (live or archived) with its version."""
        return _task(service.find_task(ctx.ws, task_id))

    def task_update(task_id: str, expected_version: str | int, status: str | None = None, phase: str | None = None,
                    pr: str | None = None, checks: dict[str, str] | None = None,
                    fields: dict[str, str] | None = None) -> TaskResult:
        """Update a task if it is still at `expected_version` (compare-and-set; else a conflict: read it
        again). `checks`: NAME → VALUE (e.g. qa → passed); `fields`: settable fields (title, pr, notes, …)."""
        up = service.Update(status=status, phase=phase, pr=pr,
                            checks=[f"{k}={v}" for k, v in (checks or {}).items()],
                            sets=[f"{k}={v}" for k, v in (fields or {}).items()])
        return _task(service.update_task(ctx.ws, task_id, up, ctx.actor, ctx.clock(), agent_process=ctx.actor,
                                         expected_version=expected_version))

    def task_block(task_id: str, by: str, on: list[str] | None = None) -> TaskResult:
        """Block a task: `by` says who must do what (e.g. "vivi — missing responsive breakpoints"),
        `on` the task ids it waits on."""
        return _task(service.block_task(ctx.ws, task_id, by, on or [], ctx.actor, ctx.clock()))

    def task_release(task_id: str, agent: str | None = None) -> TaskResult:
        """Give a claimed task back (claimedBy cleared; in_progress → todo)."""
        return _task(ready.release_task(ctx.ws, task_id, ctx.acting(agent), ctx.clock()))

    def handoff(task_id: str, artifact: str | None = None) -> HandoffResult:
        """Validate the task's artifact against its stage's contract: valid → done and the next stage's
        task created (or waiting at a human gate); invalid → rejected with what is missing."""
        from agentctl.contracts.handoff import handoff as run_handoff

        path = (ctx.ws.root / artifact).resolve() if artifact else None
        return HandoffResult(**run_handoff(ctx.ws, task_id, path, ctx.actor, ctx.clock()).to_json())

    def status(product: str | None = None) -> BoardResult:
        """The board: counts per status, in progress, blocked and by what, waiting for a human."""
        return BoardResult(**service.board(ctx.ws, ctx.clock(), product))

    def blocked(product: str | None = None) -> BlockedResult:
        """Every blocked task with its blocking chain followed to the root causes."""
        return BlockedResult(tasks=[BlockedTask(**b) for b in service.blocked_report(ctx.ws, product)])

    def report_usage(model: str, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
                     cache_write_tokens: int = 0, cost_usd: float | None = None, provider: str | None = None,
                     task_id: str | None = None, agent: str | None = None) -> UsageResult:
        """Record what this session spent (a run record for the acting agent), so budgets and the
        scorecard count it. Without `cost_usd` the tokens are priced with genai-prices."""
        from agentctl.mcp.usage import record_usage

        return UsageResult(**record_usage(ctx.ws, ctx.acting(agent), ctx.clock(), model=model, provider=provider,
                                          tokens=(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens),
                                          cost_usd=cost_usd, task_id=task_id))

    tools: list[Callable[..., BaseModel]] = [task_next, task_show, task_update, task_block, task_release, handoff,
                                             status, blocked, report_usage]
    return {fn.__name__: fn for fn in tools}


def selected(spec: str | None) -> list[str]:
    """The tool names ``AGENTCTL_MCP_TOOLS`` selects (comma-separated; empty or unset: all)."""
    names = [n.strip() for n in (spec or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in TOOL_NAMES]
    if unknown:
        raise UsageError(f"AGENTCTL_MCP_TOOLS: unknown tool {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(TOOL_NAMES)})")
    return names or list(TOOL_NAMES)
