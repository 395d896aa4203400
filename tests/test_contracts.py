"""Contracts (SPEC §6): the studio schemas, problems and summaries, formats, local-only $ref,
broken schema files, the `validate` command and the fast path's agreement with jsonschema."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Cli

from agentctl.contracts.schemas import check_artifact, compiled_validator, json_path, validate_artifact, words
from agentctl.errors import ConfigError
from agentctl.workspace.loader import Workspace

KINDS = ["research", "prd", "design", "code", "review", "qa"]
FIXTURES = REPO / "tests" / "fixtures" / "artifacts"


def example(kind: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{kind}.valid.json").read_text())


def _required_paths(schema: dict[str, Any], data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every required key the example actually has: top level, nested objects and first array items."""
    out: list[tuple[Any, ...]] = []
    if not isinstance(schema, dict) or not isinstance(data, dict):
        return out
    for key in schema.get("required", []):
        if key in data:
            out.append((*prefix, key))
    for key, sub in schema.get("properties", {}).items():
        value = data.get(key)
        if isinstance(value, dict):
            out += _required_paths(sub, value, (*prefix, key))
        elif isinstance(value, list) and value and isinstance(sub.get("items"), dict):
            out += _required_paths(sub["items"], value[0], (*prefix, key, 0))
    return out


def _cases() -> list[Any]:
    cases = []
    for kind in KINDS:
        schema = json.loads((REPO / "schemas" / f"{kind}.json").read_text())
        for path in _required_paths(schema, example(kind)):
            cases.append(pytest.param(kind, path, id=f"{kind}:{json_path(path)}"))
    return cases


@pytest.fixture
def ws(studio_ws: Path) -> Workspace:
    return Workspace(studio_ws)


@pytest.mark.parametrize("kind", KINDS)
def test_each_studio_example_is_valid(ws: Workspace, kind: str) -> None:
    assert validate_artifact(ws, kind, example(kind)) == []


@pytest.mark.parametrize(("kind", "path"), _cases())
def test_each_required_part_missing_is_named(ws: Workspace, kind: str, path: tuple[Any, ...]) -> None:
    data = example(kind)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    verdict = check_artifact(ws, kind, data)
    assert not verdict.valid
    problem = next(p for p in verdict.problems if p["path"] == json_path(path[:-1]))
    assert path[-1] in problem["missing"]
    assert json_path(path)[2:] in verdict.missing
    assert verdict.summary.startswith("missing ")
    assert words(path[-1]) in verdict.summary


def test_the_required_cases_go_below_the_top_level() -> None:
    assert any(len(p.values[1]) > 1 for p in _cases())


def test_design_without_a_phone_breakpoint_uses_the_seed_wording(ws: Workspace) -> None:
    data = example("design")
    data["responsiveBreakpoints"] = [b for b in data["responsiveBreakpoints"] if b.get("maxWidthPx", 9999) >= 768]
    verdict = check_artifact(ws, "design", data)
    assert verdict.summary == "missing responsive breakpoints for screens < 768px"
    assert verdict.problems == [{"path": "$.responsiveBreakpoints", "missing": [],
                                 "message": "must contain at least one item matching: "
                                            "responsive breakpoints for screens < 768px"}]
    assert verdict.missing == ["responsiveBreakpoints"]


def test_design_without_breakpoints_at_all(ws: Workspace) -> None:
    data = example("design")
    del data["responsiveBreakpoints"]
    verdict = check_artifact(ws, "design", data)
    assert verdict.summary == "missing responsive breakpoints"
    assert verdict.problems == [{"path": "$", "message": "missing required property: responsiveBreakpoints",
                                 "missing": ["responsiveBreakpoints"]}]


def test_every_problem_is_reported_not_the_first(ws: Workspace) -> None:
    data = example("code")
    data["pr"] = "https://exa%mple.com"  # matches the pattern, is not a URI
    data["build"]["status"] = "failed"
    data["criticalTodos"] = ["src/x.ts:3 TODO: auth"]
    del data["build"]["command"]
    verdict = check_artifact(ws, "code", data)
    paths = [p["path"] for p in verdict.problems]
    assert paths == ["$.pr", "$.build.status", "$.criticalTodos"]
    assert verdict.problems[0]["message"] == 'not a valid uri: "https://exa%mple.com"'
    assert verdict.problems[1]["message"] == 'must be "passed" (got "failed")'
    assert all(set(p) == {"path", "message", "missing"} for p in verdict.problems)


def test_qa_with_a_major_bug_is_rejected_in_words(ws: Workspace) -> None:
    data = example("qa")
    data["bugs"].append({"id": "BUG-9", "severity": "major", "title": "Payment fails"})
    verdict = check_artifact(ws, "qa", data)
    assert verdict.problems == [{"path": "$.bugs", "message": "must not contain a critical or major bug",
                                 "missing": []}]
    assert verdict.summary == "bugs must not contain a critical or major bug"


