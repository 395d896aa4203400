"""The agent performance scorecard (SPEC §9): a pure service over the run log.

It builds the report from the per-group sums of ``agentctl.scorecard.scan`` (which
owns reading the window's daily run-log files, fast): totals, per-agent rows with the
trust score, per-tier and per-model rows, the downgrade / upgrade / broken / idle
lists and the unknown bucket, plus the few other sources bounded by the window too
(breaker alerts, handoff rejections in tasks.json, cron coverage). A run's tier is the
one of its agent whose chain holds the model that answered (else the tier of that
model). Cost is the recorded ``costUsd``; it is never recomputed per run (a price
lookup is made at most once per model and token mix, for the downgrade/upgrade
candidates only).

Counting rules (also in ``RULES`` and the JSON): ``runs`` are executed runs
(success, failure, rejected, selftest_failed); ``skipped`` (breaker open, budget)
and ``duplicate`` (idempotency replay) are counted apart and are neither successes
nor failures. A model run with ``costUsd: null`` is *unpriced*: counted, never
taken as $0; a run with no model (``runtime: command``, built-ins) costs nothing.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agentctl.core.clock import iso
from agentctl.errors import AgentctlError, StateError, UsageError
from agentctl.scorecard.scan import COST, DUR, RETRIES, STATUSES, TIN, TOUT, UNPRICED, Fold, N, fold_blocks, scan_window
from agentctl.scorecard.scan import window_files as window_files  # re-exported: tests and callers use it here

if TYPE_CHECKING:
    from agentctl.core.config import AgentDef, Tier
    from agentctl.workspace.loader import Workspace

SCORECARD_VERSION = 1
EXECUTED = frozenset(STATUSES[:4])
FAILED_ORDER = ("failure", "rejected", "selftest_failed")

DOWNGRADE_MIN_RUNS, DOWNGRADE_MIN_SUCCESS, EVIDENCE_MIN_RUNS, EVIDENCE_TOLERANCE = 10, 0.95, 5, 0.05
FALLBACK_MIN_RUNS, MIN_SAVING_SHARE = 3, 0.10
STRUCTURED_ROLES = frozenset({"marketing", "seo", "content", "ops", "triage", "briefing"})
UPGRADE_MIN_RUNS, UPGRADE_FAILURE_RATE = 5, 0.30
BROKEN_CONSECUTIVE, BROKEN_MIN_RUNS, BROKEN_FAILURE_RATE = 3, 4, 0.50
TRUST_WEIGHTS = {"firstPass": 0.40, "selfTestPass": 0.25, "handoffAccept": 0.20, "breakerHealth": 0.15}
INFRA_ERROR = re.compile(r"rate|limit|overload|timeout|5\d\d|connect|unavailable|breaker|budget", re.I)

TRUST_FORMULA = (
    "trust = 100 × (0.40·firstPass + 0.25·selfTestPass + 0.20·(1 − rejectionRate) + 0.15·breakerHealth); "
    "firstPass = first attempts that succeeded ÷ first attempts, where a run is a retry (not a first attempt) "
    "when its task already had a failed run in the window (a run without a task is always a first attempt); "
    "selfTestPass = successes ÷ (successes + selftest_failed), for agents with self-tests; rejectionRate = "
    "(rejected runs + handoff rejections of its tasks in tasks.json) ÷ (successes + rejected runs), at most 1; "
    "breakerHealth = max(0, 1 − 0.5·trips), trips = breaker_tripped alerts in the window (at least 1 when runs "
    "were refused by an open breaker). A component without data is left out and the other weights are "
    "rescaled; no runs → null."
)
RULES = {
    "runs": "runs = success + failure + rejected + selftest_failed; skipped and duplicate runs are counted "
            "apart and are neither successes nor failures. successRate = successes ÷ runs.",
    "cost": "cost = the recorded costUsd, never recomputed; a model run without a price (costUsd null) is "
            "unpriced: counted and left out of costPerSuccessUsd (priced cost ÷ priced successes), never $0.",
    "downgrade": (
        f"an agent with ≥ {DOWNGRADE_MIN_RUNS} runs and a success rate ≥ {DOWNGRADE_MIN_SUCCESS:.0%} on a tier "
        f"for which a tier at least {MIN_SAVING_SHARE:.0%} cheaper for its own token mix exists, with evidence "
        f"that the cheaper tier does the work as well: same-role agents on it (≥ {EVIDENCE_MIN_RUNS} runs, "
        f"success rate ≥ the agent's − {EVIDENCE_TOLERANCE * 100:.0f} pts; confidence high), or the agent's own "
        f"runs answered by that tier's model after a fallback (≥ {FALLBACK_MIN_RUNS}, same bar; high), or a "
        f"structured, rule-based role ({', '.join(sorted(STRUCTURED_ROLES))}: one tier down, confidence low). "
        "Saving/month = (cost per run − cost per run on the cheaper tier) × runs per 30 days, where the cheaper "
        "cost = the recorded cost per run × the two models' list-price ratio for the agent's average tokens "
        "(genai-prices; else the tiers' observed $/token ratio)."
    ),
    "upgrade": (
        f"an agent with ≥ {UPGRADE_MIN_RUNS} runs whose quality failures (rejected, selftest_failed, and failures "
        "other than rate limits, overload, timeouts, breaker or budget refusals) reach "
        f"{UPGRADE_FAILURE_RATE:.0%} of its runs, when a more expensive tier exists."
    ),
    "broken": (
        f"≥ {BROKEN_CONSECUTIVE} consecutive errors at the end of the window, an open breaker, or a failure rate "
        f"≥ {BROKEN_FAILURE_RATE:.0%} over ≥ {BROKEN_MIN_RUNS} runs."
    ),
    "idle": "a defined agent with no run record (of any status) in the window.",
    "unknown": "runs whose agent is null or not defined in agents/, grouped by cron job (else by label).",
}


# --- other sources (bounded by the window too) ---------------------------------------
class _Alert(msgspec.Struct, gc=False):
    ts: str = ""
    kind: str = ""
    source: str | None = None
    data: dict[str, Any] | None = None


def breaker_trips(alerts_path: Path, lo: str, hi: str) -> Counter[str]:
    """breaker_tripped alerts in [lo, hi), read backwards from the end of alerts.jsonl until a day before lo."""
    trips: Counter[str] = Counter()
    decoder = msgspec.json.Decoder(_Alert)
    stop = lo[:10]
    try:
        fh = alerts_path.open("rb")
    except FileNotFoundError:
        return trips
    except OSError as exc:
        raise StateError(f"{alerts_path}: unreadable ({exc.strerror})") from None
    with fh:
        pos = fh.seek(0, 2)
        rest = b""
        while pos > 0:
            step = min(1 << 20, pos)
            pos -= step
            fh.seek(pos)
            lines = (fh.read(step) + rest).split(b"\n")
            rest = lines.pop(0) if pos > 0 else b""
            older = False
            for line in reversed(lines):
                try:
                    alert = decoder.decode(line)
                except msgspec.DecodeError:
                    continue
                if alert.ts[:10] < stop:
                    older = True
                if "breaker" in alert.kind and "trip" in alert.kind and lo <= alert.ts[:19] < hi:
                    agent = (alert.data or {}).get("agent") or alert.source or ""
                    trips[str(agent).removeprefix("breaker:")] += 1
            if older:
                break
    return trips


def handoff_rejections(ws: Workspace, lo: str, hi: str) -> dict[str, Counter[str]]:
    """Rejections recorded on tasks (tasks.json) in the window, per producing agent and task."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for task in ws.storage.registry.load().tasks:
        for rej in task.rejections:
            if task.agent and lo <= rej.at[:19] < hi:
                out[task.agent][task.taskId] += 1
    return out


