"""Self-tests (SPEC §7): check rules, command rules (argv / sh -c, timeouts, redaction), `agentctl selftest`."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Cli, run_installed, write_agent

from agentctl.core.clock import iso
from agentctl.core.config import Check, SelfTestRule
from agentctl.selftests.jsonpath import parse, resolve
from agentctl.selftests.selftest import NoArtifact, evaluate_check, run_command, run_rule, run_self_tests
from agentctl.workspace.loader import Workspace

NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "artifacts"
DOC = {
    "sources": [{"url": "https://a"}], "competitors": ["a", "b"], "marketData": {"marketSize": "$4B", "growth": None},
    "testPlan": {"executed": True, "cases": 1}, "bugs": [{"severity": "minor"}, {"severity": "critical"}],
    "noBugs": [], "cta": "", "brokenLinks": [], "pr": "https://github.com/acme/x/pull/1",
}


# --- the path resolver -------------------------------------------------------------------

@pytest.mark.parametrize("path,want", [
    ("sources", [("sources", [{"url": "https://a"}])]),
    ("$.marketData.marketSize", [("marketData.marketSize", "$4B")]),
    ("sources[0].url", [("sources[0].url", "https://a")]),
    ("competitors[-1]", [("competitors[-1]", "b")]),
    ("bugs[*].severity", [("bugs[0].severity", "minor"), ("bugs[1].severity", "critical")]),
    ("$['testPlan'].executed", [("testPlan.executed", True)]),
    ("missing.deeper", []),
    ("competitors[5]", []),
    ("cta.length", []),
])
def test_resolve(path, want):
    assert resolve(DOC, path) == want


@pytest.mark.parametrize("bad", ["a..b", "a[", "a[x]", "a]b"])
def test_bad_paths_raise(bad):
    with pytest.raises(ValueError, match="position"):
        parse(bad)


# --- check rules ------------------------------------------------------------------------

CHECKS = [
    # (check, passes, text found in outputTail)
    ({"path": "sources", "exists": True}, True, "sources exists"),
    ({"path": "reviewer", "exists": True}, False, "reviewer: not found"),
    ({"path": "marketData.growth", "exists": True}, False, "marketData.growth is null"),
    ({"path": "reviewer", "exists": False}, True, "absent"),
    ({"path": "sources", "exists": False}, False, "expected it absent"),
    ({"path": "sources"}, True, "exists"),
    ({"path": "sources", "min_items": 1}, True, "sources has 1 items (≥ 1)"),
    ({"path": "competitors", "min_items": 3}, False, "competitors has 2 items, need ≥ 3"),
    ({"path": "marketData.marketSize", "min_items": 10}, False, "has 3 items, need ≥ 10"),
    ({"path": "testPlan.cases", "min_items": 1}, False, "testPlan.cases is 1, not a list"),
    ({"path": "missing", "min_items": 1}, False, "missing: not found"),
    ({"path": "testPlan.executed", "equals": True}, True, "testPlan.executed is true"),
    ({"path": "testPlan.executed", "equals": False}, False, "testPlan.executed is true, expected false"),
    ({"path": "testPlan.cases", "equals": True}, False, "expected true"),  # 1 is not true
    ({"path": "brokenLinks", "equals": []}, True, "brokenLinks is []"),
    ({"path": "marketData.growth", "equals": None}, True, "is null"),
    ({"path": "pr", "matches": "^https?://"}, True, "pr matches"),
    ({"path": "cta", "matches": r"\S"}, False, "cta is \"\", which does not match '\\S'"),
    ({"path": "bugs[*].severity", "matches": "^(minor|trivial)$"}, False, "bugs[1].severity is \"critical\""),
    ({"path": "bugs[*].severity", "exists": True}, True, "(2 values)"),
    ({"path": "noBugs[*].severity", "matches": "^(minor|trivial)$"}, True, "none fails"),
    ({"path": "missing[*].severity", "matches": "x"}, False, "not found"),
    ({"path": "pr", "matches": "("}, False, "bad regular expression"),
    ({"path": "a..b", "exists": True}, False, "bad path"),
]


@pytest.mark.parametrize("spec,passes,text", CHECKS, ids=[f"{c[0]}" for c in CHECKS])
def test_check(spec, passes, text):
    ok, found = evaluate_check(Check.model_validate(spec), DOC)
    assert ok is passes and text in found, found


def test_check_without_an_artifact_fails_with_the_reason(tmp_path):
    rule = SelfTestRule(name="sources cited", check=Check(path="sources", min_items=1))
    res = run_rule(rule, NoArtifact("artifacts/T-1/research.json does not exist"), cwd=tmp_path, env={})
    assert not res.ok and res.exitCode is None and "artifacts/T-1/research.json does not exist" in res.outputTail


def test_studio_research_role_passes_the_valid_fixture(studio_ws):
    w = Workspace(studio_ws)
    artifact = json.loads((FIXTURES / "research.valid.json").read_text())
    report = run_self_tests(w, w.agent("rex"), artifact, "T-1", NOW)
    assert report.ok and report.at == iso(NOW)
    assert [r.name for r in report.results] == ["sources cited", "at least three competitors", "market size estimated"]
    artifact["competitors"] = artifact["competitors"][:2]
    failed = [r for r in run_self_tests(w, w.agent("rex"), artifact, "T-1", NOW).results if not r.ok]
    assert [(r.name, r.outputTail) for r in failed] == [("at least three competitors", "competitors has 2 items, need ≥ 3")]


# --- command rules ------------------------------------------------------------------------

def cmd(run, tmp_path: Path, timeout: float = 30, env: dict[str, str] | None = None):
    return run_command("rule", run, timeout, cwd=tmp_path, env={"PATH": os.environ["PATH"], **(env or {})})


def test_argv_runs_without_a_shell(tmp_path):
    res = cmd(["echo", "$HOME", ";", "false"], tmp_path)
    assert res.ok and res.exitCode == 0 and res.outputTail == "$HOME ; false\n"


def test_a_string_runs_with_sh_and_task_data_comes_only_from_env(tmp_path):
    res = cmd('echo "task=$AGENTCTL_TASK" | tr a-z A-Z; exit 3', tmp_path, env={"AGENTCTL_TASK": "T-7"})
    assert not res.ok and res.exitCode == 3 and res.outputTail == "TASK=T-7\n"


def test_cwd_is_the_workspace_and_stderr_is_captured(tmp_path):
    res = cmd([sys.executable, "-c", "import os, sys; print(os.getcwd()); sys.exit('boom on stderr')"], tmp_path)
    assert res.exitCode == 1 and str(tmp_path) in res.outputTail and "boom on stderr" in res.outputTail


def test_missing_executable_is_a_failed_rule(tmp_path):
    res = cmd(["agentctl-no-such-tool", "build"], tmp_path)
    assert not res.ok and res.exitCode == 127 and "command not found: 'agentctl-no-such-tool'" in res.outputTail


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs once SIGKILL has had time to land (a zombie left for init is dead)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z" or time.monotonic() > deadline:
            return state != "Z"
        time.sleep(0.01)  # a killed process takes a moment to die; this waits on it, not on a clock


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_timeout_kills_the_whole_process_group(tmp_path):
    start = time.monotonic()
    res = cmd("sleep 30 & echo $! > bg.pid; echo started; sleep 30", tmp_path, timeout=0.5)
    elapsed = time.monotonic() - start
    assert elapsed < 10
    assert not res.ok and res.exitCode is None
    assert res.outputTail.startswith("started\n") and "timed out after 0.5s" in res.outputTail
    assert not _alive(int((tmp_path / "bg.pid").read_text()))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_what_a_passing_rule_leaves_running_is_killed(tmp_path):
    res = cmd("sleep 30 & echo $! > bg.pid; echo done", tmp_path, timeout=20)
    assert res.ok and res.outputTail == "done\n" and res.durationS < 10  # not held by the background sleep
    assert not _alive(int((tmp_path / "bg.pid").read_text()))


def test_secrets_in_output_are_redacted_and_the_tail_is_short(tmp_path):
    secret = "s3cr3t-value-0123456789"
    script = ("import os; print('x' * 5000); print('key', os.environ['DEPLOY_TOKEN']); "
              "print('anthropic sk-ant-api03-abcdefghijklmnop'); print('Authorization: Bearer abcdefghijkl123')")
    res = cmd([sys.executable, "-c", script], tmp_path, env={"DEPLOY_TOKEN": secret})
    assert res.ok and len(res.outputTail) <= 2000
    assert secret not in res.outputTail and "sk-ant-api03" not in res.outputTail and "abcdefghijkl123" not in res.outputTail
    assert res.outputTail.count("[REDACTED]") >= 3


def test_run_self_tests_passes_task_data_through_env(minimal_ws):
    write_agent(minimal_ws, "env", """\
