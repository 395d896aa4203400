"""Shared fixtures: fresh workspaces in tmp_path and a CLI runner with separate stdout/stderr.

Area-specific fixtures live in tests/fixtures_*.py and are loaded as plugins here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))
pytest_plugins = sorted(p.stem for p in TESTS.glob("fixtures_*.py"))


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


# Started first: the long ones (mostly waiting on a real cron daemon or on killed processes), so
# that with ``-n`` (pytest-xdist, scripts/check) they overlap the many short tests instead of
# ending the run alone.
LONG_FIRST = ("test_cron_daemon.py", "test_crash_points.py", "test_security_inert.py::test_no_control",
              "test_registry_concurrency.py::test_sixteen", "test_reliability_concurrency.py::test_mixed",
              "test_fleet_loop.py::test_eight", "test_demo.py", "test_mcp.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, key in enumerate(LONG_FIRST) if key in item.nodeid), len(LONG_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("AGENTCTL_") or k == "AGENTCTL_PG_DSN") and not k.endswith(("_API_KEY",))}
    env.update(extra or {})
    return env


class Cli:
    """Invoke the Typer app in-process (fast) with a workspace."""

    def __init__(self, root: Path | None):
        self.root = root

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        from typer.testing import CliRunner

        from agentctl.cli.main import app

        argv = (["-w", str(self.root)] if self.root else []) + [str(a) for a in args]
        runner = CliRunner()
        res = runner.invoke(app, argv, env=_clean_env(env), input=input, catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)


def run_installed(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                  timeout: float = 60) -> Result:
    """Run the installed `agentctl` in a subprocess, as cron or an agent would."""
    proc = subprocess.run([sys.executable, "-m", "agentctl", *args], cwd=cwd, env=_clean_env(env),
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _on_backend(root: Path, request: pytest.FixtureRequest) -> Path:
    """AGENTCTL_TEST_STORAGE=postgres runs the workspace fixtures' tests on a fresh database."""
    if os.environ.get("AGENTCTL_TEST_STORAGE") == "postgres":
        from fixtures_postgres import use_postgres

        use_postgres(root, request)
    return root


@pytest.fixture
def minimal_ws(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    from agentctl.workspace.templates import init_workspace

    root = tmp_path / "ws"
    init_workspace(root, "minimal", force=False)
    return _on_backend(root, request)


@pytest.fixture
def studio_ws(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    from agentctl.workspace.templates import init_workspace

    root = tmp_path / "studio"
    init_workspace(root, "studio", force=False)
    return _on_backend(root, request)


@pytest.fixture
def cli(minimal_ws: Path) -> Cli:
    return Cli(minimal_ws)


@pytest.fixture
def studio_cli(studio_ws: Path) -> Cli:
    return Cli(studio_ws)


def define_agents(root: Path, *names: str) -> None:
    """Command agents named ``names`` (task add refuses an agent that is not defined)."""
    for name in names:
        write_agent(root, name, f"name: {name}\nruntime: command\ncommand: [\"true\"]\n")


def write_agent(root: Path, name: str, body: str) -> Path:
    path = root / "agents" / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path

