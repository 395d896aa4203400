"""The file backend of the task registry: tasks.json + logs/events.jsonl + archive/.

Every change: exclusive lock → re-read inside the lock → caller mutates →
temp file + fsync + os.replace → one event line per change → release.
Readers never lock: os.replace makes every read see a whole file. On a file agentctl
wrote (sealed) only the tasks a change touches are decoded, validated and re-encoded
(``regview``, ``regcodec``).
"""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentctl.core.records import RegistryFile, Task
from agentctl.core.redact import redact, redact_obj, secret_values
from agentctl.storage.base import Change, RegistryTx
from agentctl.storage.files import journal, regcodec, regview
from agentctl.storage.files.durable import JsonlReader, check_confined, dumps_line, open_log

__all__ = ["Change", "FileRegistry", "RegistryTx", "registry_bytes_ok"]


class FileRegistry:
    def __init__(self, root: Path):
        self.root = root
        self.path = root / "tasks.json"
        self.events_path = root / "logs" / "events.jsonl"
        self.archive_dir = root / "archive"
        self._reader = JsonlReader()

    @property
    def skipped(self) -> int:
        return self._reader.skipped

    def get(self, task_id: str) -> Task | None:
        return self.load().find(task_id)

    def children(self, task_id: str) -> builtins.list[Task]:
        return regview.children(self.load(), task_id)

    def list(self) -> list[Task]:
        return list(self.load().tasks)

    def load(self) -> RegistryFile:
        return self._read()[0]

    def _read(self) -> tuple[RegistryFile, regview.View | None]:
        check_confined(self.path)  # a linked tasks.json is an error (74), never followed nor replaced
        unit = journal.current()
        staged, raw = unit.staged(self.path) if unit is not None else (False, None)
        return regview.read(self.path, raw, staged)

    @contextlib.contextmanager
    def transaction(self, actor: str, now: str) -> Iterator[RegistryTx]:
        check_confined(self.events_path)  # before anything changes: a linked log refuses the whole change
        with journal.unit(self.root) as unit:
            unit.hold(self.path)
            doc, view = self._read()
            tx = regview.FileTx(doc, actor, view)
            yield tx
            if not tx.changes and not tx.archived:
                return
            self._stage(unit, tx, now)

    def _stage(self, unit: journal.FileUnit, tx: RegistryTx, now: str) -> None:
        values = secret_values()
        for task_id in dict.fromkeys(c.taskId for c in tx.changes):
            task = tx.find(task_id)
            if task is not None:
                task.version += 1
        _redact_changed(tx, values)
        unit.replace(self.path, regview.encode(tx))
        unit.after_commit(lambda: regcodec.write_seal(self.path))
        if tx.changes:
            unit.append(self.events_path, b"".join(
                dumps_line({"ts": now, "taskId": c.taskId, "actor": tx.actor, "change": redact(c.change, values=values),
                            "before": redact_obj(c.before, values=values),
                            "after": redact_obj(c.after, values=values)})
                for c in tx.changes))
        if tx.archived:
            self._stage_archive(unit, tx.archived, values)

    # --- archive -------------------------------------------------------------
    def _stage_archive(self, unit: journal.FileUnit, tasks: builtins.list[Task], values: builtins.list[str]) -> None:
        """Append finished tasks to archive/tasks-YYYY-MM.jsonl, in the registry's unit of work."""
        by_month: dict[str, builtins.list[Task]] = {}
        for t in tasks:
            by_month.setdefault(t.updatedAt[:7], []).append(t)
        for month, items in by_month.items():
            payload = b"".join(dumps_line(redact_obj(t.model_dump(mode="json"), values=values)) for t in items)
            unit.append(self.archive_dir / f"tasks-{month}.jsonl", payload)

    def archived(self, reader: JsonlReader | None = None) -> Iterator[Task]:
        """Archived tasks; torn or corrupt lines are skipped and counted in ``reader.skipped``."""
        if reader is None:
            reader = self._reader
            reader.skipped = 0
        for path in sorted(self.archive_dir.glob("tasks-*.jsonl")):
            for obj in reader.read(path):
                try:
                    yield Task.model_validate(obj)
                except ValidationError:
                    reader.skipped += 1

    def last_events(self, task_id: str, limit: int = 20) -> builtins.list[dict[str, Any]]:
        """The task's latest events, from the last 256 KiB of the log."""
        fh = open_log(self.events_path)
        if fh is None:
            return []
        with fh:
            fh.seek(max(0, fh.seek(0, 2) - 262144))
            lines = fh.read().splitlines()
        found = []
        for raw in lines:
            with contextlib.suppress(ValueError):
                obj = json.loads(raw)
                if isinstance(obj, dict) and obj.get("taskId") == task_id:
                    found.append(obj)
        return found[-limit:]

    def events(self, reader: JsonlReader | None = None) -> Iterator[dict[str, Any]]:
        """Event lines; torn or corrupt lines are skipped and counted in ``reader.skipped``."""
        if reader is None:
            reader = self._reader
            reader.skipped = 0
        yield from reader.read(self.events_path)


_UNREDACTED = frozenset({"taskId", "dependsOn", "blockedOn", "agent", "claimedBy", "status", "gate",
                         "createdAt", "updatedAt", "attempts"})
"""Identifiers and enums: never free text, and masking one would break the file's format."""


def _redact_changed(tx: RegistryTx, values: list[str]) -> dict[str, dict[str, Any]]:
    """Mask secrets (values of *_KEY/*_TOKEN/... variables, known key shapes) in the free text of the
    tasks this transaction changed: titles people paste, rejection messages quoting model output.
    Returns each changed task's JSON dump when nothing had to be masked (a backend may write it)."""
    dumps = {}
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
        else:
            dumps[task_id] = dump
    return dumps


def registry_bytes_ok(raw: bytes) -> bool:
    """True when ``raw`` parses as a registry (used by crash tests and benchmarks)."""
    try:
        RegistryFile.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return False
    return True
