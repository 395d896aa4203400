"""Vetted contracts (agentctl.contracts.vetted, issue 20): a contract that passed the full check
skips it next time and `run` imports no jsonschema for a valid artifact — with the same verdicts,
and the full check again for any other bytes. The cache is the seam's ``storage.cache`` (both backends)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from test_storage_conformance import backend  # noqa: F401 — the both-backends fixture

from agentctl.contracts import vetted
from agentctl.contracts.schemas import _compile
from agentctl.errors import ConfigError
from agentctl.storage.base import Storage

DESIGN = REPO / "schemas" / "design.json"
VALID = json.loads((REPO / "tests" / "fixtures" / "artifacts" / "design.valid.json").read_text())


def _contract(tmp_path: Path, name: str, schema: Any) -> Path:
    folder = tmp_path / "schemas"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(schema if isinstance(schema, str) else json.dumps(schema))
    return path


def _invalid_designs() -> list[Any]:
    out: list[Any] = [[], {}, {**VALID, "screens": "login"}]
    no_breakpoints = copy.deepcopy(VALID)
    del no_breakpoints["responsiveBreakpoints"]
    twice = copy.deepcopy(VALID)
    twice["screens"] = [*twice["screens"], twice["screens"][0]]  # uniqueItems
    bad_link = copy.deepcopy(VALID)
    bad_link["wireframes"][0]["link"] = "not a uri"  # format: uri
    ok_link = copy.deepcopy(VALID)
    ok_link["wireframes"][0]["link"] = "https://example.com/login"
    return [*out, no_breakpoints, twice, bad_link, ok_link]


def test_a_vetted_contract_gives_the_same_verdicts(backend: Storage, tmp_path: Path) -> None:  # noqa: F811
    path = _contract(tmp_path, "design", DESIGN.read_text())
    full = _compile(path, "schemas/design.json")
    first = vetted.compile_vetted(path, "schemas/design.json", backend.cache)
    assert first._validator is not None  # the first time: the full compile, then remembered
    again = vetted.compile_vetted(path, "schemas/design.json", backend.cache)
    assert again._validator is None and again.fast is not None  # checks skipped, jsonschema not built
    for data in [VALID, *_invalid_designs()]:
        assert again.check(data) == full.check(data), json.dumps(data)[:200]
    assert not again.check(_invalid_designs()[-2]).valid  # the bad link is caught by the lazy format check


def test_other_bytes_are_checked_in_full(backend: Storage, tmp_path: Path) -> None:  # noqa: F811
    path = _contract(tmp_path, "c", {"type": "object", "required": ["a"]})
    vetted.compile_vetted(path, "schemas/c.json", backend.cache)
    path.write_text(json.dumps({"type": "object", "required": ["a"], "minItems": "two"}))  # not a valid schema
    with pytest.raises(ConfigError, match="not a valid draft 2020-12 JSON Schema"):
        vetted.compile_vetted(path, "schemas/c.json", backend.cache)


def test_a_contract_with_a_ref_is_never_remembered(backend: Storage, tmp_path: Path) -> None:  # noqa: F811
    _contract(tmp_path, "part", {"type": "string"})
    # a $ref the fast path never reads (under $defs), spelled with an escape: the full check resolves it
    raw = '{"type": "object", "$defs": {"a": {"\\u0024ref": "part.json"}}}'
    assert json.loads(raw)["$defs"]["a"] == {"$ref": "part.json"}
    path = _contract(tmp_path, "whole", raw)
    for _ in range(2):
        assert vetted.compile_vetted(path, "schemas/whole.json", backend.cache)._validator is not None
    assert backend.cache.get(vetted.cache_key(raw.encode())) is None


def test_an_unusable_cache_is_only_slower(tmp_path: Path) -> None:
    class Broken:
        def get(self, *a: Any, **k: Any) -> Any:
            raise OSError("disk gone")

        def transaction(self, *a: Any, **k: Any) -> Any:
            raise OSError("disk gone")

    path = _contract(tmp_path, "design", DESIGN.read_text())
    contract = vetted.compile_vetted(path, "schemas/design.json", Broken())  # type: ignore[arg-type]
    assert contract.check(VALID).valid and not contract.check({}).valid


PROBE = """
import json, sys
from pathlib import Path
from agentctl.contracts.schemas import check_artifact
from agentctl.workspace.loader import Workspace
ws = Workspace(Path(sys.argv[1]))
verdict = check_artifact(ws, "design", json.loads(sys.argv[2]), ws.storage.cache)
print(json.dumps({"valid": verdict.valid, "missing": verdict.missing, "jsonschema": "jsonschema" in sys.modules}))
"""


def _probe(root: Path, data: Any) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(root), json.dumps(data)], capture_output=True, text=True,
                          timeout=60, check=True)
    return dict(json.loads(proc.stdout))


def test_a_valid_artifact_imports_no_jsonschema_once_the_contract_is_vetted(minimal_ws: Path) -> None:
    (minimal_ws / "schemas" / "design.json").write_text(DESIGN.read_text())
    assert _probe(minimal_ws, VALID) == {"valid": True, "missing": [], "jsonschema": True}  # the full check
    assert _probe(minimal_ws, VALID) == {"valid": True, "missing": [], "jsonschema": False}
    invalid = {k: v for k, v in VALID.items() if k != "wireframes"}
    assert _probe(minimal_ws, invalid) == {"valid": False, "missing": ["wireframes"], "jsonschema": True}
