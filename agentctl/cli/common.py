"""What every command needs: the workspace, the clock, the acting identity, output."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from agentctl.workspace.loader import Workspace


@dataclass
class AppState:
    workspace_opt: str | None = None
    verbose: bool = False
    _ws: Workspace | None = field(default=None, repr=False)

    def workspace(self) -> Workspace:
        if self._ws is None:
            from agentctl.workspace.loader import Workspace, find_workspace

            self._ws = Workspace(find_workspace(self.workspace_opt, env=os.environ), env=os.environ)
        return self._ws


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


def ws(ctx: typer.Context) -> Workspace:
    w = state(ctx).workspace()
    root = ctx.find_root()
    if not root.meta.get("agentctl.close_storage"):  # database connections end with the command
        root.meta["agentctl.close_storage"] = True
        root.call_on_close(lambda: w.__dict__["storage"].close() if "storage" in w.__dict__ else None)
    return w


def now() -> datetime:
    """The clock, read once at the edge. AGENTCTL_NOW pins it (tests, demos)."""
    from agentctl.core.clock import parse_iso, utcnow

    pinned = os.environ.get("AGENTCTL_NOW")
    return parse_iso(pinned) if pinned else utcnow()


def actor() -> str:
    """Who is acting: the agent process (AGENTCTL_AGENT) or the human user."""
    agent = os.environ.get("AGENTCTL_AGENT")
    if agent:
        return agent
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


def in_agent_process() -> str | None:
    return os.environ.get("AGENTCTL_AGENT") or None


def echo_err(message: str) -> None:
    typer.echo(message, err=True)


def path_arg(p: str) -> Path:
    return Path(p).expanduser()
