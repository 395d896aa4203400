"""The registry transaction with row locks, read lazily (PostgreSQL).

``find(id)`` reads and locks that task's row only (``SELECT … FOR UPDATE``): updates,
claims and blocks of different tasks run in parallel, the same task's wait for each other.
Touching ``doc`` (adding a task, archiving, listing) locks the ``nextSeq`` row and then
every task row, so it serialises with every other writer — the file backend's semantics.
The tasks already found are the same objects in ``doc``.

Lock order, so that a whole-registry change and single-task updates never deadlock: every
registry transaction first takes the registry's advisory lock — shared by one that locks
single rows, exclusive by one that needs the whole registry — and only then row locks. A
whole-registry change so waits for the single-row ones in progress (and they for it),
instead of locking half the rows and meeting one of them. A transaction that first finds a
row and then needs the whole registry upgrades its lock; two doing so at once is the one
deadlock left, which the server breaks and ``agentctl.storage.retry`` replays.

Outside a unit of work the transaction is pipelined (``pending``, ``postgres.deferred``):
``find`` reads in the protocol's transaction; a whole-registry read first makes it explicit.
"""

from __future__ import annotations

from typing import Any

import msgspec

from agentctl.core.records import RegistryFile, Task
from agentctl.errors import StateError
from agentctl.storage.base import RegistryTx
from agentctl.storage.snapshots import Snapshots

REGISTRY_LOCK = (0x7267, 1)
"""The two-int advisory lock of the registry (shared: single rows; exclusive: the whole registry)."""


def lock_registry(cur: Any, exclusive: bool) -> None:
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    cur.execute(f"SELECT {fn}(%s, %s)", REGISTRY_LOCK)


class LazyTx(RegistryTx):
    def __init__(self, cur: Any, actor: str, pending: Any = None):
        super().__init__(RegistryFile(), actor)
        self.cur = cur
        self.pending = pending
        self.full = False
        self.found: dict[str, Task] = {}
        self.versions: dict[str, int] = {}
        self.seq = 1
        self.shared = False
        self.picked: dict[str, Task] = {}

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
        if self.shared:
            self.cur.execute("SELECT doc::text, version FROM tasks WHERE task_id = %s FOR UPDATE", (task_id,),
                             prepare=True)
        else:  # one round trip: the scan computes the shared lock before LockRows waits for the row
            self.cur.execute("SELECT doc::text, version, pg_advisory_xact_lock_shared(%s, %s) FROM tasks "
                             "WHERE task_id = %s FOR UPDATE", (*REGISTRY_LOCK, task_id), prepare=True)
        row = self.cur.fetchone()
        if row is None:
            return None
        self.shared = True
        task = _task(row[0])
        self.found[task_id], self.versions[task_id] = task, row[1]
        return task

    def peek(self, task_id: str) -> Task | None:
        """A task to read (a dependency): its row locked ``FOR SHARE``, so it cannot change before the
        commit while other readers go on."""
        if self.full or task_id in self.found:
            return self.find(task_id)
        picked = self.picked.get(task_id)
        if picked is not None and picked.status != "done":  # as ``of_agent`` read it: a task not done only
            return picked  # ever refuses a claim (dependencies, children), so it needs no lock
        self._share()
        self.cur.execute("SELECT doc::text FROM tasks WHERE task_id = %s FOR SHARE", (task_id,))
        row = self.cur.fetchone()
        return None if row is None else _task(row[0])

    def of_agent(self, agent: str, statuses: frozenset[str]) -> list[Task]:
        """The agent's rows in ``statuses``, unlocked (the caller ``find``s, so locks, and re-checks the
        one it takes); a row whose text did not change since the last pass is not validated again."""
        if self.full:
            return super().of_agent(agent, statuses)
        self._share()  # the tasks this transaction found (and may have changed) count as they are now
        self.cur.execute("SELECT task_id, doc::text FROM tasks WHERE (agent = %s AND status = ANY(%s)) "
                         "OR task_id = ANY(%s) ORDER BY seq", (agent, sorted(statuses), list(self.found)))
        rows = self.cur.fetchall()
        shared = iter(_SHARED.pass_over([text for tid, text in rows if tid not in self.found], _task))
        out = [self.found[tid] if tid in self.found else next(shared) for tid, _ in rows]
        self.picked.update((t.taskId, t) for t in out if t.taskId not in self.found)
        return [t for t in out if t.agent == agent and t.status in statuses]

    def _share(self) -> None:
        if not self.shared:
            lock_registry(self.cur, exclusive=False)
            self.shared = True

    def _load_all(self) -> None:
        self.full = True  # before reading: find() now looks in the document
        cur = self.cur
        if self.pending is not None:
            self.pending.begin()
        lock_registry(cur, exclusive=True)
        cur.execute("SELECT value::text FROM agentctl_meta WHERE key = 'nextSeq' FOR UPDATE")
        row = cur.fetchone()
        self.seq = int(row[0]) if row else 1
        cur.execute("SELECT task_id, version, doc::text FROM tasks ORDER BY seq FOR UPDATE")
        tasks = []
        for task_id, version, text in cur.fetchall():
            tasks.append(self.found.get(task_id) or _task(text))
            self.versions[task_id] = version
        self._doc = RegistryFile(nextSeq=self.seq, tasks=tasks)


_SHARED: Snapshots[str] = Snapshots()


def _task(text: str) -> Task:
    try:
        return Task.model_validate(msgspec.json.decode(text))
    except (ValueError, msgspec.DecodeError) as exc:
        raise StateError(f"database table tasks: unreadable task ({str(exc).splitlines()[0]}); not changed") from None
