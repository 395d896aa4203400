"""What `cron install` checks before it writes a line (SPEC §8): keys and PATH.

Cron runs a job with almost no environment: PATH (set on our line), HOME, SHELL,
LOGNAME and the ``NAME=value`` lines of the crontab itself. An LLM job whose tier (or a
fallback) reads a key that is in neither the workspace's env file nor those lines
would fail at every slot, so the install stops (78) naming the variable and the job.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agentctl.errors import ConfigError
from agentctl.workspace.loader import Workspace

DEFAULT_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
_ENV_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S.*)?$")


def crontab_env(text: str) -> set[str]:
    """Names the crontab sets for its jobs (``NAME=value`` lines with a value)."""
    names = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        if m and m.group(2) and m.group(2).strip() not in ('""', "''"):
            names.add(m.group(1))
    return names


def needed_keys(ws: Workspace, agent_name: str) -> list[str]:
    """The key variables an agent's model chain reads (its tier's model and every fallback)."""
    from agentctl.core.config import ModelRef
    from agentctl.tiers.routing import chain_for, key_env

    agent = ws.agent(agent_name)
    if agent.runtime != "llm":
        return []
    tier = ws.tier_for(agent) if agent.tier else ModelRef(model=agent.model or "")
    assert tier is not None
    return list(dict.fromkeys(key_env(ref) for ref in chain_for(tier)))


def check_keys(ws: Workspace, crontab_text: str) -> None:
    """78 for the first job whose key cron would not have."""
    from agentctl.workspace.envfile import workspace_env

    have = set(workspace_env(ws.root)) | crontab_env(crontab_text)
    missing = []
    for job in ws.config.cron:
        if job.agent:
            missing += [(job.name, var) for var in needed_keys(ws, job.agent) if var not in have]
    if missing:
        name, var = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConfigError(f"cron job {name}: {var} is in neither the env file nor the crontab's environment, so "
                          f"the job would fail under cron{more}; nothing was installed",
                          hint=f"add {var}=… to the workspace's env file (default .agentctl/env, chmod 600)")


def path_dirs(ws: Workspace, program_dir: str) -> list[str]:
    """PATH for the jobs: ``cron_path:`` if set, else agentctl's own folder and the system's."""
    configured: Any = ws.config.cron_path
    if configured is None:
        return list(dict.fromkeys([program_dir, *DEFAULT_PATH]))
    dirs = configured.split(":") if isinstance(configured, str) else list(configured)
    out = []
    for d in dirs:
        if not d or not Path(d).is_absolute():
            raise ConfigError(f"agentctl.yaml [cron_path]: {d!r} is not an absolute folder")
        out.append(d)
    return list(dict.fromkeys(out))
