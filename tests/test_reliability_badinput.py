"""Bad input → a clear error and the right exit code (SPEC §10): never a traceback, a hang,
or a half-written file. Property-based (hypothesis) over agent YAML, agentctl.yaml,
tasks.json, run-log lines and artifacts, run through the CLI in-process; plus the
stated limits of the strict YAML reader, ids that could escape the workspace, and
corrupt or newer state files (exit 74, named, never overwritten).

Checked once against the code before issue #9's fixes: recursive aliases, deep YAML (a
segfault of the whole process at 50,000 levels), deep JSON in tasks.json / breakers.json /
idempotency.json / cron.json / artifacts, `window_s: .inf`, a newer state/learn.json and the
skipped-line counts of learn and friction all fail here.
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import pytest
import yaml
from conftest import REPO, Cli, run_installed
from fixtures_reliability import T0, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentctl.workspace.loader import Workspace

# hypothesis' failure report imports mypy_extensions.TypedDict (deprecated); with warnings as errors that
# would turn a falsifying example into a pytest INTERNALERROR instead of a readable failure
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
PROPERTY = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def no_traceback(res, allowed: set[int]) -> None:
    assert res.exit_code in allowed, (res.exit_code, res.stderr[-800:])
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr[-800:]


# --- strategies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["NO", "yes", "1.10", "2026-01-01", "~", "null", "0x1F", ".inf", "-.nan", "on", "<<"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)
AGENT_KEYS = ["name", "team", "role", "tier", "model", "runtime", "prompt", "prompt_file", "command", "consumes",
              "produces", "self_tests", "breaker", "budget", "timeout_s", "description", "unknown_key"]
CONFIG_KEYS = ["version", "name", "task_prefix", "tiers", "pipeline", "roles", "cron", "alerts", "budgets", "storage",
               "learning", "typo"]


def near_valid(keys: list[str], fixed: dict) -> st.SearchStrategy[dict]:
    """Mappings over the real field names (so validation goes deep), with random values."""
    return st.builds(lambda extra, keep: {**{k: v for k, v in fixed.items() if keep}, **extra},
                     st.dictionaries(st.sampled_from(keys), values, max_size=6), st.booleans())


def yaml_docs(keys: list[str], fixed: dict) -> st.SearchStrategy[bytes]:
    dumped = st.one_of(near_valid(keys, fixed), values).map(
        lambda v: yaml.safe_dump(v, allow_unicode=True).encode("utf-8"))
    return st.one_of(dumped, st.text(max_size=200).map(str.encode), st.binary(max_size=200),
                     dumped.flatmap(lambda b: st.integers(0, len(b)).map(lambda i: b[:i])))  # truncated YAML


# --- agent YAML and agentctl.yaml ----------------------------------------------------------------

@PROPERTY
@given(doc=yaml_docs(AGENT_KEYS, {"name": "x", "runtime": "command", "command": ["true"]}))
def test_random_agent_yaml_is_valid_or_a_clear_78(rel_ws: Path, doc: bytes) -> None:
    (rel_ws / "agents" / "x.yaml").write_bytes(doc)
    cli = Cli(rel_ws)
    res = cli("agents", "validate")
    no_traceback(res, {0, 78})
    if res.exit_code == 78:
        assert "agents/x.yaml" in res.stdout + res.stderr
    no_traceback(cli("agents", "list", "--json"), {0, 78})
    no_traceback(cli("agents", "show", "x", "--json"), {0, 2, 78})
    no_traceback(cli("breaker", "list", "--json"), {0, 78})


@PROPERTY
@given(doc=yaml_docs(CONFIG_KEYS, {"version": 1}))
def test_random_agentctl_yaml_is_valid_or_a_clear_78(rel_ws: Path, doc: bytes) -> None:
    (rel_ws / "agentctl.yaml").write_bytes(doc)
    cli = Cli(rel_ws)
    for argv in (["agents", "validate"], ["cron", "list", "--json"], ["status", "--json"], ["models", "--json"]):
        no_traceback(cli(*argv), {0, 78})


# --- tasks.json ----------------------------------------------------------------------------------

VALID_REGISTRY = json.dumps({"version": 1, "nextSeq": 2, "tasks": [
    {"taskId": "T-1", "title": "a", "status": "todo", "createdAt": "2026-03-02T12:00:00Z",
     "updatedAt": "2026-03-02T12:00:00Z"}]}, indent=1).encode()
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=20)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=15)


def _wrong_type(path: tuple, value) -> bytes:
    doc = json.loads(VALID_REGISTRY)
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return json.dumps(doc).encode()


registries = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(0, len(VALID_REGISTRY) - 1).map(lambda i: VALID_REGISTRY[:i]),  # truncated
    st.builds(_wrong_type, st.sampled_from([("version",), ("nextSeq",), ("tasks",), ("tasks", 0),
                                            ("tasks", 0, "taskId"), ("tasks", 0, "status"),
                                            ("tasks", 0, "checks"), ("tasks", 0, "rejections")]), json_values),
    st.binary(max_size=100),
)


@settings(PROPERTY, max_examples=40)
@given(raw=registries)
def test_a_bad_registry_is_74_and_never_touched(rel_ws: Path, raw: bytes) -> None:
    path = rel_ws / "tasks.json"
    path.write_bytes(raw)
    cli = Cli(rel_ws)
    listed = cli("task", "list", "--json")
    no_traceback(listed, {0, 74})
    if listed.exit_code == 0:
        return  # it happened to be a valid registry
    assert "tasks.json" in listed.stderr
    for argv in (["task", "add", "--title", "t"], ["task", "update", "T-1", "--status", "done"], ["status"],
                 ["run", "cmd", "--task", "T-1"], ["task", "archive", "--older-than", "0s"]):
        res = cli(*argv)
        no_traceback(res, {74})
        assert "tasks.json" in res.stderr
    assert path.read_bytes() == raw
    assert not (rel_ws / "logs" / "events.jsonl").exists()


# --- run-log lines -------------------------------------------------------------------------------

def _record(i: int) -> bytes:
    return json.dumps({"runId": f"r{i}", "startedAt": f"2026-03-01T10:{i % 60:02d}:00Z",
                       "endedAt": f"2026-03-01T10:{i % 60:02d}:01Z", "agent": "cmd", "team": "ops", "role": "ops",
                       "status": "success" if i % 3 else "failure", "durationS": 1.0}).encode()


def _not_json(line: bytes) -> bool:
    if not line.strip() or b"\n" in line:
        return False
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return True
    return False


garbage = st.one_of(
    st.binary(min_size=1, max_size=80),
    st.integers(1, 120).map(lambda n: _record(99)[:n]),  # torn records
    st.sampled_from([b"1", b"[]", b"null", b'"x"', b"true", b"[1, 2]"]),  # JSON, but not an object
).filter(lambda b: (b.strip() != b"" and b"\n" not in b) and (_not_json(b) or b.strip()[:1] not in (b"{",)))


@settings(PROPERTY, max_examples=25)
@given(good=st.integers(0, 6), bad=st.lists(garbage, min_size=1, max_size=6), seed=st.randoms())
def test_bad_run_log_lines_are_skipped_and_counted_by_every_reader(rel_ws: Path, good: int, bad: list[bytes],
                                                                   seed) -> None:
    from datetime import timedelta

    from agentctl.storage.files.durable import JsonlReader

    lines = [_record(i) for i in range(good)] + bad
    seed.shuffle(lines)
    log = rel_ws / "logs" / "runs" / "2026-03-01.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    reader = JsonlReader()
    got = list(Workspace(rel_ws).storage.runlog.read_window(T0 - timedelta(days=3), T0, reader))
    assert (len(got), reader.skipped) == (good, len(bad))
    cli = Cli(rel_ws)
    card = cli("scorecard", "--days", "7", "--now", "2026-03-02T00:00:00Z", "--format", "json")
    no_traceback(card, {0})
    assert card.json()["skippedLines"] == len(bad)
    assert sum(a["runs"] for a in card.json()["agents"]) == good
    learned = cli("learn", "--since", "3d", "--now", "2026-03-02T00:00:00Z", "--json")
    no_traceback(learned, {0})
    assert learned.json()["skippedLines"] == len(bad)
    friction = cli("friction", "--days", "3", "--now", "2026-03-02T00:00:00Z", "--json")
    no_traceback(friction, {0})
    assert friction.json()["skippedLines"] == len(bad)


# --- artifacts -----------------------------------------------------------------------------------

@pytest.fixture
def schema_ws(rel_ws: Path) -> Path:
    shutil.rmtree(rel_ws / "schemas", ignore_errors=True)
    shutil.copytree(REPO / "schemas", rel_ws / "schemas")
    return rel_ws


@PROPERTY
@given(raw=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200),
                     st.integers(1, 400).map(lambda d: b'{"screens": ' + b"[" * d + b"]" * d + b"}")),
       schema=st.sampled_from(["design", "prd", "code", "qa", "research", "review"]))
def test_any_artifact_validates_to_0_or_3(schema_ws: Path, tmp_path: Path, raw: bytes, schema: str) -> None:
    art = tmp_path / "artifact.json"
    art.write_bytes(raw)
    res = Cli(schema_ws)("validate", str(art), "--schema", schema, "--json")
    no_traceback(res, {0, 3})
    assert json.loads(res.stdout)["valid"] is (res.exit_code == 0)


def test_an_artifact_nested_past_the_limit_is_a_rejection_not_a_crash(schema_ws: Path, tmp_path: Path) -> None:
    from agentctl.contracts.schemas import MAX_ARTIFACT_DEPTH

    art = tmp_path / "deep.json"
    art.write_text('{"screens": ' + "[" * 100_000 + "]" * 100_000 + "}")
    res = Cli(schema_ws)("validate", str(art), "--schema", "design")
    no_traceback(res, {3})
    assert f"nested more than {MAX_ARTIFACT_DEPTH} levels" in res.stdout


# --- the strict YAML reader's stated limits --------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


@pytest.mark.parametrize("doc, said", [
    (BOMB, "aliases (alias bomb?)"),
    ("name: x\ndescription: &a [*a]\n", "recursive alias"),
    ("name: x\nbreaker: &b {threshold: *b}\n", "recursive alias"),
    ("name: x\nself_tests:\n  - {name: t, check: {path: a, equals: &e [*e]}}\n", "recursive alias"),
    ("&top {name: x, extra: *top}\n", "recursive alias"),
    ("name: x\ndescription: " + "[" * 200 + "]" * 200 + "\n", "nesting deeper than"),
    ("name: x\ndescription: '" + "y" * 1_000_001 + "'\n", "larger than 1000000 bytes"),
])
def test_yaml_limits_are_a_clear_78(rel_ws: Path, doc: str, said: str) -> None:
    (rel_ws / "agents" / "x.yaml").write_text(doc)
    cli = Cli(rel_ws)
    for argv in (["agents", "validate"], ["agents", "show", "cmd", "--json"], ["run", "cmd", "--prompt", "p"]):
        res = cli(*argv)
        no_traceback(res, {78})
        assert said in res.stdout + res.stderr and "agents/x.yaml" in res.stdout + res.stderr


def test_recursive_aliases_in_agentctl_yaml_and_regressions(rel_ws: Path) -> None:
    cfg = rel_ws / "agentctl.yaml"
    good = cfg.read_text()
    cfg.write_text("version: 1\ncron:\n  - {name: j, schedule: '* * * * *', builtin: disk, args: &a {x: *a}}\n")
    res = Cli(rel_ws)("cron", "list", "--json")
    no_traceback(res, {78})
    assert "recursive alias" in res.stderr
    cfg.write_text(good)
    regs = rel_ws / "memory" / "regressions.yaml"
    regs.write_text("version: 1\nregressions: &r [*r]\n")
    res = Cli(rel_ws)("regressions", "list")
    no_traceback(res, {74})
    assert "recursive alias" in res.stderr and "memory/regressions.yaml" in res.stderr


def test_yaml_nested_far_past_the_limit_never_crashes_the_process(rel_ws: Path) -> None:
    """100,000 levels overflowed the C composer's stack (a segfault) before the depth check: out of process."""
    (rel_ws / "agents" / "x.yaml").write_text("name: x\ndescription: " + "[" * 100_000 + "]" * 100_000 + "\n")
    res = run_installed("-w", str(rel_ws), "agents", "validate")
    no_traceback(res, {78})
    # our limit, or PyYAML ≥ 6.0.4's own nesting limit, which the parser hits first
    out = res.stdout + res.stderr
    assert "nesting deeper than 64 levels" in out or "exceeded maximum nesting depth" in out, out
    assert "agents/x.yaml" in out


