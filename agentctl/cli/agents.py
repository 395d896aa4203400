"""`agentctl agents list|show|validate` (SPEC §2)."""


from typing import Annotated, Any

import typer

from agentctl.cli.common import ws
from agentctl.cli.render import emit_json, kv, table

agents_app = typer.Typer(help="Agent definitions: list, show, validate.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]


def agent_summary(w: Any, agent: Any) -> dict[str, Any]:
    tier = w.config.tiers.get(agent.tier) if agent.tier else None
    return {
        "name": agent.name, "team": agent.team, "role": agent.role, "tier": agent.tier,
        "model": agent.model or (tier.model if tier else None),
        "provider": tier.provider if tier else ("command" if agent.runtime == "command" else None),
        "runtime": agent.runtime, "consumes": agent.consumes, "produces": agent.produces,
    }


@agents_app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Every agent with its team, role, tier, model and handoff kinds."""
    w = ws(ctx)
    rows = [agent_summary(w, a) for a in w.agents.values()]
    if json_:
        emit_json(rows)
    elif rows:
        typer.echo(table(rows, ["name", "team", "role", "tier", "model", "runtime", "consumes", "produces"]))
    else:
        typer.echo("no agents defined: add a file to agents/ (see `agentctl schema export` for editor help)")


@agents_app.command("show")
def show(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")], json_: JsonOpt = False) -> None:
    """One agent with its effective self-tests and breaker policy."""
    w = ws(ctx)
    agent = w.agent(name)
    data = agent_summary(w, agent)
    tier = w.tier_for(agent) if agent.tier else None
    data.update({
        "fallback": [f.model for f in tier.fallback] if tier else [],
        "promptFile": agent.prompt_file, "command": agent.command, "timeoutS": agent.timeout_s,
        "usage": agent.usage, "env": list(agent.env), "stdin": agent.stdin,
        "budget": agent.budget.model_dump() if agent.budget else None,
        "selfTests": [r.model_dump(exclude_none=True) for r in w.self_tests_for(agent)],
        "breaker": w.breaker_for(agent).model_dump(),
        "description": agent.description,
    })
    if json_:
        emit_json(data)
        return
    typer.echo(kv([(k, v) for k, v in data.items() if k not in ("selfTests", "breaker")]))
    b = data["breaker"]
    typer.echo(f"breaker       {b['threshold']} failures in {b['window_s']:g}s → open for {b['cooldown_s']:g}s")
    typer.echo("self-tests:" + ("" if data["selfTests"] else " none"))
    for rule in data["selfTests"]:
        what = rule.get("run") or rule.get("check")
        typer.echo(f"  - {rule['name']}: {what}")


@agents_app.command("validate")
def validate(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Check agents, agentctl.yaml, schemas and cron jobs; report every problem (exit 78)."""
    from agentctl.workspace.checks import validate_workspace

    problems = validate_workspace(ws(ctx))
    if json_:
        emit_json({"ok": not problems, "problems": [p.to_dict() for p in problems]})
    elif not problems:
        typer.echo("workspace is valid")
    else:
        for p in problems:
            typer.echo(p.render(), err=True)
        typer.echo(f"{len(problems)} problem(s)", err=True)
    if problems:
        raise typer.Exit(78)


def register(app: typer.Typer) -> None:
    app.add_typer(agents_app, name="agents")
