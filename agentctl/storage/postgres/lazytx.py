"""The registry transaction with row locks, read lazily (PostgreSQL).

``find(id)`` reads and locks that task's row only (``SELECT … FOR UPDATE``): updates,
claims and blocks of different tasks run in parallel, the same task's wait for each other.
Touching ``doc`` (adding a task, archiving, listing) locks the ``nextSeq`` row and then
every task row, so it serialises with every other writer — the file backend's semantics.
The tasks already found are the same objects in ``doc``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from agentctl.core.records import RegistryFile, Task
from agentctl.errors import StateError
from agentctl.storage.base import RegistryTx


class LazyTx(RegistryTx):
    def __init__(self, cur: Any, actor: str):
        super().__init__(RegistryFile(), actor)
        self.cur = cur
        self.full = False
        self.found: dict[str, Task] = {}
        self.versions: dict[str, int] = {}
        self.seq = 1

    @property
    def doc(self) -> RegistryFile:
        if not self.full:
            self._load_all()
        return self._doc

    @doc.setter
    def doc(self, value: RegistryFile) -> None:
        self._doc = value

    def find(self, task_id: str) -> Task | None:
        if self.full:
            return super().find(task_id)
        if task_id in self.found:
            return self.found[task_id]
        self.cur.execute("SELECT doc::text, version FROM tasks WHERE task_id = %s FOR UPDATE", (task_id,))
        row = self.cur.fetchone()
        if row is None:
            return None
        task = _task(row[0])
        self.found[task_id], self.versions[task_id] = task, row[1]
        return task

    def _load_all(self) -> None:
        self.full = True  # before reading: find() now looks in the document
        cur = self.cur
        cur.execute("SELECT value::text FROM agentctl_meta WHERE key = 'nextSeq' FOR UPDATE")
        row = cur.fetchone()
        self.seq = int(row[0]) if row else 1
        cur.execute("SELECT task_id, version, doc::text FROM tasks ORDER BY seq FOR UPDATE")
        tasks = []
        for task_id, version, text in cur.fetchall():
            tasks.append(self.found.get(task_id) or _task(text))
            self.versions[task_id] = version
        self._doc = RegistryFile(nextSeq=self.seq, tasks=tasks)


def _task(text: str) -> Task:
    try:
        return Task.model_validate(msgspec.json.decode(text))
    except (ValueError, msgspec.DecodeError) as exc:
        raise StateError(f"database table tasks: unreadable task ({str(exc).splitlines()[0]}); not changed") from None
