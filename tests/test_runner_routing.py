"""Tier routing: retries, retry-after, fallbacks — through the real SDKs against the local server."""

from __future__ import annotations

import importlib

import pytest

from agentctl.demo.server import Fail, Reply


@pytest.fixture(autouse=True, scope="module")
def _sdks_imported():
    """Timing assertions below must not absorb a cold SDK import (seconds on a busy machine)."""
    importlib.import_module("anthropic")
    importlib.import_module("openai")


@pytest.mark.parametrize("status", [429, 529, 503, 500])
def test_fallback_after_retries_names_the_model_that_answered(llm_ws, status):
    llm_ws.srv.add(Fail(status, times=3), model="claude-sonnet-4-6")
    out = llm_ws.run("vivi", prompt="design")
    assert out.exit_code == 0, out.message
    rec = llm_ws.records()[-1]
    assert rec["model"] == "claude-haiku-4-5" and rec["fallbackFrom"] == "claude-sonnet-4-6"
    assert rec["status"] == "success"
    models = [(r.model, r.status) for r in llm_ws.srv.requests]
    assert models == [("claude-sonnet-4-6", status)] * 3 + [("claude-haiku-4-5", 200)]
    assert "fallback from claude-sonnet-4-6" in out.message


def test_retry_on_the_same_model_when_it_recovers(llm_ws):
    llm_ws.srv.add(Fail(429, retry_after=0.01), model="claude-sonnet-4-6")
    out = llm_ws.run("vivi", prompt="design")
    assert out.exit_code == 0
    assert out.record.model == "claude-sonnet-4-6" and out.record.fallbackFrom is None
    assert llm_ws.sleeps == [0.01]  # retry-after honoured


def test_retry_after_longer_than_the_cap_falls_back_at_once(llm_ws):
    llm_ws.srv.add(Fail(429, retry_after=3600), model="claude-sonnet-4-6")
    out = llm_ws.run("vivi", prompt="design")
    assert out.exit_code == 0 and out.record.fallbackFrom == "claude-sonnet-4-6"
    assert llm_ws.sleeps == []  # never sat through the hour
    assert [r.model for r in llm_ws.srv.requests] == ["claude-sonnet-4-6", "claude-haiku-4-5"]


def test_backoff_without_retry_after_is_capped(llm_ws):
    llm_ws.srv.add(Fail(529, times=2), model="claude-sonnet-4-6")
    out = llm_ws.run("vivi", prompt="design")
    assert out.exit_code == 0 and out.record.model == "claude-sonnet-4-6"
    assert llm_ws.sleeps == [0.02, 0.02]  # 0.5 s and 1 s backoff, capped by AGENTCTL_MAX_RETRY_WAIT


def test_real_sleeps_stay_small(llm_ws):
    """The default sleeper really waits; with the env cap the wait stays tiny."""
    import time

    from agentctl.core.clock import utcnow
    from agentctl.run.runner import RunRequest, run_agent

    llm_ws.srv.add(Fail(429, retry_after=5), Fail(429, retry_after=0.05), model="claude-haiku-4-5")
    env = dict(llm_ws.env, AGENTCTL_MAX_RETRY_WAIT="0.2")
    t0 = time.monotonic()
    out = run_agent(llm_ws.ws(), RunRequest(agent="writer", prompt="x"), utcnow, env=env)
    assert time.monotonic() - t0 < 3
    assert out.exit_code == 1  # economy has no fallback: retry-after 5 s > cap → no waiting, fail
    assert out.record.error.type == "RateLimited"


def test_every_model_failing_is_exit_1_with_the_chain_in_the_error(llm_ws):
    llm_ws.srv.add(Fail(529, times=3), model="claude-sonnet-4-6")
    llm_ws.srv.add(Fail(500, times=3), model="claude-haiku-4-5")
    tid = llm_ws.task("t", agent="vivi")
    out = llm_ws.run("vivi", task=tid)
    assert out.exit_code == 1
    rec = llm_ws.records()[-1]
    assert rec["status"] == "failure" and rec["error"]["type"] == "ServerError"
    assert "claude-sonnet-4-6" in rec["error"]["message"] and "claude-haiku-4-5" in rec["error"]["message"]
    assert rec["model"] == "claude-haiku-4-5" and rec["fallbackFrom"] == "claude-sonnet-4-6"
    assert rec["costUsd"] == 0.0 and rec["tokensIn"] == 0
    assert len(llm_ws.srv.requests) == 6


def test_timeout_is_one_deadline_for_the_chain(llm_ws):
    llm_ws.agent("writer", "name: writer\nrole: ops\ntier: economy\nprompt: p\ntimeout_s: 0.3\n")
    llm_ws.srv.add(Reply(text="late", delay=1.0, times=5))
    out = llm_ws.run("writer", prompt="x")
    assert out.exit_code == 1 and out.record.error.type in ("Timeout", "ModelUnavailable")
    assert out.record.durationS < 1.5


def test_fallback_with_missing_key_is_skipped(llm_ws):
    llm_ws.write_config()
    cfg = (llm_ws.root / "agentctl.yaml").read_text().replace(
        'fallback: [{provider: anthropic, model: claude-haiku-4-5, base_url',
        'fallback: [{provider: anthropic, model: claude-haiku-4-5, api_key_env: NOT_SET_KEY, base_url', 1)
    (llm_ws.root / "agentctl.yaml").write_text(cfg)
    llm_ws.srv.add(Fail(429, times=3), model="claude-sonnet-4-6")
    out = llm_ws.run("vivi", prompt="x")
    assert out.exit_code == 1 and "NOT_SET_KEY" in out.record.error.message
    assert {r.model for r in llm_ws.srv.requests} == {"claude-sonnet-4-6"}


def test_routing_unit_with_a_fake_caller():
    """The router alone: which model, how many calls, what waits (no HTTP)."""
    from agentctl.core.config import Tier
    from agentctl.providers import ModelAnswer, ModelRequest, ProviderError
    from agentctl.tiers.routing import ask

    tier = Tier.model_validate({"model": "a", "fallback": [{"model": "b"}, {"model": "c"}]})
    script = {"a": [ProviderError("rate_limited", "429", status=429, retry_after=100)],
              "b": [ProviderError("bad_request", "400", status=400)]}
    calls = []

    def caller(ref, request, *, api_key, base_url):
        calls.append(ref.model)
        queue = script.get(ref.model) or []
        if queue:
            raise queue.pop(0)
        return ModelAnswer(artifact={"text": "ok"})

    from agentctl.tiers.routing import RouteFailed

    with pytest.raises(RouteFailed) as info:
        ask(tier, ModelRequest(system="s", prompt="p"), env={"ANTHROPIC_API_KEY": "k"}, timeout_s=10,
            sleep=lambda s: None, caller=caller)
    assert calls == ["a", "b"]  # 400 on b is final: c is not tried
    assert info.value.last.kind == "bad_request"
    script["a"] = [ProviderError("overloaded", "529", status=529, retry_after=100)]
    script["b"] = [ProviderError("server", "502", status=502)] * 3
    calls.clear()
    routed = ask(tier, ModelRequest(system="s", prompt="p"), env={"ANTHROPIC_API_KEY": "k"}, timeout_s=10,
                 sleep=lambda s: None, caller=caller)
    assert calls == ["a", "b", "b", "b", "c"] and routed.ref.model == "c" and routed.fallback_from == "a"
