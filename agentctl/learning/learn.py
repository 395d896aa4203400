"""Nightly extraction (SPEC §9): turn the window's failures into regression candidates.

Reads failed runs (run log), handoff rejections and self-test failures (tasks,
archive and the event log) and breaker trips (alerts), groups them by a normalised
signature and merges them into memory/regressions.yaml: a new signature becomes a
``candidate``; a known one gets its count, lastSeen and examples updated.

Idempotent: every occurrence has a key (``run:<runId>``, ``rejection:<task>@<at>``,
``selftest:<task>@<at>``, ``alert:<ts>:<agent>``) recorded in state/learn.json once
counted, so re-reading an overlapping window counts nothing twice and writes
nothing. Both files change under the regressions lock; regressions.yaml is written
first, so a crash between the two writes can only recount one batch, never lose it.
Rule text is drafted by the model of the ``learning:`` tier when a provider is
available, else by a template; the model is never called under the lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentctl.core.clock import iso, parse_iso_or_none
from agentctl.core.records import Task
from agentctl.core.redact import redact
from agentctl.cron.alerts import raise_alert
from agentctl.errors import StateError
from agentctl.learning import regressions as regs
from agentctl.storage import JsonlReader, atomic_write
from agentctl.workspace.loader import Workspace

LEDGER_VERSION = 1
LEDGER_REL = "state/learn.json"
LEDGER_RETENTION = timedelta(days=90)
"""Keys of occurrences older than this are pruned; older occurrences are then ignored."""
FAILED_RUNS = frozenset({"failure", "rejected", "selftest_failed"})
MAX_MODEL_DRAFTS = 10
EXAMPLE_CHARS = 200

Drafter = Callable[[str], str]


# --- signatures --------------------------------------------------------------------

_PATH_CHARS = r"[^\s'\"()<>\[\]{},;]"
_NORMALISERS: list[tuple[re.Pattern[str], str]] = [
    # every pattern is linear: bounded or anchored at the start of a run (a 20 KB message of
    # "a.a.a…" took 41 s with unbounded `[\w.-]+` retried from each of its characters)
    (re.compile(r"\b[a-z][a-z0-9+.\-]{0,30}://[^\s'\"<>)\]]+", re.I), "<url>"),
    (re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\w)"), "<time>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(rf"(?:(?<=[\s\"'(=:])|^)(?:~|\.{{1,2}})?/{_PATH_CHARS}+"), "<path>"),
    (re.compile(rf"(?<![\w.-])(?:[\w.-]+(?:/[\w.-]+)+\.[A-Za-z0-9]{{1,8}}\b|[\w.-]+(?:/[\w.-]+){{2,}}{_PATH_CHARS}*)"),
     "<path>"),
    (re.compile(r"\b[A-Z][A-Z0-9]*-\d+[A-Za-z0-9]*\b"), "<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", re.I), "<hex>"),
    (re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z_-]*\d)(?=[\d_-]*[A-Za-z])[A-Za-z0-9_-]{8,}\b"), "<id>"),
    (re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
]
_SPACES = re.compile(r"\s+")


def normalise_message(text: str) -> str:
    """The stable part of a message: ids, paths, URLs, times and numbers replaced, lower case."""
    text = redact(text or "")
    for pattern, placeholder in _NORMALISERS:
        text = pattern.sub(placeholder, text)
    return _SPACES.sub(" ", text).strip().rstrip(".:;,").lower()[:200]


def humanise(field_path: str) -> str:
    """``responsiveBreakpoints`` → ``responsive breakpoints``; ``a.b[0]`` → ``a b``."""
    text = re.sub(r"\[[^\]]*\]", "", field_path)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return _SPACES.sub(" ", re.sub(r"[._/\-$]+", " ", text)).strip().lower()


@dataclass(frozen=True)
class Occurrence:
    """One failure seen in the window, from whatever source."""

    key: str
    at: str
    source: str  # run | rejection | selftest | breaker
    ref: str
    agent: str | None
    role: str | None
    kind: str  # the error class: rejected, selftest_failed, breaker_tripped, or the error type
    stable: str  # the text the signature is made of
    message: str  # the example shown to humans
    missing: str | None = None
    rule_name: str | None = None
    produces: str | None = None

    @property
    def signature(self) -> str:
        subject = self.agent or (f"role {self.role}" if self.role else "unattributed")
        return f"{subject}: {self.kind}: {normalise_message(self.stable)}"


def _clip(text: str | None) -> str:
    text = _SPACES.sub(" ", redact(text or "")).strip()
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


# --- collecting occurrences ----------------------------------------------------------

@dataclass
class AgentInfo:
    roles: dict[str, str] = field(default_factory=dict)
    produces: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, ws: Workspace) -> AgentInfo:
        loaded = ws.load_agents().agents
        return cls({n: a.role for n, a in loaded.items()}, {n: a.produces for n, a in loaded.items()})


@dataclass
class Collected:
    occurrences: list[Occurrence] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"runs": 0, "rejections": 0, "selftests": 0, "breakerTrips": 0})
    skippedLines: int = 0


def _rejection_occurrences(base: dict[str, Any], missing: Iterable[str], errors: Iterable[str], summary: str | None,
                           fallback: str) -> Iterator[Occurrence]:
    """One occurrence per missing item (each is its own lesson); else per error; else the summary."""
    missing = sorted({m for m in missing if m})
    example = _clip(summary) if summary else None
    if missing:
        for m in missing:
            yield Occurrence(**{**base, "key": f"{base['key']}#{m}"}, kind="rejected", stable=f"missing {humanise(m)}",
                             message=example or f"missing {m}", missing=m)
        return
    errs = sorted({e for e in errors if e})[:3]
    for e in errs or [summary or fallback]:
        yield Occurrence(**{**base, "key": base["key"] + (f"#{normalise_message(e)}" if errs else "")},
                         kind="rejected", stable=e, message=example or _clip(e))


def _run_occurrences(rec: dict[str, Any], info: AgentInfo) -> Iterator[Occurrence]:
    agent = rec.get("agent")
    role = rec.get("role") or info.roles.get(agent or "")
    err: dict[str, Any] = rec["error"] if isinstance(rec.get("error"), dict) else {}
    text = str(err.get("message") or "")
    base: dict[str, Any] = {"key": f"run:{rec.get('runId')}", "at": rec["startedAt"], "source": "run",
                            "ref": str(rec.get("runId")), "agent": agent, "role": role,
                            "produces": info.produces.get(agent or "")}
    status = rec.get("status")
    if status == "selftest_failed":
        names = (rec.get("selfTest") or {}).get("failed") or []
        for name in sorted(set(map(str, names))) or [""]:
            yield Occurrence(**{**base, "key": f"{base['key']}#{name}"}, kind="selftest_failed",
                             stable=f"self-test {name!r} failed" if name else text or "self-tests failed",
                             message=_clip(text) or f"self-test {name!r} failed", rule_name=name or None)
    elif status == "rejected":
        rej = rec.get("rejection") or {}
        yield from _rejection_occurrences(base, map(str, rej.get("missing") or []), [text] if text else [],
                                          rej.get("summary") or text or None, "output rejected by its schema")
    else:
        kind = str(err.get("type") or "failure")
        yield Occurrence(**base, kind=kind, stable=text or kind, message=_clip(text) or kind)


def _covered(spans: dict[str, list[tuple[datetime, datetime]]], task_id: str, at: datetime) -> bool:
    """True when a failed run on the task already accounts for a rejection/self-test at ``at``."""
    return any(lo - timedelta(seconds=5) <= at <= hi + timedelta(seconds=120) for lo, hi in spans.get(task_id, []))


def collect_runs(ws: Workspace, start: datetime, end: datetime, info: AgentInfo, out: Collected
                 ) -> dict[str, dict[str, list[tuple[datetime, datetime]]]]:
    """Failed runs of the window; returns, per status, the time spans of failed runs per task."""
    reader = JsonlReader()
    spans: dict[str, dict[str, list[tuple[datetime, datetime]]]] = {"rejected": {}, "selftest_failed": {}}
    lo = iso(start)[:19]
    for rec in ws.storage.runlog.read_window(start - timedelta(hours=1), end, reader):
        status = rec.get("status")
        if status not in FAILED_RUNS or not rec.get("runId"):
            continue
        began, ended = parse_iso_or_none(rec.get("startedAt")), parse_iso_or_none(rec.get("endedAt"))
        if began and rec.get("taskId") and status in spans:
            spans[status].setdefault(str(rec["taskId"]), []).append((began, ended or began))
        if str(rec["startedAt"])[:19] < lo:
            continue  # read only to recognise rejections/self-tests it accounts for
        out.counts["runs"] += 1
        out.occurrences.extend(_run_occurrences(rec, info))
    out.skippedLines += reader.skipped
    return spans


def _task_rejections(task: Task, start: datetime, end: datetime, info: AgentInfo,
                     spans: dict[str, list[tuple[datetime, datetime]]]) -> Iterator[tuple[str, Occurrence]]:
    for rej in task.rejections:
        at = parse_iso_or_none(rej.at)
        if at is None or not start <= at < end or _covered(spans, task.taskId, at):
            continue
        base = {"key": f"rejection:{task.taskId}@{rej.at}", "at": rej.at, "source": "rejection",
                "ref": task.taskId, "agent": task.agent, "role": info.roles.get(task.agent or ""),
                "produces": info.produces.get(task.agent or "") or rej.stage}
        by = f" (rejected by {rej.by})" if rej.by else ""
        summary = (rej.summary or (f"missing {', '.join(map(humanise, rej.missing))}" if rej.missing else None))
        for occ in _rejection_occurrences(base, rej.missing, [e.message for e in rej.errors],
                                          summary + by if summary else None, "handoff rejected"):
            yield occ.key, occ


def _selftest_occurrences(task_id: str, agent: str | None, report: dict[str, Any], start: datetime, end: datetime,
                          info: AgentInfo, spans: dict[str, list[tuple[datetime, datetime]]]) -> Iterator[Occurrence]:
    at = parse_iso_or_none(report.get("at"))
    if report.get("ok", True) or at is None or not start <= at < end or _covered(spans, task_id, at):
        return
    for r in report.get("results") or []:
        if not isinstance(r, dict) or r.get("ok", True):
            continue
        name = str(r.get("name") or "")
        tail = str(r.get("outputTail") or "").strip().splitlines()
        yield Occurrence(key=f"selftest:{task_id}@{report['at']}#{name}", at=str(report["at"]), source="selftest",
                         ref=task_id, agent=agent, role=info.roles.get(agent or ""), kind="selftest_failed",
                         stable=f"self-test {name!r} failed", message=_clip(tail[-1] if tail else f"{name} failed"),
                         rule_name=name, produces=info.produces.get(agent or ""))


def collect_tasks(ws: Workspace, start: datetime, end: datetime, info: AgentInfo,
                  spans: dict[str, dict[str, list[tuple[datetime, datetime]]]], out: Collected) -> None:
    """Rejections and self-test failures: tasks.json, the archive, and earlier reports in events.jsonl."""
    reg = ws.storage.registry
    found: dict[str, Occurrence] = {}
    agents: dict[str, str | None] = {}
    seen_rejections: set[str] = set()
    reader = JsonlReader()  # counts torn lines of the archive and the event log
    for task in [*reg.load().tasks, *reg.archived(reader)]:
        agents.setdefault(task.taskId, task.agent)
        for key, occ in _task_rejections(task, start, end, info, spans["rejected"]):
            found.setdefault(key, occ)
            seen_rejections.add(key.split("#", 1)[0])
        if task.selfTest is not None:
            for occ in _selftest_occurrences(task.taskId, task.agent, task.selfTest.model_dump(), start, end,
                                             info, spans["selftest_failed"]):
                found.setdefault(occ.key, occ)
    for ev in reg.events(reader):  # self-test reports replaced since on the task survive here
        if ev.get("change") == "selfTest" and isinstance(ev.get("after"), dict):
            task_id = str(ev.get("taskId"))
            for occ in _selftest_occurrences(task_id, agents.get(task_id), ev["after"], start, end, info,
                                             spans["selftest_failed"]):
                found.setdefault(occ.key, occ)
    out.skippedLines += reader.skipped
    out.counts["rejections"] += len(seen_rejections)
    out.counts["selftests"] += len({k.split("#", 1)[0] for k in found if k.startswith("selftest:")})
    out.occurrences.extend(found.values())


def collect_breaker_trips(ws: Workspace, start: datetime, end: datetime, info: AgentInfo, out: Collected) -> None:
    alerts = ws.storage.alerts  # through the seam: the alert log is rows on PostgreSQL
    for alert in alerts.read():
        at = parse_iso_or_none(alert.get("ts"))
        if alert.get("kind") != "breaker_tripped" or at is None or not start <= at < end:
            continue
        data: dict[str, Any] = alert["data"] if isinstance(alert.get("data"), dict) else {}
        agent = data.get("agent") or None
        message = str(alert.get("message") or "breaker tripped")
        out.counts["breakerTrips"] += 1
        out.occurrences.append(Occurrence(
            key=f"alert:{alert['ts']}:{agent or alert.get('source') or ''}", at=str(alert["ts"]), source="breaker",
            ref=str(agent or alert.get("source") or "breaker"), agent=agent, role=info.roles.get(agent or ""),
            kind="breaker_tripped", stable=message.replace(agent, "<agent>") if agent else message,
            message=_clip(message)))
    out.skippedLines += alerts.skipped


def collect(ws: Workspace, start: datetime, end: datetime) -> Collected:
    info = AgentInfo.of(ws)
    out = Collected()
    spans = collect_runs(ws, start, end, info, out)
    collect_tasks(ws, start, end, info, spans, out)
    collect_breaker_trips(ws, start, end, info, out)
    out.occurrences.sort(key=lambda o: (o.at, o.key))
    return out


# --- the ledger of counted occurrences ----------------------------------------------

class LearnLedger(BaseModel):
    """state/learn.json: which occurrences were already counted (key → when it happened)."""

    model_config = ConfigDict(extra="forbid")

    version: int = LEDGER_VERSION
    horizon: str | None = None
    """Occurrences before this time are ignored: their keys were pruned."""
    seen: dict[str, str] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _known(cls, v: int) -> int:
        if v > LEDGER_VERSION:
            raise ValueError(f"format version {v} is newer than this agentctl understands ({LEDGER_VERSION})")
        return v

    def counts(self, occ: Occurrence) -> bool:
        """True when this occurrence is still to be counted."""
        return occ.key not in self.seen and (self.horizon is None or occ.at >= self.horizon)

    def prune(self, now: datetime) -> None:
        cutoff = iso(now - LEDGER_RETENTION)
        old = [k for k, at in self.seen.items() if at < cutoff]
        if old:
            for k in old:
                del self.seen[k]
            self.horizon = max(self.horizon or cutoff, cutoff)


def load_ledger(ws: Workspace) -> LearnLedger:
    raw = ws.storage.learn_ledger.read()
    if raw is None or not raw.strip():
        return LearnLedger()
    try:
        return LearnLedger.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()  # a newer format says so first, whatever else it adds
        err = next((e for e in errors if tuple(e["loc"]) == ("version",)), errors[0])
        where = ".".join(map(str, err["loc"])) or "(top)"
        raise StateError(f"{LEDGER_REL}: unreadable ({where}: {err['msg']}); it was not changed") from None


def _write_ledger(ws: Workspace, ledger: LearnLedger) -> None:
    ws.storage.learn_ledger.write(ledger.model_dump_json(indent=1).encode() + b"\n")


# --- rule text ----------------------------------------------------------------------

def template_rule(occs: list[Occurrence]) -> str:
    """Deterministic rule text for a new signature (what the agent should do differently)."""
    first, n = occs[0], len(occs)
    quote = occs[-1].message.replace("\n", " ")[:120]
    what = f"{first.produces} artifacts" if first.produces else "your work"
    if first.kind == "rejected" and first.missing:
        return f"Before handing off {what}, include {humanise(first.missing)} (seen {n}× : '{quote}')."
    if first.kind == "rejected":
        return f"Before handing off {what}, check it against its contract (rejected {n}× : '{quote}')."
    if first.kind == "selftest_failed":
        return f"Before reporting done, make sure the self-test '{first.rule_name or 'self-tests'}' passes (failed {n}× : '{quote}')."
    if first.kind == "breaker_tripped":
        return f"When calls keep failing, stop and report the blocker instead of retrying (breaker tripped {n}× : '{quote}')."
    return f"Avoid this failure ({first.kind}); check for it before finishing (seen {n}× : '{quote}')."


DRAFT_SYSTEM = ("You write one short, imperative rule (one sentence, at most 200 characters) that an AI agent "
                "will read before its next task so the failure below does not happen again. Reply with the rule only.")


def draft_prompt(signature: str, occs: list[Occurrence]) -> str:
    first = occs[0]
    lines = [f"Agent: {first.agent or '-'} (role {first.role or '-'}); it produces: {first.produces or '-'}",
             f"Failure class: {first.kind}; signature: {signature}; seen {len(occs)} times.", "Examples:"]
    lines += [f"- {o.message}" for o in occs[-3:]]
    return redact("\n".join(lines))


def _loopback(url: str | None) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname if url else None
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def model_drafter(ws: Workspace, env: Mapping[str, str] | None = None) -> tuple[Drafter | None, str]:
    """The ``learning:`` tier's model as a drafter (its first model, no fallback), when it can be called."""
    name = ws.config.learning
    if not name:
        return None, "template"
    tier = ws.config.tiers.get(name)
    if tier is None:
        return None, f"template (learning tier {name!r} is not defined under tiers:)"
    env = ws.env if env is None else env
    key_env = tier.api_key_env or ("ANTHROPIC_API_KEY" if tier.provider == "anthropic" else "OPENAI_API_KEY")
    key = env.get(key_env) or ("local" if _loopback(tier.base_url) else None)
    if not key:
        return None, f"template (no API key in ${key_env} for the learning tier {name!r})"
    from agentctl.providers import ModelRequest, call_model

    def draft(prompt: str) -> str:
        answer = call_model(tier, ModelRequest(system=DRAFT_SYSTEM, prompt=prompt, timeout_s=60),
                            api_key=key, base_url=tier.base_url)
        text = answer.raw_text or (answer.artifact or {}).get("text") or ""
        return str(text)

    return draft, f"model ({name}: {tier.model})"


