"""Cron (SPEC §8): slots in a job's tz, one run per slot, overlap lock, catch-up, coverage,
and the crontab block (a tab file or a fake `crontab` — never the user's real crontab)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Cli, run_installed, write_agent

from agentctl.core.clock import iso
from agentctl.core.config import CronJob
from agentctl.core.records import RunRecord
from agentctl.cron.crontab import cron_schedule, splice_block
from agentctl.cron.jobs import coverage, next_runs, run_job, slot_for, slots_between
from agentctl.workspace.loader import Workspace


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def set_cron(root: Path, jobs: str, extra: str = "") -> None:
    cfg = root / "agentctl.yaml"
    text = cfg.read_text(encoding="utf-8").replace("cron: []\n", "cron:\n" + textwrap.indent(textwrap.dedent(jobs), "  "))
    cfg.write_text(text + textwrap.dedent(extra), encoding="utf-8")


def records(root: Path) -> list[dict]:
    out = []
    for path in sorted((root / "logs" / "runs").glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def alerts(root: Path, kind: str = "disk_usage") -> list[dict]:
    """The alerts of one kind (the probe's disk alerts count its executions)."""
    path = root / "logs" / "alerts.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [a for a in lines if kind is None or a["kind"] == kind]


def fixed(t: datetime):
    return lambda: t


# A disk monitor whose threshold any disk exceeds: each execution leaves one alert line,
# so counting alert lines counts executions.
PROBE_JOB = """\
- name: probe
  schedule: "{schedule}"
  tz: {tz}
  builtin: disk
  args: {{threshold: 0.001}}
  catch_up: {catch_up}
"""


def probe_ws(root: Path, schedule: str = "0 * * * *", tz: str = "UTC", catch_up: str = "skip") -> Workspace:
    set_cron(root, PROBE_JOB.format(schedule=schedule, tz=tz, catch_up=catch_up))
    return Workspace(root)


# --- schedule math ---------------------------------------------------------------------------

def job(schedule: str, tz: str = "UTC", **kw) -> CronJob:
    return CronJob(name="j", schedule=schedule, tz=tz, builtin="disk", **kw)


def test_next_runs_follow_the_jobs_tz_across_dst() -> None:
    j = job("0 6 * * *", "Europe/Paris")
    got = [iso(t) for t in next_runs(j, at("2026-03-27T12:00:00Z"), 3)]
    # 6am Paris is 05:00Z in winter and 04:00Z from 29 March (summer time)
    assert got == ["2026-03-28T05:00:00Z", "2026-03-29T04:00:00Z", "2026-03-30T04:00:00Z"]


def test_dst_free_zone_keeps_one_utc_time_all_year() -> None:
    j = job("30 9 * * *", "Asia/Tokyo")
    slots = slots_between(j, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
    assert len(slots) == 365
    assert {iso(s)[11:] for s in slots} == {"00:30:00Z"}


def test_the_hour_repeated_when_dst_ends_does_not_run_a_fixed_time_job_twice() -> None:
    j = job("30 2 * * *", "Europe/Paris")                 # 02:30 happens twice on 25 Oct 2026
    slots = slots_between(j, at("2026-10-24T00:00:00Z"), at("2026-10-27T00:00:00Z"))
    assert [iso(s) for s in slots] == ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    assert iso(slot_for(j, at("2026-10-25T01:31:00Z"))) == "2026-10-25T00:30:00Z"   # the second 02:30: same slot
    hourly = job("30 * * * *", "Europe/Paris")           # an hourly job runs in both hours, an hour apart
    assert len(slots_between(hourly, at("2026-10-25T00:00:00Z"), at("2026-10-25T02:00:00Z"))) == 2


@pytest.mark.parametrize(("now", "slot"), [
    ("2026-11-26T06:00:00Z", "2026-11-26T06:00:00Z"),      # exactly on the slot: that slot
    ("2026-11-26T06:00:59.9Z", "2026-11-26T06:00:00Z"),
    ("2026-11-26T05:59:59Z", "2026-11-25T06:00:00Z"),      # just before: yesterday's
])
def test_slot_is_the_latest_scheduled_time_at_or_before_now(now: str, slot: str) -> None:
    assert iso(slot_for(job("0 6 * * *"), at(now))) == slot


def test_slot_in_a_zone_ahead_of_utc() -> None:
    j = job("0 6 * * 1-5", "Europe/Paris")
    assert iso(slot_for(j, at("2026-11-30T05:30:00Z"))) == "2026-11-30T05:00:00Z"   # Monday 06:30 Paris
    assert iso(slot_for(j, at("2026-11-30T04:30:00Z"))) == "2026-11-27T05:00:00Z"   # before → Friday's


# --- one run per slot ----------------------------------------------------------------------------

def test_second_run_in_the_same_slot_is_a_duplicate_not_a_second_execution(minimal_ws: Path) -> None:
    cli = Cli(minimal_ws)
    probe_ws(minimal_ws)
    env = {"AGENTCTL_NOW": "2026-11-26T10:00:05Z"}
    first = cli("cron", "run", "probe", "--scheduled", env=env)
    assert first.exit_code == 1, first.stderr          # the monitor found something: exit 1
    assert len(alerts(minimal_ws)) == 1
    second = cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:00:40Z"})
    assert second.exit_code == 0 and second.stdout == "" and second.stderr == ""
    assert len(alerts(minimal_ws)) == 1                # not executed again
    recs = records(minimal_ws)
    assert [r["status"] for r in recs] == ["failure", "duplicate"]
    for r in recs:
        assert r["job"] == "probe" and r["trigger"] == "cron" and r["agent"] is None
        assert r["idempotencyKey"] == "probe:2026-11-26T10:00:00Z"
    assert recs[0]["error"]["type"] == "FindingsRaised"
    third = cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T11:00:01Z"})
    assert third.exit_code == 1 and len(alerts(minimal_ws)) == 2     # the next slot runs


def test_success_is_silent_unless_verbose(minimal_ws: Path) -> None:
    set_cron(minimal_ws, """\
    - name: watch
      schedule: "*/5 * * * *"
      builtin: breakers
    """)
    cli = Cli(minimal_ws)
    quiet = cli("cron", "run", "watch", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    loud = cli("-v", "cron", "run", "watch", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:05:00Z"})
    assert loud.exit_code == 0 and "success for slot 2026-11-26T10:05:00Z" in loud.stderr
    as_json = cli("cron", "run", "watch", "--scheduled", "--json", env={"AGENTCTL_NOW": "2026-11-26T10:05:30Z"}).json()
    assert as_json["status"] == "duplicate" and as_json["exitCode"] == 0


def test_unknown_job_is_a_usage_error(minimal_ws: Path) -> None:
    res = Cli(minimal_ws)("cron", "run", "nope")
    assert res.exit_code == 2 and "unknown cron job 'nope'" in res.stderr


HOLD = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_a_job_still_running_is_not_started_twice(minimal_ws: Path) -> None:
    ws = probe_ws(minimal_ws)
    lock = minimal_ws / "state" / "cron-probe.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"     # another process is "running" the job
        now = at("2026-11-26T10:00:00Z")
        out = run_job(ws, "probe", now, fixed(now), scheduled=True)
        assert (out.status, out.exit_code) == ("skipped", 0)
        assert "still running" in out.message
        assert alerts(minimal_ws) == []                       # not executed
        rec = records(minimal_ws)[-1]
        assert rec["status"] == "skipped" and rec["error"]["type"] == "StillRunning" and rec["job"] == "probe"
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()
    now = at("2026-11-26T10:00:30Z")
    out = run_job(ws, "probe", now, fixed(now), scheduled=True)                # released: the slot runs now
    assert out.exit_code == 1 and len(alerts(minimal_ws)) == 1


# --- catch-up --------------------------------------------------------------------------------

def _keys(root: Path) -> list[tuple[str, str]]:
    return [(r["status"], r["idempotencyKey"]) for r in records(root)]


def test_catch_up_skip_records_missed_slots_and_runs_only_the_current(minimal_ws: Path) -> None:
    ws = probe_ws(minimal_ws, catch_up="skip")
    t0 = at("2026-11-26T10:00:30Z")
    run_job(ws, "probe", t0, fixed(t0), scheduled=True)
    t1 = at("2026-11-26T14:00:30Z")                      # 11:00, 12:00 and 13:00 were missed
    out = run_job(ws, "probe", t1, fixed(t1), scheduled=True)
    assert out.caught_up is None and len(alerts(minimal_ws)) == 2
    assert _keys(minimal_ws) == [("failure", "probe:2026-11-26T10:00:00Z"),
                                 ("skipped", "probe:2026-11-26T13:00:00Z"),
                                 ("failure", "probe:2026-11-26T14:00:00Z")]
    assert "missed 3 slot(s) from 2026-11-26T11:00:00Z to 2026-11-26T13:00:00Z" in records(minimal_ws)[1]["error"]["message"]
    cov = coverage(ws, at("2026-11-26T10:00:00Z"), at("2026-11-26T14:30:00Z"))[0]
    assert (cov["expected"], cov["ok"], cov["failed"], cov["missed"]) == (5, 0, 2, 3)   # a failed run covers nothing
    assert cov["missedSlots"] == ["2026-11-26T11:00:00Z", "2026-11-26T12:00:00Z", "2026-11-26T13:00:00Z"]
    t2 = at("2026-11-26T14:00:50Z")                      # nothing is reported missed twice
    run_job(ws, "probe", t2, fixed(t2), scheduled=True)
    assert [r["status"] for r in records(minimal_ws)][3:] == ["duplicate"]


def test_catch_up_once_runs_one_missed_slot_keyed_by_that_slot(minimal_ws: Path) -> None:
    ws = probe_ws(minimal_ws, catch_up="once")
    t0 = at("2026-11-26T10:00:30Z")
    run_job(ws, "probe", t0, fixed(t0), scheduled=True)
    t1 = at("2026-11-26T14:00:30Z")
    out = run_job(ws, "probe", t1, fixed(t1), scheduled=True)
    assert out.caught_up == "2026-11-26T13:00:00Z"
    assert len(alerts(minimal_ws)) == 3                  # 10:00, the caught-up 13:00, and 14:00
    assert _keys(minimal_ws) == [("failure", "probe:2026-11-26T10:00:00Z"),
                                 ("skipped", "probe:2026-11-26T12:00:00Z"),
                                 ("failure", "probe:2026-11-26T13:00:00Z"),
                                 ("failure", "probe:2026-11-26T14:00:00Z")]
    cov = coverage(ws, at("2026-11-26T10:00:00Z"), at("2026-11-26T14:30:00Z"))[0]
    assert cov["missedSlots"] == ["2026-11-26T11:00:00Z", "2026-11-26T12:00:00Z"]
    assert (cov["failed"], cov["ok"]) == (3, 0)


def test_first_run_ever_does_not_backfill_history(minimal_ws: Path) -> None:
    ws = probe_ws(minimal_ws, catch_up="once")
    t = at("2026-11-26T14:00:30Z")
    out = run_job(ws, "probe", t, fixed(t), scheduled=True)
    assert out.caught_up is None and len(records(minimal_ws)) == 1


# --- coverage ----------------------------------------------------------------------------------

def _rec(root: Path, job: str | None, started: str, status: str = "success", key: str | None = None,
         trigger: str = "cron") -> None:
    Workspace(root).storage.runlog.append(RunRecord(
        runId=f"r-{started}-{status}", startedAt=started, endedAt=started, agent=None, job=job,
        trigger=trigger, status=status, idempotencyKey=key))


def test_coverage_numbers_are_exact_for_a_fixture_run_log(minimal_ws: Path) -> None:
    set_cron(minimal_ws, """\
    - name: hourly
      schedule: "0 * * * *"
      builtin: breakers
    - name: daily
      schedule: "0 6 * * *"
      tz: Europe/Paris
      builtin: stale
    """)
    root = minimal_ws
    # window [2026-11-25T12:00Z, 2026-11-26T12:00Z): 24 hourly slots, one daily slot (05:00Z = 06:00 Paris)
    for h in range(12, 24):                                 # 12:00..23:00 on the 25th ran
        _rec(root, "hourly", f"2026-11-25T{h:02d}:00:02Z")
    _rec(root, "hourly", "2026-11-26T00:00:01Z", status="skipped")          # a skip does not cover
    _rec(root, "hourly", "2026-11-26T00:00:30Z", trigger="manual")          # nor does a manual run
    _rec(root, "hourly", "2026-11-26T02:10:00Z", key="hourly:2026-11-26T01:00:00Z")   # caught up 01:00 late
    _rec(root, "hourly", "2026-11-26T02:20:00Z", status="duplicate")        # a duplicate is no run: 02:00 missed
    for h in range(3, 11):                                  # 03:00..10:00 ran and failed
        _rec(root, "hourly", f"2026-11-26T{h:02d}:00:03Z", status="failure")
    _rec(root, "hourly", "2026-11-25T11:59:59Z")            # outside the window
    _rec(root, "other", "2026-11-26T04:00:00Z")             # another job
    _rec(root, None, "2026-11-26T04:00:00Z")                # a manual run of an agent
    # 11:00 has no record yet and the window ends 30 min after it: pending, not missed
    rows = {r["job"]: r for r in coverage(Workspace(root), at("2026-11-25T12:00:00Z"), at("2026-11-26T11:30:00Z"))}
    hourly = rows["hourly"]
    assert hourly["since"] == "2026-11-25T12:00:00Z"       # no cron state: its first scheduled run
    assert hourly["expected"] == 24
    assert {k: hourly[k] for k in ("ok", "failed", "skipped", "missed", "pending")} == \
        {"ok": 13, "failed": 8, "skipped": 1, "missed": 1, "pending": 1}
    assert hourly["recorded"] == 12 + 1 + 1 + 8             # duplicates and manual runs are not runs of a slot
    assert hourly["missedSlots"] == ["2026-11-26T02:00:00Z"]
    assert hourly["pendingSlots"] == ["2026-11-26T11:00:00Z"]
    assert hourly["failedSlots"][0] == "2026-11-26T03:00:00Z" and len(hourly["failedSlots"]) == 8
    assert hourly["byStatus"] == {"failure": 8, "skipped": 1, "success": 13}
    daily = rows["daily"]                                   # never installed, never ran: first seen now
    assert (daily["expected"], daily["recorded"], daily["missed"], daily["since"]) == (0, 0, 0, "2026-11-26T11:30:00Z")
    res = Cli(root)("cron", "coverage", "--days", "1", "--now", "2026-11-26T12:00:00Z", "--json")
    assert res.exit_code == 0
    data = res.json()
    assert data["window"] == {"start": "2026-11-25T12:00:00Z", "end": "2026-11-26T12:00:00Z", "days": 1.0}
    by_job = {r["job"]: r for r in data["jobs"]}
    assert by_job["hourly"]["missedSlots"] == ["2026-11-26T02:00:00Z", "2026-11-26T11:00:00Z"]
    assert by_job["daily"]["expected"] == 0 and by_job["daily"]["missedSlots"] == []   # 05:00Z is before since
    assert set(by_job["hourly"]) >= {"job", "schedule", "expected", "ok", "failed", "skipped", "missed", "pending"}
    table = Cli(root)("cron", "coverage", "--days", "1", "--now", "2026-11-26T12:00:00Z")
    assert table.exit_code == 0 and "hourly missed: 2026-11-26T02:00:00Z" in table.stdout


def test_coverage_starts_at_install_not_at_the_window(minimal_ws: Path, tmp_path: Path) -> None:
    probe_ws(minimal_ws, schedule="* * * * *")
    cli = Cli(minimal_ws)
    env = _install_env(tmp_path / "tab", AGENTCTL_NOW="2026-11-26T10:00:30Z")
    assert cli("cron", "install", "--cron-tz", "UTC", env=env).exit_code == 0
    for minute in (1, 2, 4):                                # 10:03 never fired
        cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": f"2026-11-26T10:{minute:02d}:02Z"})
    cli("cron", "run", "probe", env={"AGENTCTL_NOW": "2026-11-26T10:03:10Z"})     # by hand: not a firing
    row = cli("cron", "coverage", "--days", "7", "--now", "2026-11-26T10:05:30Z", "--json").json()["jobs"][0]
    assert row["since"] == "2026-11-26T10:00:30Z"
    assert {k: row[k] for k in ("expected", "ok", "failed", "missed", "pending")} == \
        {"expected": 5, "ok": 0, "failed": 3, "missed": 1, "pending": 1}
    assert row["missedSlots"] == ["2026-11-26T10:03:00Z"]
    manual = [r for r in records(minimal_ws) if r["trigger"] == "manual"]
    assert len(manual) == 1 and manual[0]["idempotencyKey"] is None and manual[0]["job"] == "probe"


# --- cron list ---------------------------------------------------------------------------------

def test_cron_list_shows_next_runs_and_last_run(minimal_ws: Path) -> None:
    probe_ws(minimal_ws, schedule="0 6 * * 1-5", tz="Europe/Paris")
    cli = Cli(minimal_ws)
    env = {"AGENTCTL_NOW": "2026-11-27T05:30:00Z"}       # Friday 06:30 Paris
    rows = cli("cron", "list", "--json", env=env).json()
    assert rows[0]["next"] == ["2026-11-30T05:00:00Z", "2026-12-01T05:00:00Z", "2026-12-02T05:00:00Z"]
    assert rows[0]["nextLocal"][0] == "2026-11-30T06:00:00+01:00"
    assert rows[0]["builtin"] == "disk" and rows[0]["agent"] is None and rows[0]["lastRun"] is None
    cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": "2026-11-27T05:00:20Z"})
    last = cli("cron", "list", "--json", env=env).json()[0]["lastRun"]
    assert last["at"].startswith("2026-11-27T05:00:20")        # the clock runs on from the pinned now
    assert last["atLocal"].startswith("2026-11-27T06:00:20") and last["atLocal"].endswith("+01:00")
    assert {k: last[k] for k in ("slot", "status", "exitCode")} == {"slot": "2026-11-27T05:00:00Z",
                                                                    "status": "failure", "exitCode": 1}
    text = cli("cron", "list", env=env)
    assert text.exit_code == 0 and "builtin:disk" in text.stdout and "Europe/Paris" in text.stdout
    assert "NEXT (job tz)" in text.stdout and "LAST RUN (job tz)" in text.stdout
    assert "2026-11-30 06:00 +0100" in text.stdout and "2026-11-27 06:00 +0100 failure" in text.stdout


# --- agent jobs go through the runner -------------------------------------------------------------------

def test_agent_job_runs_through_the_runner_once_per_slot(minimal_ws: Path) -> None:
    marker = minimal_ws / "ran.txt"
    write_agent(minimal_ws, "pinger", textwrap.dedent(f"""\
        name: pinger
        team: ops
        role: ops
        runtime: command
        command: ["{sys.executable}", "-c", "open({str(marker)!r}, 'a').write('x')"]
    """))
    set_cron(minimal_ws, """\
    - name: ping
      schedule: "*/10 * * * *"
      agent: pinger
      prompt: say hi
    """)
    cli = Cli(minimal_ws)
    first = cli("cron", "run", "ping", "--scheduled", "--json", env={"AGENTCTL_NOW": "2026-11-26T10:00:01Z"})
    rec = records(minimal_ws)[-1]
    if rec.get("error") and rec["error"]["type"] == "RunnerUnavailable":
        pytest.skip("the agent runner has not landed yet")
    assert first.exit_code == 0, first.stderr
    assert rec["agent"] == "pinger" and rec["job"] == "ping" and rec["trigger"] == "cron"
    assert rec["idempotencyKey"] == "ping:2026-11-26T10:00:00Z"
    again = cli("cron", "run", "ping", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:00:30Z"})
    assert again.exit_code == 0
    assert marker.read_text() == "x"                      # executed once
    assert records(minimal_ws)[-1]["status"] == "duplicate"


# --- built-ins from other modules ------------------------------------------------------------------------

def test_builtin_whose_service_breaks_fails_with_an_attributed_record(minimal_ws: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "agentctl.learning.friction", None)      # the service cannot even be imported
    set_cron(minimal_ws, """\
    - name: rub
      schedule: "0 0 * * *"
      builtin: friction
    """)
    now = at("2026-11-26T00:00:10Z")
    out = run_job(Workspace(minimal_ws), "rub", now, fixed(now), scheduled=True)
    assert out.exit_code == 70  # a bug, not a finding
    rec = records(minimal_ws)[-1]
    assert rec["status"] == "failure" and rec["agent"] is None and rec["job"] == "rub"
    assert rec["error"]["type"] in ("ImportError", "ModuleNotFoundError")


def test_builtin_service_is_called_with_the_contract(minimal_ws: Path, monkeypatch) -> None:
    import types

    calls = []
    mod = types.ModuleType("agentctl.learning.learn")
    mod.run_cron_job = lambda ws, *, now, args: calls.append((ws.root, now, args)) or 0
    monkeypatch.setitem(sys.modules, "agentctl.learning.learn", mod)
    set_cron(minimal_ws, """\
    - name: nightly
      schedule: "0 23 * * *"
      tz: Europe/Paris
      builtin: learn
      args: {since: 24h}
    """)
    now = at("2026-11-26T22:00:05Z")
    out = run_job(Workspace(minimal_ws), "nightly", now, fixed(now), scheduled=True)
    assert out.exit_code == 0 and out.status == "success"
    assert calls == [(minimal_ws, now, {"since": "24h"})]


def test_scorecard_builtin_writes_its_report(minimal_ws: Path) -> None:
    pytest.importorskip("agentctl.scorecard.build")
    set_cron(minimal_ws, """\
    - name: weekly
      schedule: "0 17 * * 5"
      tz: Europe/Paris
      builtin: scorecard
      args: {days: 7, format: json, output: reports/weekly.json}
    """)
    res = Cli(minimal_ws)("cron", "run", "weekly", "--scheduled", env={"AGENTCTL_NOW": "2026-11-27T16:00:03Z"})
    assert res.exit_code == 0, res.stderr
    assert "agents" in json.loads((minimal_ws / "reports" / "weekly.json").read_text())
    rec = records(minimal_ws)[-1]
    assert (rec["status"], rec["job"], rec["agent"], rec["trigger"]) == ("success", "weekly", None, "cron")
    assert rec["idempotencyKey"] == "weekly:2026-11-27T16:00:00Z"


def test_bad_builtin_args_are_a_config_error(minimal_ws: Path) -> None:
    set_cron(minimal_ws, """\
    - name: disky
      schedule: "0 * * * *"
      builtin: disk
      args: {treshold: 80}
    """)
    res = Cli(minimal_ws)("cron", "run", "disky", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert res.exit_code == 78 and "treshold" in res.stderr
    assert records(minimal_ws)[-1]["error"]["type"] == "ConfigError"
    cfg = minimal_ws / "agentctl.yaml"                     # fixed within the slot: the rerun runs
    cfg.write_text(cfg.read_text().replace("treshold: 80", "threshold: 100"))
    res = Cli(minimal_ws)("cron", "run", "disky", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:00:50Z"})
    assert res.exit_code == 0 and records(minimal_ws)[-1]["status"] == "success"


def test_try_later_leaves_the_slot_open(minimal_ws: Path) -> None:
    from agentctl.breakers import breaker
    write_agent(minimal_ws, "pinger", textwrap.dedent(f"""\
        name: pinger
        runtime: command
        command: ["{sys.executable}", "-c", "pass"]
    """))
    set_cron(minimal_ws, """\
    - name: ping
      schedule: "0 * * * *"
      agent: pinger
    """)
    ws = Workspace(minimal_ws)
    t = at("2026-11-26T10:00:05Z")
    breaker.trip_breaker(ws, ws.agent("pinger"), "user:test", t)
    out = run_job(ws, "ping", t, fixed(t), scheduled=True)
    if out.records[-1].error and out.records[-1].error.type == "RunnerUnavailable":
        pytest.skip("the agent runner has not landed yet")
    assert (out.exit_code, out.status) == (75, "skipped")
    breaker.reset_breaker(ws, ws.agent("pinger"), "user:test", t)
    later = at("2026-11-26T10:00:40Z")
    out = run_job(ws, "ping", later, fixed(later), scheduled=True)
    assert (out.exit_code, out.status) == (0, "success")


# --- the crontab block -------------------------------------------------------------------------------

FOREIGN_HEAD = ("# my own jobs   \n"
                "MAILTO = \"ops@example.com\"\n"
                "*/5  *  * * *   /usr/local/bin/backup.sh   # keep me\n"
                "0 0 L * * weird-line-python-crontab-cannot-parse\n")
FOREIGN_TAIL = "CRON_TZ=America/New_York\n15 3 * * *\tfoo --bar\n\n# trailing comment\n"

TWO_JOBS = """\
- name: disk-check
  schedule: "0 9,21 * * *"
  builtin: disk
- name: brief
  schedule: "0 6 * * 1-5"
  tz: Europe/Paris
  builtin: stale
"""


def _install_env(tab: Path, **extra: str) -> dict[str, str]:
    return {"AGENTCTL_CRONTAB_FILE": str(tab), "AGENTCTL_NOW": "2026-11-26T10:00:00Z", **extra}


def test_install_is_idempotent_and_uninstall_restores_foreign_lines_byte_for_byte(minimal_ws: Path,
                                                                                  tmp_path: Path) -> None:
    set_cron(minimal_ws, TWO_JOBS)
    tab = tmp_path / "crontab.txt"
    original = FOREIGN_HEAD + FOREIGN_TAIL
    tab.write_bytes(original.encode())
    cli = Cli(minimal_ws)
    env = _install_env(tab)
    first = cli("cron", "install", "--cron-tz", "UTC", "--json", env=env)
    assert first.exit_code == 0, first.stderr
    assert first.json()["changed"] is True
    installed = tab.read_text()
    assert installed.startswith(original)                 # foreign lines untouched, block appended
    block = installed[len(original):]
    assert block.startswith(f"# BEGIN agentctl:{minimal_ws}\n") and block.endswith(f"# END agentctl:{minimal_ws}\n")
    assert (minimal_ws / "logs" / "cron").is_dir()        # `>> logs/cron/x.log` needs the folder
    second = cli("cron", "install", "--cron-tz", "UTC", "--json", env=env)
    assert second.json()["changed"] is False and tab.read_text() == installed
    # a block moved by the user into the middle is replaced in place; the lines around it stay
    tab.write_text(FOREIGN_HEAD + block + FOREIGN_TAIL)
    cli("cron", "install", "--cron-tz", "UTC", env=env)
    assert tab.read_text() == FOREIGN_HEAD + block + FOREIGN_TAIL
    gone = cli("cron", "uninstall", "--json", env=env)
    assert gone.exit_code == 0 and gone.json()["removedLines"] == block.count("\n")
    assert tab.read_bytes() == original.encode()
    again = cli("cron", "uninstall", env=env)
    assert again.exit_code == 0 and "nothing to remove" in again.stdout and tab.read_bytes() == original.encode()


def test_installed_entries_read_back_through_python_crontab(minimal_ws: Path, tmp_path: Path) -> None:
    from crontab import CronTab

    set_cron(minimal_ws, TWO_JOBS)
    tab = tmp_path / "tab"
    res = Cli(minimal_ws)("cron", "install", "--cron-tz", "UTC", "--json", env=_install_env(tab))
    entries = {e["job"]: e for e in res.json()["entries"]}
    assert entries["disk-check"]["cronSchedule"] == "0 9,21 * * *" and entries["disk-check"]["exact"] is True
    # 6am Paris is 05:00 or 04:00 in UTC: fire at both, `cron run --scheduled` runs the slot once
    assert entries["brief"]["cronSchedule"] == "0 4,5 * * 1-5" and entries["brief"]["exact"] is False
    items = {i.comment: i for i in CronTab(tabfile=str(tab))}
    item = items[f"agentctl:{minimal_ws}:brief"]
    assert item.is_valid() and str(item.slices) == "0 4,5 * * 1-5"
    assert item.command.endswith(f"-m agentctl -w {minimal_ws} cron run brief --scheduled --log")
    assert ">>" not in item.command                          # agentctl opens its own log
    assert item.command.startswith(f"PATH={Path(sys.executable).parent}:")
    # no line of ours sets a variable for the whole table (it would leak into the lines after it)
    for line in tab.read_text().splitlines():
        assert line.startswith("#") or line.split()[0][0].isdigit() or line.split()[0] == "*"


def test_cron_schedule_conversion_table() -> None:
    now = at("2026-11-26T10:00:00Z")
    from zoneinfo import ZoneInfo

    utc, paris, kolkata = ZoneInfo("UTC"), ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Kolkata")
    assert cron_schedule(job("0 6 * * 1-5", "Europe/Paris"), paris, now) == ("0 6 * * 1-5", True)
    assert cron_schedule(job("0 6 * * 1-5", "Europe/Berlin"), paris, now) == ("0 6 * * 1-5", True)
    assert cron_schedule(job("30 9 * * *", "Asia/Kolkata"), utc, now) == ("0 4 * * *", False)    # fixed +05:30
    assert cron_schedule(job("0 9 * * *", "UTC"), kolkata, now) == ("30 14 * * *", False)
    # crossing midnight moves the day: the day fields widen to every day
    assert cron_schedule(job("0 0 * * 1", "Europe/Paris"), utc, now) == ("0 22,23 * * *", False)
    assert cron_schedule(job("*/15 * * * *", "Europe/Paris"), utc, now) == ("0,15,30,45 * * * *", False)
    # 02:30 New York is skipped once a year (DST starts): that slot runs at 03:00 local, 07:00Z
    assert cron_schedule(job("30 2 * * *", "America/New_York"), utc, now) == ("0,30 6,7,8 * * *", False)
    # L, W and # are read by agentctl, not cron: every day, and --scheduled picks the real ones
    assert cron_schedule(job("0 9 L * *", "UTC"), utc, now) == ("0 9 * * *", False)
    assert cron_schedule(job("0 9 * * 1#2", "UTC"), utc, now) == ("0 9 * * *", False)


def test_scheduled_flag_skips_silently_once_the_slot_ran(minimal_ws: Path) -> None:
    probe_ws(minimal_ws, schedule="0 6 * * *", tz="Europe/Paris")
    cli = Cli(minimal_ws)
    assert cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T05:00:01Z"}).exit_code == 1
    later = cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T06:00:01Z"})
    assert (later.exit_code, later.stdout, later.stderr) == (0, "", "")
    assert [r["status"] for r in records(minimal_ws)] == ["failure"]      # no duplicate record for a probe firing


@pytest.mark.parametrize("bad", ["50%", "new\nline", "it's", 'say"hi'])
def test_workspace_path_that_cron_would_misread_is_refused(tmp_path: Path, bad: str) -> None:
    from agentctl.workspace.templates import init_workspace

    root = tmp_path / f"ws-{bad}"
    init_workspace(root, "minimal", force=False)
    set_cron(root, TWO_JOBS)
    tab = tmp_path / "tab"
    tab.write_text("1 1 * * * keep\n")
    res = Cli(root)("cron", "install", "--cron-tz", "UTC", env=_install_env(tab))
    assert res.exit_code == 78
    assert "workspace path" in res.stderr and "misread" in res.stderr
    assert tab.read_text() == "1 1 * * * keep\n"


def test_no_secret_reaches_the_crontab(minimal_ws: Path, tmp_path: Path) -> None:
    set_cron(minimal_ws, TWO_JOBS, extra="alerts:\n  webhook_env: HOOK_URL\n  dedupe_s: 60\n")
    tab = tmp_path / "tab"
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-api03-supersecretvalue000000", "HOOK_URL": "https://hooks.example/T0/SECRET9",
               "MY_TOKEN": "tok-0123456789abcdef"}
    res = Cli(minimal_ws)("cron", "install", "--cron-tz", "UTC", env=_install_env(tab, **secrets))
    assert res.exit_code == 0, res.stderr
    text = tab.read_text()
    for value in secrets.values():
        assert value not in text
    assert "HOOK_URL" not in text and "API_KEY" not in text


def test_dry_run_changes_nothing(minimal_ws: Path, tmp_path: Path) -> None:
    set_cron(minimal_ws, TWO_JOBS)
    tab = tmp_path / "tab"
    tab.write_text("1 1 * * * keep\n")
    res = Cli(minimal_ws)("cron", "install", "--dry-run", "--cron-tz", "UTC", env=_install_env(tab))
    assert res.exit_code == 0 and f"# BEGIN agentctl:{minimal_ws}" in res.stdout and "would change" in res.stderr
    assert tab.read_text() == "1 1 * * * keep\n"


def test_begin_without_end_is_refused_not_guessed(minimal_ws: Path, tmp_path: Path) -> None:
    text = f"1 1 * * * keep\n# BEGIN agentctl:{minimal_ws}\n2 2 * * * mine?\n"
    with pytest.raises(Exception, match="without its"):
        splice_block(text, minimal_ws, "")


def test_other_workspaces_blocks_are_left_alone(tmp_path: Path) -> None:
    a, b = Path("/srv/a"), Path("/srv/a-b")
    block_b = "# BEGIN agentctl:/srv/a-b\n0 1 * * * x # agentctl:/srv/a-b:job\n# END agentctl:/srv/a-b\n"
    text = "0 1 * * * y # agentctl:/srv/a/b:job\n" + block_b
    assert splice_block(text, a, "") == (text, 0)
    assert splice_block(text, b, "")[0] == "0 1 * * * y # agentctl:/srv/a/b:job\n"


FAKE_CRONTAB = """#!/bin/sh
# a stand-in for crontab(1): `-l` lists the store, `crontab FILE` replaces it
store="$FAKE_CRONTAB_STORE"
if [ "$1" = "-l" ]; then
  if [ -f "$store" ]; then cat "$store"; exit 0; fi
  echo "no crontab for $(id -un)" >&2; exit 1
fi
cp "$1" "$store"
"""


def test_user_crontab_through_a_fake_crontab_program(minimal_ws: Path, tmp_path: Path) -> None:
    set_cron(minimal_ws, TWO_JOBS)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "crontab"
    fake.write_text(FAKE_CRONTAB)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    store = tmp_path / "store"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_CRONTAB_STORE": str(store),
           "AGENTCTL_NOW": "2026-11-26T10:00:00Z"}
    res = run_installed("-w", str(minimal_ws), "cron", "install", "--cron-tz", "UTC", env=env)
    assert res.exit_code == 0, res.stderr
    assert "user crontab" in res.stdout and store.read_text().count(f"# agentctl:{minimal_ws}:") == 2
    store.write_text("0 0 * * * mine\n" + store.read_text())
    res = run_installed("-w", str(minimal_ws), "cron", "uninstall", env=env)
    assert res.exit_code == 0, res.stderr
    assert store.read_text() == "0 0 * * * mine\n"


def test_installed_command_runs_the_job(minimal_ws: Path, tmp_path: Path) -> None:
    """The command part of an installed line, run by sh as cron would, runs the job and logs to logs/cron."""
    probe_ws(minimal_ws)
    tab = tmp_path / "tab"
    res = Cli(minimal_ws)("cron", "install", "--cron-tz", "UTC", "--json", env=_install_env(tab))
    line = res.json()["entries"][0]["line"]
    command = line.split(" ", 5)[5].rsplit(" # agentctl:", 1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}
    env["AGENTCTL_NOW"] = "2026-11-26T10:00:00Z"
    proc = subprocess.run(["/bin/sh", "-c", command], env=env, timeout=60)
    assert proc.returncode == 1                               # the probe found something
    assert records(minimal_ws)[-1]["job"] == "probe"
    assert "failure for slot" in (minimal_ws / "logs" / "cron" / "probe.log").read_text()


def test_now_window_helpers_are_utc() -> None:
    j = job("0 * * * *")
    s = slots_between(j, at("2026-11-26T10:00:00Z"), at("2026-11-26T12:00:00Z"))
    assert [iso(x) for x in s] == ["2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"]
    assert all(x.utcoffset() == timedelta(0) for x in s)
    assert slot_for(j, datetime(2026, 11, 26, 10, 30, tzinfo=UTC)).hour == 10
