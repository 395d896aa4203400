"""Daily budgets (SPEC §2, §5): per agent (``budget.daily_usd``) and per workspace
(``budgets.daily_usd`` in agentctl.yaml).

Spend is the sum of ``costUsd`` of today's run records (UTC day) — read from today's
run-log file only, never recomputed from tokens. The file grows all day and is read
before every run, so on the file backend each line is decoded (msgspec) into just the
four fields needed; torn lines are skipped, as every reader does. Unpriced runs (``costUsd: null``)
cannot be added up; they are counted and reported, not treated as $0. A run that
would *start* with the day's spend at or past a limit is refused (TryLater, exit 75).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

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


class _Line(msgspec.Struct):
    agent: str | None = None
    costUsd: float | None = None  # noqa: N815 — the run record's field name
    status: str | None = None
    provider: str | None = None


_DECODER = msgspec.json.Decoder(_Line)


def _todays_lines(ws: Workspace, now: datetime) -> Iterator[_Line]:
    start, end = day_window(now)
    runlog = ws.storage.runlog
    path_for = getattr(runlog, "path_for", None)
    if path_for is None:  # another backend: its own reader
        for rec in runlog.read_window(start, end):
            yield _Line(rec.get("agent"), rec.get("costUsd"), rec.get("status"), rec.get("provider"))
        return
    from agentctl.storage import read_bytes

    raw = read_bytes(path_for(start.date()))
    for line in (raw or b"").splitlines():
        if line.strip():
            try:
                yield _DECODER.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue


def spend_today(ws: Workspace, now: datetime) -> Spend:
    spend = Spend()
    for rec in _todays_lines(ws, now):
        agent = rec.agent or "?"
        if rec.costUsd is not None:
            spend.total += rec.costUsd
            spend.by_agent[agent] = spend.by_agent.get(agent, 0.0) + rec.costUsd
        elif rec.status not in ("skipped", "duplicate") and rec.provider not in (None, "command"):
            spend.unpriced[agent] = spend.unpriced.get(agent, 0) + 1
    return spend


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
