"""Friction detection (SPEC §9): contradictions between agents in the registry's history.

Four rules, each read from tasks.json (+ archive) and logs/events.jsonl:

- ``review_vs_qa`` — QA failed a task while the latest code-review verdict on the
  same task, a task sharing its PR, or a task up/down its dependsOn chain was
  "approved": the review passed what QA failed. Verdicts come from the checks
  (``task update --check codeReview=approved``) and from the review / QA artifacts
  the tasks produced (``approved`` + no open revision requests; ``certified`` and no
  critical or major bug).
- ``conflicting_values`` — two different actors set conflicting values on one task
  field within ``conflict_window`` (default 1 h): two verdicts on a check, two final
  statuses (done/failed/rejected/cancelled), or one actor overwriting another's
  value of an assignment field (agent, pr, phase, product, title). Normal workflow
  moves (claim, block → unblock, review → done) are not friction.
- ``selftest_vs_rejection`` — the producer's self-tests passed, then the consumer
  rejected that same artifact at handoff.
- ``reopened`` — a task marked done was set back to another status (not cancelled).

Each finding names the agents, the task(s) and the evidence (events with ``ts``).
A report, not a monitor: the CLI exits 0 with or without findings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentctl.core.clock import parse_iso_or_none
from agentctl.core.records import Task
from agentctl.storage import JsonlReader
from agentctl.workspace.loader import Workspace

DEFAULT_CONFLICT_WINDOW = timedelta(hours=1)
APPROVED = frozenset({"approved", "approve", "passed", "pass", "ok", "lgtm", "true", "yes", "accepted", "green"})
FAILED = frozenset({"failed", "fail", "rejected", "reject", "false", "no", "changes_requested", "red", "blocked"})
REVIEW_CHECKS = frozenset({"codereview", "code_review", "review"})
QA_CHECKS = frozenset({"qa"})
FINAL_STATUSES = frozenset({"done", "failed", "rejected", "cancelled"})
ASSIGNMENT_FIELDS = frozenset({"agent", "pr", "phase", "product", "title"})


def verdict(value: Any) -> str | None:
    """``approved`` / ``failed`` / None for a check value in any of its usual spellings."""
    if isinstance(value, bool):
        return "approved" if value else "failed"
    if not isinstance(value, str):
        return None
    word = value.strip().lower().replace(" ", "_").replace("-", "_")
    return "approved" if word in APPROVED else "failed" if word in FAILED else None


@dataclass(frozen=True)
class Change:
    """One field change from the event log, with checks dicts expanded to ``checks.<name>``."""

    ts: str
    at: datetime
    taskId: str
    actor: str
    field: str
    before: Any
    after: Any
    source: str | None = None
    """Where a verdict was read when it is not an event: the artifact's path."""

    def evidence(self) -> dict[str, Any]:
        out = {"ts": self.ts, "taskId": self.taskId, "actor": self.actor, "change": self.field,
               "before": _brief(self.before), "after": _brief(self.after)}
        return out | {"source": self.source} if self.source else out


def _brief(value: Any) -> Any:
    if isinstance(value, dict) and "ok" in value and "results" in value:  # a self-test report
        return {"at": value.get("at"), "ok": value.get("ok"),
                "failed": [r.get("name") for r in value.get("results") or [] if isinstance(r, dict) and not r.get("ok")]}
    if isinstance(value, list) and len(value) > 3:
        return f"[{len(value)} items]"
    return value


def expand(events: Iterable[dict[str, Any]]) -> list[Change]:
    out: list[Change] = []
    for ev in events:
        at, change, task_id = parse_iso_or_none(ev.get("ts")), ev.get("change"), ev.get("taskId")
        if at is None or not isinstance(change, str) or not isinstance(task_id, str):
            continue
        actor = str(ev.get("actor") or "unknown")
        before, after = ev.get("before"), ev.get("after")
        if change in ("checks", "create"):
            b = (before or {}) if change == "checks" else {}
            a = after if change == "checks" else (after or {}).get("checks") if isinstance(after, dict) else None
            if isinstance(a, dict) and isinstance(b, dict):
                out += [Change(ev["ts"], at, task_id, actor, f"checks.{k}", b.get(k), v)
                        for k, v in a.items() if b.get(k) != v and v is not None]
            continue
        out.append(Change(ev["ts"], at, task_id, actor, change, before, after))
    out.sort(key=lambda c: c.at)
    return out