def cron_coverage(ws: Workspace, start: datetime, end: datetime) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Jobs with missed slots, from agentctl.cron.jobs when it is there."""
    try:
        from agentctl.cron import jobs as cron
        coverage = cron.coverage
    except (ImportError, AttributeError):
        return None, "cron coverage unavailable (agentctl.cron.jobs.coverage is not installed)"
    try:
        rows = coverage(ws, start, end)
    except NotImplementedError:
        return None, "cron coverage unavailable (agentctl.cron.jobs.coverage is not implemented yet)"
    except AgentctlError as exc:
        return None, f"cron coverage unavailable: {exc.message}"
    gaps = []
    for row in rows:
        if (row.get("missed") or 0) > 0:
            slots = list(row.get("missedSlots") or [])
            gaps.append({**row, "missedSlots": slots[:20], "missedSlotsShown": min(len(slots), 20)})
    return gaps, None


# --- pricing (once per candidate and tier, never per run) ---------------------------------
UsageMix = tuple[float, float]  # an average run: tokensIn, tokensOut
Pricer = Callable[[str, str, str | None, UsageMix], float | None]


@lru_cache(maxsize=256)
def genai_price(provider: str, model: str, base_url: str | None, usage: UsageMix) -> float | None:
    """List price of one average run with genai-prices (imported here: it costs ~200 ms); None if unknown."""
    from genai_prices import Usage, calc_price

    u = Usage(input_tokens=round(usage[0]), output_tokens=round(usage[1]))
    attempts: list[dict[str, Any]] = [{"provider_api_url": base_url}] if base_url else []
    attempts += [{"provider_id": provider}, {}]
    for kwargs in attempts:
        try:
            return float(calc_price(u, model, **kwargs).total_price)
        except (LookupError, ValueError):
            continue
    return None


# --- the report ----------------------------------------------------------------------
def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _money(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


@dataclass
class _Stats:
    runs: int = 0
    successes: int = 0
    failures: int = 0
    first_ok: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    sums: list[float] = field(default_factory=lambda: [0.0] * 7)
    priced_successes: int = 0
    agents: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)

    def add(self, status: str, s: list[float]) -> None:
        self.by_status[status] += int(s[N])
        if status not in EXECUTED:
            return
        self.runs += int(s[N])
        self.sums = [a + b for a, b in zip(self.sums, s, strict=True)]
        if status == "success":
            self.successes += int(s[N])
            self.first_ok += int(s[N] - s[RETRIES])
            self.priced_successes += int(s[N] - s[UNPRICED])
        else:
            self.failures += int(s[N])

    def cost_per_run(self) -> float | None:
        priced = self.runs - self.sums[UNPRICED]
        return self.sums[COST] / priced if priced else None

    def common(self) -> dict[str, Any]:
        r = self.runs
        return {
            "runs": r, "successes": self.successes, "failures": self.failures,
            "skipped": self.by_status["skipped"], "duplicates": self.by_status["duplicate"],
            "successRate": _rate(self.successes, r), "failureRate": _rate(self.failures, r),
            "avgTokensIn": round(self.sums[TIN] / r, 1) if r else None,
            "avgTokensOut": round(self.sums[TOUT] / r, 1) if r else None,
            "avgDurationS": round(self.sums[DUR] / r, 2) if r else None,
            "costUsd": _money(self.sums[COST]),
            "costPerRunUsd": _money(self.cost_per_run()),
            "costPerSuccessUsd": _money(self.sums[COST] / self.priced_successes) if self.priced_successes else None,
            "unpricedRuns": int(self.sums[UNPRICED]),
        }

    def usage_mix(self) -> UsageMix:
        r = self.runs or 1
        return (round(self.sums[TIN] / r), round(self.sums[TOUT] / r))

    def cost_per_token(self) -> float | None:
        priced = self.runs - self.sums[UNPRICED]
        tokens = (self.sums[TIN] + self.sums[TOUT]) * priced / self.runs if self.runs else 0
        return self.sums[COST] / tokens if tokens else None


@dataclass
class _Context:
    ws: Workspace
    agents: dict[str, AgentDef]
    fold: Fold
    days: float
    pricer: Pricer
    per_agent: dict[str, _Stats]
    per_agent_model: dict[tuple[str, str], _Stats]
    per_tier: dict[str, _Stats]
    errors_by_slot: dict[tuple[str | None, str], Counter[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.errors_by_slot = self.fold.errors()

    def tier(self, name: str | None) -> Tier | None:
        return self.ws.config.tiers.get(name) if name else None

    def errors(self, agent: str) -> Counter[tuple[str, str]]:
        """(status, error type) → failed runs of the agent."""
        return Counter({(st, et): n for (a, st), types in self.errors_by_slot.items() if a == agent
                        for et, n in types.items()})

    def agent_tier(self, a: AgentDef) -> Tier | None:
        tier = self.tier(a.tier)
        return tier.model_copy(update={"model": a.model}) if tier and a.model else tier

    def current_cost(self, stats: _Stats, own: Tier) -> float | None:
        """What one run costs the agent now: its recorded cost per run, else the list price of its mix."""
        recorded = stats.cost_per_run()
        return recorded if recorded is not None else self.pricer(own.provider, own.model, own.base_url,
                                                                 stats.usage_mix())

    def estimate(self, tier: Tier, stats: _Stats, own: Tier) -> tuple[float | None, str]:
        """What one of the agent's runs would cost on ``tier``: its recorded cost per run scaled by the list
        price ratio of the two models for its average tokens (genai-prices, one lookup per model and mix),
        else by the observed $/token of the two tiers' runs in the window."""
        mix = stats.usage_mix()
        theirs = self.pricer(tier.provider, tier.model, tier.base_url, mix)
        mine = self.pricer(own.provider, own.model, own.base_url, mix)
        recorded = stats.cost_per_run()
        if theirs is not None and mine and recorded is not None:
            return recorded * theirs / mine, "genai-prices list-price ratio"
        if theirs is not None and recorded is None:
            return theirs, "genai-prices list price"
        observed = next((s.cost_per_token() for n, s in self.per_tier.items() if self.tier(n) == tier), None)
        own_rate = stats.cost_per_token()
        if observed and own_rate and recorded is not None:
            return recorded * observed / own_rate, "observed $/token ratio"
        return None, "unpriced"