def _clean_draft(text: str) -> str:
    text = _SPACES.sub(" ", redact(text or "")).strip().strip('"').strip()
    return text[:300]


def draft_rules(groups: dict[str, list[Occurrence]], drafter: Drafter | None, note: str) -> tuple[dict[str, str], str]:
    """Rule text per new signature: the model when it answers, else the template."""
    rules: dict[str, str] = {}
    for i, (sig, occs) in enumerate(groups.items()):
        text = ""
        if drafter is not None and i < MAX_MODEL_DRAFTS:
            try:
                text = _clean_draft(drafter(draft_prompt(sig, occs)))
            except Exception as exc:  # any provider failure falls back to the template
                drafter, note = None, f"template (model failed: {type(exc).__name__})"
        rules[sig] = text or template_rule(occs)
    return rules, note


# --- merging --------------------------------------------------------------------------

def group_by_signature(occs: Iterable[Occurrence]) -> dict[str, list[Occurrence]]:
    groups: dict[str, list[Occurrence]] = {}
    for o in occs:
        groups.setdefault(o.signature, []).append(o)
    return groups


@dataclass
class MergeResult:
    new: list[str] = field(default_factory=list)
    recurring: dict[str, int] = field(default_factory=dict)
    counted: int = 0


def _add(entry: regs.Regression, occs: list[Occurrence]) -> None:
    entry.count += len(occs)
    entry.firstSeen = min([entry.firstSeen, *(o.at for o in occs)])
    entry.lastSeen = max([entry.lastSeen, *(o.at for o in occs)])
    examples = {(e.at, e.ref, e.message): e for e in entry.examples}
    for o in occs:
        examples.setdefault((o.at, o.ref, o.message), regs.Example(at=o.at, source=o.source, ref=o.ref,  # type: ignore[arg-type]
                                                                   message=o.message))
    entry.examples = sorted(examples.values(), key=lambda e: (e.at, e.ref))[-regs.MAX_EXAMPLES:]


