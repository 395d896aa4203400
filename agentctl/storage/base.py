"""The storage seam (SPEC §12): the interfaces every backend implements, the unit of
work, and ``open_storage`` — the one place a workspace's state is opened.

Services (registry, contracts, breakers, run, cron, learning, scorecard) ask a
``Storage`` for what they need and never see a file, a lock or a connection. The file
backend (``storage/files/``) is the default; ``storage: {backend: postgres}`` loads
``agentctl.storage.postgres`` (extra ``agentctl[postgres]``).

The unit of work
----------------
``with storage.unit_of_work():`` groups every change made inside it — by any store —
into one commit: all of them become visible to later commands, or none does.

- It is *ambient*: store methods called inside the block (``registry.transaction``,
  ``runlog.append``, ``idempotency.transaction``, ``artifacts.put`` …) join it instead of
  committing on their own. Outside any block each such call is its own unit of work.
- Nested ``unit_of_work()`` blocks join the outermost one.
- An exception leaving the block applies nothing (the locks/transaction are released).
- Locks (files) or row locks (database) taken by a store inside the block are held until
  the block ends. Never run a model call, a command or a self-test inside a block:
  read, decide, leave the block; run; open a new block, compare-and-set, write.
- Reads made inside the block see the block's own pending writes for the registry
  (``transaction`` twice in one block sees the first one's changes) and for keyed
  entries; append-only logs are not read back inside a block.
- Files: an intent journal is written durably before any state file changes; the next
  command opening the workspace (``Storage.recover``) completes an unfinished one or,
  if its intent never became durable, removes what it staged. PostgreSQL: one
  transaction; database unavailable → ``TryLater`` (75), nothing applied.

Errors (``agentctl.errors``; each carries its exit code, SPEC §10):
``TryLater`` (75) a lock could not be had within the lock timeout, or the database is
unavailable; ``StateError`` (74) state unreadable/corrupt (never overwritten) or a write
failed (nothing of the unit of work was applied); ``ConfigError`` (78) bad backend.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentctl.core.records import RegistryFile, RunRecord, Task

if TYPE_CHECKING:
    from agentctl.storage.files.durable import JsonlReader
    from agentctl.workspace.loader import Workspace

BACKENDS: tuple[str, ...] = ("files", "postgres")
"""The storage backends that exist (``storage.backend`` in agentctl.yaml)."""


# --- registry ------------------------------------------------------------------------------


@dataclass
class Change:
    """One registry change, written as one event line (``ts, taskId, actor, change, before, after``)."""

    taskId: str
    change: str
    before: Any
    after: Any


@dataclass
class RegistryTx:
    """The registry as read inside a registry transaction.

    Mutate ``doc`` (tasks, ``nextSeq``) in place; record each change with ``log`` (one
    event per call); move finished tasks out with ``archive``. Every task whose id appears
    in a ``log`` call gets ``version`` incremented once at commit. A transaction with no
    ``log`` call and no ``archive`` writes nothing.
    """

    doc: RegistryFile
    actor: str
    changes: list[Change] = field(default_factory=list)
    archived: list[Task] = field(default_factory=list)

    def find(self, task_id: str) -> Task | None:
        for t in self.doc.tasks:
            if t.taskId == task_id:
                return t
        return None

    def peek(self, task_id: str) -> Task | None:
        """A task to read, not to change (a dependency); ``find`` what you change."""
        return self.find(task_id)

    def of_agent(self, agent: str, statuses: frozenset[str]) -> builtins.list[Task]:
        """The agent's tasks in ``statuses``, in registry order, to read and choose from (a backend
        may share them between transactions and need not lock them): ``find`` the chosen one, check
        it again and change that."""
        return [t for t in self.doc.tasks if t.agent == agent and t.status in statuses]

    def log(self, task_id: str, change: str, before: Any, after: Any) -> None:
        self.changes.append(Change(task_id, change, before, after))

    def add(self, task: Task) -> None:
        """Append a new task (a backend may avoid reading every task to do so)."""
        self.doc.tasks.append(task)

    def archive(self, tasks: list[Task]) -> None:
        """Remove ``tasks`` from the live registry and append them to the archive, in this
        same commit: a task is never both live and archived, and never archived twice."""
        ids = {t.taskId for t in tasks}
        self.doc.tasks = [t for t in self.doc.tasks if t.taskId not in ids]
        self.archived.extend(tasks)


class RegistryStore(Protocol):
    """Tasks (live and archived) and their events (SPEC §3)."""

    def load(self) -> RegistryFile:
        """The live registry as committed (lock-free; a whole document, never a partial one).
        Absent → an empty registry. Unreadable/corrupt → StateError (74), untouched."""
        ...

    def get(self, task_id: str) -> Task | None:
        """One live task, else None (archived tasks: ``archived``)."""
        ...

    def list(self) -> list[Task]:
        """All live tasks, in registry order."""
        ...

    def children(self, task_id: str) -> builtins.list[Task]:
        """The live tasks whose ``parent`` is ``task_id``, in registry order."""
        ...

    def transaction(self, actor: str, now: str) -> contextlib.AbstractContextManager[RegistryTx]:
        """Exclusive read-decide-write of the registry. Inside: the registry re-read under
        the lock (or ``SELECT … FOR UPDATE``). On clean exit the changed document, one event
        per ``tx.log`` and the archived tasks commit together (joining the ambient unit of
        work, if any). Busy beyond the lock timeout → TryLater (75). An exception inside →
        nothing written. Free text of changed tasks and events is redacted of secrets."""
        ...

    def archived(self, reader: JsonlReader | None = None) -> Iterator[Task]:
        """Archived tasks, oldest month first; torn lines are skipped (see ``skipped``; also
        added to ``reader.skipped`` when a reader is given, to count across several reads)."""
        ...

    def events(self, reader: JsonlReader | None = None) -> Iterator[dict[str, Any]]:
        """Every event, in commit order; torn lines skipped and counted in ``skipped`` (or in
        ``reader.skipped`` when a reader is given)."""
        ...

    def last_events(self, task_id: str, limit: int = 20) -> builtins.list[dict[str, Any]]:
        """The most recent events of ``task_id`` (newest last, at most ``limit``), found without
        reading the whole event log (files: its tail; database: an index)."""
        ...

    @property
    def skipped(self) -> int:
        """Torn/corrupt lines skipped by the last ``archived``/``events`` iteration."""
        ...


# --- run log -------------------------------------------------------------------------------


@dataclass
class RunScan:
    """The result of a run-log window scan: the records (dicts, as stored) and how many
    lines could not be read (torn or corrupt: reported, never fatal)."""

    records: list[dict[str, Any]]
    skipped: int = 0


@dataclass
class DaySpend:
    """One UTC day's spend per agent (budgets, SPEC §2): ``cost`` sums the priced runs'
    ``costUsd``; ``unpriced`` counts the runs that called a model and could not be priced
    (``costUsd: null``, provider neither none nor ``command``, not skipped/duplicate)."""

    cost: dict[str, float] = field(default_factory=dict)
    unpriced: dict[str, int] = field(default_factory=dict)


class RunLogStore(Protocol):
    """Run records (SPEC §5), append-only, one per run."""

    def append(self, record: RunRecord) -> None:
        """Store one record durably as one unit (never interleaved with another writer's).
        Joins the ambient unit of work. Write failure → StateError (74)."""
        ...

    def scan(self, start: datetime, end: datetime) -> RunScan:
        """Records whose ``startedAt`` is in [start, end) (``end``'s own second included),
        in storage order, and the count of unreadable lines. Unreadable log → 74."""
        ...

    def read_window(self, start: datetime, end: datetime,
                    reader: JsonlReader | None = None) -> Iterator[dict[str, Any]]:
        """``scan`` as an iterator (streams on the file backend); unreadable lines are counted in
        ``reader.skipped`` when a reader is given."""
        ...

    def spend_of_day(self, day: date, agent: str | None = None) -> float:
        """Sum of ``costUsd`` of the runs started on UTC ``day`` (of ``agent`` if given);
        unpriced runs (``costUsd: null``) count 0."""
        ...

    def spend_by_agent(self, day: date) -> DaySpend:
        """The spend of UTC ``day`` per agent (an agent-less record counts as ``?``), in one
        pass (files: that day's file only; database: one aggregate query)."""
        ...

    def job_records(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The records of [start, end) that carry a ``job`` (cron coverage), without decoding the rest."""
        ...

    @property
    def aggregates(self) -> bool:
        """True when the store computes the scorecard's sums itself (a database: ``scorecard_facts``);
        False when the scorecard folds the records of ``day_files``."""
        ...

    def day_files(self, start: datetime, end: datetime) -> list[tuple[Path, bool]]:
        """(file, is the window's first or last day) of the daily files that can hold the runs
        started in [start, end), in day order — the scorecard's fast scan reads them through
        ``agentctl.storage.open_log`` (a store that ``aggregates``: none)."""
        ...

    def scorecard_facts(self, lo: datetime, hi: datetime, **kw: Any) -> dict[str, list[tuple[Any, ...]]]:
        """(Only a store that ``aggregates``.) The scorecard's sums and order-dependent facts over
        [lo, hi), by query (``agentctl.scorecard.sql`` turns them into its ScanResult)."""
        ...

    def find(self, run_id: str, around: datetime | None = None) -> dict[str, Any] | None:
        """The record with ``runId`` (``around``: a time near its start, to narrow the
        search), else None."""
        ...


# --- small keyed state ---------------------------------------------------------------------


class DocumentStore(Protocol):
    """A small JSON state document ``{version, <kind>: {…}}`` under one lock (breakers)."""

    @property
    def path(self) -> Path | str:
        """Where it lives, for messages: its file, or the database store's name."""
        ...

    def read(self) -> dict[str, Any]:
        """The committed document (lock-free). Absent → ``{version, kind: {}}``; corrupt or
        newer version → StateError (74), untouched."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Lock, re-read, let the caller mutate the dict, commit on clean exit (joining the
        ambient unit of work). Busy → 75; exception → nothing written."""
        ...


class Slot(Protocol):
    """One key's entry inside ``KeyedStore.transaction``: set ``value`` to a JSON object to
    store it, to None to delete the key; leave it unchanged to write nothing."""

    key: str
    value: dict[str, Any] | None


class KeyedStore(Protocol):
    """Entries addressed by key, each under its own lock: O(1) per operation in the number
    of keys (idempotency ledger, cron ledger, alert dedupe). Entries carrying an
    ``expiresAt`` (ISO-8601 UTC) in the past are treated as absent and dropped."""

    def get(self, key: str, now: datetime | None = None) -> dict[str, Any] | None:
        """The committed entry (lock-free), None when absent or expired at ``now``."""
        ...

    def transaction(self, key: str, now: datetime | None = None) -> contextlib.AbstractContextManager[Slot]:
        """Exclusive read-decide-write of one key (others are not locked). The entry as
        committed is in ``slot.value`` (None when absent/expired at ``now``). Commits on clean
        exit, joining the ambient unit of work. Busy → 75; exception → nothing written."""
        ...

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every (key, entry), unexpired or not; O(number of keys) — for listings only."""
        ...

    def sweep(self, now: datetime) -> int:
        """Delete the entries expired at ``now``; returns how many. Safe to run any time."""
        ...


class CronStore(KeyedStore, Protocol):
    """The cron ledger (key = job name: last slot, status, runId) and overlap locks."""

    def overlap_lock(self, job: str) -> contextlib.AbstractContextManager[None]:
        """Hold job's overlap lock for the job's whole execution (the one lock that spans
        slow work, by design: it protects nothing but "not started twice"). Already held by
        a live holder → TryLater (75) immediately (no wait). Released on exit or death."""
        ...


class AlertStore(Protocol):
    """The alert log (logs/alerts.jsonl) and its dedupe entries (key = alert identity)."""

    @property
    def dedupe(self) -> KeyedStore:
        """The dedupe entries (key = alert identity)."""
        ...

    def append(self, alert: dict[str, Any]) -> None:
        """Record one alert durably (before any sink is notified); joins the ambient unit of work."""
        ...

    def read(self) -> Iterator[dict[str, Any]]:
        """Every alert, oldest first; torn lines skipped and counted in ``skipped``."""
        ...

    @property
    def skipped(self) -> int: ...


class BreakerHistoryStore(Protocol):
    """Every breaker transition (tripped, reopened, recovered, reset …) as it happened: files
    ``logs/breakers.jsonl``, PostgreSQL a table. Appended inside the breaker's own transaction."""

    name: str

    def append(self, event: dict[str, Any]) -> None:
        """Record one transition (``ts, agent, transition, state, …``); joins the ambient unit of work."""
        ...

    def read(self, until: str | None = None) -> Iterator[dict[str, Any]]:
        """Transitions, oldest first; ``until`` (ISO time) lets a backend stop early — callers
        still filter. Torn lines skipped and counted in ``skipped``."""
        ...

    def exists(self) -> bool:
        """Whether the history was ever started (older workspaces have none)."""
        ...

    @property
    def skipped(self) -> int: ...


class BlobStore(Protocol):
    """A whole small document stored as bytes (learn ledger, regressions YAML)."""

    name: str
    """What to call it in messages (``memory/regressions.yaml``)."""

    def read(self) -> bytes | None:
        """The committed bytes, None when absent; unreadable → 74."""
        ...

    def write(self, data: bytes) -> None:
        """Replace the document (joins the ambient unit of work)."""
        ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The document's exclusive lock for a read-decide-write (busy → 75)."""
        ...


class ArtifactStore(Protocol):
    """What agents produce, per task: ``artifacts/<taskId>/<name>`` (SPEC §5). ``task_id`` is a
    task id, or ``_runs/<day>/<runId>`` for a run without a task (``storage.artifact_refs``); ``name`` a plain file name.
    Files: the folder ``artifacts/``; database: rows (a command agent gets local copies)."""

    def put(self, task_id: str, name: str, data: bytes) -> str:
        """Store an artifact whole (replacing one of that name); returns its workspace-
        relative path (``artifacts/T-1/prd.json``). Joins the ambient unit of work."""
        ...

    def get(self, task_id: str, name: str) -> bytes | None:
        """The artifact's bytes, None when absent."""
        ...

    def local_path(self, task_id: str, name: str) -> Path:
        """A local file path for processes that need one (command agents write
        ``$AGENTCTL_OUTPUT`` there, prompt files are read there). Its folder exists.
        A database backend returns a path in a local staging folder; ``put`` stores it."""
        ...

    def rel(self, task_id: str, name: str) -> str:
        """The workspace-relative name recorded in tasks and run records."""
        ...

    def prune_runs(self, before: date) -> list[str]:
        """Remove the task-less runs' files of the days before ``before``; returns those days."""
        ...


class InflightStore(Protocol):
    """Runs in flight, one slot per run, across processes (SPEC §13): ``runs --running``, the
    board, leases and ``max_concurrent``. A slot whose process died (same host) or whose lease
    lapsed does not count and is pruned by the next writer."""

    def running(self, now: datetime) -> list[dict[str, Any]]:
        """Live slots, oldest first."""
        ...

    def acquire(self, entry: dict[str, Any], limit: int, now: datetime) -> list[dict[str, Any]]:
        """Add ``entry`` (keyed by its ``slotId``) unless its agent already holds ``limit`` live
        slots; returns those slots (empty when acquired). The same slot id is updated in place."""
        ...

    def update(self, slot_id: str, change: Callable[[dict[str, Any]], None] | dict[str, Any]) -> None:
        """Change one slot (a dict merged in, or a function applied); absent slot → nothing."""
        ...

    def release(self, slot_id: str) -> None:
        """Remove the slot (absent → nothing)."""
        ...


# --- the storage --------------------------------------------------------------------------


@dataclass
class Recovery:
    """What ``Storage.recover`` did: units of work completed, rolled back, temp files removed."""

    completed: int = 0
    rolled_back: int = 0
    temp_removed: int = 0


@runtime_checkable
class Storage(Protocol):
    """Every store of one workspace, and the unit of work that ties them together."""

    # Read-only members (properties): a backend's attribute may be its own store class.
    @property
    def backend(self) -> str: ...
    @property
    def registry(self) -> RegistryStore: ...
    @property
    def runlog(self) -> RunLogStore: ...
    @property
    def breakers(self) -> DocumentStore: ...
    @property
    def breaker_history(self) -> BreakerHistoryStore: ...
    @property
    def idempotency(self) -> KeyedStore: ...
    @property
    def cron(self) -> CronStore: ...
    @property
    def alerts(self) -> AlertStore: ...
    @property
    def learn_ledger(self) -> BlobStore: ...
    @property
    def regressions(self) -> BlobStore: ...
    @property
    def artifacts(self) -> ArtifactStore: ...
    @property
    def cache(self) -> KeyedStore:
        """Derived caches — price rates per model and day (``tiers/pricing.py``), the active regression
        rules (``learning/regressions.py``): losing an entry costs a slower command, nothing else."""
        ...
    @property
    def inflight(self) -> InflightStore:
        """Runs in flight: one slot per run (max_concurrent, leases, `runs --running`)."""
        ...

    def unit_of_work(self) -> contextlib.AbstractContextManager[None]:
        """Group every change made inside into one all-or-nothing commit (module docstring)."""
        ...

    def recover(self) -> Recovery:
        """Finish or undo units of work interrupted by a crash; remove stale temp files.
        Called once by ``open_storage``; cheap when there is nothing to do (one listing).
        Busy (another process is committing) → skipped silently, it will run next time."""
        ...

    def close(self) -> None:
        """Release connections (no-op for files)."""
        ...


def backend_name(configured: str | None) -> str:
    """Normalise ``storage.backend`` (``file`` is accepted as an old spelling of ``files``)."""
    name = (configured or "files").strip()
    return "files" if name == "file" else name


def _mentions_storage(workspace: Workspace) -> bool:
    try:
        return b"storage" in workspace.config_path.read_bytes()
    except OSError:
        return True  # let the config loader report it


def open_storage(workspace: Workspace) -> Storage:
    """The workspace's storage, per ``storage.backend`` in agentctl.yaml, recovered.

    ``files`` (default) → the file backend; ``postgres`` → ``agentctl.storage.postgres``
    (``open_storage(workspace)`` there), ConfigError 78 when that module is not installed;
    anything else → ConfigError 78 naming the backends that exist.
    """
    from agentctl.errors import ConfigError

    try:  # no `storage` in agentctl.yaml → the default, without parsing the whole config
        # (yaml + every config model: ~10 % of `agentctl status`, which never needs the config)
        configured = workspace.config.storage.backend if _mentions_storage(workspace) else None
    except ConfigError as exc:  # a broken agentctl.yaml is reported by the commands that read it …
        if "storage" in " ".join(p.render() for p in exc.problems):  # … unless it is this setting
            raise
        configured = None
    name = backend_name(configured)
    if name == "files":
        storage = open_file_storage(workspace.root)
    elif name == "postgres":
        try:
            from agentctl.storage import postgres
        except ImportError as exc:
            raise ConfigError(f"agentctl.yaml: storage.backend is postgres but the postgres backend is not "
                              f"installed ({exc.name or exc}); pip install 'agentctl[postgres]'") from None
        storage = postgres.open_storage(workspace)
    else:
        raise ConfigError(f"agentctl.yaml: unknown storage.backend {name!r} "
                          f"(backends: {', '.join(BACKENDS)})")
    storage.recover()
    return storage


def open_file_storage(root: Path) -> Storage:
    """The file backend rooted at ``root`` (not recovered: ``open_storage`` does that)."""
    from agentctl.storage.files.backend import FileStorage

    return FileStorage(root)


__all__ = ["BACKENDS", "AlertStore", "ArtifactStore", "BlobStore", "BreakerHistoryStore", "Change", "CronStore", "DaySpend",
           "DocumentStore", "InflightStore", "KeyedStore", "Recovery", "RegistryStore", "RegistryTx", "RunLogStore",
           "RunScan", "Slot", "Storage",
           "backend_name", "open_file_storage", "open_storage"]

