"""The scorecard (SPEC §9): a fixture fleet with known numbers, checked exactly; the window
(files outside it are never opened); torn lines; renderers (snapshots); the CLI and the
seed's script give the same report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO, Cli, run_installed, write_agent

from agentctl.core.records import RegistryFile, Rejection, RunRecord, Task
from agentctl.scorecard import build as sc
from agentctl.scorecard.render import render
from agentctl.storage import window_files
from agentctl.workspace.loader import Workspace

NOW = "2026-11-26T12:00:00Z"
END = datetime(2026, 11, 26, 12, tzinfo=UTC)
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
MTOK = {"claude-opus-4-6": (5.0, 25.0), "claude-sonnet-4-6": (3.0, 15.0), "claude-haiku-4-5": (1.0, 5.0)}
TIER = {"premium": "claude-opus-4-6", "standard": "claude-sonnet-4-6", "economy": "claude-haiku-4-5"}


def list_price(provider: str, model: str, base_url: str | None, usage: tuple[float, float]) -> float | None:
    """A fixed price list, so the numbers (and snapshots) do not move with genai-prices releases."""
    if model not in MTOK:
        return None
    pin, pout = MTOK[model]
    return (usage[0] * pin + usage[1] * pout) / 1e6


AGENTS = {
    "alpha": "team: product\nrole: code\ntier: standard\nself_tests:\n  - name: names a PR\n    check: {path: pr, exists: true}\n",
    "jack": "team: product\nrole: code\ntier: standard\n",
    "seo": "team: marketing\nrole: marketing\ntier: premium\n",
    "leo": "team: marketing\nrole: marketing\ntier: standard\n",
    "nova": "team: research\nrole: research\ntier: premium\n",
}


class Log:
    """Writes run records the way the runner does: one JSON line per run, per UTC day of startedAt."""

    def __init__(self, root: Path):
        self.root = root
        self.n = 0

    def run(self, agent: str | None, at: str, status: str = "success", *, tier: str | None = None,
            cost: float | None = 0.10, tin: int = 1000, tout: int = 200, dur: float = 10.0, task: str | None = None,
            job: str | None = None, error: str | None = None, model: str | None = None) -> None:
        self.n += 1
        executed = status not in ("skipped", "duplicate")
        tier = tier if tier is not None else (AGENTS_TIER.get(agent or "") if agent else None)
        rec = RunRecord(
            runId=f"run-{self.n:04d}", startedAt=at, endedAt=at, agent=agent, taskId=task, job=job,
            trigger="cron" if job else ("pipeline" if task else "manual"), tier=tier,
            provider="anthropic" if tier else None, model=model or (TIER[tier] if tier else None), status=status,
            error={"type": error, "message": "boom"} if error else None,
            tokensIn=tin if executed else 0, tokensOut=tout if executed else 0,
            costUsd=cost if executed else None, durationS=dur if executed else 0.0)
        path = self.root / "logs" / "runs" / f"{at[:10]}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec.model_dump(mode="json"), separators=(",", ":")) + "\n")

    def raw(self, day: str, text: str) -> None:
        with (self.root / "logs" / "runs" / f"{day}.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(text)


AGENTS_TIER = {"alpha": "standard", "jack": "standard", "seo": "premium", "leo": "standard", "ghost": "standard"}


def build_fleet(root: Path) -> None:
    for name, body in AGENTS.items():
        write_agent(root, name, f"name: {name}\n{body}runtime: llm\nprompt: work\n")
    cfg = root / "agentctl.yaml"
    cfg.write_text(cfg.read_text().replace("cron: []\n", textwrap.dedent("""\
        cron:
          - {name: email-triage, schedule: "0 8 * * *", agent: leo, prompt: triage}
          - {name: disk-monitor, schedule: "0 9 * * *", builtin: disk}
        """)))
    log = Log(root)
    # alpha: 10 runs = 8 successes + 1 failure + 1 selftest_failed; T-3 fails then succeeds (a retry);
    # plus one skipped (breaker open) and one duplicate, which are not runs.
    for i in range(1, 9):
        log.run("alpha", f"2026-11-2{i % 4}T1{i}:00:00Z" if i < 8 else "2026-11-25T09:00:00Z", task=f"T-{i}")
    log.run("alpha", "2026-11-20T08:00:00Z", "failure", task="T-9", error="RateLimitError")
    log.run("alpha", "2026-11-20T07:00:00Z", "selftest_failed", task="T-3", error="SelfTestFailed")
    log.run("alpha", "2026-11-22T08:00:00Z", "skipped", error="BreakerOpen")
    log.run("alpha", "2026-11-22T08:30:00Z", "duplicate", task="T-1")
    # seo on premium: 20 runs, all successes, $2 each, 100k in / 20k out
    for i in range(20):
        log.run("seo", f"2026-11-2{i % 6}T13:{i:02d}:00Z", cost=2.0, tin=100_000, tout=20_000, dur=30.0, task=f"S-{i}")
    # leo, same role on standard: 10 runs, all successes, $0.40 each
    for i in range(10):
        log.run("leo", f"2026-11-2{i % 5 + 1}T14:{i:02d}:00Z", cost=0.40, tin=100_000, tout=20_000, dur=20.0)
    # jack: 2 successes, then 3 failures to the end of the window (2 rejected, 1 rate limit)
    log.run("jack", "2026-11-21T10:00:00Z", task="J-1")
    log.run("jack", "2026-11-22T10:00:00Z", task="J-2")
    log.run("jack", "2026-11-24T10:00:00Z", "rejected", task="J-3", error="SchemaInvalid")
    log.run("jack", "2026-11-25T10:00:00Z", "rejected", task="J-3", error="SchemaInvalid")
    log.run("jack", "2026-11-26T10:00:00Z", "failure", task="J-4", error="RateLimitError")
    # outside the window, in the boundary files: must not count (a late success would reset jack's streak)
    log.run("jack", "2026-11-26T13:00:00Z", task="J-5")
    log.run("seo", "2026-11-19T11:59:59Z", cost=99.0)
    # unattributed: a cron job whose runs lost their agent, an undefined agent, a built-in (attributed by job)
    for h in range(3):
        log.run(None, f"2026-11-2{h + 2}T08:00:00Z", job="email-triage", tier="economy", cost=0.05)
    log.run("ghost", "2026-11-23T15:00:00Z", cost=0.25)
    log.run("ghost", "2026-11-23T16:00:00Z", "failure", cost=None, error="Boom")
    log.run(None, "2026-11-24T09:00:00Z", job="disk-monitor", cost=None, tin=0, tout=0)
    # a torn line and a garbage line
    log.raw("2026-11-23", '{"runId":"torn","startedAt":"2026-11-23T1\n')
    log.raw("2026-11-24", "this is not json\n")
    # files outside the window that cannot even be opened: reading them would fail
    for day in ("2026-11-18", "2026-11-27"):
        (root / "logs" / "runs" / f"{day}.jsonl").mkdir()
    # a handoff rejection of alpha's T-5 in the window (and an older one), breaker trips in and out of it
    task = Task(taskId="T-5", title="t", agent="alpha", status="rejected", createdAt=NOW, updatedAt=NOW,
                rejections=[Rejection(at="2026-11-24T12:00:00Z", by="kai", missing=["pr"]),
                            Rejection(at="2026-11-01T12:00:00Z", by="kai", missing=["pr"])])
    (root / "tasks.json").write_text(RegistryFile(tasks=[task]).model_dump_json(indent=1))
    alerts = [{"ts": "2026-11-22T07:59:00Z", "kind": "breaker_tripped", "source": "breaker", "data": {"agent": "alpha"}},
              {"ts": "2026-11-02T07:59:00Z", "kind": "breaker_tripped", "source": "breaker", "data": {"agent": "seo"}}]
    (root / "logs" / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in sorted(alerts, key=lambda a: a["ts"])))


@pytest.fixture
def fleet(minimal_ws: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    build_fleet(minimal_ws)
    return minimal_ws


@pytest.fixture
def coverage_stub(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    rows = [{"job": "email-triage", "schedule": "0 8 * * *", "expected": 7, "recorded": 3, "missed": 4,
             "missedSlots": ["2026-11-20T08:00:00Z", "2026-11-21T08:00:00Z", "2026-11-25T08:00:00Z",
                             "2026-11-26T08:00:00Z"]},
            {"job": "disk-monitor", "schedule": "0 9 * * *", "expected": 7, "recorded": 7, "missed": 0,
             "missedSlots": []}]
    import agentctl.cron.jobs

    monkeypatch.setattr(agentctl.cron.jobs, "coverage_from_runs", lambda ws, start, end, runs, **_k: [dict(r) for r in rows])
    return rows


def card(root: Path, days: int = 7) -> dict:
    return sc.build_scorecard(Workspace(root), days=days, now=END, pricer=list_price)


def agent(report: dict, name: str) -> dict:
    return next(a for a in report["agents"] if a["agent"] == name)


# --- numbers ------------------------------------------------------------------------------
def test_agent_numbers_exact(fleet: Path, coverage_stub: list) -> None:
    r = card(fleet)
    a = agent(r, "alpha")
    assert {k: a[k] for k in ("team", "tier", "runs", "successes", "failures", "skipped", "duplicates",
                              "consecutiveErrors", "avgTokensIn", "avgTokensOut", "avgDurationS")} == {
        "team": "product", "tier": "standard", "runs": 10, "successes": 8, "failures": 2, "skipped": 1,
        "duplicates": 1, "consecutiveErrors": 0, "avgTokensIn": 1000.0, "avgTokensOut": 200.0, "avgDurationS": 10.0}
    assert a["successRate"] == 0.8 and a["failureRate"] == 0.2
    assert a["costUsd"] == pytest.approx(1.0) and a["costPerSuccessUsd"] == pytest.approx(0.125)
    assert a["failuresByStatus"] == {"failure": 1, "rejected": 0, "selftest_failed": 1}
    # trust: firstPass 7/9 (T-3's success retried a failure), selfTestPass 8/9, 1 handoff rejection of 8
    # deliveries, 1 breaker trip in the window → 100 × (0.4·7/9 + 0.25·8/9 + 0.2·7/8 + 0.15·0.5)
    assert a["firstPassRate"] == round(7 / 9, 4) and a["selfTestPassRate"] == round(8 / 9, 4)
    assert a["handoffRejections"] == 1 and a["rejectionRate"] == 0.125 and a["breakerTrips"] == 1
    assert a["trustScore"] == round(100 * (0.4 * 7 / 9 + 0.25 * 8 / 9 + 0.2 * 7 / 8 + 0.15 * 0.5), 1) == 78.3
    assert a["topErrors"] == [{"type": "RateLimitError", "count": 1}, {"type": "SelfTestFailed", "count": 1}]

    seo = agent(r, "seo")
    assert (seo["runs"], seo["successes"], seo["costUsd"], seo["trustScore"]) == (20, 20, 40.0, 100.0)
    assert seo["breakerTrips"] == 0  # its trip alert is older than the window
    jack = agent(r, "jack")
    assert (jack["runs"], jack["successes"], jack["failures"], jack["consecutiveErrors"]) == (5, 2, 3, 3)
    assert jack["lastRunAt"] == "2026-11-26T10:00:00Z"  # the 13:00 run is after --now


def test_window_skipped_lines_and_totals(fleet: Path, coverage_stub: list) -> None:
    r = card(fleet)
    assert r["skippedLines"] == 2 and r["skippedByReason"]["torn"] == 2
    assert r["window"] == {"start": "2026-11-19T12:00:00Z", "end": NOW, "days": 7, "files": 8,
                           "bytes": r["window"]["bytes"]}
    t = r["totals"]
    # 10 alpha + 20 seo + 10 leo + 5 jack + 3 lost cron + 2 ghost + 1 built-in
    assert (t["runs"], t["skipped"], t["duplicates"], t["unpricedRuns"], t["builtinRuns"]) == (51, 1, 1, 1, 1)
    assert t["costUsd"] == pytest.approx(1.0 + 40 + 4 + 0.5 + 0.15 + 0.25)


def test_files_outside_the_window_are_not_opened(fleet: Path, coverage_stub: list) -> None:
    card(fleet)  # the 18th and 27th are folders: opening either would raise
    with pytest.raises(Exception, match="2026-11-27"):
        sc.build_scorecard(Workspace(fleet), days=7, now=datetime(2026, 11, 27, 1, tzinfo=UTC), pricer=list_price)
    seen = [p.name for p, _ in window_files(fleet / "logs" / "runs", datetime(2026, 11, 19, 12, tzinfo=UTC), END)]
    assert seen[0] == "2026-11-19.jsonl" and seen[-1] == "2026-11-26.jsonl" and len(seen) == 8


def test_downgrade_candidate_rule_and_saving(fleet: Path, coverage_stub: list) -> None:
    r = card(fleet)
    cands = {c["agent"]: c for c in r["downgradeCandidates"]}
    seo = cands["seo"]
    assert (seo["fromTier"], seo["toTier"], seo["toModel"], seo["confidence"]) == ("premium", "standard",
                                                                                  "claude-sonnet-4-6", "high")
    assert seo["evidence"]["kind"] == "same-role" and seo["evidence"]["agents"] == ["leo"]
    # $2.00 per run × (sonnet ÷ opus list price for 100k in / 20k out = 0.6) = $1.20; 20 runs / 7 days × 30
    assert seo["costPerRunUsd"] == 2.0 and seo["estimatedCostPerRunUsd"] == pytest.approx(1.2)
    assert seo["runsPerMonth"] == pytest.approx(85.7)
    assert seo["estimatedMonthlySavingUsd"] == pytest.approx(round(0.8 * 20 * 30 / 7, 2))  # $68.57 > 0
    # leo: structured role, no marketing run on economy yet → low confidence, one tier down
    assert cands["leo"]["toTier"] == "economy" and cands["leo"]["confidence"] == "low"
    assert "alpha" not in cands and "jack" not in cands  # below 95 % success
    assert "95%" in r["rules"]["downgrade"] and "same-role" in r["rules"]["downgrade"]


def test_downgrade_needs_evidence_for_unstructured_roles(fleet: Path, coverage_stub: list) -> None:
    (fleet / "agents" / "seo.yaml").write_text("name: seo\nteam: marketing\nrole: analysis\ntier: premium\n"
                                               "runtime: llm\nprompt: x\n")
    assert "seo" not in {c["agent"] for c in card(fleet)["downgradeCandidates"]}


def test_broken_upgrade_idle(fleet: Path, coverage_stub: list, monkeypatch: pytest.MonkeyPatch) -> None:
    # leo's breaker opened in the window and was still open at its end (breaker history)
    (fleet / "logs" / "breakers.jsonl").write_text(json.dumps(
        {"ts": "2026-11-25T09:00:00Z", "agent": "leo", "transition": "tripped", "state": "open"}) + "\n")
    r = card(fleet)
    broken = {b["agent"]: b for b in r["brokenAgents"]}
    assert broken["jack"]["reasons"] == ["3 consecutive errors at the end of the window",
                                         "failure rate 60% over 5 runs"]
    assert broken["leo"]["reasons"] == ["circuit breaker open at the end of the window"] and broken["leo"]["breakerOpen"]
    assert set(broken) == {"jack", "leo"}
    up = r["upgradeCandidates"]
    # jack's quality failures: 2 rejections of 5 runs (the rate limit does not count) → premium
    assert [(u["agent"], u["toTier"], u["qualityFailures"]) for u in up] == [("jack", "premium", 2)]
    assert r["idleAgents"] == [{"agent": "nova", "team": "research", "role": "research", "tier": "premium"}]


def test_unknown_bucket_and_cron_attribution(fleet: Path, coverage_stub: list) -> None:
    u = card(fleet)["unknown"]
    assert (u["runs"], u["costUsd"], u["unpricedRuns"], u["undefinedAgents"]) == (5, pytest.approx(0.4), 1, ["ghost"])
    assert u["sources"] == [
        {"job": "email-triage", "runs": 3, "skipped": 0, "costUsd": pytest.approx(0.15), "unpricedRuns": 0},
        {"label": "agent:ghost", "runs": 2, "skipped": 0, "costUsd": pytest.approx(0.25), "unpricedRuns": 1}]
    # 4 cron runs: the built-in one is attributed to its job, the 3 email-triage runs lost their agent
    assert (u["cronRuns"], u["cronUnattributed"], u["cronAttributionRate"]) == (4, 3, 0.25)


def test_cron_coverage_gaps(fleet: Path, coverage_stub: list) -> None:
    r = card(fleet)
    assert [c["job"] for c in r["cronCoverage"]] == ["email-triage"] and r["cronCoverageAvailable"]
    assert r["cronCoverage"][0]["missed"] == 4


def test_cron_coverage_failing_is_tolerated(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agentctl.cron.jobs
    from agentctl.errors import StateError

    def broken(*_a: object, **_k: object) -> None:
        raise StateError("state/cron is unreadable")

    monkeypatch.setattr(agentctl.cron.jobs, "coverage_from_runs", broken)
    r = card(fleet)
    assert r["cronCoverage"] == [] and not r["cronCoverageAvailable"]
    assert any("cron coverage unavailable" in n for n in r["notes"])


def test_tiers_and_models_side_by_side(fleet: Path, coverage_stub: list) -> None:
    r = card(fleet)
    tiers = {t["tier"]: t for t in r["tiers"]}
    assert tiers["premium"]["runs"] == 20 and tiers["premium"]["costPerSuccessUsd"] == 2.0
    # standard: alpha 10 + leo 10 + jack 5 + ghost 2
    assert tiers["standard"]["runs"] == 27 and tiers["standard"]["successes"] == 8 + 10 + 2 + 1
    assert tiers["standard"]["unpricedRuns"] == 1
    models = {m["model"]: m for m in r["models"]}
    assert models["claude-opus-4-6"]["avgTokensPerRun"] == 120_000.0
    assert models["claude-opus-4-6"]["costPerMTokUsd"] == pytest.approx(2.0 / 120_000 * 1e6, rel=1e-4)
    assert [t["tier"] for t in r["tiers"]][0] == "premium"  # the dearest per run first


def test_unpriced_runs_are_never_zero_dollars(minimal_ws: Path, coverage_stub: list) -> None:
    write_agent(minimal_ws, "loc", "name: loc\ntier: standard\nruntime: llm\nprompt: x\nmodel: llama-local\n")
    log = Log(minimal_ws)
    log.run("loc", "2026-11-25T10:00:00Z", cost=0.5, tier="standard", model="llama-local")
    log.run("loc", "2026-11-25T11:00:00Z", cost=None, tier="standard", model="llama-local")
    a = agent(card(minimal_ws), "loc")
    assert a["unpricedRuns"] == 1 and a["costUsd"] == 0.5
    assert a["costPerSuccessUsd"] == 0.5  # priced cost ÷ priced successes, not 0.5 / 2
    log.run("loc", "2026-11-25T12:00:00Z", "failure", cost=None, tier="standard", model="llama-local")
    r = card(minimal_ws)
    assert agent(r, "loc")["unpricedRuns"] == 2 and any("no price" in n for n in r["notes"])


def test_retries_across_files_and_within_a_file(minimal_ws: Path, coverage_stub: list) -> None:
    write_agent(minimal_ws, "rex", "name: rex\ntier: standard\nruntime: llm\nprompt: x\n")
    log = Log(minimal_ws)
    log.run("rex", "2026-11-20T10:00:00Z", "failure", task="A", error="X")   # A: first attempt fails
    log.run("rex", "2026-11-21T10:00:00Z", task="A")                        # retry (earlier file)
    log.run("rex", "2026-11-22T09:00:00Z", task="B")                        # B: success first...
    log.run("rex", "2026-11-22T10:00:00Z", "failure", task="B", error="X")  # ...then a failure (rework)
    log.run("rex", "2026-11-22T11:00:00Z", task="B")                        # retry (same file)
    log.run("rex", "2026-11-23T10:00:00Z")                                  # no task: its own attempt
    a = agent(card(minimal_ws), "rex")
    # first attempts: A-fail, B-success, B-fail (no failure before it), the task-less run = 4; 2 succeeded
    assert a["firstPassRate"] == 0.5 and a["runs"] == 6


def test_boundary_lines_with_other_json_layouts(minimal_ws: Path, coverage_stub: list) -> None:
    write_agent(minimal_ws, "rex", "name: rex\ntier: standard\nruntime: llm\nprompt: x\n")
    log = Log(minimal_ws)
    for at in ("2026-11-19T11:00:00Z", "2026-11-19T13:00:00Z", "2026-11-26T11:00:00Z", "2026-11-26T12:00:00Z"):
        rec = {"status": "success", "agent": "rex", "startedAt": at, "costUsd": 1.0, "tier": "standard"}
        log.raw(at[:10], json.dumps(rec) + "\n")  # spaces after separators, startedAt not first
    assert agent(card(minimal_ws), "rex")["runs"] == 2  # 19th 13:00 and 26th 11:00; 12:00 is the end


# --- rendering ------------------------------------------------------------------------------
def snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; rerun with UPDATE_SNAPSHOTS=1 and review"


def test_markdown_snapshot(fleet: Path, coverage_stub: list) -> None:
    snapshot("scorecard.md", render(card(fleet), "markdown"))


def test_html_snapshot_is_self_contained(fleet: Path, coverage_stub: list) -> None:
    page = render(card(fleet), "html")
    assert "<svg" in page and "<style>" in page and "http" not in page and "<script" not in page
    assert "src=" not in page and "@import" not in page
    snapshot("scorecard.html", page)


def test_table_render_mentions_every_section(fleet: Path, coverage_stub: list) -> None:
    text = render(card(fleet), "table", width=200)
    for word in ("Agents", "Model efficiency", "Broken agents", "Downgrade candidates", "Idle agents",
                 "Cron coverage gaps", "Unknown bucket", "alpha", "nova", "email-triage"):
        assert word in text
    assert "\x1b[" not in text  # no colour unless asked


def test_html_escapes_names(minimal_ws: Path, coverage_stub: list) -> None:
    log = Log(minimal_ws)
    log.run("<script>x</script>", "2026-11-25T10:00:00Z", tier="standard")
    page = render(card(minimal_ws), "html")
    assert "<script>" not in page and "&lt;script&gt;" in page


# --- CLI and script ---------------------------------------------------------------------------
SPEC_KEYS = {"window", "agents", "tiers", "downgradeCandidates", "brokenAgents", "idleAgents", "cronCoverage",
             "unknown", "skippedLines"}
AGENT_KEYS = {"agent", "team", "tier", "runs", "successes", "failures", "successRate", "failureRate",
              "consecutiveErrors", "avgTokensIn", "avgTokensOut", "avgDurationS", "costUsd", "costPerSuccessUsd",
              "trustScore"}


def test_cli_json_keys(fleet: Path, coverage_stub: list) -> None:
    res = Cli(fleet)("scorecard", "--days", "7", "--now", NOW, "--format", "json")
    assert res.exit_code == 0, res.stderr
    data = res.json()
    assert SPEC_KEYS <= set(data) and "trustFormula" in data
    assert all(AGENT_KEYS <= set(a) for a in data["agents"]) and {"runs", "costUsd", "sources"} <= set(data["unknown"])
    assert data["skippedLines"] == 2 and sum(data["skippedByReason"].values()) == 2
    assert Cli(fleet)("scorecard", "--days", "7", "--now", NOW, "--json").json() == data


def test_cli_output_file_and_formats(fleet: Path, coverage_stub: list, tmp_path: Path) -> None:
    cli = Cli(fleet)
    out = tmp_path / "week.md"
    res = cli("scorecard", "--days", "7", "--now", NOW, "-f", "markdown", "-o", str(out))
    assert res.exit_code == 0 and res.stdout == ""
    assert out.read_text().startswith("# Agent scorecard — last 7 days")
    assert cli("scorecard", "--now", NOW, "-f", "markdown").stdout == out.read_text()
    assert cli("scorecard", "--now", NOW, "-f", "html").stdout.startswith("<!doctype html>")
    assert "Agents" in cli("scorecard", "--now", NOW).stdout
    bad = cli("scorecard", "--days", "0")
    assert bad.exit_code == 2
    assert cli("scorecard", "--now", "yesterday").exit_code == 2
    assert cli("scorecard", "-f", "pdf").exit_code == 2


def test_help_documents_trust_formula_and_rules(fleet: Path) -> None:
    text = Cli(fleet)("scorecard", "--help").stdout
    assert "Trust score" in text and "0.40 firstPass" in text and "Downgrade candidate" in text


def test_script_equals_cli(fleet: Path) -> None:
    script = [sys.executable, str(REPO / "scripts" / "agent-scorecard.py")]
    args = ["--days", "7", "--format", "json", "--now", NOW]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}
    via_cli = run_installed("-w", str(fleet), "scorecard", *args)
    assert via_cli.exit_code == 0, via_cli.stderr
    for argv, cwd in ((["-w", str(fleet), "generate", *args], REPO), (["generate", *args], fleet),
                      (["generate", "-w", str(fleet), *args], REPO)):
        proc = subprocess.run(script + argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == json.loads(via_cli.stdout)


def test_script_from_repo_root_uses_the_studio_workspace() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}
    proc = subprocess.run([sys.executable, "scripts/agent-scorecard.py", "generate", "--days", "7", "--format", "json",
                           "--now", NOW], cwd=REPO, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "seo" in {a["agent"] for a in json.loads(proc.stdout)["idleAgents"]} | {
        a["agent"] for a in json.loads(proc.stdout)["agents"]}


def test_cron_builtin_writes_a_report(fleet: Path, coverage_stub: list) -> None:
    assert sc.run_cron_job(Workspace(fleet), now=END, args={"days": 7}) == 0
    assert (fleet / "reports" / "scorecard-2026-11-26.md").read_text().startswith("# Agent scorecard")
    with pytest.raises(Exception, match="outside the workspace"):
        sc.run_cron_job(Workspace(fleet), now=END, args={"output": "../escape.md"})


def test_a_run_started_in_the_current_second_is_in_the_window(minimal_ws) -> None:
    from datetime import UTC, datetime

    from agentctl.core.records import RunRecord
    from agentctl.scorecard.build import build_scorecard
    from agentctl.workspace.loader import Workspace

    ws = Workspace(minimal_ws)
    ws.storage.runlog.append(RunRecord(runId="r-now", startedAt="2026-11-26T12:00:00.200Z",
                                       endedAt="2026-11-26T12:00:00.300Z", agent="ghost", status="success"))
    moment = datetime(2026, 11, 26, 12, 0, 0, 500_000, tzinfo=UTC)  # a clock reading, later in the same second
    assert build_scorecard(ws, days=1, now=moment)["unknown"]["runs"] == 1
    whole = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)  # a whole-second --now stays exclusive
    assert build_scorecard(ws, days=1, now=whole)["unknown"]["runs"] == 0


def test_list_prices_come_from_the_rate_cache_after_the_first_scorecard(fleet: Path) -> None:
    """The downgrade estimates price models with genai-prices' tables once a day; later scorecards
    (a cron job, a dashboard) read the rates from the seam's cache and never load the tables."""
    code = ("import sys\nfrom agentctl.cli.main import app\n"
            "try:\n    app(['-w', sys.argv[1], 'scorecard', '--json', '--now', '2026-11-26T12:00:00Z'])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('\\nLOADED:' + ','.join(m for m in ('genai_prices.data',) if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}

    def scorecard() -> tuple[dict, str]:
        out = subprocess.run([sys.executable, "-c", code, str(fleet)], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        report, _, loaded = out.stdout.rpartition("\nLOADED:")
        return json.loads(report), loaded.strip()

    first, loaded = scorecard()
    assert loaded == "genai_prices.data"
    assert any(c["pricing"] == "genai-prices list-price ratio" for c in first["downgradeCandidates"])
    again, loaded = scorecard()
    assert loaded == ""
    assert again["downgradeCandidates"] == first["downgradeCandidates"]
