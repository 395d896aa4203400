"""The registry as a transaction sees it: tasks built only when asked for (issue 20).

On a sealed tasks.json (see ``regcodec``) ``tx.find`` builds one task from its bytes and
``tx.add`` queues a new one; the commit encodes and validates just those and splices them
into the file's bytes. Touching ``doc.tasks`` builds every task (once, keeping the identity
of those already handed out) and the commit then encodes the whole file, as before.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr, ValidationError

from agentctl.core.records import RegistryFile, Task
from agentctl.errors import StateError
from agentctl.storage.base import RegistryTx
from agentctl.storage.files import regcodec
from agentctl.storage.snapshots import Snapshots


class View:
    """The tasks of a sealed file, built one by one as they are asked for."""

    def __init__(self, sealed: regcodec.Sealed):
        self.sealed = sealed
        self.found: dict[int, tuple[int, Task]] = {}  # start → (end, task)
        self.added: list[Task] = []
        self.spans: dict[str, tuple[int, int] | None] = {}
        self.picked: dict[int, Task] = {}  # start → a shared read-only task (``of_agent``)
        self.expanded = False

    def find(self, task_id: str) -> Task | None:
        task, span = self._locate(task_id)
        if task is not None or span is None:
            return task
        start, end = span
        self.found[start] = (end, _build(self.sealed.raw[start:end]))  # its own copy: the caller may change it
        return self.found[start][1]

    def peek(self, task_id: str) -> Task | None:
        """Like ``find``, but a task nobody found is built for reading only (not re-encoded at commit)."""
        task, span = self._locate(task_id)
        if task is not None or span is None:
            return task
        start, end = span
        return self.picked.get(start) or _build(self.sealed.raw[start:end])

    def _locate(self, task_id: str) -> tuple[Task | None, tuple[int, int] | None]:
        """The task when this transaction has it (added, or found), else its span in the bytes (or None)."""
        for t in self.added:
            if t.taskId == task_id:
                return t, None
        if task_id not in self.spans:
            self.spans[task_id] = self.sealed.span(task_id)
        span = self.spans[task_id]
        if span is not None and span[0] in self.found:
            return self.found[span[0]][1], None
        return None, span

    def of_agent(self, agent: str, statuses: frozenset[str]) -> list[Task] | None:
        """The agent's tasks in ``statuses`` (file order), picked from the bytes: only those are built,
        and a task whose bytes did not change since the last pass is not built again. None for a
        name the bytes cannot be searched for (the caller then reads every task)."""
        if not _PLAIN_NAME.fullmatch(agent):
            return None
        raw, found = self.sealed.raw, self.found
        starts = {s: e for s, e in self.sealed.agent_spans(agent)
                  if s not in found and self.sealed.text_field(s, e, "status") in statuses}
        keys = sorted(starts)
        shared = dict(zip(keys, _SHARED.pass_over([raw[s:starts[s]] for s in keys], _build), strict=True))
        self.picked.update(shared)  # what ``peek`` hands out next (dependencies among the agent's own tasks)
        self.spans.update((t.taskId, (s, starts[s])) for s, t in shared.items())
        shared.update((s, t) for s, (_, t) in found.items() if t.agent == agent and t.status in statuses)
        return [shared[s] for s in sorted(shared)] + [t for t in self.added if t.agent == agent and t.status in statuses]

    def expand(self) -> list[Task]:
        """Every task, in file order; the ones already handed out keep their identity."""
        self.expanded = True
        first = {t.taskId: t for _, t in sorted(self.found.values(), key=lambda et: et[0], reverse=True)}
        out = []
        for data in json.loads(self.sealed.raw)["tasks"]:  # stdlib json: as fast here, and no msgspec import
            out.append(first.pop(data["taskId"], None) or regcodec.trusted(Task, data))
        return out + self.added


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""Agent names that read the same in JSON (no escaping), so their bytes can be searched for."""
_SHARED: Snapshots[bytes] = Snapshots()


def _build(data: bytes) -> Task:
    return regcodec.trusted(Task, json.loads(data))  # type: ignore[no-any-return]


class SealedDoc(RegistryFile):
    """A RegistryFile whose ``tasks`` are built on first access (the header is read at once)."""

    _view: Any = PrivateAttr(default=None)

    def __getattr__(self, name: str) -> Any:
        if name == "tasks":
            tasks = self._view.expand()
            self.__dict__["tasks"] = tasks
            return tasks
        return super().__getattr__(name)  # type: ignore[misc]

    def find(self, task_id: str) -> Task | None:
        if "tasks" in self.__dict__:
            return super().find(task_id)
        return self._view.find(task_id)  # type: ignore[no-any-return]

    def model_dump(self, **kw: Any) -> dict[str, Any]:
        self.tasks  # noqa: B018 — expand before pydantic reads __dict__
        return super().model_dump(**kw)

    def model_dump_json(self, **kw: Any) -> str:
        self.tasks  # noqa: B018
        return super().model_dump_json(**kw)


