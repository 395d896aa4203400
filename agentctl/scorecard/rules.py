"""The scorecard's rules (SPEC §9): trust score, downgrade / upgrade candidates, broken agents.

Every threshold is a constant here and every rule's text is in ``RULES`` (printed in the
report and in the README), so the words and the code are the same thing.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from agentctl.scorecard.scan import RETRIES
from agentctl.scorecard.stats import Context, Stats, money, rate

if TYPE_CHECKING:
    from agentctl.core.config import AgentDef, Tier

DOWNGRADE_MIN_RUNS, DOWNGRADE_MIN_SUCCESS, EVIDENCE_MIN_RUNS, EVIDENCE_TOLERANCE = 10, 0.95, 5, 0.05
FALLBACK_MIN_RUNS, MIN_SAVING_SHARE = 3, 0.10
STRUCTURED_ROLES = frozenset({"marketing", "seo", "content", "ops", "triage", "briefing"})
UPGRADE_MIN_RUNS, UPGRADE_FAILURE_RATE = 5, 0.30
BROKEN_CONSECUTIVE, BROKEN_MIN_RUNS, BROKEN_FAILURE_RATE = 3, 4, 0.50
TRUST_WEIGHTS = {"firstPass": 0.40, "selfTestPass": 0.25, "handoffAccept": 0.20, "breakerHealth": 0.15}
INFRA_WORDS = ("rate limit", "ratelimit", "rate_limit", "overload", "timeout", "timed out", "connection",
               "unavailable", "internal server", "internalserver", "5xx", "breaker", "budget", "trylater")
"""An error type containing one of these (case-insensitive, spaces and underscores ignored) or an HTTP 5xx
status is infrastructure, not the agent's quality."""
_INFRA = re.compile("|".join(re.escape(w.replace(" ", "")) for w in INFRA_WORDS) + r"|(?<!\d)5\d\d(?!\d)", re.I)


def is_infrastructure(error_type: str) -> bool:
    return bool(_INFRA.search(error_type.replace(" ", "").replace("_", "")))


TRUST_FORMULA = (
    "trust = 100 × (0.40·firstPass + 0.25·selfTestPass + 0.20·(1 − rejectionRate) + 0.15·breakerHealth); "
    "firstPass = first attempts that succeeded ÷ first attempts, where a run is a retry (not a first attempt) "
    "when its task already had a failed run earlier in the window (a run without a task is always a first "
    "attempt); selfTestPass = successes ÷ (successes + selftest_failed), for agents with self-tests; "
    "rejectionRate = (rejected runs + handoff rejections of its tasks in tasks.json) ÷ (successes + rejected "
    "runs), at most 1; breakerHealth = max(0, 1 − 0.5·trips), trips = the times its breaker opened in the "
    "window (tripped, reopened after a failed probe, tripped by hand), from the breaker history "
    "logs/breakers.jsonl. A component without data is left out and the other weights are rescaled; no runs → null."
)
RULES = {
    "runs": "runs = success + failure + rejected + selftest_failed; skipped and duplicate runs are counted "
            "apart and are neither successes nor failures. successRate = successes ÷ runs. Each run counts "
            "under the tier, model and team recorded on it.",
    "cost": "cost = the recorded costUsd, never recomputed; a run without a price (costUsd null) is unpriced: "
            "counted and left out of costPerSuccessUsd (priced cost ÷ priced successes), never $0; an agent "
            "whose runs are all unpriced has costUsd null (\"unpriced\"). Built-in cron jobs cost nothing.",
    "downgrade": (
        f"an agent with ≥ {DOWNGRADE_MIN_RUNS} runs, a success rate ≥ {DOWNGRADE_MIN_SUCCESS:.0%} and a recorded "
        f"cost, on a tier for which another tier at least {MIN_SAVING_SHARE:.0%} cheaper per run exists, with "
        f"evidence that the cheaper tier does the work as well: same-role agents on it (≥ {EVIDENCE_MIN_RUNS} "
        f"runs, success rate ≥ the agent's − {EVIDENCE_TOLERANCE * 100:.0f} pts; confidence high), or the "
        f"agent's own runs answered by that tier's model after a fallback from the agent's own model "
        f"(fallbackFrom; ≥ {FALLBACK_MIN_RUNS}, same bar; high), or a structured, rule-based role "
        f"({', '.join(sorted(STRUCTURED_ROLES))}: the nearest cheaper tier, i.e. the one with the least saving, confidence low). "
        "estimatedCostPerRunUsd = costPerRunUsd (recorded cost ÷ priced runs) × the cheaper model's list price "
        "÷ the agent's model's list price, both for the agent's average tokens in/out (genai-prices; else the "
        "two tiers' observed $/token ratio). runsPerMonth = runs × 30 ÷ window days. "
        "estimatedMonthlySavingUsd = (costPerRunUsd − estimatedCostPerRunUsd) × runsPerMonth."
    ),
    "upgrade": (
        f"an agent with ≥ {UPGRADE_MIN_RUNS} runs whose quality failures reach {UPGRADE_FAILURE_RATE:.0%} of its "
        "runs, when a more expensive tier exists. Quality failures = rejected + selftest_failed + failures "
        "whose error type is not infrastructure (rate limits, overload — e.g. OverloadedError, HTTP 529 — "
        "timeouts, connection errors, unavailable / internal server / 5xx errors, breaker or budget refusals)."
    ),
    "broken": (
        f"≥ {BROKEN_CONSECUTIVE} consecutive errors at the end of the window (failed runs after its last "
        "success, ordered by startedAt, then by position in the log), a breaker open at the window's end "
        f"(breaker history), or a failure rate ≥ {BROKEN_FAILURE_RATE:.0%} over ≥ {BROKEN_MIN_RUNS} runs."
    ),
    "idle": "a defined agent with no run record (of any status) in the window.",
    "unknown": "runs whose agent is null or not defined in agents/, grouped by cron job (else by label).",
}