def _numbers(model: str | None, slot: list[Any]) -> list[float]:
    """The numeric sums of a slot; a run with no model (a command, a built-in) is free, not unpriced."""
    nums = slot[:7]
    if not model:
        nums[UNPRICED] = 0
    return nums


@dataclass
class _Buckets:
    """The group sums rolled up per agent, per (agent, model), per tier, per model, and the unknown bucket."""

    agents: dict[str, _Stats] = field(default_factory=lambda: defaultdict(_Stats))
    agent_model: dict[tuple[str, str], _Stats] = field(default_factory=lambda: defaultdict(_Stats))
    tiers: dict[str, _Stats] = field(default_factory=lambda: defaultdict(_Stats))
    models: dict[str, _Stats] = field(default_factory=lambda: defaultdict(_Stats))
    builtins: _Stats = field(default_factory=_Stats)
    unknown: _Stats = field(default_factory=_Stats)
    sources: dict[str, _Stats] = field(default_factory=lambda: defaultdict(_Stats))
    undefined: set[str] = field(default_factory=set)
    cron_runs: int = 0
    cron_attributed: int = 0


def _tier_resolver(ws: Workspace, agents: dict[str, AgentDef]) -> Callable[[str | None, str | None], str | None]:
    """A run's tier: its agent's, when the model that answered is in that tier's chain (or the run had no
    model); else the tier whose model it is (primary first, then fallbacks); None for model-less runs."""
    tiers = ws.config.tiers
    primary: dict[str, str] = {}
    fallback: dict[str, str] = {}
    for name, t in tiers.items():
        primary.setdefault(t.model, name)
        for f in t.fallback:
            fallback.setdefault(f.model, name)

    def resolve(agent: str | None, model: str | None) -> str | None:
        a = agents.get(agent or "")
        if a is not None and a.tier in tiers:
            t = tiers[a.tier]
            if model is None or model in {a.model or t.model, *(f.model for f in t.fallback)}:
                return a.tier
        return None if model is None else primary.get(model) or fallback.get(model)

    return resolve


