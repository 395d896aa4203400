"""The scorecard's roll-ups: the scan's sums per group folded per agent, tier, model, team,
product, task tree and day, and the pricing context the candidate rules need.

A run's tier is the ``tier`` recorded on it; a record without one (written before runs
recorded their tier) takes its agent's tier when the model that answered is in that
tier's chain, else the tier whose model it is. A run whose ``costUsd`` is null is
*unpriced* — counted, never $0 — except the runs of built-in cron jobs (no agent, no
model: disk, learn…), which cost nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentctl.scorecard.scan import (
    AGENT,
    COST,
    DUR,
    EXECUTED,
    FALLBACK,
    JOB,
    MODEL,
    RETRIES,
    STATUS,
    TEAM,
    TIER,
    TIN,
    TOUT,
    UNPRICED,
    N,
    ScanResult,
)

if TYPE_CHECKING:
    from agentctl.core.config import AgentDef, Tier
    from agentctl.workspace.loader import Workspace

UsageMix = tuple[float, float]  # an average run: tokensIn, tokensOut
Pricer = Callable[[str, str, str | None, UsageMix], float | None]


def rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def money(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


@dataclass
class Stats:
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

    @property
    def priced(self) -> int:
        return int(self.runs - self.sums[UNPRICED])

    def cost(self) -> float | None:
        """The recorded cost; None (unpriced) when every executed run is unpriced."""
        return None if self.runs and not self.priced else money(self.sums[COST])

    def cost_per_run(self) -> float | None:
        return self.sums[COST] / self.priced if self.priced else None

    def common(self) -> dict[str, Any]:
        r = self.runs
        return {
            "runs": r, "successes": self.successes, "failures": self.failures,
            "skipped": self.by_status["skipped"], "duplicates": self.by_status["duplicate"],
            "successRate": rate(self.successes, r), "failureRate": rate(self.failures, r),
            "avgTokensIn": round(self.sums[TIN] / r, 1) if r else None,
            "avgTokensOut": round(self.sums[TOUT] / r, 1) if r else None,
            "avgDurationS": round(self.sums[DUR] / r, 2) if r else None,
            "costUsd": self.cost(),
            "costPerRunUsd": money(self.cost_per_run()),
            "costPerSuccessUsd": money(self.sums[COST] / self.priced_successes) if self.priced_successes else None,
            "unpricedRuns": int(self.sums[UNPRICED]),
        }

    def usage_mix(self) -> UsageMix:
        r = self.runs or 1
        return (round(self.sums[TIN] / r), round(self.sums[TOUT] / r))

    def cost_per_token(self) -> float | None:
        tokens = (self.sums[TIN] + self.sums[TOUT]) * self.priced / self.runs if self.runs else 0
        return self.sums[COST] / tokens if tokens else None


def _sdict() -> defaultdict[Any, Stats]:
    return defaultdict(Stats)


@dataclass
class Buckets:
    """The group sums rolled up per agent, (agent, model), (agent, model, fallbackFrom), tier, model,
    team, product, task tree and the unknown bucket."""

    agents: dict[str, Stats] = field(default_factory=_sdict)
    agent_model: dict[tuple[str, str], Stats] = field(default_factory=_sdict)
    fallbacks: dict[tuple[str, str, str], Stats] = field(default_factory=_sdict)
    tiers: dict[str, Stats] = field(default_factory=_sdict)
    models: dict[str, Stats] = field(default_factory=_sdict)
    teams: dict[str, Stats] = field(default_factory=_sdict)
    products: dict[str, Stats] = field(default_factory=_sdict)
    trees: dict[str, Stats] = field(default_factory=_sdict)
    builtins: Stats = field(default_factory=Stats)
    unknown: Stats = field(default_factory=Stats)
    total: Stats = field(default_factory=Stats)
    sources: dict[str, Stats] = field(default_factory=_sdict)
    undefined: set[str] = field(default_factory=set)
    cron_runs: int = 0
    cron_attributed: int = 0


def tier_resolver(ws: Workspace, agents: dict[str, AgentDef]) -> Callable[[str | None, str | None], str | None]:
    """The tier of a record that did not record one (see the module docstring)."""
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


def accumulate(scan: ScanResult, agents: dict[str, AgentDef], builtin_jobs: set[str],
               tier_of: Callable[[str | None, str | None], str | None],
               labels: list[tuple[str | None, str | None]]) -> Buckets:
    """Roll the group sums up. A run with no agent but a built-in cron job (disk, learn…) is attributed
    to its job; any other run whose agent is null or undefined goes to the unknown bucket."""
    b = Buckets()
    for key, slot in scan.sums.items():
        agent, model, status, job = key[AGENT], key[MODEL], key[STATUS], key[JOB]
        defined = agent in agents
        builtin = agent is None and job in builtin_jobs
        s = list(slot)
        if builtin:
            s[UNPRICED] = 0
        b.total.add(status, s)
        if job and status in EXECUTED:
            b.cron_runs += int(s[N])
            b.cron_attributed += int(s[N]) if defined or builtin else 0
        if defined:
            b.agents[agent].add(status, s)
            if model:
                b.agent_model[(agent, model)].add(status, s)
                if key[FALLBACK]:
                    b.fallbacks[(agent, model, key[FALLBACK])].add(status, s)
        elif builtin:
            b.builtins.add(status, s)
        else:
            b.unknown.add(status, s)
            b.sources[f"job:{job}" if job else (f"agent:{agent}" if agent else "no agent, no job")].add(status, s)
            if agent:
                b.undefined.add(agent)
        team = key[TEAM] or (agents[agent].team if agent in agents else None)
        b.teams[team or "(no team)"].add(status, s)
        tier = key[TIER] or tier_of(agent, model)
        if model or tier:
            for bucket, name in ((b.tiers, tier or "(no tier)"), (b.models, model or "(no model)")):
                bucket[name].add(status, s)
                bucket[name].models.add(model or "-")
                bucket[name].agents.add(agent if defined else "(unknown)")
    _by_label(b, scan, builtin_jobs, labels)
    return b


def _by_label(b: Buckets, scan: ScanResult, builtin_jobs: set[str],
              labels: list[tuple[str | None, str | None]]) -> None:
    for (label, agent, status, job), (runs, cost, unpriced) in scan.label_sums.items():
        s = [runs, 0, 0, 0.0, cost, 0 if agent is None and job in builtin_jobs else unpriced, 0]
        product, root = labels[label]
        if product is not None:
            b.products[product].add(status, s)
        if root is not None:
            b.trees[root].add(status, s)


@dataclass
class Context:
    ws: Workspace
    agents: dict[str, AgentDef]
    scan: ScanResult
    days: float
    pricer: Pricer
    b: Buckets

    def tier(self, name: str | None) -> Tier | None:
        return self.ws.config.tiers.get(name) if name else None

    def errors(self, agent: str) -> Counter[tuple[str, str]]:
        """(status, error type) → failed runs of the agent."""
        if not hasattr(self, "_errors"):
            self._errors = self.scan.error_types()
        return Counter({(st, et): n for (a, st), types in self._errors.items() if a == agent
                        for et, n in types.items()})

    def agent_tier(self, a: AgentDef) -> Tier | None:
        tier = self.tier(a.tier)
        return tier.model_copy(update={"model": a.model}) if tier and a.model else tier

    def estimate(self, tier: Tier, stats: Stats, own: Tier) -> tuple[float | None, str]:
        """One of the agent's runs on ``tier``: its recorded cost per priced run × the list-price ratio of
        the two models for its average tokens (genai-prices, one lookup per model and mix), else × the
        ratio of the two tiers' observed $/token in the window; None without a recorded cost."""
        recorded = stats.cost_per_run()
        if recorded is None:
            return None, "unpriced"
        mix = stats.usage_mix()
        theirs = self.pricer(tier.provider, tier.model, tier.base_url, mix)
        mine = self.pricer(own.provider, own.model, own.base_url, mix)
        if theirs is not None and mine:
            return recorded * theirs / mine, "genai-prices list-price ratio"
        observed = next((s.cost_per_token() for n, s in self.b.tiers.items() if self.tier(n) == tier), None)
        own_rate = stats.cost_per_token()
        if observed and own_rate:
            return recorded * observed / own_rate, "observed $/token ratio"
        return None, "unpriced"