name: env
role: ops
runtime: command
command: ["true"]
produces: report
self_tests:
  - name: env
    run: 'printf "%s|%s|%s|%s" "$AGENTCTL_AGENT" "$AGENTCTL_TASK" "$AGENTCTL_OUTPUT" "$AGENTCTL_WORKSPACE"'
""")
    w = Workspace(minimal_ws)
    report = run_self_tests(w, w.agent("env"), {}, "T-3", NOW, env={"PATH": os.environ["PATH"], "AGENTCTL_INPUT": "x"})
    assert report.ok
    root = str(minimal_ws)
    assert report.results[0].outputTail == f"env|T-3|{root}/artifacts/T-3/report.json|{root}"


# --- `agentctl selftest ID`: the seed's backend agent whose "done" a failing test refuses -------

BACKEND = """\
name: backend
team: product
role: code
runtime: command
command: ["true"]
produces: code
self_tests:
  - name: tests pass
    run: [{python}, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests_project"]
    timeout_s: 120
  - name: names a PR
    check: {{path: pr, matches: '^https?://'}}
"""
BROKEN = "def login(user, password):\n    return None\n"
FIXED = "def login(user, password):\n    return {'user': user}\n"
TEST = ("from auth import login\n\n\ndef test_signup():\n    assert True\n\n\n"
        "def test_login():\n    assert login('ada', 'pw') is not None\n")


@pytest.fixture
def project(minimal_ws: Path) -> Path:
    (minimal_ws / "tests_project").mkdir()
    (minimal_ws / "tests_project" / "conftest.py").write_text(
        "import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n")
    (minimal_ws / "tests_project" / "auth.py").write_text(BROKEN)
    (minimal_ws / "tests_project" / "test_auth.py").write_text(TEST)
    write_agent(minimal_ws, "backend", BACKEND.format(python=json.dumps(sys.executable)))
    artifact = minimal_ws / "artifacts" / "T-1" / "code.json"
    artifact.parent.mkdir(parents=True)
    artifact.write_text(json.dumps({"pr": "https://github.com/acme/alphanet/pull/7"}))
    cli = Cli(minimal_ws)
    assert cli("task", "add", "--title", "Login API", "--agent", "backend").stdout.strip() == "T-1"
    return minimal_ws


def test_selftest_refuses_done_until_the_project_is_fixed(project):
    res = run_installed("-w", str(project), "selftest", "T-1", env={"AGENTCTL_NOW": iso(NOW)})
    assert res.exit_code == 4, res.stderr
    assert "FAIL tests pass" in res.stdout and "test_login" in res.stdout
    assert "T-1: 1 of 2 self-test(s) failed: tests pass" in res.stderr

    cli = Cli(project)
    task = cli("task", "show", "T-1", "--json").json()
    st = task["selfTest"]
    assert st["ok"] is False and st["at"] == iso(NOW)
    tests_rule, pr_rule = st["results"]
    assert tests_rule["name"] == "tests pass" and not tests_rule["ok"] and tests_rule["exitCode"] == 1
    assert "test_login" in tests_rule["outputTail"] and "1 failed, 1 passed" in tests_rule["outputTail"]
    assert pr_rule == {**pr_rule, "name": "names a PR", "ok": True, "exitCode": None}
    events = [json.loads(x) for x in (project / "logs" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["change"] == "selfTest" and events[-1]["before"] is None and events[-1]["after"] == st

    (project / "tests_project" / "auth.py").write_text(FIXED)
    res = cli("selftest", "T-1", "--json", env={"AGENTCTL_NOW": "2026-11-26T10:10:00Z"})
    assert res.exit_code == 0, res.stderr
    out = res.json()
    assert out["ok"] and out["taskId"] == "T-1" and out["agent"] == "backend"
    assert "2 passed" in out["results"][0]["outputTail"]
    assert cli("task", "show", "T-1", "--json").json()["selfTest"]["ok"] is True


def test_selftest_json_on_failure_is_only_json_and_exits_4(project):
    res = Cli(project)("selftest", "T-1", "--json")
    assert res.exit_code == 4
    assert res.json()["ok"] is False and "self-test(s) failed" in res.stderr


def test_selftest_uses_the_task_output_when_set(project):
    (project / "elsewhere.json").write_text(json.dumps({"pr": "not a url"}))
    (project / "tests_project" / "auth.py").write_text(FIXED)
    cli = Cli(project)
    cli("task", "update", "T-1", "--set", "output=elsewhere.json")
    res = cli("selftest", "T-1", "--json")
    assert res.exit_code == 4
    assert res.json()["results"][1]["outputTail"] == 'pr is "not a url", which does not match \'^https?://\''


def test_selftest_missing_artifact_fails_the_checks_only(project):
    (project / "artifacts" / "T-1" / "code.json").unlink()
    (project / "tests_project" / "auth.py").write_text(FIXED)
    res = Cli(project)("selftest", "T-1", "--json")
    assert res.exit_code == 4
    tests_rule, pr_rule = res.json()["results"]
    assert tests_rule["ok"] and not pr_rule["ok"] and "artifacts/T-1/code.json does not exist" in pr_rule["outputTail"]


def test_selftest_usage_errors(minimal_ws):
    cli = Cli(minimal_ws)
    res = cli("selftest", "T-404")
    assert res.exit_code == 2 and "unknown task 'T-404'" in res.stderr
    cli("task", "add", "--title", "orphan")
    res = cli("selftest", "T-1")
    assert res.exit_code == 2 and "has no agent" in res.stderr
    write_agent(minimal_ws, "plain", "name: plain\nruntime: command\ncommand: ['true']\n")
    cli("task", "add", "--title", "plain work", "--agent", "plain")
    res = cli("selftest", "T-2")
    assert res.exit_code == 0 and "has no self-tests" in res.stdout
