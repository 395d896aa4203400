"""Scorecard scan speed (PERFORMANCE.md, Scorecard): the service against a plain json.loads loop.

Generates once (and reuses) a realistic workspace: 31 agents in 8 teams on four
tiers and one year of run records shaped exactly like the runner's (every field, nulls
included, compact), or with --pretty the same records pretty-printed (json.dumps'
spaces, keys in another order, null-filled); one file per UTC day. Default 100k runs
(≈ 274 a day); --full: ≈ 1M (2,800 a day). Then times in the same run, best of --repeat:

  baseline   for line in file: json.loads(line), over the window's files
  service    agentctl.scorecard.build.build_scorecard(ws, days=N, now=END), in-process (cron
             coverage timed apart: its slots come from croniter, once per job); at 365 days
             also in one process (AGENTCTL_SCAN_WORKERS=1: the default splits a long window
             between the usable CPUs, at most 2)
  CLI        `agentctl scorecard --days N --json` as a subprocess: the whole command

for --days 7 and --days 365: wall clock and CPU time (this process and the scan worker it
waits for), ratios, and peak memory (targets: ≥ 4× at 365 days, ≤ 0.3 s at 7 days on the
1M history, peak ≤ 100 MB).

    python benchmarks/scorecard_scan.py [--full] [--pretty] [--repeat 3] [--regenerate]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

END = datetime(2026, 7, 1, tzinfo=UTC)
DAYS = 365
RUNS_PER_DAY = 2800  # × 365 ≈ 1.02M
SEED = 20260701
FORMAT = 6  # bump when the generated data changes

TIERS = {
    "premium": ("anthropic", "claude-opus-4-6", 5.0, 25.0),
    "standard": ("anthropic", "claude-sonnet-4-6", 3.0, 15.0),
    "specialized": ("openai", "grok-code-fast-1", 0.2, 1.5),
    "economy": ("anthropic", "claude-haiku-4-5", 1.0, 5.0),
}
# 31 agents in 8 teams: (team, role, tier, relative volume)
TEAMS = {
    "leadership": [("orchestrator", "premium", 3)] * 3,
    "product": [("research", "premium", 4), ("product", "premium", 4), ("design", "standard", 6),
                ("code", "standard", 9), ("code", "standard", 9), ("review", "specialized", 8), ("qa", "standard", 6)],
    "investment": [("finance", "premium", 5), ("finance", "specialized", 8), ("finance", "specialized", 8),
                   ("finance", "premium", 3)],
    "compliance": [("compliance", "premium", 4), ("compliance", "premium", 3), ("compliance", "standard", 4)],
    "marketing": [("marketing", "premium", 6), ("marketing", "standard", 6), ("marketing", "standard", 5),
                  ("seo", "premium", 7)],
    "security": [("security", "premium", 3), ("security", "specialized", 5), ("security", "standard", 3)],
    "infrastructure": [("ops", "standard", 6), ("ops", "economy", 9), ("ops", "economy", 9)],
    "operations": [("ops", "economy", 12), ("ops", "economy", 10), ("ops", "standard", 4), ("orchestrator", "premium", 3)],
}
CRON_JOBS = [("morning-briefing", 0), ("email-triage", 1), ("portfolio-alert", 2), ("disk-monitor", None),
             ("nightly-extraction", None), ("weekly-retrospective", None), ("stale-tasks", 3), ("breaker-watch", None),
             ("news-digest", 4), ("invoice-check", 5)]
CRON_AGENTS = [27, 28, 11, 24, 25, 12]  # agent index per bound job (ops / finance agents)
STATUSES = (["success"] * 850 + ["failure"] * 70 + ["rejected"] * 30 + ["selftest_failed"] * 30
            + ["skipped"] * 15 + ["duplicate"] * 5)
STATUSES_GOOD = ["success"] * 980 + ["failure"] * 10 + ["skipped"] * 5 + ["duplicate"] * 5
STATUSES_FLAKY = ["success"] * 550 + ["failure"] * 150 + ["rejected"] * 150 + ["selftest_failed"] * 150
ERRORS = ["RateLimitError", "APITimeoutError", "OverloadedError", "SchemaInvalid", "CommandFailed"]


def agents() -> list[dict[str, object]]:
    out = []
    for team, members in TEAMS.items():
        for i, (role, tier, weight) in enumerate(members):
            out.append({"name": f"{team[:5]}-{role[:6]}-{i}", "team": team, "role": role, "tier": tier, "weight": weight})
    assert len(out) == 31 and len(TEAMS) == 8
    return out


def write_workspace(root: Path, fleet: list[dict[str, object]]) -> None:
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "logs" / "runs").mkdir(parents=True, exist_ok=True)
    tiers = "".join(f"  {t}: {{provider: {p}, model: {m}}}\n" for t, (p, m, _i, _o) in TIERS.items())
    cron = "".join(f"  - {{name: {job}, schedule: '0 * * * *', "
                   + (f"agent: {fleet[CRON_AGENTS[bound]]['name']}, prompt: x}}\n" if bound is not None else "builtin: disk}\n")
                   for job, bound in CRON_JOBS)
    (root / "agentctl.yaml").write_text(f"version: 1\nname: bench\ntiers:\n{tiers}cron:\n{cron}", encoding="utf-8")
    for a in fleet:
        (root / "agents" / f"{a['name']}.yaml").write_text(
            f"name: {a['name']}\nteam: {a['team']}\nrole: {a['role']}\ntier: {a['tier']}\nruntime: llm\nprompt: x\n",
            encoding="utf-8")


def generate(root: Path, compact: bool = False, pretty: bool = False, per_day: int = RUNS_PER_DAY) -> None:
    rnd = random.Random(SEED)
    fleet = agents()
    write_workspace(root, fleet)
    weights = [int(a["weight"]) for a in fleet]  # type: ignore[call-overload]
    encode = msgspec.json.encode
    task_seq = 0
    # most agents succeed ~85 % of the time; the SEO agent on premium 98 % (a downgrade candidate), one flaky
    quality = [STATUSES_GOOD if a["role"] == "seo" else STATUSES_FLAKY if i == 19 else STATUSES
               for i, a in enumerate(fleet)]
    open_tasks: list[str] = []
    start = END - timedelta(days=DAYS)
    for d in range(DAYS):
        day = start + timedelta(days=d)
        lines = []
        picks = rnd.choices(range(len(fleet)), weights=weights, k=per_day)
        seconds = sorted(rnd.randrange(86400) for _ in range(per_day))
        prefix = day.strftime("%Y-%m-%dT")
        for idx, sec in zip(picks, seconds, strict=True):
            a = fleet[idx]
            ms = rnd.randrange(1000)
            dur = round(rnd.uniform(2, 240), 2)
            end_s = min(sec + int(dur), 86399)
            status = rnd.choice(quality[idx])
            job, trigger, task_id, agent, builtin = None, "pipeline", None, a["name"], False
            if rnd.random() < 0.04:  # a cron run: the job's agent, or a built-in (agent null, job set)
                job, bound = CRON_JOBS[rnd.randrange(len(CRON_JOBS))]
                trigger = "cron"
                a = fleet[CRON_AGENTS[bound]] if bound is not None else a
                builtin = bound is None
                agent = a["name"] if bound is not None and d >= 120 else None  # the seed's metadata bug, fixed
            elif open_tasks and rnd.random() < 0.25:
                task_id = open_tasks.pop(rnd.randrange(len(open_tasks)))
            else:
                task_seq += 1
                task_id = f"T-{task_seq}"
            if task_id and status != "success" and len(open_tasks) < 500:
                open_tasks.append(task_id)
            provider, model, pin, pout = (None, None, 0, 0) if builtin else TIERS[str(a["tier"])]
            executed = status not in ("skipped", "duplicate")
            tin = tout = cread = 0
            cost = None
            if executed and not builtin:
                tin, tout = rnd.randrange(2_000, 60_000), rnd.randrange(200, 8_000)
                cread = rnd.randrange(0, 20_000) if provider == "anthropic" else 0
                cost = round((tin * pin + tout * pout + cread * pin / 10) / 1e6, 6)
                if rnd.random() < 0.01:
                    cost = None  # 1 %: a model with no price
            # the runner's record (RunRecord.model_dump: every field, nulls included, in this order)
            rec = {"runId": f"{rnd.getrandbits(128):032x}",
                   "startedAt": f"{prefix}{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{ms:03d}Z",
                   "endedAt": f"{prefix}{end_s // 3600:02d}:{end_s // 60 % 60:02d}:{end_s % 60:02d}.{ms:03d}Z",
                   "agent": agent, "team": None if builtin else a["team"], "role": None if builtin else a["role"],
                   "taskId": task_id, "job": job, "trigger": trigger, "tier": None if builtin else a["tier"],
                   "provider": provider, "model": model, "fallbackFrom": None, "status": status,
                   "error": None if status == "success" else {
                       "type": "BreakerOpen" if status == "skipped" else rnd.choice(ERRORS), "message": "…"},
                   "tokensIn": tin, "tokensOut": tout, "cacheReadTokens": cread, "cacheWriteTokens": 0,
                   "costUsd": cost, "durationS": dur if executed else 0.0,
                   "idempotencyKey": f"{job}:{prefix}{sec // 3600:02d}:00:00Z" if job else None,
                   "output": f"artifacts/{task_id}/out.json" if task_id and status == "success" else None,
                   "selfTest": {"ok": False, "failed": ["tests pass"]} if status == "selftest_failed" else None,
                   "rejection": {"missing": ["sources"], "errors": 1} if status == "rejected" else None}
            if compact:
                rec = {k: v for k, v in rec.items() if v is not None or k == "agent"}
            if pretty:
                lines.append(json.dumps(dict(reversed(list(rec.items())))).encode())
            else:
                lines.append(encode(rec))
        path = root / "logs" / "runs" / f"{day.date().isoformat()}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")


def ensure_data(root: Path, regenerate: bool, compact: bool, pretty: bool = False, per_day: int = RUNS_PER_DAY) -> None:
    marker = root / ".complete"
    stamp = f"{FORMAT}{'c' if compact else ''}{'p' if pretty else ''}{per_day}"
    if not regenerate and marker.exists() and marker.read_text() == stamp:
        return
    if root.exists():
        shutil.rmtree(root)
    t = time.perf_counter()
    generate(root, compact, pretty, per_day)
    marker.write_text(stamp)
    print(f"generated {DAYS * per_day:,} runs in {time.perf_counter() - t:.1f} s", flush=True)


def baseline(files: list[Path]) -> int:
    """The reference: a plain stdlib loop, one json.loads per line, nothing else."""
    n = 0
    for path in files:
        with path.open("rb") as fh:
            for line in fh:
                json.loads(line)
                n += 1
    return n


def cpu() -> float:
    """CPU time of this process and of its waited-for children (the scan's worker)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def best(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best wall time, best CPU time (this process + its worker) and the last answer of ``repeat`` runs."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        gc.collect()
        w, c = time.perf_counter(), cpu()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(cpu() - c)
    return min(walls), min(cpus), out


def cli(root: Path, days: int, repeat: int) -> tuple[float, float, float]:
    """``agentctl scorecard --days N --json`` as a user runs it: best wall time, best CPU (with its worker),
    largest max RSS (MB) of the command and its worker."""
    argv = [str(Path(sys.executable).parent / "agentctl"), "-w", str(root), "scorecard", "--days", str(days),
            "--now", END.strftime("%Y-%m-%dT%H:%M:%SZ"), "--json"]
    walls, cpus, rss = [], [], 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t)
        assert os.waitstatus_to_exitcode(status) == 0, status
        cpus.append(usage.ru_utime + usage.ru_stime)
        rss = max(rss, usage.ru_maxrss / 1024)
        proc.returncode = 0
    return min(walls), min(cpus), rss


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--dir", default=None, help="data folder (default /tmp/agentctl-bench/scorecard[-compact])")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best is kept")
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--compact", action="store_true", help="records without their null fields (smaller lines)")
    ap.add_argument("--pretty", action="store_true", help="records pretty-printed: spaces, other key order, nulls")
    ap.add_argument("--full", action="store_true", help="≈ 1M runs (2,800 a day) instead of ≈ 100k")
    args = ap.parse_args()
    per_day = RUNS_PER_DAY if args.full else 274
    name = f"scorecard{'-full' if args.full else ''}{'-compact' if args.compact else ''}{'-pretty' if args.pretty else ''}"
    root = Path(args.dir or f"/tmp/agentctl-bench/{name}")
    ensure_data(root, args.regenerate, args.compact, args.pretty, per_day)

    from agentctl.scorecard.build import build_scorecard
    from agentctl.scorecard.parallel import workers
    from agentctl.scorecard.scan import window_files
    from agentctl.workspace.loader import Workspace

    files = sorted((root / "logs" / "runs").glob("*.jsonl"))
    size = sum(p.stat().st_size for p in files)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"data: {root}  {len(files)} files  {lines:,} runs  {size / 1e6:.0f} MB  "
          f"({size / lines:.0f} B/run; {'compact' if args.compact else 'nulls included'}, "
          f"{'pretty-printed, keys reversed' if args.pretty else 'compact JSON as the runner writes it'})")
    print(f"best of {args.repeat}; wall clock, and CPU time of the process and its scan worker; "
          f"{workers()} scan process(es) by default here; load avg {os.getloadavg()[0]:.1f}")
    print(f"{'window':>22}  {'runs':>9}  {'json.loads loop':>17}  {'scorecard':>17}  {'speed-up wall/CPU':>17}")
    for days in (7, 365):
        start = END - timedelta(days=days)
        window = [p for p, _b in window_files(root / "logs" / "runs", start, END) if p.exists()]
        base_w, base_c, n = best(lambda w=window: baseline(w), args.repeat)
        assert isinstance(n, int)
        variants: list[tuple[str, str | None]] = [("in-process", None)]
        if days == 365:
            variants.append(("in-process, 1 process", "1"))
        for label, env in variants:
            if env is not None:
                os.environ["AGENTCTL_SCAN_WORKERS"] = env

            def service(d: int = days) -> dict[str, object]:
                return build_scorecard(Workspace(root), days=d, now=END, include_cron=False)

            try:
                svc_w, svc_c, report = best(service, args.repeat)
            finally:
                os.environ.pop("AGENTCTL_SCAN_WORKERS", None)
            assert isinstance(report, dict)
            print(f"{days:>4} d {label:<16}  {n:>9,}  {base_w:>6.3f} / {base_c:>6.3f} s  {svc_w:>6.3f} / {svc_c:>6.3f} s  "
                  f"{base_w / svc_w:>7.1f}× / {base_c / svc_c:>4.1f}×  (scored {report['totals']['runs']:,} runs, "
                  f"{report['skippedLines']} skipped lines)", flush=True)
        cli_w, cli_c, cli_rss = cli(root, days, args.repeat)
        print(f"{days:>4} d {'agentctl CLI':<16}  {n:>9,}  {base_w:>6.3f} / {base_c:>6.3f} s  {cli_w:>6.3f} / {cli_c:>6.3f} s  "
              f"{base_w / cli_w:>7.1f}× / {base_c / cli_c:>4.1f}×  (the whole command, cron coverage included; "
              f"peak {cli_rss:.0f} MB in its largest process)", flush=True)
    cron_w, _c, _ = best(lambda: build_scorecard(Workspace(root), days=7, now=END), 1)
    print(f"7 d with cron coverage in-process (10 hourly jobs, fed by the same scan): {cron_w:.3f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: this process {peak:.0f} MB (baseline loops included); the largest child "
          f"(a scan worker or a CLI run) {child:.0f} MB")


if __name__ == "__main__":
    main()
