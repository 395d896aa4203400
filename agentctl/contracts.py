"""Handoff contracts: JSON Schema validation of artifacts (SPEC §6). STUB — the validation work
replaces the body (compiled validators, FormatChecker, no remote $ref).

INTERFACE (stable, used by the runner and handoff):
    validate_artifact(ws, schema_name, data) -> list[dict]   # [{path, message, missing: [...]}]; [] when valid
"""

from __future__ import annotations

from typing import Any

from agentctl.workspace import Workspace


def validate_artifact(ws: Workspace, schema_name: str, data: Any) -> list[dict[str, Any]]:
    from jsonschema import Draft202012Validator

    schema = ws.load_schema(schema_name)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [{"path": "/".join(map(str, e.absolute_path)) or "$", "message": e.message, "missing": []}
            for e in validator.iter_errors(data)]
