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

from agentctl.errors import StateError
from agentctl.models import RegistryFile, Task
from agentctl.store.files import JsonlReader, append_line, atomic_write, dumps_line, locked, read_bytes


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
        raw = read_bytes(self.path)
        if raw is None:
            return RegistryFile()
        try:  # msgspec parses ~4x faster than pydantic's JSON mode; pydantic still validates
            return RegistryFile.model_validate(msgspec.json.decode(raw))
        except msgspec.DecodeError as exc:
            raise StateError(
                f"{self.path}: unreadable registry (invalid JSON: {exc}); it was not changed — "
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
            tx = RegistryTx(self.load(), actor)
            yield tx
            if not tx.changes:
                return
            data = tx.doc.model_dump_json(indent=1).encode() + b"\n"
            atomic_write(self.path, data)
            lines = b"".join(
                dumps_line({"ts": now, "taskId": c.taskId, "actor": actor, "change": c.change,
                            "before": c.before, "after": c.after})
                for c in tx.changes
            )
            append_line(self.events_path, lines)

    # --- archive -------------------------------------------------------------
    def archive_tasks(self, tasks: list[Task]) -> None:
        """Append finished tasks to archive/tasks-YYYY-MM.jsonl (called inside the lock)."""
        by_month: dict[str, list[Task]] = {}
        for t in tasks:
            by_month.setdefault(t.updatedAt[:7], []).append(t)
        for month, items in by_month.items():
            payload = b"".join(dumps_line(t.model_dump(mode="json")) for t in items)
            append_line(self.archive_dir / f"tasks-{month}.jsonl", payload)

    def archived(self) -> Iterator[Task]:
        reader = JsonlReader()
        for path in sorted(self.archive_dir.glob("tasks-*.jsonl")):
            for obj in reader.read(path):
                with contextlib.suppress(ValidationError):
                    yield Task.model_validate(obj)

    def events(self) -> Iterator[dict[str, Any]]:
        yield from JsonlReader().read(self.events_path)


def registry_bytes_ok(raw: bytes) -> bool:
    """True when ``raw`` parses as a registry (used by crash tests and benchmarks)."""
    try:
        RegistryFile.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return False
    return True
