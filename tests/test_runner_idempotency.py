"""Idempotency keys: duplicates, conflicts, in-flight races between real processes, TTL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

from agentctl.core.clock import utcnow
from agentctl.demo.server import Reply
from agentctl.errors import Conflict, TryLater
from agentctl.run import idempotency


def test_same_key_returns_the_first_result_without_executing(llm_ws):
    llm_ws.srv.add(Reply(text="first answer"))
    first = llm_ws.run("writer", prompt="brief", key="brief:2026-01-01")
    assert first.exit_code == 0
    second = llm_ws.run("writer", prompt="brief", key="brief:2026-01-01")
    assert second.exit_code == 0 and second.duplicate_of == first.record.runId
    assert second.record.duplicateOf == first.record.runId
    assert len(llm_ws.srv.requests) == 1
    recs = llm_ws.records()
    assert [r["status"] for r in recs] == ["success", "duplicate"]
    assert recs[1]["idempotencyKey"] == "brief:2026-01-01" and recs[1]["output"] == first.record.output
    assert recs[1]["costUsd"] == 0.0 and recs[1]["tokensIn"] == 0


def test_a_failed_first_run_is_returned_too(llm_ws):
    from agentctl.demo.server import Fail

    llm_ws.srv.add(Fail(400))
    first = llm_ws.run("writer", prompt="x", key="k1")
    again = llm_ws.run("writer", prompt="x", key="k1")
    assert first.exit_code == again.exit_code == 1
    assert again.record.status == "duplicate" and "k1" in again.message


def test_same_key_other_input_is_a_conflict(llm_ws):
    llm_ws.run("writer", prompt="one", key="k")
    with pytest.raises(Conflict, match="different input"):
        llm_ws.run("writer", prompt="two", key="k")
    with pytest.raises(Conflict):
        llm_ws.run("seo", prompt="one", key="k")
    from conftest import Cli

    res = Cli(llm_ws.root)("run", "writer", "--prompt", "three", "--idempotency-key", "k", env=llm_ws.env)
    assert res.exit_code == 5 and "different input" in res.stderr


def test_input_file_content_is_part_of_the_input(llm_ws):
    path = llm_ws.write_json("in.json", {"a": 1})
    llm_ws.run("writer", input_file=str(path), key="kf")
    assert llm_ws.run("writer", input_file=str(path), key="kf").record.status == "duplicate"
    path.write_text(json.dumps({"a": 2}))
    with pytest.raises(Conflict):
        llm_ws.run("writer", input_file=str(path), key="kf")


def test_a_refused_run_releases_its_key(llm_ws):
    from agentctl.breakers import breaker
    ws = llm_ws.ws()
    breaker.trip_breaker(ws, ws.agent("writer"), "test", utcnow())
    out = llm_ws.run("writer", prompt="x", key="slot-1")
    assert out.exit_code == 75 and out.record.status == "skipped"
    breaker.reset_breaker(ws, ws.agent("writer"), "test", utcnow())
    out = llm_ws.run("writer", prompt="x", key="slot-1")
    assert out.exit_code == 0 and out.record.status == "success"  # executed: the refusal did not bind the key
    assert len(llm_ws.srv.requests) == 1


def test_ledger_ttl_prune_and_stale_reservations(llm_ws):
    store = llm_ws.ws().storage.idempotency
    t0 = utcnow()
    assert isinstance(idempotency.reserve(store, "k", "fp", t0, run_id="r-1"), idempotency.Reserved)
    with pytest.raises(TryLater, match="in flight"):
        idempotency.reserve(store, "k", "fp", t0 + timedelta(seconds=1))
    idempotency.complete(store, "k", "fp", {"runId": "r-1", "status": "success", "exitCode": 0}, t0)
    dup = idempotency.reserve(store, "k", "fp", t0 + timedelta(hours=23))
    assert isinstance(dup, idempotency.Duplicate) and dup.result["runId"] == "r-1"
    # past the TTL the key is free again, and expired entries are dropped by a sweep
    assert isinstance(idempotency.reserve(store, "k", "fp", t0 + timedelta(hours=25)), idempotency.Reserved)
    assert isinstance(idempotency.reserve(store, "other", "fp2", t0 + timedelta(hours=50)), idempotency.Reserved)
    assert store.sweep(t0 + timedelta(hours=50)) == 1
    assert {k for k, _ in store.items()} == {"other"}
    # a reservation whose process died (no run record) is taken over, and the retry says so
    with store.transaction("dead") as slot:
        slot.value = {"fingerprint": "fp", "state": "in_flight", "runId": "r-dead", "createdAt": t0.isoformat(),
                      "expiresAt": (t0 + timedelta(hours=24)).isoformat(),
                      "owner": {"pid": _dead_pid(), "host": os.uname().nodename}, "result": None}
    got = idempotency.reserve(store, "dead", "fp", t0 + timedelta(seconds=5), find_run=lambda rid: None)
    assert isinstance(got, idempotency.Reserved) and got.retry_of == "r-dead"


def test_try_later_is_never_a_keys_result(llm_ws):
    store = llm_ws.ws().storage.idempotency
    t0 = utcnow()
    idempotency.reserve(store, "k75", "fp", t0, run_id="r-1")
    idempotency.complete(store, "k75", "fp", {"runId": "r-1", "status": "failure", "exitCode": 75}, t0)
    assert store.get("k75", t0) is None


def test_dead_holder_with_a_run_record_is_a_duplicate(llm_ws):
    store = llm_ws.ws().storage.idempotency
    t0 = utcnow()
    with store.transaction("k") as slot:
        slot.value = {"fingerprint": "fp", "state": "in_flight", "runId": "r-9", "createdAt": t0.isoformat(),
                      "expiresAt": (t0 + timedelta(hours=24)).isoformat(),
                      "owner": {"pid": _dead_pid(), "host": os.uname().nodename}, "result": None}
    rec = {"runId": "r-9", "status": "success", "output": "artifacts/x.json", "startedAt": t0.isoformat()}
    got = idempotency.reserve(store, "k", "fp", t0, find_run=lambda rid: rec if rid == "r-9" else None)
    assert isinstance(got, idempotency.Duplicate) and got.result["runId"] == "r-9"
    assert store.get("k", t0)["state"] == "done"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_racing_processes_execute_exactly_once(llm_ws, tmp_path):
    """Real processes, one key: one executes; the others get 75 (in flight) or the duplicate."""
    ledger = tmp_path / "executions.txt"
    code = (f"import os, time\n"
            f"open({str(ledger)!r}, 'a').write(str(os.getpid()) + '\\n')\n"
            f"time.sleep(0.4)\n")
    llm_ws.agent("once", yaml.safe_dump({"name": "once", "runtime": "command", "command": [sys.executable, "-c", code]}))
    env = {k: v for k, v in llm_ws.env.items() if not k.startswith("AGENTCTL_")}
    procs = [subprocess.Popen([sys.executable, "-m", "agentctl", "-w", str(llm_ws.root), "run", "once", "--prompt",
                               "go", "--idempotency-key", "race", "--json"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert len(ledger.read_text().splitlines()) == 1, results
    codes = sorted(code for code, _, _ in results)
    assert codes.count(0) >= 1 and set(codes) <= {0, 75}, results
    statuses = [r["status"] for r in llm_ws.records()]
    assert statuses.count("success") == 1
    assert set(statuses) <= {"success", "skipped", "duplicate"}
    assert len(statuses) == 6
