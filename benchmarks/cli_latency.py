"""Start-up cost of the hot commands (PERFORMANCE.md "Start-up", issue 20).

Median wall time of `agentctl --help`, `status`, `task show`, `task next` and `runs --running`
(the last two when this build has them) on a 1,000-task registry, against a minimal
two-command typer+rich app measured in the same run — its `--help` for ours, its `status`
(which reads the same tasks.json with json.load) for the others. Rounds are interleaved
(one run of every command per round) so a busy machine slows every figure alike.

    python benchmarks/cli_latency.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import agentctl_argv, compile_bytecode, make_workspace  # noqa: E402

MINIMAL_APP = """
import typer, rich, json, sys
app = typer.Typer()
@app.command()
def status(path: str):
    data = json.load(open(path))
    print(len(data["tasks"]))
@app.command()
def show(x: str):
    print(x)
app()
"""
TARGETS = {"agentctl --help": ("mini --help", 1.1)}  # everything else: 1.25x the mini app's status


def _once(argv: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
    return time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", 1000)
        app = Path(tmp) / "mini.py"
        app.write_text(MINIMAL_APP)
        py = sys.executable
        cmd = agentctl_argv() + ["-w", str(ws)]
        rows = {
            "python -c pass": [py, "-c", "pass"],
            "mini --help": [py, str(app), "--help"],
            "mini status": [py, str(app), "status", str(ws / "tasks.json")],
            "agentctl --help": agentctl_argv() + ["--help"],
            "agentctl status": cmd + ["status"],
            "agentctl status --json": cmd + ["status", "--json"],
            "agentctl task show T-500": cmd + ["task", "show", "T-500"],
            "agentctl task show T-500 --json": cmd + ["task", "show", "T-500", "--json"],
            "agentctl task next --agent agent-1": cmd + ["task", "next", "--agent", "agent-1"],
            "agentctl runs --running": cmd + ["runs", "--running"],
        }
        for name in ("agentctl task next --agent agent-1", "agentctl runs --running"):
            if _once(rows[name])[1] == 2:  # not in this build (usage error)
                del rows[name]
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.runs):
            for name, argv in rows.items():
                times[name].append(_once(argv)[0])
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"median of {args.runs} interleaved runs, 1,000-task registry, load avg {os.getloadavg()[0]:.1f}")
    print(f"{'command':40} {'ms':>8} {'baseline':>12} {'ratio':>6} {'target':>7}")
    for name, t in med.items():
        if not name.startswith("agentctl"):
            print(f"{name:40} {t * 1000:8.1f}")
            continue
        base, target = TARGETS.get(name, ("mini status", 1.25))
        ratio = t / med[base]
        print(f"{name:40} {t * 1000:8.1f} {base:>12} {ratio:6.2f} {target:6.2f}x {'ok' if ratio <= target else 'OVER'}")


if __name__ == "__main__":
    main()
