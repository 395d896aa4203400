"""The task registry through the CLI (SPEC §3): commands, exit codes, events, board, chains."""

from __future__ import annotations

import json

import pytest
from conftest import Cli, define_agents


@pytest.fixture(autouse=True)
def _agents(minimal_ws):
    define_agents(minimal_ws, "jack", "nico", "pia", "quinn", "rex", "sol")


def add(cli: Cli, title: str, *extra: str) -> str:
    res = cli("task", "add", "--title", title, *extra)
    assert res.exit_code == 0, res.stderr
    return res.stdout.strip()


def test_add_show_list_update(cli: Cli) -> None:
    assert add(cli, "Market research", "--agent", "rex", "--product", "AlphaNet", "--phase", "research") == "T-1"
    assert add(cli, "PRD", "--agent", "pia", "--depends-on", "T-1") == "T-2"
    assert add(cli, "Explicit", "--id", "PRD-042") == "PRD-042"
    shown = cli("task", "show", "T-2", "--json").json()
    assert shown["dependsOn"] == ["T-1"] and shown["status"] == "todo" and shown["agent"] == "pia"
    assert shown["createdAt"].endswith("Z") and shown["checks"] == {"codeReview": None, "qa": None}
    res = cli("task", "update", "T-1", "--status", "in_progress", "--pr", "https://git.example/pr/1",
              "--check", "codeReview=approved", "--set", "notes=hello", "--json")
    assert res.exit_code == 0, res.stderr
    t = res.json()
    assert (t["status"], t["pr"], t["checks"]["codeReview"], t["notes"]) == (
        "in_progress", "https://git.example/pr/1", "approved", "hello")
    listed = cli("task", "list", "--status", "in_progress", "--json").json()
    assert [x["taskId"] for x in listed] == ["T-1"]
    assert [x["taskId"] for x in cli("task", "list", "--agent", "pia", "--json").json()] == ["T-2"]
    human = cli("task", "list")
    assert "Market research" in human.stdout and human.exit_code == 0


def test_events_are_appended_per_change(cli: Cli, minimal_ws) -> None:
    add(cli, "A", "--agent", "rex")
    cli("task", "update", "T-1", "--status", "in_progress", env={"AGENTCTL_AGENT": "rex"})
    lines = [json.loads(x) for x in (minimal_ws / "logs" / "events.jsonl").read_text().splitlines()]
    assert [e["change"] for e in lines] == ["create", "status"]
    assert lines[1] | {} == lines[1] and set(lines[1]) == {"ts", "taskId", "actor", "change", "before", "after"}
    assert (lines[1]["actor"], lines[1]["before"], lines[1]["after"]) == ("rex", "todo", "in_progress")


def test_unknown_id_and_bad_args_exit_2(cli: Cli) -> None:
    res = cli("task", "show", "T-404")
    assert res.exit_code == 2 and "T-404" in res.stderr and res.stdout == ""
    assert cli("task", "update", "T-404", "--status", "done").exit_code == 2
    add(cli, "A")
    res = cli("task", "update", "T-1", "--status", "finished")
    assert res.exit_code == 2 and "--status" in res.stderr
    assert cli("task", "update", "T-1", "--set", "taskId=X").exit_code == 2
    assert cli("task", "add", "--title", "x", "--id", "../../etc/passwd").exit_code == 2


def test_claim_conflict_exit_5(cli: Cli) -> None:
    add(cli, "A")
    assert cli("task", "claim", "T-1", "--agent", "jack").exit_code == 0
    assert cli("task", "claim", "T-1", "--agent", "jack").exit_code == 0  # idempotent for the holder
    res = cli("task", "claim", "T-1", "--agent", "nico")
    assert res.exit_code == 5 and "jack" in res.stderr
    assert cli("task", "show", "T-1", "--json").json()["claimedBy"] == "jack"


def test_block_unblock_and_status_board(cli: Cli) -> None:
    add(cli, "Smart contract patch", "--agent", "sol", "--product", "AlphaNet")
    add(cli, "QA", "--agent", "quinn", "--product", "AlphaNet")
    add(cli, "Frontend", "--agent", "jack", "--product", "AlphaNet")
    cli("task", "update", "T-3", "--status", "done")
    cli("task", "claim", "T-1", "--agent", "sol")
    res = cli("task", "block", "T-2", "--by", "waiting for smart contract patch", "--on", "T-1")
    assert res.exit_code == 0
    board = cli("status", "--product", "AlphaNet", "--json").json()
    assert board["counts"]["blocked"] == 1 and board["counts"]["done"] == 1 and board["counts"]["in_progress"] == 1
    assert board["blocked"][0]["blockedBy"] == "waiting for smart contract patch"
    human = cli("status")
    assert "waiting for smart contract patch" in human.stdout
    assert cli("task", "unblock", "T-2", "--json").json()["status"] == "todo"
    assert cli("status", "--json").json()["counts"]["blocked"] == 0


