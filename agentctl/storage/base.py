"""The storage interfaces (SPEC §12). Services depend on these shapes; the file
backend implements them today, a PostgreSQL backend would add row locks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from agentctl.core.records import RegistryFile, RunRecord, Task


class Registry(Protocol):
    def load(self) -> RegistryFile: ...
    def transaction(self, actor: str, now: str) -> contextlib.AbstractContextManager[Any]: ...
    def archive_tasks(self, tasks: list[Task]) -> None: ...
    def archived(self) -> Iterator[Task]: ...
    def events(self) -> Iterator[dict[str, Any]]: ...


class RunLog(Protocol):
    def append(self, record: RunRecord) -> None: ...
    def read_window(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]: ...


class StateStore(Protocol):
    """A small keyed state document under its own lock (breakers, idempotency ledger)."""

    def read(self) -> dict[str, Any]: ...
    def transaction(self) -> contextlib.AbstractContextManager[dict[str, Any]]: ...


@dataclass
class Storage:
    registry: Registry
    runlog: RunLog
    breakers: StateStore
    ledger: StateStore
    inflight: Any = None
    """Runs in flight (slots, leases): ``storage.files.inflight.FileInflight``."""


def open_file_storage(root: Path) -> Storage:
    from agentctl.storage.files.durable import JsonState
    from agentctl.storage.files.inflight import FileInflight
    from agentctl.storage.files.registry import FileRegistry
    from agentctl.storage.files.runlog import FileRunLog

    return Storage(
        registry=FileRegistry(root),
        runlog=FileRunLog(root),
        breakers=JsonState(root / "state" / "breakers.json", "agents"),
        ledger=JsonState(root / "state" / "idempotency.json", "keys"),
        inflight=FileInflight(root),
    )
