"""Private staging for a command agent's raw output, which never outlives the run.

A command agent writes its artifact to ``$AGENTCTL_OUTPUT`` unredacted. That file lives in
``.agentctl/staging/<pid>-<random>/`` (a folder of mode 0700, one per run) and only the
redacted artifact reaches ``artifacts/``:

- the folder is removed on every exit: success, failure, Ctrl-C, SIGTERM and SIGHUP
  (``terminating_signals`` turns them into an exception, so every ``finally`` runs and
  the agent's process group is killed by ``providers.command``);
- a SIGKILL leaves it behind, with the agent's process group id in ``pgid``: the next
  command on the workspace (``clean_stale``) kills that group and removes the folder
  once the agentctl that made it is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from agentctl.storage.files.inflight import pid_alive

STAGING = Path(".agentctl") / "staging"


class Terminated(BaseException):  # noqa: N818 — like KeyboardInterrupt: not an error, an exit
    """SIGTERM or SIGHUP arrived: unwind (cleaning up) and exit 128 + signum."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def terminating_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Terminated`` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, handler)
        except (OSError, ValueError):
            continue
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


@contextlib.contextmanager
def staging_dir(root: Path) -> Iterator[Path]:
    """A fresh private folder for one run's unredacted files; removed on exit."""
    from agentctl.errors import StateError
    from agentctl.storage.files.durable import check_confined

    base = root / STAGING
    check_confined(base / "x")
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=base))  # mode 0700
    except OSError as exc:
        raise StateError(f"{base}: cannot create the staging folder ({exc.strerror})") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def note_group(path: Path, pgid: int) -> None:
    """Record the agent's process group, so a later command can end it after a SIGKILL."""
    with contextlib.suppress(OSError):
        (path / "pgid").write_text(str(pgid))


def clean_stale(root: Path) -> list[str]:
    """Remove staging folders whose agentctl is gone (killed by SIGKILL), killing the agent
    process group each recorded. Cheap when there is none (one failed scandir)."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(root / STAGING))
    except OSError:
        return removed
    for entry in entries:
        owner = entry.name.split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid() or pid_alive(int(owner)):
            continue
        with contextlib.suppress(OSError, ValueError):
            pgid = int((Path(entry.path) / "pgid").read_text())
            if pgid > 1:
                os.killpg(pgid, signal.SIGKILL)
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.name)
    return removed


def stage_file(folder: Path, name: str, data: bytes) -> Path:
    """Put ``data`` in the run's private staging ``folder`` (a scratch copy, never state)."""
    path = folder / name
    path.write_bytes(data)
    return path
