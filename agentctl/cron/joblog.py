"""A cron job's own log (``logs/cron/NAME.log``), opened by agentctl, rotated by size.

The crontab line has no shell redirect (which fails, silently, when the folder is
missing): ``cron run --log`` creates ``logs/cron/``, rotates the log when it reached
``MAX_BYTES`` (``NAME.log`` → ``NAME.log.1`` → ``NAME.log.2``; ``KEEP`` files in all) and
points stdout and stderr at it, so everything the process and its children print lands
there, including the error lines of a failed start.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from agentctl.storage import locked

MAX_BYTES = 1_000_000
KEEP = 3


def log_path(root: Path, job: str) -> Path:
    return root / "logs" / "cron" / f"{job}.log"


def rotate(path: Path, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> bool:
    """Shift ``path`` to ``path.1`` (and so on, dropping the oldest) once it holds ``max_bytes``."""
    try:
        if path.stat().st_size < max_bytes:
            return False
    except FileNotFoundError:
        return False
    with locked(path, timeout=5):
        try:
            if path.stat().st_size < max_bytes:  # another process rotated meanwhile
                return False
        except FileNotFoundError:
            return False
        for i in range(keep - 1, 0, -1):
            older = path.with_name(f"{path.name}.{i}")
            if i == keep - 1:
                older.unlink(missing_ok=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    older.rename(path.with_name(f"{path.name}.{i + 1}"))
        path.rename(path.with_name(f"{path.name}.1"))
    return True


def redirect_to_log(root: Path, job: str) -> Path:
    """Point fds 1 and 2 (and sys.stdout/err) at the job's log, appending."""
    path = log_path(root, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    rotate(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return path
