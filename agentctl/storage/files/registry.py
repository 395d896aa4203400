"""The file backend of the task registry: tasks.json + logs/events.jsonl + archive/.

Every change: exclusive lock → re-read inside the lock → caller mutates →
temp file + fsync + os.replace → one event line per change → release.
Readers never lock: os.replace makes every read see a whole file.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr, ValidationError

from agentctl.core.records import RegistryFile, Task
from agentctl.errors import StateError
from agentctl.storage.files import regcodec
from agentctl.storage.files.durable import JsonlReader, append_line, atomic_write, dumps_line, locked


@dataclass
class Change:
    taskId: str
    change: str
    before: Any
    after: Any


class _View:
    """The tasks of a sealed file, built one by one as they are asked for (see regcodec)."""

    def __init__(self, sealed: regcodec.Sealed):
        self.sealed = sealed
        self.found: dict[int, tuple[int, Task]] = {}  # start → (end, task)
        self.added: list[Task] = []
        self.spans: dict[str, tuple[int, int] | None] = {}
        self.expanded = False

    def find(self, task_id: str) -> Task | None:
        for t in self.added:
            if t.taskId == task_id:
                return t
        span = self.spans[task_id] if task_id in self.spans else self.spans.setdefault(task_id, self.sealed.span(task_id))
        if span is None:
            return None
        start, end = span
        if start not in self.found:
            data = json.loads(self.sealed.raw[start:end])
            self.found[start] = (end, regcodec.trusted(Task, data))
        return self.found[start][1]

    def expand(self) -> list[Task]:
        """Every task, in file order; the ones already handed out keep their identity."""
        self.expanded = True
        first = {t.taskId: t for _, t in sorted(self.found.values(), key=lambda et: et[0], reverse=True)}
        out = []
        for data in json.loads(self.sealed.raw)["tasks"]:  # stdlib json: as fast here, and no msgspec import
            out.append(first.pop(data["taskId"], None) or regcodec.trusted(Task, data))
        return out + self.added


class _SealedDoc(RegistryFile):
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


@dataclass
class RegistryTx:
    """The registry as read inside the lock; record each change with ``log``, add tasks with ``add``."""

    doc: RegistryFile
    actor: str
    changes: list[Change] = field(default_factory=list)
    _view: _View | None = field(default=None, repr=False)

    def _lazy(self) -> _View | None:
        view = self._view
        return view if view is not None and not view.expanded else None

    def find(self, task_id: str) -> Task | None:
        view = self._lazy()
        if view is not None:
            return view.find(task_id)
        for t in self.doc.tasks:
            if t.taskId == task_id:
                return t
        return None

    def add(self, task: Task) -> None:
        view = self._lazy()
        if view is not None:
            view.added.append(task)
        else:
            self.doc.tasks.append(task)

    def log(self, task_id: str, change: str, before: Any, after: Any) -> None:
        self.changes.append(Change(task_id, change, before, after))


class FileRegistry:
    def __init__(self, root: Path):
        self.path = root / "tasks.json"
        self.events_path = root / "logs" / "events.jsonl"
        self.archive_dir = root / "archive"

    def load(self) -> RegistryFile:
        return self._read()[0]

    def _read(self) -> tuple[RegistryFile, _View | None]:
        got = regcodec.read_registry_bytes(self.path)
        if got is None:
            return RegistryFile(), None
        raw, st = got
        sealed = regcodec.Sealed.split(raw) if regcodec.is_sealed(self.path, st) else None
        if sealed is None:
            return self._validate(raw), None
        view = _View(sealed)
        doc = _SealedDoc.model_construct(**{**sealed.header(), "tasks": []})  # no default factory call
        del doc.__dict__["tasks"]
        doc._view = view
        return doc, view

    def _validate(self, raw: bytes) -> RegistryFile:
        import msgspec

        try:  # msgspec parses ~4x faster than pydantic's JSON mode; pydantic still validates
            return RegistryFile.model_validate(msgspec.json.decode(raw))
        except msgspec.DecodeError as exc:
            raise StateError(
                f"{self.path}: unreadable registry (invalid JSON: {exc}); it was not changed — "
                "fix it or restore it from git"
            ) from None
        except RecursionError:
            raise StateError(
                f"{self.path}: unreadable registry (JSON nested too deeply); it was not changed — "
                "fix it or restore it from git"
            ) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise StateError(
                f"{self.path}: unreadable registry ({where}: {first['msg']}); "
                "it was not changed — fix it or restore it from git"
            ) from None

    @contextlib.contextmanager
    def transaction(self, actor: str, now: str) -> Iterator[RegistryTx]:
        with locked(self.path):
            doc, view = self._read()
            tx = RegistryTx(doc, actor, _view=view)
            yield tx
            if not tx.changes:
                return
            from agentctl.core.redact import redact_obj, secret_values

            values = secret_values()
            _redact_changed(tx, values)
            data = _encode(tx)
            atomic_write(self.path, data)
            regcodec.write_seal(self.path)
            lines = b"".join(
                dumps_line({"ts": now, "taskId": c.taskId, "actor": actor, "change": c.change,
                            "before": redact_obj(c.before, values=values),
                            "after": redact_obj(c.after, values=values)})
                for c in tx.changes
            )
            try:
                append_line(self.events_path, lines)
            except StateError as exc:  # say so: a retry would repeat a change that did happen
                raise StateError(f"{exc.message}; the change to {self.path.name} WAS committed, "
                                 "only its event line is missing — do not repeat the command") from None

    # --- archive -------------------------------------------------------------
    def archive_tasks(self, tasks: list[Task]) -> None:
        """Append finished tasks to archive/tasks-YYYY-MM.jsonl (called inside the lock)."""
        by_month: dict[str, list[Task]] = {}
        for t in tasks:
            by_month.setdefault(t.updatedAt[:7], []).append(t)
        from agentctl.core.redact import redact_obj, secret_values

        values = secret_values()
        for month, items in by_month.items():
            payload = b"".join(dumps_line(redact_obj(t.model_dump(mode="json"), values=values)) for t in items)
            append_line(self.archive_dir / f"tasks-{month}.jsonl", payload)

    def archived(self, reader: JsonlReader | None = None) -> Iterator[Task]:
        """Archived tasks; torn or corrupt lines are skipped and counted in ``reader.skipped``."""
        reader = reader or JsonlReader()
        for path in sorted(self.archive_dir.glob("tasks-*.jsonl")):
            for obj in reader.read(path):
                try:
                    yield Task.model_validate(obj)
                except ValidationError:
                    reader.skipped += 1

    def events(self, reader: JsonlReader | None = None) -> Iterator[dict[str, Any]]:
        """Event lines; torn or corrupt lines are skipped and counted in ``reader.skipped``."""
        yield from (reader or JsonlReader()).read(self.events_path)


_UNREDACTED = frozenset({"taskId", "dependsOn", "blockedOn", "agent", "claimedBy", "status", "gate",
                         "createdAt", "updatedAt", "attempts"})
"""Identifiers and enums: never free text, and masking one would break the file's format."""


