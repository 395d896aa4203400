"""`runtime: command` agents: argv only, environment, prompt file, timeouts, output."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

from agentctl.storage.files.inflight import pid_alive

PY = sys.executable


def command_agent(llm_ws, name: str, code: str, *, produces: str | None = None, timeout_s: float = 30,
                  extra: str = "") -> None:
    body = {"name": name, "team": "ops", "role": "ops", "runtime": "command", "command": [PY, "-c", code],
            "timeout_s": timeout_s, "prompt": f"You are {name}."}
    if produces:
        body["produces"] = produces
    llm_ws.agent(name, yaml.safe_dump(body) + extra)


ENV_DUMP = """
import json, os, sys
keys = ["AGENTCTL_AGENT", "AGENTCTL_TASK", "AGENTCTL_INPUT", "AGENTCTL_OUTPUT", "AGENTCTL_PROMPT_FILE", "AGENTCTL_WORKSPACE"]
out = {k: os.environ.get(k) for k in keys}
out["cwd"] = os.getcwd()
out["argv"] = sys.argv
out["prompt"] = open(os.environ["AGENTCTL_PROMPT_FILE"]).read()
out["input"] = open(os.environ["AGENTCTL_INPUT"]).read() if os.environ["AGENTCTL_INPUT"] else None
json.dump(out, open(os.environ["AGENTCTL_OUTPUT"], "w"))
"""


def test_command_gets_its_environment_and_prompt_file(llm_ws):
    command_agent(llm_ws, "probe", ENV_DUMP)
    llm_ws.write_json("inputs/brief.json", {"topic": "disk"})
    tid = llm_ws.task("Check the disks", agent="probe", input="inputs/brief.json")
    out = llm_ws.run("probe", task=tid, prompt="be quick")
    assert out.exit_code == 0, out.message
    art = json.loads((llm_ws.root / out.record.output).read_text())
    root = str(llm_ws.root)
    assert art["AGENTCTL_AGENT"] == "probe" and art["AGENTCTL_TASK"] == tid
    assert art["AGENTCTL_WORKSPACE"] == root and art["cwd"] == root
    assert art["AGENTCTL_INPUT"] == str(llm_ws.root / "inputs" / "brief.json")
    assert json.loads(art["input"]) == {"topic": "disk"}
    staged = Path(art["AGENTCTL_OUTPUT"]).parent  # a private folder, gone after the run
    assert staged.parent == llm_ws.root / ".agentctl" / "staging" and not staged.exists()
    assert "Check the disks" in art["prompt"] and "be quick" in art["prompt"] and "You are probe." in art["prompt"]
    # no `usage:`: nothing is known about its cost — null (unpriced), never 0 (SPEC §5)
    assert out.record.provider == "command" and out.record.costUsd is None and out.record.costSource is None
    assert llm_ws.get_task(tid).status == "done"
    assert not list((llm_ws.root / "artifacts" / tid).glob(".*.json"))  # staging file cleaned up


def test_prompt_file_carries_rejection_and_regressions(llm_ws):
    command_agent(llm_ws, "probe", ENV_DUMP)
    tid = llm_ws.task("Redo it", agent="probe")
    from agentctl.core.clock import iso, utcnow
    from agentctl.core.records import Rejection, RejectionError

    ws = llm_ws.ws()
    with ws.storage.registry.transaction("test", iso(utcnow())) as tx:
        t = tx.find(tid)
        t.rejections = [Rejection(at=iso(utcnow()), by="jack", missing=["responsiveBreakpoints"],
                                  errors=[RejectionError(path="$", message="missing mobile")], summary="no mobile")]
        t.status = "rejected"
        tx.log(tid, "rejection", None, "x")
    (llm_ws.root / "memory").mkdir(exist_ok=True)
    (llm_ws.root / "memory" / "regressions.yaml").write_text(
        "version: 1\nregressions:\n  - {id: REG-001, role: ops, signature: s, rule: 'Never skip the mobile view.', "
        "count: 3, firstSeen: '2026-01-01T00:00:00Z', lastSeen: '2026-01-01T00:00:00Z', status: active}\n")
    out = llm_ws.run("probe", task=tid)
    assert out.exit_code == 0, out.message
    prompt = json.loads((llm_ws.root / out.record.output).read_text())["prompt"]
    assert "responsiveBreakpoints" in prompt and "no mobile" in prompt
    assert "Never skip the mobile view." in prompt


def test_hostile_task_text_never_reaches_a_shell(llm_ws, tmp_path):
    marker = tmp_path / "pwned"
    hostile = f"x; touch {marker}; $(touch {marker}2) `touch {marker}3` && rm -rf {llm_ws.root}"
    command_agent(llm_ws, "probe", ENV_DUMP)
    tid = llm_ws.task(hostile, agent="probe")
    out = llm_ws.run("probe", task=tid, prompt=f"$(touch {marker}4)")
    assert out.exit_code == 0, out.message
    art = json.loads((llm_ws.root / out.record.output).read_text())
    assert art["argv"] == ["-c"]  # exactly the configured argv: nothing appended, nothing interpolated
    assert hostile in art["prompt"]  # the text travels in a file, verbatim
    assert not list(tmp_path.glob("pwned*"))
    assert (llm_ws.root / "agentctl.yaml").exists()


def test_timeout_kills_the_whole_process_group(llm_ws, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    code = (f"import subprocess, sys, time\n"
            f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
            f"time.sleep(60)\n")
    command_agent(llm_ws, "sleeper", code, timeout_s=0.5)
    tid = llm_ws.task("sleep", agent="sleeper")
    t0 = time.monotonic()
    out = llm_ws.run("sleeper", task=tid)
    assert time.monotonic() - t0 < 5
    assert out.exit_code == 1 and out.record.error.type == "Timeout"
    assert "process group was killed" in out.record.error.message
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.02)
    assert not pid_alive(pid), "the grandchild outlived the run"
    assert llm_ws.get_task(tid).status == "in_progress"




def test_failing_command_is_exit_1_with_a_redacted_tail(llm_ws):
    secret = "hunter2-very-secret-value"
    # the agent lists DEPLOY_TOKEN under env: (else it would not receive it) and leaks it on failure
    command_agent(llm_ws, "bad", "import os, sys; print('boom, token', os.environ['DEPLOY_TOKEN']); sys.exit(2)",
                  extra="env: [DEPLOY_TOKEN]\n")
    tid = llm_ws.task("fail", agent="bad")
    out = llm_ws.run("bad", task=tid, env=dict(llm_ws.env, DEPLOY_TOKEN=secret))
    assert out.exit_code == 1
    err = out.record.error
    assert err.type == "CommandFailed" and "exited 2" in err.message and "boom" in err.message
    assert secret not in err.message and secret not in out.message
    log = (llm_ws.root / "artifacts" / tid / "bad.log").read_text()
    assert "boom" in log and secret not in log
    assert secret not in (llm_ws.root / "logs" / "runs").joinpath(f"{out.record.startedAt[:10]}.jsonl").read_text()


def test_command_output_is_validated_against_produces(llm_ws):
    command_agent(llm_ws, "coder2", "import json, os; json.dump({'pr': 'not a url'}, open(os.environ['AGENTCTL_OUTPUT'], 'w'))",
                  produces="code")
    tid = llm_ws.task("code", agent="coder2")
    out = llm_ws.run("coder2", task=tid)
    assert out.exit_code == 3 and out.record.status == "rejected"
    assert llm_ws.get_task(tid).status == "rejected"
    command_agent(llm_ws, "coder3", "pass", produces="code")
    out = llm_ws.run("coder3", prompt="x")
    assert out.exit_code == 3 and "wrote no artifact" in out.message
    command_agent(llm_ws, "coder4", "import os; open(os.environ['AGENTCTL_OUTPUT'], 'w').write('{nope')",
                  produces="code")
    assert llm_ws.run("coder4", prompt="x").exit_code == 3


def test_missing_executable_is_a_failure(llm_ws):
    llm_ws.agent("ghost", "name: ghost\nruntime: command\ncommand: [/nonexistent/agent-binary]\n")
    out = llm_ws.run("ghost", prompt="x")
    assert out.exit_code == 1 and out.record.error.type == "CommandNotStarted"


def test_studio_sentinel_runs_through_the_installed_cli(tmp_path):
    from conftest import run_installed

    root = tmp_path / "studio"
    assert run_installed("init", str(root)).exit_code == 0
    res = run_installed("-w", str(root), "run", "sentinel", "--prompt", "check", "--json")
    assert res.exit_code == 0, res.stderr
    rec = res.json()
    assert rec["status"] == "success" and rec["provider"] == "command"
    art = json.loads((root / rec["output"]).read_text())
    assert art["ok"] is True and 0 <= art["diskUsedPct"] <= 100