def test_research_needs_three_competitors(ws: Workspace) -> None:
    data = example("research")
    data["competitors"] = data["competitors"][:2]
    assert validate_artifact(ws, "research", data) == [
        {"path": "$.competitors", "message": "must have at least 3 items (has 2)", "missing": []}]


def _schema(root: Path, name: str, schema: Any) -> Path:
    path = root / "schemas" / f"{name}.json"
    path.write_text(schema if isinstance(schema, str) else json.dumps(schema))
    return path


def test_format_is_enforced_where_only_format_can_fail(ws: Workspace) -> None:
    _schema(ws.root, "link", {"type": "object", "properties": {"pr": {"type": "string", "format": "uri"},
                                                               "day": {"type": "string", "format": "date"}}})
    problems = validate_artifact(ws, "link", {"pr": "not a link", "day": "2026-02-30"})
    assert [p["path"] for p in problems] == ["$.pr", "$.day"]
    assert validate_artifact(ws, "link", {"pr": "https://github.com/acme/x/pull/1", "day": "2026-02-28"}) == []


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_a_remote_ref_is_never_fetched(ws: Workspace, no_network: None) -> None:
    _schema(ws.root, "remote", {"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}})
    with pytest.raises(ConfigError) as err:
        validate_artifact(ws, "remote", {"y": 1})  # fails whether or not the artifact reaches the $ref
    text = err.value.render()
    assert "schemas/remote.json" in text
    assert "https://example.com/x.json" in text and "never fetches" in text


def test_a_remote_ref_exits_78_from_the_cli(studio_ws: Path, studio_cli: Cli, no_network: None) -> None:
    _schema(studio_ws, "remote", {"$ref": "http://example.com/s.json"})
    (studio_ws / "a.json").write_text("{}")
    res = studio_cli("validate", studio_ws / "a.json", "--schema", "remote")
    assert res.exit_code == 78
    assert "schemas/remote.json" in res.stderr and "http://example.com/s.json" in res.stderr


def test_local_refs_resolve_by_file_name_and_by_id(ws: Workspace, no_network: None) -> None:
    _schema(ws.root, "bundle", {"type": "object", "properties": {
        "prd": {"$ref": "prd.json"}, "design": {"$ref": "agentctl:schemas/design"}}})
    assert validate_artifact(ws, "bundle", {"prd": example("prd"), "design": example("design")}) == []
    problems = validate_artifact(ws, "bundle", {"prd": {}, "design": example("design")})
    assert problems[0]["path"] == "$.prd" and "features" in problems[0]["missing"]


@pytest.mark.parametrize(("body", "words_expected"), [
    ("{not json", "not valid JSON"),
    ({"type": 12}, "not a valid draft 2020-12 JSON Schema"),
    ({"$schema": "http://json-schema.org/draft-07/schema#"}, "draft 2020-12"),
    ([1, 2], "must hold an object"),
])
def test_a_broken_schema_file_is_a_config_error_naming_it(ws: Workspace, studio_cli: Cli, body: Any,
                                                          words_expected: str) -> None:
    _schema(ws.root, "broken", body)
    with pytest.raises(ConfigError) as err:
        validate_artifact(ws, "broken", {})
    assert "schemas/broken.json" in err.value.render() and words_expected in err.value.render()
    (ws.root / "a.json").write_text("{}")
    res = studio_cli("validate", ws.root / "a.json", "--schema", "broken")
    assert res.exit_code == 78 and "schemas/broken.json" in res.stderr


def test_an_unknown_schema_is_78(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="unknown schema 'nope'"):
        validate_artifact(ws, "nope", {})
    with pytest.raises(ConfigError):
        validate_artifact(ws, "../agentctl", {})


def test_the_compiled_contract_is_cached_per_file_version(ws: Workspace) -> None:
    path = _schema(ws.root, "c", {"type": "object", "required": ["a"]})
    first = compiled_validator(path)
    assert compiled_validator(path) is first
    path.write_text(json.dumps({"type": "object", "required": ["a", "b"]}))
    os.utime(path, ns=(1, 1))
    second = compiled_validator(path)
    assert second is not first
    assert check_artifact(ws, "c", {"a": 1}).missing == ["b"]


def test_paths_and_words() -> None:
    assert json_path([]) == "$"
    assert json_path(["a", 0, "b"]) == "$.a[0].b"
    assert json_path(["a b", "it's"]) == "$['a b']['it\\'s']"
    assert words("responsiveBreakpoints") == "responsive breakpoints"
    assert words("criticalTodos") == "critical todos"
    assert words("openRevisionRequests") == "open revision requests"
    assert words("market_data") == "market data"
    assert words("PRLink") == "pr link"


# --- the CLI ---------------------------------------------------------------------------------

def _write(root: Path, name: str, data: Any) -> Path:
    path = root / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_validate_valid_exits_0(studio_ws: Path, studio_cli: Cli) -> None:
    res = studio_cli("validate", _write(studio_ws, "d.json", example("design")), "--schema", "design", "--json")
    assert res.exit_code == 0
    assert res.json() == {"file": str(studio_ws / "d.json"), "schema": "design", "valid": True, "summary": None,
                          "missing": [], "problems": []}


def test_validate_invalid_exits_3_with_every_problem(studio_ws: Path, studio_cli: Cli) -> None:
    data = example("design")
    del data["wireframes"]
    data["responsiveBreakpoints"] = [{"name": "desktop", "minWidthPx": 1024}]
    file = _write(studio_ws, "d.json", data)
    res = studio_cli("validate", file, "--schema", "design", "--json")
    assert res.exit_code == 3
    out = res.json()
    assert out["valid"] is False
    assert out["missing"] == ["wireframes", "responsiveBreakpoints"]
    assert out["summary"] == "missing wireframes and responsive breakpoints for screens < 768px"
    assert [p["path"] for p in out["problems"]] == ["$", "$.responsiveBreakpoints"]
    human = studio_cli("validate", file, "--schema", "design")
    assert human.exit_code == 3
    assert "missing wireframes and responsive breakpoints for screens < 768px" in human.stdout
    assert "$.responsiveBreakpoints:" in human.stdout and "2 problem(s)" in human.stderr


def test_validate_not_json_is_3_with_a_root_problem(studio_ws: Path, studio_cli: Cli) -> None:
    res = studio_cli("validate", _write(studio_ws, "x.json", "{oops"), "--schema", "design", "--json")
    assert res.exit_code == 3
    [problem] = res.json()["problems"]
    assert problem["path"] == "$" and problem["message"].startswith("not valid JSON: ")
    nan = studio_cli("validate", _write(studio_ws, "n.json", "NaN"), "--schema", "design", "--json")
    assert nan.exit_code == 3


def test_validate_usage_and_config_errors(studio_ws: Path, studio_cli: Cli) -> None:
    assert studio_cli("validate", studio_ws / "absent.json", "--schema", "design").exit_code == 2
    res = studio_cli("validate", _write(studio_ws, "d.json", "{}"), "--schema", "nope")
    assert res.exit_code == 78 and "unknown schema 'nope'" in res.stderr


def test_validate_reads_stdin(studio_cli: Cli) -> None:
    res = studio_cli("validate", "-", "--schema", "review", input=json.dumps(example("review")))
    assert res.exit_code == 0 and "valid review" in res.stdout


# --- speed rules -----------------------------------------------------------------------------

_STARTUP_PROBE = """
import sys, types
import agentctl.cli.main, agentctl.contracts.handoff
assert 'jsonschema' not in sys.modules, 'jsonschema imported at CLI start-up'
from agentctl.contracts.schemas import format_checker, load_jsonschema
load_jsonschema()
checker = format_checker()
assert 'rfc3987_syntax' not in sys.modules, 'rfc3987_syntax imported with jsonschema'
calls = []
fake = types.ModuleType('rfc3987_syntax')
fake.is_valid_syntax = lambda rule, value: calls.append(rule) or ' ' not in value
sys.modules['rfc3987_syntax'] = fake  # what the first iri check imports
assert checker.conforms('http://example.com/x', 'iri') and not checker.conforms('http://a b', 'iri-reference')
assert calls == ['iri', 'iri-reference'], calls
print('ok')
"""


def test_jsonschema_loads_without_rfc3987_syntax_and_not_at_cli_import() -> None:
    """rfc3987_syntax costs ≈0.7 s to import: it is loaded on the first iri check, not with jsonschema."""
    import importlib.util

    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987_syntax is not installed")
    out = subprocess.run([sys.executable, "-c", _STARTUP_PROBE], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "ok", out.stderr


# --- the fast path agrees with jsonschema ------------------------------------------------------

def test_every_studio_contract_gets_a_fast_path(ws: Workspace) -> None:
    for kind in KINDS:
        assert compiled_validator(ws.schemas_dir / f"{kind}.json").fast is not None, kind


def test_no_fast_path_for_keywords_it_does_not_compile(ws: Workspace) -> None:
    path = _schema(ws.root, "pp", {"patternProperties": {"^x": {"type": "string"}}, "additionalProperties": False})
    contract = compiled_validator(path)
    assert contract.fast is None
    assert contract.check({"xa": "s"}).valid and not contract.check({"xa": 1}).valid


_LEAVES: list[Any] = [None, True, False, 0, 1, -1, 1.0, 2.5, 767, 768, "", "x", "passed", "failed", "major",
                      "minor", "critical", "https://a.example/x", "https://exa%mple.com", "2026-02-30",
                      "2026-02-28", [], {}, ["a", "a"], [1, True]]


def _mutate(data: Any, rnd: Any, rate: float, depth: int = 0) -> Any:
    """Drop, replace or duplicate parts of an artifact anywhere in it, each with probability ``rate``."""
    if isinstance(data, dict):
        out = dict(data)
        for key in list(out):
            roll = rnd.random()
            if roll < rate:
                del out[key]
            elif roll < 2 * rate:
                out[key] = rnd.choice(_LEAVES)
            elif depth < 6:
                out[key] = _mutate(out[key], rnd, rate, depth + 1)
        if rnd.random() < rate:
            out["extra"] = rnd.choice(_LEAVES)
        return out
    if isinstance(data, list):
        out_list = [_mutate(x, rnd, rate, depth + 1) if rnd.random() > rate else rnd.choice(_LEAVES) for x in data]
        if out_list and rnd.random() < rate:
            out_list.append(copy.deepcopy(out_list[0]))
        if out_list and rnd.random() < rate:
            out_list.pop(rnd.randrange(len(out_list)))
        return out_list
    return rnd.choice(_LEAVES) if rnd.random() < rate else data


@pytest.mark.parametrize("kind", KINDS)
def test_fast_path_agrees_with_jsonschema(ws: Workspace, kind: str) -> None:
    import random

    contract = compiled_validator(ws.schemas_dir / f"{kind}.json")
    assert contract.fast is not None
    rnd = random.Random(kind)
    base = example(kind)
    seen = {True: 0, False: 0}
    for _ in range(400):
        data = _mutate(base, rnd, rnd.choice([0.0, 0.005, 0.02, 0.05, 0.15]))
        expected = contract.validator.is_valid(data)
        assert contract.fast(data) == expected, json.dumps(data)[:500]
        seen[expected] += 1
    assert seen[True] and seen[False]


def test_fast_path_agrees_on_tricky_keywords() -> None:
    from agentctl.contracts.fastschema import compile_fast
    from agentctl.contracts.schemas import format_checker, load_jsonschema

    js = load_jsonschema()
    schema = {"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
        "f": {"type": ["number", "null"], "maximum": 2.5, "exclusiveMinimum": 0},
        "c": {"const": 1}, "e": {"enum": [[1], {"a": False}, "z"]},
        "u": {"type": "array", "uniqueItems": True, "contains": {"type": "string"}, "minContains": 2,
              "maxContains": 3},
        "o": {"oneOf": [{"type": "string"}, {"minLength": 2}]},
        "i": {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
        "p": {"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1, "maxProperties": 2,
              "dependentRequired": {"a": ["b"]}, "additionalProperties": {"type": "integer"}},
        "t": {"items": False}, "s": {"maxLength": 3, "allOf": [{"not": {"const": "bad"}}]},
    }, "additionalProperties": False}
    fast = compile_fast(schema, format_checker())
    assert fast is not None
    v = js.Draft202012Validator(schema, format_checker=format_checker())
    values = [None, True, False, 0, 1, 1.0, 10, 9.0, 2.5, 3, -1, "", "a", "ab", "bad", "abcd", [], [1], [True], ["a"],
              ["a", "b"], ["a", "a"], ["a", "b", "c", "d"], {}, {"a": False}, {"a": 0}, {"a": 1, "b": 2},
              {"A": 1}, {"a": 1, "b": 2, "c": 3}, {"b": "x"}]
    for key in schema["properties"]:
        for value in values:
            assert fast({key: value}) == v.is_valid({key: value}), (key, value)
    assert fast({"zz": 1}) is False


def test_fast_path_handles_deep_nesting() -> None:
    from agentctl.contracts.fastschema import compile_fast
    from agentctl.contracts.schemas import format_checker, load_jsonschema

    js = load_jsonschema()
    schema: dict[str, Any] = {"type": "integer", "maximum": 3}
    for _ in range(25):  # deeper than Python's 20 nested blocks: the compiler must spill into functions
        schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "array", "items": schema}}}
    fast = compile_fast(schema, format_checker())
    assert fast is not None
    v = js.Draft202012Validator(schema)
    for leaf in (1, 4, "x"):
        data: Any = leaf
        for _ in range(25):
            data = {"a": [data]}
        assert fast(data) == v.is_valid(data)
    assert compile_fast({"prefixItems": [{"type": "string"}]}, None) is None
    assert compile_fast({"$ref": "#/$defs/x", "$defs": {"x": {}}}, None) is None


def test_lazily_loaded_formats_are_still_enforced() -> None:
    from agentctl.contracts.schemas import format_checker

    checker = format_checker()
    assert checker.conforms("P3D", "duration") and not checker.conforms("3 days", "duration")
    assert checker.conforms("https://example.com/ü", "iri") and not checker.conforms("not an iri", "iri")
