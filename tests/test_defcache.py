"""The cache of validated definitions (agentctl.workspace.defcache, issue 20): the same bytes give the
same objects without YAML or validation; anything else is read in full, with the same problems."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import write_agent
from pydantic import BaseModel

from agentctl.core.config import AgentDef, WorkspaceConfig
from agentctl.errors import ConfigError
from agentctl.workspace import defcache
from agentctl.workspace.loader import CONFIG_NAME, Workspace, _validate_file

CHECKED_AGENT = """name: checked
tier: standard
role: qa
breaker: {threshold: 2}
self_tests:
  - {name: nothing-equal, check: {path: a.b, equals: null}}
  - {name: shaped, check: {path: items, min_items: 1}}
  - {name: argv, run: [sh, -c, "exit 0"], timeout_s: 5}
"""


def _tree(value: Any) -> Any:
    """The value with each model's class and fields-set made explicit (== alone ignores both)."""
    if isinstance(value, BaseModel):
        return (type(value), sorted(value.model_fields_set), {k: _tree(v) for k, v in value.__dict__.items()})
    if isinstance(value, list):
        return [_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _tree(v) for k, v in value.items()}
    return (type(value), value)


def _entries(root: Path) -> list[Path]:
    return sorted((root / defcache.CACHE_DIR).glob("*.json"))


def test_cached_definitions_are_the_validated_ones(studio_ws: Path) -> None:
    write_agent(studio_ws, "checked", CHECKED_AGENT)
    full = Workspace(studio_ws)
    expected = _validate_file(full.config_path, WorkspaceConfig, CONFIG_NAME, None)[0]
    agents = {p.stem: _validate_file(p, AgentDef, p.name, None)[0] for p in sorted(full.agents_dir.glob("*.yaml"))}
    first = Workspace(studio_ws)
    assert _tree(first.config) == _tree(expected) and _tree(first.agents) == _tree(agents)  # stored
    assert len(_entries(studio_ws)) == 1 + len(agents)
    again = Workspace(studio_ws)
    assert _tree(again.config) == _tree(expected) and _tree(again.agents) == _tree(agents)  # rebuilt from the cache
    check = again.agents["checked"].self_tests[0].check
    assert check is not None and "equals" in check.model_fields_set and check.equals is None


def test_a_file_with_problems_is_never_cached_and_reports_the_same(tmp_path: Path, minimal_ws: Path) -> None:
    write_agent(minimal_ws, "bad", "name: bad\ntier: 3\n")
    for _ in range(2):
        try:
            Workspace(minimal_ws).agents
        except ConfigError as exc:
            problems = [p.render() for p in exc.problems]
        assert problems == ["agents/bad.yaml:2 [tier]: Input should be a valid string (got int 3)"]
    assert not any("bad" in p.read_text() for p in _entries(minimal_ws))


def test_an_edited_file_is_read_again(minimal_ws: Path) -> None:
    write_agent(minimal_ws, "a", "name: a\ntier: fast\n")
    assert Workspace(minimal_ws).agents["a"].tier == "fast"
    write_agent(minimal_ws, "a", "name: a\ntier: slow\nnot_a_key: 1\n")
    try:
        Workspace(minimal_ws).agents
        raise AssertionError("the edited file was not read")
    except ConfigError as exc:
        assert [p.field for p in exc.problems] == ["not_a_key"]


def test_a_corrupt_or_forged_entry_is_ignored(minimal_ws: Path) -> None:
    path = write_agent(minimal_ws, "a", "name: a\ntier: fast\n")
    Workspace(minimal_ws).agents
    entry = defcache.cache_path(minimal_ws, AgentDef, path.read_bytes())
    assert entry.is_file()
    forged = json.loads(entry.read_text())
    forged["tree"]["m"] = "RunRecord"  # not a config model
    forged_field = json.loads(entry.read_text())
    forged_field["tree"]["f"]["tier"] = {"m": "ModelRef", "f": {}, "s": []}  # a model where the file has a string
    for text in ("{not json", json.dumps(forged), json.dumps({"tree": {"v": "a"}}), json.dumps(forged_field)):
        entry.write_text(text)
        assert Workspace(minimal_ws).agents["a"].tier == "fast"
        assert json.loads(entry.read_text())["tree"]["f"]["tier"] == {"v": "fast"}  # rewritten by the full read


def test_values_the_encoding_cannot_hold_are_not_cached(minimal_ws: Path) -> None:
    config_path = minimal_ws / CONFIG_NAME
    job = "cron:\n  - {name: j, schedule: '* * * * *', builtin: disk, args: {nested: {1: one}}}\n"
    config_path.write_text(config_path.read_text().replace("cron: []\n", job))
    config = Workspace(minimal_ws).config
    assert config.cron[0].args == {"nested": {1: "one"}}
    assert _entries(minimal_ws) == []
    assert Workspace(minimal_ws).config.cron[0].args == {"nested": {1: "one"}}


def test_the_size_limit_is_the_strict_readers() -> None:
    from agentctl.workspace.yamlstrict import MAX_YAML_BYTES

    assert defcache.MAX_BYTES == MAX_YAML_BYTES


PROBE = """
import json, sys
from pathlib import Path
from agentctl.workspace.loader import Workspace
ws = Workspace(Path(sys.argv[1]))
print(json.dumps({"tier": ws.agents["a"].tier, "prefix": ws.config.task_prefix, "yaml": "yaml" in sys.modules}))
"""


def test_the_cached_path_imports_no_yaml(minimal_ws: Path) -> None:
    write_agent(minimal_ws, "a", "name: a\ntier: fast\n")

    def probe() -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-c", PROBE, str(minimal_ws)], capture_output=True, text=True,
                             check=True, timeout=60).stdout
        return dict(json.loads(out))

    assert probe() == {"tier": "fast", "prefix": "T", "yaml": True}
    assert probe() == {"tier": "fast", "prefix": "T", "yaml": False}


def test_old_entries_are_pruned(minimal_ws: Path, monkeypatch) -> None:
    monkeypatch.setattr(defcache, "MAX_ENTRIES", 4)
    for i in range(6):
        write_agent(minimal_ws, "a", f"name: a\ntier: t{i}\n")
        assert Workspace(minimal_ws).agents["a"].tier == f"t{i}"
        assert len(_entries(minimal_ws)) <= 4
    assert Workspace(minimal_ws).agents["a"].tier == "t5"
