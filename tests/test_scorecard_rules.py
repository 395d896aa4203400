"""The scorecard's rules, one table of hand-checked cases per rule (SPEC §9).

Every expected figure below was worked out by hand from the few records of its case, not
computed by the code under test: fallback evidence, breaker state as of the window's end,
the recorded tier, ties on startedAt, time filtering in every file, offsets, invalid
lines by reason, unpriced agents, infrastructure failures, the monthly saving, trips in
the window, cron coverage from the same scan, and terminal widths.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import write_agent

from agentctl.scorecard import build as sc
from agentctl.scorecard.render import render
from agentctl.workspace.loader import Workspace

END = datetime(2026, 11, 26, 12, tzinfo=UTC)
PRICES = {"claude-opus-4-6": (5.0, 25.0), "claude-sonnet-4-6": (3.0, 15.0), "claude-haiku-4-5": (1.0, 5.0)}
MODEL = {"premium": "claude-opus-4-6", "standard": "claude-sonnet-4-6", "economy": "claude-haiku-4-5"}


def price(provider: str, model: str, base_url: str | None, usage: tuple[float, float]) -> float | None:
    if model not in PRICES:
        return None
    return (usage[0] * PRICES[model][0] + usage[1] * PRICES[model][1]) / 1e6


def line(at: str, agent: str | None = "ann", status: str = "success", tier: str | None = "premium", *,
         model: str | None = None, cost: float | None = 1.0, tin: int = 1000, tout: int = 100, dur: float = 1.0,
         pretty: bool = False, **extra: object) -> str:
    rec = {"runId": f"r-{at}-{status}", "startedAt": at, "endedAt": at, "agent": agent, "tier": tier,
           "model": model or (MODEL.get(tier) if tier else None), "status": status, "tokensIn": tin,
           "tokensOut": tout, "costUsd": cost, "durationS": dur, "fallbackFrom": None, "job": None, **extra}
    if pretty:  # json.dumps' default separators, keys in another order, nulls kept
        return json.dumps(dict(reversed(list(rec.items())))) + "\n"
    return json.dumps(rec, separators=(",", ":")) + "\n"


def write(root: Path, day: str, *lines: str) -> None:
    path = root / "logs" / "runs" / f"{day}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write("".join(lines))


@pytest.fixture
def ws(minimal_ws: Path) -> Path:
    for name, role, tier in (("ann", "analysis", "premium"), ("bob", "analysis", "standard")):
        write_agent(minimal_ws, name, f"name: {name}\nteam: t-{name}\nrole: {role}\ntier: {tier}\n"
                                      "runtime: llm\nprompt: x\n")
    return minimal_ws


def card(root: Path, days: int = 7, now: datetime = END) -> dict:
    return sc.build_scorecard(Workspace(root), days=days, now=now, pricer=price)


def row(report: dict, name: str) -> dict:
    return next(a for a in report["agents"] if a["agent"] == name)


# --- downgrade evidence: only runs with fallbackFrom = the agent's own model -------------------
@pytest.mark.parametrize(("fallback_from", "expected"), [
    (None, None),                          # sonnet answered, but not after a fallback: no evidence
    ("claude-haiku-4-5", None),            # a fallback from another model than ann's own
    ("claude-opus-4-6", "fallback"),       # answered by sonnet after a fallback from opus: evidence
])
def test_fallback_evidence(ws: Path, fallback_from: str | None, expected: str | None) -> None:
    runs = [line(f"2026-11-25T10:{i:02d}:00Z") for i in range(10)]
    runs += [line(f"2026-11-25T11:{i:02d}:00Z", model="claude-sonnet-4-6", fallbackFrom=fallback_from)
             for i in range(3)]
    write(ws, "2026-11-25", *runs)
    cands = {c["agent"]: c for c in card(ws)["downgradeCandidates"]}
    assert (cands["ann"]["evidence"]["kind"] if "ann" in cands else None) == expected


# --- breaker state as of the window's end, trips in the window (logs/breakers.jsonl) ---------
HISTORY = [("2026-11-20T10:00:00Z", "tripped", "open"), ("2026-11-20T10:05:00Z", "recovered", "closed"),
           ("2026-11-25T10:00:00Z", "tripped", "open"), ("2026-11-25T10:05:00Z", "reopened", "open")]


@pytest.mark.parametrize(("now", "days", "open_at_end", "trips"), [
    (datetime(2026, 11, 20, 10, 1, tzinfo=UTC), 1, True, 1),    # between the first trip and its recovery
    (datetime(2026, 11, 24, tzinfo=UTC), 7, False, 1),          # recovered by then; today's open state ignored
    (datetime(2026, 11, 25, 10, 3, tzinfo=UTC), 1, True, 1),    # the second trip only
    (END, 7, True, 3),                                          # trip, trip, reopen in the week
    (datetime(2026, 11, 19, tzinfo=UTC), 7, False, 0),          # before any of it
])
def test_breaker_history(ws: Path, now: datetime, days: int, open_at_end: bool, trips: int) -> None:
    run_at = now - timedelta(minutes=1)
    write(ws, run_at.strftime("%Y-%m-%d"), line(run_at.strftime("%Y-%m-%dT%H:%M:%SZ")))
    (ws / "logs" / "breakers.jsonl").write_text("".join(
        json.dumps({"ts": ts, "agent": "ann", "transition": t, "state": s}) + "\n" for ts, t, s in HISTORY))
    r = card(ws, days, now)
    assert ("ann" in {b["agent"] for b in r["brokenAgents"]}) is open_at_end
    assert row(r, "ann")["breakerTrips"] == trips


def test_breaker_transitions_are_recorded_when_they_happen(ws: Path) -> None:
    from agentctl.breakers.breaker import Admission, record_outcome

    w = Workspace(ws)
    agent = w.agents["ann"]
    for s in range(3):  # the default policy: 3 failures within 60 s trip it
        record_outcome(w, agent, False, datetime(2026, 11, 25, 10, 0, s, tzinfo=UTC), Admission())
    events = [json.loads(x) for x in (ws / "logs" / "breakers.jsonl").read_text().splitlines()]
    assert [(e["ts"], e["agent"], e["transition"], e["state"]) for e in events] == [
        ("2026-11-25T10:00:02Z", "ann", "tripped", "open")]
    write(ws, "2026-11-24", line("2026-11-24T10:00:00Z"))
    assert card(ws, 1, datetime(2026, 11, 25, tzinfo=UTC))["brokenAgents"] == []  # before the trip
    assert [b["agent"] for b in card(ws, 1, datetime(2026, 11, 25, 11, tzinfo=UTC))["brokenAgents"]] == ["ann"]


# --- per-tier figures from the run's recorded tier ----------------------------------------------
def test_tier_is_the_recorded_one(ws: Path) -> None:
    # ann is premium today; these 4 runs were recorded on standard at $0.10, 2 on premium at $1
    write(ws, "2026-11-25", *[line(f"2026-11-25T10:0{i}:00Z", tier="standard", cost=0.10) for i in range(4)],
          *[line(f"2026-11-25T11:0{i}:00Z", tier="premium", cost=1.0) for i in range(2)])
    tiers = {t["tier"]: t for t in card(ws)["tiers"]}
    assert (tiers["standard"]["runs"], tiers["standard"]["costPerRunUsd"]) == (4, 0.1)
    assert (tiers["premium"]["runs"], tiers["premium"]["costPerRunUsd"]) == (2, 1.0)


# --- consecutive errors: same startedAt → the later line wins ------------------------------------
@pytest.mark.parametrize(("order", "expected"), [
    (("success", "failure"), 1),
    (("failure", "success"), 0),
    (("failure", "success", "failure", "rejected"), 2),
])
def test_same_start_later_line_wins(ws: Path, order: tuple[str, ...], expected: int) -> None:
    write(ws, "2026-11-25", *[line("2026-11-25T10:00:00Z", status=s, runId=f"r{i}") for i, s in enumerate(order)])
    assert row(card(ws), "ann")["consecutiveErrors"] == expected


# --- time filtering in every file, offsets parsed ------------------------------------------------
@pytest.mark.parametrize(("day", "at", "counted"), [
    ("2026-11-22", "2026-11-22T10:00:00Z", True),
    ("2026-11-22", "2026-11-10T10:00:00Z", False),        # misfiled, outside the window: dropped
    ("2026-11-22", "2026-11-24T10:00:00Z", True),         # misfiled, inside: counted once
    ("2026-11-26", "2026-11-26T12:30:00+01:00", True),    # = 11:30Z, before the 12:00Z end
    ("2026-11-26", "2026-11-26T11:30:00-01:00", False),   # = 12:30Z, after it (as text it sorts before)
    ("2026-11-19", "2026-11-19T12:30:00+01:00", False),   # = 11:30Z, before the 12:00Z start
    ("2026-11-25", "2026-11-25T10:00:00", True),          # no offset: UTC, as everywhere in agentctl
])
def test_time_filter(ws: Path, day: str, at: str, counted: bool) -> None:
    write(ws, day, line(at))
    r = card(ws)
    assert r["totals"]["runs"] == int(counted) and r["skippedLines"] == 0


# --- invalid lines are skipped and counted by reason ----------------------------------------------
@pytest.mark.parametrize(("text", "reason"), [
    ('{"runId":"x","startedAt":"2026-11-25T1\n', "torn"),
    ("not json\n", "torn"),
    ("[1, 2]\n", "torn"),
    (line("2026-11-25T10:00:00Z", status="weird"), "unknownStatus"),
    (line("2026-11-25T10:00:00Z", tin=-5), "negativeNumber"),
    (line("2026-11-25T10:00:00Z", cost=-3.0), "negativeNumber"),
    (line("2026-11-25T10:00:00Z", dur=-1.0), "negativeNumber"),
    (line("2026-11-25T99:00:00Z"), "badTimestamp"),
    (line("yesterday"), "badTimestamp"),
    ('{"agent":"ann","status":"success"}\n', "missingField"),
    (line("2026-11-25T10:00:00Z", tin="many"), "badField"),
])
def test_invalid_lines_by_reason(ws: Path, text: str, reason: str) -> None:
    write(ws, "2026-11-25", line("2026-11-25T09:00:00Z", cost=2.0), text)
    r = card(ws)
    assert r["skippedLines"] == 1 and r["skippedByReason"][reason] == 1
    assert r["totals"]["runs"] == 1 and r["totals"]["costUsd"] == 2.0  # a cost of −3 lowers nothing


def test_pretty_printed_null_filled_lines_parse(ws: Path) -> None:
    write(ws, "2026-11-25", line("2026-11-25T09:00:00Z", pretty=True, cost=2.0, error=None),
          line("2026-11-25T10:00:00Z", pretty=True, status="failure", error={"type": "X", "message": "m"}))
    a = row(card(ws), "ann")
    assert (a["runs"], a["successes"], a["costUsd"], a["consecutiveErrors"]) == (2, 1, 3.0, 1)


# --- unpriced ----------------------------------------------------------------------------------------
def test_only_unpriced_runs_read_unpriced(ws: Path) -> None:
    write(ws, "2026-11-25", line("2026-11-25T09:00:00Z", cost=None), line("2026-11-25T10:00:00Z", cost=None))
    r = card(ws)
    a = row(r, "ann")
    assert (a["costUsd"], a["costPerSuccessUsd"], a["unpricedRuns"]) == (None, None, 2)
    for fmt in ("markdown", "table", "html"):
        text = render(r, fmt)
        ann = [x for x in text.splitlines() if "ann" in x and ("Cost" in x or "$" in x or "unpriced" in x)]
        assert "unpriced" in text and ann and not any("$0.00" in x or "≥$0" in x for x in ann), fmt


# --- upgrade candidates: infrastructure failures are not quality ----------------------------------
@pytest.mark.parametrize(("errors", "candidate"), [
    (["OverloadedError"] * 4, False),
    (["RateLimitError", "APITimeoutError", "APIConnectionError", "InternalServerError"], False),
    (["HTTP 529"] * 4, False),
    (["SchemaInvalid"] * 2, True),            # 2 of 6 runs = 33 % ≥ 30 %
    (["ValueError", "OverloadedError"], False),  # 1 of 6 = 17 %
])
def test_upgrade_infrastructure(ws: Path, errors: list[str], candidate: bool) -> None:
    write(ws, "2026-11-25", *[line(f"2026-11-25T09:0{i}:00Z", "bob", tier="standard") for i in range(6 - len(errors))],
          *[line(f"2026-11-25T10:0{i}:00Z", "bob", "failure", tier="standard", error={"type": e, "message": "m"})
            for i, e in enumerate(errors)])
    assert ("bob" in {u["agent"] for u in card(ws)["upgradeCandidates"]}) is candidate


# --- the monthly saving ----------------------------------------------------------------------------
def test_monthly_saving_formula(ws: Path) -> None:
    # ann (premium, opus): 14 successes at $2.00, 100k in / 20k out; bob (same role, standard): 5 successes
    write(ws, "2026-11-25", *[line(f"2026-11-25T09:{i:02d}:00Z", cost=2.0, tin=100_000, tout=20_000)
                              for i in range(14)],
          *[line(f"2026-11-25T10:0{i}:00Z", "bob", tier="standard", cost=0.5) for i in range(5)])
    c = next(c for c in card(ws)["downgradeCandidates"] if c["agent"] == "ann")
    # list price for 100k/20k: opus 0.5 + 0.5 = $1.00, sonnet 0.3 + 0.3 = $0.60 → ratio 0.6 → $1.20 per run
    # runs per month = 14 × 30 ÷ 7 = 60; saving = (2.00 − 1.20) × 60 = $48.00
    assert (c["costPerRunUsd"], c["estimatedCostPerRunUsd"], c["runsPerMonth"]) == (2.0, 1.2, 60.0)
    assert c["estimatedMonthlySavingUsd"] == 48.0 and c["evidence"]["kind"] == "same-role"


# --- cron coverage from the same scan -----------------------------------------------------------
def test_cron_coverage_from_the_scan(ws: Path) -> None:
    cfg = ws / "agentctl.yaml"
    cfg.write_text(cfg.read_text().replace("cron: []\n", 'cron:\n  - {name: nightly, schedule: "0 3 * * *", '
                                                         "builtin: disk}\n"))
    from agentctl.cron.state import mark_defined

    mark_defined(Workspace(ws), ["nightly"], datetime(2026, 11, 1, tzinfo=UTC))  # defined before the window
    # 7 slots (20th…26th at 03:00); runs cover the 21st (by key), 23rd (by start), 25th (pretty-printed)
    write(ws, "2026-11-21", line("2026-11-21T03:00:05Z", None, tier=None, job="nightly",
                                 idempotencyKey="nightly:2026-11-21T03:00:00Z"))
    write(ws, "2026-11-23", line("2026-11-23T03:10:00Z", None, tier=None, job="nightly"))
    write(ws, "2026-11-24", line("2026-11-24T03:00:00Z", None, "skipped", tier=None, job="nightly"))
    write(ws, "2026-11-25", line("2026-11-25T03:00:00Z", None, tier=None, job="nightly", pretty=True))
    gap = card(ws)["cronCoverage"][0]
    # the 24th's run was skipped: its slot is `skipped`, not covered and not missed (SPEC §8)
    assert (gap["expected"], gap["recorded"], gap["covered"], gap["skipped"], gap["missed"]) == (7, 4, 3, 1, 3)
    assert gap["missedSlots"] == ["2026-11-20T03:00:00Z", "2026-11-22T03:00:00Z", "2026-11-26T03:00:00Z"]


# --- the terminal never truncates ------------------------------------------------------------------
@pytest.mark.parametrize("width", [60, 80, 100, 120, 160])
def test_terminal_widths(ws: Path, width: int) -> None:
    write(ws, "2026-11-25", *[line(f"2026-11-25T09:0{i}:00Z", cost=0.0345, tin=123_456, tout=7_890, dur=1234.5)
                              for i in range(3)], line("2026-11-25T10:00:00Z", "bob", "failure", tier="standard",
                                                        cost=12345.678))
    r = card(ws)
    text = render(r, "table", width=width)
    assert "…" not in text and max(map(len, text.splitlines())) <= width
    for needle in ("$0.0345", "$12,345.68", "123.5k", "20m34s", "Cost/success", "Consec. err", "Trust"):
        assert needle in text or f"not shown at {width} columns" in text, (needle, width)
    if width <= 80:
        assert "Consec. err 1" in text  # stacked: every figure of every row


@pytest.mark.parametrize(("schedule", "tz", "start", "end", "fast"), [
    ("0 * * * *", "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", True),
    ("*/15 8-17 * * *", "Europe/Paris", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", True),
    ("30 3 * * *", "America/New_York", "2026-12-01T00:00:30Z", "2026-12-20T10:00:00Z", True),
    ("30 2 * * *", "Europe/Paris", "2026-03-20T00:00:00Z", "2026-04-05T00:00:00Z", False),  # DST: croniter
    ("0 8 * * 1-5", "UTC", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", False),           # weekdays: croniter
])
def test_daily_slots_equal_croniter(schedule: str, tz: str, start: str, end: str, fast: bool) -> None:
    from agentctl.core.clock import parse_iso
    from agentctl.core.config import CronJob
    from agentctl.cron.jobs import daily_slots, slots_between

    job = CronJob(name="j", schedule=schedule, tz=tz, builtin="disk")
    a, b = parse_iso(start), parse_iso(end)
    got = daily_slots(job, a, b)
    assert (got is not None) is fast
    if got is not None:
        assert got == [s.astimezone(UTC) for s in slots_between(job, a, b)]


# --- cost per team, product (the task's) and task tree (parent links; tolerated when absent) --------
def test_cost_per_team_product_and_tree(ws: Path) -> None:
    from agentctl.core.records import RegistryFile, Task

    now = "2026-11-20T00:00:00Z"
    (ws / "tasks.json").write_text(RegistryFile(tasks=[Task(taskId="T-1", title="t", product="Alpha", createdAt=now,
                                                            updatedAt=now)]).model_dump_json())
    archive = [Task(taskId="P-1", title="launch", status="done", createdAt=now, updatedAt=now),
               Task(taskId="C-1", title="c1", parent="P-1", status="done", createdAt=now, updatedAt=now),
               Task(taskId="C-2", title="c2", parent="P-1", product="Beta", status="done", createdAt=now, updatedAt=now)]
    (ws / "archive").mkdir(exist_ok=True)  # as `task archive` writes them (read through the registry store)
    (ws / "archive" / "tasks-2026-11.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in archive))
    write(ws, "2026-11-25", line("2026-11-25T09:00:00Z", cost=1.0, taskId="T-1"),
          line("2026-11-25T09:01:00Z", cost=2.0, taskId="C-1"), line("2026-11-25T09:02:00Z", "bob", cost=3.0,
                                                                      tier="standard", taskId="C-2"),
          line("2026-11-25T09:03:00Z", cost=0.5, taskId="P-1"), line("2026-11-25T09:04:00Z", cost=10.0))
    r = card(ws)
    assert {t["team"]: t["costUsd"] for t in r["teams"]} == {"t-ann": 13.5, "t-bob": 3.0}
    assert {p["product"]: p["costUsd"] for p in r["products"]} == {"Alpha": 1.0, "Beta": 3.0}
    assert [(t["root"], t["title"], t["tasks"], t["runs"], t["costUsd"]) for t in r["taskTrees"]] == [
        ("P-1", "launch", 3, 3, 5.5)]
    days = {d["date"]: d for d in r["daily"]}
    assert len(r["daily"]) == 8 and (days["2026-11-25"]["runs"], days["2026-11-25"]["costUsd"]) == (5, 16.5)
    page = render(r, "html")
    for needle in ("Daily trend", "Cost per team", "Cost per product", "Cost per task tree", "legend", "(4/4 runs)", "(1/1 runs)"):
        assert needle in page
