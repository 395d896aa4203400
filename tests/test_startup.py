"""Start-up stays cheap: the hot commands never import an LLM SDK (ARCHITECTURE, PERFORMANCE, issue 20).

Each command runs as `python -m agentctl …` in its own subprocess (as an agent or cron would)
with an audit hook at exit that lists what it imported. To cover a new hot command, add a
line to HOT; a command the installed CLI does not have yet (another branch) is skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("anthropic", "openai", "genai_prices", "jsonschema", "psycopg", "mcp", "rich", "croniter", "crontab",
         "httpx", "msgspec", "yaml")
"""Never on a hot command: the SDKs, the validators, the price table, the extras, rich, croniter,
and yaml (the default storage backend is chosen without parsing agentctl.yaml)."""

HOT = {  # name → argv after `-w WS`
    "status": ["status"],
    "status --json": ["status", "--json"],
    "task show": ["task", "show", "T-1"],
    "task show --json": ["task", "show", "T-1", "--json"],
    "task list": ["task", "list", "--json"],
    "task update": ["task", "update", "T-1", "--set", "notes=x"],
    "task next": ["task", "next", "--agent", "a"],
    "runs --running": ["runs", "--running"],
    "--help": ["--help"],
}

NEEDS = {"task next": {"yaml"}}
"""What a hot command needs beyond the floor: `task next` reads the agent's definition (its lease)."""

PROBE = """
import atexit, json, runpy, sys
heavy = {heavy!r}
def report():
    loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))
    sys.__stderr__.write("\\nLOADED " + json.dumps(loaded) + "\\n")
atexit.register(report)
sys.argv = ["agentctl", *sys.argv[1:]]
runpy.run_module("agentctl", run_name="__main__")
"""


def _run(ws: Path, argv: list[str]) -> tuple[int, str, list[str]]:
    code = PROBE.format(heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code, "-w", str(ws), *argv], capture_output=True, text=True,
                          timeout=120)
    line = next(x for x in reversed(proc.stderr.splitlines()) if x.startswith("LOADED "))
    return proc.returncode, proc.stderr, json.loads(line[len("LOADED "):])


@pytest.fixture(scope="module")
def hot_ws(tmp_path_factory) -> Path:
    from agentctl.workspace.templates import init_workspace

    root = tmp_path_factory.mktemp("startup") / "ws"
    init_workspace(root, "minimal", force=False)
    from conftest import define_agents

    define_agents(root, "a")
    subprocess.run([sys.executable, "-m", "agentctl", "-w", str(root), "task", "add", "--title", "x", "--agent", "a"],
                   check=True, capture_output=True)
    return root


@pytest.mark.parametrize("name", list(HOT))
def test_hot_command_loads_no_sdk(hot_ws: Path, name: str) -> None:
    rc, stderr, loaded = _run(hot_ws, HOT[name])
    assert rc == 0, stderr
    allowed = NEEDS.get(name, set())
    assert [m for m in loaded if m not in allowed] == [], f"`agentctl {name}` imported {loaded}"


def test_the_probe_sees_a_heavy_import(hot_ws: Path) -> None:
    """The check is live: a command that needs rich (the scorecard's report) is seen loading it."""
    rc, stderr, loaded = _run(hot_ws, ["scorecard", "--days", "1"])
    assert rc == 0, stderr
    assert "rich" in loaded
