"""The agent performance scorecard (SPEC §9): a pure service over one scan of the window.

``agentctl.scorecard.scan`` reads the window's daily run-log files once and keeps sums per
group; ``agentctl.scorecard.stats`` rolls them up; ``agentctl.scorecard.rules`` holds the
rules (trust, candidates, broken); ``agentctl.scorecard.sources`` reads the other
sources for the window (breaker history, handoff rejections, task products and trees).
This module assembles the report and hands cron coverage the per-job runs of the same
scan. Cost is the recorded ``costUsd``, never recomputed per run (a list price is looked
up at most once per model and token mix, for the candidates only).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from agentctl.core.clock import iso
from agentctl.errors import AgentctlError, UsageError
from agentctl.scorecard import rules
from agentctl.scorecard.scan import FAILED, ScanResult, scan_files
from agentctl.scorecard.sources import breaker_history, handoff_rejections, task_labels
from agentctl.scorecard.stats import Context, Pricer, Stats, UsageMix, accumulate, money, rate, tier_resolver

if TYPE_CHECKING:
    from agentctl.core.config import AgentDef
    from agentctl.workspace.loader import Workspace

SCORECARD_VERSION = 2
MISSED_SHOWN = 20
"""Missed cron slots listed per job (all are counted)."""
FAILED_ORDER = ("failure", "rejected", "selftest_failed")
RULES, TRUST_FORMULA = rules.RULES, rules.TRUST_FORMULA
assert FAILED == frozenset(FAILED_ORDER)


def list_pricer(ws: Workspace, at: datetime) -> Pricer:
    """List price of one average run (genai-prices' tables, through the per-day rate cache of the
    seam: genai-prices, ~200 ms of import, is loaded only on a miss); None if no provider lists it."""
    from agentctl.core.config import ModelRef
    from agentctl.tiers.pricing import list_price_usd

    @lru_cache(maxsize=256)
    def price(provider: str, model: str, base_url: str | None, usage: UsageMix) -> float | None:
        ref = ModelRef.model_validate({"provider": provider, "model": model, "base_url": base_url})
        return list_price_usd(ref, round(usage[0]), round(usage[1]), at, ws.storage.cache)

    return price


def cron_coverage(ws: Workspace, start: datetime, end: datetime,
                  scan: ScanResult) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Jobs with missed slots, from the per-job runs of this scan (agentctl.cron.jobs does the slots)."""
    from agentctl.cron.jobs import coverage_from_runs

    try:
        rows = coverage_from_runs(ws, start, end, scan.job_runs, missed_shown=MISSED_SHOWN)
    except AgentctlError as exc:
        return None, f"cron coverage unavailable: {exc.message}"
    gaps = []
    for row in rows:
        if (row.get("missed") or 0) > 0:
            slots = list(row.get("missedSlots") or [])
            gaps.append({**row, "missedSlots": slots[:MISSED_SHOWN], "missedSlotsShown": min(len(slots), MISSED_SHOWN)})
    return gaps, None


