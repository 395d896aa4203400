"""Cron in the real world (issue 17, SPEC §8): env file, failure alerts, zones across DST,
one validator, honest coverage, the job's own log, housekeeping. Explicit clocks throughout."""

from __future__ import annotations

import hashlib
import os
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Cli, run_installed, write_agent
from test_cron import alerts, at, fixed, probe_ws, records, set_cron

from agentctl.core.config import CronJob
from agentctl.cron.jobs import is_due, run_job, slot_for
from agentctl.workspace.loader import Workspace

SECRET = "sk-ant-api03-envfilesecret0123456789"


@pytest.fixture(autouse=True)
def _restore_environ():
    """`run`/`cron run` load the env file into os.environ; in-process CLI calls must not leak it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def env_file(root: Path, text: str, mode: int = 0o600) -> Path:
    path = root / ".agentctl" / "env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


LLM_JOB = """\
- name: brief
  schedule: "0 7 * * *"
  agent: writer
  prompt: the morning brief
"""


def llm_agent(root: Path) -> None:
    write_agent(root, "writer", "name: writer\ntier: standard\n")


def job(schedule: str, tz: str = "UTC") -> CronJob:
    return CronJob(name="j", schedule=schedule, tz=tz, builtin="disk")


# --- the env file ---------------------------------------------------------------------------------

def test_env_file_must_be_private_to_its_owner(minimal_ws: Path) -> None:
    from agentctl.errors import ConfigError
    from agentctl.workspace.envfile import read_env_file

    path = env_file(minimal_ws, f"ANTHROPIC_API_KEY={SECRET}\n", mode=0o644)
    with pytest.raises(ConfigError, match="lets group or others") as err:
        read_env_file(path)
    assert err.value.exit_code == 78 and SECRET not in err.value.render()
    path.chmod(0o640)
    with pytest.raises(ConfigError):
        read_env_file(path)
    path.chmod(0o600)
    assert read_env_file(path) == {"ANTHROPIC_API_KEY": SECRET}
    if os.geteuid() == 0:
        os.chown(path, 65534, -1)                          # owned by someone else: refused
        with pytest.raises(ConfigError, match="owned by uid 65534"):
            read_env_file(path)


def test_env_file_is_dotenv_without_interpolation(minimal_ws: Path) -> None:
    from agentctl.workspace.envfile import read_env_file

    path = env_file(minimal_ws, textwrap.dedent("""\
        # comment
        export A_KEY="pa$$word${HOME}"
        B='single $quoted'
        BARE
        C=plain # trailing comment
    """))
    assert read_env_file(path) == {"A_KEY": "pa$$word${HOME}", "B": "single $quoted", "C": "plain"}


def test_missing_default_env_file_is_fine_but_a_named_one_is_a_config_error(minimal_ws: Path) -> None:
    from agentctl.workspace.envfile import workspace_env

    assert workspace_env(minimal_ws) == {}
    cfg = minimal_ws / "agentctl.yaml"
    cfg.write_text(cfg.read_text() + "env_file: secrets/cron.env\n")
    res = Cli(minimal_ws)("run", "nobody", "--prompt", "x")
    assert res.exit_code == 78 and "secrets/cron.env" in res.stderr and "not found" in res.stderr


def test_env_file_values_reach_the_agent_and_are_secrets_everywhere(minimal_ws: Path) -> None:
    marker = minimal_ws / "seen.txt"
    write_agent(minimal_ws, "echoer", textwrap.dedent(f"""\
        name: echoer
        runtime: command
        env: [DEMO_SECRET]
        command: ["{sys.executable}", "-c", "import os,sys,hashlib; v=os.environ['DEMO_SECRET']; open({str(marker)!r},'w').write(hashlib.sha256(v.encode()).hexdigest()); print('leak', v); sys.exit(1)"]
    """))
    set_cron(minimal_ws, "- name: echo\n  schedule: \"* * * * *\"\n  agent: echoer\n")
    value = "plain-looking-value-42"
    env_file(minimal_ws, f"DEMO_SECRET={value}\n")
    res = run_installed("-w", str(minimal_ws), "cron", "run", "echo", "--scheduled",
                        env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert res.exit_code == 1
    assert marker.read_text() == hashlib.sha256(value.encode()).hexdigest()     # the agent got it
    for path in [p for p in minimal_ws.rglob("*") if p.is_file() and ".agentctl" not in p.parts]:
        assert value not in path.read_text(errors="replace"), path                # nowhere else
    assert value not in res.stdout + res.stderr
    assert alerts(minimal_ws, "cron_job_failed")[0]["message"].count("[REDACTED]") >= 1


def test_shell_environment_wins_over_the_env_file(minimal_ws: Path) -> None:
    from agentctl.workspace.envfile import apply_env_file

    env_file(minimal_ws, "ONE=from-file\nTWO=from-file\n")
    environ = {"ONE": "from-shell"}
    assert apply_env_file(minimal_ws, environ) == ["TWO"]
    assert environ == {"ONE": "from-shell", "TWO": "from-file"}


# --- cron install: keys and PATH ------------------------------------------------------------------

def _install(root: Path, tab: Path, *extra: str) -> object:
    return Cli(root)("cron", "install", "--cron-tz", "UTC", *extra,
                     env={"AGENTCTL_CRONTAB_FILE": str(tab), "AGENTCTL_NOW": "2026-11-26T10:00:00Z"})


def test_install_refuses_a_job_whose_key_cron_would_not_have(minimal_ws: Path, tmp_path: Path) -> None:
    llm_agent(minimal_ws)
    set_cron(minimal_ws, LLM_JOB)
    tab = tmp_path / "tab"
    tab.write_text("1 1 * * * keep\n")
    os.environ["ANTHROPIC_API_KEY"] = SECRET            # the installing shell has it; cron will not
    res = _install(minimal_ws, tab)
    assert res.exit_code == 78
    assert "cron job brief: ANTHROPIC_API_KEY is in neither the env file nor the crontab's environment" in res.stderr
    assert tab.read_text() == "1 1 * * * keep\n"
    tab.write_text(f"ANTHROPIC_API_KEY={SECRET}\n1 1 * * * keep\n")        # the crontab's own environment
    assert _install(minimal_ws, tab).exit_code == 0
    tab.write_text("1 1 * * * keep\n")
    env_file(minimal_ws, f"ANTHROPIC_API_KEY={SECRET}\n")                    # or the env file
    res = _install(minimal_ws, tab)
    assert res.exit_code == 0, res.stderr
    assert SECRET not in tab.read_text() and "ANTHROPIC_API_KEY" not in tab.read_text()


def test_install_checks_the_fallbacks_keys_too(minimal_ws: Path, tmp_path: Path) -> None:
    cfg = minimal_ws / "agentctl.yaml"
    cfg.write_text(cfg.read_text().replace(
        "economy: {provider: anthropic, model: claude-haiku-4-5}",
        "economy: {provider: anthropic, model: claude-haiku-4-5, fallback: "
        "[{provider: openai, model: gpt-5-mini, api_key_env: MY_OPENAI_CRED}]}"))
    write_agent(minimal_ws, "writer", "name: writer\ntier: economy\n")
    set_cron(minimal_ws, LLM_JOB)
    env_file(minimal_ws, f"ANTHROPIC_API_KEY={SECRET}\n")
    res = _install(minimal_ws, tmp_path / "tab")
    assert res.exit_code == 78 and "MY_OPENAI_CRED" in res.stderr and "brief" in res.stderr


def test_install_prints_the_path_jobs_get_and_cron_path_sets_it(minimal_ws: Path, tmp_path: Path) -> None:
    probe_ws(minimal_ws)
    res = _install(minimal_ws, tmp_path / "tab")
    assert res.exit_code == 0
    assert f"jobs run with PATH={Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin" in res.stdout
    cfg = minimal_ws / "agentctl.yaml"
    cfg.write_text(cfg.read_text() + "cron_path: [/opt/tools/bin, /usr/bin, /bin]\n")
    res = _install(minimal_ws, tmp_path / "tab", "--json")
    assert res.json()["path"] == "/opt/tools/bin:/usr/bin:/bin"
    assert "PATH=/opt/tools/bin:/usr/bin:/bin " in (tmp_path / "tab").read_text()
    cfg.write_text(cfg.read_text().replace("[/opt/tools/bin, /usr/bin, /bin]", "relative/bin"))
    bad = _install(minimal_ws, tmp_path / "tab")
    assert bad.exit_code == 78 and "cron_path" in bad.stderr


def test_install_repairs_a_hand_edited_line(minimal_ws: Path, tmp_path: Path) -> None:
    probe_ws(minimal_ws)
    tab = tmp_path / "tab"
    assert _install(minimal_ws, tab).exit_code == 0
    good = tab.read_text()
    tab.write_text(good.replace("--scheduled --log", "--scheduled >> /nonexistent/x.log 2>&1"))
    res = _install(minimal_ws, tab)
    assert res.exit_code == 0 and res.stdout.startswith("installed") and tab.read_text() == good


# --- failures alert ---------------------------------------------------------------------------------

def _minute(i: int) -> datetime:
    return at(f"2026-11-26T10:{i:02d}:05Z")


def test_failing_job_alerts_first_every_nth_and_on_recovery(minimal_ws: Path) -> None:
    cfg = minimal_ws / "agentctl.yaml"
    cfg.write_text(cfg.read_text() + "alerts:\n  failure_every: 3\n")
    ws = probe_ws(minimal_ws, schedule="* * * * *")        # threshold 0.001%: fails at every slot
    for i in range(7):
        run_job(ws, "probe", _minute(i), fixed(_minute(i)), scheduled=True)
    failed = alerts(minimal_ws, "cron_job_failed")
    assert [a["data"]["consecutiveFailures"] for a in failed] == [1, 4, 7]
    assert failed[0]["source"] == "cron:probe" and "first failure" in failed[0]["message"]
    assert "4 consecutive failures since 2026-11-26T10:00:05Z" in failed[1]["message"]
    cfg.write_text(cfg.read_text().replace("threshold: 0.001", "threshold: 100"))
    ws = Workspace(minimal_ws)
    run_job(ws, "probe", _minute(8), fixed(_minute(8)), scheduled=True)
    run_job(ws, "probe", _minute(9), fixed(_minute(9)), scheduled=True)    # still fine: no new alert
    recovered = alerts(minimal_ws, "cron_job_recovered")
    assert len(recovered) == 1 and "recovered after 7 consecutive failure(s)" in recovered[0]["message"]


def test_a_config_error_under_cron_alerts_too(minimal_ws: Path) -> None:
    set_cron(minimal_ws, "- name: brief\n  schedule: \"* * * * *\"\n  agent: ghost\n")
    res = Cli(minimal_ws)("cron", "run", "brief", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert res.exit_code == 78 and "unknown agent 'ghost'" in res.stderr         # not 2
    rec = records(minimal_ws)[-1]
    assert (rec["job"], rec["status"], rec["error"]["type"]) == ("brief", "failure", "ConfigError")
    assert len(alerts(minimal_ws, "cron_job_failed")) == 1
    (minimal_ws / "agentctl.yaml").write_text("tiers: [broken\n")              # the whole config broken
    res = Cli(minimal_ws)("cron", "run", "brief", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:01:00Z"})
    assert res.exit_code == 78
    assert Workspace(minimal_ws).storage.cron.get("brief")["consecutiveFailures"] == 2


def test_a_missing_key_under_cron_fails_and_alerts(minimal_ws: Path) -> None:
    llm_agent(minimal_ws)
    set_cron(minimal_ws, LLM_JOB.replace("0 7 * * *", "* * * * *"))
    res = Cli(minimal_ws)("cron", "run", "brief", "--scheduled", env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert res.exit_code == 78 and "ANTHROPIC_API_KEY is not set" in res.stderr
    assert "ANTHROPIC_API_KEY is not set" in alerts(minimal_ws, "cron_job_failed")[0]["message"]
    cov = Cli(minimal_ws)("cron", "coverage", "--now", "2026-11-26T10:00:30Z", "--json").json()["jobs"][0]
    assert (cov["ok"], cov["failed"]) == (0, 1)                                   # not covered


def test_alerts_command_lists_a_window(minimal_ws: Path) -> None:
    ws = probe_ws(minimal_ws, schedule="* * * * *")
    run_job(ws, "probe", at("2026-11-24T10:00:00Z"), fixed(at("2026-11-24T10:00:00Z")), scheduled=True)
    run_job(ws, "probe", at("2026-11-26T10:00:00Z"), fixed(at("2026-11-26T10:00:00Z")), scheduled=True)
    cli = Cli(minimal_ws)
    env = {"AGENTCTL_NOW": "2026-11-26T12:00:00Z"}
    day = cli("alerts", "--json", env=env).json()
    assert day["since"] == "24h" and {a["ts"][:10] for a in day["alerts"]} == {"2026-11-26"}
    assert [a["kind"] for a in day["alerts"]] == ["disk_usage"]          # 2nd failure in a row: no cron alert
    week = cli("alerts", "--since", "7d", "--json", env=env).json()["alerts"]
    assert [a["kind"] for a in week] == ["disk_usage", "cron_job_failed", "disk_usage"]
    text = cli("alerts", "--since", "7d", env=env)
    assert text.exit_code == 0 and "cron_job_failed" in text.stdout and "cron:probe" in text.stdout
    assert cli("alerts", "--since", "soon", env=env).exit_code == 2


def test_status_shows_each_jobs_last_run_and_the_failing_ones(minimal_ws: Path) -> None:
    ws = probe_ws(minimal_ws, schedule="* * * * *")
    for i in range(3):
        run_job(ws, "probe", _minute(i), fixed(_minute(i)), scheduled=True)
    res = Cli(minimal_ws)("status")
    assert res.exit_code == 0 and "Failing cron jobs:" in res.stdout
    assert "probe: 3 consecutive failure(s) since 2026-11-26T10:00:05Z" in res.stdout
    data = Cli(minimal_ws)("status", "--json").json()
    assert data["cron"][0]["job"] == "probe" and data["cron"][0]["consecutiveFailures"] == 3


# --- time zones ------------------------------------------------------------------------------------

def test_a_new_york_daily_job_runs_its_own_slot_not_yesterdays(minimal_ws: Path) -> None:
    probe_ws(minimal_ws, schedule="5 5 * * *", tz="America/New_York")
    cli = Cli(minimal_ws)
    # winter: 05:05 EST is 10:05Z; the crontab line also fires at 09:05Z (for summer time)
    early = cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": "2026-12-02T09:05:01Z"})
    assert (early.exit_code, early.stdout, early.stderr) == (0, "", "") and records(minimal_ws) == []
    cli("cron", "run", "probe", "--scheduled", env={"AGENTCTL_NOW": "2026-12-02T10:05:01Z"})
    assert [r["idempotencyKey"] for r in records(minimal_ws)] == ["probe:2026-12-02T10:05:00Z"]


@pytest.mark.parametrize(("schedule", "now", "due", "slot"), [
    # DST starts in New York on 8 March 2026: 02:00 → 03:00 local
    ("30 2 * * *", "2026-03-08T07:00:10Z", True, "2026-03-08T07:00:00Z"),   # the skipped 02:30 runs at 03:00 EDT
    ("30 2 * * *", "2026-03-08T06:30:10Z", False, None),                   # 01:30 EST: not a slot
    ("30 2 * * *", "2026-03-09T06:30:10Z", True, "2026-03-09T06:30:00Z"),   # the next day at 02:30 EDT
    ("0 9 * * *", "2026-03-09T13:00:00Z", True, "2026-03-09T13:00:00Z"),    # 09:00 EDT
    ("0 9 * * *", "2026-03-09T14:00:00Z", False, None),                    # 10:00 EDT: no
    # DST ends on 1 November 2026: 02:00 EDT → 01:00 EST, 01:30 happens twice
    ("30 1 * * *", "2026-11-01T05:30:10Z", True, "2026-11-01T05:30:00Z"),   # the first 01:30 (EDT)
    ("30 1 * * *", "2026-11-01T06:30:10Z", False, None),                   # the second 01:30 (EST): once only
    ("30 * * * *", "2026-11-01T06:30:10Z", True, "2026-11-01T06:30:00Z"),   # an hourly job runs in both
    ("0 9 * * *", "2026-11-02T14:00:05Z", True, "2026-11-02T14:00:00Z"),    # 09:00 EST
    ("0 9 * * *", "2026-11-02T13:00:05Z", False, None),
])
def test_scheduled_firings_across_both_dst_transitions(minimal_ws: Path, schedule: str, now: str, due: bool,
                                                        slot: str | None) -> None:
    probe_ws(minimal_ws, schedule=schedule, tz="America/New_York")
    res = Cli(minimal_ws)("cron", "run", "probe", "--scheduled", "--json", env={"AGENTCTL_NOW": now})
    out = res.json()
    if due:
        assert out["status"] == "failure" and out["slot"] == slot and out["trigger"] == "cron"
        assert [r["idempotencyKey"] for r in records(minimal_ws)] == [f"probe:{slot}"]
    else:
        assert (out["status"], res.exit_code, records(minimal_ws)) == ("not_due", 0, [])


def test_the_installed_fields_fire_at_every_slot_across_a_year() -> None:
    """Every slot of the year is a minute the crontab line fires at (cron in UTC)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    from agentctl.cron.crontab import cron_schedule
    from agentctl.cron.schedule import slots_between

    for schedule, tz in [("30 2 * * *", "America/New_York"), ("5 5 * * 1-5", "America/New_York"),
                         ("0 0 * * 1", "Europe/Paris"), ("15 9 L * *", "Australia/Sydney")]:
        j = job(schedule, tz)
        fields, _ = cron_schedule(j, ZoneInfo("UTC"), at("2026-01-01T00:00:00Z"))
        for s in slots_between(j, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")):
            assert croniter.match(fields, s.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)), (schedule, tz, s)
            assert is_due(j, s)


