"""Providers through the real SDKs against the local model server; the server's scripting API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentctl.core.config import ModelRef
from agentctl.demo.server import Fail, ModelServer, Reply, Usage, minimal_instance
from agentctl.providers import ModelRequest, ProviderError, call_model, parse_retry_after

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = sorted((REPO / "schemas").glob("*.json"))
DESIGN = json.loads((REPO / "schemas" / "design.json").read_text())


def anthropic(srv, schema=None, **kw):
    return call_model(ModelRef(model=kw.pop("model", "claude-sonnet-4-6")),
                      ModelRequest(system=kw.pop("system", "sys"), prompt="p", schema=schema,
                                   schema_name="design" if schema else None, timeout_s=kw.pop("timeout_s", 10)),
                      api_key="test-key", base_url=srv.base_url)


def openai(srv, schema=None, **kw):
    return call_model(ModelRef(provider="openai", model=kw.pop("model", "gpt-4o-mini")),
                      ModelRequest(system="sys", prompt="p", schema=schema, schema_name="design" if schema else None,
                                   timeout_s=kw.pop("timeout_s", 10)),
                      api_key="test-key", base_url=srv.openai_base_url)


def validator(schema):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.stem for p in SCHEMAS])
def test_minimal_instance_satisfies_every_studio_contract(path):
    schema = json.loads(path.read_text())
    errors = [e.message for e in validator(schema).iter_errors(minimal_instance(schema))]
    assert errors == []


@pytest.mark.parametrize("schema", [
    {"type": "object", "required": ["a", "b"], "properties": {"a": {"$ref": "#/$defs/x"}, "b": {"enum": ["p", "q"]}},
     "$defs": {"x": {"type": "integer", "minimum": 3, "multipleOf": 2}}},
    {"type": "array", "minItems": 3, "uniqueItems": True, "items": {"type": "string", "format": "email"}},
    {"allOf": [{"type": "object", "required": ["a"]}, {"required": ["b"], "properties": {"b": {"const": 7}}}]},
    {"oneOf": [{"type": "string", "pattern": "^[0-9]+$", "minLength": 3}, {"type": "null"}]},
    {"type": "number", "exclusiveMinimum": 1.5, "maximum": 9},
    {"type": ["null", "boolean"]},
    {"type": "object", "required": ["when", "id"], "properties": {"when": {"type": "string", "format": "date-time"},
                                                                 "id": {"type": "string", "format": "uuid"}}},
])
def test_minimal_instance_handles_common_keywords(schema):
    instance = minimal_instance(schema)
    assert [e.message for e in validator(schema).iter_errors(instance)] == []


def test_anthropic_tool_use_and_cache_usage(model_server):
    model_server.add(Reply(usage=Usage(input=11, output=22, cache_read=33, cache_write=44)))
    ans = anthropic(model_server, DESIGN)
    assert ans.parse_error is None and validator(DESIGN).is_valid(ans.artifact)
    assert (ans.usage.tokens_in, ans.usage.tokens_out, ans.usage.cache_read, ans.usage.cache_write) == (11, 22, 33, 44)
    req = model_server.requests[-1]
    assert req.api == "anthropic" and req.body["tool_choice"]["type"] == "tool"
    assert "$schema" not in req.body["tools"][0]["input_schema"] and "$id" not in req.body["tools"][0]["input_schema"]
    assert req.body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_openai_json_schema_and_cached_tokens(model_server):
    model_server.add(Reply(merge={"designSystem": {"grid": 8}}, usage=Usage(input=100, output=5, cache_read=400)))
    ans = openai(model_server, DESIGN)
    assert ans.artifact["designSystem"] == {"grid": 8} and validator(DESIGN).is_valid(ans.artifact)
    assert (ans.usage.tokens_in, ans.usage.cache_read) == (500, 400)  # prompt_tokens includes the cached ones
    assert model_server.requests[-1].body["max_tokens"] == 4096  # a compatible server gets max_tokens


def test_plain_text_replies(model_server):
    model_server.add(Reply(text="hello"), Reply(text="bonjour"))
    assert anthropic(model_server).artifact == {"text": "hello"}
    assert openai(model_server).artifact == {"text": "bonjour"}


@pytest.mark.parametrize("call", [anthropic, openai])
@pytest.mark.parametrize("status,kind", [(429, "rate_limited"), (529, "overloaded"), (503, "overloaded"),
                                         (500, "server"), (502, "server"), (401, "auth"), (400, "bad_request"),
                                         (404, "bad_request")])
def test_errors_are_classified_with_retry_after(model_server, call, status, kind):
    model_server.add(Fail(status, retry_after=7, message="nope"))
    with pytest.raises(ProviderError) as info:
        call(model_server)
    err = info.value
    assert (err.kind, err.status, err.retry_after) == (kind, status, 7.0)
    assert "nope" in err.message
    assert err.retryable == (kind in ("rate_limited", "overloaded", "server"))


@pytest.mark.parametrize("call", [anthropic, openai])
def test_slow_reply_is_a_timeout(model_server, call):
    model_server.add(Reply(text="late", delay=1.0))
    with pytest.raises(ProviderError) as info:
        call(model_server, timeout_s=0.2)
    assert info.value.kind == "timeout" and info.value.retryable


def test_connection_refused_is_retryable():
    with ModelServer() as srv:
        url = srv.base_url
    with pytest.raises(ProviderError) as info:
        call_model(ModelRef(model="m"), ModelRequest(system="s", prompt="p", timeout_s=2), api_key="k", base_url=url)
    assert info.value.kind in ("connection", "timeout") and info.value.retryable


def test_script_queues_agent_then_model_then_global_then_default(model_server):
    srv = model_server
    srv.add(Reply(text="global"))
    srv.add(Reply(text="for opus"), model="claude-opus-4-6")
    srv.add(Reply(text="for vivi", times=2), agent="vivi")
    assert srv.pending() == 4
    assert anthropic(srv, system="agentctl-agent: vivi").artifact["text"] == "for vivi"
    assert anthropic(srv, system="agentctl-agent: vivi", model="claude-opus-4-6").artifact["text"] == "for vivi"
    assert anthropic(srv, system="agentctl-agent: vivi", model="claude-opus-4-6").artifact["text"] == "for opus"
    assert anthropic(srv, system="agentctl-agent: jack").artifact["text"] == "global"
    assert anthropic(srv).artifact["text"] == "ok"  # the default reply
    assert srv.pending() == 0
    assert [r.agent for r in srv.requests] == ["vivi", "vivi", "vivi", "jack", None]
    srv.add(lambda req: Reply(text=f"echo {req.model}"))
    assert anthropic(srv, model="m-1").artifact["text"] == "echo m-1"


def test_no_default_answers_script_exhausted():
    with ModelServer(use_default=False) as srv:
        with pytest.raises(ProviderError) as info:
            anthropic(srv)
    assert info.value.status == 500 and "script exhausted" in info.value.message


def test_busy_time_counts_delays():
    with ModelServer([Reply(text="x", delay=0.2)]) as srv:
        anthropic(srv)
        assert 0.2 <= srv.busy_s < 2


def test_unknown_paths_are_404(model_server):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(model_server.base_url + "/v1/embeddings", data=b"{}"), timeout=5)
    info.value.close()
    assert info.value.code == 404


@pytest.mark.parametrize("text,artifact", [
    ('{"a": 1}', {"a": 1}), ('```json\n{"a": 1}\n```', {"a": 1}), ("```\n{\"a\": 1}\n```", {"a": 1}),
    ("plain words", {"text": "plain words"}), ("[1, 2]", {"text": "[1, 2]"}), ("{broken", {"text": "{broken"}),
])
def test_text_artifact(text, artifact):
    from agentctl.providers import text_artifact

    assert text_artifact(text) == artifact


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