def _accumulate(fold: Fold, agents: dict[str, AgentDef], builtin_jobs: set[str],
                tier_of: Callable[[str | None, str | None], str | None]) -> _Buckets:
    """Roll the group sums up. A run with no agent but a built-in cron job (disk, learn…) is attributed
    to its job; any other run whose agent is null or undefined goes to the unknown bucket."""
    b = _Buckets()
    for (agent, model, status, job), slot in fold.sums.items():
        s = _numbers(model, slot)
        tier = tier_of(agent, model)
        defined = agent in agents
        builtin = agent is None and job in builtin_jobs
        if job and status in EXECUTED:
            b.cron_runs += int(s[N])
            b.cron_attributed += int(s[N]) if defined or builtin else 0
        if defined:
            b.agents[agent].add(status, s)
            if model:
                b.agent_model[(agent, model)].add(status, s)
        elif builtin:
            b.builtins.add(status, s)
        else:
            b.unknown.add(status, s)
            b.sources[f"job:{job}" if job else (f"agent:{agent}" if agent else "no agent, no job")].add(status, s)
            if agent:
                b.undefined.add(agent)
        if model or tier:
            for bucket, name in ((b.tiers, tier or "(no tier)"), (b.models, model or "(no model)")):
                bucket[name].add(status, s)
                bucket[name].models.add(model or "-")
                bucket[name].agents.add(agent if defined else "(unknown)")
    return b


