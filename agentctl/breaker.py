"""Circuit breakers (SPEC §7). STUB — the breakers work replaces the bodies.

INTERFACE (stable, used by the runner):
    admit(ws, agent, now) -> Admission          # raises errors.TryLater when open / probe taken
    record_outcome(ws, agent, ok, now, admission) -> str | None   # returns a transition name or None
    open_breakers(ws, now) -> list[str]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agentctl.config import AgentDef
from agentctl.workspace import Workspace


@dataclass
class Admission:
    probe: bool = False


def admit(ws: Workspace, agent: AgentDef, now: datetime) -> Admission:
    return Admission()


def record_outcome(ws: Workspace, agent: AgentDef, ok: bool, now: datetime, admission: Admission) -> str | None:
    return None


def open_breakers(ws: Workspace, now: datetime) -> list[str]:
    return []