def trust(ctx: Context, name: str, st: Stats, trips: int, rejections: int) -> dict[str, Any]:
    first = int(st.runs - st.sums[RETRIES])
    parts: dict[str, float | None] = {
        "firstPass": st.first_ok / first if first else None,
        "selfTestPass": None,
        "handoffAccept": None,
        "breakerHealth": max(0.0, 1 - 0.5 * trips),
    }
    st_failed = st.by_status["selftest_failed"]
    if st_failed or ctx.ws.self_tests_for(ctx.agents[name]):
        parts["selfTestPass"] = rate(st.successes, st.successes + st_failed)
    delivered = st.successes + st.by_status["rejected"]
    rejection_rate = min(1.0, rejections / delivered) if delivered else (1.0 if rejections else None)
    if rejection_rate is not None:
        parts["handoffAccept"] = 1 - rejection_rate
    have = {k: v for k, v in parts.items() if v is not None}
    weight = sum(TRUST_WEIGHTS[k] for k in have)
    score = round(100 * sum(TRUST_WEIGHTS[k] * v for k, v in have.items()) / weight, 1) if st.runs and weight else None
    return {"trustScore": score, "firstPassRate": rate(st.first_ok, first),
            "selfTestPassRate": parts["selfTestPass"],
            "rejectionRate": None if rejection_rate is None else round(rejection_rate, 4),
            "handoffRejections": rejections, "breakerTrips": trips}


def _other_tiers(ctx: Context, a: AgentDef, own: Tier) -> list[tuple[str, Tier]]:
    return [(n, t) for n, t in ctx.ws.config.tiers.items() if n != a.tier and t.model != own.model]


