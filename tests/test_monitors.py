"""Built-in monitors (SPEC §8): a finding raises an alert and exits 1; nothing found exits 0."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import Cli, write_agent

from agentctl.workspace.loader import Workspace


def alerts(root: Path) -> list[dict]:
    path = root / "logs" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_disk_below_threshold_exits_0_without_alert(cli: Cli, minimal_ws: Path) -> None:
    res = cli("monitor", "disk", "--threshold", "100", "--json")
    assert res.exit_code == 0, res.stderr
    data = res.json()
    assert data["ok"] is True and data["findings"] == [] and data["path"] == str(minimal_ws)
    assert 0 <= data["usedPercent"] < 100 and data["threshold"] == 100
    assert alerts(minimal_ws) == []
    text = cli("monitor", "disk", "--threshold", "100")
    assert text.exit_code == 0 and "% used" in text.stdout


def test_disk_above_threshold_raises_an_alert_and_exits_1(cli: Cli, minimal_ws: Path, tmp_path: Path) -> None:
    res = cli("monitor", "disk", "--path", str(tmp_path), "--threshold", "0.001", "--json",
              env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert res.exit_code == 1
    data = res.json()
    assert data["ok"] is False and data["findings"][0]["path"] == str(tmp_path)
    assert "at or above the 0.001% threshold" in res.stderr
    [alert] = alerts(minimal_ws)
    assert alert["kind"] == "disk_usage" and alert["source"] == "monitor:disk" and alert["ts"] == "2026-11-26T10:00:00Z"
    assert alert["severity"] == "critical" and alert["data"]["findings"] == data["findings"]


@pytest.mark.parametrize(("args", "message"), [
    (["--threshold", "0"], "percentage"),
    (["--threshold", "150"], "percentage"),
    (["--path", "/no/such/place/at/all"], "cannot read"),
])
def test_disk_bad_arguments_are_usage_errors(cli: Cli, args: list[str], message: str) -> None:
    res = cli("monitor", "disk", *args)
    assert res.exit_code == 2 and message in res.stderr


def _task(cli: Cli, title: str, at: str) -> str:
    if not (cli.root / "agents" / "jack.yaml").exists():  # a day's lease: these tests are about age, not leases
        write_agent(cli.root, "jack", "name: jack\nruntime: command\ncommand: [\"true\"]\nlease_s: 86400\n")
    return cli("task", "add", "--title", title, "--agent", "jack", env={"AGENTCTL_NOW": at}).stdout.strip()


def test_stale_finds_in_progress_and_blocked_tasks_older_than_the_threshold(cli: Cli, minimal_ws: Path) -> None:
    t0 = "2026-11-26T08:00:00Z"
    working = _task(cli, "working", t0)
    stuck = _task(cli, "stuck", t0)
    _task(cli, "waiting", t0)                                   # todo: never stale
    fresh = _task(cli, "fresh", t0)
    cli("task", "claim", working, "--agent", "jack", env={"AGENTCTL_NOW": t0})
    cli("task", "block", stuck, "--by", "kai — no review", env={"AGENTCTL_NOW": "2026-11-26T08:30:00Z"})
    cli("task", "claim", fresh, "--agent", "jack", env={"AGENTCTL_NOW": "2026-11-26T10:30:00Z"})
    now = {"AGENTCTL_NOW": "2026-11-26T11:00:00Z"}
    res = cli("monitor", "stale", "--older-than", "2h", "--json", env=now)
    assert res.exit_code == 1
    found = res.json()["findings"]
    assert [(f["taskId"], f["status"], f["ageS"]) for f in found] == [(working, "in_progress", 3 * 3600),
                                                                       (stuck, "blocked", 2 * 3600 + 1800)]
    assert found[1]["blockedBy"] == "kai — no review"
    [alert] = alerts(minimal_ws)
    assert alert["kind"] == "stale_tasks" and alert["message"].startswith("2 task(s) in progress or blocked for more than 2h")
    ok = cli("monitor", "stale", "--older-than", "3h", env=now)
    assert ok.exit_code == 0 and "no task" in ok.stdout


def test_stale_message_is_stable_so_repeats_dedupe(cli: Cli, minimal_ws: Path) -> None:
    t = _task(cli, "working", "2026-11-26T08:00:00Z")
    cli("task", "claim", t, "--agent", "jack", env={"AGENTCTL_NOW": "2026-11-26T08:00:00Z"})
    cli("monitor", "stale", env={"AGENTCTL_NOW": "2026-11-26T11:00:00Z"})
    cli("monitor", "stale", env={"AGENTCTL_NOW": "2026-11-26T12:00:00Z"})
    first, second = alerts(minimal_ws)
    assert first["message"] == second["message"] and first["key"] == second["key"]


def test_stale_on_an_unreadable_registry_is_74_not_zero_findings(cli: Cli, minimal_ws: Path) -> None:
    (minimal_ws / "tasks.json").write_text("{broken")
    res = cli("monitor", "stale")
    assert res.exit_code == 74


def test_breakers_none_open_exits_0(cli: Cli) -> None:
    res = cli("monitor", "breakers", "--json")
    assert res.exit_code == 0 and res.json()["open"] == [] and res.json()["ok"] is True


def test_breakers_open_raise_an_alert_and_exit_1(cli: Cli, minimal_ws: Path) -> None:
    from agentctl.breakers import breaker
    if not hasattr(breaker, "trip_breaker"):
        pytest.skip("breakers not implemented in this build")
    write_agent(minimal_ws, "jack", textwrap.dedent("""\
        name: jack
        role: code
        runtime: command
        command: ["true"]
    """))
    from datetime import UTC, datetime

    ws = Workspace(minimal_ws)
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    breaker.trip_breaker(ws, ws.agent("jack"), "user:test", now)
    res = cli("monitor", "breakers", "--json", env={"AGENTCTL_NOW": "2026-11-26T10:01:00Z"})
    assert res.exit_code == 1
    assert res.json()["open"] == ["jack"]
    assert [a["kind"] for a in alerts(minimal_ws)][-1] == "breakers_open"
    assert "open circuit breaker(s): jack" in res.stderr
