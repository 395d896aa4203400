"""The scorecard on PostgreSQL (SPEC §12, issue 14): `scorecard --days 365`, aggregated in SQL.

Loads N runs over one year (default 100k; ``--full``: 1M) into a scratch database with one
``INSERT … SELECT … generate_series`` (records shaped like the runner's: 31 agents in 8
teams, every field in ``doc``, ~4 % cron runs, 1 % unpriced, tasks retried after
failures; ``prev_failed_at`` and the daily rollup filled as migration 0002 fills them, the
monthly and per-day-and-status rollups as 0005 does), then
times in one run, best of ``--repeat``:

  facts      the SQL queries alone (``RunLog.scorecard_facts``)
  scorecard  ``build_scorecard(ws, days=365)`` in-process, the whole report (cron coverage apart,
             then with it: each cron job's runs are read only for it)

Target: ≤ 1 s at 1M runs. Needs a server: ``pg_virtualenv -t -- python benchmarks/scorecard_sql.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fresh_database  # noqa: E402
from scorecard_scan import END, TIERS, agents, write_workspace  # noqa: E402

STATUS_CYCLE = ["success"] * 17 + ["failure", "rejected", "skipped"]
LOAD = """
INSERT INTO runs (run_id, started_at, started_txt, agent, job, status, tier, model, tokens_in, tokens_out, cost_usd,
                  duration_s, team, task_id, fallback_from, error_type, has_error, idempotency_key, run_trigger, seq, doc)
SELECT id, t, txt, agent, job, status, tier, model, tin, tout, cost, dur, team, task, NULL, etype, etype IS NOT NULL,
       ikey, trig, i,
       json_build_object('runId', id, 'startedAt', txt, 'endedAt', txt, 'agent', agent, 'team', team, 'role', 'code',
                         'taskId', task, 'job', job, 'trigger', trig, 'tier', tier, 'provider', 'anthropic',
                         'model', model, 'fallbackFrom', NULL, 'status', status,
                         'error', CASE WHEN etype IS NULL THEN NULL ELSE json_build_object('type', etype,
                                  'message', 'timeout') END,
                         'tokensIn', tin, 'tokensOut', tout, 'cacheReadTokens', 0, 'cacheWriteTokens', 0,
                         'costUsd', cost, 'durationS', dur, 'idempotencyKey', ikey, 'output', NULL,
                         'selfTest', NULL, 'rejection', NULL)
FROM (SELECT i, id, t, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS txt, a.name AS agent,
             a.team, a.tier, a.model, s.status, CASE WHEN i %% 25 = 0 THEN 'job-' || (i %% 10) END AS job,
             CASE WHEN i %% 25 = 0 THEN 'cron' ELSE 'pipeline' END AS trig,
             CASE WHEN i %% 25 <> 0 THEN 'T-' || (i / 3) END AS task,
             CASE WHEN s.status <> 'success' THEN (ARRAY['RateLimitError', 'APITimeoutError', 'BreakerOpen'])[1 + i %% 3]
             END AS etype,
             CASE WHEN s.status IN ('skipped') THEN 0 ELSE 2000 + (i * 7) %% 58000 END AS tin,
             200 + (i * 13) %% 7800 AS tout,
             CASE WHEN i %% 100 = 0 THEN NULL ELSE ((i * 17) %% 1000) / 10000.0 END AS cost,
             2 + (i * 11) %% 238 AS dur,
             CASE WHEN i %% 25 = 0 THEN 'job-' || (i %% 10) || ':' || to_char(t, 'YYYY-MM-DD"T"HH24') END AS ikey
      FROM (SELECT i, md5(i::text) AS id, %(start)s::timestamptz + i * %(step)s * interval '1 second' AS t
            FROM generate_series(1::bigint, %(n)s) i) g
      JOIN unnest(%(names)s::text[], %(teams)s::text[], %(tiers)s::text[], %(models)s::text[])
           WITH ORDINALITY a(name, team, tier, model, k) ON a.k = 1 + (g.i * 7919) %% 31
      JOIN unnest(%(statuses)s::text[]) WITH ORDINALITY s(status, k) ON s.k = 1 + (g.i * 31337) %% 20) r