# --- one validator ---------------------------------------------------------------------------------

def test_a_schedule_that_never_fires_is_a_config_error_everywhere(minimal_ws: Path, tmp_path: Path) -> None:
    probe_ws(minimal_ws, schedule="0 9 30 2 *")
    cli = Cli(minimal_ws)
    env = {"AGENTCTL_NOW": "2026-11-26T10:00:00Z", "AGENTCTL_CRONTAB_FILE": str(tmp_path / "tab")}
    for args in (["agents", "validate"], ["cron", "install", "--cron-tz", "UTC"], ["cron", "list"],
                 ["cron", "coverage"], ["cron", "run", "probe", "--scheduled"], ["cron", "run", "probe"]):
        res = cli(*args, env=env)
        assert res.exit_code == 78, (args, res.stderr)
        assert "never fires" in res.stderr, (args, res.stderr)
    score = cli("scorecard", "--days", "7", "--format", "json", env=env)
    assert score.exit_code != 70, score.stderr


@pytest.mark.parametrize("schedule", ["0 9 L * *", "0 9 15W * *", "0 9 * * 1#2", "0 9 * * MON-FRI", "*/7 * * * *"])
def test_validate_and_install_accept_the_same_syntax(minimal_ws: Path, tmp_path: Path, schedule: str) -> None:
    probe_ws(minimal_ws, schedule=schedule)
    cli = Cli(minimal_ws)
    assert cli("agents", "validate").exit_code == 0
    res = _install(minimal_ws, tmp_path / "tab")
    assert res.exit_code == 0, res.stderr


