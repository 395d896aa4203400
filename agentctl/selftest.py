"""Self-test rules that gate "done" (SPEC §7). STUB — the self-tests work replaces the body.

INTERFACE (stable, used by the runner):
    run_self_tests(ws, agent, artifact, task_id, now) -> SelfTestReport
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentctl.config import AgentDef
from agentctl.models import SelfTestReport
from agentctl.timeutil import iso
from agentctl.workspace import Workspace


def run_self_tests(ws: Workspace, agent: AgentDef, artifact: Any, task_id: str | None, now: datetime) -> SelfTestReport:
    return SelfTestReport(at=iso(now), ok=True, results=[])
