"""Circuit breakers (SPEC §7): the pure state machine, persistence, alerts, CLI and a real-process race."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Cli, run_installed, write_agent

from agentctl.breakers import breaker
from agentctl.breakers.breaker import Admission, BreakerRecord, apply_outcome, decide_admit, effective_state
from agentctl.core.clock import iso
from agentctl.core.config import BreakerPolicy
from agentctl.errors import TryLater
from agentctl.workspace.loader import Workspace

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
CODE = BreakerPolicy(threshold=3, window_s=60, cooldown_s=300, max_cooldown_s=3600)
FINANCE = BreakerPolicy(threshold=2, window_s=60, cooldown_s=300)
PROBE_TIMEOUT = 660.0


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def play(policy: BreakerPolicy, script: list[tuple]) -> BreakerRecord:
    """Run a script of ("fail"|"ok", t, expected transition) / ("admit", t, expected) steps.

    "admit" expects "run" (closed), "probe", "open" or "probe in progress"; the outcome of
    a step right after a probe admission is reported as that probe's (`probe=True`).
    """
    rec = BreakerRecord()
    probe_id: str | None = None
    for n, (op, t, want) in enumerate(script):
        if op == "admit":
            v = decide_admit(rec, policy, at(t), probe_timeout_s=PROBE_TIMEOUT, new_probe_id=f"p{n}")
            got = ("probe" if v.probe_id else "run") if v.admitted else v.reason
            if v.probe_id:
                probe_id = v.probe_id
        else:
            pid = probe_id if op.endswith("probe") else None
            got = apply_outcome(rec, policy, at(t), op.startswith("ok"), pid)
        assert got == want, f"step {n} {op}@{t}: got {got!r}, want {want!r}; {rec}"
    return rec


CASES = {
    "threshold failures within the window trip it": (CODE, [
        ("fail", 0, None), ("fail", 10, None), ("fail", 20, "tripped"), ("admit", 21, "open"),
    ]),
    "finance trips after two": (FINANCE, [("fail", 0, None), ("fail", 1, "tripped"), ("admit", 2, "open")]),
    "failures spread wider than the window do not trip": (CODE, [
        ("fail", 0, None), ("fail", 40, None), ("fail", 101, None), ("admit", 102, "run"),
    ]),
    "the window is inclusive at exactly window_s": (CODE, [
        ("fail", 0, None), ("fail", 30, None), ("fail", 60, "tripped"),
    ]),
    "a success does not clear the window (N in window_s, not N in a row)": (CODE, [
        ("fail", 0, None), ("ok", 5, None), ("fail", 10, None), ("ok", 15, None), ("fail", 20, "tripped"),
    ]),
    "open refuses until the cooldown, then admits exactly one probe": (CODE, [
        ("fail", 0, None), ("fail", 1, None), ("fail", 2, "tripped"),
        ("admit", 301.9, "open"), ("admit", 302, "probe"), ("admit", 302, "probe in progress"),
        ("admit", 500, "probe in progress"),
    ]),
    "probe success closes and clears the failures": (CODE, [
        ("fail", 0, None), ("fail", 1, None), ("fail", 2, "tripped"), ("admit", 400, "probe"),
        ("ok-probe", 401, "recovered"), ("admit", 402, "run"), ("fail", 403, None), ("fail", 404, None),
        ("fail", 405, "tripped"),
    ]),
    "probe failure reopens with the cooldown doubled": (CODE, [
        ("fail", 0, None), ("fail", 1, None), ("fail", 2, "tripped"), ("admit", 302, "probe"),
        ("fail-probe", 310, "reopened"), ("admit", 909, "open"), ("admit", 910, "probe"),
    ]),
    "outcomes of runs admitted before the trip change nothing while open": (CODE, [
        ("fail", 0, None), ("fail", 1, None), ("fail", 2, "tripped"),
        ("ok", 3, None), ("fail", 4, None), ("admit", 5, "open"), ("admit", 302, "probe"),
        ("ok", 303, None), ("fail", 304, None), ("admit", 305, "probe in progress"),
    ]),
    "a lost probe is replaced after the agent's timeout; the old one's outcome is ignored": (CODE, [
        ("fail", 0, None), ("fail", 1, None), ("fail", 2, "tripped"), ("admit", 302, "probe"),
        ("admit", 302 + PROBE_TIMEOUT - 1, "probe in progress"), ("admit", 302 + PROBE_TIMEOUT, "probe"),
        ("ok-probe", 1000, "recovered"),
    ]),
}


@pytest.mark.parametrize("policy,script", CASES.values(), ids=list(CASES))
def test_state_machine(policy, script):
    play(policy, script)


def test_stale_probe_outcome_is_ignored():
    rec = BreakerRecord()
    for t in (0, 1, 2):
        apply_outcome(rec, CODE, at(t), False, None)
    old = decide_admit(rec, CODE, at(302), probe_timeout_s=10, new_probe_id="old")
    new = decide_admit(rec, CODE, at(320), probe_timeout_s=10, new_probe_id="new")
    assert (old.probe_id, new.probe_id) == ("old", "new")
    assert apply_outcome(rec, CODE, at(321), True, "old") is None
    assert rec.state == "half_open"
    assert apply_outcome(rec, CODE, at(322), True, "new") == "recovered"


def test_cooldown_doubles_to_the_cap_and_recovery_restores_it():
    rec = BreakerRecord()
    for t in (0, 1, 2):
        apply_outcome(rec, CODE, at(t), False, None)
    seen, t = [rec.cooldownS], 2.0
    for n in range(6):
        t = (rec.retryAt - T0).total_seconds()
        v = decide_admit(rec, CODE, at(t), probe_timeout_s=PROBE_TIMEOUT, new_probe_id=f"p{n}")
        assert apply_outcome(rec, CODE, at(t + 1), False, v.probe_id) == "reopened"
        seen.append(rec.cooldownS)
        assert rec.retryAt == at(t + 1 + rec.cooldownS)
    assert seen == [300, 600, 1200, 2400, 3600, 3600, 3600]
    v = decide_admit(rec, CODE, rec.retryAt, probe_timeout_s=PROBE_TIMEOUT, new_probe_id="last")
    assert apply_outcome(rec, CODE, rec.retryAt, True, v.probe_id) == "recovered"
    assert (rec.state, rec.failures, rec.cooldownS) == ("closed", [], None)
    for s in (0, 1, 2):
        apply_outcome(rec, CODE, rec.lastChangeAt + timedelta(seconds=s + 1), False, None)
    assert rec.cooldownS == 300


def test_effective_state_and_manual_operations():
    rec = BreakerRecord()
    breaker.trip(rec, CODE, T0)
    assert (rec.state, rec.retryAt, rec.trips) == ("open", at(300), 1)
    assert effective_state(rec, at(299)) == "open"
    assert effective_state(rec, at(300)) == "half_open"
    breaker.reset(rec, at(10))
    assert (rec.state, rec.retryAt, effective_state(rec, at(11))) == ("closed", None, "closed")


def test_record_round_trips_as_json_with_utc_z_times():
    rec = BreakerRecord()
    breaker.trip(rec, CODE, at(0.25))
    dumped = rec.model_dump(mode="json")
    assert dumped["retryAt"] == "2026-11-26T10:05:00.250Z"
    assert BreakerRecord.model_validate(json.loads(json.dumps(dumped))) == rec


# --- against a real workspace ----------------------------------------------------------

AGENT = """\
name: builder
team: product
role: code
runtime: command
command: ["true"]
timeout_s: 30
"""


@pytest.fixture
def ws_root(minimal_ws: Path) -> Path:
    write_agent(minimal_ws, "builder", AGENT)
    write_agent(minimal_ws, "ledger", AGENT.replace("builder", "ledger").replace("role: code", "role: finance"))
    return minimal_ws


def fresh(root: Path) -> Workspace:
    return Workspace(root)


def fail_times(root: Path, name: str, seconds: list[float]) -> list[str | None]:
    out = []
    for s in seconds:
        w = fresh(root)  # a new process each time, as cron and terminals are
        out.append(breaker.record_outcome(w, w.agent(name), False, at(s), breaker.admit(w, w.agent(name), at(s))))
    return out


def test_state_is_shared_by_separate_workspace_objects(ws_root):
    assert fail_times(ws_root, "builder", [0, 5, 10]) == [None, None, "tripped"]
    other = fresh(ws_root)
    with pytest.raises(TryLater) as exc:
        breaker.admit(other, other.agent("builder"), at(70))
    err = exc.value
    assert err.exit_code == 75
    assert "builder" in err.message and iso(at(310)) in err.message and "in 240s" in err.message
    assert err.data["retryAt"] == iso(at(310)) and err.data["retryInS"] == 240
    saved = other.storage.breakers.read()  # state/breakers.json, or the database's rows
    assert saved["version"] == 1 and saved["agents"]["builder"]["state"] == "open"
    assert breaker.open_breakers(other, at(70)) == ["builder"]
    assert breaker.admit(other, other.agent("ledger"), at(70)) == Admission()


def test_probe_cycle_through_the_store_and_alerts(ws_root):
    fail_times(ws_root, "ledger", [0, 1])  # finance: 2 in 60 s
    w = fresh(ws_root)
    agent = w.agent("ledger")
    probe = breaker.admit(w, agent, at(301))
    assert probe.probe and probe.probe_id
    with pytest.raises(TryLater, match="probe run is in progress"):
        breaker.admit(fresh(ws_root), agent, at(302))
    assert breaker.record_outcome(fresh(ws_root), agent, True, at(303), probe) == "recovered"
    assert breaker.open_breakers(w, at(303)) == []
    assert breaker.admit(w, agent, at(304)) == Admission()
    alerts = [json.loads(line) for line in (ws_root / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["breaker_tripped", "breaker_recovered"]
    assert alerts[0]["data"]["agent"] == "ledger" and alerts[0]["data"]["retryAt"] == iso(at(301))
    assert alerts[0]["ts"] == iso(at(1)) and alerts[1]["ts"] == iso(at(303))


def test_failed_probe_reopens_with_doubled_cooldown_and_alerts(ws_root):
    fail_times(ws_root, "builder", [0, 1, 2])
    w = fresh(ws_root)
    probe = breaker.admit(w, w.agent("builder"), at(302))
    assert breaker.record_outcome(w, w.agent("builder"), False, at(303), probe) == "reopened"
    status = breaker.breaker_status(fresh(ws_root), w.agent("builder"), at(303))
    assert (status["state"], status["cooldownS"], status["retryAt"]) == ("open", 600, iso(at(903)))
    kinds = [json.loads(x)["kind"] for x in (ws_root / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert kinds == ["breaker_tripped", "breaker_tripped"]


def test_a_lost_probe_is_replaced_after_timeout_plus_grace(ws_root):
    fail_times(ws_root, "builder", [0, 1, 2])
    w = fresh(ws_root)
    first = breaker.admit(w, w.agent("builder"), at(302))
    with pytest.raises(TryLater):
        breaker.admit(w, w.agent("builder"), at(302 + 30 + 59))  # timeout_s 30 + 60 s grace
    second = breaker.admit(w, w.agent("builder"), at(302 + 90))
    assert second.probe and second.probe_id != first.probe_id


def test_a_probe_whose_run_never_executed_is_given_back(ws_root):
    fail_times(ws_root, "builder", [0, 1, 2])
    w = fresh(ws_root)
    agent = w.agent("builder")
    first = breaker.admit(w, agent, at(302))
    assert not breaker.release_probe(w, agent, Admission())  # not the probe: nothing to give back
    assert not breaker.release_probe(w, agent, Admission(probe=True, probe_id="someone-else"))
    assert breaker.release_probe(w, agent, first)
    assert breaker.breaker_status(w, agent, at(303))["state"] == "half_open"
    second = breaker.admit(fresh(ws_root), agent, at(303))
    assert second.probe and second.probe_id != first.probe_id
    assert breaker.record_outcome(w, agent, True, at(304), first) is None  # the given-back probe no longer counts
    assert breaker.record_outcome(w, agent, True, at(305), second) == "recovered"


def test_success_outside_a_probe_writes_nothing(ws_root):
    w = fresh(ws_root)
    assert breaker.record_outcome(w, w.agent("builder"), True, T0, breaker.admit(w, w.agent("builder"), T0)) is None
    assert not (ws_root / "state" / "breakers.json").exists()


def test_policy_comes_from_role_defaults_and_agent_override(ws_root):
    write_agent(ws_root, "tuned", AGENT.replace("builder", "tuned") + "breaker: {threshold: 1, cooldown_s: 30}\n")
    w = fresh(ws_root)
    rows = {r["agent"]: r for r in breaker.list_breakers(w, T0)}
    assert rows["ledger"]["policy"]["threshold"] == 2
    assert rows["builder"]["policy"]["threshold"] == 3
    assert rows["tuned"]["policy"] == {"threshold": 1, "window_s": 60, "cooldown_s": 30, "max_cooldown_s": 3600}
    assert fail_times(ws_root, "tuned", [0]) == ["tripped"]
    assert breaker.breaker_status(w, w.agent("tuned"), at(1))["retryAt"] == iso(at(30))


def test_corrupt_state_is_reported_not_overwritten(ws_root):
    path = ws_root / "state" / "breakers.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text('{"version": 1, "agents": {"builder": {"state": "exploded"}}}')
    w = fresh(ws_root)
    from agentctl.errors import StateError

    with pytest.raises(StateError, match="builder"):
        breaker.record_outcome(w, w.agent("builder"), False, T0, Admission())
    assert "exploded" in path.read_text()


# --- CLI ------------------------------------------------------------------------------

def test_cli_list_show_trip_reset(ws_root):
    cli = Cli(ws_root)
    env = {"AGENTCTL_NOW": iso(T0)}
    res = cli("breaker", "list", "--json", env=env)
    assert res.exit_code == 0
    rows = res.json()
    assert {r["agent"] for r in rows} == {"builder", "ledger"}
    assert all(r["state"] == "closed" and r["failuresInWindow"] == 0 for r in rows)

    res = cli("breaker", "trip", "builder", "--json", env=env)
    assert res.exit_code == 0 and res.json()["state"] == "open"
    shown = cli("breaker", "show", "builder", "--json", env={"AGENTCTL_NOW": iso(at(100))}).json()
    assert (shown["state"], shown["retryAt"], shown["retryInS"]) == ("open", iso(at(300)), 200)
    assert shown["policy"]["cooldown_s"] == 300
    w = fresh(ws_root)
    with pytest.raises(TryLater):
        breaker.admit(w, w.agent("builder"), at(100))
    text = cli("breaker", "list", env={"AGENTCTL_NOW": iso(at(100))}).stdout
    assert "OPEN" in text and iso(at(300)) in text

    res = cli("breaker", "reset", "builder", env=env)
    assert res.exit_code == 0 and "closed (was OPEN)" in res.stdout
    assert breaker.admit(fresh(ws_root), w.agent("builder"), at(100)) == Admission()
    kinds = [json.loads(x)["kind"] for x in (ws_root / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert kinds == ["breaker_tripped", "breaker_recovered"]


def test_cli_unknown_agent_exits_2(ws_root):
    res = Cli(ws_root)("breaker", "show", "nobody")
    assert res.exit_code == 2 and "unknown agent 'nobody'" in res.stderr and res.stdout == ""


def test_installed_cli_shares_state_with_the_library(ws_root):
    res = run_installed("-w", str(ws_root), "breaker", "trip", "ledger", env={"AGENTCTL_NOW": iso(T0)})
    assert res.exit_code == 0, res.stderr
    w = fresh(ws_root)
    with pytest.raises(TryLater) as exc:
        breaker.admit(w, w.agent("ledger"), at(1))
    assert "in 299s" in exc.value.message


# --- a real race between processes ------------------------------------------------------

def _race_admit(root: str, now_iso: str, barrier, results) -> None:  # runs in a spawned process
    from agentctl.core.clock import parse_iso

    w = Workspace(Path(root))
    agent = w.agent("builder")
    barrier.wait()
    try:
        got = breaker.admit(w, agent, parse_iso(now_iso))
        results.put(("probe" if got.probe else "run", got.probe_id))
    except TryLater as exc:
        results.put(("refused", exc.data.get("reason")))


def test_exactly_one_process_gets_the_probe(ws_root):
    n = 8
    w = fresh(ws_root)
    breaker.trip_breaker(w, w.agent("builder"), "test", T0)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race_admit, args=(str(ws_root), iso(at(301)), barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    probes = [pid for kind, pid in got if kind == "probe"]
    assert len(probes) == 1, got
    assert sorted(kind for kind, _ in got) == ["probe"] + ["refused"] * (n - 1)
    assert all(reason == "probe in progress" for kind, reason in got if kind == "refused")
    saved = json.loads((ws_root / "state" / "breakers.json").read_text())["agents"]["builder"]
    assert saved["state"] == "half_open" and saved["probeId"] == probes[0]
