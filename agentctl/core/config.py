"""Pydantic models for ``agentctl.yaml`` and ``agents/*.yaml`` (SPEC §2, §4, §7, §8).

These models are the single source of the file formats: the loader validates
against them and ``agentctl schema export`` generates the editor schemas from
them. Strict: unknown keys are errors and YAML 1.1 coercions are refused.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9-]*$"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONFIG_VERSION = 1


MAX_SECONDS = 10 * 366 * 86400
"""Upper bound of every duration in the config: larger ones overflow date arithmetic (a config error, not a crash)."""


class Strict(BaseModel):
    # inf/nan are config errors: `window_s: .inf` would overflow a timedelta at run time (exit 70)
    model_config = ConfigDict(extra="forbid", strict=True, use_attribute_docstrings=False, defer_build=True, frozen=False,
                              allow_inf_nan=False)


class ModelRef(Strict):
    """A model at a provider."""

    provider: Literal["anthropic", "openai"] = "anthropic"
    """`anthropic` (Messages API) or `openai` (Chat Completions; any OpenAI-compatible server with `base_url`)."""
    model: str
    """Model id as the provider names it, e.g. `claude-sonnet-4-6`."""
    base_url: str | None = None
    """Endpoint for OpenAI-compatible servers (Ollama, vLLM, llama.cpp) or a proxy."""
    api_key_env: str | None = None
    """Environment variable holding the key (default ANTHROPIC_API_KEY / OPENAI_API_KEY)."""
    max_tokens: int = 4096
    """Upper bound on output tokens per call."""


class Tier(ModelRef):
    """A model tier: the model first, then `fallback` in order on 429, overload and 5xx."""

    fallback: list[ModelRef] = Field(default_factory=list)
    """Models tried in order when the tier's model is rate limited, overloaded or failing."""


class Check(Strict):
    """A check on the artifact at a JSONPath-like `path` (`a.b[0].c`, `items[*].x`)."""

    path: str
    exists: bool | None = None
    """The path must (true) or must not (false) resolve."""
    min_items: int | None = None
    """The value at path is a list (or string) with at least this many items."""
    equals: Any = None
    """The value at path equals this."""
    matches: str | None = None
    """The value at path (as text) matches this regular expression."""


class SelfTestRule(Strict):
    """A self-test: a command (`run`) or a check on the artifact (`check`)."""

    name: str
    run: list[str] | str | None = None
    """argv list, or a string run by `sh -c` (written by the user in config, never built from task data)."""
    check: Check | None = None
    timeout_s: float = Field(default=300, gt=0, le=MAX_SECONDS)
    """Seconds before the command is killed (its whole process group)."""

    @model_validator(mode="after")
    def _one_kind(self) -> SelfTestRule:
        if (self.run is None) == (self.check is None):
            raise ValueError("a self-test needs exactly one of `run` or `check`")
        return self


class BreakerPolicy(Strict):
    """Circuit-breaker policy: `threshold` failures within `window_s` trips it for `cooldown_s`."""

    threshold: int = Field(default=3, ge=1)
    window_s: float = Field(default=60, gt=0, le=MAX_SECONDS)
    cooldown_s: float = Field(default=300, ge=0, le=MAX_SECONDS)
    max_cooldown_s: float = Field(default=3600, ge=0, le=MAX_SECONDS)
    """Cap for the cooldown, which doubles after each failed half-open probe."""


class BreakerOverride(Strict):
    """Per-role or per-agent breaker settings; unset fields keep the defaults."""

    threshold: int | None = Field(default=None, ge=1)
    window_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    cooldown_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    max_cooldown_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS)


class Budget(Strict):
    daily_usd: float | None = Field(default=None, ge=0)
    """Spend allowed per UTC day; a run that would start past it is refused (exit 75)."""


class RolePolicy(Strict):
    """What every agent of a role gets: self-test rules and a breaker policy."""

    self_tests: list[SelfTestRule] = Field(default_factory=list)
    breaker: BreakerOverride | None = None
    description: str | None = None
    retries: int | None = Field(default=None, ge=0, le=100)
    """Transient failures `agentctl work` retries per task for this role's agents (default 2)."""


class PipelineStage(Strict):
    stage: str
    """Stage name, e.g. `design`."""
    agent: str
    """The agent that works this stage."""
    consumes: str | None = None
    """Schema name of the input artifact."""
    produces: str | None = None
    """Schema name of the artifact this stage hands off."""
    gate: bool = False
    """A human must approve (`agentctl gate approve`) before the next stage starts."""


