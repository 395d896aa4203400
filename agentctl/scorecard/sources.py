"""The scorecard's sources besides the run log, each read for the window (SPEC §9).

- breaker history: ``logs/breakers.jsonl``, the transitions recorded when they happened
  (``agentctl.breakers.breaker``): each agent's state as of the window's end and its
  trips (openings) in the window. A workspace older than that file falls back to the
  ``breaker_tripped`` alerts for trips and to ``state/breakers.json`` for the state,
  trusted only when its last change is before the window's end;
- handoff rejections recorded on tasks (tasks.json), per producing agent and task;
- task labels: each task's product and task tree (root of its ``parent`` chain, when
  tasks carry one), from tasks.json and the archive months of the window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agentctl.core.clock import iso
from agentctl.errors import AgentctlError, StateError
from agentctl.storage import open_log

if TYPE_CHECKING:
    from agentctl.workspace.loader import Workspace

OPENINGS = frozenset({"tripped", "reopened", "tripped manually"})


class _Event(msgspec.Struct, gc=False):
    ts: str = ""
    agent: str = ""
    transition: str = ""
    state: str = ""
    retryAt: str | None = None


class _Alert(msgspec.Struct, gc=False):
    ts: str = ""
    kind: str = ""
    source: str | None = None
    data: dict[str, Any] | None = None


def _lines(path: Path, decoder: Any) -> list[Any]:
    fh = open_log(path)
    if fh is None:
        return []
    out = []
    with fh:
        for line in fh:
            try:
                out.append(decoder.decode(line))
            except msgspec.DecodeError:
                continue
    return out


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    from agentctl.core.clock import parse_iso

    try:
        return parse_iso(text)
    except AgentctlError:
        return None


@dataclass
class BreakerHistory:
    """Each agent's breaker as of the window's end, and its openings in the window."""

    open_at_end: list[str] = field(default_factory=list)
    trips: Counter[str] = field(default_factory=Counter)
    source: str = "logs/breakers.jsonl"


def breaker_history(ws: Workspace, start: datetime, end: datetime) -> BreakerHistory:
    path = ws.root / "logs" / "breakers.jsonl"
    events = [(t, e) for e in _lines(path, msgspec.json.Decoder(_Event)) if (t := _time(e.ts)) is not None]
    if not events and not path.exists():
        return _legacy_history(ws, start, end)
    out = BreakerHistory()
    last: dict[str, _Event] = {}
    for t, e in sorted(events, key=lambda te: te[0]):
        if t >= end:
            break
        last[e.agent] = e
        if t >= start and e.transition in OPENINGS:
            out.trips[e.agent] += 1
    out.open_at_end = sorted(a for a, e in last.items() if e.state != "closed")
    return out


def _legacy_history(ws: Workspace, start: datetime, end: datetime) -> BreakerHistory:
    out = BreakerHistory(source="logs/alerts.jsonl + state/breakers.json")
    for a in _lines(ws.alerts_path, msgspec.json.Decoder(_Alert)):
        t = _time(a.ts)
        if "breaker" in a.kind and "trip" in a.kind and t is not None and start <= t < end:
            agent = (a.data or {}).get("agent") or a.source or ""
            out.trips[str(agent).removeprefix("breaker:")] += 1
    try:
        data = ws.storage.breakers.read()
    except StateError:
        return out
    for name, rec in (data.get("agents") or {}).items():
        changed = _time(rec.get("lastChangeAt")) if isinstance(rec, dict) else None
        if changed is not None and changed < end and rec.get("state") != "closed":
            out.open_at_end.append(name)
    out.open_at_end.sort()
    return out


def handoff_rejections(ws: Workspace, start: datetime, end: datetime) -> dict[str, Counter[str]]:
    """Rejections recorded on tasks (tasks.json) in the window, per producing agent and task."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for task in ws.storage.registry.load().tasks:
        for rej in task.rejections:
            t = _time(rej.at)
            if task.agent and t is not None and start <= t < end:
                out[task.agent][task.taskId] += 1
    return out


class _TaskLite(msgspec.Struct, gc=False):
    taskId: str = ""
    title: str = ""
    product: str | None = None
    parent: str | None = None


@dataclass
class TaskLabels:
    """taskId → label index; labels[i] = (product, tree root or None); titles of the roots."""

    index: dict[str, int] = field(default_factory=dict)
    labels: list[tuple[str | None, str | None]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    tree_sizes: Counter[str] = field(default_factory=Counter)


def task_labels(ws: Workspace, start: datetime) -> TaskLabels:
    tasks: dict[str, _TaskLite] = {}
    for live in ws.storage.registry.load().tasks:
        tasks[live.taskId] = _TaskLite(live.taskId, live.title, live.product, getattr(live, "parent", None))
    archive = ws.root / "archive"
    decoder = msgspec.json.Decoder(_TaskLite)
    month = iso(start)[:7]
    for path in sorted(archive.glob("tasks-*.jsonl")) if archive.is_dir() else ():
        if path.stem.removeprefix("tasks-") >= month:
            for t in _lines(path, decoder):
                tasks.setdefault(t.taskId, t)
    out = TaskLabels()
    has_children = {t.parent for t in tasks.values() if t.parent}
    ids: dict[tuple[str | None, str | None], int] = {}
    for tid, t in tasks.items():
        root = _root(tid, tasks) if (t.parent or tid in has_children) else None
        if t.product is None and root is None:
            continue
        key = (t.product, root)
        out.index[tid] = ids.setdefault(key, len(ids))
        if root is not None:
            out.tree_sizes[root] += 1
            out.titles.setdefault(root, tasks[root].title if root in tasks else "")
    out.labels = list(ids)
    return out


def _root(tid: str, tasks: dict[str, _TaskLite]) -> str:
    seen = {tid}
    while (parent := tasks[tid].parent) and parent in tasks and parent not in seen:
        seen.add(parent)
        tid = parent
    return tid
