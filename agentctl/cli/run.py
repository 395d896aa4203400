"""`agentctl run AGENT` (SPEC §5) and `agentctl models` (SPEC §4)."""


import time
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from agentctl.cli.common import echo_err, now, path_arg, state, ws
from agentctl.cli.render import emit_json, table

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]


def run_clock() -> Any:
    """Real time from a start that honours AGENTCTL_NOW (tests and demos pin the start)."""
    start, t0 = now(), time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - t0)

    return clock


def run(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="The agent to run (agents/AGENT.yaml).")],
    task: Annotated[str | None, typer.Option("--task", help="The task to work on (claimed for the agent).")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="Instructions for this run.")] = None,
    input_: Annotated[str | None, typer.Option("--input", help="Input artifact (JSON) instead of the task's input.")] = None,
    key: Annotated[str | None, typer.Option("--idempotency-key", help="Run at most once per key (24 h); a repeat returns the first result.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Run one agent once: gates, model or command, contract, self-tests, registry, run log.

    With no --task, --prompt or --input it runs the agent's own prompt or command. Reads the
    workspace's env file (env_file:, default .agentctl/env) for variables not set."""
    from agentctl.run.runner import RunRequest, run_agent

    if task is None and prompt is None and input_ is None:
        _own_work(ws(ctx), agent)
    input_file = str(path_arg(input_).resolve()) if input_ else None
    from agentctl.workspace.envfile import apply_env_file

    apply_env_file(ws(ctx).root)  # the env file's keys, as for cron; the shell's own values win
    outcome = run_agent(ws(ctx), RunRequest(agent=agent, task_id=task, prompt=prompt, input_file=input_file,
                                            idempotency_key=key), run_clock())
    if json_:
        data = outcome.record.model_dump(mode="json")
        if outcome.duplicate_of:
            data["duplicateOf"] = outcome.duplicate_of
        emit_json(data)
        if outcome.exit_code:
            echo_err(f"agentctl: {outcome.message}")
    elif outcome.exit_code:
        echo_err(f"agentctl: {outcome.message}")
    else:
        typer.echo(outcome.message)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def _own_work(w: Any, name: str) -> None:
    """With no --task, --prompt or --input, the agent runs its own prompt or command."""
    agent = w.agent(name)
    if agent.runtime == "llm" and not (agent.prompt or agent.prompt_file):
        from agentctl.errors import UsageError

        raise UsageError(f"nothing to run: agent {name} has no prompt of its own; "
                         "give --task ID, --prompt TEXT or --input FILE")


def models(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Each agent's tier, provider, model, fallback chain and price per million tokens."""
    from agentctl.tiers.pricing import price_per_mtok
    from agentctl.tiers.routing import chain_for

    w = ws(ctx)
    at = now()
    cache: dict[tuple[str, str, str | None], Any] = {}

    def price(ref: Any) -> Any:
        k = (ref.provider, ref.model, ref.base_url)
        if k not in cache:
            cache[k] = price_per_mtok(ref, at)
        return cache[k]

    rows: list[dict[str, Any]] = []
    for agent in w.agents.values():
        tier = w.tier_for(agent) if agent.tier else None
        if agent.runtime == "command" or (tier is None and not agent.model):
            rows.append({"agent": agent.name, "tier": agent.tier, "runtime": agent.runtime, "provider": "command",
                         "model": None, "baseUrl": None, "fallback": [], "pricePerMTok": None})
            continue
        from agentctl.core.config import ModelRef

        chain = chain_for(tier if tier is not None else ModelRef(model=agent.model or ""))
        rows.append({
            "agent": agent.name, "tier": agent.tier, "runtime": agent.runtime, "provider": chain[0].provider,
            "model": chain[0].model, "baseUrl": chain[0].base_url, "pricePerMTok": price(chain[0]),
            "fallback": [{"provider": r.provider, "model": r.model, "baseUrl": r.base_url,
                          "pricePerMTok": price(r)} for r in chain[1:]],
        })
    if json_:
        emit_json({"agents": rows, "unit": "USD per million tokens"})
        return
    if not rows:
        typer.echo("no agents defined")
        return
    typer.echo(table([_flat(r) for r in rows],
                     ["agent", "tier", "provider", "model", "fallback", "in", "out", "cacheRead", "cacheWrite"],
                     ["AGENT", "TIER", "PROVIDER", "MODEL", "FALLBACK", "IN $/MTok", "OUT", "CACHE READ", "CACHE WRITE"]))
    if state(ctx).verbose:
        typer.echo("prices from genai-prices; '-' = unpriced (recorded as costUsd null, never $0)")


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    p = row["pricePerMTok"] or {}
    out = {k: row[k] for k in ("agent", "tier", "provider", "model")}
    out["fallback"] = " → ".join(f["model"] for f in row["fallback"]) or None
    for k in ("input", "output", "cacheRead", "cacheWrite"):
        out["in" if k == "input" else "out" if k == "output" else k] = p.get(k)
    if row["model"] and not row["pricePerMTok"]:
        out["in"] = "unpriced"
    return out


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("models")(models)
