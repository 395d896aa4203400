"""The command-agent protocol (SPEC §5): exit codes 0/1/3/75, an agent blocking its own task,
`stdin: prompt`, the placeholders, $AGENTCTL_SCHEMA and the prompt file — and the secrets rule:
a command agent and its self-tests see none of the environment's keys unless listed in `env:`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Cli, run_installed

PY = sys.executable
NOTE = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["summary"],
        "properties": {"summary": {"type": "string", "minLength": 1}}}
FAKE_KEYS = {"ANTHROPIC_API_KEY": "sk-ant-api03-fakefakefakefakefake", "OPENAI_API_KEY": "sk-proj-fakefakefakefake0123",
             "GITHUB_TOKEN": "ghp_fakefakefakefakefakefake0123", "STRIPE_SECRET": "whsec_fake_fake_fake",
             "DB_PASSWORD": "hunter2-fake-password", "AWS_SECRET_ACCESS_KEY": "fakeAWSsecretKEYfake",
             "PLAIN_BUT_SHAPED": "sk-ant-api03-shapedshapedshaped", "DATABASE_URL": "postgres://app:s3cret@db/app",
             "MY_CRED": "vendor-cred-value-1234"}
DUMP = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"


@pytest.fixture
def ws(minimal_ws: Path) -> Path:
    (minimal_ws / "schemas" / "note.json").write_text(json.dumps(NOTE))
    return minimal_ws


def agent(root: Path, name: str, command: list[str], **extra) -> None:
    (root / "agents" / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, "runtime": "command",
                                                                 "command": command, **extra}))


def script(root: Path, name: str, body: str) -> str:
    path = root / f"{name}.py"
    path.write_text(body)
    return str(path)


def run_task(root: Path, name: str, env: dict | None = None) -> tuple[int, str, dict]:
    cli = Cli(root)
    tid = cli("task", "add", "--title", "t", "--agent", name).stdout.strip()
    res = cli("run", name, "--task", tid, "--json", env=env)
    return res.exit_code, tid, json.loads(res.stdout)


def show(root: Path, tid: str) -> dict:
    return Cli(root)("task", "show", tid, "--json").json()


def test_exit_3_is_the_agents_own_invalid_output(ws: Path) -> None:
    agent(ws, "a", [PY, "-c", "import sys; print('my output is wrong'); sys.exit(3)"], produces="note")
    code, tid, rec = run_task(ws, "a")
    assert code == 3 and rec["status"] == "rejected"
    task = show(ws, tid)
    assert task["status"] == "rejected" and "exit 3" in task["rejections"][-1]["errors"][0]["message"]


def test_exit_75_is_try_later_and_counts_for_the_breaker(ws: Path) -> None:
    agent(ws, "busy", [PY, "-c", "import sys; print('overloaded, later please'); sys.exit(75)"],
          breaker={"threshold": 2, "window_s": 600, "cooldown_s": 600})
    code, tid, rec = run_task(ws, "busy")
    assert code == 75 and rec["status"] == "failure" and rec["error"]["type"] == "RateLimited"
    assert "later please" in rec["error"]["message"] and show(ws, tid)["status"] == "in_progress"
    assert Cli(ws)("run", "busy", "--task", tid).exit_code == 75
    assert Cli(ws)("breaker", "show", "busy", "--json").json()["state"] == "open"


def test_exit_75_is_never_an_idempotency_result(ws: Path) -> None:
    flag = ws / "flag"
    code = f"import pathlib, sys; p = pathlib.Path({str(flag)!r}); sys.exit(0 if p.exists() else (p.touch() or 75))"
    agent(ws, "flaky", [PY, "-c", code], prompt="go")
    cli = Cli(ws)
    assert cli("run", "flaky", "--prompt", "go", "--idempotency-key", "k1").exit_code == 75
    res = cli("run", "flaky", "--prompt", "go", "--idempotency-key", "k1", "--json")
    assert res.exit_code == 0 and res.json()["status"] == "success"  # ran again, not a duplicate of the 75


def test_exit_1_is_failed(ws: Path) -> None:
    agent(ws, "a", [PY, "-c", "import sys; sys.exit(1)"])
    code, _, rec = run_task(ws, "a")
    assert code == 1 and rec["error"]["type"] == "CommandFailed"


def test_an_agent_that_blocks_its_task_leaves_it_blocked(ws: Path) -> None:
    body = ("import os, subprocess, sys\n"
            "subprocess.run([sys.executable, '-m', 'agentctl', 'task', 'block', os.environ['AGENTCTL_TASK'],"
            " '--by', 'vivi — missing responsive breakpoints'], check=True)\n")
    agent(ws, "jack", [PY, script(ws, "blocker", body)], produces="note")
    code, tid, rec = run_task(ws, "jack")
    assert code == 0 and rec["status"] == "success"
    task = show(ws, tid)
    assert task["status"] == "blocked" and task["blockedBy"] == "vivi — missing responsive breakpoints"
    assert task["output"] is None


def test_stdin_prompt_placeholders_schema_and_prompt_file(ws: Path) -> None:
    body = ("import json, os, sys\n"
            "out = {'argv': sys.argv[1:], 'stdin': sys.stdin.read(), 'schema_env': os.environ['AGENTCTL_SCHEMA']}\n"
            "out['schema'] = json.load(open(os.environ['AGENTCTL_SCHEMA']))\n"
            "json.dump({'summary': json.dumps(out)}, open(sys.argv[2], 'w'))\n")
    cmd = [PY, script(ws, "probe", body), "{prompt_file}", "{output}", "{schema_file}", "{workspace}", "{input}",
           "--literal={not_a_placeholder}"]
    agent(ws, "probe", cmd, produces="note", stdin="prompt", prompt="Summarise the task.")
    cli = Cli(ws)
    (ws / "in.json").write_text("{}")
    tid = cli("task", "add", "--title", "Rotate `rm -rf ~` $(whoami) {output}", "--agent", "probe",
              "--input", "in.json").stdout.strip()
    res = cli("run", "probe", "--task", tid, "--json")
    assert res.exit_code == 0, res.stderr
    seen = json.loads(json.loads((ws / "artifacts" / tid / "note.json").read_text())["summary"])
    prompt_file, output, schema_file, workspace, inp, literal = seen["argv"]
    assert Path(prompt_file) == ws / "artifacts" / tid / "probe.prompt.md"
    assert Path(output).parent.parent == ws / ".agentctl" / "staging"  # the raw artifact is staged privately
    assert Path(workspace) == ws and Path(inp) == ws / "in.json"
    assert schema_file == seen["schema_env"] and seen["schema"]["required"] == ["summary"]
    assert literal == "--literal={not_a_placeholder}"
    assert "Summarise the task." in seen["stdin"] and "Rotate" in seen["stdin"]  # the prompt, on stdin
    assert schema_file in seen["stdin"] and "$AGENTCTL_OUTPUT" in seen["stdin"]  # it names both files
    assert not any("whoami" in a or "rm -rf" in a for a in seen["argv"])  # task text never on the command line


def test_schema_placeholder_needs_produces(ws: Path) -> None:
    agent(ws, "bad", [PY, "x.py", "{schema_file}"])
    res = Cli(ws)("agents", "validate")
    assert res.exit_code == 78 and "schema_file" in (res.stdout + res.stderr)


# --- secrets ---------------------------------------------------------------------------

def tiers_with_vendor_key(root: Path) -> None:
    cfg = yaml.safe_load((root / "agentctl.yaml").read_text()) or {}
    cfg["tiers"] = {"vendor": {"provider": "openai", "model": "m", "api_key_env": "MY_CRED"}}
    (root / "agentctl.yaml").write_text(yaml.safe_dump(cfg))


def test_command_agent_and_self_test_see_no_keys_unless_listed(ws: Path, tmp_path: Path) -> None:
    tiers_with_vendor_key(ws)
    agent_dump, test_dump, listed_dump = tmp_path / "agent.json", tmp_path / "test.json", tmp_path / "listed.json"
    agent(ws, "dumper", [PY, "-c", DUMP, str(agent_dump)],
          self_tests=[{"name": "dump", "run": [PY, "-c", DUMP, str(test_dump)]}])
    agent(ws, "lister", [PY, "-c", DUMP, str(listed_dump)], env=["GITHUB_TOKEN", "MY_CRED"])
    env = {**FAKE_KEYS, "HARMLESS_SETTING": "blue"}
    assert run_task(ws, "dumper", env)[0] == 0
    assert run_task(ws, "lister", env)[0] == 0
    for dump in (agent_dump, test_dump):
        seen = json.loads(dump.read_text())
        leaked = [k for k, v in FAKE_KEYS.items() if k in seen or v in seen.values()]
        assert not leaked, (dump.name, leaked)
        assert seen["HARMLESS_SETTING"] == "blue" and seen["PATH"] and seen["AGENTCTL_AGENT"] == "dumper"
    listed = json.loads(listed_dump.read_text())
    assert listed["GITHUB_TOKEN"] == FAKE_KEYS["GITHUB_TOKEN"] and listed["MY_CRED"] == FAKE_KEYS["MY_CRED"]
    assert "ANTHROPIC_API_KEY" not in listed and "DB_PASSWORD" not in listed


def test_installed_cli_filters_the_environment_too(ws: Path, tmp_path: Path) -> None:
    dump = tmp_path / "env.json"
    tiers_with_vendor_key(ws)  # MY_CRED is a tier's key: not secret by its name, but agentctl's own
    agent(ws, "dumper", [PY, "-c", DUMP, str(dump)], prompt="go")
    res = run_installed("-w", str(ws), "run", "dumper", "--prompt", "go", env={**FAKE_KEYS, "PATH": os.environ["PATH"]})
    assert res.exit_code == 0, res.stderr
    seen = json.loads(dump.read_text())
    assert not [k for k in FAKE_KEYS if k in seen]


def test_agent_env_rule_is_a_pure_function() -> None:
    from agentctl.providers.agent_env import agent_env

    source = {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "AGENTCTL_NOW": "2026-01-01T00:00:00Z",
              "AGENTCTL_PG_DSN": "postgres://u:p@h/db", "X_TOKEN": "t" * 12, "SHAPE": "AKIAIOSFODNN7EXAMPLE",
              "TIER": "tier-value", "EDITOR": "vi"}
    env = agent_env(source, ["X_TOKEN"], secret_values=["tier-value"], extra={"AGENTCTL_TASK": "T-1"})
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "AGENTCTL_NOW": "2026-01-01T00:00:00Z",
                   "X_TOKEN": "t" * 12, "EDITOR": "vi", "AGENTCTL_TASK": "T-1"}
    assert source["TIER"] == "tier-value"  # the source is not touched