def _redact_changed(tx: RegistryTx, values: list[str]) -> None:
    """Mask secrets (values of *_KEY/*_TOKEN/... variables, known key shapes) in the free text of the
    tasks this transaction changed: titles people paste, rejection messages quoting model output."""
    from agentctl.core.redact import redact_obj

    for task_id in dict.fromkeys(c.taskId for c in tx.changes):
        task = tx.find(task_id)
        if task is None:
            continue
        dump = task.model_dump(mode="json")
        text = {k: v for k, v in dump.items() if k not in _UNREDACTED}
        clean = redact_obj(text, values=values)
        if clean != text:  # in place: callers hold this object and print it
            fresh = Task.model_validate({**dump, **clean})
            for name in clean:
                setattr(task, name, getattr(fresh, name))


def _encode(tx: RegistryTx) -> list[bytes | memoryview]:
    """The new file: on a sealed registry only the tasks handed out or added are encoded (and
    validated); otherwise every task is encoded and the changed ones validated."""
    view = tx._lazy()
    try:
        if view is not None:
            changed = {start: (end, _checked(task)) for start, (end, task) in view.found.items()}
            return view.sealed.splice(tx.doc, changed, [_checked(t) for t in view.added])
        touched = {c.taskId for c in tx.changes}
        chunks = [_checked(t) if t.taskId in touched else regcodec.encode_task(t) for t in tx.doc.tasks]
        return regcodec.encode_registry(tx.doc, regcodec.join_tasks(chunks))
    except ValidationError as exc:  # a bug upstream: never write what the next read would refuse
        first = exc.errors()[0]
        raise StateError(f"refusing to write an invalid task to tasks.json ({'.'.join(map(str, first['loc']))}: "
                         f"{first['msg']}); it was not changed") from None


def _checked(task: Task) -> bytes:
    data = regcodec.encode_task(task)
    Task.model_validate_json(data)
    return data


def registry_bytes_ok(raw: bytes) -> bool:
    """True when ``raw`` parses as a registry (used by crash tests and benchmarks)."""
    try:
        RegistryFile.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return False
    return True