# --- ids that could escape the workspace ---------------------------------------------------------

HOSTILE_IDS = ["../x", "../../etc/passwd", "/abs", "a/b", "a\x00b", "x" * 300, "..", ".hidden", "a\\b", "a\nb",
               "-rf", "~root", "a b", "T-1/../../x"]


@pytest.fixture
def id_ws(rel_ws: Path) -> Path:
    from agentctl.registry.service import NewTask, add_task

    add_task(Workspace(rel_ws), NewTask(title="a", agent="cmd"), "setup", T0)
    return rel_ws


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_ids_that_could_escape_the_workspace_are_refused(id_ws: Path, bad: str) -> None:
    outside = snapshot(id_ws.parent)
    cli = Cli(id_ws)
    for argv in (["task", "add", "--title", "t", "--id", bad], ["task", "add", "--title", "t", "--depends-on", bad],
                 ["task", "show", bad], ["task", "update", bad, "--status", "done"],
                 ["task", "claim", bad, "--agent", "cmd"], ["task", "block", "T-1", "--by", "x", "--on", bad],
                 ["handoff", bad], ["selftest", bad], ["run", "cmd", "--task", bad], ["gate", "approve", bad, "--by", "h"]):
        res = cli(*argv)
        no_traceback(res, {2, 78})  # 78: handoff/gate need a pipeline, checked first in this workspace
        if argv[0] not in ("handoff", "gate"):  # ours, or click's for an id that looks like an option
            assert res.exit_code == 2 and ("invalid task id" in res.stderr or "No such option" in res.stderr), \
                (argv, res.stderr)
    after = snapshot(id_ws.parent)
    assert {k for k in after if not k.startswith("ws/")} == {k for k in outside if not k.startswith("ws/")}
    assert after["ws/tasks.json"] == outside["ws/tasks.json"]


