"""The learning loop (SPEC §9): signatures, memory/regressions.yaml, approve/retire, active rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentctl.core.clock import iso
from agentctl.core.records import Rejection, RuleResult, RunRecord, SelfTestReport
from agentctl.errors import StateError
from agentctl.learning import regressions as regs
from agentctl.learning.learn import load_ledger, normalise_message, run_learn
from agentctl.registry.service import NewTask, add_task
from agentctl.workspace.loader import Workspace

NOW = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def at(hours_ago: float) -> str:
    return iso(NOW - timedelta(hours=hours_ago))


_seq = iter(range(1, 10_000))


def add_run(ws: Workspace, *, agent: str, role: str | None, status: str, hours_ago: float, task: str | None = None,
            error: tuple[str, str] | None = None, **extra: object) -> RunRecord:
    n = next(_seq)
    rec = RunRecord(runId=f"run-{n:04d}-{hours_ago}", startedAt=at(hours_ago), endedAt=at(hours_ago - 0.01),
                    agent=agent, role=role, taskId=task, status=status,  # type: ignore[arg-type]
                    error={"type": error[0], "message": error[1]} if error else None, **extra)  # type: ignore[arg-type]
    ws.storage.runlog.append(rec)
    return rec


def add(ws: Workspace, task_id: str, agent: str, hours_ago: float = 30) -> None:
    add_task(ws, NewTask(title=f"task {task_id}", agent=agent, task_id=task_id), "user:test",
             NOW - timedelta(hours=hours_ago))


def reject(ws: Workspace, task_id: str, hours_ago: float, missing: list[str], by: str = "jack",
           summary: str | None = None) -> None:
    stamp = at(hours_ago)
    with ws.storage.registry.transaction(by, stamp) as tx:
        task = tx.find(task_id)
        rej = Rejection(at=stamp, stage="design", by=by, missing=missing, summary=summary)
        task.rejections.append(rej)
        task.status = "rejected"
        tx.log(task_id, "rejections", None, rej.model_dump(mode="json"))


def selftest(ws: Workspace, task_id: str, hours_ago: float, results: dict[str, bool], actor: str = "nico") -> None:
    stamp = at(hours_ago)
    report = SelfTestReport(at=stamp, ok=all(results.values()),
                            results=[RuleResult(name=n, ok=ok, outputTail="" if ok else f"FAILED test_{n} at line 42")
                                     for n, ok in results.items()])
    with ws.storage.registry.transaction(actor, stamp) as tx:
        task = tx.find(task_id)
        before = task.selfTest.model_dump(mode="json") if task.selfTest else None
        task.selfTest = report
        tx.log(task_id, "selfTest", before, report.model_dump(mode="json"))


def learn(ws: Workspace, now: datetime = NOW, since: timedelta = DAY, **kw: object) -> dict:
    return run_learn(ws, since, now, **kw)  # type: ignore[arg-type]


@pytest.fixture
def ws(studio_ws: Path) -> Workspace:
    return Workspace(studio_ws)


def reg_file(ws: Workspace) -> Path:
    return ws.root / "memory" / "regressions.yaml"


# --- signatures ---------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("task T-12 failed after 3 retries", "task PRD-042 failed after 17 retries"),
    ("cannot read /tmp/ws/artifacts/T-1/design.json", "cannot read /home/x/other/file.json"),
    ("wrote artifacts/T-1/code.json", "wrote artifacts/T-22/code.json"),
    ("see https://github.com/acme/app/pull/12", "see http://example.test/pr/9?x=1"),
    ("run 3f2a9c1e-1234-4abc-8def-0123456789ab timed out", "run 00000000-aaaa-4bbb-8ccc-dddddddddddd timed out"),
    ("commit 4e5f6a7b8c broke it", "commit deadbeef12 broke it"),
    ("at 2026-11-26T10:00:00Z: HTTP 429", "at 2026-11-27T23:59:59.120+02:00: HTTP 503"),
    ("missing responsive breakpoints for screens < 768px", "Missing responsive breakpoints for screens < 1024px."),
    ("request req_01HX3K9ZQ8YY failed", "request req_77JJ2M4PAA00 failed"),
])
def test_signature_strips_numbers_ids_paths_urls_and_times(a: str, b: str) -> None:
    assert normalise_message(a) == normalise_message(b)


@pytest.mark.parametrize(("a", "b"), [
    ("lint failed", "tests failed"),
    ("missing responsive breakpoints", "missing component specs"),
    ("and/or input", "and/or output"),
])
def test_signature_keeps_the_stable_words(a: str, b: str) -> None:
    assert normalise_message(a) != normalise_message(b)


def test_signature_never_keeps_a_secret() -> None:
    assert "sk-ant" not in normalise_message("auth failed for api_key=sk-ant-abcdefghijklmnop123")


# --- grouping ---------------------------------------------------------------------------

def test_failures_differing_only_in_numbers_ids_and_paths_become_one_entry(ws: Workspace) -> None:
    add_run(ws, agent="nico", role="code", status="failure", hours_ago=5, task="T-3",
            error=("BuildError", "build of T-3 failed: /tmp/a/b/main.py line 12"))
    add_run(ws, agent="nico", role="code", status="failure", hours_ago=2, task="T-9",
            error=("BuildError", "build of T-9 failed: /srv/x/y/app.py line 340"))
    add_run(ws, agent="nico", role="code", status="success", hours_ago=1)
    summary = learn(ws)
    doc = regs.load(ws)
    assert len(doc.regressions) == 1
    entry = doc.regressions[0]
    assert (entry.id, entry.count, entry.status, entry.agent, entry.role) == ("REG-001", 2, "candidate", "nico", "code")
    assert entry.signature == "nico: BuildError: build of <id> failed: <path> line <n>"
    assert entry.firstSeen == at(5) and entry.lastSeen == at(2)
    assert [e.source for e in entry.examples] == ["run", "run"]
    assert summary["newCandidates"][0]["id"] == "REG-001" and summary["counted"] == 2


def test_rejections_of_vivi_for_breakpoints_are_one_signature_with_a_rule(ws: Workspace) -> None:
    for i, hours in enumerate((20, 12, 3)):
        add(ws, f"T-{i + 1}", "vivi")
        reject(ws, f"T-{i + 1}", hours, ["responsiveBreakpoints"],
               summary=f"missing responsive breakpoints for screens < {768 + i}px")
    add(ws, "T-9", "vivi")
    reject(ws, "T-9", 40, ["responsiveBreakpoints"])  # outside the 24 h window
    learn(ws)
    [entry] = regs.load(ws).regressions
    assert entry.count == 3 and entry.agent == "vivi" and entry.role == "design"
    assert entry.signature == "vivi: rejected: missing responsive breakpoints"
    assert entry.rule.startswith("Before handing off design artifacts, include responsive breakpoints (seen 3×")
    assert "768" not in entry.signature
    assert len(entry.examples) == 3 and all(e.source == "rejection" for e in entry.examples)


def test_each_missing_field_and_each_failed_self_test_is_its_own_lesson(ws: Workspace) -> None:
    add(ws, "T-1", "vivi")
    reject(ws, "T-1", 3, ["responsiveBreakpoints", "componentSpecs"])
    add(ws, "T-2", "nico")
    selftest(ws, "T-2", 2, {"build passes": True, "tests pass": False, "lint clean": False})
    learn(ws)
    sigs = sorted(r.signature for r in regs.load(ws).regressions)
    assert sigs == ["nico: selftest_failed: self-test 'lint clean' failed",
                    "nico: selftest_failed: self-test 'tests pass' failed",
                    "vivi: rejected: missing component specs",
                    "vivi: rejected: missing responsive breakpoints"]
    rule = next(r.rule for r in regs.load(ws).regressions if "tests pass" in r.signature)
    assert "self-test 'tests pass' passes" in rule


def test_a_failed_run_and_the_task_report_it_wrote_are_counted_once(ws: Workspace) -> None:
    add(ws, "T-2", "nico")
    add_run(ws, agent="nico", role="code", status="selftest_failed", hours_ago=2, task="T-2",
            selfTest={"ok": False, "failed": ["tests pass"]})
    selftest(ws, "T-2", 2 - 0.005, {"tests pass": False})  # written by that run
    add(ws, "T-1", "vivi")
    add_run(ws, agent="vivi", role="design", status="rejected", hours_ago=4, task="T-1",
            rejection={"missing": ["responsiveBreakpoints"], "errors": 1})
    reject(ws, "T-1", 4 - 0.005, ["responsiveBreakpoints"], by="vivi")
    learn(ws)
    counts = {r.signature: r.count for r in regs.load(ws).regressions}
    assert counts == {"nico: selftest_failed: self-test 'tests pass' failed": 1,
                      "vivi: rejected: missing responsive breakpoints": 1}


def test_breaker_trips_are_learned_from_alerts(ws: Workspace) -> None:
    alerts = ws.root / "logs" / "alerts.jsonl"
    alerts.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"ts": at(h), "kind": "breaker_tripped", "severity": "warning", "source": "breaker",
              "message": f"breaker of jack open (3 failures within 60s); runs refused for {s}s, probe at {at(h - 0.1)}",
              "data": {"agent": "jack"}} for h, s in ((6, 300), (1, 600))]
    lines.append({"ts": at(1), "kind": "disk", "message": "disk 91%", "data": {}})
    alerts.write_text("".join(json.dumps(x) + "\n" for x in lines))
    learn(ws, alert=False)
    [entry] = regs.load(ws).regressions
    assert (entry.agent, entry.role, entry.count) == ("jack", "code", 2)
    assert entry.signature.startswith("jack: breaker_tripped: breaker of <agent> open")
    assert all(e.source == "breaker" for e in entry.examples)


# --- idempotency ------------------------------------------------------------------------------

def _seed(ws: Workspace) -> None:
    add(ws, "T-1", "vivi")
    reject(ws, "T-1", 10, ["responsiveBreakpoints"])
    add_run(ws, agent="jack", role="code", status="failure", hours_ago=3, error=("RateLimitError", "HTTP 429"))


def test_learning_twice_over_the_same_window_changes_nothing(ws: Workspace) -> None:
    _seed(ws)
    first = learn(ws)
    assert first["counted"] == 2
    reg_bytes, ledger_bytes = reg_file(ws).read_bytes(), (ws.root / "state" / "learn.json").read_bytes()
    again = learn(ws)
    assert again["counted"] == 0 and again["alreadyCounted"] == 2 and again["newCandidates"] == []
    assert reg_file(ws).read_bytes() == reg_bytes
    assert (ws.root / "state" / "learn.json").read_bytes() == ledger_bytes
    # an overlapping, wider window later on still counts nothing twice
    learn(ws, now=NOW + timedelta(hours=2), since=timedelta(hours=48))
    assert reg_file(ws).read_bytes() == reg_bytes


def test_a_recurrence_updates_count_last_seen_and_examples(ws: Workspace) -> None:
    _seed(ws)
    learn(ws)
    for i in range(4):
        add(ws, f"T-{10 + i}", "vivi", hours_ago=1)
        reject(ws, f"T-{10 + i}", -1 - i, ["responsiveBreakpoints"])
    summary = learn(ws, now=NOW + timedelta(hours=6))
    entry = next(r for r in regs.load(ws).regressions if r.agent == "vivi")
    assert entry.count == 5 and entry.lastSeen == at(-4) and entry.firstSeen == at(10)
    assert [e.ref for e in entry.examples] == ["T-11", "T-12", "T-13"]  # the latest three
    assert summary["recurring"] == [{**summary["recurring"][0], "id": entry.id, "added": 4, "count": 5}]
    assert summary["newCandidates"] == []


def test_the_rule_text_a_human_edited_is_kept_when_the_failure_recurs(ws: Workspace) -> None:
    _seed(ws)
    learn(ws)
    with regs.transaction(ws) as doc:
        doc.regressions[0].rule = "Always specify breakpoints at 375, 768 and 1280 px."
    add(ws, "T-20", "vivi", hours_ago=1)
    reject(ws, "T-20", -1, ["responsiveBreakpoints"])
    learn(ws, now=NOW + timedelta(hours=3))
    assert regs.load(ws).regressions[0].rule == "Always specify breakpoints at 375, 768 and 1280 px."
    assert regs.load(ws).regressions[0].count == 2


def test_old_ledger_keys_are_pruned_and_older_occurrences_ignored(ws: Workspace) -> None:
    _seed(ws)
    learn(ws)
    later = NOW + timedelta(days=120)
    learn(ws, now=later, since=timedelta(days=365))
    ledger = load_ledger(ws)
    assert ledger.seen == {} and ledger.horizon == iso(later - timedelta(days=90))
    before = reg_file(ws).read_bytes()
    learn(ws, now=later, since=timedelta(days=365))
    assert reg_file(ws).read_bytes() == before


# --- summary, alerts, cron's view --------------------------------------------------------------

def test_summary_file_and_alert_for_new_candidates(ws: Workspace) -> None:
    _seed(ws)
    summary = learn(ws)
    text = (ws.root / summary["summaryFile"]).read_text()
    assert summary["summaryFile"] == "logs/learn/2026-11-27.md"
    assert "## New candidates (2)" in text and "REG-001" in text and "agentctl regressions approve" in text
    alerts = [json.loads(x) for x in (ws.root / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["regression_candidates"]
    assert alerts[0]["data"]["ids"] == ["REG-001", "REG-002"] and alerts[0]["source"] == "learn"
    learn(ws)  # nothing new: no second alert
    assert len((ws.root / "logs" / "alerts.jsonl").read_text().splitlines()) == 1


def test_learn_on_an_empty_workspace_is_quiet(ws: Workspace) -> None:
    summary = learn(ws)
    assert summary["counted"] == 0 and summary["newCandidates"] == [] and summary["friction"] == 0
    assert not reg_file(ws).exists() and not (ws.root / "logs" / "alerts.jsonl").exists()
    assert regs.active_rules(ws, "code", "nico") == []


# --- rule drafting ---------------------------------------------------------------------------

def test_a_drafter_writes_the_rule_and_a_failing_one_falls_back(ws: Workspace) -> None:
    _seed(ws)
    prompts: list[str] = []

    def drafter(prompt: str) -> str:
        prompts.append(prompt)
        return '  "Always include responsive breakpoints."\n'

    learn(ws, drafter=drafter)
    rules = {r.agent: r.rule for r in regs.load(ws).regressions}
    assert rules["vivi"] == "Always include responsive breakpoints."
    assert "vivi" in prompts[0] and "rejected" in prompts[0]


def test_a_failing_drafter_falls_back_to_the_template(ws: Workspace) -> None:
    _seed(ws)

    def broken(prompt: str) -> str:
        raise ConnectionError("down")

    summary = learn(ws, drafter=broken)
    assert summary["ruleDrafting"] == "template (model failed: ConnectionError)"
    assert regs.load(ws).regressions[0].rule.startswith("Before handing off design artifacts")


def test_the_learning_tier_drafts_through_the_provider(ws: Workspace) -> None:
    from agentctl.demo.server import ModelServer, Reply

    _seed(ws)
    cfg = ws.config_path.read_text()
    with ModelServer([Reply(text="Include responsive breakpoints for every screen."),
                      Reply(text="Back off when rate limited.")], use_default=False) as srv:
        drafting = f"  drafting: {{provider: anthropic, model: claude-haiku-4-5, base_url: '{srv.base_url}'}}\n"
        ws.config_path.write_text(cfg.replace("tiers:\n", "tiers:\n" + drafting, 1) + "\nlearning: drafting\n")
        summary = learn(Workspace(ws.root))
        assert summary["ruleDrafting"] == "model (drafting: claude-haiku-4-5)"
        assert "agentctl-agent" not in srv.requests[0].text and "vivi" in srv.requests[0].text
    rules = {r.agent: r.rule for r in regs.load(ws).regressions}
    assert rules == {"vivi": "Include responsive breakpoints for every screen.", "jack": "Back off when rate limited."}


def test_without_a_reachable_learning_tier_the_text_is_deterministic(ws: Workspace) -> None:
    from agentctl.learning.learn import model_drafter

    assert model_drafter(ws)[1] == "template"
    text = ws.config_path.read_text() + "\nlearning: premium\n"
    ws.config_path.write_text(text)
    drafter, note = model_drafter(Workspace(ws.root), env={})
    assert drafter is None and "ANTHROPIC_API_KEY" in note


# --- approve / retire / active rules -------------------------------------------------------

def test_candidate_approve_active_rules_retire(ws: Workspace, studio_cli) -> None:
    _seed(ws)
    learn(ws, alert=False)
    vivi = next(r for r in regs.load(ws).regressions if r.agent == "vivi")
    assert regs.active_rules(ws, "design", "vivi") == []  # a candidate is not a rule yet
    res = studio_cli("regressions", "approve", vivi.id, "--by", "alice")
    assert res.exit_code == 0, res.stderr
    assert "role design" in res.stdout
    entry = regs.load(ws).find(vivi.id)
    assert entry.status == "active" and entry.approvedBy == "alice" and entry.approvedAt
    assert regs.active_rules(ws, "design", "vivi") == [vivi.rule]
    assert regs.active_rules(ws, "design", "other-designer") == [vivi.rule]  # same role
    assert regs.active_rules(ws, "code", "jack") == []
    assert regs.active_rules(ws, "code", "vivi") == [vivi.rule]  # same agent
    res = studio_cli("regressions", "approve", vivi.id)
    assert res.exit_code == 0 and "already active" in res.stdout
    res = studio_cli("regressions", "retire", vivi.id, "--json")
    assert res.exit_code == 0 and res.json()["status"] == "retired" and res.json()["changed"] is True
    assert regs.active_rules(ws, "design", "vivi") == []


def test_approve_can_reword_the_rule(ws: Workspace, studio_cli) -> None:
    _seed(ws)
    learn(ws, alert=False)
    res = studio_cli("regressions", "approve", "REG-001", "--rule", "Ship breakpoints for 375/768/1280 px.", "--json")
    assert res.exit_code == 0 and res.json()["rule"] == "Ship breakpoints for 375/768/1280 px."
    assert regs.active_rules(ws, "design", "vivi") == ["Ship breakpoints for 375/768/1280 px."]


@pytest.mark.parametrize("argv", [["approve", "REG-001"], ["approve", "REG-001", "--by", "alice"],
                                  ["retire", "REG-001"], ["approve", "REG-999", "--by", "human"]])
def test_approval_is_refused_inside_an_agent_process(ws: Workspace, studio_cli, argv: list[str]) -> None:
    _seed(ws)
    learn(ws, alert=False)
    before = reg_file(ws).read_bytes()
    res = studio_cli("regressions", *argv, env={"AGENTCTL_AGENT": "vivi"})
    assert res.exit_code == 2
    assert "AGENTCTL_AGENT=vivi" in res.stderr and "human" in res.stderr
    assert reg_file(ws).read_bytes() == before


def test_list_show_and_unknown_ids(ws: Workspace, studio_cli) -> None:
    _seed(ws)
    learn(ws, alert=False)
    rows = studio_cli("regressions", "list", "--json").json()
    assert [r["id"] for r in rows] == ["REG-001", "REG-002"]
    assert {"id", "role", "agent", "signature", "rule", "count", "firstSeen", "lastSeen", "examples",
            "status"} <= set(rows[0])
    assert studio_cli("regressions", "list", "--status", "active", "--json").json() == []
    assert "REG-001" in studio_cli("regressions", "list").stdout
    shown = studio_cli("regressions", "show", "REG-002", "--json").json()
    assert shown["agent"] == "jack" and shown["signature"] == "jack: RateLimitError: http <n>"
    res = studio_cli("regressions", "show", "REG-404")
    assert res.exit_code == 2 and "REG-404" in res.stderr
    assert studio_cli("regressions", "list", "--status", "bogus").exit_code == 2
    assert studio_cli("regressions", "approve", "REG-404").exit_code == 2


# --- the file: strict, versioned, never overwritten when bad --------------------------------------

@pytest.mark.parametrize(("content", "needle"), [
    ("version: 1\nregressions: [\n", "regressions.yaml"),
    ("version: 1\nversion: 1\nregressions: []\n", "duplicate key"),
    ("version: 1\nregressions:\n  - {id: REG-001, signature: s, rule: r, count: many, firstSeen: a, lastSeen: b}\n",
     "regressions.0.count"),
    ("version: 1\nregressions: []\nsurprise: true\n", "unknown key"),
    ("- just\n- a list\n", "mapping"),
])
def test_a_corrupt_regressions_file_exits_74_naming_it_and_is_untouched(ws: Workspace, studio_cli, content: str,
                                                                          needle: str) -> None:
    _seed(ws)
    path = reg_file(ws)
    path.parent.mkdir(exist_ok=True)
    path.write_text(content)
    for argv in (["learn"], ["regressions", "list"], ["regressions", "approve", "REG-001"]):
        res = studio_cli(*argv, env={"AGENTCTL_NOW": iso(NOW)})
        assert res.exit_code == 74, (argv, res.stdout, res.stderr)
        assert "memory/regressions.yaml" in res.stderr and needle in res.stderr
        assert "Traceback" not in res.stderr
    assert path.read_text() == content
    with pytest.raises(StateError):
        regs.active_rules(ws, "design", "vivi")


def test_a_newer_format_version_is_refused(ws: Workspace, studio_cli) -> None:
    reg_file(ws).parent.mkdir(exist_ok=True)
    reg_file(ws).write_text("version: 2\nregressions: []\n")
    res = studio_cli("regressions", "list")
    assert res.exit_code == 74 and "newer" in res.stderr and "regressions.yaml" in res.stderr
    assert reg_file(ws).read_text() == "version: 2\nregressions: []\n"


def test_yaml_1_1_surprises_are_not_coerced(ws: Workspace) -> None:
    reg_file(ws).parent.mkdir(exist_ok=True)
    reg_file(ws).write_text("version: 1\nregressions:\n  - {id: REG-001, agent: NO, signature: s, rule: r, count: 1,"
                            " firstSeen: 2026-11-26, lastSeen: 2026-11-26, status: active}\n")
    doc = regs.load(ws)
    assert doc.regressions[0].agent == "NO" and doc.regressions[0].firstSeen == "2026-11-26"
    assert regs.active_rules(ws, "x", "NO") == ["r"]


def test_the_written_file_is_versioned_yaml_that_reads_back_strictly(ws: Workspace) -> None:
    _seed(ws)
    learn(ws, alert=False)
    text = reg_file(ws).read_text()
    assert text.startswith("# The regressions list") and "\nversion: 1\n" in text
    assert "run:" not in text and "rejection:" not in text  # the ledger of counted occurrences lives in state/learn.json
    doc = regs.load(ws)
    assert regs.dump(doc).decode() == text


def test_active_rules_follow_edits_of_the_file(ws: Workspace) -> None:
    _seed(ws)
    learn(ws, alert=False)
    regs.approve(ws, "REG-001", "alice", NOW)
    assert len(regs.active_rules(ws, "design", "vivi")) == 1
    regs.retire(ws, "REG-001", "alice", NOW)
    assert regs.active_rules(ws, "design", "vivi") == []


# --- the CLI ------------------------------------------------------------------------------------

def test_learn_cli_json_and_text(ws: Workspace, studio_cli) -> None:
    _seed(ws)
    res = studio_cli("learn", "--since", "24h", "--now", iso(NOW), "--json")
    assert res.exit_code == 0, res.stderr
    data = res.json()
    assert data["window"] == {"start": iso(NOW - DAY), "end": iso(NOW)}
    assert [c["id"] for c in data["newCandidates"]] == ["REG-001", "REG-002"]
    res = studio_cli("learn", "--now", iso(NOW))
    assert res.exit_code == 0 and "0 new occurrence(s)" in res.stdout
    assert studio_cli("learn", "--since", "yesterday").exit_code == 2


def test_learn_cli_in_an_installed_subprocess(ws: Workspace) -> None:
    from conftest import run_installed

    _seed(ws)
    res = run_installed("-w", str(ws.root), "learn", "--now", iso(NOW), "--json")
    assert res.exit_code == 0, res.stderr
    assert len(res.json()["newCandidates"]) == 2


def test_active_rules_see_a_hand_edit_and_survive_a_bad_cache(ws: Workspace) -> None:
    _seed(ws)
    learn(ws, alert=False)
    regs.approve(ws, "REG-001", "alice", NOW)
    cache = ws.storage.cache.path_for(regs.CACHE_KEY)  # the seam's cache store (files: one file per key)
    assert json.loads(cache.read_text())["value"]["active"][0]["agent"] == "vivi"
    path = reg_file(ws)
    rule = regs.load(ws).find("REG-001").rule
    path.write_text(path.read_text().replace(rule.split(" (")[0], "Hand-written rule", 1))
    assert regs.active_rules(ws, "design", "vivi")[0].startswith("Hand-written rule")
    assert json.loads(cache.read_text())["value"]["sha256"]  # rewritten for the new bytes
    cache.write_text("{not json")  # a corrupt entry: the rules are parsed again, still right
    assert regs.active_rules(ws, "design", "vivi")[0].startswith("Hand-written rule")


# --- concurrency: real processes -------------------------------------------------------------------

PROCS = 8


def _flipper(root: str, idx: int, barrier) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(Path(root))
    barrier.wait()
    reg_id = f"REG-{idx + 1:03d}"
    for k in range(6):
        regs.retire(ws, reg_id, f"user:p{idx}", NOW)
        regs.approve(ws, reg_id, f"user:p{idx}", NOW, rule=f"rule {idx}.{k}")


def test_concurrent_approvals_lose_nothing(ws: Workspace) -> None:
    """Checked once by hand: with `store.files.locked` a no-op, approvals and rule edits get lost."""
    import multiprocessing as mp

    for i in range(PROCS):
        add_run(ws, agent=f"agent-{i}", role="code", status="failure", hours_ago=2, error=(f"E{chr(65 + i)}", "x"))
    learn(ws, alert=False)
    assert len(regs.load(ws).regressions) == PROCS
    barrier = mp.Barrier(PROCS)
    procs = [mp.Process(target=_flipper, args=(str(ws.root), i, barrier)) for i in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    doc = regs.load(ws)
    assert {r.id: (r.status, r.rule) for r in doc.regressions} == {
        f"REG-{i + 1:03d}": ("active", f"rule {i}.5") for i in range(PROCS)}
    assert sorted(regs.active_rules(ws, "code", "x")) == sorted(f"rule {i}.5" for i in range(PROCS))
