"""What an agent is told: the input artifact it reads and the prompts of one run (SPEC §5).

It owns the wording an agent receives, kept apart from the run sequence in
``agentctl.run.runner`` so the prompt can change without touching claims, gates and
records: the system prompt (the agent's own prompt, its identity, the rules learned
from past failures in the regressions file, the contract it must answer with), the
user prompt (the task, the instructions, the input artifact, the rejection of its
previous attempt), and, for a command agent, the prompt file it is handed as
``$AGENTCTL_PROMPT_FILE``. Nothing here claims, records or calls a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.core.redact import redact
from agentctl.errors import UsageError
from agentctl.storage.artifact_refs import read_ref

if TYPE_CHECKING:
    from agentctl.core.config import AgentDef
    from agentctl.core.records import Task
    from agentctl.run.artifacts import RunArtifacts
    from agentctl.workspace.loader import Workspace

MAX_INPUT_CHARS = 200_000


@dataclass
class RunInput:
    """The input artifact of a run, as read: its path, its name for humans (workspace-relative), its bytes."""

    path: Path
    display: str
    raw: bytes


def read_input(ws: Workspace, input_file: str | None, task: Task | None) -> RunInput | None:
    """The run's input: ``--input`` (relative to the current folder), else the task's ``input``
    (relative to the workspace); None when there is neither. A missing or unreadable file is exit 2."""
    given = input_file or (task.input if task else None)
    if not given:
        return None
    path = Path(given).expanduser()
    if not path.is_absolute():
        path = (ws.root / path) if not input_file else path.resolve()
    display = ws.rel(path.resolve())
    try:
        raw = read_ref(ws.storage, ws.root, path)  # a stored artifact through the store, else the file
    except FileNotFoundError:
        stored = _stored_artifact(ws, display) if not input_file else None
        if stored is not None:  # a database backend: the artifact was handed off on another host
            return RunInput(path, display, stored)
        raise UsageError(f"input {display} does not exist" + (f" (input of task {task.taskId})" if task and
                                                              not input_file else "")) from None
    except OSError as exc:
        raise UsageError(f"cannot read input {display}: {exc.strerror}") from None
    return RunInput(path, display, raw)


def _stored_artifact(ws: Workspace, display: str) -> bytes | None:
    """``artifacts/<task>/<name>`` from the artifact store when it is not a local file (PostgreSQL)."""
    parts = display.split("/")
    if ws.storage.backend == "files" or len(parts) != 3 or parts[0] != "artifacts":
        return None
    return ws.storage.artifacts.get(parts[1], parts[2])


def build_context(ws: Workspace, agent: AgentDef, task: Task | None, prompt: str | None, inp: RunInput | None,
                  data: Any) -> tuple[str, str]:
    """(system, user) prompts of one run; ``data`` is the input as parsed (JSON, else its text)."""
    from agentctl.learning.regressions import active_rules

    rules = active_rules(ws, agent.role, agent.name)
    system = system_prompt(agent, ws.prompt_text(agent), rules)
    user = user_prompt(agent, task, prompt, inp, data, _rejection_text(task))
    if task is not None:
        from agentctl.run.fleet import children_text

        kids = children_text(ws, task)
        user += f"\n\n{kids}" if kids else ""
    return system, user


def write_prompt_file(arts: RunArtifacts, agent: AgentDef, system: str, prompt: str,
                      redact_env: dict[str, str]) -> Path:
    """The prompts a command agent reads from ``$AGENTCTL_PROMPT_FILE``, secrets redacted (stored
    beside the task's artifacts; the path is a local copy)."""
    return arts.store_now(f"{agent.name}.prompt.md", redact(f"{system}\n\n{prompt}\n", redact_env).encode())


def system_prompt(agent: AgentDef, base: str, rules: list[str]) -> str:
    parts = [base.strip() or f"You are {agent.name}, an agent of the {agent.team} team."]
    parts.append(f"agentctl-agent: {agent.name} (team {agent.team}, role {agent.role})")
    if rules:
        parts.append("Rules learned from past failures — follow every one:\n" + "\n".join(f"- {r}" for r in rules))
    if agent.produces:
        parts.append(f"Answer with the `{agent.produces}` artifact: one JSON object that satisfies the "
                     f"`{agent.produces}` contract (the JSON Schema attached to this request). "
                     "Fill every required field with real content.")
    return "\n\n".join(parts)


def user_prompt(agent: AgentDef, task: Task | None, prompt: str | None, inp: RunInput | None, data: Any,
                rejection: str) -> str:
    parts = []
    if task is not None:
        head = f"## Task {task.taskId}: {task.title}"
        meta = ", ".join(f"{k}: {v}" for k, v in (("product", task.product), ("phase", task.phase)) if v)
        parts.append(head + (f"\n{meta}" if meta else ""))
    if prompt:
        parts.append(f"## Instructions\n{prompt}")
    if inp is not None:
        text = data if isinstance(data, str) else json.dumps(data, indent=2, ensure_ascii=False)
        if len(text) > MAX_INPUT_CHARS:
            text = text[:MAX_INPUT_CHARS] + f"\n… (truncated; the whole input is {inp.display})"
        kind = f" ({agent.consumes})" if agent.consumes else ""
        parts.append(f"## Input{kind}: {inp.display}\n```json\n{text}\n```")
    if rejection:
        parts.append(f"## Your previous attempt was rejected\n{rejection}")
    if not parts:
        parts.append("## Instructions\nDo your job as described above.")
    return "\n\n".join(parts)


def _rejection_text(task: Task | None) -> str:
    if task is None or not task.rejections:
        return ""
    from agentctl.contracts.rejections import rejection_context

    return rejection_context(task)
