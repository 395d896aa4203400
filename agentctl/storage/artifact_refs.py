"""Artifact references: the workspace-relative names (``artifacts/<taskId>/<name>``) that tasks
and run records carry, and how to read one on any backend.

A task's ``input`` or ``output`` names an artifact in the store (files: the folder; PostgreSQL:
a row), or — ``--input FILE``, ``handoff --artifact FILE`` — a file of the user's. ``read_ref``
reads the first through ``storage.artifacts`` and the second from disk, so no command reads
``artifacts/`` as files behind the seam's back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agentctl.errors import UsageError

if TYPE_CHECKING:
    from agentctl.storage.base import Storage

RUNS_DIR = "_runs"
PREFIX = "artifacts/"


def is_day(name: str) -> bool:
    from datetime import date

    try:
        return len(name) == 10 and date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False


def check_key(task_id: str, name: str) -> None:
    """A task id (or ``_runs/<day>/<runId>``) and a plain file name: nothing that leaves the folder."""
    parts = task_id.split("/")
    if len(parts) == 3 and parts[0] == RUNS_DIR and is_day(parts[1]):
        parts = parts[2:]
    if len(parts) != 1 or "/" in name or any(not p or p.startswith(".") or "\\" in p for p in (parts[0], name)):
        raise UsageError(f"artifact name {task_id}/{name} must be a plain file name")


def split_ref(ref: str) -> tuple[str, str] | None:
    """``artifacts/T-1/prd.json`` → ``("T-1", "prd.json")``; None when ``ref`` names no stored artifact."""
    if not ref.startswith(PREFIX):
        return None
    key, _, name = ref[len(PREFIX):].rpartition("/")
    try:
        check_key(key, name)
    except UsageError:
        return None
    return key, name


def ref_of(root: Path, path: Path) -> str | None:
    """The artifact reference of ``path`` when it lies in the workspace's ``artifacts/``, else None."""
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return rel if split_ref(rel) is not None else None


def read_ref(storage: Storage, root: Path, path: Path) -> bytes:
    """The bytes of ``path``: through the artifact store when it is a stored artifact, else the file.
    Absent → FileNotFoundError (either way), so callers keep one error message."""
    ref = ref_of(root, path)
    if ref is None:
        return path.read_bytes()
    task_id, name = split_ref(ref)  # type: ignore[misc]  # ref_of checked it
    data = storage.artifacts.get(task_id, name)
    if data is None:
        raise FileNotFoundError(ref)
    return data


def exists_ref(storage: Storage, root: Path, path: Path) -> bool:
    """True when ``path`` (a stored artifact or a user's file) can be read."""
    ref = ref_of(root, path)
    if ref is None:
        return path.is_file()
    task_id, name = split_ref(ref)  # type: ignore[misc]
    return storage.artifacts.get(task_id, name) is not None


def local_file(storage: Storage, root: Path, path: Path) -> Path:
    """A local file a process can open for ``path``: a stored artifact's local copy (files: the
    file itself; database: a private copy), else ``path`` unchanged."""
    ref = ref_of(root, path)
    if ref is None:
        return path
    task_id, name = split_ref(ref)  # type: ignore[misc]
    return storage.artifacts.local_path(task_id, name)
