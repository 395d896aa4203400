"""``agentctl mcp``: the task registry as Model Context Protocol tools (SPEC §14).

``tools`` holds the tool functions and their typed results, over the same services as the CLI
(registry, contracts, run log); ``server`` wires them into the official ``mcp`` SDK (extra
``agentctl[mcp]``) on stdio. Only ``server`` imports ``mcp``.
"""