@pytest.mark.parametrize("schedule", ["0 9 5L * *", "H * * * *", "@daily", "0 9 * *", "*/5 * * * * *", "61 * * * *"])
def test_validate_and_install_refuse_the_same_syntax(minimal_ws: Path, tmp_path: Path, schedule: str) -> None:
    probe_ws(minimal_ws, schedule=schedule)
    assert Cli(minimal_ws)("agents", "validate").exit_code == 78
    assert _install(minimal_ws, tmp_path / "tab").exit_code == 78


def test_l_w_and_hash_slots_are_decided_by_agentctl(minimal_ws: Path) -> None:
    j = job("0 9 L * *")
    assert is_due(j, at("2026-02-28T09:00:30Z")) and not is_due(j, at("2026-02-27T09:00:30Z"))
    assert slot_for(job("0 9 * * 1#2"), at("2026-11-30T12:00:00Z")).day == 9     # 2nd Monday of November


# --- manual runs, the job log, housekeeping -------------------------------------------------------------

def test_manual_run_is_trigger_manual_and_leaves_the_slot_to_cron(minimal_ws: Path) -> None:
    probe_ws(minimal_ws, schedule="0 * * * *")
    cli = Cli(minimal_ws)
    manual = cli("cron", "run", "probe", "--json", env={"AGENTCTL_NOW": "2026-11-26T10:20:00Z"}).json()
    assert manual["trigger"] == "manual"
    cron = cli("cron", "run", "probe", "--scheduled", "--json", env={"AGENTCTL_NOW": "2026-11-26T11:00:02Z"}).json()
    assert cron["status"] == "failure" and cron["trigger"] == "cron"             # not a duplicate of the manual run
    assert [(r["trigger"], r["idempotencyKey"]) for r in records(minimal_ws)] == [
        ("manual", None), ("cron", "probe:2026-11-26T11:00:00Z")]
    assert alerts(minimal_ws, "cron_job_failed")[0]["data"]["consecutiveFailures"] == 1   # manual: not counted


