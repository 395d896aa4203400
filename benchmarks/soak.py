"""Soak: a bounded mixed workload of N processes against one workspace.

Each worker loops until the deadline, picking one operation at a time:

- registry  — update a key of its own on one shared task, and its own task (read-modify-write);
- run       — a `runtime: command` agent run (no model server needed);
- cron      — `cron run` of a built-in job for the current slot (slots last --slot-s seconds,
              so every worker hammers the same slot);
- breaker   — `breaker trip` of one shared agent (each call adds one to its `trips` counter);
- ledger    — an idempotency key of its own, and the current slot's shared key that every
              worker races for (whoever reserves it first "executes" it).

Every worker records what it did; at the end the files are checked against those records:
lost updates (registry values, run records, breaker trips, ledger keys that are missing)
and duplicate executions (a shared key or a cron slot executed more than once). Reports
operations/s per kind and p50/p99 latency.

    python benchmarks/soak.py [--seconds 90] [--procs 4] [--slot-s 0.5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KINDS = ("registry", "run", "cron", "breaker", "ledger")
WEIGHTS = (4, 2, 2, 1, 2)
AGENTS = {
    "cmd": {"name": "cmd", "team": "ops", "role": "ops", "runtime": "command", "timeout_s": 30,
            "command": ["sh", "-c", 'printf \'{"ok": true}\' > "$AGENTCTL_OUTPUT"']},
    "tripper": {"name": "tripper", "team": "ops", "role": "ops", "runtime": "command", "command": ["true"],
                "breaker": {"cooldown_s": 60}},
}
CONFIG = {"version": 1, "tiers": {}, "pipeline": [], "roles": {}, "alerts": {},
          "cron": [{"name": "tick", "schedule": "* * * * *", "builtin": "breakers"}]}


def make_workspace(root: Path, procs: int) -> None:
    from agentctl.registry.service import NewTask, add_task
    from agentctl.workspace.loader import Workspace
    from agentctl.workspace.templates import init_workspace

    init_workspace(root, "minimal", force=False)
    (root / "agentctl.yaml").write_text(json.dumps(CONFIG, indent=1) + "\n")
    for name, body in AGENTS.items():
        (root / "agents" / f"{name}.yaml").write_text(json.dumps(body) + "\n")
    ws = Workspace(root)
    for i in range(procs + 1):
        add_task(ws, NewTask(title=f"soak task {i}"), "soak", T0)


def worker(root: str, idx: int, deadline: float, start: float, slot_s: float, seed: int, out) -> None:
    from agentctl.breakers import breaker
    from agentctl.core.clock import utcnow
    from agentctl.cron.jobs import run_job
    from agentctl.errors import AgentctlError, TryLater
    from agentctl.registry.service import Update, update_task
    from agentctl.run import idempotency
    from agentctl.run.runner import RunRequest, run_agent
    from agentctl.workspace.loader import Workspace

    ws = Workspace(Path(root))
    tripper = ws.agent("tripper")
    rng = random.Random(seed)
    lat: dict[str, list[float]] = defaultdict(list)
    did: dict = {"registry": -1, "runs": [], "trips": 0, "keys": [], "shared": [], "cron": [], "errors": Counter()}
    n = 0
    while time.time() < deadline:
        kind = rng.choices(KINDS, WEIGHTS)[0]
        slot_no = int((time.time() - start) / slot_s)
        t0 = time.perf_counter()
        try:
            if kind == "registry":
                n += 1
                update_task(ws, "T-1", Update(checks=[f"w{idx}={n}"]), f"w{idx}", T0)
                update_task(ws, f"T-{idx + 2}", Update(sets=[f"notes={n}"]), f"w{idx}", T0)
                did["registry"] = n
            elif kind == "run":
                res = run_agent(ws, RunRequest(agent="cmd", prompt=f"w{idx} {n}"), utcnow)
                did["runs"].append(res.record.runId)
            elif kind == "cron":
                slot = T0 + timedelta(minutes=slot_no)
                outcome = run_job(ws, "tick", slot, lambda slot=slot: slot)
                if outcome.records and outcome.records[-1].status == "success":
                    did["cron"].append(outcome.slot)
            elif kind == "breaker":
                breaker.trip_breaker(ws, tripper, f"w{idx}", utcnow())
                did["trips"] += 1
            else:
                key = f"w{idx}-{len(did['keys'])}"
                idempotency.reserve(ws.storage.ledger, key, "fp", utcnow())
                idempotency.complete(ws.storage.ledger, key, "fp", {"runId": key}, utcnow())
                did["keys"].append(key)
                shared = f"shared-{slot_no}"
                try:
                    if idempotency.reserve(ws.storage.ledger, shared, "fp", utcnow()) is None:
                        did["shared"].append(shared)
                        idempotency.complete(ws.storage.ledger, shared, "fp", {"runId": f"w{idx}"}, utcnow())
                except TryLater:
                    pass
        except AgentctlError as exc:  # e.g. a lock busy past its timeout: counted, not fatal
            did["errors"][f"{kind}: exit {exc.exit_code}"] += 1
            continue
        lat[kind].append(time.perf_counter() - t0)
    out.put((idx, did, dict(lat)))


def verify(root: Path, results: dict[int, dict]) -> dict[str, int]:
    """Lost updates and duplicate executions, from the files against what the workers recorded."""
    lost: Counter[str] = Counter()
    dup: Counter[str] = Counter()
    tasks = {t["taskId"]: t for t in json.loads((root / "tasks.json").read_text())["tasks"]}
    for idx, did in results.items():
        if did["registry"] >= 0:
            lost["registry"] += tasks["T-1"]["checks"].get(f"w{idx}") != did["registry"]
            lost["registry"] += tasks[f"T-{idx + 2}"].get("notes") != str(did["registry"])
    recs = []
    for path in sorted((root / "logs" / "runs").glob("*.jsonl")):
        recs += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    seen = Counter(r["runId"] for r in recs if r.get("agent") == "cmd")
    runs = [rid for did in results.values() for rid in did["runs"]]
    lost["run"] = sum(1 for rid in runs if seen[rid] == 0)
    dup["run record"] = sum(n - 1 for n in seen.values() if n > 1)
    trips = json.loads((root / "state" / "breakers.json").read_text())["agents"].get("tripper", {}).get("trips", 0)
    lost["breaker"] = sum(did["trips"] for did in results.values()) - trips
    keys = json.loads((root / "state" / "idempotency.json").read_text())["keys"]
    lost["ledger"] = sum(1 for did in results.values() for k in did["keys"] if keys.get(k, {}).get("state") != "done")
    shared = Counter(k for did in results.values() for k in did["shared"])
    dup["ledger shared key"] = sum(n - 1 for n in shared.values() if n > 1)
    claimed = Counter(s for did in results.values() for s in did["cron"])
    executed = Counter(r["idempotencyKey"] for r in recs if r.get("job") == "tick" and r.get("status") == "success")
    dup["cron slot"] = sum(n - 1 for n in executed.values() if n > 1) + sum(n - 1 for n in claimed.values() if n > 1)
    lost["cron"] = abs(len(executed) - len(claimed))
    return {**{f"lost {k}": v for k, v in lost.items()}, **{f"duplicate {k}": v for k, v in dup.items()}}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000 if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--slot-s", type=float, default=0.5, help="Length of a cron slot / shared-key window.")
    ap.add_argument("--json", help="Also write the figures to this file.")
    args = ap.parse_args()
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        make_workspace(root, args.procs)
        import agentctl.cron.jobs  # noqa: F401 — warm imports before forking
        import agentctl.run.runner  # noqa: F401

        out = ctx.Queue()
        start = time.time()
        deadline = start + args.seconds
        procs = [ctx.Process(target=worker, args=(str(root), i, deadline, start, args.slot_s, 1000 + i, out))
                 for i in range(args.procs)]
        for p in procs:
            p.start()
        got = [out.get(timeout=args.seconds + 300) for _ in procs]
        for p in procs:
            p.join(60)
        wall = time.time() - start
        results = {idx: did for idx, did, _ in got}
        lat: dict[str, list[float]] = defaultdict(list)
        for _, _, per in got:
            for k, v in per.items():
                lat[k] += v
        checks = verify(root, results)
        errors = sum((did["errors"] for did in results.values()), Counter())
        ledger_kb = (root / "state" / "idempotency.json").stat().st_size / 1024
    rows = {k: {"ops": len(lat[k]), "ops_per_s": len(lat[k]) / wall, "p50_ms": pct(lat[k], 0.5),
                "p99_ms": pct(lat[k], 0.99), "mean_ms": statistics.fmean(lat[k]) * 1000 if lat[k] else float("nan")}
            for k in KINDS}
    print(f"soak: {args.procs} processes for {wall:.1f} s on {mp.cpu_count()} core(s), Python {sys.version.split()[0]}")
    print(f"{'kind':10} {'ops':>7} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for k, r in rows.items():
        print(f"{k:10} {r['ops']:7d} {r['ops_per_s']:8.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['mean_ms']:8.1f}")
    total = sum(r["ops"] for r in rows.values())
    print(f"{'total':10} {total:7d} {total / wall:8.1f}")
    print("integrity: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    print(f"errors: {dict(errors) or 'none'}; ledger size at the end: {ledger_kb:.0f} KiB")
    if args.json:
        Path(args.json).write_text(json.dumps({"procs": args.procs, "seconds": wall, "kinds": rows,
                                               "integrity": checks, "errors": dict(errors),
                                               "ledgerKiB": ledger_kb}, indent=1) + "\n")
    return 1 if any(checks.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
