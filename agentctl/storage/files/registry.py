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

import msgspec
from pydantic import ValidationError

from agentctl.core.records import RegistryFile, Task
from agentctl.core.redact import redact, redact_obj, secret_values
from agentctl.errors import StateError
from agentctl.storage.files.durable import (
    JsonlReader,
    append_line,
    atomic_write,
    check_confined,
    dumps_line,
    locked,
    read_bytes,
)


@dataclass
class Change:
    taskId: str
    change: str
    before: Any
    after: Any


@dataclass
class RegistryTx:
    """The registry as read inside the lock; record each change with ``log``."""

    doc: RegistryFile
    actor: str
    changes: list[Change] = field(default_factory=list)

    def find(self, task_id: str) -> Task | None:
        for t in self.doc.tasks:
            if t.taskId == task_id:
                return t
        return None

    def log(self, task_id: str, change: str, before: Any, after: Any) -> None:
        self.changes.append(Change(task_id, change, before, after))


class FileRegistry:
    def __init__(self, root: Path):
        self.path = root / "tasks.json"
        self.events_path = root / "logs" / "events.jsonl"
        self.archive_dir = root / "archive"

    def load(self) -> RegistryFile:
        check_confined(self.path)  # a linked tasks.json is an error (74), never followed nor replaced
        raw = read_bytes(self.path)
        if raw is None:
            return RegistryFile()
        try:  # msgspec parses ~4x faster than pydantic's JSON mode; pydantic still validates
            data = msgspec.json.decode(raw)
            if not isinstance(data, dict) or "version" not in data or "tasks" not in data:
                raise StateError(f"{self.path}: unreadable registry (not an agentctl registry: it needs "
                                 "\"version\": 1 and \"tasks\"); it was not changed — fix it or restore it from git")
            return RegistryFile.model_validate(data)
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
        check_confined(self.events_path)  # before anything changes: a linked log refuses the whole change
        with locked(self.path):
            tx = RegistryTx(self.load(), actor)
            yield tx
            if not tx.changes:
                return
            values = secret_values()
            _redact_changed(tx, values)
            data = tx.doc.model_dump_json(indent=1).encode() + b"\n"
            atomic_write(self.path, data)
            lines = b"".join(
                dumps_line({"ts": now, "taskId": c.taskId, "actor": actor, "change": redact(c.change, values=values),
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
    changed = {c.taskId for c in tx.changes}
    for task in tx.doc.tasks:
        if task.taskId not in changed:
            continue
        dump = task.model_dump(mode="json")
        text = {k: v for k, v in dump.items() if k not in _UNREDACTED}
        clean = redact_obj(text, values=values)
        if clean != text:  # in place: callers hold this object and print it
            fresh = Task.model_validate({**dump, **clean})
            for name in clean:
                setattr(task, name, getattr(fresh, name))


def registry_bytes_ok(raw: bytes) -> bool:
    """True when ``raw`` parses as a registry (used by crash tests and benchmarks)."""
    try:
        RegistryFile.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return False
    return True
