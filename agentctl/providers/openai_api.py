"""OpenAI Chat Completions through the official SDK (imported here, inside the function);
also any OpenAI-compatible server through ``base_url`` (Ollama, vLLM, llama.cpp, xAI).

Structured output is ``response_format={"type": "json_schema", ...}`` with
``strict: false`` (strict mode rejects most real-world contracts: optional
properties, ``format``, ``minItems``); the answer is validated locally anyway.
``prompt_tokens`` as reported *includes* cached tokens (see ``agentctl.tiers.pricing``).
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
    import openai  # noqa: TID251 — the SDK is imported only here, when a model is called

    client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=request.timeout_s)
    kwargs: dict[str, Any] = {
        "model": ref.model,
        "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
    }
    # api.openai.com wants max_completion_tokens (o-series refuse max_tokens); compatible servers know max_tokens
    kwargs["max_tokens" if base_url else "max_completion_tokens"] = ref.max_tokens
    if request.schema is not None:
        kwargs["response_format"] = {"type": "json_schema", "json_schema": {
            "name": tool_name(request.schema_name), "schema": api_schema(request.schema), "strict": False}}
    resp = send(openai, client, client.chat.completions.create, kwargs, request, _message)
    return _answer(resp, structured=request.schema is not None)


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return f"{err.get('type') or err.get('code') or 'error'}: {err['message']}"
    return str(getattr(exc, "message", exc))


def _usage(usage: Any) -> TokenUsage:
    if usage is None:
        return TokenUsage()
    details = getattr(usage, "prompt_tokens_details", None)
    return TokenUsage(
        tokens_in=usage.prompt_tokens or 0,
        tokens_out=usage.completion_tokens or 0,
        cache_read=(getattr(details, "cached_tokens", None) or 0) if details else 0,
        cache_write=(getattr(details, "cache_write_tokens", None) or 0) if details else 0,
    )


def _answer(resp: Any, structured: bool) -> ModelAnswer:
    answer = ModelAnswer(usage=_usage(resp.usage), reported_model=getattr(resp, "model", None))
    if not resp.choices:
        answer.parse_error = "the model returned no choices"
        return answer
    message = resp.choices[0].message
    text = message.content or ""
    answer.raw_text = text
    if not structured:
        answer.artifact = text_artifact(text)
        return answer
    if getattr(message, "refusal", None):
        answer.parse_error = f"the model refused: {message.refusal}"
        return answer
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        answer.parse_error = f"the answer is not JSON ({exc})"
        return answer
    if isinstance(parsed, dict):
        answer.artifact = parsed
    else:
        answer.parse_error = f"the answer is JSON but not an object ({type(parsed).__name__})"
    return answer
