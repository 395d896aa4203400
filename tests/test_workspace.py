"""Workspace discovery, init templates and strict agent definitions (SPEC §1, §2)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli, run_installed, write_agent

GOOD = """\
name: nico
team: product
role: code
tier: standard
runtime: llm
prompt: Build it.
consumes: design
produces: code
"""


def test_init_studio_creates_a_real_workspace(tmp_path: Path) -> None:
    res = Cli(None)("init", str(tmp_path / "w"), "--template", "studio")
    assert res.exit_code == 0, res.stderr
    root = tmp_path / "w"
    for part in ("agentctl.yaml", "agents/vivi.yaml", "schemas/design.json", "prompts/vivi.md", "tasks.json",
                 "logs/runs", "state", ".agentctl/schemas/agent.schema.json"):
        assert (root / part).exists(), part
    cli = Cli(root)
    assert cli("agents", "validate").exit_code == 0
    agents = {a["name"]: a for a in cli("agents", "list", "--json").json()}
    assert len(agents) >= 10
    assert agents["chief"]["tier"] == "premium" and agents["kai"]["tier"] == "specialized"
    assert set(agents["vivi"]) >= {"name", "team", "role", "tier", "model", "provider", "runtime", "consumes", "produces"}
    assert agents["kai"]["provider"] == "openai"
    first_line = (root / "agents" / "vivi.yaml").read_text().splitlines()[0]
    assert first_line.startswith("# yaml-language-server: $schema=")


def test_init_refuses_non_empty_and_never_overwrites_state(tmp_path: Path) -> None:
    root = tmp_path / "w"
    Cli(None)("init", str(root), "--template", "minimal")
    (root / "tasks.json").write_text('{"version": 1, "nextSeq": 5, "tasks": []}\n')
    (root / "logs" / "events.jsonl").write_text("keep\n")
    res = Cli(None)("init", str(root), "--template", "studio")
    assert res.exit_code == 2 and "--force" in res.stderr
    assert Cli(None)("init", str(root), "--template", "studio", "--force").exit_code == 0
    assert json.loads((root / "tasks.json").read_text())["nextSeq"] == 5
    assert (root / "logs" / "events.jsonl").read_text() == "keep\n"
    assert (root / "agents" / "vivi.yaml").exists()


def test_minimal_has_no_agents_and_one_file_is_enough(cli: Cli, minimal_ws: Path) -> None:
    assert cli("agents", "list", "--json").json() == []
    (minimal_ws / "schemas" / "design.json").write_text('{"type": "object"}')
    (minimal_ws / "schemas" / "code.json").write_text('{"type": "object"}')
    write_agent(minimal_ws, "nico", GOOD)
    assert cli("agents", "validate").exit_code == 0
    shown = cli("agents", "show", "nico", "--json").json()
    assert shown["model"] == "claude-sonnet-4-6"
    assert shown["breaker"] == {"threshold": 3, "window_s": 60, "cooldown_s": 300, "max_cooldown_s": 3600}
    assert cli("agents", "show", "ghost").exit_code == 2


def test_validate_reports_every_problem_with_file_line_and_field(cli: Cli, minimal_ws: Path) -> None:
    write_agent(minimal_ws, "typo", "name: typo\ntier: standard\npromt: hi\n")
    write_agent(minimal_ws, "dup", "name: dup\ntier: standard\ncommand: [make, test]\ncommand: [rm, -rf, /]\n")
    write_agent(minimal_ws, "badtier", "name: badtier\ntier: platinum\nconsumes: nothing\n")
    write_agent(minimal_ws, "wrongname", "name: other\ntier: standard\n")
    write_agent(minimal_ws, "broken", "name: broken\ntier: [standard\n")
    write_agent(minimal_ws, "coerce", "name: coerce\ntier: standard\nmodel: 1.10\ntimeout_s: NO\n")
    res = cli("agents", "validate", "--json")
    assert res.exit_code == 78
    problems = res.json()["problems"]
    by_file: dict[str, list[dict]] = {}
    for p in problems:
        by_file.setdefault(p["file"], []).append(p)
    typo = by_file["agents/typo.yaml"][0]
    assert (typo["line"], typo["field"]) == (3, "promt") and "unknown key" in typo["message"]
    dup = by_file["agents/dup.yaml"][0]
    assert dup["line"] == 4 and "line 3" in dup["message"] and "duplicate" in dup["message"]
    assert {p["field"] for p in by_file["agents/badtier.yaml"]} == {"tier", "consumes"}
    assert by_file["agents/wrongname.yaml"][0]["field"] == "name"
    broken = by_file["agents/broken.yaml"][0]
    assert broken["line"] == 3 and "started at line 2" in broken["message"]
    coerce = {p["field"]: p for p in by_file["agents/coerce.yaml"]}
    assert coerce["model"]["line"] == 3 and coerce["timeout_s"]["line"] == 4
    human = cli("agents", "validate")
    assert human.exit_code == 78 and "agents/typo.yaml:3" in human.stderr


def test_a_bad_agent_file_makes_commands_needing_agents_exit_78(cli: Cli, minimal_ws: Path) -> None:
    write_agent(minimal_ws, "typo", "name: typo\ntier: standard\npromt: hi\n")
    res = cli("agents", "list")
    assert res.exit_code == 78 and "agents/typo.yaml:3" in res.stderr and "Traceback" not in res.stderr
    assert cli("status").exit_code == 0  # the board does not need agent definitions


def test_bad_workspace_config_exit_78(cli: Cli, minimal_ws: Path) -> None:
    (minimal_ws / "agentctl.yaml").write_text("version: 1\ntiers: {}\ncron: []\nbogus: 1\n")
    res = cli("task", "add", "--title", "x")
    assert res.exit_code == 78 and "agentctl.yaml:4" in res.stderr and "bogus" in res.stderr


def test_yaml_alias_bomb_and_oversized_refused(cli: Cli, minimal_ws: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    write_agent(minimal_ws, "bomb", bomb)
    res = cli("agents", "validate")
    assert res.exit_code == 78 and "alias" in res.stderr
    write_agent(minimal_ws, "bomb", "name: bomb\ndescription: " + "x" * 1_100_000 + "\n")
    res = cli("agents", "validate")
    assert res.exit_code == 78 and "larger than" in res.stderr


def test_workspace_found_from_env_and_from_subfolder(minimal_ws: Path, tmp_path: Path) -> None:
    sub = minimal_ws / "artifacts" / "deep"
    sub.mkdir(parents=True)
    assert run_installed("task", "add", "--title", "from below", cwd=sub).stdout.strip() == "T-1"
    res = run_installed("task", "show", "T-1", "--json", cwd=tmp_path, env={"AGENTCTL_WORKSPACE": str(minimal_ws)})
    assert res.exit_code == 0 and json.loads(res.stdout)["title"] == "from below"


def test_schema_export_generates_editor_schemas(cli: Cli, tmp_path: Path) -> None:
    res = cli("schema", "export", "--output", str(tmp_path / "out"), "--json")
    assert res.exit_code == 0
    agent_schema = json.loads((tmp_path / "out" / "agent.schema.json").read_text())
    assert agent_schema["additionalProperties"] is False
    assert "runtime" in agent_schema["properties"]
    assert agent_schema["properties"]["role"]["description"].startswith("Selects")


def test_validate_checks_self_test_paths_and_regexes(cli: Cli, minimal_ws: Path) -> None:
    write_agent(minimal_ws, "qa", "name: qa\ntier: standard\nself_tests:\n"
                "  - {name: p, check: {path: 'bugs[', exists: true}}\n"
                "  - {name: r, check: {path: cta, matches: '(unclosed'}}\n")
    res = cli("agents", "validate", "--json")
    assert res.exit_code == 78
    fields = {p["field"] for p in res.json()["problems"]}
    assert fields == {"self_tests.0.check.path", "self_tests.1.check.matches"}
