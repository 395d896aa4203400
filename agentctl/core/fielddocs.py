"""Attribute docstrings of the config models, put into the editor schemas (``agentctl schema export``).

A string literal right under a model field documents it (as in ``agentctl.core.config``).
Pydantic's ``use_attribute_docstrings`` would read them when each class is created: it
finds and parses the module's source, and ``inspect`` walks every loaded module to do so —
≈ 80 ms of every command that loads the config (``agentctl run``, ``work``). Only the
JSON schemas need them, so they are read here, from the source, when those are written,
with pydantic's rules: the docstring of the class that declares the field, cleaned with
``inspect.cleandoc``, unless the field has its own ``description``.
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import cache
from typing import Any


@cache
def _module_docs(module_name: str) -> dict[str, dict[str, str]]:
    """``{class name: {field: docstring}}`` for the top-level classes of a module."""
    tree = ast.parse(inspect.getsource(sys.modules[module_name]))
    out: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = _class_docs(node)
    return out


def _class_docs(node: ast.ClassDef) -> dict[str, str]:
    docs: dict[str, str] = {}
    for stmt, after in zip(node.body, node.body[1:], strict=False):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    return docs


def field_doc(model: type, field: str) -> str | None:
    """The docstring of ``field`` in the class of ``model``'s MRO that declares it."""
    for cls in model.__mro__:
        if field in cls.__dict__.get("__annotations__", {}):
            return _module_docs(cls.__module__).get(cls.__qualname__, {}).get(field)
    return None


def add_field_docs(schema: dict[str, Any], models: list[type]) -> dict[str, Any]:
    """``schema`` (from ``model_json_schema``) with each documented property's ``description``,
    keys sorted as pydantic sorts them. Models are found by their title (the class name)."""
    by_title = {m.__name__: m for m in models}
    for node in [schema, *schema.get("$defs", {}).values()]:
        model = by_title.get(str(node.get("title"))) if isinstance(node, dict) else None
        props = node.get("properties") if model is not None else None
        if model is None or not isinstance(props, dict):
            continue
        for name, prop in props.items():
            doc = field_doc(model, name) if isinstance(prop, dict) and "description" not in prop else None
            if doc:
                props[name] = dict(sorted({**prop, "description": doc}.items()))
    return schema