def merge(doc: regs.RegressionsFile, ledger: LearnLedger, occs: list[Occurrence], rules: dict[str, str]) -> MergeResult:
    """Count the occurrences not yet in the ledger into ``doc``; record them in ``ledger``."""
    result = MergeResult()
    fresh = [o for o in occs if ledger.counts(o)]
    by_sig = {r.signature: r for r in doc.regressions}
    for sig, group in group_by_signature(fresh).items():
        entry = by_sig.get(sig)
        if entry is None:
            first = group[0]
            entry = regs.Regression(id=doc.next_id(), role=first.role, agent=first.agent, signature=sig,
                                    rule=rules.get(sig) or template_rule(group), count=0,
                                    firstSeen=first.at, lastSeen=first.at, status="candidate")
            doc.regressions.append(entry)
            by_sig[sig] = entry
            result.new.append(entry.id)
        else:
            result.recurring[entry.id] = result.recurring.get(entry.id, 0) + len(group)
        _add(entry, group)
        for o in group:
            ledger.seen[o.key] = o.at
        result.counted += len(group)
    return result


# --- the whole job --------------------------------------------------------------------

def run_learn(ws: Workspace, since: timedelta, now: datetime, drafter: Drafter | None = None,
              alert: bool = True) -> dict[str, Any]:
    """Extract the window [now - since, now) into the regressions list; returns a summary."""
    start, end = now - since, now
    collected = collect(ws, start, end)
    # Draft rule text for signatures that look new, outside the lock (a model call is slow).
    doc, ledger = regs.load(ws), load_ledger(ws)
    known = {r.signature for r in doc.regressions}
    pending = {s: g for s, g in group_by_signature(o for o in collected.occurrences if ledger.counts(o)).items()
               if s not in known}
    if drafter is not None:
        note = "model (given)"
    else:
        drafter, note = model_drafter(ws) if pending else (None, "template")
    rules, note = draft_rules(pending, drafter, note)

    with ws.storage.regressions.lock(), ws.storage.unit_of_work():  # the list and its ledger: all or nothing
        doc, ledger = regs.load(ws), load_ledger(ws)
        ledger_before = ledger.model_dump()
        result = merge(doc, ledger, collected.occurrences, rules)
        ledger.prune(now)
        if result.counted:
            regs.save(ws, doc)  # first: a crash before the ledger write recounts, never loses
        if ledger.model_dump() != ledger_before:
            _write_ledger(ws, ledger)

    from agentctl.learning.friction import find_friction

    friction = find_friction(ws, start, end)
    summary = _summary(ws, doc, result, collected, friction, start, end, note)
    summary["summaryFile"] = _write_summary(ws, summary, now)
    if alert:
        summary["alerts"] = _raise_alerts(ws, summary, now)
    return summary


