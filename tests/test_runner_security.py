"""Secrets never land in files or output; the CLI does not import the SDKs it does not need."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import run_installed

from agentctl.demo.server import Fail, Reply

KEY = "test-key-9f8e7d6c5b4a3928"


def everything_written(root) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("json_flag", [False, True])
def test_a_provider_echoing_the_key_never_leaks_it(llm_ws, json_flag):
    llm_ws.srv.add(Fail(401, echo_key=True))
    tid = llm_ws.task("leaky", agent="writer")
    env = dict(llm_ws.env, ANTHROPIC_API_KEY=KEY)
    res = run_installed("-w", str(llm_ws.root), "run", "writer", "--task", tid, *(["--json"] if json_flag else []),
                        env=env)
    assert res.exit_code == 1
    assert llm_ws.srv.requests[-1].api_key == KEY  # the key was really sent, and echoed back
    assert "invalid credentials" in res.stderr + res.stdout
    assert KEY not in res.stdout and KEY not in res.stderr
    assert KEY not in everything_written(llm_ws.root)
    assert "[REDACTED]" in llm_ws.records()[-1]["error"]["message"]


def test_a_key_in_an_oddly_named_variable_is_redacted_too(llm_ws):
    llm_ws.agent("vend", "name: vend\ntier: vendor\nprompt: p\n")  # api_key_env: VENDOR_CRED
    llm_ws.srv.add(Fail(403, echo_key=True))
    env = dict(llm_ws.env, VENDOR_CRED="plainvalue-without-a-known-shape")
    out = llm_ws.run("vend", prompt="x", env=env)
    assert out.exit_code == 1 and llm_ws.srv.requests[-1].api_key == "plainvalue-without-a-known-shape"
    assert "plainvalue-without-a-known-shape" not in out.message
    assert "plainvalue-without-a-known-shape" not in everything_written(llm_ws.root)


def test_a_model_echoing_a_key_into_its_artifact_is_redacted(llm_ws):
    llm_ws.srv.add(Reply(text=f"here is the key: {KEY}"))
    out = llm_ws.run("writer", prompt="x", env=dict(llm_ws.env, ANTHROPIC_API_KEY=KEY))
    assert out.exit_code == 0
    assert KEY not in everything_written(llm_ws.root)


@pytest.mark.parametrize("module", ["agentctl.cli.main", "agentctl.run.runner", "agentctl.cli.run"])
def test_importing_the_cli_loads_no_sdk(module):
    code = (f"import sys, {module}\n"
            "heavy = ('anthropic', 'openai', 'genai_prices', 'jsonschema', 'httpx2', 'httpx')\n"
            "print(','.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_command_agent_run_loads_no_llm_sdk(tmp_path):
    """`agentctl run` of a command agent never pays for the model SDKs."""
    from agentctl.workspace.templates import init_workspace

    root = tmp_path / "ws"
    init_workspace(root, "minimal", force=False)
    (root / "agents" / "probe.yaml").write_text(
        f"name: probe\nruntime: command\ncommand: [{sys.executable!r}, '-c', 'pass']\n")
    code = ("import sys\nfrom agentctl.cli.main import app\n"
            "try:\n    app(['-w', sys.argv[1], 'run', 'probe', '--prompt', 'x'])\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "print('LOADED:' + ','.join(m for m in ('anthropic', 'openai', 'genai_prices') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED:"
