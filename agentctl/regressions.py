"""The regressions list, memory/regressions.yaml (SPEC §9). STUB — the learning work fills it.

INTERFACE (stable, used by the runner):
    active_rules(ws, role, agent) -> list[str]   # rule texts of active regressions for that role/agent
"""

from __future__ import annotations

from agentctl.workspace import Workspace


def active_rules(ws: Workspace, role: str, agent: str) -> list[str]:
    return []
