"""The file backend's unit of work: an intent journal under ``state/journal/``.

A unit collects staged writes (replace a file, delete a file, append lines) and the
locks of the stores it touched. At commit, under the commit lock ``state/journal.lock``:

1. every new file content is written durably to ``state/journal/<id>.<n>.tmp``;
2. the intent ``state/journal/<id>.json`` is written durably — the commit point;
3. the intent is applied: ``os.replace`` each temp over its target, unlink deletions,
   append each line block (skipped when already present after the recorded size);
4. the intent is removed.

A crash before (2) leaves only temps (removed by the next ``recover``: rolled back); a
crash after (2) leaves an intent that ``recover`` applies again — every step is
idempotent — so later commands see all of the unit or none of it. A unit with a
single append needs no journal (one ``write()`` is atomic by itself).

``AGENTCTL_CRASH_AT=N`` (tests only) SIGKILLs the process at the N-th durable write.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from agentctl.errors import StateError, TryLater
from agentctl.storage.base import Recovery
from agentctl.storage.files import durable

_CURRENT: contextvars.ContextVar[FileUnit | None] = contextvars.ContextVar("agentctl_unit", default=None)
_crash = {"at": -1, "n": 0}


def _init_crash_hook() -> None:
    raw = os.environ.get("AGENTCTL_CRASH_AT", "")
    _crash["at"] = int(raw) if raw.isdigit() else -1


def durable_point() -> None:
    """Called at every durable write of the storage layer (test hook: AGENTCTL_CRASH_AT)."""
    if _crash["at"] < 0:
        return
    _crash["n"] += 1
    if _crash["n"] == _crash["at"]:
        os.kill(os.getpid(), signal.SIGKILL)


_init_crash_hook()
durable.set_write_hook(durable_point)


@dataclass
class FileUnit:
    """Staged writes of one unit of work and the locks it holds until it ends."""

    root: Path
    replaces: dict[Path, bytes | None] = field(default_factory=dict)
    appends: list[tuple[Path, bytes]] = field(default_factory=list)
    locks: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    held: set[Path] = field(default_factory=set)
    after: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the unit's writes are in place, still under its locks (the registry's seal)."""
        self.after.append(fn)

    def hold(self, path: Path, timeout: float | None = None) -> None:
        """Take ``path``'s lock for the rest of the unit (once)."""
        if path not in self.held:
            self.locks.enter_context(durable.locked(path, timeout))
            self.held.add(path)

    def replace(self, path: Path, data: bytes | None) -> None:
        """Stage ``path``'s new content (None: delete it); a path through a symlink is refused now (74)."""
        durable.check_confined(path)
        self.replaces[path] = data

    def append(self, path: Path, data: bytes) -> None:
        durable.check_confined(path)
        if not data.endswith(b"\n"):
            data += b"\n"
        self.appends.append((path, data))

    def staged(self, path: Path) -> tuple[bool, bytes | None]:
        """(True, content) when the unit replaces ``path``; (False, None) otherwise."""
        if path in self.replaces:
            return True, self.replaces[path]
        return False, None


def current() -> FileUnit | None:
    return _CURRENT.get()


@contextlib.contextmanager
def unit(root: Path) -> Iterator[FileUnit]:
    """The ambient unit (joined when one is open), committed when the outermost block ends."""
    active = _CURRENT.get()
    if active is not None:
        yield active
        return
    u = FileUnit(root)
    token = _CURRENT.set(u)
    try:
        with u.locks:
            yield u
            commit(u)
            for fn in u.after:
                fn()
    finally:
        _CURRENT.reset(token)


def journal_dir(root: Path) -> Path:
    return root / "state" / "journal"


def commit(u: FileUnit) -> None:
    """Make the unit's writes durable all together (module docstring)."""
    if not u.replaces and not u.appends:
        return
    if not u.replaces and len(u.appends) == 1:  # one write() is atomic by itself
        durable.append_line(*u.appends[0])
        return
    if len(u.replaces) == 1 and not u.appends:  # so is one os.replace
        [(path, data)] = u.replaces.items()
        durable.atomic_write(path, data) if data is not None else durable.delete_file(path)
        return
    folder = journal_dir(u.root)
    with durable.locked(u.root / "state" / "journal"):
        uid = uuid.uuid4().hex
        try:
            intent = _stage(u, folder, uid)
            # the commit point: a torn intent does not parse and counts as never written. Its folder
            # entry is made durable by the journalling filesystem's next commit, at the latest with
            # the first rename's folder fsync below (one fsync less per unit, in the registry lock)
            durable.write_durably(folder / f"{uid}.json", json.dumps(intent).encode())
        except StateError:
            _drop_temps(folder, uid)
            raise
        try:
            _apply(u.root, intent, first=True)
        except _NothingApplied as exc:  # the first step failed: undo the intent, report 74
            _forget(folder / f"{uid}.json")
            _drop_temps(folder, uid)
            raise exc.error from None
        except StateError as exc:
            raise StateError(f"{exc.message}; the rest of this change will be completed by the next "
                             "agentctl command (journal state/journal/)") from None
        _forget(folder / f"{uid}.json")


