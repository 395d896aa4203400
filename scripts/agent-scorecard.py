#!/usr/bin/env python3
"""The weekly agent scorecard, as the seed runs it:

    python3 scripts/agent-scorecard.py generate --days 7 [--format table|markdown|json|html]
                                                [--output FILE] [--now ISO] [-w WORKSPACE]

A thin wrapper: it runs `agentctl scorecard` (the same code, the same report, the same
exit codes). The workspace is -w/--workspace, else $AGENTCTL_WORKSPACE, else the nearest
folder at or above the current one holding agentctl.yaml (the repository root is the
studio workspace), so it works from the repo root and from inside any workspace.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-scorecard.py", description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workspace", help="workspace folder (else $AGENTCTL_WORKSPACE or the nearest one up)")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="print (or write) the scorecard; see `agentctl scorecard --help`",
                         add_help=False)
    gen.add_argument("-w", "--workspace", dest="workspace_after", default=None)
    args, rest = parser.parse_known_args(argv)
    workspace = args.workspace_after or args.workspace
    try:
        from agentctl.cli.main import app
    except ModuleNotFoundError:  # run from a source checkout without installing
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from agentctl.cli.main import app

    forwarded = (["-w", workspace] if workspace else []) + ["scorecard", *rest]
    try:
        app(args=forwarded, prog_name="agentctl")  # messages name the command it runs
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
