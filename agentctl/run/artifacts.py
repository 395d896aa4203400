"""The files of one run, through the seam's artifact store (SPEC §5, §12).

- The artifact (and a rejected one kept for the rework) is *staged* while the run concludes
  and stored by ``commit`` inside the run's unit of work, with the task change and the run
  record: a crash leaves both or neither.
- Self-tests run against a scratch copy in the run's private staging folder (``$AGENTCTL_OUTPUT``
  there); what a rule leaves in that file is what is stored.
- A command agent's prompt file, schema copy and output log are stored at once (``store_now``:
  one atomic write on files) and handed to the process as local paths (files: the artifact
  folder itself; PostgreSQL: a private local copy).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentctl.storage.base import Storage


class RunArtifacts:
    """What one run stores under one key: a task id, or ``_runs/<day>/<runId>``."""

    def __init__(self, storage: Storage, key: str):
        self.storage = storage
        self.key = key
        self.pending: dict[str, bytes] = {}

    def rel(self, name: str) -> str:
        return self.storage.artifacts.rel(self.key, name)

    def local(self, name: str) -> Path:
        return self.storage.artifacts.local_path(self.key, name)

    def stage(self, name: str, data: bytes) -> str:
        """Keep ``data`` for ``commit``; returns the reference tasks and records carry."""
        self.pending[name] = data
        return self.rel(name)

    def commit(self) -> None:
        """Store every staged file (call inside the run's unit of work)."""
        for name, data in self.pending.items():
            self.storage.artifacts.put(self.key, name, data)
        self.pending.clear()

    def store_now(self, name: str, data: bytes) -> Path:
        """Store a file a process reads now (prompt, schema, log); its local path."""
        self.storage.artifacts.put(self.key, name, data)
        return self.local(name)

    @contextlib.contextmanager
    def scratch(self, name: str, root: Path) -> Iterator[Path]:
        """A private copy of the staged ``name`` for self-tests; what they leave there is staged back."""
        from agentctl.storage.staging import stage_file, staging_dir

        with staging_dir(root) as private:
            path = stage_file(private, name, self.pending.get(name, b""))
            yield path
            with contextlib.suppress(OSError):
                self.pending[name] = path.read_bytes()


def run_key(storage: Storage, task_id: str | None, run_id: str, now: datetime, retention_days: int) -> str:
    """The artifact key of a run: its task, else ``_runs/<its start day>/<runId>`` — and, for the
    latter, the days older than the retention are pruned (SPEC §8 housekeeping)."""
    if task_id is not None:
        return task_id
    from datetime import timedelta

    from agentctl.run.housekeeping import day_of

    storage.artifacts.prune_runs((now - timedelta(days=retention_days)).date())
    return f"_runs/{day_of(run_id, now)}/{run_id}"
