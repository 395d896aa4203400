"""The PostgreSQL backend (SPEC §12) through the CLI: schema, status, the same commands and
exit codes as the file backend, import/export round trip, DSN handling and an unavailable server."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
from conftest import Cli
from fixtures_postgres import make_pg_workspace


def cli(root: Path, dsn: str):
    run = Cli(root)
    return lambda *a, **kw: run(*a, env={"AGENTCTL_PG_DSN": dsn, **kw.pop("env", {})}, **kw)


def test_init_is_idempotent_and_status_reports(pg_ws: Path, pg_dsn: str) -> None:
    run = cli(pg_ws, pg_dsn)
    first = run("storage", "init")
    assert first.exit_code == 0, first.stderr
    from agentctl.storage.postgres.migrate import latest

    assert f"schema at version {latest()}" in first.stdout and "0001_init.sql" in first.stdout
    assert "0002_run_facts.sql" in first.stdout
    again = run("storage", "init")
    assert again.exit_code == 0 and "already up to date" in again.stdout
    assert run("task", "add", "--title", "one", "--agent", "bob").stdout.strip() == "T-1"
    info = run("storage", "status", "--json").json()
    assert info["backend"] == "postgres" and info["schemaVersion"] == latest()
    assert info["serverVersion"].split(".")[0].isdigit()
    assert info["counts"]["tasks"] == 1 and info["counts"]["events"] == 1


def test_concurrent_init_applies_each_migration_once(pg_dsn: str) -> None:
    from agentctl.storage.postgres.connection import Database
    from agentctl.storage.postgres.migrate import apply

    results: list[list[str]] = []
    errors: list[BaseException] = []

    def go() -> None:
        db = Database(pg_dsn)
        try:
            results.append(apply(db))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    from agentctl.storage.postgres.migrate import shipped

    n = len(shipped())
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 0, n]
    db = Database(pg_dsn)
    with db.tx() as cur:
        cur.execute("SELECT version, count(*) FROM agentctl_migrations GROUP BY version ORDER BY version")
        assert cur.fetchall() == [(v, 1) for v, _, _ in shipped()]
    db.close()


def test_registry_commands_and_exit_codes(pg_ws: Path, pg_dsn: str) -> None:
    run = cli(pg_ws, pg_dsn)
    assert run("task", "add", "--title", "a", "--agent", "bob").exit_code == 0
    assert run("task", "add", "--title", "b", "--agent", "bob", "--depends-on", "T-1").exit_code == 0
    assert run("task", "claim", "T-1", "--agent", "bob").exit_code == 0
    taken = run("task", "claim", "T-1", "--agent", "eve")
    assert taken.exit_code == 5 and "claimed by bob" in taken.stderr
    assert run("task", "update", "T-9", "--status", "done").exit_code == 2
    assert run("task", "block", "T-2", "--by", "waiting", "--on", "T-1").exit_code == 0
    shown = run("task", "show", "T-2", "--json").json()
    assert shown["status"] == "blocked" and shown["blockedOn"] == ["T-1"] and shown["version"] == 2
    assert run("task", "update", "T-1", "--status", "done").exit_code == 0
    assert run("task", "archive", "--older-than", "0d").exit_code == 0
    listed = run("task", "list", "--all", "--json").json()
    assert [t["taskId"] for t in listed] == ["T-2", "T-1"]
    assert run("task", "show", "T-1", "--json").json()["status"] == "done"
    blocked = run("blocked", "--json")
    assert blocked.exit_code == 0, blocked.stderr


def test_round_trip_files_postgres_files(tmp_path: Path, pg_dsn: str) -> None:
    from agentctl.workspace.templates import init_workspace

    src = tmp_path / "files"
    init_workspace(src, "minimal", force=False)
    from conftest import define_agents

    define_agents(src, "a", "bob", "eve", "nobody")
    files = Cli(src)
    for title in ("a", "b", "c"):
        assert files("task", "add", "--title", title, "--agent", "bob").exit_code == 0
    files("task", "update", "T-1", "--status", "done", "--check", "qa=passed")
    files("task", "archive", "--older-than", "0d")
    runs = src / "logs" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "2026-12-01.jsonl").write_text(json.dumps({
        "runId": "r1", "startedAt": "2026-12-01T10:00:00Z", "endedAt": "2026-12-01T10:00:05Z", "agent": "bob",
        "status": "success", "tokensIn": 10, "tokensOut": 5, "costUsd": 0.25, "durationS": 5.0}) + "\n{torn\n")
    (src / "state").mkdir(exist_ok=True)
    (src / "state" / "breakers.json").write_text(json.dumps({"version": 1, "agents": {"bob": {"state": "open"}}}))
    (src / "logs" / "breakers.jsonl").write_text(json.dumps({
        "ts": "2026-12-01T11:00:00Z", "agent": "bob", "transition": "tripped", "state": "open", "retryAt": None,
        "cooldownS": 60, "trips": 1}) + "\n")
    (src / "artifacts" / "T-2").mkdir(parents=True)
    (src / "artifacts" / "T-2" / "prd.json").write_text('{"title": "x"}')

    pg = make_pg_workspace(tmp_path / "pg")
    run = cli(pg, pg_dsn)
    first = run("storage", "import", "--from", str(src), "--json")
    assert first.exit_code == 0, first.stderr
    got = first.json()["imported"]
    assert (got["tasks"], got["archive"], got["events"], got["runs"], got["breakers"], got["artifacts"]) == \
        (2, 1, 6, 1, 1, 1)
    assert got["skippedLines"] == 1 and got["breakerHistory"] == 1
    second = run("storage", "import", "--from", str(src), "--json").json()["imported"]
    assert all(v == 0 for k, v in second.items() if k != "skippedLines")
    assert run("task", "list", "--all", "--json").stdout == files("task", "list", "--all", "--json").stdout

    out = tmp_path / "exported"
    exp = run("storage", "export", "--to", str(out))
    assert exp.exit_code == 0, exp.stderr
    back = Cli(out)
    assert back("task", "list", "--all", "--json").stdout == files("task", "list", "--all", "--json").stdout
    events = lambda root: [json.loads(x) for x in (root / "logs" / "events.jsonl").read_text().splitlines()]  # noqa: E731
    assert events(out) == events(src)
    now = {"AGENTCTL_NOW": "2026-12-02T00:00:00Z"}
    card = lambda c: {k: v for k, v in c("scorecard", "--days", "7", "--format", "json", env=now).json().items()  # noqa: E731
                      if k not in ("window", "notes", "skippedLines", "skippedByReason")}  # what was read: the torn line is not carried over
    cards = [card(back), card(files), card(run)]
    differ = {k: [c.get(k) for c in cards] for k in cards[1] if not cards[0].get(k) == cards[1].get(k) == cards[2].get(k)}
    assert not differ, differ
    assert sum(a["runs"] for a in cards[1]["agents"]) + cards[1]["unknown"]["runs"] == 1  # the one whole record
    assert (out / "artifacts" / "T-2" / "prd.json").read_text() == '{"title": "x"}'
    lines = lambda p: [json.loads(x) for x in p.read_text().splitlines()]  # noqa: E731
    assert lines(out / "logs" / "breakers.jsonl") == lines(src / "logs" / "breakers.jsonl")
    assert cards[0]["agents"] and [a["breakerTrips"] for a in cards[2]["agents"] if a["agent"] == "bob"] == [1]
    assert run("storage", "export", "--to", str(out)).exit_code == 2  # not empty: refused


def test_missing_dsn_is_a_configuration_error(tmp_path: Path) -> None:
    res = Cli(make_pg_workspace(tmp_path / "ws"))("task", "list", env={"AGENTCTL_PG_DSN": ""})
    assert res.exit_code == 78 and "AGENTCTL_PG_DSN is not set" in res.stderr


def test_without_psycopg_exits_78_saying_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    res = cli(make_pg_workspace(tmp_path / "ws"), "dbname=x")("task", "list")
    assert res.exit_code == 78 and "pip install 'agentctl[postgres]'" in res.stderr


def test_unreachable_server_is_75_and_never_shows_the_password(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    pg_ws = make_pg_workspace(tmp_path / "ws")
    dsn = "postgresql://agentctl:hunter2-very-secret@127.0.0.1:1/agentctl"
    for args in (("task", "list"), ("storage", "status"), ("task", "add", "--title", "x")):
        res = Cli(pg_ws)(*args, env={"AGENTCTL_PG_DSN": dsn})
        assert res.exit_code == 75, res.stderr
        assert "database unavailable" in res.stderr and "Traceback" not in res.stderr
        assert "hunter2" not in res.stderr + res.stdout


def test_password_is_masked_in_every_dsn_form() -> None:
    from agentctl.storage.postgres.connection import safe

    assert "s3cr3t" not in safe("failed for postgresql://u:s3cr3t@h/db")
    assert "s3cr3t" not in safe("host=h password=s3cr3t dbname=x")
    assert "pw-in-text" not in safe("server said pw-in-text", "host=h password=pw-in-text")


def test_files_backend_status(minimal_ws: Path) -> None:
    from conftest import define_agents

    define_agents(minimal_ws, "bob")
    run = Cli(minimal_ws)
    run("task", "add", "--title", "a", "--agent", "bob")
    info = run("storage", "status", "--json").json()
    assert info["backend"] == "files" and info["counts"]["tasks"] == 1 and info["counts"]["events"] == 1
    assert run("storage", "init").exit_code == 0
    assert run("storage", "import").exit_code == 2


def test_a_deadlock_is_75_and_applies_nothing(pg_ws: Path, pg_dsn: str) -> None:
    """Two transactions each lock one task, then both need the whole registry: the server picks a
    victim; it exits 75 with nothing applied, the other commits."""
    from agentctl.errors import TryLater
    from agentctl.storage.postgres import PgStorage
    from agentctl.storage.postgres.connection import Database

    run = cli(pg_ws, pg_dsn)
    for title in ("a", "b"):
        run("task", "add", "--title", title, "--agent", "bob")
    barrier, outcome = threading.Barrier(2), {}

    def go(task_id: str) -> None:
        st = PgStorage(Database(pg_dsn))
        try:
            with st.registry.transaction("t", "2026-12-03T12:00:00Z") as tx:
                task = tx.find(task_id)
                tx.log(task_id, "notes", task.notes, "touched")
                task.notes = "touched"
                barrier.wait()
                assert len(tx.doc.tasks) == 2
            outcome[task_id] = "ok"
        except TryLater as exc:
            outcome[task_id] = exc.exit_code
        finally:
            st.close()

    threads = [threading.Thread(target=go, args=(t,)) for t in ("T-1", "T-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, outcome.values())) == ["75", "ok"]
    notes = {t["taskId"]: t["notes"] for t in run("task", "list", "--json").json()}
    assert sorted(map(str, notes.values())) == ["None", "touched"]


def test_breaker_history_lives_in_the_database(pg_ws: Path, pg_dsn: str) -> None:
    """A transition is a breaker_events row (no logs/breakers.jsonl in the checkout), counted by
    `storage status` and read by the scorecard for its window."""
    run = cli(pg_ws, pg_dsn)
    now = {"AGENTCTL_NOW": "2026-12-03T12:00:00Z"}
    assert run("breaker", "trip", "bob", env=now).exit_code == 0
    assert run("breaker", "reset", "bob", env={"AGENTCTL_NOW": "2026-12-03T12:05:00Z"}).exit_code == 0
    assert not (pg_ws / "logs" / "breakers.jsonl").exists()
    assert run("storage", "status", "--json").json()["counts"]["breakerHistory"] == 2
    card = run("scorecard", "--days", "7", "--format", "json", env={"AGENTCTL_NOW": "2026-12-04T00:00:00Z"}).json()
    assert "no breaker history" not in " ".join(card["notes"])
    during = run("scorecard", "--days", "7", "--format", "json", env={"AGENTCTL_NOW": "2026-12-03T12:01:00Z"}).json()
    assert [b["agent"] for b in during["brokenAgents"] if b["breakerOpen"]] == ["bob"]  # as of the window's end
    assert not [b for b in card["brokenAgents"] if b["breakerOpen"]]  # reset since


def test_runs_in_flight_are_seen_from_every_checkout(tmp_path: Path, pg_dsn: str) -> None:
    """A slot taken on one host is in `runs --running` and `status` of another checkout, and counts
    toward the agent's max_concurrent there (a second run exits 75 naming the first)."""
    from datetime import UTC, datetime, timedelta

    from agentctl.storage.postgres import Database, PgStorage

    a, b = make_pg_workspace(tmp_path / "a"), make_pg_workspace(tmp_path / "b")
    assert cli(a, pg_dsn)("storage", "init").exit_code == 0
    st = PgStorage(Database(pg_dsn))
    now = datetime.now(UTC)
    lease = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert st.inflight.acquire({"slotId": "r-remote", "runId": "r-remote", "agent": "bob", "taskId": None,
                                "startedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "leaseExpiresAt": lease}, 1, now) == []
    with st.db.tx() as cur:  # as if another host had taken it: its pid means nothing here
        cur.execute("UPDATE inflight SET host = 'host-a', doc = doc || '{\"host\": \"host-a\", \"pid\": 1}'")
    st.close()
    run = cli(b, pg_dsn)
    assert [r["runId"] for r in run("runs", "--running", "--json").json()] == ["r-remote"]
    assert [r["runId"] for r in run("status", "--json").json()["running"]] == ["r-remote"]
    second = run("run", "bob")
    assert second.exit_code == 75 and "max_concurrent=1" in second.stderr and "r-remote" in second.stderr
