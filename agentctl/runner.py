"""Running one agent once (SPEC §5). STUB of the interface — the runner work fills it in.

INTERFACE (stable, used by cron, the demo and the CLI):
    run_agent(ws, RunRequest(...), clock) -> RunOutcome
      order: idempotency → breaker gate → budget gate → claim task → validate input →
      choose model → execute → validate output → self-tests → update registry →
      append run record → record breaker outcome.
    RunOutcome.exit_code follows SPEC §10; RunOutcome.record is the RunRecord appended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from agentctl.models import RunRecord
from agentctl.workspace import Workspace

Clock = Callable[[], datetime]


@dataclass
class RunRequest:
    agent: str
    task_id: str | None = None
    prompt: str | None = None
    input_file: str | None = None
    idempotency_key: str | None = None
    trigger: str = "manual"  # manual | cron | pipeline
    job: str | None = None


@dataclass
class RunOutcome:
    record: RunRecord
    exit_code: int
    message: str


def run_agent(ws: Workspace, req: RunRequest, clock: Clock) -> RunOutcome:
    raise NotImplementedError
