"""``runtime: command`` agents (SPEC §5): the agent's ``command`` as an argv list.

- never through a shell, and nothing from the task is put on the command line: the
  task travels in the environment (``AGENTCTL_AGENT``, ``AGENTCTL_TASK``,
  ``AGENTCTL_INPUT``, ``AGENTCTL_OUTPUT`` — where to write the artifact,
  ``AGENTCTL_PROMPT_FILE`` — prompt, task, rejection and active regressions,
  ``AGENTCTL_WORKSPACE``) and in files;
- cwd is the workspace; stdin is closed; the process starts its own session, and on
  timeout (or when the runner is interrupted) the whole process group is killed, so a
  grandchild cannot outlive the run; whatever the command left running in its group
  is killed when it ends too;
- stdout and stderr go to a temp file (no pipe a stray background process can hold
  open, no memory bound); the redacted tail is kept for the log and the run record.
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


def _tail(fh: tempfile._TemporaryFileWrapper, env: Mapping[str, str]) -> str:  # type: ignore[type-arg]
    """Redact a window wider than the tail, then keep the tail: no secret cut at the edge."""
    fh.flush()
    size = fh.seek(0, os.SEEK_END)
    start = max(0, size - TAIL_BYTES - TAIL_OVERLAP)
    fh.seek(start)
    return redact_tail(fh.read(), cut=start > 0, keep=TAIL_BYTES, env=env)


def run_command(argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float,
                on_start: Callable[[int], None] | None = None) -> CommandResult:
    """Run ``argv`` (no shell) with ``env``; kill its process group on timeout or interruption.
    ``on_start(pgid)`` is told the group as soon as it exists (staging records it)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, shell=False)
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
        return CommandResult(code, timed_out, _tail(out, env), time.monotonic() - start)