def _trust(ctx: _Context, name: str, st: _Stats, trips: int, rejections: int) -> dict[str, Any]:
    first = int(st.runs - st.sums[RETRIES])
    parts: dict[str, float | None] = {
        "firstPass": st.first_ok / first if first else None,
        "selfTestPass": None,
        "handoffAccept": None,
        "breakerHealth": max(0.0, 1 - 0.5 * trips),
    }
    st_failed = st.by_status["selftest_failed"]
    if st_failed or ctx.ws.self_tests_for(ctx.agents[name]):
        parts["selfTestPass"] = _rate(st.successes, st.successes + st_failed)
    delivered = st.successes + st.by_status["rejected"]
    rejection_rate = min(1.0, rejections / delivered) if delivered else (1.0 if rejections else None)
    if rejection_rate is not None:
        parts["handoffAccept"] = 1 - rejection_rate
    have = {k: v for k, v in parts.items() if v is not None}
    weight = sum(TRUST_WEIGHTS[k] for k in have)
    score = round(100 * sum(TRUST_WEIGHTS[k] * v for k, v in have.items()) / weight, 1) if st.runs and weight else None
    return {"trustScore": score, "firstPassRate": _rate(st.first_ok, first),
            "selfTestPassRate": parts["selfTestPass"],
            "rejectionRate": None if rejection_rate is None else round(rejection_rate, 4),
            "handoffRejections": rejections, "breakerTrips": trips}


def _agent_rows(ctx: _Context, trips: Counter[str], handoffs: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    rows = []
    for name, st in ctx.per_agent.items():
        a = ctx.agents[name]
        tier = ctx.agent_tier(a)
        run_rej = ctx.fold.rejected_tasks.get(name, Counter())
        task_rej = handoffs.get(name, Counter())
        rejections = run_rej.get(None, 0) + sum(max(run_rej.get(t, 0), task_rej.get(t, 0))
                                                for t in set(run_rej) | set(task_rej) if t is not None)
        n_trips = max(trips.get(name, 0), 1 if ctx.fold.breaker_refused.get(name) else 0)
        top = Counter[str]()
        for (_status, etype), n in ctx.errors(name).items():
            top[etype] += n
        rows.append({
            "agent": name, "team": a.team, "role": a.role, "tier": a.tier, "model": tier.model if tier else None,
            **st.common(),
            "failuresByStatus": {s: st.by_status[s] for s in FAILED_ORDER},
            "consecutiveErrors": ctx.fold.consecutive_errors(name),
            **_trust(ctx, name, st, n_trips, rejections),
            "breakerRefusedRuns": ctx.fold.breaker_refused.get(name, 0),
            "lastRunAt": ctx.fold.last_run(name),
            "topErrors": [{"type": t, "count": n} for t, n in sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:3]],
        })
    return sorted(rows, key=lambda r: (r["team"], r["agent"]))


