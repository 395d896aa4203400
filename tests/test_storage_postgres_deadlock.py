"""Deadlocks on PostgreSQL (SPEC §12): whole-registry changes (archive, add, claim with its
dependency check) racing single-task updates and blocks in separate processes never surface
as 75 — the registry's advisory lock orders them, and a deadlock the server still breaks is
replayed (``agentctl.storage.retry``)."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import Cli
from fixtures_postgres import make_pg_workspace

TASKS = 12


def _worker(root: str, dsn: str, role: int, rounds: int, out: str) -> None:
    os.environ["AGENTCTL_PG_DSN"] = dsn
    from agentctl.errors import Conflict, TryLater
    from agentctl.registry import service
    from agentctl.workspace.loader import Workspace

    ws = Workspace(Path(root))
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    done, busy = 0, []
    for i in range(rounds):
        a, b = f"T-{1 + (role + i) % TASKS}", f"T-{1 + (role + 3 * i + 5) % TASKS}"
        try:
            if role % 4 == 0:
                service.archive_finished(ws, timedelta(days=365), "archiver", now)  # whole registry, nothing old
            elif role % 4 == 1:
                service.update_task(ws, a, service.Update(phase=f"p{role}-{i}"), "upd", now)
            elif role % 4 == 2:
                service.block_task(ws, a, "dep", [b] if a != b else [], "blk", now)
                service.unblock_task(ws, a, "blk", now)
            else:
                service.add_task(ws, service.NewTask(title=f"new {role}-{i}", agent="bob"), "adder", now)
                try:
                    service.claim_task(ws, a, "bob", now)  # finds the row, then reads the whole registry
                    service.update_task(ws, a, service.Update(sets=["claimedBy=null"]), "upd", now)
                except Conflict:  # blocked by a role-2 process just now: a refusal, not a busy database
                    pass
            done += 1
        except TryLater as exc:
            busy.append(exc.message)
    ws.storage.close()
    Path(out).write_text(json.dumps({"done": done, "busy": busy}))


def test_whole_registry_changes_and_single_updates_never_exit_75(tmp_path: Path, pg_dsn: str) -> None:
    root = make_pg_workspace(tmp_path / "ws")
    run = Cli(root)
    env = {"AGENTCTL_PG_DSN": pg_dsn}
    assert run("storage", "init", env=env).exit_code == 0
    for i in range(TASKS):
        assert run("task", "add", "--title", f"t{i}", "--agent", "bob", env=env).exit_code == 0
    ctx, rounds = multiprocessing.get_context("fork"), 25
    procs = [ctx.Process(target=_worker, args=(str(root), pg_dsn, role, rounds, str(tmp_path / f"o{role}.json")))
             for role in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    results = [json.loads((tmp_path / f"o{role}.json").read_text()) for role in range(8)]
    busy = [m for r in results for m in r["busy"]]
    assert not busy, busy[:3]
    assert all(r["done"] == rounds for r in results)
    phases = run("task", "list", "--json", env=env).json()
    assert len(phases) == TASKS + 2 * rounds  # every add committed once (roles 3 and 7)
