"""Secrets never land in anything agentctl writes or prints (SPEC §5).

Values of variables named *_KEY / *_TOKEN / *_SECRET, and known key shapes (sk-…, sk-ant-…,
bearer tokens, AKIA…) are redacted from run records, command output tails, self-test
output, artifacts, alerts, events, tasks.json and error messages — even when an agent
prints them. After each scenario the whole workspace tree and the captured stdout/stderr
are scanned for every secret.

Decision on task text (titles, notes, blockedBy — user data): agentctl stores and logs it
with known key shapes and the values of secret-named variables masked. A key pasted into
a title would otherwise be copied into tasks.json, events.jsonl, every prompt sent to a
model provider and every alert; a rejection message quoting a model's output goes the
same way. (tests/test_runner_security.py covers providers echoing their key.)

Checked once by hand: without the registry's redaction the title and rejection scenarios
find the keys in tasks.json and logs/events.jsonl.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import Cli
from fixtures_reliability import make_rel_ws, scan_tree

NAMED = {"MY_SERVICE_TOKEN": "tok-plain-value-4f1c9a", "DB_PASSWORD": "hunter2-but-longer",
         "PAYMENT_SECRET": "whsec_9c8b7a6d5e4f", "VENDOR_API_KEY": "plain-vendor-key-7788"}
SHAPED = {"LEAK_A": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", "LEAK_B": "sk-proj-0123456789abcdefABCDEF",
          "LEAK_C": "AKIAIOSFODNN7EXAMPLE", "LEAK_D": "ghp_abcdefghijklmnopqrstuvwxyz0123"}
BEARER = "eyJhbGciOiJIUzI1NiJ9.payload.sig"
SECRETS = [*NAMED.values(), *SHAPED.values(), BEARER]
ENV = {**NAMED, **SHAPED, "LEAK_BEARER": BEARER}

PRINT_ALL = ('echo "token=$MY_SERVICE_TOKEN pw $DB_PASSWORD $PAYMENT_SECRET $VENDOR_API_KEY"; '
             'echo "$LEAK_A $LEAK_B $LEAK_C $LEAK_D" >&2; echo "Authorization: Bearer $LEAK_BEARER"')
LEAKY_ARTIFACT = (PRINT_ALL + '; printf \'{"sources": "%s", "notes": "%s %s", "auth": "Bearer %s"}\' '
                  '"$LEAK_A" "$MY_SERVICE_TOKEN" "$LEAK_C" "$LEAK_BEARER" > "$AGENTCTL_OUTPUT"')
THING = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["sources"],
         "properties": {"sources": {"type": "string", "pattern": "^https://"}}}


@pytest.fixture
def leaky_ws(tmp_path: Path) -> Path:
    # the agents list the secrets under env: (SPEC §5), so they receive them and their output must be redacted
    listed = sorted(ENV)
    agents = {
        "leaky": {"name": "leaky", "runtime": "command", "command": ["sh", "-c", LEAKY_ARTIFACT], "env": listed},
        "leaky-fail": {"name": "leaky-fail", "runtime": "command", "command": ["sh", "-c", PRINT_ALL + "; exit 2"],
                       "env": listed},
        "leaky-thing": {"name": "leaky-thing", "runtime": "command", "command": ["sh", "-c", LEAKY_ARTIFACT],
                        "produces": "thing", "env": listed},
        "leaky-tests": {"name": "leaky-tests", "runtime": "command", "command": ["sh", "-c", LEAKY_ARTIFACT],
                        "env": listed,
                        "self_tests": [{"name": "prints the key", "run": PRINT_ALL + "; exit 1"},
                                       {"name": "argv prints it", "run": ["sh", "-c", PRINT_ALL + "; exit 1"]}]},
    }
    cron = [{"name": "nightly", "schedule": "0 3 * * *", "agent": "leaky-fail", "prompt": "go"}]
    root = make_rel_ws(tmp_path / "ws", agents=agents, cron=cron,
                       alerts_command=["sh", "-c", 'cat >> "$0"', str(tmp_path / "sink.jsonl")])
    (root / "schemas" / "thing.json").write_text(json.dumps(THING))
    return root


class Scanned:
    """The CLI, with every output captured for the final scan."""

    def __init__(self, root: Path):
        self.cli, self.out = Cli(root), []

    def __call__(self, *argv: str, env: dict | None = None):
        res = self.cli(*argv, env={**ENV, **(env or {})})
        self.out.append(res.stdout + res.stderr)
        return res


def assert_no_secret(root: Path, outputs: list[str]) -> None:
    leaks = scan_tree(root.parent, SECRETS)  # the workspace, and the alert sink beside it
    leaks += [f"output #{i}: {s}" for i, o in enumerate(outputs) for s in SECRETS if s in o]
    assert not leaks, leaks


def test_agent_output_tails_artifacts_and_errors(leaky_ws: Path) -> None:
    cli = Scanned(leaky_ws)
    assert cli("run", "leaky", "--prompt", "go").exit_code == 0
    assert cli("run", "leaky", "--prompt", "go", "--json").exit_code == 0
    res = cli("run", "leaky-fail", "--prompt", "go")
    assert res.exit_code == 1 and "[REDACTED]" in res.stderr
    assert cli("run", "leaky-fail", "--prompt", "go", "--json").exit_code == 1
    assert cli("cron", "run", "nightly", env={"AGENTCTL_NOW": "2026-03-02T03:00:30Z"}).exit_code == 1
    recs = [json.loads(line) for p in (leaky_ws / "logs" / "runs").glob("*.jsonl") for line in p.read_text().splitlines()]
    assert any("[REDACTED]" in (r.get("error") or {}).get("message", "") for r in recs)
    assert_no_secret(leaky_ws, cli.out)


def test_rejections_quoting_model_output(leaky_ws: Path) -> None:
    cli = Scanned(leaky_ws)
    tid = cli("task", "add", "--title", "build it", "--agent", "leaky-thing").stdout.strip()
    res = cli("run", "leaky-thing", "--task", tid)
    assert res.exit_code == 3
    shown = cli("task", "show", tid, "--json").json()
    assert shown["status"] == "rejected" and "[REDACTED]" in shown["rejections"][-1]["errors"][0]["message"]
    cli("task", "show", tid)
    cli("status")
    assert cli("learn", "--since", "1d").exit_code == 0
    assert_no_secret(leaky_ws, cli.out)


def test_self_tests_printing_the_key(leaky_ws: Path) -> None:
    cli = Scanned(leaky_ws)
    tid = cli("task", "add", "--title", "test it", "--agent", "leaky-tests").stdout.strip()
    assert cli("run", "leaky-tests", "--task", tid).exit_code == 4
    res = cli("selftest", tid)
    assert res.exit_code == 4 and "[REDACTED]" in res.stdout
    assert cli("selftest", tid, "--json").exit_code == 4
    assert_no_secret(leaky_ws, cli.out)


def test_task_text_alerts_and_events(leaky_ws: Path) -> None:
    cli = Scanned(leaky_ws)
    title = f"rotate {SHAPED['LEAK_A']} and {NAMED['MY_SERVICE_TOKEN']} (Bearer {BEARER})"
    res = cli("task", "add", "--title", title, "--agent", "leaky", "--json")
    assert res.exit_code == 0 and "[REDACTED]" in res.json()["title"]
    tid = res.json()["taskId"]
    assert cli("task", "update", tid, "--set", f"notes=key {SHAPED['LEAK_B']}", "--pr",
               f"https://x/?token={NAMED['PAYMENT_SECRET']}").exit_code == 0
    assert cli("task", "block", tid, "--by", f"waiting for {SHAPED['LEAK_C']}").exit_code == 0
    for argv in (["task", "list"], ["task", "show", tid], ["status"], ["blocked", "--json"]):
        assert cli(*argv).exit_code == 0
    assert cli("monitor", "stale", "--older-than", "0s").exit_code == 1  # an alert with the task's title
    assert cli("breaker", "trip", "leaky").exit_code == 0
    assert cli("task", "update", tid, "--status", "done").exit_code == 0
    assert cli("task", "archive", "--older-than", "0s").exit_code == 0
    assert cli("task", "show", tid).exit_code == 0
    assert (leaky_ws.parent / "sink.jsonl").exists()
    assert_no_secret(leaky_ws, cli.out)


def test_error_messages(leaky_ws: Path) -> None:
    cli = Scanned(leaky_ws)
    for argv in (["task", "show", SHAPED["LEAK_B"]], ["run", "nobody", "--prompt", "x"],
                 ["task", "list", "--status", NAMED["DB_PASSWORD"]], ["agents", "show", SHAPED["LEAK_A"]],
                 ["validate", "/nonexistent/" + SHAPED["LEAK_D"], "--schema", "thing"]):
        res = cli(*argv)
        assert res.exit_code in (2, 78) and "Traceback" not in res.stderr, (argv, res.stderr)
    assert_no_secret(leaky_ws, cli.out)


def test_the_scan_would_see_a_leak(leaky_ws: Path) -> None:
    """The scan itself works: a file agentctl did not redact (the agent's own) is found."""
    (leaky_ws / "artifacts" / "own.txt").write_text(SHAPED["LEAK_A"])
    with pytest.raises(AssertionError):
        assert_no_secret(leaky_ws, [])
    shutil.rmtree(leaky_ws / "artifacts")
    with pytest.raises(AssertionError):
        assert_no_secret(leaky_ws, [f"printed {NAMED['MY_SERVICE_TOKEN']}"])
    assert sys.executable


def test_a_key_in_an_oddly_named_tier_variable_is_redacted_from_the_task_too(tmp_path: Path) -> None:
    key = "plainvalue-without-a-known-shape"
    agent = {"name": "vend", "runtime": "command", "produces": "thing",
             "command": ["sh", "-c", 'echo "key $VENDOR_CRED"; printf \'{"sources": "%s"}\' "$VENDOR_CRED" '
                                     '> "$AGENTCTL_OUTPUT"']}
    root = make_rel_ws(tmp_path / "ws", agents={"vend": agent})
    cfg = json.loads((root / "agentctl.yaml").read_text())
    cfg["tiers"] = {"vendor": {"provider": "openai", "model": "m", "base_url": "http://127.0.0.1:9",
                               "api_key_env": "VENDOR_CRED"}}
    (root / "agentctl.yaml").write_text(json.dumps(cfg))
    (root / "schemas" / "thing.json").write_text(json.dumps(THING))
    cli = Cli(root)
    tid = cli("task", "add", "--title", "t", "--agent", "vend").stdout.strip()
    res = cli("run", "vend", "--task", tid, env={"VENDOR_CRED": key})
    assert res.exit_code == 3 and key not in res.stdout + res.stderr
    leaks = scan_tree(root, [key])
    assert not leaks, leaks
