"""`agentctl demo`: all seven layers end to end against the local model server, then the
workspace it leaves behind, read with the ordinary commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, Cli, run_installed

from agentctl.demo.play import DUMMY_KEY, DemoClock, check_target, offline_env, play
from agentctl.errors import UsageError


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """One demo run through the CLI (`agentctl demo DIR --json`): the summary, the narration, the folder."""
    root = tmp_path_factory.mktemp("demo") / "agentctl-demo"
    res = Cli(None)("demo", str(root), "--json")
    assert res.exit_code == 0, res.stderr
    return res.json(), res.stderr, root


def records(root: Path) -> list[dict]:
    out = []
    for path in sorted((root / "logs" / "runs").glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def tasks(root: Path) -> dict[str, dict]:
    return {t["taskId"]: t for t in json.loads((root / "tasks.json").read_text())["tasks"]}


def test_narration_says_it_is_offline_and_covers_every_layer(demo):
    summary, narration, _ = demo
    assert "scripted offline stand-in" in narration and "No API key, no network" in narration
    for n in range(1, 8):
        assert f"Layer {n} ·" in narration
    assert "✓" in narration and "✗" in narration and "exit 75" in narration
    assert summary["offline"] is True and summary["durationS"] < 60
    assert all(s["exitCode"] == s["expected"] for s in summary["steps"])


def test_pipeline_goes_from_research_to_launch(demo):
    summary, _, root = demo
    by_phase = {t["phase"]: t for t in tasks(root).values() if t["title"].endswith(": AlphaNet")}
    assert [by_phase[p]["agent"] for p in ("research", "prd", "design", "code", "review", "qa", "launch")] == \
        ["rex", "pia", "vivi", "jack", "kai", "quinn", "leo"]
    assert all(t["status"] == "done" for t in by_phase.values())
    assert by_phase["prd"]["gate"] == "approved" and by_phase["qa"]["gate"] == "approved"
    events = [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines()]
    decisions = [e for e in events if e["change"] == "gateDecision"]
    assert [d["after"]["by"] for d in decisions] == ["demo-human", "demo-human"]
    assert summary["launch"]["status"] == "done"


def test_design_rejected_for_responsive_breakpoints_and_rework_saw_it(demo):
    summary, _, root = demo
    rej = summary["rejection"]
    assert rej["exitCode"] == 3 and rej["reworkSawRejection"] and rej["reworkExit"] == 0
    design = tasks(root)[rej["taskId"]]
    assert design["agent"] == "vivi" and design["status"] == "done"
    # refused twice: by vivi's own contract check when the run ended, then at the handoff by jack's side
    assert [r["by"] for r in design["rejections"]] == ["design contract", "jack"]
    for r in design["rejections"]:
        assert "responsive breakpoints" in r["summary"] and "responsiveBreakpoints" in r["missing"]
    assert rej["by"] == "jack" and rej["summary"] == "missing responsive breakpoints for screens < 768px"
    events = [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines()]
    assert any(e["taskId"] == rej["taskId"] and e["change"] == "blockedBy"
               and e["after"] == "jack — missing responsive breakpoints for screens < 768px" for e in events)
    assert any(r["status"] == "rejected" and r["agent"] == "vivi" for r in records(root))


def test_breaker_trips_refuses_without_a_model_call_and_recovers(demo):
    summary, _, root = demo
    b = summary["breaker"]
    assert b["tripped"] and b["refusedExit"] == 75 and b["refusedStatus"] == "skipped"
    assert b["recovered"] and b["state"] == "closed" and not b["modelCalledWhenOpen"]
    alerts = [json.loads(line) for line in (root / "logs" / "alerts.jsonl").read_text().splitlines()]
    kinds = [a["kind"] for a in alerts if a.get("data", {}).get("agent") == "jack"]
    assert kinds == ["breaker_tripped", "breaker_recovered"]
    jack = [r for r in records(root) if r["agent"] == "jack"]
    assert [r["status"] for r in jack] == ["failure"] * 3 + ["skipped"] + ["success"] * 3
    assert all(r["error"]["type"] == "RateLimited" for r in jack[:3])
    assert jack[3]["error"]["type"] == "BreakerOpen" and jack[3]["tokensIn"] == 0
    state = json.loads((root / "state" / "breakers.json").read_text())
    assert state["agents"]["jack"]["state"] == "closed" and state["agents"]["jack"]["trips"] == 1


def test_done_refused_by_the_failing_login_test_then_fixed(demo):
    summary, _, root = demo
    st = summary["selfTest"]
    assert st["exitCode"] == 4 and st["status"] == "selftest_failed" and st["fixedExit"] == 0
    assert st["failedRules"] == ["tests pass"] and st["failingTests"] == ["test_login_accepts_valid_password"]
    nico = [r for r in records(root) if r["agent"] == "nico"]
    assert [r["status"] for r in nico] == ["selftest_failed", "success"]
    assert nico[0]["selfTest"] == {"ok": False, "failed": ["tests pass"]}
    # the evidence stored on the task when done was refused (the registry keeps its history)
    events = [json.loads(line) for line in (root / "logs" / "events.jsonl").read_text().splitlines()]
    reports = [e["after"] for e in events if e["taskId"] == st["taskId"] and e["change"] == "selfTest"]
    assert not reports[0]["ok"] and reports[-1]["ok"]
    failed = next(r for r in reports[0]["results"] if not r["ok"])
    assert failed["name"] == "tests pass" and "FAIL: test_login_accepts_valid_password" in failed["outputTail"]
    assert tasks(root)[st["taskId"]]["selfTest"]["ok"] is True


def test_scorecard_flags_the_seo_agent_for_a_downgrade(demo):
    summary, _, root = demo
    res = Cli(root)("scorecard", "--days", "1", "--format", "json")
    assert res.exit_code == 0, res.stderr
    report = res.json()
    cand = next(c for c in report["downgradeCandidates"] if c["agent"] == "seo")
    assert (cand["fromTier"], cand["fromModel"]) == ("premium", "claude-opus-4-6")
    assert cand["toModel"] == "claude-sonnet-4-6" and cand["estimatedMonthlySavingUsd"] > 0
    seo = next(a for a in report["agents"] if a["agent"] == "seo")
    assert seo["runs"] >= 10 and seo["successRate"] == 1 and seo["costUsd"] > 0
    assert report["unknown"]["runs"] == 0
    assert summary["downgrade"]["agent"] == "seo"


def test_cron_run_is_attributed_to_its_job_and_agent(demo):
    summary, _, root = demo
    cron = [r for r in records(root) if r["trigger"] == "cron"]
    assert len(cron) == 1
    assert (cron[0]["job"], cron[0]["agent"], cron[0]["status"]) == ("morning-briefing", "briefing", "success")
    assert cron[0]["idempotencyKey"].startswith("morning-briefing:")
    assert summary["cron"]["runId"] == cron[0]["runId"]


def test_learn_wrote_regression_candidates(demo):
    summary, _, root = demo
    import yaml

    doc = yaml.safe_load((root / "memory" / "regressions.yaml").read_text())
    entries = doc["regressions"]
    assert entries and all(e["status"] == "candidate" for e in entries)
    sigs = " | ".join(e["signature"] for e in entries)
    assert "responsive breakpoints" in sigs and "jack" in sigs and "nico" in sigs
    assert len(summary["learn"]["newCandidates"]) == len(entries)


def test_ordinary_commands_work_on_the_workspace_left_behind(demo):
    _, _, root = demo
    cli = Cli(root)
    for args in (["status"], ["breaker", "list"], ["friction", "--days", "1"], ["agents", "validate"],
                 ["task", "list"], ["scorecard", "--days", "1"], ["regressions", "list"], ["cron", "list"]):
        res = cli(*args)
        assert res.exit_code == 0, (args, res.stderr)
    res = cli("blocked")
    assert res.exit_code == 0 and "chain:" in res.stdout and "waiting for the ChainSec audit report" in res.stdout
    blocked = cli("blocked", "--json").json()
    assert any(len(b["chains"][0]) == 2 for b in blocked)


def test_endpoints_untouched_and_no_key_written_anywhere(demo):
    summary, _, root = demo
    assert (root / "agentctl.yaml").read_bytes() == (REPO / "agentctl.yaml").read_bytes()
    assert summary["keysSeenByServer"] == [] and summary["modelRequests"] > 30
    for path in root.rglob("*"):
        if path.is_file():
            assert DUMMY_KEY.encode() not in path.read_bytes(), path


def test_refuses_an_existing_workspace_and_a_non_empty_folder(tmp_path, studio_ws):
    with pytest.raises(UsageError, match="already holds an agentctl workspace"):
        play(studio_ws, force=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="--force"):
        check_target(tmp_path / "busy", force=False)
    check_target(tmp_path / "busy", force=True)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_offline_env_drops_real_credentials_and_endpoints():
    env = offline_env("http://127.0.0.1:1", {"ANTHROPIC_API_KEY": "sk-real", "GITHUB_TOKEN": "ghp", "PATH": "/bin",
                                             "OPENAI_BASE_URL": "https://api.openai.com", "AGENTCTL_AGENT": "x"})
    assert env["ANTHROPIC_API_KEY"] == env["XAI_API_KEY"] == DUMMY_KEY and env["PATH"] == "/bin"
    assert "GITHUB_TOKEN" not in env and "OPENAI_BASE_URL" not in env and "AGENTCTL_AGENT" not in env
    assert env["AGENTCTL_MODEL_BASE_URL"] == "http://127.0.0.1:1"


def test_demo_clock_skips_waits_instead_of_sleeping():
    from datetime import UTC, datetime

    clock = DemoClock(datetime(2026, 1, 1, tzinfo=UTC))
    before = clock()
    clock.advance(300)
    assert (clock() - before).total_seconds() >= 300


def test_installed_cli_runs_the_demo(tmp_path):
    res = run_installed("demo", "show", cwd=tmp_path, timeout=120)
    assert res.exit_code == 0, res.stderr
    assert "scripted offline stand-in" in res.stdout and "Layer 7" in res.stdout
    assert (tmp_path / "show" / "tasks.json").is_file()
    again = run_installed("demo", "show", cwd=tmp_path)
    assert again.exit_code == 2 and "already holds an agentctl workspace" in again.stderr
