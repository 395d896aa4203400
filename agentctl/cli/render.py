"""Plain-text rendering shared by commands (fast: no rich import on hot paths).

Rich reports (scorecard) render in their own modules; this module only turns
rows into aligned columns and objects into JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from agentctl.core.inert import inert


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


def emit_json(obj: Any) -> None:
    sys.stdout.write(to_json(obj) + "\n")


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) or "-"
    return inert(str(v).replace("\n", " "))


def table(rows: list[dict[str, Any]], columns: list[str], headers: list[str] | None = None, max_width: int = 60) -> str:
    headers = headers or [c.upper() for c in columns]
    cells = [[_cell(r.get(c))[:max_width] for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def kv(pairs: list[tuple[str, Any]]) -> str:
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in pairs)
