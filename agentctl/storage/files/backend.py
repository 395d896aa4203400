"""The file backend's ``Storage``: every store of a workspace folder (SPEC §1, §12).

Each store stages its writes in the ambient unit of work (``journal.py``), so an
operation that touches several of them commits all or nothing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from agentctl.storage.artifact_refs import RUNS_DIR, check_key, is_day
from agentctl.storage.base import Recovery
from agentctl.storage.files import durable, journal
from agentctl.storage.files.inflight import FileInflight
from agentctl.storage.files.keyed import FileKeyed
from agentctl.storage.files.registry import FileRegistry
from agentctl.storage.files.runlog import FileRunLog


class FileDocument(durable.JsonState):
    """A small JSON document (breakers) whose transaction joins the unit of work."""

    def __init__(self, root: Path, path: Path, kind: str):
        super().__init__(path, kind)
        self.root = root

    def read(self) -> dict[str, Any]:
        unit = journal.current()
        if unit is not None and unit.staged(self.path)[0]:
            staged: dict[str, Any] = json.loads(unit.staged(self.path)[1] or b"{}")  # written by transaction()
            return staged
        return super().read()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        with journal.unit(self.root) as unit:
            unit.hold(self.path)
            data = self.read()
            yield data
            unit.replace(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


class FileBlob:
    """A whole document as bytes (memory/regressions.yaml, the learn ledger)."""

    def __init__(self, root: Path, rel: str):
        self.root = root
        self.name = rel
        self.path = root / rel

    def read(self) -> bytes | None:
        unit = journal.current()
        if unit is not None and unit.staged(self.path)[0]:
            return unit.staged(self.path)[1]
        return durable.read_bytes(self.path)

    def write(self, data: bytes) -> None:
        with journal.unit(self.root) as unit:
            unit.replace(self.path, data)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return durable.locked(self.path)


class FileAlerts:
    """logs/alerts.jsonl and the dedupe entries."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / "logs" / "alerts.jsonl"
        self.dedupe = FileKeyed(root, "alerts", legacy="alerts.json")
        self._reader = durable.JsonlReader()

    @property
    def skipped(self) -> int:
        return self._reader.skipped

    def append(self, alert: dict[str, Any]) -> None:
        with journal.unit(self.root) as unit:
            unit.append(self.path, durable.dumps_line(alert))

    def read(self) -> Iterator[dict[str, Any]]:
        self._reader.skipped = 0
        yield from self._reader.read(self.path)


class FileBreakerHistory:
    """logs/breakers.jsonl: one line per breaker transition, appended in the breaker's unit of work."""

    name = "logs/breakers.jsonl"

    def __init__(self, root: Path):
        self.root = root
        self.path = root / "logs" / "breakers.jsonl"
        self._reader = durable.JsonlReader()

    @property
    def skipped(self) -> int:
        return self._reader.skipped

    def append(self, event: dict[str, Any]) -> None:
        with journal.unit(self.root) as unit:
            unit.append(self.path, durable.dumps_line(event))

    def read(self, until: str | None = None) -> Iterator[dict[str, Any]]:
        """Every transition, oldest first (``until`` is a hint a database uses; callers filter)."""
        self._reader.skipped = 0
        yield from self._reader.read(self.path)

    def exists(self) -> bool:
        return self.path.exists()


class FileCron(FileKeyed):
    """The cron ledger (one entry per job) and the overlap lock of each job."""

    def __init__(self, root: Path):
        super().__init__(root, "cron", legacy="cron.json")

    def overlap_lock(self, job: str) -> contextlib.AbstractContextManager[None]:
        return durable.locked(self.root / "state" / f"cron-{job}", timeout=0)


class FileArtifacts:
    """artifacts/<taskId>/<name>; a task-less run's are under artifacts/_runs/<day>/<runId>/."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "artifacts"

    def _path(self, task_id: str, name: str) -> Path:
        check_key(task_id, name)
        return self.dir / task_id / name

    def rel(self, task_id: str, name: str) -> str:
        return f"artifacts/{task_id}/{name}"

    def put(self, task_id: str, name: str, data: bytes) -> str:
        with journal.unit(self.root) as unit:
            unit.replace(self._path(task_id, name), data)
        return self.rel(task_id, name)

    def get(self, task_id: str, name: str) -> bytes | None:
        unit = journal.current()
        path = self._path(task_id, name)
        if unit is not None and unit.staged(path)[0]:
            return unit.staged(path)[1]
        return durable.read_bytes(path)

    def local_path(self, task_id: str, name: str) -> Path:
        path = self._path(task_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def prune_runs(self, before: date) -> list[str]:
        """Remove the task-less runs' day folders older than ``before``; the days removed."""
        removed = []
        with contextlib.suppress(FileNotFoundError):
            for entry in sorted((self.dir / RUNS_DIR).iterdir()):
                if entry.is_dir() and not entry.is_symlink() and is_day(entry.name) and entry.name < before.isoformat():
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry.name)
        return removed


class FileStorage:
    """The embedded default backend: tasks.json, JSONL logs and small state files."""

    backend = "files"

    def __init__(self, root: Path):
        self.root = root
        self.registry = FileRegistry(root)
        self.runlog = FileRunLog(root)
        self.breakers = FileDocument(root, root / "state" / "breakers.json", "agents")
        self.idempotency = FileKeyed(root, "idempotency", legacy="idempotency.json")
        self.cron = FileCron(root)
        self.alerts = FileAlerts(root)
        self.learn_ledger = FileBlob(root, "state/learn.json")
        self.regressions = FileBlob(root, "memory/regressions.yaml")
        self.artifacts = FileArtifacts(root)
        self.cache = FileKeyed(root, "cache")
        self.inflight = FileInflight(root)
        self.breaker_history = FileBreakerHistory(root)

    @property
    def ledger(self) -> FileKeyed:
        """The idempotency ledger (old name)."""
        return self.idempotency

    def unit_of_work(self) -> contextlib.AbstractContextManager[Any]:
        return journal.unit(self.root)

    def recover(self) -> Recovery:
        return journal.recover(self.root)

    def close(self) -> None:
        return None
