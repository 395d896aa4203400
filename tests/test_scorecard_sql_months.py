"""Windows of months on PostgreSQL (``runs_rollup_month`` / ``runs_rollup_daily``, schema 5): the
scorecard of a history spread over four months — retries across month ends, unpriced runs,
agentless cron runs, windows starting mid-day — equals the file scan's, whether the rollups were
kept by the insert statement or filled by the migration from ``runs_rollup``."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import Cli, write_agent
from fixtures_postgres import add_storage_block
from test_scorecard_sql import AGENTS, TIER, _diff, record

START = datetime(2026, 8, 1, tzinfo=UTC)
WINDOWS = ((90, "2026-11-28T00:00:00Z"), (75, "2026-11-15T06:00:00Z"), (100, "2026-11-20T13:30:00Z"),
           (40, "2026-10-31T23:00:00Z"))
"""Whole months inside each window but the last; windows starting at midnight and mid-day."""


def history(rnd: random.Random) -> dict[str, list[dict[str, object]]]:
    files: dict[str, list[dict[str, object]]] = {}
    for n in range(900):
        t = START + timedelta(days=rnd.randrange(120), seconds=rnd.randrange(0, 86400, 900))
        if rnd.random() < 0.2:  # crowd the month ends: retries cross them
            t = t.replace(day=1) - timedelta(hours=rnd.randrange(1, 96)) if t.day > 3 else t
        agent = rnd.choice([*AGENTS, None])
        status = rnd.choice(["success"] * 5 + ["failure", "rejected", "skipped"])
        extra: dict[str, object] = {"n": n, "taskId": rnd.choice([None, *[f"T-{i}" for i in range(1, 6)]]),
                                    "costUsd": rnd.choice([0.25, 1.5, None]), "tokensIn": rnd.randrange(5000)}
        if agent is None and rnd.random() < 0.5:
            extra |= {"job": rnd.choice(["hourly", "nightly"]), "trigger": "cron", "tier": None, "model": None}
        at = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        files.setdefault(t.date().isoformat(), []).append(record(at, agent, status, **extra))
    for recs in files.values():
        recs.sort(key=lambda r: str(r["startedAt"]))
    return files


def files_workspace(root: Path, rnd: random.Random) -> Path:
    from agentctl.workspace.templates import init_workspace

    init_workspace(root, "minimal", force=False)
    for name in AGENTS:
        write_agent(root, name, f"name: {name}\nteam: t-{name}\nrole: analysis\ntier: {TIER[name]}\n"
                                "runtime: llm\nprompt: x\n")
    runs = root / "logs" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for day, recs in history(rnd).items():
        (runs / f"{day}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return root


def cards(root: Path, env: dict[str, str]) -> list[dict]:
    out = []
    for days, now in WINDOWS:
        res = Cli(root)("scorecard", "--days", str(days), "--format", "json", env={**env, "AGENTCTL_NOW": now})
        assert res.exit_code == 0, res.stderr
        card = res.json()
        card["window"].pop("bytes")
        out.append(card)
    return out


def refill_from_the_migration(dsn: str) -> None:
    """Empty the two rollups and fill them as migration 0005 does (from runs_rollup)."""
    from agentctl.storage.postgres.connection import Database
    from agentctl.storage.postgres.migrate import shipped

    sql = next(text for _, name, text in shipped() if name.startswith("0005_"))
    db = Database(dsn)
    with db.tx() as cur:
        cur.execute("TRUNCATE runs_rollup_month, runs_rollup_daily")
        cur.execute(sql)
    db.close()


def test_month_windows_equal_the_file_scan(tmp_path: Path, pg_dsn: str) -> None:
    src = files_workspace(tmp_path / "files", random.Random(7))
    pg = tmp_path / "pg"
    shutil.copytree(src, pg, ignore=shutil.ignore_patterns("logs", "state", "tasks.json", "archive"))
    add_storage_block(pg)
    env = {"AGENTCTL_PG_DSN": pg_dsn}
    imported = Cli(pg)("storage", "import", "--from", str(src), "--json", env=env)
    assert imported.exit_code == 0 and imported.json()["imported"]["runs"] == 900, imported.stderr
    want = cards(src, {})
    assert all(w["totals"]["runs"] > 100 for w in want)
    for label, got in (("kept on insert", cards(pg, env)), ("filled by the migration", None)):
        if got is None:
            refill_from_the_migration(pg_dsn)
            got = cards(pg, env)
        for w, g in zip(want, got, strict=True):
            if w["window"]["start"][11:19] != "00:00:00":  # (known: files counts the first day's file, which
                w["window"].pop("files", None), g["window"].pop("files", None)  # SQL sees only when it has runs in the window)
            differ = {k: _diff(w[k], g.get(k)) for k in w if w[k] != g.get(k)}
            assert not differ, (label, w["window"], differ)