class FileTx(RegistryTx):
    """RegistryTx over a View: ``find`` and ``add`` without building every task."""

    def __init__(self, doc: RegistryFile, actor: str, view: View | None):
        super().__init__(doc, actor)
        self.view = view

    def lazy(self) -> View | None:
        view = self.view
        return view if view is not None and not view.expanded else None

    def find(self, task_id: str) -> Task | None:
        view = self.lazy()
        return view.find(task_id) if view is not None else super().find(task_id)

    def peek(self, task_id: str) -> Task | None:
        view = self.lazy()
        return view.peek(task_id) if view is not None else super().peek(task_id)

    def of_agent(self, agent: str, statuses: frozenset[str]) -> list[Task]:
        view = self.lazy()
        picked = view.of_agent(agent, statuses) if view is not None else None
        return picked if picked is not None else super().of_agent(agent, statuses)

    def add(self, task: Task) -> None:
        view = self.lazy()
        if view is not None:
            view.added.append(task)
        else:
            super().add(task)


def read(path: Path, staged: bytes | None = None, is_staged: bool = False) -> tuple[RegistryFile, View | None]:
    """The registry (a SealedDoc when the file is sealed) and its View; ``staged``: bytes this
    unit of work already wrote (validated in full)."""
    if is_staged:
        return (RegistryFile(), None) if staged is None else (validate(path, staged), None)
    got = regcodec.read_registry_bytes(path)
    if got is None:
        return RegistryFile(), None
    raw, st = got
    sealed = regcodec.Sealed.split(raw) if regcodec.is_sealed(path, st) else None
    if sealed is None:
        doc = validate(path, raw)
        _seal_after_read(path, st)
        return doc, None
    view = View(sealed)
    doc = SealedDoc.model_construct(**{**sealed.header(), "tasks": []})  # no default factory call
    del doc.__dict__["tasks"]
    doc._view = view
    return doc, view


def _seal_after_read(path: Path, st: os.stat_result) -> None:
    """A registry edited by hand (or written by an older agentctl) is validated once: the next
    reads of the same bytes take the sealed fast path. Best effort (a read-only folder stays
    unsealed); never through a link out of the workspace."""
    from agentctl.storage.files.durable import check_confined

    try:
        check_confined(regcodec.seal_path(path))
    except StateError:
        return
    regcodec.write_seal(path, st)


def validate(path: Path, raw: bytes) -> RegistryFile:
    import msgspec

    try:  # msgspec parses ~4x faster than pydantic's JSON mode; pydantic still validates
        data = msgspec.json.decode(raw)
        if not isinstance(data, dict) or "version" not in data or "tasks" not in data:
            raise StateError(f"{path}: unreadable registry (not an agentctl registry: it needs "
                             "\"version\": 1 and \"tasks\"); it was not changed — fix it or restore it from git")
        return RegistryFile.model_validate(data)
    except msgspec.DecodeError as exc:
        raise StateError(f"{path}: unreadable registry (invalid JSON: {exc}); it was not changed — "
                         "fix it or restore it from git") from None
    except RecursionError:
        raise StateError(f"{path}: unreadable registry (JSON nested too deeply); it was not changed — "
                         "fix it or restore it from git") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"{path}: unreadable registry ({where}: {first['msg']}); "
                         "it was not changed — fix it or restore it from git") from None


def encode(tx: RegistryTx) -> bytes:
    """The new file: on a sealed registry only the tasks handed out or added are encoded (and
    validated); otherwise every task is encoded and the changed ones validated."""
    view = tx.lazy() if isinstance(tx, FileTx) else None
    try:
        if view is not None:
            changed = {start: (end, _checked(task)) for start, (end, task) in view.found.items()}
            pieces = view.sealed.splice(tx.doc, changed, [_checked(t) for t in view.added])
        else:
            touched = {c.taskId for c in tx.changes}
            chunks = [_checked(t) if t.taskId in touched else regcodec.encode_task(t) for t in tx.doc.tasks]
            pieces = regcodec.encode_registry(tx.doc, regcodec.join_tasks(chunks))
    except ValidationError as exc:  # a bug upstream: never write what the next read would refuse
        first = exc.errors()[0]
        raise StateError(f"refusing to write an invalid task to tasks.json ({'.'.join(map(str, first['loc']))}: "
                         f"{first['msg']}); it was not changed") from None
    return b"".join(pieces)


def _checked(task: Task) -> bytes:
    data = regcodec.encode_task(task)
    Task.model_validate_json(data)
    return data


def children(doc: RegistryFile, task_id: str) -> list[Task]:
    """The tasks whose ``parent`` is ``task_id``; on a sealed file none are built when no task names it."""
    view = doc._view if isinstance(doc, SealedDoc) and "tasks" not in doc.__dict__ else None
    if view is not None and not view.sealed.mentions("parent", task_id):
        return []
    return [t for t in doc.tasks if t.parent == task_id]