def run_cron_job(ws: Workspace, *, now: datetime, args: dict[str, Any]) -> int:
    """The `learn` built-in (nightly extraction): ``args.since`` (default 24h). Returns 0."""
    from agentctl.core.clock import parse_duration
    from agentctl.learning.friction import check_cron_args

    check_cron_args(args, {"since"})
    run_learn(ws, parse_duration(str(args.get("since", "24h"))), now)
    return 0


def _entry_brief(r: regs.Regression, added: int | None = None) -> dict[str, Any]:
    out = {"id": r.id, "status": r.status, "agent": r.agent, "role": r.role, "signature": r.signature,
           "count": r.count, "rule": r.rule}
    if added is not None:
        out["added"] = added
    return out


def _summary(ws: Workspace, doc: regs.RegressionsFile, result: MergeResult, collected: Collected,
             friction: list[dict[str, Any]], start: datetime, end: datetime, note: str) -> dict[str, Any]:
    by_id = {r.id: r for r in doc.regressions}
    return {
        "window": {"start": iso(start), "end": iso(end)},
        "read": dict(collected.counts),
        "occurrences": len(collected.occurrences),
        "counted": result.counted,
        "alreadyCounted": len(collected.occurrences) - result.counted,
        "newCandidates": [_entry_brief(by_id[i]) for i in result.new],
        "recurring": [_entry_brief(by_id[i], n) for i, n in sorted(result.recurring.items())],
        "candidatesPending": sum(1 for r in doc.regressions if r.status == "candidate"),
        "activeRules": sum(1 for r in doc.regressions if r.status == "active"),
        "friction": len(friction),
        "frictionFindings": friction,
        "ruleDrafting": note,
        "skippedLines": collected.skippedLines,
        "file": regs.REL_PATH,
    }


