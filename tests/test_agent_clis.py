"""Agent CLIs as command agents (SPEC §5 `usage:`): Claude Code, Codex, Gemini CLI and aider,
through fake CLIs (tests/fake_clis) that print their real output shapes — no network, no real CLI.

For each: the run record (tokens, model, costUsd, costSource, models, error type), the artifact
read from the CLI's final answer, the budget refusal that the reported cost triggers, and the
scorecard's cost.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Cli

FAKES = Path(__file__).resolve().parent / "fake_clis"
PY = sys.executable
NOW = "2026-11-30T10:00:00Z"
NOTE = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["summary"],
        "properties": {"summary": {"type": "string", "minLength": 1}, "files": {"type": "array"}}}

COMMANDS = {
    "claude-code": [PY, str(FAKES / "claude.py"), "-p", "--output-format", "json"],
    "codex": [PY, str(FAKES / "codex.py"), "exec", "--json", "-"],
    "gemini": [PY, str(FAKES / "gemini.py"), "-p", "{prompt_file}", "--output-format", "json"],
    "aider": [PY, str(FAKES / "aider.py"), "--message-file", "{prompt_file}", "--analytics-log", "{usage_file}"],
}


@pytest.fixture
def ws(minimal_ws: Path) -> Path:
    (minimal_ws / "schemas" / "note.json").write_text(json.dumps(NOTE))
    return minimal_ws


def add_agent(root: Path, name: str, usage: str, scenario: str = "success", **extra) -> None:
    body = {"name": name, "runtime": "command", "usage": usage, "produces": "note", "stdin": "prompt",
            "command": [*COMMANDS[usage], "--scenario", scenario], "timeout_s": 60, **extra}
    (root / "agents" / f"{name}.yaml").write_text(yaml.safe_dump(body))


def run(root: Path, agent: str, env: dict | None = None) -> tuple[int, dict, str]:
    cli = Cli(root)
    tid = cli("task", "add", "--title", "fix the tests", "--agent", agent, env={"AGENTCTL_NOW": NOW}).stdout.strip()
    res = cli("run", agent, "--task", tid, "--json", env={"AGENTCTL_NOW": NOW, **(env or {})})
    record = json.loads(res.stdout) if res.stdout.strip() else {}
    return res.exit_code, record.get("record", record), tid


def run_records(root: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((root / "logs" / "runs").glob("*.jsonl"))
            for line in p.read_text().splitlines() if line.strip()]


def test_run_json_shape(ws: Path) -> None:
    add_agent(ws, "claude", "claude-code")
    code, rec, _ = run(ws, "claude")
    assert code == 0
    assert rec == run_records(ws)[-1] or rec.get("runId") == run_records(ws)[-1]["runId"]


# --- Claude Code -----------------------------------------------------------------------

def test_claude_code_reported_cost_and_final_answer_as_artifact(ws: Path) -> None:
    add_agent(ws, "claude", "claude-code")
    code, _, tid = run(ws, "claude")
    rec = run_records(ws)[-1]
    assert code == 0, rec
    assert rec["status"] == "success" and rec["provider"] == "anthropic"
    assert rec["model"] == "claude-sonnet-4-5-20250929"
    assert (rec["tokensIn"], rec["tokensOut"], rec["cacheReadTokens"], rec["cacheWriteTokens"]) == (12, 2048, 51200,
                                                                                                      10240)
    assert rec["costUsd"] == 0.4821 and rec["costSource"] == "reported" and rec["models"] is None
    art = json.loads((ws / "artifacts" / tid / "note.json").read_text())  # Claude's `result`, fence removed
    assert art == {"summary": "three failing tests fixed", "files": ["app.py"]}


def test_claude_code_stream_json(ws: Path) -> None:
    add_agent(ws, "claude", "claude-code")
    body = yaml.safe_load((ws / "agents" / "claude.yaml").read_text())
    body["command"] = [PY, str(FAKES / "claude.py"), "-p", "--output-format", "stream-json", "--verbose"]
    (ws / "agents" / "claude.yaml").write_text(yaml.safe_dump(body))
    code, _, _ = run(ws, "claude")
    rec = run_records(ws)[-1]
    assert code == 0 and rec["costUsd"] == 0.4821 and rec["costSource"] == "reported"


def test_claude_code_several_models(ws: Path) -> None:
    add_agent(ws, "claude", "claude-code", "multi")
    code, _, _ = run(ws, "claude")
    rec = run_records(ws)[-1]
    assert code == 0 and rec["costUsd"] == 0.5133 and rec["costSource"] == "reported"
    by_model = {m["model"]: m for m in rec["models"]}
    assert set(by_model) == {"claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"}
    assert by_model["claude-haiku-4-5-20251001"]["tokensIn"] == 18204
    assert by_model["claude-haiku-4-5-20251001"]["costUsd"] == 0.0312
    assert rec["tokensIn"] == 12 + 18204 and rec["model"] == "claude-sonnet-4-5-20250929"


def test_claude_code_error_keeps_its_cost(ws: Path) -> None:
    add_agent(ws, "claude", "claude-code", "error")
    code, _, _ = run(ws, "claude")
    rec = run_records(ws)[-1]
    assert code == 1 and rec["status"] == "failure"
    assert rec["error"]["type"] == "AgentError" and "error_max_turns" in rec["error"]["message"]
    assert rec["costUsd"] == 0.0917 and rec["costSource"] == "reported"  # a failed run was still billed


def test_claude_code_rate_limit_is_transient(ws: Path) -> None:
    add_agent(ws, "claude", "claude-code", "rate_limit")
    code, _, _ = run(ws, "claude")
    rec = run_records(ws)[-1]
    assert code == 75 and rec["status"] == "failure" and rec["error"]["type"] == "RateLimited"
    assert rec["costUsd"] == 0.0 and rec["costSource"] == "reported"


# --- Codex ----------------------------------------------------------------------------

def test_codex_tokens_priced_with_genai_prices(ws: Path) -> None:
    add_agent(ws, "codex", "codex", model="gpt-5-codex")
    code, _, tid = run(ws, "codex")
    rec = run_records(ws)[-1]
    assert code == 0, rec
    assert (rec["tokensIn"], rec["cacheReadTokens"], rec["tokensOut"]) == (24763, 24448, 122)
    assert rec["provider"] == "openai" and rec["model"] == "gpt-5-codex"
    assert rec["costSource"] == "computed" and 0 < rec["costUsd"] < 0.01
    art = json.loads((ws / "artifacts" / tid / "note.json").read_text())  # the last agent_message
    assert art["summary"] == "endpoint added with tests"


def test_codex_sums_every_turn(ws: Path) -> None:
    add_agent(ws, "codex", "codex", "multi", model="gpt-5-codex")
    run(ws, "codex")
    rec = run_records(ws)[-1]
    assert (rec["tokensIn"], rec["cacheReadTokens"], rec["tokensOut"]) == (24763 + 11200, 24448 + 9984, 122 + 340)


def test_codex_without_a_model_is_unpriced_not_free(ws: Path) -> None:
    add_agent(ws, "codex", "codex")
    code, _, _ = run(ws, "codex")
    rec = run_records(ws)[-1]
    assert code == 0 and rec["tokensIn"] == 24763 and rec["costUsd"] is None and rec["costSource"] is None


def test_codex_failures(ws: Path) -> None:
    add_agent(ws, "codex", "codex", "rate_limit", model="gpt-5-codex")
    add_agent(ws, "codex-bad", "codex", "error", model="gpt-5-codex")
    assert run(ws, "codex")[0] == 75
    rec = run_records(ws)[-1]
    assert rec["error"]["type"] == "RateLimited" and "429" in rec["error"]["message"]
    assert run(ws, "codex-bad")[0] == 1
    rec = run_records(ws)[-1]
    assert rec["error"]["type"] == "AgentError" and "context_length_exceeded" in rec["error"]["message"]


# --- Gemini CLI -----------------------------------------------------------------------

def test_gemini_models_and_thoughts(ws: Path) -> None:
    add_agent(ws, "gem", "gemini", "multi")
    code, _, tid = run(ws, "gem")
    rec = run_records(ws)[-1]
    assert code == 0, rec
    assert rec["provider"] == "google" and rec["model"] == "gemini-2.5-pro" and rec["costSource"] == "computed"
    by_model = {m["model"]: m for m in rec["models"]}
    assert by_model["gemini-2.5-pro"]["tokensOut"] == 412 + 475  # thoughts are billed as output
    assert by_model["gemini-2.5-pro"]["cacheReadTokens"] == 4096
    assert rec["costUsd"] == pytest.approx(sum(m["costUsd"] for m in rec["models"]))
    assert json.loads((ws / "artifacts" / tid / "note.json").read_text())["summary"] == "docs updated"


def test_gemini_quota_is_rate_limited(ws: Path) -> None:
    add_agent(ws, "gem", "gemini", "rate_limit")
    assert run(ws, "gem")[0] == 75
    rec = run_records(ws)[-1]
    assert rec["error"]["type"] == "RateLimited" and rec["costUsd"] is None


def test_gemini_auth_error(ws: Path) -> None:
    add_agent(ws, "gem", "gemini", "error")
    assert run(ws, "gem")[0] == 1
    assert run_records(ws)[-1]["error"]["type"] == "AuthenticationError"


# --- aider ----------------------------------------------------------------------------

def test_aider_analytics_log(ws: Path) -> None:
    add_agent(ws, "aid", "aider", "multi")
    body = yaml.safe_load((ws / "agents" / "aid.yaml").read_text())
    body["produces"] = None  # aider edits files; it writes no artifact
    body = {k: v for k, v in body.items() if v is not None}
    (ws / "agents" / "aid.yaml").write_text(yaml.safe_dump(body))
    code, _, _ = run(ws, "aid")
    rec = run_records(ws)[-1]
    assert code == 0, rec
    assert rec["costSource"] == "reported" and rec["costUsd"] == pytest.approx(0.038049 + 0.00285 + 0.03126)
    by_model = {m["model"]: m for m in rec["models"]}
    assert by_model["claude-sonnet-4-5-20250929"]["tokensIn"] == 8123 + 9400
    assert by_model["claude-sonnet-4-5-20250929"]["provider"] == "anthropic"


def test_aider_log_through_its_environment_variable(ws: Path) -> None:
    body = {"name": "aid", "runtime": "command", "usage": "aider", "command": [PY, str(FAKES / "aider.py")]}
    (ws / "agents" / "aid.yaml").write_text(yaml.safe_dump(body))
    assert run(ws, "aid")[0] == 0
    rec = run_records(ws)[-1]
    assert rec["costSource"] == "reported" and rec["costUsd"] == pytest.approx(0.038049 + 0.03126)


# --- file ------------------------------------------------------------------------------

def test_usage_file(ws: Path) -> None:
    script = ("import json, os; json.dump({'model': 'claude-haiku-4-5', 'provider': 'anthropic', 'inputTokens': 1000, "
              "'outputTokens': 200, 'cacheReadTokens': 0, 'cacheWriteTokens': 0, 'costUsd': None}, "
              "open(os.environ['AGENTCTL_USAGE_FILE'], 'w')); print('done')")
    body = {"name": "own", "runtime": "command", "usage": "file", "command": [PY, "-c", script]}
    (ws / "agents" / "own.yaml").write_text(yaml.safe_dump(body))
    assert run(ws, "own")[0] == 0
    rec = run_records(ws)[-1]
    assert rec["model"] == "claude-haiku-4-5" and rec["tokensIn"] == 1000
    assert rec["costSource"] == "computed" and rec["costUsd"] == pytest.approx(1000 * 1e-6 + 200 * 5e-6)


def test_usage_file_not_written_is_unpriced(ws: Path) -> None:
    body = {"name": "own", "runtime": "command", "usage": "file", "command": [PY, "-c", "print('no usage')"]}
    (ws / "agents" / "own.yaml").write_text(yaml.safe_dump(body))
    assert run(ws, "own")[0] == 0
    rec = run_records(ws)[-1]
    assert rec["costUsd"] is None and rec["costSource"] is None and rec["tokensIn"] == 0


# --- budgets and the scorecard use these figures -----------------------------------------

@pytest.mark.parametrize("usage,extra", [("claude-code", {}), ("aider", {})])
def test_reported_cost_spends_the_budget(ws: Path, usage: str, extra: dict) -> None:
    add_agent(ws, "spender", usage, budget={"daily_usd": 0.05}, **extra)
    if usage == "aider":
        body = yaml.safe_load((ws / "agents" / "spender.yaml").read_text())
        del body["produces"]
        (ws / "agents" / "spender.yaml").write_text(yaml.safe_dump(body))
    assert run(ws, "spender")[0] == 0
    code, _, _ = run(ws, "spender")
    rec = run_records(ws)[-1]
    assert code == 75 and rec["status"] == "skipped" and rec["error"]["type"] == "BudgetSpent"


def test_computed_cost_spends_the_budget(ws: Path) -> None:
    add_agent(ws, "gem", "gemini", budget={"daily_usd": 0.001})
    assert run(ws, "gem")[0] == 0
    assert run(ws, "gem")[0] == 75


def test_scorecard_shows_the_real_cost_of_wrapped_clis(ws: Path) -> None:
    add_agent(ws, "claude", "claude-code", "multi")
    add_agent(ws, "codex", "codex", model="gpt-5-codex")
    add_agent(ws, "gem", "gemini")
    for agent in ("claude", "codex", "gem"):
        assert run(ws, agent)[0] == 0
    res = Cli(ws)("scorecard", "--days", "1", "--now", "2026-11-30T12:00:00Z", "--format", "json")
    assert res.exit_code == 0, res.stderr
    agents = {a["agent"]: a for a in json.loads(res.stdout)["agents"]}
    recs = {r["agent"]: r for r in run_records(ws)}
    assert agents["claude"]["costUsd"] == pytest.approx(0.5133)
    for name in ("codex", "gem"):
        assert agents[name]["costUsd"] == pytest.approx(recs[name]["costUsd"], abs=1e-4) and agents[name]["costUsd"] > 0


# --- the parsers on odd output --------------------------------------------------------------

@pytest.mark.parametrize("usage", ["claude-code", "codex", "gemini", "aider", "file"])
@pytest.mark.parametrize("raw", [b"", b"not json at all\n", b"[1, 2]", b'{"type": "other"}', b"\xff\xfe{", b"null"])
def test_unreadable_output_is_no_usage(usage: str, raw: bytes) -> None:
    from agentctl.providers.usage import read_usage

    got = read_usage(usage, raw, raw)
    assert got.models == [] and got.total_cost_usd is None and not got.found


def test_claude_verbose_json_array_and_bad_numbers() -> None:
    from agentctl.providers.usage import read_usage

    events = [{"type": "system", "subtype": "init", "model": "claude-sonnet-4-5"},
              {"type": "result", "subtype": "success", "is_error": False, "result": "ok", "total_cost_usd": -1,
               "usage": {"input_tokens": "12", "output_tokens": True, "cache_read_input_tokens": 5}}]
    got = read_usage("claude-code", json.dumps(events).encode(), None)
    assert got.found and got.final_text == "ok" and got.total_cost_usd is None  # a negative cost is no cost
    assert [(m.model, m.tokens_in, m.tokens_out, m.cache_read) for m in got.models] == [("claude-sonnet-4-5", 0, 0, 5)]


def test_error_classification() -> None:
    from agentctl.providers.usage import classify

    assert classify("API Error: 429 rate_limit_error") == "rate_limited"
    assert classify("Claude AI usage limit reached|1760000000") == "rate_limited"
    assert classify("API Error: 529 overloaded_error") == "overloaded"
    assert classify("Invalid API key · Please run /login") == "auth"
    assert classify("error_max_turns") == "agent"
