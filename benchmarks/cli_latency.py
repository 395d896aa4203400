"""Start-up cost of the hot commands (PERFORMANCE.md "Start-up").

Prints the median wall time of `agentctl --help`, `status` and `task show --json`
on a 1,000-task registry, and the ratios to baselines measured in the same run:
`python -c "import typer, pydantic, yaml, filelock"` (the CLI's own dependencies)
and a minimal two-command typer+rich app.

    python benchmarks/cli_latency.py [--runs 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import agentctl_argv, compile_bytecode, make_workspace, median_wall  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
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
            "import typer,pydantic,yaml,filelock": [py, "-c", "import typer, pydantic, yaml, filelock"],
            "minimal typer+rich app status": [py, str(app), "status", str(ws / "tasks.json")],
            "agentctl --help": agentctl_argv() + ["--help"],
            "agentctl status": cmd + ["status"],
            "agentctl task show T-500 --json": cmd + ["task", "show", "T-500", "--json"],
            "agentctl status --json": cmd + ["status", "--json"],
        }
        results = {name: median_wall(argv, args.runs) for name, argv in rows.items()}
    deps = results["import typer,pydantic,yaml,filelock"]
    mini = results["minimal typer+rich app status"]
    print(f"median of {args.runs} runs, 1,000-task registry")
    print(f"{'command':40} {'ms':>8} {'x deps':>8} {'x mini app':>10}")
    for name, t in results.items():
        print(f"{name:40} {t * 1000:8.1f} {t / deps:8.2f} {t / mini:10.2f}")


if __name__ == "__main__":
    main()
