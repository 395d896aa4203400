"""The scorecard on PostgreSQL comes from SQL aggregation and equals the file scan's (SPEC §9, §12).

One history — random runs over ten days plus the hand-made edge cases of
tests/test_scorecard_rules.py (ties on startedAt, runs filed under another day, offsets,
retries, unpriced runs, fallbacks, breaker refusals, rejected tasks, a cron job, labelled
tasks) — is scored by the file backend, then imported into PostgreSQL and scored there:
`scorecard --json` is the same but for ``window.bytes`` (no JSONL is read in SQL).
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Cli, write_agent
from fixtures_postgres import add_storage_block

AGENTS = ("ann", "bob", "cy")
TIER = {"ann": "premium", "bob": "standard", "cy": "economy"}
MODEL = {"premium": "claude-opus-4-6", "standard": "claude-sonnet-4-6", "economy": "claude-haiku-4-5"}
STATUSES = ["success"] * 6 + ["failure", "rejected", "selftest_failed", "skipped", "duplicate"]
DAY0 = datetime(2026, 11, 17, tzinfo=UTC)


def record(at: str, agent: str | None, status: str, **extra: object) -> dict[str, object]:
    tier = TIER.get(agent or "")
    return {"runId": f"r-{at}-{agent}-{status}-{extra.get('n', 0)}", "startedAt": at, "endedAt": at,
            "agent": agent, "team": f"t-{agent}" if agent else None, "taskId": None, "job": None,
            "trigger": "pipeline", "tier": tier, "model": MODEL.get(tier or ""), "fallbackFrom": None,
            "status": status, "error": None if status == "success" else {"type": "RateLimitError"},
            "tokensIn": 1000, "tokensOut": 100, "costUsd": 0.5, "durationS": 2.0, "idempotencyKey": None,
            **{k: v for k, v in extra.items() if k != "n"}}


def random_history(rnd: random.Random) -> dict[str, list[dict[str, object]]]:
    files: dict[str, list[dict[str, object]]] = {}
    for n in range(400):
        day = rnd.randrange(10)
        t = DAY0 + timedelta(days=day, seconds=rnd.randrange(0, 86400, 600))  # coarse: many same-second ties
        agent = rnd.choice([*AGENTS, None])
        status = rnd.choice(STATUSES)
        extra: dict[str, object] = {"n": n, "taskId": rnd.choice([None, *[f"T-{i}" for i in range(1, 9)]]),
                                    "costUsd": rnd.choice([0.25, 1.5, None]), "tokensIn": rnd.randrange(5000)}
        if status == "skipped" and rnd.random() < 0.5:
            extra["error"] = {"type": "BreakerOpen"}
        if agent == "bob" and status == "success" and rnd.random() < 0.3:
            extra |= {"model": "claude-haiku-4-5", "fallbackFrom": "claude-sonnet-4-6"}
        if agent is None and rnd.random() < 0.4:
            extra |= {"job": "hourly", "trigger": "cron", "tier": None, "model": None, "costUsd": None,
                      "idempotencyKey": f"hourly:{t:%Y-%m-%dT%H}:00:00Z"}
        at = t.strftime("%Y-%m-%dT%H:%M:%SZ") if rnd.random() < 0.8 else \
            t.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"
        # strays: filed under the neighbour day, inside every window below (the file scan opens only the
        # window's files; SQL finds a run by its start wherever the runner would have filed it)
        # (without a task: the file scan folds a file's strays after its other lines, SQL in log order, so
        # a retry of a task whose attempts a stray splits could count differently)
        filed = 11 - day if day in (5, 6) and rnd.random() < 0.3 else day
        if filed != day:
            extra["taskId"] = None
        files.setdefault((DAY0 + timedelta(days=filed)).date().isoformat(), []).append(record(at, agent, status, **extra))
    for recs in files.values():  # appended as they ran: a task's attempts in order (ties keep their order)
        recs.sort(key=lambda r: datetime.fromisoformat(str(r["startedAt"]).replace("Z", "+00:00")))
    return files


def edge_cases() -> dict[str, list[dict[str, object]]]:
    same = "2026-11-26T23:55:00Z"  # after every random run
    return {"2026-11-26": [record(same, "cy", "success"), record(same, "cy", "failure", n=1),  # later line wins
                           record("2026-11-27T00:55:00+01:00", "cy", "failure", n=2)],  # 23:55 UTC
            "2026-11-25": [record("2026-11-26T23:56:00Z", "cy", "failure", n=3)]}  # filed under the day before


def make_files_ws(root: Path, rnd: random.Random) -> Path:
    from agentctl.workspace.templates import init_workspace

    init_workspace(root, "minimal", force=False)
    for name in AGENTS:
        write_agent(root, name, f"name: {name}\nteam: t-{name}\nrole: analysis\ntier: {TIER[name]}\n"
                                "runtime: llm\nprompt: x\n")
    cfg = root / "agentctl.yaml"
    cfg.write_text(cfg.read_text().replace("cron: []\n", 'cron:\n  - {name: hourly, schedule: "0 * * * *", '
                                                         "builtin: disk}\n"))
    files = Cli(root)
    for i in range(1, 9):
        args = ["--product", "p1"] if i % 2 else (["--parent", "T-1"] if i > 2 else [])
        assert files("task", "add", "--title", f"t{i}", "--agent", "ann", *args).exit_code == 0
    history = random_history(rnd)
    for day, recs in edge_cases().items():
        history.setdefault(day, []).extend(recs)
    runs = root / "logs" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for day, recs in history.items():
        (runs / f"{day}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    from agentctl.cron.state import mark_defined
    from agentctl.workspace.loader import Workspace

    mark_defined(Workspace(root), ["hourly"], DAY0 - timedelta(days=30))
    return root


def scorecards(c: Cli, env: dict[str, str]) -> list[dict]:
    out = []
    for days, now in ((7, "2026-11-27T00:00:00Z"), (3, "2026-11-24T13:30:00Z"), (30, "2026-11-28T00:00:00Z")):
        res = c("scorecard", "--days", str(days), "--format", "json", env={**env, "AGENTCTL_NOW": now})
        assert res.exit_code == 0, res.stderr
        card = res.json()
        card["window"].pop("bytes")
        out.append(card)
    return out


def _diff(a: object, b: object) -> object:
    """Only what differs, down to the field (lists of rows compared row by row)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _diff(a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [_diff(x, y) for x, y in zip(a, b, strict=True) if x != y]
    return (a, b)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_postgres_scorecard_equals_the_file_scan(tmp_path: Path, pg_dsn: str, seed: int) -> None:
    src = make_files_ws(tmp_path / "files", random.Random(seed))
    pg = tmp_path / "pg"
    shutil.copytree(src, pg, ignore=shutil.ignore_patterns("logs", "state", "tasks.json", "archive"))
    add_storage_block(pg)
    env = {"AGENTCTL_PG_DSN": pg_dsn}
    imported = Cli(pg)("storage", "import", "--from", str(src), "--json", env=env)
    assert imported.exit_code == 0, imported.stderr
    assert imported.json()["imported"]["runs"] == 404 and imported.json()["imported"]["skippedLines"] == 0
    want, got = scorecards(Cli(src), {}), scorecards(Cli(pg), env)
    for w, g in zip(want, got, strict=True):
        assert w["totals"]["runs"] > 0 and w["cronCoverage"] and w["unknown"]["runs"]
        differ = {k: _diff(w[k], g.get(k)) for k in w if w[k] != g.get(k)}
        assert not differ, differ
    assert next(a for a in want[0]["agents"] if a["agent"] == "cy")["consecutiveErrors"] >= 3


def test_import_skips_what_the_scan_skips(tmp_path: Path, pg_dsn: str) -> None:
    src = make_files_ws(tmp_path / "files", random.Random(0))
    bad = [record("2026-11-26T10:00:00Z", "ann", "exploded"), record("2026-11-26T10:00:00Z", "ann", "success",
                                                                     tokensIn=-1, n=1),
           record("not a time", "ann", "success", n=2), record("2026-11-26T10:00:00Z", "ann", "success", n=3,
                                                               costUsd="1")]
    with (src / "logs" / "runs" / "2026-11-26.jsonl").open("a") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in bad) + "{torn\n")
    files_card = Cli(src)("scorecard", "--days", "7", "--format", "json",
                          env={"AGENTCTL_NOW": "2026-11-27T00:00:00Z"}).json()
    assert files_card["skippedLines"] == 5
    pg = tmp_path / "pg"
    shutil.copytree(src, pg, ignore=shutil.ignore_patterns("logs", "state", "tasks.json", "archive"))
    add_storage_block(pg)
    env = {"AGENTCTL_PG_DSN": pg_dsn}
    got = Cli(pg)("storage", "import", "--from", str(src), "--json", env=env).json()["imported"]
    assert got["skippedLines"] == 5 and got["runs"] == 404
    pg_card = Cli(pg)("scorecard", "--days", "7", "--format", "json",
                      env={**env, "AGENTCTL_NOW": "2026-11-27T00:00:00Z"}).json()
    assert pg_card["skippedLines"] == 0 and pg_card["totals"] == files_card["totals"]


