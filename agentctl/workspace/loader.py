"""Find and load a workspace (SPEC §1, §2): agentctl.yaml, agents/, schemas/.

Loading is lazy and strict: each definition error becomes a ``Problem`` naming
the file, the line (when YAML knows it) and the field path. ``validate_all``
collects every problem of the workspace at once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.errors import ConfigError, Problem

if TYPE_CHECKING:  # the config models and YAML load on first use: `status` needs neither
    from pydantic import BaseModel, ValidationError

    from agentctl.core.config import AgentDef, BreakerPolicy, SelfTestRule, Tier, WorkspaceConfig
    from agentctl.storage.base import Storage

CONFIG_NAME = "agentctl.yaml"
INIT_HINT = "create one with `agentctl init [DIR]` (or `agentctl demo`), or pass --workspace PATH"


def find_workspace(explicit: str | None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """--workspace, else $AGENTCTL_WORKSPACE, else the nearest folder up holding agentctl.yaml."""
    env = os.environ if env is None else env
    given = explicit or env.get("AGENTCTL_WORKSPACE")
    if given:
        root = Path(given).expanduser().resolve()
        if not (root / CONFIG_NAME).is_file():
            raise ConfigError(f"no workspace at {root} (no {CONFIG_NAME})", hint=INIT_HINT)
        return root
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise ConfigError(f"no agentctl workspace found at or above {here}", hint=INIT_HINT)


def pydantic_problems(exc: ValidationError, file: str, lines: dict[Any, int], prefix: tuple[Any, ...] = ()) -> list[Problem]:
    from agentctl.workspace.yamlstrict import line_for

    out = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (typo?)"
        elif "input" in err and err["type"].endswith("_type"):
            msg = f"{msg} (got {type(err['input']).__name__} {err['input']!r})"
        out.append(Problem(msg, file=file, line=line_for(lines, loc), field=".".join(map(str, loc)) or None))
    return out


def _load_model(path: Path, model: type[BaseModel], display: str, root: Path | None = None) -> tuple[Any, list[Problem]]:
    """The file's model, or its problems; with ``root``, through the workspace's cache of
    definitions that loaded cleanly before (``agentctl.workspace.defcache``)."""
    if root is not None:
        from agentctl.workspace.defcache import load_definition

        return load_definition(root, path, model, lambda text: _validate_file(path, model, display, text))
    return _validate_file(path, model, display, None)


def _validate_file(path: Path, model: type[BaseModel], display: str, text: str | None) -> tuple[Any, list[Problem]]:
    from pydantic import ValidationError

    from agentctl.workspace.yamlstrict import load_yaml_file, load_yaml_text

    try:
        data, lines = load_yaml_file(path, display) if text is None else load_yaml_text(text, display)
    except ConfigError as exc:
        return None, exc.problems or [Problem(exc.message, file=display)]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [Problem("expected a mapping at the top level", file=display, line=1)]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, pydantic_problems(exc, display, lines)


@dataclass
class AgentsLoad:
    agents: dict[str, AgentDef]
    problems: list[Problem]


_KEY_ENV = re.compile(r"""["']?\bapi_key_env["']?\s*:\s*["']?([A-Za-z_][A-Za-z0-9_]*)""")


def key_env_names(config_path: Path) -> list[str]:
    """Every ``api_key_env`` named in the config, from its text (no full load on hot paths)."""
    try:
        return _KEY_ENV.findall(config_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


class Workspace:
    def __init__(self, root: Path, env: Mapping[str, str] | None = None):
        self.root = Path(root).resolve()
        self._env = env
        from agentctl.storage import confine_to

        confine_to(self.root)  # every write below it is refused through a symbolic link
        from agentctl.core.redact import register_name_source

        register_name_source(lambda: key_env_names(self.config_path))  # masked whatever their name

    @property
    def env(self) -> Mapping[str, str]:
        """The environment the CLI read at its edge and handed down; services use this, never
        ``os.environ``. A library caller that gave none gets the process environment."""
        return os.environ if self._env is None else self._env

    # --- paths ---------------------------------------------------------------
    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas"

    @property
    def alerts_path(self) -> Path:
        return self.root / "logs" / "alerts.jsonl"

    def artifact_dir(self, task_id: str) -> Path:
        return self.root / "artifacts" / task_id

    # --- loading -------------------------------------------------------------
    def load_config_problems(self) -> tuple[WorkspaceConfig | None, list[Problem]]:
        from agentctl.core.config import WorkspaceConfig

        return _load_model(self.config_path, WorkspaceConfig, CONFIG_NAME, self.root)

    @cached_property
    def config(self) -> WorkspaceConfig:
        cfg, problems = self.load_config_problems()
        if cfg is None:
            raise ConfigError(f"{CONFIG_NAME}: invalid configuration", problems)
        return cfg

    @cached_property
    def storage(self) -> Storage:
        from agentctl.storage.base import open_storage
        from agentctl.storage.staging import clean_stale

        clean_stale(self.root)  # what a SIGKILLed run left in .agentctl/staging
        return open_storage(self)

    def load_agents(self) -> AgentsLoad:
        from agentctl.core.config import AgentDef

        agents: dict[str, AgentDef] = {}
        problems: list[Problem] = []
        files = sorted(self.agents_dir.glob("*.yaml")) + sorted(self.agents_dir.glob("*.yml"))
        for path in files:
            display = self.rel(path)
            agent, found = _load_model(path, AgentDef, display, self.root)
            problems += found
            if agent is None:
                continue
            if agent.name != path.stem:
                problems.append(Problem(f"name {agent.name!r} must equal the file stem {path.stem!r}",
                                        file=display, field="name"))
                continue
            if agent.name in agents:
                problems.append(Problem(f"duplicate agent name {agent.name!r}", file=display, field="name"))
                continue
            agents[agent.name] = agent
        return AgentsLoad(agents, problems)

    @cached_property
    def agents(self) -> dict[str, AgentDef]:
        loaded = self.load_agents()
        if loaded.problems:
            raise ConfigError("agent definitions are invalid (run `agentctl agents validate`)", loaded.problems)
        from agentctl.core.redact import register_secret_names

        for agent in loaded.agents.values():  # an agent's `env:` list: what it is given is masked
            names = getattr(agent, "env", None)
            if isinstance(names, list | tuple):
                register_secret_names(n for n in names if isinstance(n, str))
        return loaded.agents

    def agent(self, name: str) -> AgentDef:
        from agentctl.errors import NotFound

        agents = self.agents
        if name not in agents:
            known = ", ".join(sorted(agents)) or "none defined"
            raise NotFound(f"unknown agent {name!r} (known: {known})")
        return agents[name]

    def schema_names(self) -> list[str]:
        return sorted(p.stem for p in self.schemas_dir.glob("*.json"))

    def load_schema(self, name: str) -> dict[str, Any]:
        path = self.schemas_dir / f"{name}.json"
        if not path.is_file():
            raise ConfigError(f"unknown schema {name!r}: no {self.rel(path)}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.rel(path)}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{self.rel(path)}: a JSON Schema must be an object")
        return data

    # --- effective policies ----------------------------------------------------
    def tier_for(self, agent: AgentDef) -> Tier | None:
        if agent.tier is None:
            return None
        tier = self.config.tiers.get(agent.tier)
        if tier is None:
            raise ConfigError(f"agents/{agent.name}.yaml: unknown tier {agent.tier!r}")
        if agent.model:
            tier = tier.model_copy(update={"model": agent.model})
        return tier

    def self_tests_for(self, agent: AgentDef) -> list[SelfTestRule]:
        role = self.config.roles.get(agent.role)
        return [*(role.self_tests if role else []), *agent.self_tests]

    def breaker_for(self, agent: AgentDef) -> BreakerPolicy:
        from agentctl.core.config import BreakerPolicy, default_breaker

        policy = default_breaker(agent.role).model_dump()
        role = self.config.roles.get(agent.role)
        for override in (role.breaker if role else None, agent.breaker):
            if override is not None:
                policy.update({k: v for k, v in override.model_dump().items() if v is not None})
        return BreakerPolicy(**policy)

    def prompt_text(self, agent: AgentDef) -> str:
        if agent.prompt_file:
            path = (self.root / agent.prompt_file).resolve()
            if not path.is_relative_to(self.root):
                raise ConfigError(f"agents/{agent.name}.yaml: prompt_file escapes the workspace")
            try:
                return path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"agents/{agent.name}.yaml: prompt_file {agent.prompt_file}: {exc.strerror}") from None
        return agent.prompt or ""
