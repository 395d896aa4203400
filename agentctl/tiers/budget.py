"""Daily budgets (SPEC §2, §5): per agent (``budget.daily_usd``) and per workspace
(``budgets.daily_usd`` in agentctl.yaml).

Spend is the sum of ``costUsd`` of today's run records (UTC day), never recomputed from
tokens, asked of the run-log store (``RunLogStore.spend_by_agent``: on files today's file
only, each line decoded into the four fields needed; on PostgreSQL one aggregate query).
Torn lines are skipped, as every reader does. Unpriced runs (``costUsd: null``)
cannot be added up; they are counted and reported, not treated as $0. A run that
would *start* with the day's spend at or past a limit is refused (TryLater, exit 75).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agentctl.core.config import AgentDef
from agentctl.errors import TryLater
from agentctl.workspace.loader import Workspace


@dataclass
class Spend:
    total: float = 0.0
    by_agent: dict[str, float] = field(default_factory=dict)
    unpriced: dict[str, int] = field(default_factory=dict)

    def agent(self, name: str) -> float:
        return self.by_agent.get(name, 0.0)


def day_window(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def spend_today(ws: Workspace, now: datetime) -> Spend:
    """Today's (UTC) spend, through the run-log store (files: today's file; database: one query)."""
    day = ws.storage.runlog.spend_by_agent(day_window(now)[0].date())
    return Spend(total=sum(day.cost.values()), by_agent=dict(day.cost), unpriced=dict(day.unpriced))


def check_budgets(ws: Workspace, agent: AgentDef, now: datetime) -> Spend | None:
    """Raise TryLater when the agent's or the workspace's daily budget is spent; None when no budget applies."""
    agent_limit = agent.budget.daily_usd if agent.budget else None
    ws_limit = ws.config.budgets.daily_usd
    if agent_limit is None and ws_limit is None:
        return None
    spend = spend_today(ws, now)
    start, end = day_window(now)
    checks: list[tuple[str, float | None, float]] = [
        (f"agent {agent.name}", agent_limit, spend.agent(agent.name)),
        ("workspace", ws_limit, spend.total),
    ]
    for scope, limit, spent in checks:
        if limit is not None and spent >= limit:
            data: dict[str, Any] = {"scope": "agent" if scope != "workspace" else "workspace", "agent": agent.name,
                                    "limitUsd": limit, "spentUsd": round(spent, 6), "resetsAt": end.isoformat()}
            raise TryLater(f"daily budget spent for {scope}: ${spent:.4f} of ${limit:g} today (UTC); "
                           f"runs resume at {end.strftime('%Y-%m-%dT%H:%M:%SZ')}", data=data)
    return spend
