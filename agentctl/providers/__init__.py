"""Edges to the models: the only package that imports an LLM SDK, always inside a function.

- ``anthropic_api`` — the Messages API through the official ``anthropic`` SDK;
- ``openai_api`` — Chat Completions through the official ``openai`` SDK (also any
  OpenAI-compatible server through ``base_url``: Ollama, vLLM, llama.cpp, xAI);
- ``command`` — ``runtime: command`` agents, argv only, in their own process group;
- ``server`` — a scripted local stand-in for both wire formats (tests, demo, benchmark).

A provider call is one HTTP request with the SDK's own retries off (``max_retries=0``):
retries, ``retry-after`` and fallbacks are the router's job (``agentctl.tiers.routing``), so
the run record can say which model answered. Provider failures are normalised into
``ProviderError`` with a ``kind`` the router understands.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentctl.core.config import ModelRef

RETRYABLE = frozenset({"rate_limited", "overloaded", "server", "timeout", "connection"})


@dataclass
class ModelRequest:
    """What the runner asks of a model, independent of the provider's wire format."""

    system: str
    prompt: str
    schema: dict[str, Any] | None = None
    """JSON Schema of the artifact (the agent's `produces` contract); None asks for plain text."""
    schema_name: str | None = None
    timeout_s: float = 600.0
    on_send: Callable[[], None] | None = None
    """Called once the SDK is loaded, right before the request goes out: work that can overlap
    the model's latency (the runner warms the price tables there)."""


@dataclass
class TokenUsage:
    """Token counts exactly as the provider reported them (see ``agentctl.tiers.pricing`` for normalising)."""

    tokens_in: int = 0
    tokens_out: int = 0
    cache_read: int = 0
    cache_write: int = 0


@dataclass
class ModelAnswer:
    artifact: Any = None
    """The structured answer (a JSON object); without a schema, the reply if it is a JSON
    object, else ``{"text": ...}`` (see ``text_artifact``)."""
    parse_error: str | None = None
    """Set when the model answered but not in the shape asked for (no tool call, not JSON)."""
    raw_text: str = ""
    usage: TokenUsage = field(default_factory=TokenUsage)
    reported_model: str | None = None


class ProviderError(Exception):
    """A failed model call. ``kind`` is one of: rate_limited, overloaded, server, timeout,
    connection (retryable, then fall back) or auth, bad_request, config (final)."""

    def __init__(self, kind: str, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def kind_for_status(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status in (503, 529):
        return "overloaded"
    if status in (408, 409) or status >= 500:
        return "server"
    if status in (401, 403):
        return "auth"
    return "bad_request"


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(status: int, message: str, headers: Any) -> ProviderError:
    return ProviderError(kind_for_status(status), f"HTTP {status}: {message}", status=status,
                         retry_after=parse_retry_after(headers))


def send(sdk: Any, client: Any, create: Callable[..., Any], kwargs: dict[str, Any], request: ModelRequest,
         message: Callable[[Any], str]) -> Any:
    """One SDK call with the SDKs' shared error vocabulary (both name their exceptions alike)
    mapped to ProviderError; the client is closed whatever happens."""
    if request.on_send is not None:
        request.on_send()
    try:
        return create(**kwargs)
    except sdk.APIStatusError as exc:
        raise status_error(exc.status_code, message(exc), exc.response.headers) from None
    except sdk.APITimeoutError:
        raise ProviderError("timeout", f"no answer within {request.timeout_s:g}s") from None
    except sdk.APIConnectionError as exc:
        raise ProviderError("connection", f"connection failed: {exc.message}") from None
    finally:
        client.close()


def call_model(ref: ModelRef, request: ModelRequest, *, api_key: str, base_url: str | None) -> ModelAnswer:
    """One request to one model, no retries. Raises ProviderError."""
    if ref.provider == "anthropic":
        from agentctl.providers.anthropic_api import call
    else:
        from agentctl.providers.openai_api import call
    return call(ref, request, api_key=api_key, base_url=base_url)


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.S)


def text_artifact(text: str) -> Any:
    """The artifact of an agent without a contract: its reply when that is a JSON object
    (bare or in a ```json fence — role self-tests can then check its fields), else ``{"text": ...}``."""
    fenced = _FENCE.match(text)
    candidate = (fenced.group(1) if fenced else text).strip()
    if candidate.startswith("{"):
        try:
            parsed = json.loads(candidate)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"text": text}


def tool_name(schema_name: str | None) -> str:
    """A tool / json_schema name the APIs accept (``^[a-zA-Z0-9_-]{1,64}$``)."""
    base = "".join(c if c.isalnum() or c in "_-" else "_" for c in (schema_name or "artifact"))
    return f"submit_{base}"[:64]


def api_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The contract as sent to a model: without the document-level ``$schema`` / ``$id`` keys."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
