"""The task registry on PostgreSQL: a row per task with a ``version`` column.

- ``transaction`` (the seam's interface): row locks taken as the caller reads (``LazyTx``:
  one task's row for ``find``, every row for ``doc``), the caller decides, the tasks it
  logged are written with compare-and-set on ``version`` and one event row per change —
  one transaction;
- ``claim_next``: ``FOR UPDATE SKIP LOCKED``, so concurrent claimers never wait on each
  other and each task has one winner;
- ``update_one``: one row locked ``FOR UPDATE``, version + 1.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from psycopg.errors import UniqueViolation
from psycopg.types.json import Json, Jsonb

from agentctl.core.records import RegistryFile, Task
from agentctl.core.redact import redact_obj, secret_values
from agentctl.errors import Conflict, StateError
from agentctl.storage.base import RegistryTx
from agentctl.storage.files.registry import _redact_changed
from agentctl.storage.postgres.connection import Database
from agentctl.storage.postgres.lazytx import LazyTx, _task, lock_registry

_COLUMNS = "task_id, status, agent, claimed_by, updated_at, doc"


def _row(task: Task, dump: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """The row's columns; ``dump``: the task's JSON dump when the caller already has it."""
    dump = task.model_dump(mode="json") if dump is None else dump
    return task.taskId, task.status, task.agent, task.claimedBy, task.updatedAt, Json(dump)


def _event_rows(tx: RegistryTx, now: str) -> list[tuple[Any, ...]]:
    values = secret_values()
    return [(now, c.taskId, tx.actor, c.change, Json(redact_obj(c.before, values=values)),
             Json(redact_obj(c.after, values=values))) for c in tx.changes]


_INSERT_EVENT = "INSERT INTO events (ts, task_id, actor, change, before, after) VALUES (%s, %s, %s, %s, %s, %s)"


def insert_events(cur: Any, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        cur.executemany(_INSERT_EVENT, rows)


class PgRegistry:
    def __init__(self, db: Database):
        self.db = db

    def _load(self, cur: Any) -> tuple[RegistryFile, dict[str, int]]:
        """The registry and each task's version, in one round trip (one JSON text, decoded as the
        file backend decodes tasks.json)."""
        cur.execute("SELECT (SELECT value::text FROM agentctl_meta WHERE key = 'nextSeq'), "
                    "coalesce(json_agg(doc ORDER BY seq), '[]')::text, coalesce(json_object_agg(task_id, version), "
                    "'{}')::text FROM tasks")
        seq, docs, versions = cur.fetchone()
        try:
            doc = RegistryFile.model_validate({"nextSeq": int(seq or 1), "tasks": msgspec.json.decode(docs)})
        except (ValueError, msgspec.DecodeError) as exc:
            raise StateError(f"database table tasks: unreadable task ({str(exc).splitlines()[0]}); not changed") from None
        return doc, msgspec.json.decode(versions)

    def load(self) -> RegistryFile:
        with self.db.single() as cur:
            return self._load(cur)[0]

    @contextlib.contextmanager
    def transaction(self, actor: str, now: str) -> Iterator[RegistryTx]:
        """Row locks taken as the caller reads (``LazyTx``); one transaction with the events. Outside a
        unit of work a change of found rows only is written with the commit: two round trips in all."""
        with self.db.deferred() as (cur, pending):
            tx = LazyTx(cur, actor, pending)
            yield tx
            if not tx.changes and not tx.archived:
                return
            view = tx if tx.full else RegistryTx(RegistryFile(tasks=list(tx.found.values())), actor, tx.changes)
            _bump(view)
            dumps = _redact_changed(view, secret_values())
            if pending is not None and not pending.explicit and not tx.archived:
                _write_found(cur, pending, tx, now, dumps)
                return
            self._write(cur, tx)
            insert_events(cur, _event_rows(tx, now))
            if tx.archived:
                self.archive_tasks(tx.archived)

    def _write(self, cur: Any, tx: LazyTx) -> None:
        """Insert new tasks, compare-and-set the tasks named by ``tx.log``, delete the ones moved out."""
        logged = {c.taskId for c in tx.changes}
        if not tx.full:  # only found rows: they are locked and known
            for task_id in logged & set(tx.found):
                self._cas(cur, tx.found[task_id], tx.versions[task_id])
            return
        before, live = tx.versions, set()
        for task in tx.doc.tasks:
            live.add(task.taskId)
            if task.taskId not in before:
                try:
                    cur.execute(f"INSERT INTO tasks ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)", _row(task))
                except UniqueViolation:
                    raise Conflict(f"task {task.taskId} already exists") from None
            elif task.taskId in logged:
                self._cas(cur, task, before[task.taskId])
        gone = [tid for tid in before if tid not in live]
        if gone:
            cur.execute("DELETE FROM tasks WHERE task_id = ANY(%s)", (gone,))
        if tx.doc.nextSeq != tx.seq:
            cur.execute("UPDATE agentctl_meta SET value = %s WHERE key = 'nextSeq'", (Jsonb(tx.doc.nextSeq),))

    @staticmethod
    def _cas(cur: Any, task: Task, version: int) -> None:
        cur.execute("UPDATE tasks SET status = %s, agent = %s, claimed_by = %s, updated_at = %s, doc = %s, "
                    "version = version + 1 WHERE task_id = %s AND version = %s", (*_row(task)[1:], task.taskId, version))
        if cur.rowcount != 1:
            raise StateError(f"task {task.taskId} changed concurrently; nothing was written — try again")

    # --- row-level primitives (no registry-wide lock) ---------------------------
    def update_one(self, task_id: str, actor: str, now: str, decide: Callable[[RegistryTx, Task], None]) -> Task | None:
        """Lock one task's row, let ``decide`` change it (logging with ``tx.log``), write it with version + 1."""
        def run(cur: Any) -> Task | None:
            lock_registry(cur, exclusive=False)
            cur.execute("SELECT doc, version FROM tasks WHERE task_id = %s FOR UPDATE", (task_id,))
            row = cur.fetchone()
            if row is None:
                return None
            return self._apply_one(cur, Task.model_validate(row[0]), row[1], actor, now, decide)
        return self.db.retrying(run)

    def _apply_one(self, cur: Any, task: Task, version: int, actor: str, now: str,
                   decide: Callable[[RegistryTx, Task], None]) -> Task:
        tx = RegistryTx(RegistryFile(tasks=[task]), actor)
        decide(tx, task)
        if tx.changes:
            _bump(tx)
            _redact_changed(tx, secret_values())
            row = _row(task)
            cur.execute("UPDATE tasks SET status = %s, agent = %s, claimed_by = %s, updated_at = %s, doc = %s, "
                        "version = version + 1 WHERE task_id = %s AND version = %s", (*row[1:], task.taskId, version))
            insert_events(cur, _event_rows(tx, now))
        return task

    def claim_next(self, agent: str, now: str, ready: Callable[[Task], bool] | None = None) -> Task | None:
        """Claim the oldest ready todo/rejected task of ``agent``; rows other claimers hold are skipped."""
        def run(cur: Any) -> Task | None:
            lock_registry(cur, exclusive=False)
            cur.execute("SELECT doc, version FROM tasks WHERE agent = %s AND status IN ('todo', 'rejected') "
                        "AND claimed_by IS NULL ORDER BY seq FOR UPDATE SKIP LOCKED", (agent,))
            for doc, version in cur.fetchall():
                task = Task.model_validate(doc)
                if ready is None or ready(task):
                    return self._apply_one(cur, task, version, agent, now, _claim(agent, now))
            return None
        return self.db.retrying(run)

    skipped = 0

    def get(self, task_id: str) -> Task | None:
        with self.db.single() as cur:
            cur.execute("SELECT doc FROM tasks WHERE task_id = %s", (task_id,))
            row = cur.fetchone()
        return Task.model_validate(row[0]) if row else None

    def children(self, task_id: str) -> builtins.list[Task]:
        with self.db.single() as cur:
            cur.execute("SELECT doc::text FROM tasks WHERE doc->>'parent' = %s ORDER BY seq", (task_id,))
            rows = cur.fetchall()
        return [_task(text) for (text,) in rows]

    def list(self) -> list[Task]:
        return self.load().tasks

    def versions(self) -> dict[str, int]:
        with self.db.tx() as cur:
            cur.execute("SELECT task_id, version FROM tasks")
            return dict(cur.fetchall())

    # --- archive and events ----------------------------------------------------
    def archive_tasks(self, tasks: builtins.list[Task]) -> None:
        values = secret_values()
        with self.db.tx() as cur:
            cur.executemany("INSERT INTO tasks_archive (task_id, month, doc) VALUES (%s, %s, %s) "
                            "ON CONFLICT (task_id) DO UPDATE SET month = excluded.month, doc = excluded.doc",
                            [(t.taskId, t.updatedAt[:7], Json(redact_obj(t.model_dump(mode="json"), values=values)))
                             for t in tasks])

    def archived(self, reader: Any = None) -> Iterator[Task]:
        with self.db.tx() as cur:
            cur.execute("SELECT doc FROM tasks_archive ORDER BY month, seq")
            rows = cur.fetchall()
        for (doc,) in rows:
            try:
                yield Task.model_validate(doc)
            except ValueError:
                if reader is not None:
                    reader.skipped += 1

    def last_events(self, task_id: str, limit: int = 20) -> builtins.list[dict[str, Any]]:
        with self.db.tx() as cur:
            cur.execute("SELECT ts, task_id, actor, change, before, after FROM events WHERE task_id = %s "
                        "ORDER BY id DESC LIMIT %s", (task_id, limit))
            rows = cur.fetchall()
        return [_event(*r) for r in reversed(rows)]

    def events(self, reader: Any = None) -> Iterator[dict[str, Any]]:
        with self.db.tx() as cur:
            cur.execute("SELECT ts, task_id, actor, change, before, after FROM events ORDER BY id")
            rows = cur.fetchall()
        for row in rows:
            yield _event(*row)


