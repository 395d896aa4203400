"""`agentctl run` for LLM agents, through the real SDKs against the local model server."""

from __future__ import annotations

import json
import threading

import pytest
from fixtures_server import valid_artifact

from agentctl.demo.server import Fail, Reply, Usage


def test_success_writes_artifact_record_and_task(llm_ws):
    tid = llm_ws.task("Design the login screen", agent="vivi")
    llm_ws.srv.add(Reply(usage=Usage(input=120, output=300, cache_read=2000, cache_write=400)))
    out = llm_ws.run("vivi", task=tid)
    assert out.exit_code == 0, out.message
    rec = llm_ws.records()[-1]
    assert rec == out.record.model_dump(mode="json")
    assert rec["status"] == "success" and rec["agent"] == "vivi" and rec["team"] == "product"
    assert rec["role"] == "design" and rec["tier"] == "standard" and rec["provider"] == "anthropic"
    assert rec["model"] == "claude-sonnet-4-6" and rec["fallbackFrom"] is None
    assert (rec["tokensIn"], rec["tokensOut"], rec["cacheReadTokens"], rec["cacheWriteTokens"]) == (120, 300, 2000, 400)
    assert rec["costUsd"] > 0 and rec["runId"].startswith("r-") and rec["trigger"] == "manual"
    assert rec["output"] == f"artifacts/{tid}/design.json"
    artifact = json.loads((llm_ws.root / rec["output"]).read_text())
    assert {"screens", "wireframes", "componentSpecs", "responsiveBreakpoints"} <= set(artifact)
    task = llm_ws.get_task(tid)
    # produces → the artifact waits for `agentctl handoff`: in_progress with output set
    assert task.status == "in_progress" and task.output == rec["output"] and task.claimedBy == "vivi"
    assert task.attempts == 1
    # what the model saw: its prompt, the marker, the task, a forced tool with the contract as input schema
    req = llm_ws.srv.requests[-1]
    assert req.agent == "vivi" and "You design screens." in req.system and "Design the login screen" in req.prompt
    assert req.schema["required"] == ["screens", "wireframes", "componentSpecs", "responsiveBreakpoints"]
    assert req.body["tool_choice"] == {"type": "tool", "name": req.schema_name}
    assert req.api_key == "test-key"


def test_agent_without_produces_gets_text_artifact_and_task_done(llm_ws):
    tid = llm_ws.task("brief me", agent="writer")
    llm_ws.srv.add(Reply(text="All quiet on the western front."))
    out = llm_ws.run("writer", task=tid)
    assert out.exit_code == 0
    assert json.loads((llm_ws.root / out.record.output).read_text()) == {"text": "All quiet on the western front."}
    assert out.record.output == f"artifacts/{tid}/output.json"
    assert llm_ws.get_task(tid).status == "done"
    assert "tools" not in llm_ws.srv.requests[-1].body


def test_json_reply_without_contract_is_the_artifact_and_role_checks_see_it(llm_ws):
    llm_ws.agent("seo", "name: seo\nteam: marketing\nrole: marketing\ntier: premium\nprompt: p\n"
                 "self_tests:\n  - name: proofread\n    check: {path: proofread, equals: true}\n")
    llm_ws.srv.add(Reply(text='```json\n{"copy": "Buy now", "proofread": true}\n```'))
    out = llm_ws.run("seo", prompt="write copy")
    assert out.exit_code == 0, out.message
    assert json.loads((llm_ws.root / out.record.output).read_text()) == {"copy": "Buy now", "proofread": True}
    llm_ws.srv.add(Reply(text="Buy now (not proofread)"))
    out = llm_ws.run("seo", prompt="write copy")
    assert out.exit_code == 4 and json.loads((llm_ws.root / out.record.output).read_text()) == {
        "text": "Buy now (not proofread)"}


def test_prompt_only_run_has_no_task(llm_ws):
    out = llm_ws.run("writer", prompt="Summarise the day")
    assert out.exit_code == 0 and out.record.taskId is None
    day = out.record.startedAt[:10]                      # one folder per day, pruned after retention_days
    assert out.record.output == f"artifacts/_runs/{day}/{out.record.runId}/output.json"
    assert "Summarise the day" in llm_ws.srv.requests[-1].prompt