def test_blocked_follows_chain_to_root_and_reports_cycles(cli: Cli) -> None:
    for title in ("Launch", "QA", "Contract patch", "Audit"):
        add(cli, title)
    cli("task", "block", "T-1", "--by", "QA not done", "--on", "T-2")
    cli("task", "block", "T-2", "--by", "needs patch", "--on", "T-3")
    cli("task", "block", "T-3", "--by", "waiting on audit", "--on", "T-4")
    report = {r["taskId"]: r for r in cli("blocked", "--json").json()}
    assert report["T-1"]["chains"] == [["T-1", "T-2", "T-3", "T-4"]]
    assert [r["taskId"] for r in report["T-1"]["rootCauses"]] == ["T-4"]
    assert report["T-1"]["cycle"] is None
    cli("task", "block", "T-4", "--by", "needs launch?", "--on", "T-1")
    report = {r["taskId"]: r for r in cli("blocked", "--json").json()}
    assert report["T-1"]["cycle"] == ["T-1", "T-2", "T-3", "T-4", "T-1"]
    assert "CYCLE" in cli("blocked").stdout


def test_corrupt_registry_exit_74_and_untouched(cli: Cli, minimal_ws) -> None:
    path = minimal_ws / "tasks.json"
    path.write_text('{"version": 1, "tasks": [{"taskId": "T-1"')
    before = path.read_bytes()
    for args in (("status",), ("task", "list"), ("task", "add", "--title", "x"), ("task", "show", "T-1")):
        res = cli(*args)
        assert res.exit_code == 74, args
        assert "tasks.json" in res.stderr and "Traceback" not in res.stderr
    assert path.read_bytes() == before


def test_newer_registry_version_refused(cli: Cli, minimal_ws) -> None:
    (minimal_ws / "tasks.json").write_text('{"version": 99, "tasks": []}')
    res = cli("status")
    assert res.exit_code == 74 and "newer" in res.stderr


def test_archive_moves_finished_tasks_and_show_still_finds_them(cli: Cli, minimal_ws) -> None:
    add(cli, "old done")
    add(cli, "live")
    cli("task", "update", "T-1", "--status", "done", env={"AGENTCTL_NOW": "2026-09-01T00:00:00Z"})
    res = cli("task", "archive", "--older-than", "30d", "--json")
    assert res.json() == {"archived": ["T-1"]}
    live = json.loads((minimal_ws / "tasks.json").read_text())
    assert [t["taskId"] for t in live["tasks"]] == ["T-2"]
    assert (minimal_ws / "archive" / "tasks-2026-09.jsonl").exists()
    assert cli("task", "show", "T-1", "--json").json()["status"] == "done"
    assert {t["taskId"] for t in cli("task", "list", "--all", "--json").json()} == {"T-1", "T-2"}
    assert add(cli, "next") == "T-3"  # ids are never reused after archiving


def test_lock_busy_exits_75(cli: Cli, minimal_ws) -> None:
    from filelock import FileLock

    with FileLock(str(minimal_ws / "tasks.json") + ".lock"):
        res = cli("--lock-timeout", "0.2", "task", "add", "--title", "x")
    assert res.exit_code == 75 and "lock" in res.stderr


def test_no_workspace_exit_78(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = Cli(None)("status")
    assert res.exit_code == 78 and "agentctl init" in res.stderr


def test_board_shows_open_breakers(cli: Cli, minimal_ws) -> None:
    from conftest import write_agent

    write_agent(minimal_ws, "jack", "name: jack\nrole: code\ntier: standard\n")
    assert cli("status", "--json").json()["breakers"] == []
    assert cli("breaker", "trip", "jack").exit_code == 0
    assert cli("status", "--json").json()["breakers"] == ["jack"]
    assert "Open breakers: jack" in cli("status").stdout


def test_blocked_includes_a_rejected_task_with_its_reason(cli: Cli, minimal_ws) -> None:
    add(cli, "Design")
    cli("task", "update", "T-1", "--status", "rejected", "--set", "blockedBy=jack — missing breakpoints")
    add(cli, "Code")
    cli("task", "block", "T-2", "--by", "needs the design", "--on", "T-1")
    report = {r["taskId"]: r for r in cli("blocked", "--json").json()}
    assert set(report) == {"T-1", "T-2"}
    assert report["T-2"]["rootCauses"][0]["blockedBy"] == "jack — missing breakpoints"