def test_schema_2_numbers_and_fills_the_rows_of_schema_1(pg_dsn: str) -> None:
    """A database migrated from schema 1 gets seq (in the old read order), the new columns from doc,
    each task's previous failure and the daily rollup."""
    from agentctl.storage.postgres.connection import Database
    from agentctl.storage.postgres.migrate import shipped

    db = Database(pg_dsn)
    with db.tx() as cur:
        cur.execute(shipped()[0][2])
        cur.execute("CREATE TABLE runs_2026_11 PARTITION OF runs FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')")
        for rid, at in (("b", "2026-11-02T00:00:00Z"), ("a", "2026-11-01T00:00:00Z")):
            doc = record(at, "ann", "failure", taskId="T-1", fallbackFrom="m", idempotencyKey="k", trigger="cron")
            cur.execute("INSERT INTO runs (run_id, started_at, started_txt, agent, status, doc) VALUES "
                        "(%s, %s, %s, 'ann', %s, %s)", (rid, at, at, "failure", json.dumps(doc)))
        cur.execute("CREATE TABLE agentctl_migrations (version int PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        cur.execute("INSERT INTO agentctl_migrations (version, name) VALUES (1, '0001_init.sql')")
    from agentctl.storage.postgres.migrate import apply

    assert apply(db)[0] == "0002_run_facts.sql"  # (then the later migrations)
    with db.tx() as cur:
        cur.execute("SELECT run_id, seq, team, task_id, fallback_from, error_type, has_error, idempotency_key, "
                    "run_trigger FROM runs ORDER BY seq")
        rows = cur.fetchall()
        cur.execute("SELECT day::text, agent, status, runs, retries FROM runs_rollup ORDER BY day")
        rollup = cur.fetchall()
    db.close()
    assert rollup == [("2026-11-01", "ann", "failure", 1, 0), ("2026-11-02", "ann", "failure", 1, 1)]
    assert [r[0] for r in rows] == ["a", "b"] and rows[0][1] < rows[1][1]
    assert rows[0][2:] == ("t-ann", "T-1", "m", "RateLimitError", True, "k", "cron")
