"""Daily budgets: per agent and per workspace, from today's run log only."""

from __future__ import annotations

import json
from datetime import timedelta

from agentctl.core.clock import iso, utcnow
from agentctl.core.records import RunRecord
from agentctl.demo.server import Reply, Usage


def spent(llm_ws, agent: str, cost: float | None, days_ago: int = 0, status: str = "success") -> None:
    when = utcnow() - timedelta(days=days_ago)
    llm_ws.ws().storage.runlog.append(RunRecord(
        runId=f"r-x-{agent}-{cost}-{days_ago}", startedAt=iso(when), endedAt=iso(when), agent=agent,
        provider="anthropic", model="claude-haiku-4-5", status=status, costUsd=cost))  # type: ignore[arg-type]


def alerts(llm_ws) -> list[dict]:
    path = llm_ws.root / "logs" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_agent_budget_spent_refuses_with_75_a_skipped_record_and_an_alert(llm_ws):
    llm_ws.agent("writer", "name: writer\nrole: ops\ntier: economy\nprompt: p\nbudget: {daily_usd: 1}\n")
    spent(llm_ws, "writer", 0.6)
    spent(llm_ws, "writer", None)  # unpriced: not added as $0, not as anything
    spent(llm_ws, "writer", 5.0, days_ago=1)  # yesterday does not count
    spent(llm_ws, "seo", 3.0)  # another agent's spend does not count against this agent
    assert llm_ws.run("writer", prompt="x").exit_code == 0
    spent(llm_ws, "writer", 0.5)
    out = llm_ws.run("writer", prompt="x")
    assert out.exit_code == 75 and out.record.status == "skipped" and out.record.error.type == "BudgetSpent"
    assert "daily budget" in out.message and "writer" in out.message
    assert len(llm_ws.srv.requests) == 1  # the refused run never reached the model
    assert llm_ws.records()[-1]["status"] == "skipped"
    found = [a for a in alerts(llm_ws) if a["kind"] == "budget"]
    assert found and found[-1]["data"]["limitUsd"] == 1 and found[-1]["data"]["scope"] == "agent"


def test_workspace_budget_counts_every_agent(llm_ws):
    llm_ws.write_config(extra="budgets: {daily_usd: 2}\n")
    spent(llm_ws, "seo", 1.5)
    assert llm_ws.run("writer", prompt="x").exit_code == 0
    spent(llm_ws, "vivi", 0.5)
    out = llm_ws.run("writer", prompt="x")
    assert out.exit_code == 75 and "workspace" in out.message
    assert [a for a in alerts(llm_ws) if a["kind"] == "budget"][-1]["data"]["scope"] == "workspace"


def test_real_run_costs_accumulate_until_refused(llm_ws):
    llm_ws.agent("seo", "name: seo\nrole: marketing\ntier: premium\nprompt: p\nbudget: {daily_usd: 0.01}\n")
    llm_ws.srv.add(Reply(text="keywords", usage=Usage(input=1000, output=1000)))  # opus: $0.005 + $0.025
    first = llm_ws.run("seo", prompt="audit")
    assert first.exit_code == 0 and first.record.costUsd > 0.01
    from conftest import Cli

    res = Cli(llm_ws.root)("run", "seo", "--prompt", "audit", env=llm_ws.env)
    assert res.exit_code == 75 and "budget" in res.stderr and res.stdout == ""


def test_no_budget_means_no_run_log_read(llm_ws, monkeypatch):
    from agentctl.tiers import budget
    calls = []
    monkeypatch.setattr(budget, "spend_today", lambda *a: calls.append(a))
    assert llm_ws.run("writer", prompt="x").exit_code == 0
    assert calls == []


def test_a_half_open_probe_refused_by_the_budget_gives_the_probe_slot_back(llm_ws):
    from agentctl.breakers import breaker
    llm_ws.agent("writer", "name: writer\nrole: ops\ntier: economy\nprompt: p\nbudget: {daily_usd: 1}\n")
    ws = llm_ws.ws()
    agent = ws.agent("writer")
    now = utcnow()
    with ws.storage.breakers.transaction() as data:  # open, with the cooldown already over
        rec = breaker._load(ws, data, "writer")
        breaker.trip(rec, ws.breaker_for(agent), now - timedelta(hours=2))
        breaker._store(data, "writer", rec)
    spent(llm_ws, "writer", 5.0)
    out = llm_ws.run("writer", prompt="x")
    assert out.exit_code == 75 and out.record.error.type == "BudgetSpent"
    # the budget refusal did not keep the half-open probe: the next caller may probe at once
    admission = breaker.admit(ws, agent, utcnow())
    assert admission.probe
