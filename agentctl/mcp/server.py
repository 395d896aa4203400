"""The MCP server on stdio, through the official ``mcp`` SDK (``pip install 'agentctl[mcp]'``).

Tested with mcp 2.x (``mcp.server.mcpserver.MCPServer``); mcp 1.x's ``FastMCP`` has the same
``add_tool`` and is used when that is what is installed. stdout is the protocol's: logs go to
stderr. A tool that fails answers ``isError`` with agentctl's one-line message (secrets
redacted); the exit code it would have had names the kind (``conflict (5): …``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from agentctl import __version__
from agentctl.errors import AgentctlError, ConfigError
from agentctl.mcp.tools import ToolContext, make_tools

INSTALL_HINT = "pip install 'agentctl[mcp]'"
KIND = {1: "failed", 2: "usage error", 3: "rejected", 4: "self-tests failed", 5: "conflict", 74: "state unreadable",
        75: "try later", 78: "configuration error"}
INSTRUCTIONS = ("agentctl's task registry. Claim work with task_next, read it with task_show, update it with "
                "task_update (pass the version you read), block it with task_block when something is missing, "
                "hand it off with handoff, and report what you spent with report_usage. Gates are for humans.")


def server_class() -> Any:
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:
        try:
            from mcp.server.fastmcp import FastMCP as MCPServer  # type: ignore[attr-defined, no-redef]  # mcp 1.x only
        except ImportError:
            raise ConfigError(f"`agentctl mcp` needs the MCP SDK: {INSTALL_HINT}") from None
    return MCPServer


def _tool_error() -> type[Exception]:
    try:
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError:
        from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]  # mcp 1.x only
    return ToolError


def _guarded(fn: Any, tool_error: type[Exception]) -> Any:
    """``fn`` with agentctl's errors turned into tool errors (its signature is kept for the schema)."""
    import functools

    from agentctl.core.redact import redact

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentctlError as exc:
            kind = KIND.get(exc.exit_code, "error")
            raise tool_error(f"{kind} ({exc.exit_code}): {redact(exc.render())}") from None

    return call


def build_server(ctx: ToolContext, names: list[str]) -> Any:
    """The server with the tools ``names`` (a subset of ``TOOL_NAMES``)."""
    server = server_class()(name="agentctl", instructions=INSTRUCTIONS, log_level="WARNING",
                            **({"version": __version__} if _accepts_version() else {}))
    tool_error = _tool_error()
    tools = make_tools(ctx)
    for name in names:
        server.add_tool(_guarded(tools[name], tool_error), name=name, structured_output=True)
    return server


def _accepts_version() -> bool:
    import inspect

    return "version" in inspect.signature(server_class()).parameters


def serve(ctx: ToolContext, names: list[str]) -> None:
    """Serve on stdio until the client closes it."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="agentctl mcp: %(message)s")
    build_server(ctx, names).run("stdio")