def test_scripted_artifact_is_validated_and_kept(llm_ws):
    tid = llm_ws.task("design", agent="vivi")
    llm_ws.srv.add(Reply(artifact=valid_artifact("design")))
    out = llm_ws.run("vivi", task=tid)
    assert out.exit_code == 0
    assert json.loads((llm_ws.root / out.record.output).read_text()) == valid_artifact("design")


def test_invalid_output_is_rejected_exit_3_and_rework_sees_the_rejection(llm_ws):
    tid = llm_ws.task("Design checkout", agent="vivi")
    llm_ws.srv.add(Reply(omit=["responsiveBreakpoints"]))
    out = llm_ws.run("vivi", task=tid)
    assert out.exit_code == 3, out.message
    rec = llm_ws.records()[-1]
    assert rec["status"] == "rejected" and rec["output"] is None
    assert "responsiveBreakpoints" in rec["rejection"]["missing"]
    task = llm_ws.get_task(tid)
    assert task.status == "rejected" and task.output is None
    assert task.rejections[-1].by == "design contract" and "responsiveBreakpoints" in task.rejections[-1].missing
    assert not (llm_ws.root / "artifacts" / tid / "design.json").exists()
    assert (llm_ws.root / "artifacts" / tid / "design.rejected.json").exists()
    # the rework run puts the rejection in the model's context, and succeeds
    out2 = llm_ws.run("vivi", task=tid)
    assert out2.exit_code == 0, out2.message
    seen = llm_ws.srv.requests[-1].prompt
    assert "rejected" in seen and "responsiveBreakpoints" in seen
    task = llm_ws.get_task(tid)
    assert task.status == "in_progress" and task.blockedBy is None and task.attempts == 2


@pytest.mark.parametrize("raw", ["this is not json", '["a", "list"]'])
def test_unparsable_structured_answer_is_rejected(llm_ws, raw):
    tid = llm_ws.task("code it", agent="coder")
    llm_ws.srv.add(Reply(raw=raw))
    out = llm_ws.run("coder", task=tid)
    assert out.exit_code == 3
    assert llm_ws.records()[-1]["status"] == "rejected"


def test_anthropic_text_instead_of_tool_call_is_rejected(llm_ws):
    tid = llm_ws.task("design", agent="vivi")
    llm_ws.srv.add(Reply(raw="I'd rather chat about it."))
    out = llm_ws.run("vivi", task=tid)
    assert out.exit_code == 3 and "did not call" in llm_ws.get_task(tid).rejections[-1].summary


def test_openai_structured_output_via_json_schema(llm_ws):
    llm_ws.srv.add(Reply(usage=Usage(input=50, output=80, cache_read=1000)))
    out = llm_ws.run("coder", prompt="write the code")
    assert out.exit_code == 0, out.message
    req = llm_ws.srv.requests[-1]
    assert req.api == "openai" and req.body["response_format"]["type"] == "json_schema"
    assert req.body["response_format"]["json_schema"]["strict"] is False
    assert req.body["response_format"]["json_schema"]["schema"]["required"] == ["pr", "build", "criticalTodos"]
    rec = out.record
    # OpenAI's prompt_tokens includes the cached tokens: recorded as reported
    assert (rec.provider, rec.model, rec.tokensIn, rec.cacheReadTokens) == ("openai", "gpt-4o-mini", 1050, 1000)


def test_regression_rules_are_in_the_prompt(llm_ws):
    (llm_ws.root / "memory").mkdir(exist_ok=True)
    rule = "Always include a breakpoint below 768px."
    (llm_ws.root / "memory" / "regressions.yaml").write_text(
        "version: 1\nregressions:\n"
        f"  - {{id: REG-001, role: design, signature: missing-bp, rule: '{rule}', count: 2, "
        "firstSeen: '2026-01-01T00:00:00Z', lastSeen: '2026-01-02T00:00:00Z', status: active}\n"
        f"  - {{id: REG-002, role: code, signature: other, rule: 'Not for designers.', count: 1, "
        "firstSeen: '2026-01-01T00:00:00Z', lastSeen: '2026-01-02T00:00:00Z', status: active}\n")
    from agentctl.learning.regressions import active_rules

    assert active_rules(llm_ws.ws(), "design", "vivi") == [rule]  # the file is well-formed for its owner
    out = llm_ws.run("vivi", prompt="design it")
    assert out.exit_code == 0
    system = llm_ws.srv.requests[-1].system
    assert rule in system and "Not for designers." not in system


