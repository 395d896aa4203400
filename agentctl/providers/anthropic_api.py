"""Anthropic Messages API through the official SDK (imported here, inside the function).

Structured output is a forced tool call: the tool's ``input_schema`` is the agent's
``produces`` contract and ``tool_choice`` names it, so the answer arrives as the
tool's ``input``. Without a contract the reply is plain text → ``{"text": ...}``.
The system prompt carries ``cache_control`` so repeated runs of an agent can read
it from the prompt cache (reported as cache read/write tokens and priced as such).
"""

from __future__ import annotations

import json
from typing import Any

from agentctl.core.config import ModelRef
from agentctl.providers import (
    ModelAnswer,
    ModelRequest,
    TokenUsage,
    api_schema,
    send,
    text_artifact,
    tool_name,
)


def call(ref: ModelRef, request: ModelRequest, *, api_key: str, base_url: str | None) -> ModelAnswer:
    import anthropic  # noqa: TID251 — the SDK is imported only here, when a model is called

    client = anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=request.timeout_s)
    kwargs: dict[str, Any] = {
        "model": ref.model,
        "max_tokens": ref.max_tokens,
        "system": [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": request.prompt}],
    }
    name = tool_name(request.schema_name)
    if request.schema is not None:
        kwargs["tools"] = [{
            "name": name,
            "description": f"Submit the {request.schema_name or 'artifact'} artifact. Its input must satisfy the schema.",
            "input_schema": api_schema(request.schema),
        }]
        kwargs["tool_choice"] = {"type": "tool", "name": name}
    resp = send(anthropic, client, client.messages.create, kwargs, request, _message)
    return _answer(resp, name if request.schema is not None else None)


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return f"{err.get('type', 'error')}: {err.get('message', '')}"
    return str(getattr(exc, "message", exc))


def _answer(resp: Any, tool: str | None) -> ModelAnswer:
    usage = resp.usage
    tokens = TokenUsage(
        tokens_in=usage.input_tokens or 0,
        tokens_out=usage.output_tokens or 0,
        cache_read=usage.cache_read_input_tokens or 0,
        cache_write=usage.cache_creation_input_tokens or 0,
    )
    text = "".join(getattr(b, "text", "") for b in resp.content if b.type == "text")
    answer = ModelAnswer(usage=tokens, reported_model=resp.model, raw_text=text)
    if tool is None:
        answer.artifact = text_artifact(text)
        return answer
    for block in resp.content:
        if block.type == "tool_use" and block.name == tool:
            answer.artifact = block.input
            answer.raw_text = json.dumps(block.input, ensure_ascii=False)
            return answer
    try:  # a model that answered in text may still have written the JSON object
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        answer.artifact = parsed
    else:
        answer.parse_error = f"the model did not call the {tool} tool (stop reason {resp.stop_reason})"
    return answer