def test_a_second_manual_run_after_a_success_is_a_duplicate(minimal_ws: Path) -> None:
    set_cron(minimal_ws, "- name: watch\n  schedule: \"0 * * * *\"\n  builtin: breakers\n")
    cli = Cli(minimal_ws)
    first = cli("cron", "run", "watch", "--json", env={"AGENTCTL_NOW": "2026-11-26T10:20:00Z"}).json()
    again = cli("cron", "run", "watch", "--json", env={"AGENTCTL_NOW": "2026-11-26T10:40:00Z"}).json()
    assert (first["status"], again["status"], again["trigger"]) == ("success", "duplicate", "manual")
    cron = cli("cron", "run", "watch", "--scheduled", "--json", env={"AGENTCTL_NOW": "2026-11-26T11:00:00Z"}).json()
    nxt = cli("cron", "run", "watch", "--json", env={"AGENTCTL_NOW": "2026-11-26T11:10:00Z"}).json()
    assert (cron["status"], nxt["status"]) == ("success", "success")           # a new slot: runs again


def test_the_job_opens_its_own_rotated_log(minimal_ws: Path) -> None:
    from agentctl.cron.joblog import rotate

    probe_ws(minimal_ws, schedule="* * * * *")
    assert not (minimal_ws / "logs" / "cron").exists()
    res = run_installed("-w", str(minimal_ws), "cron", "run", "probe", "--scheduled", "--log",
                        env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert res.exit_code == 1 and res.stdout == "" and res.stderr == ""
    log = minimal_ws / "logs" / "cron" / "probe.log"
    assert "probe: failure for slot 2026-11-26T10:00:00Z" in log.read_text()
    log.write_bytes(b"x" * 1_000_000)
    assert rotate(log) and not log.exists() and (log.parent / "probe.log.1").stat().st_size == 1_000_000
    for i in range(4):                                     # never more than 3 files
        log.write_bytes(str(i).encode() * 1_000_000)
        rotate(log)
    assert sorted(p.name for p in log.parent.iterdir() if not p.name.endswith(".lock")) == \
        ["probe.log.1", "probe.log.2"]
    assert (log.parent / "probe.log.1").read_bytes()[:1] == b"3"


def test_taskless_runs_share_a_day_folder_pruned_after_retention(minimal_ws: Path) -> None:
    from agentctl.run.housekeeping import prune, runs_root, taskless_dir

    ws = Workspace(minimal_ws)
    cfg = minimal_ws / "agentctl.yaml"
    cfg.write_text(cfg.read_text() + "retention_days: 7\n")
    old = taskless_dir(ws, "r-20261101T100000Z-aaaaaa", at("2026-11-01T10:00:00Z"))
    a = taskless_dir(ws, "r-20261126T100000Z-bbbbbb", at("2026-11-26T10:00:00Z"))   # creating the day prunes
    b = taskless_dir(ws, "r-20261126T235959Z-cccccc", at("2026-11-27T00:00:01Z"))   # its own start day
    assert not old.exists() and a.parent == b.parent == runs_root(ws) / "2026-11-26"
    assert prune(ws, at("2026-12-10T00:00:00Z")) == ["2026-11-26"]


def test_the_work_loop_reads_the_env_file_too(minimal_ws: Path) -> None:
    marker = minimal_ws / "seen-by-work.txt"
    write_agent(minimal_ws, "worker", textwrap.dedent(f"""\
        name: worker
        runtime: command
        env: [DEMO_SECRET]
        command: ["{sys.executable}", "-c", "import os; open({str(marker)!r},'w').write(os.environ.get('DEMO_SECRET', 'missing'))"]
    """))
    env_file(minimal_ws, "DEMO_SECRET=from-the-env-file-77\n")
    tid = Cli(minimal_ws)("task", "add", "--title", "t", "--agent", "worker").stdout.strip()
    res = run_installed("-w", str(minimal_ws), "work", "worker", "--once")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert marker.read_text() == "from-the-env-file-77"
    assert tid and "from-the-env-file-77" not in res.stdout + res.stderr
