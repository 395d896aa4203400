"""Locks, durable atomic writes and single-write appends (filelock's recipe).

- a sidecar ``.lock`` per state file, acquired with a timeout (exit 75 when busy);
  ``.lock`` files are never deleted;
- rewrite = temp file in the same folder, write, fsync, ``os.replace``, fsync the
  folder: a reader or a crash sees the previous or the next state, never half;
- append = one ``write()`` of one complete line on an ``O_APPEND`` descriptor, so
  concurrent writers never interleave; a torn last line (a crash mid-write) is
  closed with a newline before the next append, and readers skip and count it.
- confinement: every write, append and lock under a workspace root (``confine_to``) is
  refused (74) when a component of its path below the root is a symbolic link — an
  ``artifacts/T-1`` linked outside, a linked ``logs/events.jsonl`` or ``tasks.json`` is
  an error, never written through nor replaced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from agentctl.errors import StateError, TryLater

DEFAULT_LOCK_TIMEOUT = 10.0
_lock_timeout = DEFAULT_LOCK_TIMEOUT
_hook: list[Callable[[], None]] = []


def set_write_hook(hook: Callable[[], None]) -> None:
    """Called before every durable write (the crash-point test hook, see journal.py)."""
    _hook[:] = [hook]


def _point() -> None:
    for hook in _hook:
        hook()


def set_lock_timeout(seconds: float) -> None:
    """Set once by the CLI from ``--lock-timeout``."""
    global _lock_timeout
    _lock_timeout = seconds


class _Waited(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Waited


def _open_lock(lock_path: str) -> int | None:
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


def _flock(fd: int, wait: float) -> bool | None:
    """The same ``flock`` filelock takes (each excludes the other), without its bookkeeping
    (~0.4 ms a lock) and without polling: a busy lock is waited for in the kernel, which wakes
    a waiter the moment it is released (a 2 ms poll let one process take it again and again).
    True → ours; False → still busy after ``wait`` s; None → no flock here, or no SIGALRM to time
    the wait with (not the main thread, or the process uses it): let filelock do it."""
    import fcntl
    import signal
    import threading

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    except OSError:
        return None
    if wait <= 0:
        return False
    if (threading.current_thread() is not threading.main_thread() or signal.getitimer(signal.ITIMER_REAL)[0]
            or signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None)):
        return None
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, wait)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return True
    except _Waited:
        return False
    except OSError:
        return None
    finally:
        signal.signal(signal.SIGALRM, old)


_roots: set[str] = set()


def confine_to(root: Path) -> None:
    """Writes below ``root`` (a workspace) must stay inside it: no symbolic link on the way."""
    _roots.add(os.path.abspath(root))


def check_confined(path: Path | str) -> None:
    """StateError (74) when ``path`` lies under a workspace root and a component of it below the
    root is a symbolic link; paths outside every workspace (``--output FILE``) are the user's.
    (Plain strings, not pathlib: it runs at every write of every command.)"""
    p = os.path.abspath(path)
    for root in _roots:
        if not p.startswith(root) or p[len(root):len(root) + 1] != os.sep:
            continue
        cur = root
        for part in p[len(root) + 1:].split(os.sep):
            cur = f"{cur}{os.sep}{part}"
            try:
                mode = os.lstat(cur).st_mode
            except (FileNotFoundError, ValueError):  # not there yet (or no valid path: the write will say)
                return
            except OSError as exc:
                raise StateError(f"{cur}: cannot check ({exc.strerror})") from None
            if stat.S_ISLNK(mode):
                raise StateError(f"{cur}: is a symbolic link ({os.readlink(cur)}); agentctl writes only inside the "
                                 "workspace and never through a link — nothing was written; replace it by a "
                                 "real file or folder")
        return


@contextlib.contextmanager
def locked(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (its sidecar ``path.lock``)."""
    wait = _lock_timeout if timeout is None else timeout
    lock_path = str(path) + ".lock"
    check_confined(Path(lock_path))
    fd = _open_lock(lock_path)
    if fd is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(lock_path)
    got = None if fd is None else _flock(fd, wait)
    if got is not None and fd is not None:
        try:
            if not got:
                raise TryLater(f"{path.name}: lock busy for {wait:g}s ({path}.lock); try again later")
            yield
        finally:
            os.close(fd)  # closing the only descriptor releases the flock
        return
    if fd is not None:
        os.close(fd)
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path, timeout=wait)
    try:
        lock.acquire(poll_interval=0.002)
    except Timeout:
        raise TryLater(f"{path.name}: lock busy for {wait:g}s ({path}.lock); try again later") from None
    except OSError as exc:
        raise StateError(f"{path}.lock: cannot lock ({exc.strerror})") from None
    try:
        yield
    finally:
        lock.release()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | Sequence[bytes | memoryview]) -> None:
    """Write ``data`` (bytes, or pieces in order: no joined copy of a large file), resuming after
    a short write."""
    for piece in [data] if isinstance(data, (bytes, bytearray, memoryview)) else data:
        view = memoryview(piece)
        while view:
            view = view[os.write(fd, view):]


