"""Friction detection (SPEC §9): contradictions between agents, and no false alarm on a clean history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentctl.core.clock import iso
from agentctl.core.records import Rejection, RuleResult, SelfTestReport
from agentctl.learning.friction import find_friction, verdict
from agentctl.registry.service import NewTask, Update, add_task, block_task, claim_task, unblock_task, update_task
from agentctl.workspace.loader import Workspace

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def t(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


@pytest.fixture
def ws(studio_ws: Path) -> Workspace:
    return Workspace(studio_ws)


def add(ws: Workspace, task_id: str, agent: str, minutes_ago: float = 600, depends_on: list[str] | None = None) -> None:
    add_task(ws, NewTask(title=f"task {task_id}", agent=agent, task_id=task_id, depends_on=depends_on or []),
             "user:alice", t(minutes_ago))


def update(ws: Workspace, task_id: str, actor: str, minutes_ago: float, **kw: object) -> None:
    checks = [f"{k}={v}" for k, v in (kw.pop("checks", None) or {}).items()]  # type: ignore[union-attr]
    update_task(ws, task_id, Update(checks=checks, **kw), actor, t(minutes_ago))  # type: ignore[arg-type]


def selftest(ws: Workspace, task_id: str, actor: str, minutes_ago: float, ok: bool) -> None:
    stamp = iso(t(minutes_ago))
    report = SelfTestReport(at=stamp, ok=ok, results=[RuleResult(name="tests pass", ok=ok)])
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = tx.find(task_id)
        before = task.selfTest.model_dump(mode="json") if task.selfTest else None
        task.selfTest = report
        tx.log(task_id, "selfTest", before, report.model_dump(mode="json"))


def reject(ws: Workspace, task_id: str, by: str, minutes_ago: float, missing: list[str]) -> None:
    stamp = iso(t(minutes_ago))
    with ws.storage.registry.transaction(by, stamp) as tx:
        task = tx.find(task_id)
        task.rejections.append(Rejection(at=stamp, stage="review", by=by, missing=missing))
        before, task.status = task.status, "rejected"
        tx.log(task_id, "status", before, "rejected")


def friction(ws: Workspace, days: float = 1) -> list[dict]:
    return find_friction(ws, NOW - timedelta(days=days), NOW)


def only(findings: list[dict], kind: str) -> list[dict]:
    return [f for f in findings if f["kind"] == kind]


def test_verdict_spellings() -> None:
    assert [verdict(v) for v in ("approved", "Passed", "LGTM", True, "ok")] == ["approved"] * 5
    assert [verdict(v) for v in ("failed", "FAIL", "changes requested", False, "rejected")] == ["failed"] * 5
    assert [verdict(v) for v in (None, "pending", 3, "in review")] == [None] * 4


# --- a clean pipeline: many actors, no contradiction ----------------------------------------

def clean_history(ws: Workspace) -> None:
    add(ws, "T-1", "vivi")
    claim_task(ws, "T-1", "vivi", t(500))
    update(ws, "T-1", "vivi", 480, status="review")
    update(ws, "T-1", "user:alice", 470, status="done")  # a human gate closes it
    add(ws, "T-2", "jack", 460, depends_on=["T-1"])
    claim_task(ws, "T-2", "jack", t(450))
    block_task(ws, "T-2", "waiting for the API spec", [], "jack", t(440))
    unblock_task(ws, "T-2", "user:alice", t(430))  # an unblock is not a conflict
    update(ws, "T-2", "jack", 420, pr="https://git.example/acme/app/pull/7")
    selftest(ws, "T-2", "jack", 415, ok=True)
    update(ws, "T-2", "jack", 410, status="review")
    update(ws, "T-2", "kai", 400, checks={"codeReview": "changes_requested"})
    selftest(ws, "T-2", "jack", 380, ok=True)
    update(ws, "T-2", "kai", 370, checks={"codeReview": "approved"})  # the same reviewer changes its mind: normal
    update(ws, "T-2", "quinn", 360, checks={"qa": "passed"})
    update(ws, "T-2", "user:alice", 350, status="done")
    add(ws, "T-3", "nico", 300)
    claim_task(ws, "T-3", "nico", t(290))
    selftest(ws, "T-3", "nico", 280, ok=False)
    reject(ws, "T-3", "kai", 270, ["tests"])  # self-tests had failed: the rejection agrees
    update(ws, "T-3", "nico", 260, status="in_progress")
    update(ws, "T-3", "nico", 250, status="cancelled")
    add(ws, "T-4", "quinn", 200, depends_on=["T-2"])
    update(ws, "T-4", "quinn", 190, checks={"qa": "passed"})
    update(ws, "T-4", "user:alice", 180, phase="qa")
    update(ws, "T-4", "user:bob", 100, phase="launch")  # 80 minutes later: outside the 1 h conflict window
    add(ws, "T-5", "jack", 90)
    update(ws, "T-5", "jack", 80, status="done")
    update(ws, "T-5", "user:alice", 70, status="cancelled")  # cancelling a done task is not reopening it


def test_no_false_positive_on_a_clean_history(ws: Workspace) -> None:
    clean_history(ws)
    assert friction(ws) == []
    assert find_friction(ws, NOW - timedelta(days=30), NOW + timedelta(days=1)) == []


def test_qa_failing_after_the_review_withdrew_its_approval_is_no_contradiction(ws: Workspace) -> None:
    add(ws, "T-10", "jack")
    update(ws, "T-10", "kai", 90, checks={"codeReview": "approved"})
    update(ws, "T-10", "kai", 80, checks={"codeReview": "changes_requested"})
    update(ws, "T-10", "quinn", 70, checks={"qa": "failed"})
    assert friction(ws) == []


# --- (1) review approved what QA failed --------------------------------------------------------

def test_review_approved_what_qa_failed_along_the_chain(ws: Workspace) -> None:
    add(ws, "T-10", "jack")
    add(ws, "T-11", "kai", depends_on=["T-10"])
    add(ws, "T-12", "quinn", depends_on=["T-11"])
    update(ws, "T-11", "kai", 60, checks={"codeReview": "approved"})
    update(ws, "T-12", "quinn", 30, checks={"qa": "failed"})
    [f] = friction(ws)
    assert f["kind"] == "review_vs_qa" and f["taskId"] == "T-12" and f["tasks"] == ["T-11", "T-12"]
    assert f["agents"] == ["kai", "quinn"]
    assert [(e["actor"], e["change"], e["after"], e["ts"]) for e in f["evidence"]] == [
        ("kai", "checks.codeReview", "approved", iso(t(60))), ("quinn", "checks.qa", "failed", iso(t(30)))]
    assert "kai approved" in f["summary"] and "quinn then failed QA" in f["summary"]


def test_review_vs_qa_on_one_task_and_through_a_shared_pr(ws: Workspace) -> None:
    add(ws, "T-20", "jack")
    update(ws, "T-20", "kai", 90, checks={"codeReview": "approved"})
    update(ws, "T-20", "quinn", 80, checks={"qa": "failed"})
    add(ws, "T-21", "jack")
    add(ws, "T-22", "quinn")
    update(ws, "T-21", "jack", 70, pr="https://git.example/pull/9")
    update(ws, "T-22", "quinn", 70, pr="https://git.example/pull/9")
    update(ws, "T-21", "kai", 60, checks={"review": "lgtm"})
    update(ws, "T-22", "quinn", 50, checks={"qa": "fail"})
    found = {(f["taskId"], tuple(f["tasks"])) for f in only(friction(ws), "review_vs_qa")}
    assert found == {("T-20", ("T-20",)), ("T-22", ("T-21", "T-22"))}


def test_unrelated_chains_do_not_contradict(ws: Workspace) -> None:
    add(ws, "T-1", "pia")
    add(ws, "T-2", "kai", depends_on=["T-1"])  # feature A's review
    add(ws, "T-3", "quinn", depends_on=["T-1"])  # feature B's QA: a sibling, not downstream of T-2
    update(ws, "T-2", "kai", 60, checks={"codeReview": "approved"})
    update(ws, "T-3", "quinn", 30, checks={"qa": "failed"})
    assert friction(ws) == []


def test_review_vs_qa_from_the_registry_state_when_no_event_says_who(ws: Workspace) -> None:
    add(ws, "T-30", "jack")
    stamp = iso(t(20))
    with ws.storage.registry.transaction("import", stamp) as tx:  # changed without a checks event
        task = tx.find("T-30")
        task.checks = {"codeReview": "approved", "qa": "failed"}
        task.updatedAt = stamp
        tx.log("T-30", "import", None, "bulk")
    [f] = friction(ws)
    assert f["kind"] == "review_vs_qa" and f["taskId"] == "T-30" and f["agents"] == ["jack"]
    assert "no events" in f["summary"]


# --- (2) conflicting values ---------------------------------------------------------------------

def test_two_agents_setting_conflicting_values_within_the_window(ws: Workspace) -> None:
    add(ws, "T-40", "jack")
    update(ws, "T-40", "kai", 50, checks={"codeReview": "approved"})
    update(ws, "T-40", "nico", 30, checks={"codeReview": "changes_requested"})
    update(ws, "T-40", "jack", 45, pr="https://git.example/pull/1")
    update(ws, "T-40", "nico", 25, pr="https://git.example/pull/2")
    found = {f["field"]: f for f in only(friction(ws), "conflicting_values")}
    assert set(found) == {"checks.codeReview", "pr"}
    review = found["checks.codeReview"]
    assert review["taskId"] == "T-40" and review["agents"] == ["kai", "nico"]
    assert [(e["actor"], e["after"]) for e in review["evidence"]] == [("kai", "approved"), ("nico", "changes_requested")]
    assert found["pr"]["agents"] == ["jack", "nico"]


def test_conflicting_final_statuses(ws: Workspace) -> None:
    add(ws, "T-41", "nico")
    update(ws, "T-41", "nico", 40, status="failed")
    update(ws, "T-41", "user:alice", 35, status="done")
    [f] = friction(ws)
    assert f["kind"] == "conflicting_values" and f["field"] == "status" and f["agents"] == ["nico", "user:alice"]


def test_no_conflict_outside_the_window_or_by_one_actor(ws: Workspace) -> None:
    add(ws, "T-42", "jack")
    update(ws, "T-42", "kai", 300, checks={"codeReview": "approved"})
    update(ws, "T-42", "nico", 100, checks={"codeReview": "changes_requested"})  # > 1 h later
    update(ws, "T-42", "jack", 50, pr="https://git.example/pull/1")
    update(ws, "T-42", "jack", 40, pr="https://git.example/pull/2")  # the same actor
    assert friction(ws) == []
    wide = find_friction(ws, NOW - timedelta(days=1), NOW, conflict_window=timedelta(hours=4))
    assert [f["field"] for f in wide] == ["checks.codeReview"]


# --- (3) self-tests passed, consumer rejected ----------------------------------------------------

def test_selftests_passed_but_the_consumer_rejected(ws: Workspace) -> None:
    add(ws, "T-50", "nico")
    selftest(ws, "T-50", "nico", 40, ok=True)
    reject(ws, "T-50", "kai", 30, ["pr", "cleanBuild"])
    [f] = friction(ws)
    assert f["kind"] == "selftest_vs_rejection" and f["taskId"] == "T-50" and f["agents"] == ["nico", "kai"]
    assert [e["ts"] for e in f["evidence"]] == [iso(t(40)), iso(t(30))]
    assert f["evidence"][1]["missing"] == ["pr", "cleanBuild"]
    assert "nico's self-tests passed" in f["summary"] and "kai" in f["summary"]


def test_a_rejection_after_failed_selftests_or_an_earlier_rejection_is_no_friction(ws: Workspace) -> None:
    add(ws, "T-51", "nico")
    selftest(ws, "T-51", "nico", 50, ok=True)
    selftest(ws, "T-51", "nico", 45, ok=False)
    reject(ws, "T-51", "kai", 40, ["tests"])
    reject(ws, "T-51", "kai", 30, ["tests"])  # no self-test since the last rejection
    assert friction(ws) == []


def test_selftest_pass_seen_in_the_run_log(ws: Workspace) -> None:
    from agentctl.core.records import RunRecord

    add(ws, "T-52", "jack")
    ws.storage.runlog.append(RunRecord(runId="r1", startedAt=iso(t(61)), endedAt=iso(t(60)), agent="jack",
                                       taskId="T-52", status="success", selfTest={"ok": True, "failed": []}))
    reject(ws, "T-52", "kai", 10, ["pr"])
    [f] = friction(ws)
    assert f["kind"] == "selftest_vs_rejection" and f["agents"] == ["jack", "kai"]
    assert f["evidence"][0]["source"] == "run r1"


# --- (4) done, then reopened ----------------------------------------------------------------------

def test_done_then_reopened(ws: Workspace) -> None:
    add(ws, "T-60", "jack")
    update(ws, "T-60", "user:alice", 120, status="done")
    update(ws, "T-60", "quinn", 20, status="in_progress")
    add(ws, "T-61", "jack")
    update(ws, "T-61", "jack", 60, status="done")
    update(ws, "T-61", "user:alice", 50, status="cancelled")  # cancelling a done task is not reopening it
    [f] = friction(ws)
    assert f["kind"] == "reopened" and f["taskId"] == "T-60" and f["agents"] == ["user:alice", "quinn"]
    assert [(e["actor"], e["before"], e["after"]) for e in f["evidence"]] == [
        ("user:alice", "todo", "done"), ("quinn", "done", "in_progress")]


def test_only_events_in_the_window_are_reported(ws: Workspace) -> None:
    add(ws, "T-70", "jack", minutes_ago=3 * 1440)
    update(ws, "T-70", "user:alice", 2 * 1440 + 10, status="done")
    update(ws, "T-70", "quinn", 2 * 1440, status="in_progress")
    assert friction(ws, days=1) == []
    assert [f["kind"] for f in friction(ws, days=3)] == ["reopened"]


def test_archived_tasks_count(ws: Workspace) -> None:
    from agentctl.registry.service import archive_finished

    add(ws, "T-80", "nico")
    selftest(ws, "T-80", "nico", 40, ok=True)
    reject(ws, "T-80", "kai", 30, ["pr"])
    update(ws, "T-80", "nico", 25, status="in_progress")
    update(ws, "T-80", "user:alice", 20, status="done")
    archive_finished(ws, timedelta(0), "user:alice", NOW)
    assert not ws.storage.registry.load().tasks
    assert [f["kind"] for f in friction(ws)] == ["selftest_vs_rejection"]


# --- the CLI ---------------------------------------------------------------------------------------

def test_friction_cli_reports_and_exits_0(ws: Workspace, studio_cli) -> None:
    add(ws, "T-60", "jack")
    update(ws, "T-60", "user:alice", 120, status="done")
    update(ws, "T-60", "quinn", 20, status="in_progress")
    res = studio_cli("friction", "--days", "1", "--now", iso(NOW), "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["count"] == 1 and data["window"] == {"start": iso(NOW - timedelta(days=1)), "end": iso(NOW)}
    assert data["findings"][0]["agents"] == ["user:alice", "quinn"]
    res = studio_cli("friction", "--days", "1", "--now", iso(NOW))
    assert res.exit_code == 0 and "reopened  T-60  agents: user:alice, quinn" in res.stdout
    assert "quinn  T-60  status: 'done' → 'in_progress'" in res.stdout
    res = studio_cli("friction", "--days", "1", "--now", iso(NOW - timedelta(days=5)))
    assert res.exit_code == 0 and "no friction" in res.stdout
    assert studio_cli("friction", "--days", "0").exit_code == 2


def test_learn_counts_and_alerts_friction(ws: Workspace) -> None:
    from agentctl.learning.learn import run_learn

    add(ws, "T-60", "jack")
    update(ws, "T-60", "user:alice", 120, status="done")
    update(ws, "T-60", "quinn", 20, status="in_progress")
    summary = run_learn(ws, timedelta(hours=24), NOW)
    assert summary["friction"] == 1 and summary["alerts"] == ["friction"]
    alert = json.loads((ws.root / "logs" / "alerts.jsonl").read_text().splitlines()[-1])
    assert alert["kind"] == "friction" and "T-60" in alert["message"]
    assert "## Friction (1)" in (ws.root / summary["summaryFile"]).read_text()


def test_review_vs_qa_from_the_artifacts_the_pipeline_wrote(ws: Workspace) -> None:
    fixtures = Path(__file__).parent / "fixtures" / "artifacts"
    review = json.loads((fixtures / "review.valid.json").read_text())
    qa = json.loads((fixtures / "qa.valid.json").read_text())
    qa["certified"] = False
    qa["bugs"].append({"id": "BUG-9", "severity": "critical", "title": "Login loops on Safari"})
    add(ws, "T-90", "jack")
    add(ws, "T-91", "kai", depends_on=["T-90"])
    add(ws, "T-92", "quinn", depends_on=["T-91"])
    for task_id, name, data, actor, minutes in (("T-91", "review", review, "kai", 50), ("T-92", "qa", qa, "quinn", 20)):
        path = ws.root / "artifacts" / task_id / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        update(ws, task_id, actor, minutes, sets=[f"output=artifacts/{task_id}/{name}.json"])
    [f] = friction(ws)
    assert f["kind"] == "review_vs_qa" and f["taskId"] == "T-92" and f["agents"] == ["kai", "quinn"]
    assert [e["source"] for e in f["evidence"]] == ["artifacts/T-91/review.json", "artifacts/T-92/qa.json"]
    qa["certified"], qa["bugs"] = True, qa["bugs"][:2]  # QA certified after all: nothing to report
    (ws.root / "artifacts" / "T-92" / "qa.json").write_text(json.dumps(qa))
    assert friction(ws) == []


def test_the_runners_own_contract_check_is_not_a_consumer_rejection(ws: Workspace) -> None:
    from agentctl.core.records import RunRecord

    add(ws, "T-95", "vivi")
    selftest(ws, "T-95", "vivi", 90, ok=True)  # an earlier attempt passed its self-tests
    ws.storage.runlog.append(RunRecord(runId="r2", startedAt=iso(t(31)), endedAt=iso(t(29)), agent="vivi",
                                       taskId="T-95", status="rejected",
                                       rejection={"missing": ["responsiveBreakpoints"], "errors": 1}))
    reject(ws, "T-95", "design contract", 30, ["responsiveBreakpoints"])  # written by that run
    assert friction(ws) == []


def test_cron_builtins_call_learn_and_friction(ws: Workspace) -> None:
    from agentctl.core.config import CronJob
    from agentctl.cron.jobs import run_builtin

    add(ws, "T-60", "jack")
    update(ws, "T-60", "user:alice", 120, status="done")
    update(ws, "T-60", "quinn", 20, status="in_progress")
    job = CronJob(name="contradictions", schedule="0 7 * * *", builtin="friction", args={"days": 1})
    assert run_builtin(ws, job, NOW)[:2] == ("success", 0)
    alerts = [json.loads(x) for x in (ws.root / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert [(a["kind"], a["source"]) for a in alerts] == [("friction", "friction")]
    nightly = CronJob(name="nightly-extraction", schedule="0 23 * * *", builtin="learn")
    assert run_builtin(ws, nightly, NOW)[:2] == ("success", 0)
    assert (ws.root / "logs" / "learn" / "2026-11-27.md").exists()
    from agentctl.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        run_builtin(ws, CronJob(name="x", schedule="0 7 * * *", builtin="friction", args={"dayz": 1}), NOW)
