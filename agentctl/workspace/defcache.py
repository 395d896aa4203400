"""Validated definitions (``agentctl.yaml``, ``agents/*.yaml``) remembered per file content.

Loading a definition imports PyYAML, parses the file strictly and builds and runs the
pydantic validators of the config models: ≈ 45 ms of every `agentctl run`, for files that
rarely change. A definition that loaded without a problem is therefore kept in
``.agentctl/cache/definitions/<sha256>.json`` (a derived, machine-local cache on both
storage backends: the backend itself is chosen from the config), keyed by the SHA-256 of
the model's name, the installed agentctl and pydantic, and the file's bytes. The next load
of the same bytes rebuilds the same objects with ``model_construct`` — no YAML, no
validation — including which fields the file set (``model_fields_set``).

Only successes are kept, so a file with a problem is always read in full and reports the
same problems (file, line, field). Entries are written atomically; an unreadable, foreign
or corrupt entry is ignored (the file is then read in full and the entry rewritten); past
``MAX_ENTRIES`` entries (one per version of each file) the older half is removed.
Every node of an entry is tagged (model ``m``, list ``l``, mapping ``d``, scalar ``v``), so
a value from the file can never pass for a model; only models of ``agentctl.core.config``
are rebuilt. A value the encoding cannot hold exactly (non-string keys, dates, non-finite
numbers) is simply not cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl import __version__
from agentctl.errors import Problem

if TYPE_CHECKING:
    from pydantic import BaseModel

CACHE_DIR = Path(".agentctl") / "cache" / "definitions"
FORMAT = 1
MAX_BYTES = 1_000_000  # yamlstrict.MAX_YAML_BYTES: a larger file is refused by the full read
MAX_ENTRIES = 512


class _Uncachable(Exception):
    pass


@cache
def _stamp() -> str:
    import pydantic

    return f"{FORMAT}|{__version__}|{pydantic.VERSION}"


def cache_path(root: Path, model: type, raw: bytes) -> Path:
    digest = hashlib.sha256(f"{model.__name__}|{_stamp()}|".encode() + raw).hexdigest()
    return root / CACHE_DIR / f"{digest}.json"


def load_definition(root: Path, path: Path, model: type[BaseModel],
                    full: Callable[[str | None], tuple[Any, list[Problem]]]) -> tuple[Any, list[Problem]]:
    """``full(text)`` (the strict read and validation; ``text=None``: let it read the file) unless
    these bytes were loaded without a problem before."""
    try:
        raw = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
        # as Path.read_text reads it (universal newlines), so the full read sees the same text
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n") if raw is not None else None
    except (OSError, UnicodeDecodeError):
        return full(None)  # the full read reports it
    if raw is None or text is None:
        return full(None)
    entry = cache_path(root, model, raw)
    hit = _read(entry, model)
    if hit is not None:
        return hit, []
    obj, problems = full(text)
    if obj is not None and not problems:
        _write(entry, obj)
    return obj, problems


def _read(entry: Path, model: type[BaseModel]) -> Any:
    try:
        doc = json.loads(entry.read_bytes())
        obj = _decode(doc["tree"], _models())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, _Uncachable, RecursionError):
        return None
    return obj if type(obj) is model else None


def _write(entry: Path, obj: Any) -> None:
    from agentctl.storage import atomic_write

    try:
        data = json.dumps({"tree": _encode(obj)}, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        _prune(entry.parent)
        atomic_write(entry, data.encode("utf-8"), durable=False)  # derived: a lost entry is only a slower load
    except Exception:  # noqa: S110 — a cache that cannot be written (read-only folder, odd value) is only slower
        pass


def _prune(folder: Path) -> None:
    """Every edit of a definition adds an entry: past ``MAX_ENTRIES``, the older half goes."""
    from agentctl.storage import check_confined

    try:
        check_confined(folder / "x")  # never through a link (StateError: nothing removed, nothing cached)
        with os.scandir(folder) as it:
            entries = [(e.stat().st_mtime_ns, e.path) for e in it if e.name.endswith(".json")]
    except OSError:
        return
    if len(entries) >= MAX_ENTRIES:
        for _, path in sorted(entries)[: len(entries) // 2]:
            with contextlib.suppress(OSError):
                os.unlink(path)


@cache
def _models() -> dict[str, type[BaseModel]]:
    from pydantic import BaseModel

    from agentctl.core import config

    return {n: m for n, m in vars(config).items() if isinstance(m, type) and issubclass(m, BaseModel)}


def _encode(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        if _models().get(type(value).__name__) is not type(value) or value.__pydantic_extra__:
            raise _Uncachable(type(value).__name__)
        fields = {name: _encode(v) for name, v in value.__dict__.items()}
        return {"m": type(value).__name__, "f": fields, "s": sorted(value.model_fields_set)}
    if isinstance(value, list):
        return {"l": [_encode(v) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Uncachable("a mapping with non-string keys")
        return {"d": [[k, _encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, str | bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return {"v": value}
    raise _Uncachable(type(value).__name__)


def _decode(node: Any, models: dict[str, type[BaseModel]]) -> Any:
    if "v" in node:
        value = node["v"]
        if value is not None and not isinstance(value, str | bool | int | float):
            raise _Uncachable("not a scalar")
        return value
    if "l" in node:
        return [_decode(v, models) for v in node["l"]]
    if "d" in node:
        return {str(k): _decode(v, models) for k, v in node["d"]}
    cls = models[node["m"]]
    fields = {str(k): _decode(v, models) for k, v in node["f"].items()}
    if set(fields) != set(cls.model_fields):
        raise _Uncachable("fields changed")
    return cls.model_construct(_fields_set={str(s) for s in node["s"]}, **fields)