"""


_MIGRATION = (Path(__file__).resolve().parent.parent / "agentctl/storage/postgres/migrations/0002_run_facts.sql").read_text()
PREV_FAILED = "UPDATE runs r SET prev_failed_at" + _MIGRATION.split("UPDATE runs r SET prev_failed_at")[1].split(";")[0]
ROLLUP = "INSERT INTO runs_rollup\n" + _MIGRATION.split("INSERT INTO runs_rollup\n")[1].split(";")[0]
_MIGRATION_5 = (Path(__file__).resolve().parent.parent /
                "agentctl/storage/postgres/migrations/0005_rollup_month_daily.sql").read_text()
ROLLUPS_5 = ["INSERT INTO " + part.split(";")[0] for part in _MIGRATION_5.split("\nINSERT INTO ")[1:]]
"""What the insert path keeps per run, filled for the bulk load as the migrations fill it (0002's
daily rollup, then 0005's monthly and per-day-and-status rollups from it)."""


def load(st: object, n: int) -> None:
    fleet = agents()
    start = END - timedelta(days=365)
    for d in range(0, 370, 28):
        st.runlog.ensure_partition((start + timedelta(days=d)).date())  # type: ignore[attr-defined]
    st.runlog.ensure_partition(END.date())  # type: ignore[attr-defined]
    params = {"n": n, "start": start, "step": 365 * 86400 / (n + 1), "statuses": STATUS_CYCLE,
              "names": [a["name"] for a in fleet], "teams": [a["team"] for a in fleet],
              "tiers": [a["tier"] for a in fleet], "models": [TIERS[str(a["tier"])][1] for a in fleet]}
    with st.db.tx() as cur:  # type: ignore[attr-defined]
        cur.execute(LOAD, params)
        cur.execute("SELECT setval('runs_seq', %s)", (n + 1,))
        cur.execute(PREV_FAILED)
        cur.execute(ROLLUP)
        for sql in ROLLUPS_5:
            cur.execute(sql)
    with st.db.connect().cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("VACUUM ANALYZE runs")


def best(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def bench(root: Path, n: int, repeat: int) -> dict[str, float]:
    from agentctl.scorecard.build import build_scorecard
    from agentctl.workspace.loader import Workspace

    write_workspace(root, agents())
    with (root / "agentctl.yaml").open("a") as fh:
        fh.write("storage: {backend: postgres, dsn_env: AGENTCTL_PG_DSN}\n")
    ws = Workspace(root)
    ws.storage.recover()
    t0 = time.perf_counter()
    load(ws.storage, n)
    loaded = time.perf_counter() - t0
    lo, hi = END - timedelta(days=365), END
    facts_s, _ = best(lambda: ws.storage.runlog.scorecard_facts(lo, hi, free_jobs=[], labels={},
                                                                horizon=timedelta(days=14)),
                     repeat)
    card_s, card = best(lambda: build_scorecard(ws, days=365, now=END, include_cron=False), repeat)
    week_s, _ = best(lambda: build_scorecard(ws, days=7, now=END, include_cron=False), repeat)
    cron_s, _ = best(lambda: build_scorecard(ws, days=365, now=END), 1)
    assert card["totals"]["runs"] + card["totals"]["skipped"] + card["unknown"]["skipped"] > 0.9 * n  # type: ignore[index]
    ws.storage.close()
    return {"load": loaded, "facts": facts_s, "scorecard": card_s, "week": week_s, "cron": cron_s,
            "scored": card["totals"]["runs"]}  # type: ignore[index]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1M runs (default 100k)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.runs or (1_000_000 if args.full else 100_000)
    with fresh_database() as dsn, tempfile.TemporaryDirectory() as tmp:
        os.environ["AGENTCTL_PG_DSN"] = dsn
        r = bench(Path(tmp) / "ws", n, args.repeat)
    print(f"loaded {n:,} runs in {r['load']:.1f} s; load average {os.getloadavg()[0]:.2f}")
    print(f"scorecard --days 365 on PostgreSQL ({r['scored']:,} runs scored): {r['scorecard'] * 1000:.0f} ms "
          f"(SQL queries {r['facts'] * 1000:.0f} ms; target <= 1 s at 1M); --days 7: {r['week'] * 1000:.0f} ms; "
          f"--days 365 with cron coverage (10 hourly jobs, their runs read too): {r['cron'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
