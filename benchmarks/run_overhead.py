"""Orchestration overhead of `agentctl run` (PERFORMANCE.md, Run).

Runs, interleaved in the same process so machine noise hits every figure alike:

- ``python -c pass`` (interpreter floor),
- ``python -c "import anthropic"`` (the SDK import every LLM run pays),
- a bare SDK call: the same ``messages.create`` with the same forced tool, by hand
  (import, client, one request — the SDK's own first-call cost included),
- ``agentctl run bench --task T-n`` as a subprocess — an LLM agent with a
  ``produces`` contract on a tier pointed at the local model server (claim, context,
  SDK call, contract validation, cost, artifact, registry update, run record) —
  minus the server's own time for that run.

overhead = run − server time − import anthropic (the target: ≤ 300 ms), and
run − bare SDK call (what agentctl adds to doing the call by hand).

``--before REV`` adds the same `agentctl run` from an older commit (``git archive REV
agentctl`` on ``PYTHONPATH``, same interpreter and packages, its own workspace), interleaved
with the others, so a change is measured against its starting point in the same run.
Both are then started as ``python -m agentctl`` from a neutral folder.

    python benchmarks/run_overhead.py [-n 7] [--json] [--before REV]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agentctl.demo.server import ModelServer, Reply, Usage  # noqa: E402

AGENT = """name: bench
team: bench
role: design
tier: fast
prompt: You design screens.
produces: design
"""


BARE_SDK = """
import json, sys, anthropic
schema = json.load(open(sys.argv[2]))
schema.pop("$schema", None); schema.pop("$id", None)
client = anthropic.Anthropic(api_key="bench-key-not-real", base_url=sys.argv[1], max_retries=0)
client.messages.create(model="claude-haiku-4-5", max_tokens=4096, system="s",
                       messages=[{"role": "user", "content": "p"}],
                       tools=[{"name": "submit_design", "input_schema": schema}],
                       tool_choice={"type": "tool", "name": "submit_design"})
"""


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: str | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one subprocess; CPU time is far less sensitive to a busy machine."""
    cpu0, t0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return wall, cpu


def workspace(root: Path, base_url: str) -> None:
    from agentctl.workspace.templates import init_workspace

    init_workspace(root, "minimal", force=False)
    (root / "agentctl.yaml").write_text(
        f"version: 1\ntiers:\n  fast: {{provider: anthropic, model: claude-haiku-4-5, base_url: \"{base_url}\"}}\n")
    shutil.rmtree(root / "schemas")
    shutil.copytree(REPO / "schemas", root / "schemas")
    (root / "agents" / "bench.yaml").write_text(AGENT)


def add_task(root: Path, n: int) -> str:
    from agentctl.core.clock import utcnow
    from agentctl.registry.service import NewTask, add_task
    from agentctl.workspace.loader import Workspace

    return add_task(Workspace(root), NewTask(title=f"bench {n}", agent="bench"), "bench", utcnow()).taskId


