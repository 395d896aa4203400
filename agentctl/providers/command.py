"""``runtime: command`` agents (SPEC §5): the agent's ``command`` as an argv list.

- never through a shell, and nothing from the task is put on the command line: the
  task travels in the environment (``AGENTCTL_AGENT``, ``AGENTCTL_TASK``,
  ``AGENTCTL_INPUT``, ``AGENTCTL_OUTPUT`` — where to write the artifact,
  ``AGENTCTL_PROMPT_FILE`` — prompt, task, rejection and active regressions,
  ``AGENTCTL_WORKSPACE``) and in files;
- cwd is the workspace; stdin is closed (or reads a file: ``stdin: prompt``); the process starts its own session, and on
  timeout (or when the runner is interrupted) the whole process group is killed, so a
  grandchild cannot outlive the run; whatever the command left running in its group
  is killed when it ends too;
- stdout and stderr go to a temp file (no pipe a stray background process can hold
  open, no memory bound); the redacted tail is kept for the log and the run record.
  With ``stdout_path`` (agents with ``usage:``), stdout goes to that file whole, for the
  usage adapters, and the tail is stderr's then stdout's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentctl.core.redact import redact_tail

TAIL_BYTES = 64 * 1024
TAIL_OVERLAP = 8 * 1024
"""Read this much more than the tail, so a secret straddling the tail's edge is seen whole."""
KILL_GRACE_S = 0.5


@dataclass
class CommandResult:
    exit_code: int | None
    """None when it was killed on timeout."""
    timed_out: bool
    output_tail: str
    """Redacted last part of stdout+stderr."""
    duration_s: float
    spawn_error: str | None = None


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + KILL_GRACE_S
            while time.monotonic() < deadline:
                try:
                    os.killpg(pgid, 0)
                except (ProcessLookupError, PermissionError):
                    return
                time.sleep(0.01)


def _tail(fh: IO[bytes], env: Mapping[str, str]) -> str:
    """Redact a window wider than the tail, then keep the tail: no secret cut at the edge."""
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    start = max(0, size - TAIL_BYTES - TAIL_OVERLAP)
    fh.seek(start)
    return redact_tail(fh.read(), cut=start > 0, keep=TAIL_BYTES, env=env)


def _open_io(stdin_path: Path | None, stdout_path: Path | None, stack: contextlib.ExitStack) -> tuple[Any, Any]:
    stdin = stack.enter_context(open(stdin_path, "rb")) if stdin_path is not None else subprocess.DEVNULL
    stdout = stack.enter_context(open(stdout_path, "wb")) if stdout_path is not None else None
    return stdin, stdout


def run_command(argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float,
                stdin_path: Path | None = None, stdout_path: Path | None = None,
                on_start: Callable[[int], None] | None = None) -> CommandResult:
    """Run ``argv`` (no shell) with ``env``; kill its process group on timeout or interruption.

    ``stdin_path``: a file fed on stdin (else stdin is closed). ``stdout_path``: where stdout goes
    whole (else stdout and stderr share the temp file of the tail). ``on_start(pgid)`` is told the
    group as soon as it exists (staging records it)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, contextlib.ExitStack() as stack:
        try:
            stdin, stdout = _open_io(stdin_path, stdout_path, stack)
            proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=stdin, stdout=stdout or out,
                                    stderr=out if stdout else subprocess.STDOUT, start_new_session=True, shell=False)
        except OSError as exc:
            return CommandResult(None, False, "", time.monotonic() - start,
                                 spawn_error=f"cannot start {argv[0]!r}: {exc.strerror or exc}")
        timed_out = False
        try:
            if on_start is not None:
                on_start(proc.pid)
            code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out, code = True, None
            _kill_group(proc.pid)
            proc.wait()
        except BaseException:  # interrupted: take the whole group down with us
            _kill_group(proc.pid)
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)
            raise
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers in its group do not outlive the run
        tail = _tail(out, env)
        if stdout is not None:
            stdout.flush()
            tail = "\n".join(t for t in (tail, _file_tail(stdout_path, env)) if t.strip())
        return CommandResult(code, timed_out, tail, time.monotonic() - start)


def _file_tail(path: Path | None, env: Mapping[str, str]) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_BYTES // 2 - TAIL_OVERLAP)
            fh.seek(start)
            return redact_tail(fh.read(), cut=start > 0, keep=TAIL_BYTES // 2, env=env)
    except OSError:
        return ""
