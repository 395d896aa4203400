"""Shared helpers for the benchmarks: timing of commands and a workspace with N tasks."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path


def compile_bytecode() -> None:
    """An installed package has bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE=1
    would recompile agentctl from source on every start. Compile it as `pip install .` does."""
    import agentctl

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(agentctl.__file__).parent)],
                   check=True, stdout=subprocess.DEVNULL)


def agentctl_argv() -> list[str]:
    exe = shutil.which("agentctl")
    return [exe] if exe else [sys.executable, "-m", "agentctl"]


def median_wall(argv: list[str], runs: int, env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, **(env or {})}, cwd=cwd)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_workspace(root: Path, n_tasks: int) -> Path:
    from agentctl.core.clock import iso
    from agentctl.core.records import RegistryFile, Task
    from agentctl.workspace.templates import init_workspace

    if root.exists():
        shutil.rmtree(root)
    init_workspace(root, "minimal", force=False)
    now = iso(datetime.now(UTC))
    statuses = ["todo", "in_progress", "blocked", "review", "done"]
    tasks = [Task(taskId=f"T-{i}", title=f"Task number {i} with a realistic title", agent=f"agent-{i % 31}",
                  product="AlphaNet", phase="code", status=statuses[i % 5],  # type: ignore[arg-type]
                  blockedBy="waiting" if i % 5 == 2 else None, createdAt=now, updatedAt=now)
             for i in range(1, n_tasks + 1)]
    doc = RegistryFile(nextSeq=n_tasks + 1, tasks=tasks)
    (root / "tasks.json").write_text(doc.model_dump_json(indent=1) + "\n")
    if n_tasks:  # one write by agentctl seals the file, as in real use (a hand-written one is read the slow way)
        from agentctl.registry.service import Update, update_task
        from agentctl.workspace.loader import Workspace

        update_task(Workspace(root), "T-1", Update(sets=["notes=sealed"]), "bench", datetime.now(UTC))
    return root


@contextlib.contextmanager
def fresh_database(prefix: str = "agentctl_bench") -> Iterator[str]:
    """A new database on the server the ``PG*`` variables name (e.g. under ``pg_virtualenv -t``);
    yields its DSN and drops it afterwards."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"dbname={name}"
    finally:
        with psycopg.connect(autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def point_at_postgres(root: Path) -> None:
    """Add the ``storage`` block that points the workspace at ``$AGENTCTL_PG_DSN``."""
    with (root / "agentctl.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\nstorage:\n  backend: postgres\n  dsn_env: AGENTCTL_PG_DSN\n")