def _before(rev: str, tmp: Path, srv: ModelServer, env: dict[str, str], walls: dict[str, list[float]],
            cpus: dict[str, list[float]]) -> Callable[[int], None]:
    """One `agentctl run` as of ``rev`` per call (its own tree, workspace and figures: ``before``)."""
    tree = tmp / "before"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "agentctl"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree)], check=True, stdout=subprocess.DEVNULL)
    benv = {**env, "PYTHONPATH": str(tree)}
    root = tmp / "ws-before"
    workspace(root, srv.base_url)
    argv = [sys.executable, "-m", "agentctl", "-w", str(root), "run", "bench", "--task"]
    timed([*argv, add_task(root, 0)], benv, str(tmp))  # warm its caches too
    walls["before"], walls["server_before"], cpus["before"] = [], [], []

    def once(i: int) -> None:
        task, busy = add_task(root, i), srv.busy_s
        wall, cpu = timed([*argv, task], benv, str(tmp))
        walls["server_before"].append(srv.busy_s - busy)
        walls["before"].append(wall)
        cpus["before"].append(cpu)

    return once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=7, help="iterations (median reported)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--before", metavar="REV", help="also time `agentctl run` as of this commit, interleaved")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import compile_bytecode

    compile_bytecode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_") and not k.endswith("_API_KEY")}
    env["ANTHROPIC_API_KEY"] = "bench-key-not-real"
    agentctl = shutil.which("agentctl")
    run_cmd = [agentctl] if agentctl and not args.before else [sys.executable, "-m", "agentctl"]
    walls: dict[str, list[float]] = {"pass": [], "import_anthropic": [], "bare_sdk_call": [], "run": [], "server": []}
    cpus: dict[str, list[float]] = {"pass": [], "import_anthropic": [], "bare_sdk_call": [], "run": []}
    with tempfile.TemporaryDirectory() as tmp, ModelServer() as srv:
        srv.default = Reply(usage=Usage(input=1500, output=400, cache_read=3000))
        root = Path(tmp) / "ws"
        workspace(root, srv.base_url)
        before = _before(args.before, Path(tmp), srv, env, walls, cpus) if args.before else None
        timed([*run_cmd, "-w", str(root), "run", "bench", "--task", add_task(root, 0)], env, tmp)  # warm caches
        for i in range(1, args.n + 1):
            if before is not None and i % 2:  # alternate its place, so neither side is always first
                before(i)
            for name, argv in (("pass", [sys.executable, "-c", "pass"]),
                               ("import_anthropic", [sys.executable, "-c", "import anthropic"]),
                               ("bare_sdk_call", [sys.executable, "-c", BARE_SDK, srv.base_url,
                                                  str(root / "schemas" / "design.json")])):
                wall, cpu = timed(argv, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
            task = add_task(root, i)
            busy = srv.busy_s
            wall, cpu = timed([*run_cmd, "-w", str(root), "run", "bench", "--task", task], env, tmp)
            walls["server"].append(srv.busy_s - busy)
            walls["run"].append(wall)
            cpus["run"].append(cpu)
            if before is not None and not i % 2:
                before(i)
    med = {k: statistics.median(v) for k, v in walls.items()}
    low = {k: min(v) for k, v in walls.items()}
    cmed = {k: statistics.median(v) for k, v in cpus.items()}
    result = {
        "iterations": args.n,
        "command": " ".join(run_cmd),
        "wall_median_ms": {k: round(v * 1000, 1) for k, v in med.items()},
        "wall_min_ms": {k: round(v * 1000, 1) for k, v in low.items()},
        "cpu_median_ms": {k: round(v * 1000, 1) for k, v in cmed.items()},
        "overhead_ms": {
            "wall_median": round((med["run"] - med["server"] - med["import_anthropic"]) * 1000, 1),
            "wall_min": round((low["run"] - low["server"] - low["import_anthropic"]) * 1000, 1),
            "cpu_median": round((cmed["run"] - cmed["import_anthropic"]) * 1000, 1),
            "vs_bare_sdk_call_wall_median": round((med["run"] - med["bare_sdk_call"]) * 1000, 1),
            "vs_bare_sdk_call_cpu_median": round((cmed["run"] - cmed["bare_sdk_call"]) * 1000, 1),
        },
        **({"overhead_before_ms": _overhead(med, low, cmed, "before")} if args.before else {}),
        "target_ms": 300,
        "ratio_run_to_import_anthropic": round(med["run"] / med["import_anthropic"], 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"agentctl run overhead ({args.n} iterations; {result['command']}; load avg {os.getloadavg()[0]:.1f})")
    print(f"  {'':34} {'wall median':>12} {'wall min':>10} {'CPU median':>11}")
    for key, label in (("pass", "python -c pass"), ("import_anthropic", "python -c 'import anthropic'"),
                       ("bare_sdk_call", "bare SDK call (same request)"),
                       ("run", "agentctl run (LLM, produces design)")):
        print(f"  {label:34} {med[key] * 1000:9.1f} ms {low[key] * 1000:7.1f} ms {cmed[key] * 1000:8.1f} ms")
    print(f"  {'model server time (in run)':34} {med['server'] * 1000:9.1f} ms")
    o = result["overhead_ms"]
    print(f"  overhead = run - server - import anthropic: {o['wall_median']:.1f} ms (medians), "
          f"{o['wall_min']:.1f} ms (minimums), {o['cpu_median']:.1f} ms CPU  (target <= 300 ms)")
    print(f"  agentctl run - bare SDK call: {o['vs_bare_sdk_call_wall_median']:.1f} ms (medians), "
          f"{o['vs_bare_sdk_call_cpu_median']:.1f} ms CPU")
    print(f"  ratio run / import anthropic: {result['ratio_run_to_import_anthropic']:.2f}x")
    if args.before:
        b = result["overhead_before_ms"]
        print(f"  agentctl run as of {args.before}: {med['before'] * 1000:.1f} ms median, {low['before'] * 1000:.1f} ms min, "
              f"{cmed['before'] * 1000:.1f} ms CPU; overhead then {b['wall_median']:.1f} ms (medians), "
              f"{b['wall_min']:.1f} ms (minimums), {b['cpu_median']:.1f} ms CPU")


def _overhead(med: dict[str, float], low: dict[str, float], cmed: dict[str, float], key: str) -> dict[str, float]:
    server = f"server_{key}"
    return {"wall_median": round((med[key] - med[server] - med["import_anthropic"]) * 1000, 1),
            "wall_min": round((low[key] - low[server] - low["import_anthropic"]) * 1000, 1),
            "cpu_median": round((cmed[key] - cmed["import_anthropic"]) * 1000, 1)}


if __name__ == "__main__":
    main()