def downgrades(ctx: Context, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, row in rows.items():
        a, st = ctx.agents[name], ctx.b.agents[name]
        own = ctx.agent_tier(a)
        current = st.cost_per_run()
        if own is None or st.runs < DOWNGRADE_MIN_RUNS or (row["successRate"] or 0) < DOWNGRADE_MIN_SUCCESS \
                or not current:
            continue
        cheaper = []
        for tname, tier in _other_tiers(ctx, a, own):
            est, how = ctx.estimate(tier, st, own)
            if est is not None and est <= current * (1 - MIN_SAVING_SHARE):
                cheaper.append((est, tname, tier, how))
        pick = _pick_cheaper(ctx, a, own, row, sorted(cheaper, key=lambda c: (c[0], c[1])))
        if pick is None:
            continue
        (est, tname, tier, how), evidence, confidence = pick
        per_month = st.runs * 30 / ctx.days
        out.append({
            "agent": name, "team": a.team, "role": a.role, "fromTier": a.tier, "fromModel": own.model,
            "toTier": tname, "toModel": tier.model, "runs": st.runs, "successRate": row["successRate"],
            "costPerRunUsd": money(current), "estimatedCostPerRunUsd": money(est), "pricing": how,
            "runsPerMonth": round(per_month, 1),
            "estimatedMonthlySavingUsd": round((current - est) * per_month, 2),
            "confidence": confidence, "evidence": evidence,
            "reason": f"{row['successRate']:.0%} success over {st.runs} runs on {a.tier}; {evidence['summary']}",
        })
    return sorted(out, key=lambda c: (-c["estimatedMonthlySavingUsd"], c["agent"]))


def _pick_cheaper(ctx: Context, a: AgentDef, own: Tier, row: dict[str, Any],
                  cheaper: list[tuple[float, str, Tier, str]]) -> tuple[Any, dict[str, Any], str] | None:
    """The cheapest tier with evidence; else, for a structured role, the nearest cheaper tier."""
    bar = (row["successRate"] or 0) - EVIDENCE_TOLERANCE
    for cand in cheaper:
        _est, tname, tier, _how = cand
        peers = sorted(n for n, d in ctx.agents.items()
                       if n != a.name and d.role == a.role and d.tier == tname and n in ctx.b.agents)
        runs = sum(ctx.b.agents[n].runs for n in peers)
        ok = sum(ctx.b.agents[n].successes for n in peers)
        if runs >= EVIDENCE_MIN_RUNS and ok / runs >= bar:
            return cand, {"kind": "same-role", "agents": peers, "runs": runs, "successRate": round(ok / runs, 4),
                          "summary": f"{', '.join(peers)} ({a.role}) on {tname}: {ok / runs:.0%} success "
                                     f"over {runs} runs"}, "high"
        fb = ctx.b.fallbacks.get((a.name, tier.model, own.model))
        if fb and fb.runs >= FALLBACK_MIN_RUNS and fb.successes / fb.runs >= bar:
            return cand, {"kind": "fallback", "agents": [a.name], "runs": fb.runs,
                          "successRate": round(fb.successes / fb.runs, 4),
                          "summary": f"{fb.runs} of its own runs answered by {tier.model} after a fallback "
                                     f"from {own.model}: {fb.successes / fb.runs:.0%} success"}, "high"
    if cheaper and a.role in STRUCTURED_ROLES:
        _est, tname, _tier, _how = cheaper[-1]
        return cheaper[-1], {"kind": "structured-role", "agents": [], "runs": 0, "successRate": None,
                            "summary": f"role {a.role} is structured and rule-based; no {a.role} runs on "
                                       f"{tname} in the window yet: try it on a sample"}, "low"
    return None


def quality_failures(ctx: Context, name: str) -> int:
    return sum(n for (status, etype), n in ctx.errors(name).items()
               if status in ("rejected", "selftest_failed") or (status == "failure" and not is_infrastructure(etype)))


def upgrades(ctx: Context, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, row in rows.items():
        a, st = ctx.agents[name], ctx.b.agents[name]
        own = ctx.agent_tier(a)
        if own is None or st.runs < UPGRADE_MIN_RUNS:
            continue
        quality = quality_failures(ctx, name)
        if quality / st.runs < UPGRADE_FAILURE_RATE:
            continue
        current = st.cost_per_run()
        dearer = []
        for tname, tier in _other_tiers(ctx, a, own):
            est, _how = ctx.estimate(tier, st, own)
            mine = ctx.pricer(own.provider, own.model, own.base_url, st.usage_mix())
            theirs = ctx.pricer(tier.provider, tier.model, tier.base_url, st.usage_mix())
            if (est is not None and current is not None and est > current) or (
                    est is None and mine is not None and theirs is not None and theirs > mine):
                dearer.append((est if est is not None else theirs, tname, tier, est is not None))
        if not dearer:
            continue
        est, tname, tier, priced = min(dearer, key=lambda d: (d[0], d[1]))
        extra = (round((est - current) * st.runs * 30 / ctx.days, 2)
                 if priced and est is not None and current is not None else None)
        out.append({"agent": name, "team": a.team, "role": a.role, "fromTier": a.tier, "toTier": tname,
                    "toModel": tier.model, "runs": st.runs, "qualityFailures": quality,
                    "qualityFailureRate": round(quality / st.runs, 4), "estimatedExtraMonthlyCostUsd": extra,
                    "topErrors": row["topErrors"],
                    "reason": f"{quality} of {st.runs} runs failed on quality (rejected, self-tests, or errors "
                              f"other than infrastructure) on {a.tier}"})
    return sorted(out, key=lambda u: (-u["qualityFailureRate"], u["agent"]))


def broken(rows: dict[str, dict[str, Any]], open_at_end: list[str], agents: dict[str, AgentDef]) -> list[dict[str, Any]]:
    out = []
    for name in sorted(set(rows) | (set(open_at_end) & set(agents))):
        row = rows.get(name, {})
        reasons = []
        if (row.get("consecutiveErrors") or 0) >= BROKEN_CONSECUTIVE:
            reasons.append(f"{row['consecutiveErrors']} consecutive errors at the end of the window")
        if name in open_at_end:
            reasons.append("circuit breaker open at the end of the window")
        if (row.get("runs") or 0) >= BROKEN_MIN_RUNS and (row.get("failureRate") or 0) >= BROKEN_FAILURE_RATE:
            reasons.append(f"failure rate {row['failureRate']:.0%} over {row['runs']} runs")
        if reasons:
            out.append({"agent": name, "team": agents[name].team, "reasons": reasons,
                        "consecutiveErrors": row.get("consecutiveErrors", 0), "failureRate": row.get("failureRate"),
                        "breakerOpen": name in open_at_end, "lastRunAt": row.get("lastRunAt"),
                        "topErrors": row.get("topErrors", [])})
    return out


def top_errors(ctx: Context, name: str) -> list[dict[str, Any]]:
    top = Counter[str]()
    for (_status, etype), n in ctx.errors(name).items():
        top[etype] += n
    return [{"type": t, "count": n} for t, n in sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
