"""Shared helpers for the reliability suite (tests/test_reliability_*.py).

``rel_ws`` is a minimal workspace with two command agents (no model server needed)
and one built-in cron job:

- ``cmd``   writes ``{"ok": true}`` to $AGENTCTL_OUTPUT and exits 0;
- ``flaky`` exits 1, with a breaker that never trips (huge threshold and window),
  so every failure it records is one more entry in state/breakers.json;
- cron job ``tick`` (every minute, builtin ``breakers``): cheap, no findings.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

PY = sys.executable
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ARTIFACT_CMD = ["sh", "-c", 'printf \'{"ok": true}\' > "$AGENTCTL_OUTPUT"']

BASE_AGENTS = {
    "cmd": {"name": "cmd", "team": "ops", "role": "ops", "runtime": "command", "command": ARTIFACT_CMD,
            "timeout_s": 30, "max_concurrent": 64},  # the concurrency tests run it from many processes at once
    "flaky": {"name": "flaky", "team": "ops", "role": "ops", "runtime": "command", "command": ["sh", "-c", "exit 1"],
              "timeout_s": 30, "breaker": {"threshold": 1_000_000, "window_s": 300_000_000, "cooldown_s": 60}},
}


def rel_config(*, alerts_command: list[str] | None = None, cron: list[dict] | None = None,
               pipeline: list[dict] | None = None) -> str:
    jobs = cron if cron is not None else [{"name": "tick", "schedule": "* * * * *", "builtin": "breakers"}]
    cfg = {"version": 1, "tiers": {}, "pipeline": pipeline or [], "roles": {}, "cron": jobs,
           "alerts": {"command": alerts_command, "dedupe_s": 3600} if alerts_command else {}}
    return json.dumps(cfg, indent=1) + "\n"  # JSON is YAML: no quoting surprises


def make_rel_ws(root: Path, *, alerts_command: list[str] | None = None, agents: dict[str, dict] | None = None,
                cron: list[dict] | None = None, pipeline: list[dict] | None = None) -> Path:
    from agentctl.workspace.templates import init_workspace

    init_workspace(root, "minimal", force=False)
    (root / "agentctl.yaml").write_text(rel_config(alerts_command=alerts_command, cron=cron, pipeline=pipeline))
    for name, body in {**BASE_AGENTS, **(agents or {})}.items():
        (root / "agents" / f"{name}.yaml").write_text(json.dumps(body) + "\n")
    return root


@pytest.fixture
def rel_ws(tmp_path: Path) -> Path:
    return make_rel_ws(tmp_path / "ws")


def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def snapshot(root: Path) -> dict[str, str | None]:
    """sha256 of every file under ``root`` (to prove a command changed nothing)."""
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def scan_tree(root: Path, needles: list[str]) -> list[str]:
    """``path: needle`` for every file under ``root`` containing one of ``needles``."""
    found = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            found += [f"{p.relative_to(root)}: {n}" for n in needles if n.encode() in data]
    return found


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run_records(root: Path) -> list[dict]:
    out: list[dict] = []
    for path in sorted((root / "logs" / "runs").glob("*.jsonl")):
        out += jsonl(path)
    return out
