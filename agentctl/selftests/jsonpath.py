"""A small JSONPath-like resolver for self-test checks (SPEC §7).

Supported: ``a``, ``a.b``, ``items[0].x``, ``items[-1]``, ``bugs[*].severity``,
``a.*``, ``['odd key']`` and an optional leading ``$`` / ``$.``. That is all the
checks need; jsonpath-ng is not a dependency and its filters would only invite
config that cannot be read at a glance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[^.\[\]\s]+")
_BRACKET = re.compile(r"""\[\s*(\*|-?\d+|'[^']*'|"[^"]*")\s*\]""")


@dataclass(frozen=True)
class Segment:
    kind: str  # "key" | "index" | "wild"
    key: str | int | None = None


def parse(path: str) -> list[Segment]:
    """Parse ``path`` into segments; a syntax error raises ValueError naming the position."""
    text = path.strip()
    pos = 1 if text.startswith("$") else 0
    segments: list[Segment] = []
    first = True
    while pos < len(text):
        ch = text[pos]
        if ch == "[":
            m = _BRACKET.match(text, pos)
            if not m:
                raise ValueError(f"bad bracket at position {pos} of {path!r} (use [0], [-1], [*] or ['key'])")
            segments.append(_bracket_segment(m.group(1)))
            pos = m.end()
        elif ch == "." or first:
            pos += ch == "."
            if text.startswith("*", pos):
                segments.append(Segment("wild"))
                pos += 1
            else:
                m = _NAME.match(text, pos)
                if not m:
                    raise ValueError(f"expected a key at position {pos} of {path!r}")
                segments.append(Segment("key", m.group(0)))
                pos = m.end()
        else:
            raise ValueError(f"unexpected {ch!r} at position {pos} of {path!r}")
        first = False
    return segments


def _bracket_segment(inner: str) -> Segment:
    if inner == "*":
        return Segment("wild")
    if inner[0] in "'\"":
        return Segment("key", inner[1:-1])
    return Segment("index", int(inner))


def _step(path: str, value: Any, seg: Segment) -> list[tuple[str, Any]]:
    if seg.kind == "key":
        if isinstance(value, dict) and seg.key in value:
            return [(_key_label(path, str(seg.key)), value[seg.key])]
        return []
    if seg.kind == "index":
        idx = int(seg.key)  # type: ignore[arg-type]
        if isinstance(value, list) and -len(value) <= idx < len(value):
            return [(f"{path}[{idx}]", value[idx])]
        return []
    if isinstance(value, list):
        return [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return [(_key_label(path, str(k)), v) for k, v in value.items()]
    return []


def _key_label(path: str, key: str) -> str:
    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def resolve(doc: Any, path: str | list[Segment]) -> list[tuple[str, Any]]:
    """Every (concrete path, value) that ``path`` reaches in ``doc``; [] when nothing does."""
    segments = parse(path) if isinstance(path, str) else path
    found: list[tuple[str, Any]] = [("", doc)]
    for seg in segments:
        found = [hit for p, v in found for hit in _step(p, v, seg)]
        if not found:
            break
    return [(p or "$", v) for p, v in found]
