"""The one process runner: command agents, self-test commands, alert command sinks and
the ``crontab`` program all start their processes here.

- an argv list, never a shell; the environment is given whole (nothing is inherited);
- the process starts its own session, so it leads its own process group;
- stdin is closed, a file, or bytes (spooled to a temp file: no pipe to deadlock on);
  stdout and stderr go to a temp file (no pipe a stray background process can hold
  open, no memory bound), or stdout to a file of its own / captured whole;
- the leader is waited for **without being reaped** (``WNOWAIT``): while it is a zombie
  its pid, hence the group id, cannot be reused, so signalling the group never hits a
  stranger. Only after the group has been killed is the leader reaped;
- on timeout, and on interruption (any ``BaseException``: Ctrl-C, a SIGTERM handler),
  the whole group gets SIGTERM, then ``grace_s`` for the leader to exit, then SIGKILL;
  whatever is left in the group when the leader exits normally is SIGKILLed too;
- the output tail is redacted over a window ``overlap`` wider than what is kept, so a
  secret straddling the tail's edge is seen whole and masked.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentctl.core.redact import redact_tail

KILL_GRACE_S = 0.5


@dataclass
class ProcessResult:
    exit_code: int | None
    """None when it timed out (or never started)."""
    timed_out: bool
    stderr_tail: str
    """Redacted tail of stderr (and of stdout, unless stdout went elsewhere)."""
    stdout_tail: str
    """Redacted tail of the ``stdout_path`` file, when one was given."""
    duration_s: float
    spawn_error: OSError | None = None
    stdout: bytes | None = None
    """The whole stdout, with ``capture_stdout`` (not redacted: the caller's to use)."""

    @property
    def output_tail(self) -> str:
        return "\n".join(t for t in (self.stderr_tail, self.stdout_tail) if t.strip())


@dataclass(frozen=True)
class Tail:
    """How much output to keep, and how much wider a window to redact first."""

    keep: int = 64 * 1024
    overlap: int = 8 * 1024


def run_process(argv: list[str], *, env: Mapping[str, str], timeout_s: float, cwd: Path | None = None,
                stdin: Path | bytes | None = None, stdout_path: Path | None = None,
                capture_stdout: bool = False, tail: Tail = Tail(), grace_s: float = KILL_GRACE_S,
                on_start: Callable[[int], None] | None = None) -> ProcessResult:
    """Run ``argv`` in its own process group; see the module docstring for the policy.

    ``on_start(pgid)`` is told the group as soon as it exists (staging records it). A spawn
    failure (or an unreadable stdin file) is returned as ``spawn_error``, never raised."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, contextlib.ExitStack() as stack:
        try:
            fin, fout = _open_io(stdin, stdout_path, capture_stdout, stack)
            proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=fin, stdout=fout or out,
                                    stderr=out if fout else subprocess.STDOUT, start_new_session=True, shell=False)
        except OSError as exc:
            return ProcessResult(None, False, "", "", time.monotonic() - start, spawn_error=exc)
        finished = _supervise(proc, timeout_s, grace_s, on_start)
        code = proc.returncode if finished else None
        err_tail = _tail(out, tail.keep, tail.overlap, env)
        out_tail, whole = _stdout_of(fout, stdout_path, capture_stdout, tail, env)
        return ProcessResult(code, not finished, err_tail, out_tail, time.monotonic() - start, stdout=whole)


def _supervise(proc: subprocess.Popen[bytes], timeout_s: float, grace_s: float,
               on_start: Callable[[int], None] | None) -> bool:
    """Wait for the leader (unreaped), end its group, reap it. False when it timed out."""
    try:
        if on_start is not None:
            on_start(proc.pid)
        finished = wait_unreaped(proc.pid, timeout_s)
    except BaseException:  # interrupted: take the whole group down with us
        end_group(proc.pid, grace_s)
        with contextlib.suppress(Exception):
            proc.wait(timeout=1)
        raise
    if finished:
        kill_group(proc.pid)  # leftovers in its group do not outlive the run
    else:
        end_group(proc.pid, grace_s)
    proc.wait()
    return finished


def _open_io(stdin: Path | bytes | None, stdout_path: Path | None, capture: bool,
             stack: contextlib.ExitStack) -> tuple[Any, IO[bytes] | None]:
    fin: Any = subprocess.DEVNULL
    if isinstance(stdin, bytes):
        fin = stack.enter_context(tempfile.TemporaryFile())
        fin.write(stdin)
        fin.seek(0)
    elif stdin is not None:
        fin = stack.enter_context(open(stdin, "rb"))
    fout: IO[bytes] | None = None
    if stdout_path is not None:
        fout = stack.enter_context(open(stdout_path, "wb"))
    elif capture:
        fout = stack.enter_context(tempfile.TemporaryFile())
    return fin, fout


def _stdout_of(fout: IO[bytes] | None, stdout_path: Path | None, capture: bool, tail: Tail,
               env: Mapping[str, str]) -> tuple[str, bytes | None]:
    if fout is None:
        return "", None
    fout.flush()
    if capture and stdout_path is None:
        fout.seek(0)
        return "", fout.read()
    return file_tail(stdout_path, tail.keep // 2, tail.overlap, env), None


def wait_unreaped(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to exit without reaping it. True when it exited."""
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(OSError, AttributeError):  # no pidfd (old kernel): poll instead
        fd = os.pidfd_open(pid)
        try:
            while not _exited(pid):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                select.select([fd], [], [], remaining)
            return True
        finally:
            os.close(fd)
    delay = 0.0005
    while not _exited(pid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)
    return True


def _exited(pid: int) -> bool:
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped by someone else: gone
        return True
    return info is not None and info.si_pid != 0


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal the group; False when it is gone (or not ours)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_group(pid: int, grace_s: float) -> None:
    """SIGTERM the group, give its (unreaped) leader ``grace_s`` to exit, then SIGKILL the group."""
    if kill_group(pid, signal.SIGTERM) and grace_s > 0:
        wait_unreaped(pid, grace_s)
    kill_group(pid)


def _tail(fh: IO[bytes], keep: int, overlap: int, env: Mapping[str, str]) -> str:
    """Redact a window wider than the tail, then keep the tail: no secret cut at the edge."""
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    start = max(0, size - keep - overlap)
    fh.seek(start)
    return redact_tail(fh.read(), cut=start > 0, keep=keep, env=env)


def file_tail(path: Path | None, keep: int, overlap: int, env: Mapping[str, str]) -> str:
    """The redacted tail of a file ("" when there is none)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            return _tail(fh, keep, overlap, env)
    except OSError:
        return ""
