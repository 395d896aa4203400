"""One execution of a ``runtime: command`` agent: the command-agent protocol (SPEC §5).

- The command is an argv list; the placeholders ``{prompt_file}``, ``{output}``, ``{input}``,
  ``{schema_file}``, ``{workspace}`` (and ``{usage_file}``) become paths agentctl made — never
  task text. ``stdin: prompt`` feeds the prompt file on stdin.
- Its environment is ``providers.agent_env``: the base set, the agent's ``env:`` names, nothing
  else that looks secret, never a tier's key; plus ``AGENTCTL_AGENT/TASK/INPUT/OUTPUT/
  PROMPT_FILE/SCHEMA/USAGE_FILE/WORKSPACE/RUN_ID``.
- Exit codes: 0 done, 1 failed, 3 "my own output is invalid" (the run is ``rejected``), 75 try
  later (``RateLimited``, transient, a breaker failure like a provider 429). An agent that
  blocked its own task (``agentctl task block $AGENTCTL_TASK --by …``) and exited 0 leaves it
  blocked.
- ``usage:`` reads tokens, models and cost (``providers.usage``); a CLI's reported cost is
  ``costSource: reported``, tokens only are priced with genai-prices (``computed``), nothing at
  all is ``costUsd: null``. Without ``$AGENTCTL_OUTPUT`` written, the CLI's final answer is the
  artifact text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.core.records import RunError
from agentctl.core.redact import redact
from agentctl.providers import TokenUsage
from agentctl.providers.usage import PROVIDER_OF, CliUsage, ModelUse, read_usage

if TYPE_CHECKING:
    from agentctl.core.config import AgentDef
    from agentctl.core.records import Task
    from agentctl.run.artifacts import RunArtifacts
    from agentctl.workspace.loader import Workspace

EXIT_FAILED, EXIT_INVALID_OUTPUT, EXIT_TRY_LATER = 1, 3, 75
MAX_ERROR_CHARS = 600
ERROR_TYPES = {"rate_limited": "RateLimited", "overloaded": "Overloaded", "server": "ServerError",
               "timeout": "Timeout", "auth": "AuthenticationError", "agent": "AgentError"}
TRANSIENT_ERROR_TYPES = frozenset({"RateLimited", "Overloaded", "ServerError", "Timeout", "ConnectionError"})
"""Error types a retry may cure (the work loop retries them; a command's exit 75 is one)."""


@dataclass
class CommandOutcome:
    """What one command execution produced; the runner's ``_Exec`` extends it."""

    artifact: Any = None
    parse_error: str | None = None
    raw_text: str = ""
    usage: TokenUsage = field(default_factory=TokenUsage)
    provider: str | None = "command"
    model: str | None = None
    cost: float | None = None
    cost_source: str | None = None
    models: list[dict[str, Any]] | None = None
    error: RunError | None = None
    exit_code: int = EXIT_FAILED
    blocked: str | None = None
    """The agent blocked its own task with this reason (and exited 0): the task stays blocked."""


@dataclass
class RunFiles:
    """The paths of one command run (all inside the task's artifact folder)."""

    folder: Path
    prompt: Path
    output: Path
    usage: Path
    stdout: Path
    schema: Path | None
    input: Path | None
    arts: RunArtifacts | None = None
    """Where the run's kept files go (the artifact store); None: nowhere."""

    def placeholders(self, ws_root: Path) -> dict[str, str]:
        return {"prompt_file": str(self.prompt), "output": str(self.output), "input": str(self.input or ""),
                "schema_file": str(self.schema or ""), "workspace": str(ws_root), "usage_file": str(self.usage)}

    def cleanup(self) -> None:
        for p in (self.output, self.usage, self.stdout):
            p.unlink(missing_ok=True)


def expand_argv(command: list[str], values: dict[str, str]) -> list[str]:
    """Each ``{name}`` of a known placeholder replaced by its path; any other brace text is left alone."""
    out = []
    for arg in command:
        for name, value in values.items():
            arg = arg.replace("{" + name + "}", value)
        out.append(arg)
    return out


def protocol_text(files: RunFiles, produces: str | None) -> str:
    """The part of the prompt file that tells the agent where things are."""
    lines = ["## How to answer (agentctl command-agent protocol)",
             f"- Write your artifact (one JSON object) to $AGENTCTL_OUTPUT: {files.output}"]
    if produces and files.schema:
        lines.append(f"- It must satisfy the `{produces}` contract: the JSON Schema in $AGENTCTL_SCHEMA: {files.schema}")
    lines += ["- Exit 0 when done, 1 when you failed, 3 when your own output is invalid, 75 to be retried later "
              "(rate limited, overloaded).",
              "- Blocked? Run `agentctl task block $AGENTCTL_TASK --by \"<who> — <what is missing>\"` and exit 0."]
    return "\n".join(lines)


def tier_key_values(ws: Workspace, env: dict[str, str]) -> list[str]:
    """The values of every LLM tier's key variable: agentctl's own, never a command's."""
    from agentctl.errors import AgentctlError
    from agentctl.tiers.routing import tier_key_values as values

    try:
        return values(ws.config.tiers.values(), env)
    except AgentctlError:
        return []


def command_env(ws: Workspace, agent: AgentDef, env: dict[str, str], run_vars: dict[str, str]) -> dict[str, str]:
    from agentctl.providers.agent_env import agent_env

    extra = dict(run_vars)
    if agent.usage == "aider":  # aider reads its options from AIDER_* variables too
        extra.setdefault("AIDER_ANALYTICS_LOG", run_vars["AGENTCTL_USAGE_FILE"])
    return agent_env(env, agent.env, secret_values=tier_key_values(ws, env), extra=extra)


# --- reading the outcome ----------------------------------------------------------------

def _record_model(use: ModelUse) -> dict[str, Any]:
    return {"model": use.model, "provider": use.provider, "tokensIn": use.tokens_in, "tokensOut": use.tokens_out,
            "cacheReadTokens": use.cache_read, "cacheWriteTokens": use.cache_write,
            "costUsd": None if use.cost_usd is None else round(use.cost_usd, 10)}


def _price(uses: list[ModelUse], at: datetime) -> bool:
    """Fill in the cost of models that reported tokens only; True when any was computed."""
    from agentctl.tiers.pricing import reported_usage_cost_usd

    computed = False
    for use in uses:
        if use.cost_usd is None and use.model and (use.tokens_in or use.tokens_out):
            tokens = TokenUsage(use.tokens_in, use.tokens_out, use.cache_read, use.cache_write)
            use.cost_usd = reported_usage_cost_usd(use.provider, use.model, tokens, at)
            computed = computed or use.cost_usd is not None
        elif use.cost_usd is None and not (use.tokens_in or use.tokens_out):
            use.cost_usd = 0.0 if use.model else None
    return computed


def apply_usage(out: CommandOutcome, agent: AgentDef, cli: CliUsage, at: datetime) -> None:
    """Tokens, model, provider, cost and costSource of the run from what the CLI reported."""
    default_provider = PROVIDER_OF.get(agent.usage or "")
    for use in cli.models:
        use.model = use.model or agent.model
        use.provider = use.provider or default_provider
    out.model, out.provider = agent.model, default_provider or "command"
    if not cli.models and cli.total_cost_usd is None:
        return
    computed = _price(cli.models, at)
    if cli.total_cost_usd is not None:
        out.cost, out.cost_source = round(cli.total_cost_usd, 10), "reported"
    elif cli.models and all(u.cost_usd is not None for u in cli.models):
        out.cost = round(sum(u.cost_usd or 0.0 for u in cli.models), 10)
        out.cost_source = "computed" if computed else "reported"
    out.usage = TokenUsage(sum(u.tokens_in for u in cli.models), sum(u.tokens_out for u in cli.models),
                           sum(u.cache_read for u in cli.models), sum(u.cache_write for u in cli.models))
    if cli.models:
        main = max(cli.models, key=lambda u: (u.cost_usd or 0.0, u.tokens_in + u.tokens_out))
        out.model, out.provider = main.model, main.provider or out.provider
    if len(cli.models) > 1:
        out.models = [_record_model(u) for u in cli.models]


def _error(kind: str, message: str) -> RunError:
    return RunError(type=ERROR_TYPES.get(kind, "AgentError"), message=message[:MAX_ERROR_CHARS])


def judge_exit(out: CommandOutcome, res: Any, cli: CliUsage | None, timeout_s: float) -> None:
    """The run's error (if any) and exit code from the process result and the CLI's own error."""
    tail = res.output_tail.strip()[-MAX_ERROR_CHARS:]
    if res.spawn_error:
        out.error = RunError(type="CommandNotStarted", message=res.spawn_error)
    elif res.timed_out:
        out.error = RunError(type="Timeout", message=f"the command ran past timeout_s={timeout_s:g}s; its process "
                             "group was killed" + (f"; output: {tail}" if tail else ""))
    elif res.exit_code == EXIT_TRY_LATER:
        kind = cli.error_kind if cli and cli.error_kind in ("rate_limited", "overloaded", "server") else "rate_limited"
        detail = (cli.error_message if cli and cli.error_message else tail) or "no detail"
        out.error, out.exit_code = _error(kind, f"the agent asked to be retried later (exit 75): {detail}"), 75
    elif cli is not None and cli.error_kind is not None:
        out.error = _error(cli.error_kind, cli.error_message or "the CLI reported an error")
        if out.error.type in TRANSIENT_ERROR_TYPES:
            out.exit_code = EXIT_TRY_LATER
    elif res.exit_code == EXIT_INVALID_OUTPUT:
        out.parse_error = "the agent reported its own output invalid (exit 3)" + (f": {tail}" if tail else "")
    elif res.exit_code != 0:
        out.error = RunError(type="CommandFailed", message=f"the command exited {res.exit_code}"
                             + (f": {tail}" if tail else ""))


def read_artifact(out: CommandOutcome, files: RunFiles, cli: CliUsage | None, produces: str | None) -> None:
    """The artifact: ``$AGENTCTL_OUTPUT`` when the agent wrote it, else the CLI's final answer."""
    from agentctl.contracts.schemas import parse_artifact
    from agentctl.providers import text_artifact

    if files.output.is_file():
        raw = files.output.read_bytes()
    elif cli is not None and cli.final_text is not None:
        raw = _unfence(cli.final_text).encode()
        if not produces:
            out.artifact, out.raw_text = text_artifact(cli.final_text), cli.final_text
            return
    else:
        if produces:
            out.parse_error = "the command wrote no artifact to $AGENTCTL_OUTPUT"
        return
    data, not_json = parse_artifact(raw)
    out.raw_text = raw.decode("utf-8", errors="replace")
    out.artifact, out.parse_error = data, (not_json.summary if not_json else None)


def _unfence(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[-1].rsplit("```", 1)[0]
    return body


def self_blocked(ws: Workspace, agent: str, task: Task | None) -> str | None:
    """The reason the agent blocked its own task during the run, if it did (a block by anyone else is a
    change the run must not overwrite: the runner's compare-and-set handles that)."""
    if task is None:
        return None
    live = ws.storage.registry.get(task.taskId)
    if live is None or live.status != "blocked":
        return None
    last_events = getattr(ws.storage.registry, "last_events", None)
    events = last_events(task.taskId) if last_events is not None else []
    block = next((e for e in reversed(events) if e.get("change") == "status" and e.get("after") == "blocked"), None)
    if block is not None and block.get("actor") != agent:
        return None
    return live.blockedBy or "blocked by the agent"


# --- the execution ------------------------------------------------------------------------

def run_files(ws: Workspace, agent: AgentDef, arts: RunArtifacts, prompt_file: Path, run_id: str,
              input_path: Path | None, private: Path | None = None) -> RunFiles:
    """The run's paths; what the agent writes (artifact, usage, stdout) goes to ``private``, the
    run's staging folder (0700, removed on every exit) when given, else beside the artifacts.
    The schema copy is stored with the task's artifacts (``arts``) and handed over as a local path."""
    schema = None
    if agent.produces:
        schema = arts.store_now(f"{agent.produces}.schema.json",
                                (json.dumps(ws.load_schema(agent.produces), indent=2) + "\n").encode())
    stem = f".{agent.name}.{run_id}"
    folder = prompt_file.parent
    raw = private if private is not None else folder
    return RunFiles(folder, prompt_file, raw / f".{agent.produces or 'output'}.{run_id}.json",
                    raw / f"{stem}.usage", raw / f"{stem}.stdout", schema, input_path, arts)


def execute(ws: Workspace, agent: AgentDef, task: Task | None, files: RunFiles, env: dict[str, str], run_id: str,
            started: datetime, redact_env: dict[str, str],
            on_start: Callable[[int], None] | None = None) -> CommandOutcome:
    """Run the agent's command once and read what it did (the files are removed afterwards)."""
    from agentctl.providers.command import run_command

    run_vars = {"AGENTCTL_AGENT": agent.name, "AGENTCTL_TASK": task.taskId if task else "",
                "AGENTCTL_INPUT": str(files.input or ""), "AGENTCTL_OUTPUT": str(files.output),
                "AGENTCTL_PROMPT_FILE": str(files.prompt), "AGENTCTL_SCHEMA": str(files.schema or ""),
                "AGENTCTL_USAGE_FILE": str(files.usage), "AGENTCTL_WORKSPACE": str(ws.root), "AGENTCTL_RUN_ID": run_id}
    argv = expand_argv(list(agent.command or []), files.placeholders(ws.root))
    try:
        res = run_command(argv, cwd=ws.root, env=command_env(ws, agent, env, run_vars), timeout_s=agent.timeout_s,
                          stdin_path=files.prompt if agent.stdin == "prompt" else None,
                          stdout_path=files.stdout if agent.usage else None, on_start=on_start)
        if files.arts is not None:  # the output tail, kept beside the artifacts
            files.arts.store_now(f"{agent.name}.log", redact(res.output_tail, redact_env).encode())
        out = CommandOutcome()
        cli = None
        if agent.usage:
            cli = read_usage(agent.usage, _read(files.stdout) or b"", _read(files.usage))
            apply_usage(out, agent, cli, started)
        judge_exit(out, res, cli, agent.timeout_s)
        if out.error is None and out.parse_error is None and res.exit_code == 0:
            out.blocked = self_blocked(ws, agent.name, task)
            if out.blocked is None or files.output.is_file():
                read_artifact(out, files, cli, agent.produces)
            if out.blocked is not None and out.parse_error is not None:  # blocked: a bad artifact is not kept
                out.artifact, out.parse_error = None, None
        return out
    finally:
        files.cleanup()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