def test_a_registry_whose_ids_escape_is_refused_not_used(rel_ws: Path) -> None:
    doc = json.loads(VALID_REGISTRY)
    doc["tasks"][0]["taskId"] = "../../escaped"
    raw = json.dumps(doc).encode()
    (rel_ws / "tasks.json").write_bytes(raw)
    res = Cli(rel_ws)("run", "cmd", "--task", "T-1")
    no_traceback(res, {2, 74})
    assert not (rel_ws.parent / "escaped").exists() and (rel_ws / "tasks.json").read_bytes() == raw


# --- corrupt and newer state files ---------------------------------------------------------------

STATE = {  # file → (a command that reads or rewrites it, how it is named in the message)
    "tasks.json": (["task", "add", "--title", "t"], "tasks.json"),
    "state/breakers.json": (["breaker", "trip", "flaky"], "breakers.json"),
    "state/idempotency.json": (["run", "cmd", "--prompt", "p", "--idempotency-key", "k"], "idempotency.json"),
    "memory/regressions.yaml": (["regressions", "list"], "regressions.yaml"),
    "state/cron.json": (["cron", "run", "tick"], "cron.json"),
    "state/learn.json": (["learn", "--since", "1d"], "learn.json"),
}
CORRUPT = {
    "truncated": lambda name: b'{"version": 1, "tasks": [' if name.endswith(".json") else b"version: 1\nregressions: [",
    "garbage": lambda name: b"\x00\xff\xfe not state at all",
    "wrong shape": lambda name: b"[1, 2, 3]" if name.endswith(".json") else b"- 1\n- 2\n",
    "deep": lambda name: b"[" * 50_000 + b"]" * 50_000,
    "newer": lambda name: NEWER[name],
}
NEWER = {  # the current shape, version 99, and a field this version does not know
    "tasks.json": b'{"version": 99, "nextSeq": 1, "tasks": [], "shards": 4}',
    "state/breakers.json": b'{"version": 99, "agents": {}, "shards": 4}',
    "state/idempotency.json": b'{"version": 99, "keys": {}, "shards": 4}',
    "memory/regressions.yaml": b"version: 99\nregressions: []\nshards: 4\n",
    "state/cron.json": b'{"version": 99, "jobs": {}, "shards": 4}',
    "state/learn.json": b'{"version": 99, "seen": {}, "shards": 4}',
}


