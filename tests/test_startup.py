"""Start-up stays cheap: the hot commands never import an LLM SDK (ARCHITECTURE, PERFORMANCE)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("anthropic", "openai", "genai_prices", "jsonschema", "rich", "croniter", "crontab")


def test_cli_import_and_hot_commands_load_no_sdk(minimal_ws) -> None:
    code = f"""
import sys, json
from agentctl.cli.main import app
from typer.testing import CliRunner
r = CliRunner()
r.invoke(app, ["-w", {str(minimal_ws)!r}, "task", "add", "--title", "x"])
r.invoke(app, ["-w", {str(minimal_ws)!r}, "status"])
r.invoke(app, ["-w", {str(minimal_ws)!r}, "task", "show", "T-1", "--json"])
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
