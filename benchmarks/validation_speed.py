"""Validation speed (PERFORMANCE.md, Validation): bulk throughput and one-shot start-up.

Bulk, in one process, on the studio design contract with valid and invalid payloads
(each payload a distinct object, so nothing is memoised), best of --repeat:

  fresh      jsonschema.validate(payload, schema, format_checker=...) per payload
             (re-checks the schema and builds a validator every call)
  plain      Draft202012Validator(schema, format_checker=...) built once; .is_valid
  plain+err  the same validator; list(iter_errors) (the detail a rejection needs)
  contract   agentctl's compiled contract: Contract.check → fast is_valid, and
             jsonschema's iter_errors + problems + summary only for invalid payloads
  fast-only  Contract.is_valid (the compiled fast path alone, a yes/no answer)

One-shot, in subprocesses, median of --runs: `agentctl validate FILE --schema design`
against `agentctl status` on the same workspace (target: validate ≤ 1.1× status).

    python benchmarks/validation_speed.py [--seconds 1.0] [--repeat 3] [--runs 9] [--json OUT]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agentctl.contracts.schemas import compiled_validator, format_checker, load_jsonschema  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "artifacts" / "design.valid.json"


def payloads(n: int) -> tuple[list[Any], list[Any]]:
    """``n`` distinct valid designs and ``n`` invalid ones (three kinds of fault, in turn)."""
    base = json.loads(FIXTURE.read_text())
    valid, invalid = [], []
    for i in range(n):
        ok = copy.deepcopy(base)
        ok["screens"] = [*ok["screens"], f"screen-{i}"]
        ok["wireframes"].append({"screen": f"screen-{i}", "description": "generated"})
        valid.append(ok)
        bad = copy.deepcopy(ok)
        fault = i % 3
        if fault == 0:  # the seed's incident: no breakpoint below 768px
            bad["responsiveBreakpoints"] = [b for b in bad["responsiveBreakpoints"] if b["name"] != "mobile"]
        elif fault == 1:
            del bad["componentSpecs"]
        else:
            bad["wireframes"][0]["link"] = "https://exa%mple.com"
        invalid.append(bad)
    return valid, invalid


def rate(fn: Callable[[Any], Any], items: list[Any], seconds: float, repeat: int) -> float:
    """Payloads per second, best of ``repeat`` rounds of at least ``seconds`` each."""
    best = 0.0
    for _ in range(repeat):
        done, start = 0, time.perf_counter()
        while True:
            for item in items:
                fn(item)
            done += len(items)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, done / elapsed)
    return best


def bulk(seconds: float, repeat: int) -> dict[str, dict[str, float]]:
    js = load_jsonschema()
    path = REPO / "schemas" / "design.json"
    schema = json.loads(path.read_text())
    checker = format_checker()
    contract = compiled_validator(path)
    plain = js.Draft202012Validator(schema, format_checker=checker)
    valid, invalid = payloads(60)
    mixed = [p for pair in zip(valid, invalid, strict=True) for p in pair]
    assert all(contract.check(p).valid for p in valid) and not any(contract.check(p).valid for p in invalid)

    def fresh(p: Any) -> None:
        try:
            js.validate(p, schema, format_checker=checker)
        except js.ValidationError:
            pass

    methods: dict[str, Callable[[Any], Any]] = {
        "fresh": fresh,
        "plain": plain.is_valid,
        "plain+err": lambda p: list(plain.iter_errors(p)),
        "contract": contract.check,
        "fast-only": contract.is_valid,
    }
    out: dict[str, dict[str, float]] = {}
    for name, fn in methods.items():
        secs = seconds / 4 if name == "fresh" else seconds
        out[name] = {label: rate(fn, items, secs, repeat)
                     for label, items in (("valid", valid), ("invalid", invalid), ("mixed", mixed))}
    return out


def _agentctl() -> list[str]:
    found = shutil.which("agentctl")
    return [found] if found else [sys.executable, "-m", "agentctl"]


def one_shot(runs: int) -> dict[str, float]:
    from agentctl.workspace.templates import init_workspace

    with tempfile.TemporaryDirectory(prefix="agentctl-bench-") as tmp:
        root = Path(tmp) / "ws"
        init_workspace(root, "studio", force=False)
        artifact = root / "design.json"
        shutil.copy(FIXTURE, artifact)
        base = [*_agentctl(), "-w", str(root)]
        commands = {"status": [*base, "status"],
                    "validate": [*base, "validate", str(artifact), "--schema", "design"],
                    "python -c pass": [sys.executable, "-c", "pass"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():  # interleaved: the machine's noise hits both alike
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
        return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement round")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per measurement (best is kept)")
    ap.add_argument("--runs", type=int, default=9, help="subprocess runs per command (median is kept)")
    ap.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    args = ap.parse_args()

    figures = bulk(args.seconds, args.repeat)
    print(f"Bulk validation, design contract, payloads/s (best of {args.repeat})")
    print(f"  {'method':<11}{'valid':>11}{'invalid':>11}{'mixed':>11}")
    for name, row in figures.items():
        print(f"  {name:<11}" + "".join(f"{row[k]:>11,.0f}" for k in ("valid", "invalid", "mixed")))
    plain, ours = figures["plain"], figures["contract"]
    print("  ratios: contract / plain is_valid  " + "  ".join(
        f"{k} {ours[k] / plain[k]:.1f}x" for k in ("valid", "invalid", "mixed")))
    print("          contract / fresh validate  " + "  ".join(
        f"{k} {ours[k] / figures['fresh'][k]:.0f}x" for k in ("valid", "invalid", "mixed")))
    print(f"          contract invalid / plain+err  {ours['invalid'] / figures['plain+err']['invalid']:.2f}x "
          "(the same detail, plus problems and a summary)")
    print(f"  target: >= 100,000/s bulk; contract valid = {ours['valid']:,.0f}/s, "
          f"fast-only valid = {figures['fast-only']['valid']:,.0f}/s")

    shots = one_shot(args.runs)
    print(f"\nOne-shot start-up, median of {args.runs} (subprocess)")
    for name, secs in shots.items():
        print(f"  {name:<16}{secs * 1000:>8.0f} ms")
    print(f"  ratio validate / status = {shots['validate'] / shots['status']:.2f}x (target <= 1.1x)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("  note: PYTHONDONTWRITEBYTECODE is set, so every run compiles agentctl from source")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"bulk": figures, "oneShot": shots}, indent=2) + "\n")


if __name__ == "__main__":
    main()