def test_input_is_validated_against_consumes(llm_ws):
    good = llm_ws.write_json("artifacts/D-1/design.json", valid_artifact("design"))
    tid = llm_ws.task("build it", agent="coder", input="artifacts/D-1/design.json")
    out = llm_ws.run("coder", task=tid)
    assert out.exit_code == 0, out.message
    assert '"responsiveBreakpoints"' in llm_ws.srv.requests[-1].prompt  # the input artifact is in context
    bad = valid_artifact("design")
    del bad["responsiveBreakpoints"]
    good.write_text(json.dumps(bad))
    tid2 = llm_ws.task("build it again", agent="coder", input="artifacts/D-1/design.json")
    n = len(llm_ws.srv.requests)
    out = llm_ws.run("coder", task=tid2)
    assert out.exit_code == 3 and "does not satisfy design" in out.message
    assert len(llm_ws.srv.requests) == n  # nothing executed
    assert llm_ws.records()[-1]["status"] == "rejected"
    task = llm_ws.get_task(tid2)
    assert task.status == "blocked" and "design" in task.blockedBy


def test_unknown_model_is_unpriced_not_free(llm_ws):
    out = llm_ws.run("llama", prompt="hello")
    assert out.exit_code == 0
    assert out.record.costUsd is None and out.record.tokensIn > 0
    assert "unpriced" in out.message


def test_missing_key_is_config_error_naming_the_variable(llm_ws):
    from conftest import Cli

    from agentctl.errors import ConfigError

    tid = llm_ws.task("needs a key", agent="writer")
    env = dict(llm_ws.env)
    del env["ANTHROPIC_API_KEY"]
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        llm_ws.run("writer", task=tid, env=env)
    res = Cli(llm_ws.root)("run", "writer", "--task", tid, env=env)
    assert res.exit_code == 78 and "ANTHROPIC_API_KEY" in res.stderr
    # checked before anything happened: no call, no record, the task untouched
    assert llm_ws.srv.requests == [] and llm_ws.records() == []
    task = llm_ws.get_task(tid)
    assert task.status == "todo" and task.attempts == 0 and task.claimedBy is None
    llm_ws.agent("vend", "name: vend\ntier: vendor\nprompt: p\n")
    with pytest.raises(ConfigError, match="VENDOR_CRED"):
        llm_ws.run("vend", prompt="x")
    llm_ws.agent("lost", "name: lost\ntier: nosuchtier\nprompt: p\n")
    with pytest.raises(ConfigError, match="nosuchtier"):
        llm_ws.run("lost", prompt="x")


def test_self_test_failure_exit_4_not_done(llm_ws):
    llm_ws.agent("vivi", "name: vivi\nteam: product\nrole: design\ntier: standard\nprompt: p\nproduces: design\n"
                 "self_tests:\n  - name: three screens\n    check: {path: screens, min_items: 3}\n")
    tid = llm_ws.task("design", agent="vivi")
    out = llm_ws.run("vivi", task=tid)
    assert out.exit_code == 4, out.message
    rec = llm_ws.records()[-1]
    assert rec["status"] == "selftest_failed" and rec["selfTest"] == {"ok": False, "failed": ["three screens"]}
    task = llm_ws.get_task(tid)
    assert task.status == "in_progress" and task.selfTest is not None and not task.selfTest.ok
    assert task.output == rec["output"]  # kept so `agentctl selftest ID` can re-check it
    llm_ws.srv.add(Reply(artifact=valid_artifact("design")))
    out = llm_ws.run("vivi", task=tid)
    assert out.exit_code == 0 and llm_ws.get_task(tid).selfTest.ok


