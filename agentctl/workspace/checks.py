"""`agentctl agents validate`: every problem of the workspace at once (SPEC §2).

Agents, agentctl.yaml, handoff schemas, cron expressions and the references
between them (tiers, schemas, pipeline agents) — each problem names its file,
line and field.
"""

from __future__ import annotations

from typing import Any

from agentctl.errors import Problem
from agentctl.workspace.loader import CONFIG_NAME, Workspace


def check_schema_file(ws: Workspace, name: str) -> list[Problem]:
    """Compile the contract as `validate`/`handoff` would: JSON, draft 2020-12, local $refs only."""
    from agentctl.contracts.schemas import compiled_validator
    from agentctl.errors import ConfigError

    path = ws.schemas_dir / f"{name}.json"
    display = ws.rel(path)
    try:
        compiled_validator(path, display)
    except ConfigError as exc:
        return exc.problems or [Problem(exc.message.removeprefix(f"{display}: "), file=display)]
    return []


def check_cron(ws: Workspace, jobs: list[Any], agents: dict[str, Any]) -> list[Problem]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from agentctl.workspace.cronsyntax import schedule_problem

    problems = []
    for i, job in enumerate(jobs):
        where = f"cron.{i}"
        problem = schedule_problem(job.schedule)
        if problem:
            problems.append(Problem(problem, file=CONFIG_NAME, field=f"{where}.schedule"))
        try:
            ZoneInfo(job.tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(Problem(f"unknown time zone {job.tz!r}", file=CONFIG_NAME, field=f"{where}.tz"))
        if job.agent and job.agent not in agents:
            problems.append(Problem(f"unknown agent {job.agent!r}", file=CONFIG_NAME, field=f"{where}.agent"))
    names = [j.name for j in jobs]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(Problem(f"duplicate cron job name {dup!r}", file=CONFIG_NAME, field="cron"))
    return problems


def check_rules(rules: list[Any], file: str, where: str) -> list[Problem]:
    """Self-test check paths and regexes are checked now, not discovered at run time."""
    import re

    from agentctl.selftests.jsonpath import parse

    problems = []
    for i, rule in enumerate(rules):
        if rule.check is None:
            continue
        field = f"{where}.{i}.check"
        try:
            parse(rule.check.path)
        except ValueError as exc:
            problems.append(Problem(f"bad path: {exc}", file=file, field=f"{field}.path"))
        if rule.check.matches is not None:
            try:
                re.compile(rule.check.matches)
            except re.error as exc:
                problems.append(Problem(f"bad regular expression: {exc}", file=file, field=f"{field}.matches"))
    return problems


def validate_workspace(ws: Workspace) -> list[Problem]:
    cfg, problems = ws.load_config_problems()
    loaded = ws.load_agents()
    problems += loaded.problems
    schemas = set(ws.schema_names())
    for name in sorted(schemas):
        problems += check_schema_file(ws, name)
    if cfg is None:
        return problems
    for agent in loaded.agents.values():
        file = f"agents/{agent.name}.yaml"
        if agent.tier and agent.tier not in cfg.tiers:
            problems.append(Problem(f"unknown tier {agent.tier!r} (defined: {', '.join(cfg.tiers) or 'none'})",
                                    file=file, field="tier"))
        for key in ("consumes", "produces"):
            value = getattr(agent, key)
            if value and value not in schemas:
                problems.append(Problem(f"unknown schema {value!r} (no schemas/{value}.json)", file=file, field=key))
        problems += check_rules(agent.self_tests, file, "self_tests")
        if agent.prompt_file and not (ws.root / agent.prompt_file).is_file():
            problems.append(Problem(f"prompt file {agent.prompt_file!r} not found", file=file, field="prompt_file"))
    for role, policy in cfg.roles.items():
        problems += check_rules(policy.self_tests, CONFIG_NAME, f"roles.{role}.self_tests")
    for i, stage in enumerate(cfg.pipeline):
        if stage.agent not in loaded.agents:
            problems.append(Problem(f"unknown agent {stage.agent!r}", file=CONFIG_NAME, field=f"pipeline.{i}.agent"))
        for key in ("consumes", "produces"):
            value = getattr(stage, key)
            if value and value not in schemas:
                problems.append(Problem(f"unknown schema {value!r}", file=CONFIG_NAME, field=f"pipeline.{i}.{key}"))
    for name, tier in cfg.tiers.items():
        for j, fb in enumerate(tier.fallback):
            if fb.provider == "openai" and not fb.base_url and tier.base_url and fb.model.startswith("grok"):
                problems.append(Problem("fallback on a custom endpoint needs its own base_url", file=CONFIG_NAME,
                                        field=f"tiers.{name}.fallback.{j}"))
    if cfg.learning and cfg.learning not in cfg.tiers:
        problems.append(Problem(f"unknown tier {cfg.learning!r}", file=CONFIG_NAME, field="learning"))
    problems += check_cron(ws, cfg.cron, loaded.agents)
    return problems