@dataclass
class History:
    tasks: dict[str, Task]
    changes: list[Change]
    start: datetime
    end: datetime

    def in_window(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def related(self, task_id: str) -> set[str]:
        """The task, tasks sharing its PR, and every task up or down its dependsOn chain."""
        children: dict[str, set[str]] = {}
        by_pr: dict[str, set[str]] = {}
        for t in self.tasks.values():
            for d in t.dependsOn:
                children.setdefault(d, set()).add(t.taskId)
            if t.pr:
                by_pr.setdefault(t.pr, set()).add(t.taskId)
        out = {task_id}
        for direction in ("up", "down"):
            todo = [task_id]
            while todo:
                node = self.tasks.get(todo.pop())
                if node is None:
                    continue
                nxt = node.dependsOn if direction == "up" else children.get(node.taskId, set())
                for n in nxt:
                    if n not in out:
                        out.add(n)
                        todo.append(n)
        for tid in list(out):
            member = self.tasks.get(tid)
            if member is not None and member.pr:
                out |= by_pr[member.pr]
        return out


def _finding(kind: str, task_id: str, tasks: Iterable[str], agents: Iterable[str | None], summary: str,
             evidence: list[dict[str, Any]]) -> dict[str, Any]:
    names: list[str] = []
    for a in agents:
        if a and a not in names:
            names.append(a)
    return {"kind": kind, "taskId": task_id, "tasks": sorted(set(tasks)), "agents": names, "summary": summary,
            "evidence": evidence, "at": max((e["ts"] for e in evidence if e.get("ts")), default=None)}


# --- (1) review approved what QA failed ----------------------------------------------

def _check_kind(field: str) -> str | None:
    if not field.startswith("checks."):
        return None
    name = field[len("checks."):].lower()
    return "review" if name in REVIEW_CHECKS else "qa" if name in QA_CHECKS else None


MAX_ARTIFACT_BYTES = 1_000_000
SERIOUS_BUGS = frozenset({"critical", "major", "blocker"})


def _artifact_verdict(data: Any) -> tuple[str, str] | None:
    """(check, value) from a review or QA artifact (schemas review/qa), else None."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("approved"), bool) and "reviewer" in data:
        ok = data["approved"] and not data.get("openRevisionRequests")
        return "codeReview", "approved" if ok else "changes_requested"
    if isinstance(data.get("certified"), bool) and "testPlan" in data:
        bugs: list[Any] = data["bugs"] if isinstance(data.get("bugs"), list) else []
        serious = any(isinstance(b, dict) and str(b.get("severity", "")).lower() in SERIOUS_BUGS for b in bugs)
        return "qa", "passed" if data["certified"] and not serious else "failed"
    return None


def artifact_verdicts(ws: Workspace, h: History) -> list[Change]:
    """Review and QA verdicts written in the tasks' artifacts (the pipeline records them there)."""
    import json

    from agentctl.storage.artifact_refs import read_ref

    out = []
    for task in h.tasks.values():
        if not task.output or not task.output.endswith(".json"):
            continue
        path = (ws.root / task.output).resolve()
        try:
            if not path.is_relative_to(ws.root):
                continue
            raw = read_ref(ws.storage, ws.root, path)  # a stored artifact through the store
            if len(raw) > MAX_ARTIFACT_BYTES:
                continue
            found = _artifact_verdict(json.loads(raw))
        except (OSError, ValueError):
            continue
        if found is None:
            continue
        written = [c for c in h.changes if c.taskId == task.taskId and c.field == "output" and c.after == task.output]
        ts, actor = (written[-1].ts, written[-1].actor) if written else (task.updatedAt, task.agent or "unknown")
        at = parse_iso_or_none(ts)
        if at is not None and at < h.end:
            out.append(Change(ts, at, task.taskId, actor, f"checks.{found[0]}", None, found[1], source=task.output))
    return out


def review_vs_qa(h: History, extra: list[Change] | None = None) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    verdicts = sorted([c for c in [*h.changes, *(extra or [])] if _check_kind(c.field) and verdict(c.after)],
                      key=lambda c: c.at)
    reviews = [c for c in verdicts if _check_kind(c.field) == "review"]
    seen: set[tuple[str, str]] = set()
    for qa in verdicts:
        if _check_kind(qa.field) != "qa" or verdict(qa.after) != "failed" or not h.in_window(qa.at):
            continue
        related = h.related(qa.taskId)
        prior = [r for r in reviews if r.taskId in related and r.at <= qa.at]
        if not prior or verdict(prior[-1].after) != "approved":
            continue
        review = prior[-1]
        if (review.ts, qa.ts) in seen:
            continue
        seen.add((review.ts, qa.ts))
        findings.append(_finding(
            "review_vs_qa", qa.taskId, {review.taskId, qa.taskId}, [review.actor, qa.actor],
            f"{review.actor} approved the code review of {review.taskId} ({review.ts}); "
            f"{qa.actor} then failed QA of {qa.taskId} ({qa.ts})",
            [review.evidence(), qa.evidence()]))
    findings += _review_vs_qa_from_state(h, {t for f in findings for t in f["tasks"]})
    return findings


def _review_vs_qa_from_state(h: History, reported: set[str]) -> list[dict[str, Any]]:
    """Tasks whose checks show the contradiction but whose verdicts never went through the event log."""
    logged = {c.taskId for c in h.changes if _check_kind(c.field)}
    out = []
    for t in h.tasks.values():
        qa = next((v for k, v in t.checks.items() if k.lower() in QA_CHECKS), None)
        updated = parse_iso_or_none(t.updatedAt)
        if verdict(qa) != "failed" or t.taskId in logged or t.taskId in reported or not updated or not h.in_window(updated):
            continue
        for rid in sorted(h.related(t.taskId)):
            r = h.tasks.get(rid)
            rv = next((v for k, v in (r.checks if r else {}).items() if k.lower() in REVIEW_CHECKS), None)
            if r is None or rid in logged or verdict(rv) != "approved":
                continue
            out.append(_finding(
                "review_vs_qa", t.taskId, {rid, t.taskId}, [r.agent, t.agent],
                f"{rid} has codeReview={rv!r} while {t.taskId} has qa={qa!r} (from tasks.json; no events)",
                [{"ts": r.updatedAt, "taskId": rid, "actor": None, "change": "checks (state)", "checks": r.checks},
                 {"ts": t.updatedAt, "taskId": t.taskId, "actor": None, "change": "checks (state)", "checks": t.checks}]))
            break
    return out


# --- (2) conflicting values within a window --------------------------------------------

def _conflicts(e1: Change, e2: Change) -> bool:
    if e1.field == "status":
        return (e1.after in FINAL_STATUSES and e2.after in FINAL_STATUSES and e1.after != e2.after
                and e1.after != "done")  # done → anything is `reopened`
    if e1.field.startswith("checks."):
        v1, v2 = verdict(e1.after), verdict(e2.after)
        return v1 is not None and v2 is not None and v1 != v2
    if e1.field in ASSIGNMENT_FIELDS:
        return e1.after is not None and e2.after is not None and e1.after != e2.after
    return False


def conflicting_values(h: History, window: timedelta) -> list[dict[str, Any]]:
    by_key: dict[tuple[str, str], list[Change]] = {}
    for c in h.changes:
        by_key.setdefault((c.taskId, c.field), []).append(c)
    findings = []
    for (task_id, field), changes in sorted(by_key.items()):
        involved: list[Change] = []
        for e1, e2 in zip(changes, changes[1:], strict=False):
            if (e1.actor != e2.actor and e2.at - e1.at <= window and h.in_window(e2.at) and _conflicts(e1, e2)):
                involved += [e for e in (e1, e2) if e not in involved]
        if not involved:
            continue
        values = ", ".join(f"{e.actor} set {e.after!r} ({e.ts})" for e in involved)
        findings.append(_finding("conflicting_values", task_id, [task_id], [e.actor for e in involved],
                                 f"conflicting {field} on {task_id}: {values}",
                                 [e.evidence() for e in involved]) | {"field": field})
    return findings


# --- (3) self-tests passed, consumer rejected ---------------------------------------------

def _selftest_reports(h: History, task: Task, runs: list[dict[str, Any]]) -> list[tuple[datetime, dict[str, Any]]]:
    reports: dict[str, dict[str, Any]] = {}
    for c in h.changes:
        if c.taskId == task.taskId and c.field == "selfTest" and isinstance(c.after, dict) and "ok" in c.after:
            reports[str(c.after.get("at") or c.ts)] = {"ts": str(c.after.get("at") or c.ts), "source": "events.jsonl",
                                                       "actor": c.actor, "selfTest": _brief(c.after)}
    if task.selfTest is not None:
        reports.setdefault(task.selfTest.at, {"ts": task.selfTest.at, "source": "tasks.json", "actor": task.agent,
                                              "selfTest": _brief(task.selfTest.model_dump())})
    for r in runs:
        st = r.get("selfTest")
        if r.get("taskId") == task.taskId and isinstance(st, dict) and "ok" in st and r.get("endedAt"):
            reports.setdefault(r["endedAt"], {"ts": r["endedAt"], "source": f"run {r.get('runId')}",
                                              "actor": r.get("agent"), "selfTest": {"ok": st["ok"], "failed": st.get("failed", [])}})
    out = [(at, rep) for rep in reports.values() if (at := parse_iso_or_none(rep["ts"])) is not None]
    return sorted(out, key=lambda p: p[0])


def _rejected_run_spans(runs: list[dict[str, Any]]) -> dict[str, list[tuple[datetime, datetime]]]:
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for r in runs:
        began, ended = parse_iso_or_none(r.get("startedAt")), parse_iso_or_none(r.get("endedAt"))
        if r.get("status") == "rejected" and r.get("taskId") and began:
            spans.setdefault(str(r["taskId"]), []).append((began - timedelta(seconds=5),
                                                           (ended or began) + timedelta(seconds=120)))
    return spans


def selftest_vs_rejection(h: History, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rejections by a consumer (not the runner's own contract check of a fresh output, which
    comes before that output's self-tests) that follow a passing self-test of the same artifact."""
    findings = []
    runner_checks = _rejected_run_spans(runs)
    for task in h.tasks.values():
        rejections = sorted(((at, r) for r in task.rejections if (at := parse_iso_or_none(r.at))), key=lambda p: p[0])
        if not any(h.in_window(at) for at, _ in rejections):
            continue
        reports = _selftest_reports(h, task, runs)
        for i, (at, rej) in enumerate(rejections):
            if not h.in_window(at) or any(lo <= at <= hi for lo, hi in runner_checks.get(task.taskId, [])):
                continue
            since = rejections[i - 1][0] if i else None
            before = [(t, rep) for t, rep in reports if t <= at and (since is None or t > since)]
            if not before or not before[-1][1]["selfTest"].get("ok"):
                continue
            rep = before[-1][1]
            producer = rep.get("actor") or task.agent
            missing = ", ".join(rej.missing) or (rej.summary or "contract errors")
            findings.append(_finding(
                "selftest_vs_rejection", task.taskId, [task.taskId], [producer, rej.by],
                f"{producer}'s self-tests passed on {task.taskId} ({rep['ts']}) but {rej.by or 'the consumer'} "
                f"rejected the artifact ({rej.at}): missing {missing}",
                [rep, {"ts": rej.at, "taskId": task.taskId, "actor": rej.by, "change": "rejection",
                       "stage": rej.stage, "missing": rej.missing, "errors": len(rej.errors)}]))
    return findings


# --- (4) done, then reopened -----------------------------------------------------------------

def reopened(h: History) -> list[dict[str, Any]]:
    findings = []
    done_by: dict[str, Change] = {}
    for c in h.changes:
        if c.field != "status":
            continue
        if c.after == "done":
            done_by[c.taskId] = c
        elif c.before == "done" and c.after not in ("done", "cancelled") and h.in_window(c.at):
            closer = done_by.get(c.taskId)
            evidence = [closer.evidence()] if closer else []
            who = f"marked done by {closer.actor} ({closer.ts})" if closer else "marked done"
            findings.append(_finding(
                "reopened", c.taskId, [c.taskId], [closer.actor if closer else None, c.actor],
                f"{c.taskId} was {who}, then set to {c.after!r} by {c.actor} ({c.ts})",
                evidence + [c.evidence()]))
    return findings


# --- all together -------------------------------------------------------------------------------

def load_history(ws: Workspace, start: datetime, end: datetime, reader: JsonlReader | None = None) -> History:
    reg = ws.storage.registry
    tasks: dict[str, Task] = {t.taskId: t for t in reg.archived(reader)}
    tasks.update({t.taskId: t for t in reg.load().tasks})
    return History(tasks, [c for c in expand(reg.events(reader)) if c.at < end], start, end)


def find_friction(ws: Workspace, start: datetime, end: datetime,
                  conflict_window: timedelta = DEFAULT_CONFLICT_WINDOW,
                  reader: JsonlReader | None = None) -> list[dict[str, Any]]:
    """Every contradiction between agents whose triggering event falls in [start, end).
    Torn or corrupt log lines are skipped and counted in ``reader.skipped`` when one is given."""
    reader = reader or JsonlReader()
    h = load_history(ws, start, end, reader)
    runs = list(ws.storage.runlog.read_window(start - timedelta(days=1), end, reader))
    findings = (review_vs_qa(h, artifact_verdicts(ws, h)) + conflicting_values(h, conflict_window)
                + selftest_vs_rejection(h, runs) + reopened(h))
    return sorted(findings, key=lambda f: (f["at"] or "", f["kind"], f["taskId"]))


def window_for_days(days: float, now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now



def check_cron_args(args: dict[str, Any], known: set[str]) -> None:
    from agentctl.errors import ConfigError

    unknown = sorted(set(args) - known)
    if unknown:
        raise ConfigError(f"cron job args: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")


def run_cron_job(ws: Workspace, *, now: datetime, args: dict[str, Any]) -> int:
    """The `friction` built-in: report the last ``days`` (default 1) and alert on findings.
    Returns 0 either way: the job worked; the alert carries the findings."""
    from agentctl.core.clock import parse_duration
    from agentctl.cron.alerts import raise_alert

    check_cron_args(args, {"days", "conflict_window"})
    start, end = window_for_days(float(args.get("days", 1)), now)
    window = parse_duration(str(args["conflict_window"])) if "conflict_window" in args else DEFAULT_CONFLICT_WINDOW
    findings = find_friction(ws, start, end, window)
    if findings:
        head = "; ".join(f"{f['kind']} on {f['taskId']} ({', '.join(f['agents'])})" for f in findings[:3])
        raise_alert(ws, kind="friction", source="friction", now=now,
                    data={"findings": [{"kind": f["kind"], "taskId": f["taskId"], "agents": f["agents"]}
                                       for f in findings]},
                    message=f"{len(findings)} contradiction(s) between agents: {head} — `agentctl friction`")
    return 0
