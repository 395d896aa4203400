"""What is happening now (SPEC §13): in-flight runs with elapsed time, recent runs, one run's record.

In-flight runs come from ``state/running.json`` (slots whose process lives and whose
lease holds); recent runs from the run log of the window. ``show_run`` finds a record
by id (its day is in the id) and adds the tail of what the run wrote (a command's
log, else its artifact).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agentctl.core.clock import iso, parse_iso
from agentctl.errors import AgentctlError, NotFound, UsageError

if TYPE_CHECKING:
    from agentctl.workspace.loader import Workspace

TAIL_CHARS = 4000
_RUN_ID = re.compile(r"^r-(\d{8})T\d{6}Z-[0-9a-f]+$")


def running_runs(ws: Any, now: datetime, agent: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for e in ws.storage.inflight.running(now):
        if agent is not None and e.get("agent") != agent:
            continue
        try:
            elapsed = max(0.0, (now - parse_iso(e["startedAt"])).total_seconds())
        except (KeyError, TypeError, ValueError):
            elapsed = None
        rows.append({"running": True, "runId": e.get("runId"), "agent": e.get("agent"), "taskId": e.get("taskId"),
                     "startedAt": e.get("startedAt"), "elapsedS": None if elapsed is None else round(elapsed, 1),
                     "model": e.get("model"), "runtime": e.get("runtime"), "trigger": e.get("trigger"),
                     "host": e.get("host"), "pid": e.get("pid"), "leaseExpiresAt": e.get("leaseExpiresAt"),
                     "state": "running" if e.get("runId") else "claiming"})
    return rows


def recent_runs(ws: Any, now: datetime, since: timedelta, agent: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for rec in ws.storage.runlog.read_window(now - since, now + timedelta(seconds=1)):
        if agent is not None and rec.get("agent") != agent:
            continue
        rows.append({"running": False, "runId": rec.get("runId"), "agent": rec.get("agent"),
                     "taskId": rec.get("taskId"), "startedAt": rec.get("startedAt"), "endedAt": rec.get("endedAt"),
                     "durationS": rec.get("durationS"), "status": rec.get("status"), "trigger": rec.get("trigger"),
                     "model": rec.get("model") or rec.get("provider"), "costUsd": rec.get("costUsd")})
    rows.sort(key=lambda r: str(r.get("startedAt") or ""), reverse=True)
    return rows


def find_record(ws: Workspace, run_id: str) -> dict[str, Any] | None:
    m = _RUN_ID.match(run_id)
    if not m:
        raise UsageError(f"invalid run id {run_id!r} (run ids look like r-20261126T100000Z-1a2b3c)")
    start = datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC) - timedelta(days=1)
    for rec in ws.storage.runlog.read_window(start, start + timedelta(days=3)):
        if rec.get("runId") == run_id:
            return rec
    return None


def _tail(ws: Any, rec: dict[str, Any]) -> tuple[str | None, str]:
    """The end of the run's command log, else of its output artifact (through the artifact store)."""
    from agentctl.run.housekeeping import day_of
    from agentctl.storage.artifact_refs import split_ref

    try:  # a task-less run's files: _runs/<its start day>/<runId>
        key = rec.get("taskId") or f"_runs/{day_of(rec['runId'], parse_iso(str(rec.get('startedAt'))))}/{rec['runId']}"
    except AgentctlError:
        key = None
    candidates = [(str(key), f"{rec.get('agent')}.log")] if key else []
    if rec.get("output") and (ref := split_ref(str(rec["output"]))) is not None:
        candidates.append(ref)
    store = ws.storage.artifacts
    for task_id, name in candidates:
        try:
            data = store.get(task_id, name)
        except AgentctlError:
            continue
        if data is not None:
            return store.rel(task_id, name), data[-TAIL_CHARS:].decode("utf-8", "replace")
    return None, ""


def show_run(ws: Any, run_id: str, now: datetime) -> dict[str, Any]:
    live = [r for r in running_runs(ws, now) if r["runId"] == run_id]
    rec = find_record(ws, run_id)
    if rec is None and not live:
        raise NotFound(f"unknown run {run_id!r} (see `agentctl runs --since 7d`)")
    out: dict[str, Any] = dict(rec) if rec else dict(live[0])
    out["running"] = bool(live) and rec is None
    source, tail = _tail(ws, out) if out.get("runId") else (None, "")
    out["outputFile"], out["outputTail"] = source, tail
    out["shownAt"] = iso(now)
    return out
