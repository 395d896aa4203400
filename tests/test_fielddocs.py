"""The editor schemas keep the config fields' docstrings without pydantic's ``use_attribute_docstrings``
(issue 20: that option parsed ``core/config.py``'s source at every start of `run`): what
``templates.with_field_docs`` writes equals what pydantic's own option gives."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentctl.core import config
from agentctl.workspace.templates import write_editor_schemas


def _with_pydantic_docstrings(tmp_path: Path) -> Any:
    """core/config.py as it was: the same source with ``use_attribute_docstrings=True``."""
    source = Path(config.__file__).read_text(encoding="utf-8")
    marker = "use_attribute_docstrings=False"
    assert source.count(marker) == 1
    path = tmp_path / "config_with_docstrings.py"
    path.write_text(source.replace(marker, "use_attribute_docstrings=True"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("config_with_docstrings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_editor_schemas_equal_pydantics_attribute_docstrings(tmp_path: Path) -> None:
    reference = _with_pydantic_docstrings(tmp_path)
    written = {p.name: json.loads(p.read_text()) for p in write_editor_schemas(tmp_path / "out")}
    for name, model in (("agentctl.schema.json", reference.WorkspaceConfig), ("agent.schema.json", reference.AgentDef)):
        expected = model.model_json_schema()
        expected["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        assert written[name] == expected, name
    assert written["agent.schema.json"]["properties"]["role"]["description"].startswith("Selects")


def test_the_config_models_do_not_parse_their_source() -> None:
    models = [m for m in vars(config).values() if isinstance(m, type) and issubclass(m, BaseModel)]
    assert models and not any(m.model_config.get("use_attribute_docstrings") for m in models)