def _bucket_rows(buckets: dict[str, _Stats], key: str, ctx: _Context) -> list[dict[str, Any]]:
    rows = []
    for name, st in buckets.items():
        tokens = st.sums[TIN] + st.sums[TOUT]
        rate = st.cost_per_token()
        if key == "tier":
            related = {"models": sorted(st.models)}
        else:
            related = {"tiers": sorted(t for t, s in ctx.per_tier.items() if name in s.models)}
        rows.append({key: name, **related, **st.common(), "agents": len(st.agents),
                     "avgTokensPerRun": round(tokens / st.runs, 1) if st.runs else None,
                     "costPerMTokUsd": None if rate is None else _money(rate * 1e6)})
    return sorted(rows, key=lambda r: (-(r["costPerRunUsd"] or 0), r[key]))


def _downgrades(ctx: _Context, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, row in rows.items():
        a, st = ctx.agents[name], ctx.per_agent[name]
        own = ctx.agent_tier(a)
        if own is None or st.runs < DOWNGRADE_MIN_RUNS or (row["successRate"] or 0) < DOWNGRADE_MIN_SUCCESS:
            continue
        current = ctx.current_cost(st, own)
        if not current:
            continue
        cheaper = []
        for tname, tier in ctx.ws.config.tiers.items():
            if tname == a.tier or tier.model == own.model:
                continue
            est, how = ctx.estimate(tier, st, own)
            if est is not None and est <= current * (1 - MIN_SAVING_SHARE):
                cheaper.append((est, tname, tier, how))
        pick = _pick_cheaper(ctx, a, row, sorted(cheaper, key=lambda c: (c[0], c[1])))
        if pick is None:
            continue
        (est, tname, tier, how), evidence, confidence = pick
        per_month = st.runs * 30 / ctx.days
        out.append({
            "agent": name, "team": a.team, "role": a.role, "fromTier": a.tier, "fromModel": own.model,
            "toTier": tname, "toModel": tier.model, "runs": st.runs, "successRate": row["successRate"],
            "costPerRunUsd": _money(current), "estimatedCostPerRunUsd": _money(est), "pricing": how,
            "runsPerMonth": round(per_month, 1),
            "estimatedMonthlySavingUsd": round((current - est) * per_month, 2),
            "confidence": confidence, "evidence": evidence,
            "reason": f"{row['successRate']:.0%} success over {st.runs} runs on {a.tier}; {evidence['summary']}",
        })
    return sorted(out, key=lambda c: (-c["estimatedMonthlySavingUsd"], c["agent"]))


def _pick_cheaper(ctx: _Context, a: AgentDef, row: dict[str, Any],
                  cheaper: list[tuple[float, str, Tier, str]]) -> tuple[Any, dict[str, Any], str] | None:
    """The cheapest tier with evidence; else one step down for a structured role."""
    bar = (row["successRate"] or 0) - EVIDENCE_TOLERANCE
    for cand in cheaper:
        _est, tname, tier, _how = cand
        peers = sorted(n for n, d in ctx.agents.items()
                       if n != a.name and d.role == a.role and d.tier == tname and n in ctx.per_agent)
        runs = sum(ctx.per_agent[n].runs for n in peers)
        ok = sum(ctx.per_agent[n].successes for n in peers)
        if runs >= EVIDENCE_MIN_RUNS and ok / runs >= bar:
            return cand, {"kind": "same-role", "agents": peers, "runs": runs, "successRate": round(ok / runs, 4),
                          "summary": f"{', '.join(peers)} ({a.role}) on {tname}: {ok / runs:.0%} success "
                                     f"over {runs} runs"}, "high"
        fb = ctx.per_agent_model.get((a.name, tier.model))
        if fb and fb.runs >= FALLBACK_MIN_RUNS and fb.successes / fb.runs >= bar:
            return cand, {"kind": "fallback", "agents": [a.name], "runs": fb.runs,
                          "successRate": round(fb.successes / fb.runs, 4),
                          "summary": f"{fb.runs} of its own runs answered by {tier.model} after a fallback: "
                                     f"{fb.successes / fb.runs:.0%} success"}, "high"
    if cheaper and a.role in STRUCTURED_ROLES:
        est, tname, tier, how = cheaper[-1]
        return cheaper[-1], {"kind": "structured-role", "agents": [], "runs": 0, "successRate": None,
                             "summary": f"role {a.role} is structured and rule-based; no {a.role} runs on "
                                        f"{tname} in the window yet: try it on a sample"}, "low"
    return None


def _upgrades(ctx: _Context, rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, row in rows.items():
        a, st = ctx.agents[name], ctx.per_agent[name]
        own = ctx.agent_tier(a)
        if own is None or st.runs < UPGRADE_MIN_RUNS:
            continue
        quality = sum(n for (status, etype), n in ctx.errors(name).items()
                      if status != "failure" or not INFRA_ERROR.search(etype))
        if quality / st.runs < UPGRADE_FAILURE_RATE:
            continue
        current = ctx.current_cost(st, own) or 0.0
        dearer = []
        for tname, tier in ctx.ws.config.tiers.items():
            if tname == a.tier or tier.model == own.model:
                continue
            est, _how = ctx.estimate(tier, st, own)
            if est is not None and est > current:
                dearer.append((est, tname, tier))
        if not dearer:
            continue
        est, tname, tier = min(dearer, key=lambda d: (d[0], d[1]))
        out.append({"agent": name, "team": a.team, "role": a.role, "fromTier": a.tier, "toTier": tname,
                    "toModel": tier.model, "runs": st.runs, "qualityFailures": quality,
                    "qualityFailureRate": round(quality / st.runs, 4),
                    "estimatedExtraMonthlyCostUsd": round((est - current) * st.runs * 30 / ctx.days, 2),
                    "topErrors": row["topErrors"],
                    "reason": f"{quality} of {st.runs} runs failed on quality (rejected, self-tests, or errors "
                              f"other than rate limits/timeouts) on {a.tier}"})
    return sorted(out, key=lambda u: (-u["qualityFailureRate"], u["agent"]))


def _broken(rows: dict[str, dict[str, Any]], open_now: list[str], agents: dict[str, AgentDef]) -> list[dict[str, Any]]:
    out = []
    for name in sorted(set(rows) | (set(open_now) & set(agents))):
        row = rows.get(name, {})
        reasons = []
        if (row.get("consecutiveErrors") or 0) >= BROKEN_CONSECUTIVE:
            reasons.append(f"{row['consecutiveErrors']} consecutive errors at the end of the window")
        if name in open_now:
            reasons.append("circuit breaker open")
        if (row.get("runs") or 0) >= BROKEN_MIN_RUNS and (row.get("failureRate") or 0) >= BROKEN_FAILURE_RATE:
            reasons.append(f"failure rate {row['failureRate']:.0%} over {row['runs']} runs")
        if reasons:
            out.append({"agent": name, "team": agents[name].team, "reasons": reasons,
                        "consecutiveErrors": row.get("consecutiveErrors", 0), "failureRate": row.get("failureRate"),
                        "breakerOpen": name in open_now, "lastRunAt": row.get("lastRunAt"),
                        "topErrors": row.get("topErrors", [])})
    return out


def _unknown(b: _Buckets) -> dict[str, Any]:
    sources = []
    for label, s in b.sources.items():
        kind, _, value = label.partition(":")
        entry = {"job": value} if kind == "job" else {"label": label}
        sources.append({**entry, "runs": s.runs, "skipped": s.by_status["skipped"] + s.by_status["duplicate"],
                        "costUsd": _money(s.sums[COST]), "unpricedRuns": int(s.sums[UNPRICED])})
    st = b.unknown
    return {"runs": st.runs, "skipped": st.by_status["skipped"] + st.by_status["duplicate"],
            "successes": st.successes, "costUsd": _money(st.sums[COST]), "unpricedRuns": int(st.sums[UNPRICED]),
            "undefinedAgents": sorted(b.undefined),
            "sources": sorted(sources, key=lambda s: (-s["runs"], s.get("job") or s.get("label") or "")),
            "cronRuns": b.cron_runs, "cronUnattributed": b.cron_runs - b.cron_attributed,
            "cronAttributionRate": _rate(b.cron_attributed, b.cron_runs)}


def _names(ws: Workspace, agents: dict[str, AgentDef]) -> tuple[set[str], set[str]]:
    """Agent and model names the workspace knows (the fast decoder's Literals)."""
    tiers = ws.config.tiers
    models = {m.model for t in tiers.values() for m in (t, *t.fallback)} | {a.model for a in agents.values() if a.model}
    return set(agents), models


def build_scorecard(ws: Workspace, *, days: float, now: datetime, pricer: Pricer | None = None,
                    include_cron: bool = True) -> dict[str, Any]:
    """The scorecard of the ``days`` before ``now`` as a JSON-ready dict (SPEC §9)."""
    if not days or days <= 0:
        raise UsageError(f"--days must be a positive number, got {days}")
    days = int(days) if float(days).is_integer() else float(days)
    end = now.astimezone(UTC)
    start = end - timedelta(days=days)
    agents = ws.agents
    runlog = ws.storage.runlog
    fold = (fold_blocks(runlog.day_blocks(start, end), start, end, *_names(ws, agents))
            if hasattr(runlog, "day_blocks")  # a run log in a database
            else scan_window(ws.root / "logs" / "runs", start, end, *_names(ws, agents)))
    b = _accumulate(fold, agents, {j.name for j in ws.config.cron if j.builtin}, _tier_resolver(ws, agents))
    ctx = _Context(ws, agents, fold, days, pricer or genai_price, b.agents, b.agent_model, b.tiers)
    notes: list[str] = []
    rows = _agent_rows(ctx, breaker_trips(ws.alerts_path, fold.lo, fold.hi), handoff_rejections(ws, fold.lo, fold.hi))
    by_name = {r["agent"]: r for r in rows}
    try:
        from agentctl.breakers.breaker import open_breakers

        open_now = open_breakers(ws, end)
    except AgentctlError as exc:
        open_now = []
        notes.append(f"breaker state unavailable: {exc.message}")
    gaps, note = cron_coverage(ws, start, end) if include_cron and ws.config.cron else ([], None)
    notes += [note] if note else []
    total = _Stats()
    for (_a, model, status, _j), slot in fold.sums.items():
        total.add(status, _numbers(model, slot))
    if total.sums[UNPRICED]:
        notes.append(f"{int(total.sums[UNPRICED])} model runs have no price (costUsd null): counted, not taken as $0")
    if fold.skipped_lines:
        notes.append(f"{fold.skipped_lines} torn or corrupt run-log lines were skipped")
    seen = fold.agents_seen()
    idle = [{"agent": n, "team": a.team, "role": a.role, "tier": a.tier}
            for n, a in sorted(agents.items(), key=lambda kv: (kv[1].team, kv[0])) if n not in seen]
    return {
        "version": SCORECARD_VERSION,
        "window": {"start": iso(start), "end": iso(end), "days": days, "files": fold.files, "bytes": fold.bytes},
        "totals": {**total.common(), "agentsDefined": len(agents), "agentsActive": len(rows),
                   "agentsIdle": len(idle), "builtinRuns": b.builtins.runs},
        "agents": rows,
        "tiers": _bucket_rows(b.tiers, "tier", ctx),
        "models": _bucket_rows(b.models, "model", ctx),
        "downgradeCandidates": _downgrades(ctx, by_name),
        "upgradeCandidates": _upgrades(ctx, by_name),
        "brokenAgents": _broken(by_name, open_now, agents),
        "idleAgents": idle,
        "cronCoverage": gaps if gaps is not None else [],
        "cronCoverageAvailable": gaps is not None,
        "unknown": _unknown(b),
        "skippedLines": fold.skipped_lines,
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
