"""The secrets corpus (issue 18): every shape and every secret-named variable, as values and
as JSON object keys, through env dumps, artifacts, handoff copies, schema errors, task text,
`--check NAME=…`, events and output tails split at every offset. After each scenario the
whole workspace and every captured output are grepped for every secret.

Checked once by hand with the protection off (``redact`` returning its input unchanged):
every scenario here fails, naming the files and outputs that carry the secrets; with
``redact_tail`` truncating before redacting, the split-tail test fails at the first offset.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Cli
from fixtures_reliability import make_rel_ws, scan_tree

from agentctl.core import redact as R

AWS = "AKIAIOSFODNN7EXAMPLE"
SHAPES = {
    "aws": AWS,
    "ghp": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789",
    "slack_token": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98pemBODYline\nQ2xpZW50U2VjcmV0TGluZQ\n"
           "-----END RSA PRIVATE KEY-----",
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "stripe_restricted": "rk_live_51HxYzAbCdEfGhIjKlMnOp",
    "anthropic": "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
    "openai": "sk-proj-0123456789abcdefABCDEF",
    "azure": "AccountKey=" + "Zm9vYmFyYmF6" * 7 + "AbCd==",
    "slack_hook": "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XXXXXXXXXXXXXXXXXXXXXXXX",
    "discord_hook": "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz-0123456789",
}
URL_PW = "Sup3rS3cretDbPw"
NAMED = {  # secret by name only: no shape would catch these values
    "PGPASSWORD": "pg-plain-password-1",
    "MYSQL_PWD": "mysql-plain-password-2",
    "SECRET_KEY_BASE": "rails-plain-base-3",
    "REDIS_DSN": "redis-plain-dsn-4",
    "SERVICE_TOKEN": "svc-plain-token-5",
    "VENDOR_CRED": "vendor-plain-cred-6",  # named by a tier's api_key_env only
}
DATABASE_URL = f"postgres://app:{URL_PW}@db.internal:5432/prod"
ENV = {**{f"LEAK_{k.upper()}": v for k, v in SHAPES.items()}, **NAMED, "DATABASE_URL": DATABASE_URL}
# the PEM is matched whole; its body lines are the secret part
SECRETS = [v for k, v in SHAPES.items() if k != "pem"] + ["MIIEowIBAAKCAQEA7bq98pemBODYline", URL_PW,
                                                          *NAMED.values()]
SECRET_KEYS = {v: i for i, v in enumerate([*SHAPES.values(), DATABASE_URL, *NAMED.values()])}  # as keys too

ENV_DUMP = r"""
import json, os
env = {k: v for k, v in os.environ.items() if k.startswith("LEAK_") or k in %r or k == "DATABASE_URL"}
print("\n".join(f"{k}={v}" for k, v in env.items()))
art = {"env": env, "keys": {v: 1 for v in env.values()}, "sources": "https://example.com"}
json.dump(art, open(os.environ["AGENTCTL_OUTPUT"], "w"))
""".replace("%r", repr(list(NAMED)))

THING = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["sources"],
         "properties": {"sources": {"type": "string", "pattern": "^https://"}}}


@pytest.fixture(autouse=True)
def _forget_registered():
    yield
    R.clear_registered()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    import sys

    # the dumper lists every secret under env: (else the env filter keeps them from it): redaction is what is tested
    agents = {"dumper": {"name": "dumper", "runtime": "command", "command": [sys.executable, "-c", ENV_DUMP],
                         "env": sorted(ENV)},
              "maker": {"name": "maker", "runtime": "command", "command": ["true"], "produces": "thing"},
              "user": {"name": "user", "runtime": "command", "command": ["true"], "consumes": "thing"}}
    pipeline = [{"stage": "make", "agent": "maker", "produces": "thing"},
                {"stage": "use", "agent": "user", "consumes": "thing"}]
    root = make_rel_ws(tmp_path / "ws", agents=agents, pipeline=pipeline)
    cfg = json.loads((root / "agentctl.yaml").read_text())
    cfg["tiers"] = {"vendor": {"provider": "openai", "model": "gpt-4o-mini", "api_key_env": "VENDOR_CRED"}}
    (root / "agentctl.yaml").write_text(json.dumps(cfg))
    (root / "schemas" / "thing.json").write_text(json.dumps(THING))
    return root


class Scanned:
    def __init__(self, root: Path):
        self.cli, self.out = Cli(root), []

    def __call__(self, *argv: str):
        res = self.cli(*argv, env=ENV)
        self.out.append(res.stdout + res.stderr)
        return res


def assert_clean(root: Path, outputs: list[str]) -> None:
    leaks = scan_tree(root, SECRETS)
    leaks += [f"output #{i}: {s}" for i, o in enumerate(outputs) for s in SECRETS if s in o]
    assert not leaks, leaks


def test_an_env_dump_and_an_artifact_keyed_by_secrets(ws: Path) -> None:
    cli = Scanned(ws)
    assert cli("run", "dumper", "--prompt", "dump").exit_code == 0
    assert cli("run", "dumper", "--prompt", "dump", "--json").exit_code == 0
    art = next((ws / "artifacts").rglob("output.json"))  # task-less runs: artifacts/_runs/DAY/RUN/
    data = json.loads(art.read_text())
    assert "[REDACTED]" in json.dumps(data["keys"]) and (
        data["env"]["DATABASE_URL"] == "[REDACTED]" or data["env"]["DATABASE_URL"].startswith("postgres://app:"))
    assert not (ws / ".agentctl" / "staging").exists() or not any((ws / ".agentctl" / "staging").iterdir())
    assert_clean(ws, cli.out)


def test_handoff_copies_schema_errors_and_task_text(ws: Path, tmp_path: Path) -> None:
    cli = Scanned(ws)
    tid = cli("task", "add", "--title", f"rotate {SHAPES['anthropic']} for {DATABASE_URL}", "--agent", "maker",
              "--phase", "make").stdout.strip()
    bad = tmp_path / "bad.json"  # the pattern error quotes the value: `got "<secret>"`
    bad.write_text(json.dumps({"sources": SHAPES["stripe"], **SECRET_KEYS}))
    assert cli("validate", str(bad), "--schema", "thing").exit_code == 3
    assert cli("validate", str(bad), "--schema", "thing", "--json").exit_code == 3
    assert cli("handoff", tid, "--artifact", str(bad)).exit_code == 3
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"sources": "https://x", "note": NAMED["VENDOR_CRED"], **SECRET_KEYS}))
    assert cli("handoff", tid, "--artifact", str(good), "--json").exit_code == 0, cli.out[-1]
    copy = json.loads((ws / "artifacts" / tid / "thing.json").read_text())
    assert copy["sources"] == "https://x" and copy["note"] == "[REDACTED]"
    for argv in (["task", "show", tid], ["task", "list"], ["status"], ["task", "show", tid, "--json"]):
        assert cli(*argv).exit_code == 0
    assert_clean(ws, cli.out)


def test_checks_and_sets_named_by_secrets(ws: Path) -> None:
    cli = Scanned(ws)
    tid = cli("task", "add", "--title", "t").stdout.strip()
    for secret in SECRETS[:6] + [NAMED["PGPASSWORD"]]:
        res = cli("task", "update", tid, "--check", f"{secret}=passed", "--set", f"notes={secret}")
        assert res.exit_code == 0, res
    assert cli("task", "update", tid, "--check", f"db={DATABASE_URL}", "--json").exit_code == 0
    assert cli("task", "show", tid).exit_code == 0
    events = (ws / "logs" / "events.jsonl").read_text()
    assert "checks.[REDACTED]" in events
    assert_clean(ws, cli.out)


def test_registered_values_from_an_env_file_are_masked_everywhere(ws: Path) -> None:
    R.register_secret_values(["from-the-env-file-7788"])
    cli = Cli(ws)
    res = cli("task", "add", "--title", "uses from-the-env-file-7788", "--json")
    assert res.exit_code == 0 and "from-the-env-file-7788" not in res.stdout
    assert not scan_tree(ws, ["from-the-env-file-7788"])


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_shape_as_value_and_key(name: str) -> None:
    secret = SHAPES[name]
    assert secret not in R.redact(f"say {secret} twice: {secret}.", env={})
    masked = R.redact_obj({secret: [secret], "k": {"x": secret}}, env={})
    assert secret not in json.dumps(masked)


@pytest.mark.parametrize("name", sorted(NAMED) + ["DATABASE_URL"])
def test_every_name_by_value(name: str) -> None:
    env = {**NAMED, "DATABASE_URL": DATABASE_URL}
    R.register_secret_names(["VENDOR_CRED"])
    secret = URL_PW if name == "DATABASE_URL" else env[name]
    assert secret not in R.redact(f"x {env[name]} y", env=env)


@pytest.mark.parametrize("secret", [s for s in SECRETS if len(s) < 120])
def test_a_tail_cut_at_every_offset_leaves_no_suffix(secret: str) -> None:
    env = {"SOME_TOKEN": secret}
    for cut in range(1, len(secret)):
        raw = (secret[cut:] + " and then some output\n" + "x" * 50).encode()
        tail = R.redact_tail(raw, cut=True, keep=1000, env=env)
        suffix = secret[cut:]
        assert len(suffix) < 4 or suffix not in tail, (cut, tail)


def test_a_64k_output_tail_boundary_through_a_command_agent(tmp_path: Path) -> None:
    from agentctl.providers.command import TAIL_BYTES

    secret = SHAPES["anthropic"]
    root = make_rel_ws(tmp_path / "ws")
    cli = Cli(root)
    for cut in (1, 7, len(secret) - 5):  # the tail's first byte falls inside the secret
        filler = TAIL_BYTES - (len(secret) - cut)
        script = f'echo start; printf "%s" "$LEAK"; head -c {filler} /dev/zero | tr "\\0" "y"'
        (root / "agents" / "tail.yaml").write_text(json.dumps(
            {"name": "tail", "runtime": "command", "command": ["sh", "-c", script + "; exit 1"]}))
        res = cli("run", "tail", "--prompt", "x", env={"LEAK": secret})
        assert res.exit_code == 1
        assert not scan_tree(root, [secret, secret[cut:]]), cut
