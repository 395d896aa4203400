"""Environment and clock are read once at the CLI edge and handed down (issue 13, item 6)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

import agentctl
from agentctl.cron.alerts import raise_alert
from agentctl.workspace.loader import Workspace

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

# Where the process environment or the wall clock may still be read below the CLI, and why.
ALLOWED = {
    "core/clock.py": "defines utcnow, the one wall clock",
    "core/redact.py": "finds secret values by name in the environment (library callers pass none)",
    "workspace/loader.py": "Workspace.env / find_workspace: the default for library callers; the CLI passes its own",
    "workspace/envfile.py": "apply_env_file loads the env file into the environment it is given (default: the process's)",
    "storage/files/journal.py": "AGENTCTL_CRASH_AT, the test-only crash-point hook",
    "demo/play.py": "the demo runs the in-process CLI under its own environment",
    "contracts/vetted.py": "expiry of a derived cache entry (a vetted contract is checked again after 30 days)",
    "scorecard/parallel.py": "AGENTCTL_SCAN_WORKERS, how many processes scan a long window (a tuning switch, not input)",
}


def test_no_service_reads_the_environment_or_the_clock_itself() -> None:
    root = Path(agentctl.__file__).parent
    pattern = re.compile(r"os\.environ|os\.getenv|AGENTCTL_NOW|datetime\.now\(|utcnow\(\)|\.utcnow\b")
    readers = {str(p.relative_to(root)) for p in root.rglob("*.py")
               if not p.relative_to(root).parts[0] == "cli" and pattern.search(p.read_text(encoding="utf-8"))}
    readers.discard("providers/agent_env.py")  # says in its docstring that it does not
    assert readers <= set(ALLOWED), sorted(readers - set(ALLOWED))


def test_services_use_the_environment_the_edge_handed_down(minimal_ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = minimal_ws / "sink.out"
    cfg = minimal_ws / "agentctl.yaml"
    base = cfg.read_text().split("alerts:\n", 1)[0]
    cfg.write_text(base + "alerts:\n  command: [\"sh\", \"-c\", \"echo \\\"$ONLY_HERE\\\" > sink.out\"]\n")
    assert "ONLY_HERE" not in os.environ
    monkeypatch.chdir(minimal_ws)
    ws = Workspace(minimal_ws, env={"PATH": os.environ["PATH"], "ONLY_HERE": "from-the-edge"})
    alert = raise_alert(ws, kind="k", message="m", source="s", now=T0)
    assert alert["sinks"] == {"command": "ok"}, json.dumps(alert)
    assert out.read_text().strip() == "from-the-edge"
