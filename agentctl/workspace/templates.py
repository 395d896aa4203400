"""Workspace templates (SPEC §1): `studio` is the reference fleet kept at the
repository root; `minimal` is a config with tiers and nothing else.

Installed from a wheel, the studio files live in ``agentctl/_studio`` (hatch
force-include); from a source checkout they are read from the repository root.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentctl.errors import ConfigError, UsageError

PACKAGE = Path(__file__).resolve().parent.parent
STUDIO_PARTS = ("agentctl.yaml", "agents", "schemas", "prompts")
WORKSPACE_DIRS = ("agents", "schemas", "prompts", "logs/runs", "state", "memory", "artifacts", "archive")

MINIMAL_CONFIG = """\
# yaml-language-server: $schema=.agentctl/schemas/agentctl.schema.json
# A minimal agentctl workspace: add a file to agents/ to run it.
version: 1
tiers:
  premium: {provider: anthropic, model: claude-opus-4-6, fallback: [{provider: anthropic, model: claude-sonnet-4-6}]}
  standard: {provider: anthropic, model: claude-sonnet-4-6, fallback: [{provider: anthropic, model: claude-haiku-4-5}]}
  economy: {provider: anthropic, model: claude-haiku-4-5}
pipeline: []
roles: {}
cron: []
"""


def studio_source() -> Path:
    for candidate in (PACKAGE / "_studio", PACKAGE.parent):
        if (candidate / "agentctl.yaml").is_file() and (candidate / "agents").is_dir():
            return candidate
    raise ConfigError("the studio template is missing from this installation (reinstall agentctl)")


def editor_schema_dir(root: Path) -> Path:
    return root / ".agentctl" / "schemas"


def write_editor_schemas(out: Path) -> list[Path]:
    """`{agentctl,agent}.schema.json` in ``out``, generated from the models."""
    from agentctl.core.config import AgentDef, WorkspaceConfig

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in (("agentctl", WorkspaceConfig), ("agent", AgentDef)):
        schema = with_field_docs(model.model_json_schema(), model)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def with_field_docs(schema: dict[str, Any], root: type[BaseModel]) -> dict[str, Any]:
    """Each property's ``description`` from the docstring under its field in the model's source. The
    models do not set ``use_attribute_docstrings``: pydantic would parse their source at every start of
    every command, for text only the editor schemas show."""
    import sys

    module = vars(sys.modules[root.__module__])
    models = {n: c for n, c in module.items() if isinstance(c, type) and issubclass(c, BaseModel)}
    for title, part in [(root.__name__, schema), *schema.get("$defs", {}).items()]:
        cls = models.get(title)
        if cls is None:
            continue
        docs = _attribute_docs(cls)
        for field_name, info in cls.model_fields.items():
            prop = part.get("properties", {}).get(info.alias or field_name)
            if prop is not None and field_name in docs and "description" not in prop:
                prop["description"] = docs[field_name]
    return schema


def _attribute_docs(cls: type) -> dict[str, str]:
    """field → the string literal right after its annotated assignment, in ``cls``'s body and in its
    bases' (those of the same module: each module's source is parsed once)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_module_docs(klass.__module__).get(klass.__qualname__, {}))
    return docs


@cache
def _module_docs(module: str) -> dict[str, dict[str, str]]:
    """class name → field → docstring, for every class of an agentctl module (others: none)."""
    import ast
    import inspect
    import sys

    if not module.startswith("agentctl."):
        return {}
    try:
        tree = ast.parse(inspect.getsource(sys.modules[module]))
    except (OSError, TypeError, SyntaxError, KeyError):
        return {}
    out: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields = out.setdefault(node.name, {})
        for stmt, nxt in zip(node.body, node.body[1:], strict=False):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                fields[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return out


def init_workspace(target: Path, template: str, force: bool) -> list[str]:
    if template not in ("studio", "minimal"):
        raise UsageError(f"--template must be studio or minimal, got {template!r}")
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise UsageError(f"{target} is not empty; use --force to write the template into it "
                         "(tasks.json and logs/ are never overwritten)")
    target.mkdir(parents=True, exist_ok=True)
    created: list[str] = []
    if template == "studio":
        src = studio_source()
        for part in STUDIO_PARTS:
            s, d = src / part, target / part
            if s.is_dir():
                shutil.copytree(s, d, dirs_exist_ok=True)
            elif s.is_file():
                shutil.copy2(s, d)
            created.append(part)
    else:
        (target / "agentctl.yaml").write_text(MINIMAL_CONFIG, encoding="utf-8")
        created.append("agentctl.yaml")
    for folder in WORKSPACE_DIRS:
        (target / folder).mkdir(parents=True, exist_ok=True)
    registry = target / "tasks.json"
    if not registry.exists():
        registry.write_text('{"version": 1, "nextSeq": 1, "tasks": []}\n', encoding="utf-8")
        created.append("tasks.json")
    write_editor_schemas(editor_schema_dir(target))
    created.append(".agentctl/schemas/")
    return created
