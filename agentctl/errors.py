"""The one error hierarchy. Each class carries its exit code (SPEC §10) and the
file / field / task it is about; only ``cli/`` turns them into exit codes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One configuration or validation problem, located as precisely as we can."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None

    def render(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]" if where else self.field
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


class AgentctlError(Exception):
    """Base class: a message for humans plus the exit code."""

    exit_code = 70

    def __init__(self, message: str, *, hint: str | None = None, data: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data or {}

    def render(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class AgentFailed(AgentctlError):
    """The agent ran and failed (exit 1)."""

    exit_code = 1


class FindingsRaised(AgentctlError):
    """A monitor found a problem (exit 1)."""

    exit_code = 1


class UsageError(AgentctlError):
    """Bad arguments (exit 2)."""

    exit_code = 2


class NotFound(UsageError):
    """Unknown task id, agent, job... (exit 2)."""


class Rejected(AgentctlError):
    """An artifact or handoff was rejected by its schema (exit 3)."""

    exit_code = 3


class SelfTestFailed(AgentctlError):
    """Self-tests failed: not done (exit 4)."""

    exit_code = 4


class Conflict(AgentctlError):
    """Claimed by another agent; idempotency key reused with other input (exit 5)."""

    exit_code = 5


class StateError(AgentctlError):
    """State unreadable, corrupt or unwritable (exit 74). Never overwrites the file."""

    exit_code = 74


class TryLater(AgentctlError):
    """Breaker open, lock busy, budget spent (exit 75)."""

    exit_code = 75


class ConfigError(AgentctlError):
    """Workspace, agent YAML, schema or cron configuration is wrong (exit 78)."""

    exit_code = 78

    def __init__(self, message: str, problems: list[Problem] | None = None, *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems or []

    def render(self) -> str:
        lines = [self.message] + [f"  {p.render()}" for p in self.problems]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)