class _NothingApplied(Exception):
    def __init__(self, error: StateError):
        self.error = error


def _drop_temps(folder: Path, uid: str) -> None:
    for tmp in folder.glob(f"{uid}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _stage(u: FileUnit, folder: Path, uid: str) -> dict[str, object]:
    replace, delete = [], []
    for n, (path, data) in enumerate(u.replaces.items()):
        rel = os.path.relpath(path, u.root)
        if data is None:
            delete.append(rel)
            continue
        tmp = folder / f"{uid}.{n}.tmp"
        durable.write_durably(tmp, data)
        replace.append({"path": rel, "tmp": tmp.name})
    appends = [{"path": os.path.relpath(path, u.root), "size": _size(path),
                "data": base64.b64encode(data).decode()} for path, data in u.appends]
    return {"version": 1, "id": uid, "replace": replace, "delete": delete, "append": appends}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _apply(root: Path, intent: dict[str, Any], first: bool = False) -> None:
    """Apply an intent; every step may run again after a crash with the same result.
    ``first``: a failure of the very first step raises _NothingApplied."""
    folder = journal_dir(root)
    steps: list[Callable[[], object]] = [*(partial(_replace, folder, root, item) for item in intent["replace"]),
                                         *(partial(durable.delete_file, root / rel) for rel in intent["delete"]),
                                         *(partial(_append, root, item) for item in intent["append"])]
    for n, step in enumerate(steps):
        try:
            step()
        except StateError as exc:
            if first and n == 0:
                raise _NothingApplied(exc) from None
            raise


def _replace(folder: Path, root: Path, item: dict[str, str]) -> None:
    tmp = folder / item["tmp"]
    if tmp.exists():
        durable.replace_file(tmp, root / item["path"])


def _append(root: Path, item: dict[str, object]) -> None:
    path, data = root / str(item["path"]), base64.b64decode(str(item["data"]))
    if not _appended(path, int(item["size"]), data):  # type: ignore[call-overload]
        durable.append_line(path, data)


def _appended(path: Path, size: int, data: bytes) -> bool:
    """True when ``data`` already sits in ``path`` after offset ``size`` (a replayed append)."""
    try:
        with path.open("rb") as fh:
            fh.seek(size)
            return data in fh.read()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StateError(f"{path}: unreadable ({exc.strerror})") from None


def _forget(path: Path) -> None:
    durable.delete_file(path, sync=False)  # lost by a crash? replaying the intent is harmless


def recover(root: Path) -> Recovery:
    """Complete interrupted units (their intent is durable) and remove staged temps of
    units that never reached their commit point, plus stale ``.tasks.json.*.tmp``."""
    done = Recovery()
    folder = journal_dir(root)
    stale = list(root.glob(".tasks.json.*.tmp"))
    if not folder.is_dir() and not stale:
        return done
    try:
        guard = durable.locked(root / "state" / "journal", timeout=0)
        guard.__enter__()
    except TryLater:  # someone is committing: they hold the lock; try next time
        return done
    try:
        _recover_locked(root, folder, stale, done)
    finally:
        guard.__exit__(None, None, None)
    return done


def _recover_locked(root: Path, folder: Path, stale: list[Path], done: Recovery) -> None:
    intents = sorted(folder.glob("*.json")) if folder.is_dir() else []
    for path in intents:
        try:
            intent = json.loads(path.read_bytes())
        except ValueError:  # cannot happen with atomic_write; treat as never committed
            intent = None
        if intent is not None:
            _apply(root, intent)
            done.completed += 1
        _forget(path)
    temps = [*stale, *(folder.glob("*.tmp") if folder.is_dir() else []), *folder.glob(".*.tmp")]
    for tmp in temps:
        with contextlib.suppress(OSError):
            tmp.unlink()
            done.temp_removed += 1
    if temps and not intents:
        done.rolled_back += 1