@pytest.mark.parametrize("kind", list(CORRUPT))
@pytest.mark.parametrize("rel", list(STATE))
def test_a_corrupt_or_newer_state_file_is_74_named_and_untouched(rel_ws: Path, rel: str, kind: str) -> None:
    path = rel_ws / rel
    raw = CORRUPT[kind](rel)
    path.write_bytes(raw)
    argv, name = STATE[rel]
    res = Cli(rel_ws)(*argv)
    no_traceback(res, {74})
    assert name in res.stderr
    if kind == "newer":
        assert "newer" in res.stderr
    assert path.read_bytes() == raw


def test_config_durations_that_would_overflow_are_78_not_70(rel_ws: Path) -> None:
    body = {"name": "odd", "runtime": "command", "command": ["sh", "-c", "exit 1"]}
    for extra in ({"breaker": {"window_s": float("inf")}}, {"timeout_s": float("nan")},
                  {"breaker": {"cooldown_s": 1e300}}, {"timeout_s": -1}, {"breaker": {"threshold": 0}}):
        (rel_ws / "agents" / "odd.yaml").write_text(yaml.safe_dump({**body, **extra}))
        res = Cli(rel_ws)("run", "odd", "--prompt", "p")
        no_traceback(res, {78})
        assert "agents/odd.yaml" in res.stderr


def test_printable_garbage_arguments_are_usage_errors(rel_ws: Path) -> None:
    cli = Cli(rel_ws)
    for argv in (["task", "list", "--status", "nope"], ["task", "update", "T-9", "--set", "nokey"],
                 ["task", "archive", "--older-than", "soon"], ["scorecard", "--days", "7", "--now", "yesterday"],
                 ["cron", "coverage", "--days", "-1"], ["friction", "--days", "0"],
["learn", "--since", string.punctuation]):
        no_traceback(cli(*argv), {2})