def render_markdown(s: dict[str, Any]) -> str:
    read = s["read"]
    lines = [f"# Nightly extraction {s['window']['end'][:10]}", "",
             f"Window: {s['window']['start']} → {s['window']['end']}",
             f"Read: {read['runs']} failed run(s), {read['rejections']} rejection(s), {read['selftests']} self-test "
             f"failure(s), {read['breakerTrips']} breaker trip(s); {s['counted']} occurrence(s) newly counted, "
             f"{s['alreadyCounted']} already counted.", ""]
    lines.append(f"## New candidates ({len(s['newCandidates'])})")
    if s["newCandidates"]:
        lines.append("Approve with `agentctl regressions approve ID`, or `retire ID`.")
    lines += [f"- {c['id']} {c['signature']} — seen {c['count']}×\n  rule: {c['rule']}" for c in s["newCandidates"]]
    lines += ["", f"## Recurring failures ({len(s['recurring'])})"]
    for r in s["recurring"]:
        flag = " — an active rule did not prevent it" if r["status"] == "active" else ""
        lines.append(f"- {r['id']} [{r['status']}] {r['signature']} — +{r['added']} (now {r['count']}×){flag}")
    lines += ["", f"## Friction ({s['friction']})"]
    lines += [f"- {f['kind']} {f['taskId']}: {f['summary']}" for f in s["frictionFindings"]]
    lines += ["", f"Rule drafting: {s['ruleDrafting']}. Pending candidates: {s['candidatesPending']}; "
              f"active rules: {s['activeRules']}."]
    if s["skippedLines"]:
        lines.append(f"Skipped {s['skippedLines']} torn or corrupt log line(s).")
    return "\n".join(lines) + "\n"