def _agent_rows(ctx: Context, trips: dict[str, int], handoffs: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, st in ctx.b.agents.items():
        a = ctx.agents[name]
        tier = ctx.agent_tier(a)
        run_rej: Mapping[str | None, int] = ctx.scan.rejected_tasks.get(name, {})
        task_rej = handoffs.get(name, {})
        rejections = run_rej.get(None, 0) + sum(max(run_rej.get(t, 0), task_rej.get(t, 0))
                                                for t in set(run_rej) | set(task_rej) if t is not None)
        last = ctx.scan.last_run.get(name)
        rows.append({
            "agent": name, "team": a.team, "role": a.role, "tier": a.tier, "model": tier.model if tier else None,
            **st.common(),
            "failuresByStatus": {s: st.by_status[s] for s in FAILED_ORDER},
            "consecutiveErrors": ctx.scan.consecutive_errors(name),
            **rules.trust(ctx, name, st, trips.get(name, 0), rejections),
            "breakerRefusedRuns": ctx.scan.breaker_refused.get(name, 0),
            "lastRunAt": iso(last) if last else None,
            "topErrors": rules.top_errors(ctx, name),
        })
    return sorted(rows, key=lambda r: (r["team"], r["agent"]))


def _bucket_rows(buckets: dict[str, Stats], key: str, ctx: Context) -> list[dict[str, Any]]:
    rows = []
    for name, st in buckets.items():
        tokens = st.sums[1] + st.sums[2]
        per_token = st.cost_per_token()
        if key == "tier":
            related = {"models": sorted(st.models)}
        else:
            related = {"tiers": sorted(t for t, s in ctx.b.tiers.items() if name in s.models)}
        rows.append({key: name, **related, **st.common(), "agents": len(st.agents),
                     "avgTokensPerRun": round(tokens / st.runs, 1) if st.runs else None,
                     "costPerMTokUsd": None if per_token is None else money(per_token * 1e6)})
    return sorted(rows, key=lambda r: (-(r["costPerRunUsd"] or 0), r[key]))


def _cost_rows(buckets: dict[str, Stats], key: str) -> list[dict[str, Any]]:
    rows = [{key: name, "runs": st.runs, "successes": st.successes, "successRate": rate(st.successes, st.runs),
             "costUsd": st.cost(), "unpricedRuns": int(st.sums[5])} for name, st in buckets.items() if st.runs]
    return sorted(rows, key=lambda r: (-(r["costUsd"] or 0), r[key]))


def _trees(ctx: Context, labels: Any) -> list[dict[str, Any]]:
    rows = [{"root": root, "title": labels.titles.get(root, ""), "tasks": labels.tree_sizes[root],
             **{k: v for k, v in r.items() if k != "root"}}
            for r in _cost_rows(ctx.b.trees, "root") if labels.tree_sizes[(root := r["root"])] > 1]
    return rows


def _daily(scan: ScanResult, start: datetime, end: datetime) -> list[dict[str, Any]]:
    out, day = [], start.date()
    while day < end.date() or (day == end.date() and end.time() != datetime.min.time()):
        runs, ok, failed, cost, unpriced = scan.daily.get(day.isoformat(), [0, 0, 0, 0.0, 0])
        out.append({"date": day.isoformat(), "runs": runs, "successes": ok, "failures": failed,
                    "successRate": rate(ok, runs), "costUsd": None if runs and unpriced == runs else money(cost),
                    "unpricedRuns": unpriced})
        day += timedelta(days=1)
    return out


def _unknown(ctx: Context) -> dict[str, Any]:
    b = ctx.b
    sources = []
    for label, s in b.sources.items():
        kind, _, value = label.partition(":")
        entry = {"job": value} if kind == "job" else {"label": label}
        sources.append({**entry, "runs": s.runs, "skipped": s.by_status["skipped"] + s.by_status["duplicate"],
                        "costUsd": s.cost(), "unpricedRuns": int(s.sums[5])})
    st = b.unknown
    return {"runs": st.runs, "skipped": st.by_status["skipped"] + st.by_status["duplicate"],
            "successes": st.successes, "costUsd": st.cost(), "unpricedRuns": int(st.sums[5]),
            "undefinedAgents": sorted(b.undefined),
            "sources": sorted(sources, key=lambda s: (-s["runs"], s.get("job") or s.get("label") or "")),
            "cronRuns": b.cron_runs, "cronUnattributed": b.cron_runs - b.cron_attributed,
            "cronAttributionRate": rate(b.cron_attributed, b.cron_runs)}


def _names(ws: Workspace, agents: dict[str, AgentDef]) -> tuple[set[str], set[str]]:
    """Agent and model names the workspace knows (the fast decoder's Literals)."""
    tiers = ws.config.tiers
    models = {m.model for t in tiers.values() for m in (t, *t.fallback)} | {a.model for a in agents.values() if a.model}
    return set(agents), models


def _notes(ctx: Context, scan: ScanResult, history_source: str) -> list[str]:
    notes = []
    total = ctx.b.total
    if total.sums[5]:
        notes.append(f"{int(total.sums[5])} runs have no price (costUsd null): counted as unpriced, not as $0")
    skipped = scan.skipped_lines()
    if skipped["total"]:
        why = ", ".join(f"{n} {r}" for r, n in skipped["byReason"].items() if n)
        notes.append(f"{skipped['total']} invalid run-log lines were skipped ({why})")
    if history_source != "logs/breakers.jsonl":
        notes.append(f"no breaker history (logs/breakers.jsonl) yet: breaker figures from {history_source}")
    return notes


def build_scorecard(ws: Workspace, *, days: float, now: datetime, pricer: Pricer | None = None,
                    include_cron: bool = True, prices_at: datetime | None = None) -> dict[str, Any]:
    """The scorecard of the ``days`` before ``now`` as a JSON-ready dict (SPEC §9). List prices are
    today's: ``prices_at`` is the wall clock (the edge's; default ``now``)."""
    if not days or days <= 0:
        raise UsageError(f"--days must be a positive number, got {days}")
    days = int(days) if float(days).is_integer() else float(days)
    end = now.astimezone(UTC)
    start = end - timedelta(days=days)
    agents = ws.agents
    builtin_jobs = {j.name for j in ws.config.cron if j.builtin}
    labels = task_labels(ws, start)
    names: dict[str, Any] = dict(labels=labels.index, free_jobs=builtin_jobs, tiers=ws.config.tiers,
                                 teams={a.team for a in agents.values()})
    runlog = ws.storage.runlog
    if runlog.aggregates:  # a run log in a database: aggregated in SQL
        from agentctl.scorecard.sql import sql_scan

        scan = sql_scan(runlog, start, end, labels.index, builtin_jobs, jobs=include_cron and bool(ws.config.cron))
    else:  # daily files, as the store lists them
        scan = scan_files([p for p, _b in runlog.day_files(start, end)], start, end, *_names(ws, agents), **names)
    b = accumulate(scan, agents, builtin_jobs, tier_resolver(ws, agents), labels.labels)
    ctx = Context(ws, agents, scan, days, pricer or list_pricer(ws, prices_at or end), b)
    history = breaker_history(ws, start, end)
    rows = _agent_rows(ctx, history.trips, handoff_rejections(ws, start, end))
    by_name = {r["agent"]: r for r in rows}
    notes = _notes(ctx, scan, history.source)
    gaps, note = cron_coverage(ws, start, end, scan) if include_cron and ws.config.cron else ([], None)
    notes += [note] if note else []
    seen = scan.agents_seen()
    idle = [{"agent": n, "team": a.team, "role": a.role, "tier": a.tier}
            for n, a in sorted(agents.items(), key=lambda kv: (kv[1].team, kv[0])) if n not in seen]
    return {
        "version": SCORECARD_VERSION,
        "window": {"start": iso(start), "end": iso(end), "days": days, "files": scan.files, "bytes": scan.bytes},
        "totals": {**b.total.common(), "agentsDefined": len(agents), "agentsActive": len(rows),
                   "agentsIdle": len(idle), "builtinRuns": b.builtins.runs},
        "agents": rows,
        "tiers": _bucket_rows(b.tiers, "tier", ctx),
        "models": _bucket_rows(b.models, "model", ctx),
        "teams": _cost_rows(b.teams, "team"),
        "products": _cost_rows(b.products, "product"),
        "taskTrees": _trees(ctx, labels),
        "daily": _daily(scan, start, end),
        "downgradeCandidates": rules.downgrades(ctx, by_name),
        "upgradeCandidates": rules.upgrades(ctx, by_name),
        "brokenAgents": rules.broken(by_name, history.open_at_end, agents),
        "idleAgents": idle,
        "cronCoverage": gaps if gaps is not None else [],
        "cronCoverageAvailable": gaps is not None,
        "unknown": _unknown(ctx),
        "skippedLines": scan.skipped_lines()["total"],
        "skippedByReason": scan.skipped_lines()["byReason"],
        "trustFormula": TRUST_FORMULA,
        "rules": RULES,
        "notes": notes,
    }


def run_cron_job(ws: Workspace, *, now: datetime, args: dict[str, Any]) -> int:
    """The `builtin: scorecard` cron job: write the report to ``args.output`` (default
    ``reports/scorecard-YYYY-MM-DD.<ext>``, inside the workspace). ``args``: days, format, output."""
    from agentctl.scorecard.render import EXTENSIONS, render
    from agentctl.storage import atomic_write

    fmt = str(args.get("format", "markdown"))
    if fmt not in EXTENSIONS:
        raise UsageError(f"cron scorecard: format must be one of {', '.join(EXTENSIONS)}, got {fmt!r}")
    report = build_scorecard(ws, days=float(args.get("days", 7)), now=now)
    target = (ws.root / str(args.get("output") or f"reports/scorecard-{now:%Y-%m-%d}.{EXTENSIONS[fmt]}")).resolve()
    if not target.is_relative_to(ws.root.resolve()):
        raise UsageError(f"cron scorecard: output {args.get('output')!r} is outside the workspace")
    atomic_write(target, render(report, fmt).encode("utf-8"))
    return 0