class CronJob(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    schedule: str
    """Five-field cron expression, e.g. `0 6 * * 1-5`."""
    tz: str = "UTC"
    """IANA time zone the schedule is read in."""
    agent: str | None = None
    prompt: str | None = None
    builtin: Literal["disk", "stale", "breakers", "scorecard", "learn", "friction"] | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    catch_up: Literal["skip", "once"] = "skip"
    description: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> CronJob:
        if (self.agent is None) == (self.builtin is None):
            raise ValueError("a cron job needs exactly one of `agent` or `builtin`")
        return self


class AlertsConfig(Strict):
    webhook: str | None = None
    """URL that receives each alert as a JSON POST (Slack-compatible `text` field)."""
    webhook_env: str | None = None
    """Environment variable holding the webhook URL (keeps secrets out of the file)."""
    command: list[str] | None = None
    """argv of a command that receives the alert as JSON on stdin."""
    dedupe_s: float = Field(default=3600, ge=0, le=MAX_SECONDS)
    """Identical alerts within this window are recorded but not sent again."""
    failure_every: int = Field(default=10, ge=1)
    """A failing cron job alerts on its first failure, then on every Nth consecutive one (and on recovery)."""


class StorageConfig(Strict):
    backend: str = "files"
    """`files` (default) or `postgres` (SPEC §12); `file` is read as `files`."""
    dsn_env: str | None = None

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        name = "files" if v == "file" else v
        if name not in ("files", "postgres"):
            raise ValueError(f"unknown storage backend {v!r} (backends: files, postgres)")
        return name


class WorkspaceConfig(Strict):
    """`agentctl.yaml`: the workspace configuration."""

    version: int = CONFIG_VERSION
    name: str | None = None
    task_prefix: str = Field(default="T", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    """Prefix of generated task ids (`T-1`, `T-2`, ...)."""
    tiers: dict[str, Tier] = Field(default_factory=dict)
    pipeline: list[PipelineStage] = Field(default_factory=list)
    roles: dict[str, RolePolicy] = Field(default_factory=dict)
    cron: list[CronJob] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    budgets: Budget = Field(default_factory=Budget)
    """Workspace-wide budget (all agents together)."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    learning: str | None = None
    """Tier used by `agentctl learn` to draft rule text; without it the text is deterministic."""
    env_file: str | None = None
    """Dotenv file read by `run`, `work` and `cron run` (default `.agentctl/env`); must be private to its owner."""
    cron_path: list[str] | str | None = None
    """PATH for cron jobs (a list of folders or `a:b:c`); default: agentctl's own folder and the system's."""
    retention_days: int = Field(default=30, ge=1, le=3660)
    """Days that task-less run outputs (`artifacts/_runs/YYYY-MM-DD/`) are kept."""

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > CONFIG_VERSION:
            raise ValueError(f"version {v} is newer than this agentctl understands ({CONFIG_VERSION}); upgrade agentctl")
        return v


class AgentDef(Strict):
    """`agents/NAME.yaml`: one agent."""

    name: str = Field(pattern=NAME_PATTERN)
    """Equal to the file stem."""
    team: str = "default"
    role: str = "default"
    """Selects the self-test rules and breaker policy (a free label)."""
    tier: str | None = None
    model: str | None = None
    """Overrides the tier's model (same provider)."""
    runtime: Literal["llm", "command"] = "llm"
    prompt: str | None = None
    prompt_file: str | None = None
    command: list[str] | None = None
    """argv for `runtime: command`; run without a shell."""
    consumes: str | None = None
    produces: str | None = None
    self_tests: list[SelfTestRule] = Field(default_factory=list)
    breaker: BreakerOverride | None = None
    budget: Budget | None = None
    timeout_s: float = Field(default=600, gt=0, le=MAX_SECONDS)
    description: str | None = None
    max_concurrent: int = Field(default=1, ge=1, le=1000)
    """Runs of this agent at once, across processes: a second `run` exits 75, a second `work` loop waits."""
    retries: int | None = Field(default=None, ge=0, le=100)
    """Transient failures (rate limits, overload, 5xx, timeouts, exit 75) `agentctl work` retries (default: the role's, else 2)."""
    lease_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    """Seconds a claim lasts unless its run renews it (default: timeout_s + 60)."""
    usage: Literal["claude-code", "codex", "gemini", "aider", "file"] | None = None
    """How a command agent's tokens, model and cost are read (SPEC §5): the CLI's own output format, or
    `file` (the agent writes `$AGENTCTL_USAGE_FILE`)."""
    env: list[str] = Field(default_factory=list)
    """Environment variables the agent and its self-tests receive beyond PATH, HOME, LANG, LC_*, TZ, TMPDIR
    and AGENTCTL_*; nothing else that looks secret reaches them."""
    stdin: Literal["prompt"] | None = None
    """`prompt` feeds the prompt file on the command's stdin (e.g. `codex exec -`); default: stdin closed."""

    @field_validator("env")
    @classmethod
    def _env_names(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if not ENV_NAME.match(n)]
        if bad:
            raise ValueError(f"not an environment variable name: {', '.join(map(repr, bad))}")
        return names

    @model_validator(mode="after")
    def _runtime_fields(self) -> AgentDef:
        if self.runtime == "command" and not self.command:
            raise ValueError("runtime: command needs `command` (an argv list)")
        if self.runtime == "command" and not self.produces and any("{schema_file}" in a for a in self.command or []):
            raise ValueError("`{schema_file}` in `command` needs `produces` (the contract it names)")
        if self.runtime != "command" and (self.usage or self.stdin):
            raise ValueError("`usage` and `stdin` apply to runtime: command only")
        if self.runtime == "llm" and not self.tier and not self.model:
            raise ValueError("runtime: llm needs a `tier` (or a `model`)")
        if self.prompt is not None and self.prompt_file is not None:
            raise ValueError("use either `prompt` or `prompt_file`, not both")
        return self


DEFAULT_BREAKERS: dict[str, BreakerPolicy] = {
    "code": BreakerPolicy(threshold=3, window_s=60, cooldown_s=300),
    "finance": BreakerPolicy(threshold=2, window_s=60, cooldown_s=300),
}


def default_breaker(role: str) -> BreakerPolicy:
    return DEFAULT_BREAKERS.get(role, BreakerPolicy())