def _write_summary(ws: Workspace, summary: dict[str, Any], now: datetime) -> str:
    path = ws.root / "logs" / "learn" / f"{iso(now)[:10]}.md"
    atomic_write(path, render_markdown(summary).encode("utf-8"))
    return ws.rel(path)


def _raise_alerts(ws: Workspace, s: dict[str, Any], now: datetime) -> list[str]:
    raised = []
    if s["newCandidates"]:
        ids = [c["id"] for c in s["newCandidates"]]
        head = "; ".join(f"{c['id']} {c['signature']}" for c in s["newCandidates"][:3])
        raise_alert(ws, kind="regression_candidates", source="learn", now=now, data={"ids": ids},
                    message=f"{len(ids)} new regression candidate(s) to review: {head}"
                            f"{' …' if len(ids) > 3 else ''} — `agentctl regressions approve ID`")
        raised.append("regression_candidates")
    if s["friction"]:
        head = "; ".join(f"{f['kind']} on {f['taskId']} ({', '.join(f['agents'])})" for f in s["frictionFindings"][:3])
        raise_alert(ws, kind="friction", source="learn", now=now,
                    data={"findings": [{"kind": f["kind"], "taskId": f["taskId"], "agents": f["agents"]}
                                       for f in s["frictionFindings"]]},
                    message=f"{s['friction']} contradiction(s) between agents: {head} — `agentctl friction`")
        raised.append("friction")
    return raised
