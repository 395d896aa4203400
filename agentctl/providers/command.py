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

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentctl.providers.process import Tail, run_process

TAIL_BYTES = 64 * 1024
TAIL_OVERLAP = 8 * 1024
"""Read this much more than the tail, so a secret straddling the tail's edge is seen whole."""


@dataclass
class CommandResult:
    exit_code: int | None
    """None when it was killed on timeout."""
    timed_out: bool
    output_tail: str
    """Redacted last part of stdout+stderr."""
    duration_s: float
    spawn_error: str | None = None


def run_command(argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float,
                stdin_path: Path | None = None, stdout_path: Path | None = None,
                on_start: Callable[[int], None] | None = None) -> CommandResult:
    """Run ``argv`` (no shell) with ``env`` through the one process runner (``providers.process``).

    ``stdin_path``: a file fed on stdin (else stdin is closed). ``stdout_path``: where stdout goes
    whole (else stdout and stderr share the temp file of the tail). ``on_start(pgid)`` is told the
    group as soon as it exists (staging records it)."""
    start = time.monotonic()
    res = run_process(argv, cwd=cwd, env=env, timeout_s=timeout_s, stdin=stdin_path, stdout_path=stdout_path,
                      tail=Tail(TAIL_BYTES, TAIL_OVERLAP), on_start=on_start)
    if res.spawn_error is not None:
        exc = res.spawn_error
        return CommandResult(None, False, "", time.monotonic() - start,
                             spawn_error=f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    return CommandResult(res.exit_code, res.timed_out, res.output_tail, res.duration_s)