_CAS_GUARDED = ("WITH upd AS (UPDATE tasks SET status = %s, agent = %s, claimed_by = %s, updated_at = %s, doc = %s, "
                "version = version + 1 WHERE task_id = %s AND version = %s RETURNING 1) "
                "SELECT agentctl_task_changed(%s) WHERE NOT EXISTS (SELECT FROM upd)")
"""Compare-and-set that aborts the transaction when no row matched (migration 0004): sent with the
commit, its row count is never looked at."""

_CAS_WITH_EVENTS = ("WITH upd AS (UPDATE tasks SET status = %s, agent = %s, claimed_by = %s, updated_at = %s, "
                    "doc = %s, version = version + 1 WHERE task_id = %s AND version = %s RETURNING task_id), "
                    "ev AS (INSERT INTO events (ts, task_id, actor, change, before, after) "
                    "SELECT %s, upd.task_id, %s, e.v ->> 0, e.v -> 1, e.v -> 2 "
                    "FROM upd, json_array_elements(%s::json) WITH ORDINALITY AS e(v, n) ORDER BY e.n) "
                    "SELECT agentctl_task_changed(%s) WHERE NOT EXISTS (SELECT FROM upd)")
"""One task's guarded compare-and-set and its events ([change, before, after] in order), one statement."""


