"""In-flight runs: ``state/running.json``, one entry per run slot (SPEC §13).

What is running now, across processes: ``runs --running``, the board, leases and
``max_concurrent`` all read it. Every change is lock → re-read → change → atomic
write (not fsynced: see ``_SlotState``); a slot whose process died (same host, pid gone) or whose
lease lapsed is pruned by the next writer, so a SIGKILLed run never holds a slot
for ever.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from agentctl.core.clock import parse_iso
from agentctl.errors import StateError
from agentctl.storage.files.durable import JsonState, locked

HOST = os.uname().nodename


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A dead process its parent has not reaped yet (an orphan under an init that never reaps
    stays so forever): dead for our purposes. Linux only; elsewhere assume it runs."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X")


def entry_live(entry: dict[str, Any], now: datetime) -> bool:
    """A slot counts while its process lives (on this host) and its lease has not lapsed."""
    if entry.get("host") == HOST and not pid_alive(entry.get("pid")):
        return False
    lease = entry.get("leaseExpiresAt")
    try:
        return lease is None or parse_iso(lease) > now
    except (TypeError, ValueError):
        return False


class _SlotState(JsonState):
    """Lock → re-read → change → temp file + ``os.replace``, without fsync: readers always see a
    whole file, and after a power loss a stale slot belongs to a dead process and is pruned
    (slots are advisory, so they do not pay two fsyncs per change on every run)."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        with locked(self.path):
            data = self.read()
            yield data
            _replace_visible(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def _replace_visible(path: Path, data: bytes) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise StateError(f"{path}: write failed ({exc.strerror or exc}); the previous state is intact") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class FileInflight:
    """The slots of runs in flight, keyed by slot id."""

    def __init__(self, root: Path):
        self.state = _SlotState(root / "state" / "running.json", "slots")

    def running(self, now: datetime) -> list[dict[str, Any]]:
        """Live slots, oldest first (a lock-free read of a whole file)."""
        slots = self.state.read()["slots"].values()
        return sorted((dict(e) for e in slots if entry_live(e, now)), key=lambda e: e.get("startedAt") or "")

    def acquire(self, entry: dict[str, Any], limit: int, now: datetime) -> list[dict[str, Any]]:
        """Add ``entry`` unless its agent already holds ``limit`` live slots; returns those slots
        (empty when acquired). An entry with the same slot id is updated in place."""
        with self.state.transaction() as data:
            slots = data["slots"]
            _prune(slots, now)
            sid = entry["slotId"]
            if sid not in slots:
                held = [e for e in slots.values() if e.get("agent") == entry["agent"]]
                if len(held) >= limit:
                    return held
            slots[sid] = {**slots.get(sid, {}), **entry, "host": HOST, "pid": os.getpid()}
            return []

    def update(self, slot_id: str, change: Callable[[dict[str, Any]], None] | dict[str, Any]) -> None:
        with self.state.transaction() as data:
            entry = data["slots"].get(slot_id)
            if entry is None:
                return
            change(entry) if callable(change) else entry.update(change)

    def release(self, slot_id: str) -> None:
        with self.state.transaction() as data:
            data["slots"].pop(slot_id, None)


def _prune(slots: dict[str, Any], now: datetime) -> None:
    for sid in [s for s, e in slots.items() if not entry_live(e, now)]:
        del slots[sid]
