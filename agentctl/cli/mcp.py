"""`agentctl mcp`: serve the task registry to agent sessions over MCP on stdio (SPEC §14)."""


import os
from typing import Annotated

import typer

from agentctl.cli.common import now, ws


def mcp(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option("--agent", help="The acting agent (default: $AGENTCTL_AGENT). Claims, "
                                              "releases and usage reports are made in its name.")] = None,
    list_tools: Annotated[bool, typer.Option("--list-tools", help="Print the tools this server would offer and exit.")] = False,
) -> None:
    """Serve the registry as MCP tools on stdio (task_next, task_show, task_update, task_block, task_release,
    handoff, status, blocked, report_usage). AGENTCTL_MCP_TOOLS=a,b selects a subset. Needs the extra:
    pip install 'agentctl[mcp]'."""
    from agentctl.mcp.tools import ToolContext, selected

    names = selected(os.environ.get("AGENTCTL_MCP_TOOLS"))
    if list_tools:
        typer.echo("\n".join(names))
        return
    from agentctl.mcp.server import serve, server_class

    server_class()  # no SDK: exit 78 naming the extra, before anything else
    acting = agent or os.environ.get("AGENTCTL_AGENT") or None
    workspace = ws(ctx)
    if acting:
        workspace.agent(acting)  # an unknown agent is a usage error (2), said once, at start
    serve(ToolContext(workspace, acting, now), names)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