def _failed(path: Path, exc: OSError, what: str = "write failed") -> StateError:
    reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return StateError(f"{path}: {what} ({reason}); the previous state is intact")


def write_durably(path: Path, data: bytes) -> None:
    """Create ``path`` (a temp of the journal) with ``data``, fsynced."""
    check_confined(path)
    _point()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _failed(path, exc) from None


def replace_file(tmp: Path, path: Path) -> None:
    """``os.replace`` a durable temp over ``path`` and fsync both folders."""
    check_confined(path)
    _point()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
    except OSError as exc:
        raise _failed(path, exc) from None
    _fsync_dir(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder: the files created or renamed in it survive a power loss."""
    _fsync_dir(folder)


def delete_file(path: Path, sync: bool = True) -> None:
    """Remove ``path`` if present (durably unless ``sync`` is False: a replayable journal entry)."""
    check_confined(path)
    _point()
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _failed(path, exc, "delete failed") from None
    if sync:
        _fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes | Sequence[bytes | memoryview], durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (bytes, or pieces written in order) durably; on any error
    the old file stays. ``durable=False`` (a derived cache): still all or nothing, not fsynced."""
    _point()
    folder = path.parent
    tmp: str | None = None
    check_confined(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        if durable:
            _fsync_dir(folder)
    except OSError as exc:
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise StateError(f"{path}: write failed ({reason}); the previous state is intact") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def dumps_line(obj: Any) -> bytes:
    """One JSON object as one line (compact, UTF-8, newline-terminated)."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")


def append_line(path: Path, line: bytes) -> None:
    """Append one complete line with a single write(); start a fresh line after a torn one."""
    if not line.endswith(b"\n"):
        line += b"\n"
    check_confined(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            _point()
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.EIO, "short write")
        finally:
            os.close(fd)
    except OSError as exc:
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise StateError(f"{path}: append failed ({reason})") from None


def append_json(path: Path, obj: Any) -> None:
    append_line(path, dumps_line(obj))


def open_log(path: Path) -> BinaryIO | None:
    """An append-only log opened for reading; None when it does not exist (an empty log),
    StateError (74) when it exists but cannot be read."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: unreadable ({exc.strerror})") from None


class JsonlReader:
    """Iterate the objects of JSONL files, skipping (and counting) torn or corrupt lines."""

    def __init__(self) -> None:
        self.skipped = 0

    def read(self, path: Path) -> Iterator[dict[str, Any]]:
        fh = open_log(path)
        if fh is None:
            return
        with fh:
            for raw in fh:
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except (ValueError, RecursionError):  # torn, corrupt, or nested past the parser's limit
                    self.skipped += 1
                    continue
                if isinstance(obj, dict):
                    yield obj
                else:
                    self.skipped += 1


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, None when it does not exist; unreadable → StateError (74)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: unreadable ({exc.strerror})") from None


class JsonState:
    """A small versioned JSON state file under its own lock (breakers, ledger)."""

    VERSION = 1

    def __init__(self, path: Path, kind: str):
        self.path = path
        self.kind = kind

    def read(self) -> dict[str, Any]:
        check_confined(self.path)
        raw = read_bytes(self.path)
        if raw is None or not raw.strip():
            return {"version": self.VERSION, self.kind: {}}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise StateError(f"{self.path}: corrupt JSON ({exc}); fix or move it away — it was not changed") from None
        except RecursionError:
            raise StateError(f"{self.path}: corrupt JSON (nested too deeply); fix or move it away — "
                             "it was not changed") from None
        if not isinstance(data, dict) or not isinstance(data.get(self.kind, {}), dict):
            raise StateError(f"{self.path}: not an agentctl {self.kind} file; it was not changed")
        version = data.get("version", 1)
        if not isinstance(version, int) or version > self.VERSION:
            raise StateError(f"{self.path}: format version {version} is newer than this agentctl understands")
        data.setdefault(self.kind, {})
        return data

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Lock, re-read, let the caller mutate ``data[kind]``, write atomically."""
        with locked(self.path):
            data = self.read()
            yield data
            atomic_write(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