def test_claim_conflicts_exit_5(llm_ws):
    from agentctl.errors import Conflict

    tid = llm_ws.task("mine", agent="writer")
    with pytest.raises(Conflict, match="belongs to agent writer"):
        llm_ws.run("vivi", task=tid)
    for status in ("done", "review", "blocked"):
        t2 = llm_ws.task(f"{status} task", agent="writer")
        from agentctl.core.clock import utcnow
        from agentctl.registry.service import Update, update_task

        update_task(llm_ws.ws(), t2, Update(status=status), "test", utcnow())
        with pytest.raises(Conflict):
            llm_ws.run("writer", task=t2)
    assert llm_ws.srv.requests == []


def test_registry_lock_is_not_held_during_the_model_call(llm_ws):
    tid = llm_ws.task("slow one", agent="writer")
    other = llm_ws.task("someone else's task")
    llm_ws.srv.add(Reply(text="done", delay=0.4))
    result = {}

    def runner():
        result["out"] = llm_ws.run("writer", task=tid)

    t = threading.Thread(target=runner)
    t.start()
    import time

    from agentctl.storage.files.durable import locked

    deadline = time.monotonic() + 60  # the first run in a process also imports the SDK
    while not llm_ws.srv.requests and time.monotonic() < deadline:
        time.sleep(0.005)
    assert llm_ws.srv.requests, "the model was never called"
    # while the model is "thinking", the registry lock is free (a 50 ms timeout suffices)
    with locked(llm_ws.root / "tasks.json", timeout=0.05):
        pass
    from agentctl.core.clock import utcnow
    from agentctl.registry.service import Update, update_task

    update_task(llm_ws.ws(), other, Update(phase="meanwhile"), "test", utcnow())
    t.join(10)
    assert result["out"].exit_code == 0
    assert llm_ws.get_task(other).phase == "meanwhile"


def test_provider_failure_is_exit_1_and_counts_for_the_breaker(llm_ws):
    llm_ws.agent("writer", "name: writer\nrole: ops\ntier: economy\nprompt: p\nbreaker: {threshold: 2, window_s: 60, cooldown_s: 300}\n")
    tid = llm_ws.task("x", agent="writer")
    llm_ws.srv.add(Fail(400, message="bad request: nope"))
    out = llm_ws.run("writer", task=tid)
    assert out.exit_code == 1 and out.record.status == "failure"
    assert out.record.error.type == "BadRequest" and len(llm_ws.srv.requests) == 1  # final: no retry, no fallback
    assert llm_ws.get_task(tid).status == "in_progress"
    llm_ws.srv.add(Fail(500, times=3))
    out = llm_ws.run("writer", task=tid)
    assert out.exit_code == 1 and out.breaker == "tripped"
    n = len(llm_ws.srv.requests)
    out = llm_ws.run("writer", task=tid)
    assert out.exit_code == 75 and out.record.status == "skipped" and out.record.error.type == "BreakerOpen"
    assert len(llm_ws.srv.requests) == n


def test_cli_run_json_and_exit_codes(llm_ws):
    from conftest import Cli

    cli = Cli(llm_ws.root)
    tid = llm_ws.task("design", agent="vivi")
    res = cli("run", "vivi", "--task", tid, "--json", env=llm_ws.env)
    assert res.exit_code == 0, res.stderr
    data = res.json()
    assert data["status"] == "success" and data["taskId"] == tid and res.stderr == ""
    llm_ws.srv.add(Reply(omit=["screens"]))
    res = cli("run", "vivi", "--task", tid, env=llm_ws.env)
    assert res.exit_code == 3 and "rejected" in res.stderr and res.stdout == ""
    res = cli("run", "vivi", env=llm_ws.env)  # no --task/--prompt/--input: the agent's own prompt (SPEC §13)
    assert res.exit_code == 0 and "success" in res.stdout
    res = cli("run", "nobody", "--prompt", "x", env=llm_ws.env)
    assert res.exit_code == 2 and "unknown agent" in res.stderr
