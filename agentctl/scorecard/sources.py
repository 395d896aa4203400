"""The scorecard's sources besides the run log, each read for the window (SPEC §9).

- breaker history (``storage.breaker_history``: ``logs/breakers.jsonl``, a table on
  PostgreSQL), the transitions recorded when they happened
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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from agentctl.core.clock import iso, parse_iso_or_none
from agentctl.errors import StateError

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


def _event(doc: dict[str, Any]) -> _Event:
    try:
        return msgspec.convert(doc, _Event)
    except msgspec.ValidationError:
        return _Event()


@dataclass
class BreakerHistory:
    """Each agent's breaker as of the window's end, and its openings in the window."""

    open_at_end: list[str] = field(default_factory=list)
    trips: Counter[str] = field(default_factory=Counter)
    source: str = "logs/breakers.jsonl"


def breaker_history(ws: Workspace, start: datetime, end: datetime) -> BreakerHistory:
    store = ws.storage.breaker_history  # files: logs/breakers.jsonl; PostgreSQL: a table
    until = iso(end + timedelta(days=1))  # a hint (callers filter): a day's slack for any ts format
    events = [(t, e) for d in store.read(until) if isinstance(d, dict)
              and (t := parse_iso_or_none((e := _event(d)).ts)) is not None]
    if not events and not store.exists():
        return _legacy_history(ws, start, end)
    out = BreakerHistory()  # source: the breaker history, whichever backend holds it
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
    for raw in ws.storage.alerts.read():  # through the store: a database holds them too
        try:
            a = msgspec.convert(raw, _Alert)
        except msgspec.ValidationError:
            continue
        t = parse_iso_or_none(a.ts)
        if "breaker" in a.kind and "trip" in a.kind and t is not None and start <= t < end:
            agent = (a.data or {}).get("agent") or a.source or ""
            out.trips[str(agent).removeprefix("breaker:")] += 1
    try:
        data = ws.storage.breakers.read()
    except StateError:
        return out
    for name, rec in (data.get("agents") or {}).items():
        changed = parse_iso_or_none(rec.get("lastChangeAt")) if isinstance(rec, dict) else None
        if changed is not None and changed < end and rec.get("state") != "closed":
            out.open_at_end.append(name)
    out.open_at_end.sort()
    return out


def handoff_rejections(ws: Workspace, start: datetime, end: datetime) -> dict[str, Counter[str]]:
    """Rejections recorded on tasks (tasks.json) in the window, per producing agent and task."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for task in ws.storage.registry.load().tasks:
        for rej in task.rejections:
            t = parse_iso_or_none(rej.at)
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
    month = iso(start)[:7]
    for done in ws.storage.registry.archived():  # through the store: on a database too
        if done.updatedAt[:7] >= month:  # archive months of the window (files: tasks-YYYY-MM by updatedAt)
            tasks.setdefault(done.taskId, _TaskLite(done.taskId, done.title, done.product,
                                                    getattr(done, "parent", None)))
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
