"""``report_usage``: an MCP client's own spend as a run record (SPEC §5 figures, §14).

An interactive session (Claude Code, Codex, Cursor) working the registry through MCP is billed by
its own CLI; reporting it here makes budgets and the scorecard count it like any run: the cost as
reported (``costSource: reported``), else its tokens priced with genai-prices (``computed``), else
``costUsd: null`` — never 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentctl.core.clock import iso
from agentctl.core.records import RunRecord
from agentctl.errors import AgentctlError, UsageError
from agentctl.providers import TokenUsage
from agentctl.workspace.loader import Workspace


def _cost(provider: str | None, model: str, usage: TokenUsage, cost_usd: float | None,
          at: datetime) -> tuple[float | None, str | None]:
    if cost_usd is not None:
        if cost_usd < 0 or cost_usd != cost_usd:
            raise UsageError("cost_usd must be a non-negative number")
        return round(cost_usd, 10), "reported"
    from agentctl.tiers.pricing import reported_usage_cost_usd

    computed = reported_usage_cost_usd(provider, model, usage, at)
    return (None, None) if computed is None else (round(computed, 10), "computed")


def record_usage(ws: Workspace, agent: str, now: datetime, *, model: str, provider: str | None,
                 tokens: tuple[int, int, int, int], cost_usd: float | None, task_id: str | None) -> dict[str, Any]:
    """Append one run record for ``agent``'s reported usage; returns its figures."""
    from agentctl.registry.service import check_task_id
    from agentctl.run.runner import new_run_id

    if any(t < 0 for t in tokens):
        raise UsageError("token counts must be non-negative")
    if task_id:
        check_task_id(task_id)
    usage = TokenUsage(*tokens)
    cost, source = _cost(provider, model, usage, cost_usd, now)
    team: str | None
    role: str | None
    tier: str | None
    try:
        definition = ws.agent(agent)
        team, role, tier = definition.team, definition.role, definition.tier
    except AgentctlError:  # not defined here: the scorecard counts it in the unknown bucket
        team = role = tier = None
    stamp = iso(now)
    record = RunRecord(runId=new_run_id(now), startedAt=stamp, endedAt=stamp, agent=agent, team=team, role=role,
                       taskId=task_id, trigger="manual", tier=tier, provider=provider, model=model, status="success",
                       tokensIn=usage.tokens_in, tokensOut=usage.tokens_out, cacheReadTokens=usage.cache_read,
                       cacheWriteTokens=usage.cache_write, costUsd=cost, costSource=source)
    ws.storage.runlog.append(record)
    return {"runId": record.runId, "agent": agent, "model": model, "tokensIn": usage.tokens_in,
            "tokensOut": usage.tokens_out, "costUsd": cost, "costSource": source}