def _write_found(cur: Any, pending: Any, tx: LazyTx, now: str, dumps: dict[str, dict[str, Any]]) -> None:
    """The found (locked) tasks the transaction changed, then its events in order: sent with the commit."""
    ids = [i for i in dict.fromkeys(c.taskId for c in tx.changes) if i in tx.found]
    if len(ids) == 1 and all(c.taskId == ids[0] for c in tx.changes):
        task, values = tx.found[ids[0]], secret_values()
        events = [[c.change, redact_obj(c.before, values=values), redact_obj(c.after, values=values)]
                  for c in tx.changes]
        pending.write(cur, _CAS_WITH_EVENTS, (*_row(task, dumps.get(task.taskId))[1:], task.taskId, tx.versions[task.taskId], now, tx.actor,
                                              Json(events), task.taskId))
        return
    for task_id in ids:
        task = tx.found[task_id]
        pending.write(cur, _CAS_GUARDED, (*_row(task, dumps.get(task_id))[1:], task_id, tx.versions[task_id], task_id))
    for row in _event_rows(tx, now):
        pending.write(cur, _INSERT_EVENT, row)


def _event(ts: str, task_id: str, actor: str, change: str, before: Any, after: Any) -> dict[str, Any]:
    return {"ts": ts, "taskId": task_id, "actor": actor, "change": change, "before": before, "after": after}


def _claim(agent: str, now: str) -> Callable[[RegistryTx, Task], None]:
    def decide(tx: RegistryTx, task: Task) -> None:
        tx.log(task.taskId, "claimedBy", task.claimedBy, agent)
        task.claimedBy = agent
        if task.status != "in_progress":
            tx.log(task.taskId, "status", task.status, "in_progress")
            task.status = "in_progress"
        task.updatedAt = now
    return decide


def _bump(tx: RegistryTx) -> None:
    """Every task named by a ``log`` call gets ``version`` + 1 once (the seam's rule)."""
    ids = {c.taskId for c in tx.changes}
    for task in tx.doc.tasks:
        if task.taskId in ids:
            task.version += 1
