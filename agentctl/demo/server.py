"""A scripted, offline stand-in for the Anthropic and OpenAI model APIs on 127.0.0.1.

It speaks enough of both wire formats for the *real* SDKs to parse its answers:
``POST /v1/messages`` (Anthropic Messages: text and forced ``tool_use`` replies, usage
with ``cache_creation_input_tokens`` / ``cache_read_input_tokens``, typed errors) and
``POST /v1/chat/completions`` (OpenAI Chat Completions: ``json_schema`` replies, usage
with ``prompt_tokens_details.cached_tokens``). Nothing leaves 127.0.0.1. The tests,
``agentctl demo`` and the benchmark all use it::

    from agentctl.demo.server import ModelServer, Reply, Fail, Usage

    with ModelServer() as srv:                        # port 0: a free port
        srv.add(Fail(429, retry_after=1), model="claude-opus-4-6")   # the premium model is rate limited once
        srv.add(Reply(omit=["responsiveBreakpoints"]), agent="vivi") # vivi forgets the breakpoints
        srv.add(Reply(usage=Usage(input=1200, output=300, cache_read=4000)))
        ...point a tier's base_url at srv.base_url (Anthropic) or srv.openai_base_url (OpenAI)...
        assert "responsive" in srv.requests[-1].text  # what the model saw

Scripting. Each request takes the next *step* from, in order: the queue of the agent
named in the system prompt (the runner writes a line ``agentctl-agent: NAME``), the
queue of the requested model, the global queue; when all are empty the ``default``
step answers (``Reply()`` unless changed; ``default=None`` answers 500 "script
exhausted"). A step is:

- ``Reply(...)`` — a successful answer. With a schema in the request (a forced tool,
  or ``response_format.json_schema``) the answer is ``artifact`` if given, else a
  minimal valid instance generated from the schema (``minimal_instance``: required
  properties, ``minItems``, ``contains``, ``enum``/``const``, formats such as ``uri``),
  then ``merge`` is laid over it and the ``omit`` keys are dropped. ``raw`` sends
  that exact text instead (e.g. broken JSON, or text where a tool call was forced);
  ``text`` is the reply when no schema was asked for. ``usage`` gives token counts
  (uncached ``input``, ``output``, ``cache_read``, ``cache_write``; missing counts are
  estimated from sizes). ``delay`` sleeps first (slow replies, timeouts).
- ``Fail(status, retry_after=..., message=..., echo_key=...)`` — an error in the
  provider's format (429 rate limit, 529/503 overloaded, 500, 401 ...), with a
  ``retry-after`` header when given; ``echo_key`` puts the caller's API key in the
  message (as some gateways do) to test redaction.
- a callable ``step(request) -> Reply | Fail`` for anything else.

Every step has ``times`` (how many requests it answers). ``srv.requests`` records
every request received (``RecordedRequest``: api, model, system, prompt, schema,
agent, api_key, body, ``text``); ``srv.busy_s`` is the total time spent answering
(including delays), so a benchmark can subtract the model's share.

Pointing agentctl at it: set a tier's ``base_url`` (Anthropic tiers: ``srv.base_url``;
OpenAI-compatible tiers: ``srv.openai_base_url``), or set ``AGENTCTL_MODEL_BASE_URL``
to ``srv.base_url`` to send *every* model call there while prices still follow the
configured providers (the demo's way: the studio config stays untouched). Any
non-empty key works (``ANTHROPIC_API_KEY=offline-demo``). Retries honour
``retry-after`` capped by ``AGENTCTL_MAX_RETRY_WAIT`` (default 30 s): script a
rate-limited model with a large ``retry_after`` to make the router fall back at once,
or set ``AGENTCTL_MAX_RETRY_WAIT=0`` so retries do not wait.

``python -m agentctl.demo.server`` serves default replies until interrupted.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AGENT_MARKER = re.compile(r"agentctl-agent: ([a-z][a-z0-9-]*)")


# --- the script ---------------------------------------------------------------

@dataclass
class Usage:
    """Token counts to report. ``input`` is the uncached input; None → estimated from sizes."""

    input: int | None = None
    output: int | None = None
    cache_read: int = 0
    cache_write: int = 0


@dataclass
class Reply:
    artifact: Any = None
    text: str | None = None
    merge: dict[str, Any] | None = None
    omit: list[str] = field(default_factory=list)
    raw: str | None = None
    usage: Usage | None = None
    delay: float = 0.0
    model: str | None = None
    """Model name to report (default: the one requested)."""
    times: int = 1


@dataclass
class Fail:
    status: int = 429
    retry_after: float | None = None
    message: str | None = None
    echo_key: bool = False
    delay: float = 0.0
    times: int = 1


Step = Reply | Fail | Callable[["RecordedRequest"], Reply | Fail]


@dataclass
class RecordedRequest:
    api: str
    """``anthropic`` or ``openai``."""
    path: str
    model: str | None
    system: str
    prompt: str
    schema: dict[str, Any] | None
    schema_name: str | None
    agent: str | None
    api_key: str | None
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0
    """The HTTP status answered."""

    @property
    def text(self) -> str:
        """Everything the model saw, as one string (system prompt, then messages)."""
        return f"{self.system}\n{self.prompt}"


class _Queue:
    def __init__(self, steps: Iterable[Step] = ()):
        self.items: deque[list[Any]] = deque([s, getattr(s, "times", 1)] for s in steps)

    def take(self) -> Step | None:
        if not self.items:
            return None
        head = self.items[0]
        head[1] -= 1
        if head[1] <= 0:
            self.items.popleft()
        return head[0]  # type: ignore[no-any-return]


class ModelServer:
    """The server; a context manager that starts it on 127.0.0.1 and stops it on exit."""

    def __init__(self, script: Iterable[Step] = (), *, default: Reply | Fail | None = None, use_default: bool = True,
                 host: str = "127.0.0.1", port: int = 0):
        self._lock = threading.Lock()
        self._global = _Queue(script)
        self._by_model: dict[str, _Queue] = {}
        self._by_agent: dict[str, _Queue] = {}
        self.default: Reply | Fail | None = (default or Reply()) if use_default else None
        self.requests: list[RecordedRequest] = []
        self.busy_s = 0.0
        self._host, self._port = host, port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ----------------------------------------------------------------
    def add(self, *steps: Step, model: str | None = None, agent: str | None = None) -> ModelServer:
        """Queue steps for one agent, one model, or (neither) every request."""
        with self._lock:
            if agent is not None:
                queue = self._by_agent.setdefault(agent, _Queue())
            elif model is not None:
                queue = self._by_model.setdefault(model, _Queue())
            else:
                queue = self._global
            queue.items.extend([s, getattr(s, "times", 1)] for s in steps)
        return self

    def pending(self) -> int:
        """Steps not used yet (all queues)."""
        with self._lock:
            queues = [self._global, *self._by_model.values(), *self._by_agent.values()]
            return sum(n for q in queues for _, n in q.items)

    def reset(self) -> None:
        with self._lock:
            self._global, self._by_model, self._by_agent = _Queue(), {}, {}
            self.requests.clear()
            self.busy_s = 0.0

    def _next_step(self, req: RecordedRequest) -> Reply | Fail | None:
        with self._lock:
            step: Step | None = None
            if req.agent and req.agent in self._by_agent:
                step = self._by_agent[req.agent].take()
            if step is None and req.model in self._by_model:
                step = self._by_model[req.model].take()
            if step is None:
                step = self._global.take()
        if step is None:
            return self.default
        return step(req) if callable(step) else step

    # --- lifecycle -----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Root URL: the Anthropic SDK's ``base_url``."""
        if self._httpd is None:
            raise RuntimeError("the model server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    @property
    def openai_base_url(self) -> str:
        """The OpenAI SDK's ``base_url`` (``/v1`` included)."""
        return self.base_url + "/v1"

    def start(self) -> ModelServer:
        handler = type("Handler", (_Handler,), {"model_server": self})
        self._httpd = ThreadingHTTPServer((self._host, self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="agentctl-model-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- answering -------------------------------------------------------------------
    def handle(self, api: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        started = time.monotonic()
        req = _record(api, path, headers, body)
        with self._lock:
            self.requests.append(req)
        step = self._next_step(req)
        try:
            if step is None:
                status, extra, payload = _error(api, 500, "script exhausted: no step left for this request", None)
            else:
                if step.delay:
                    time.sleep(step.delay)
                if isinstance(step, Fail):
                    message = step.message or _DEFAULT_MESSAGES.get(step.status, "error")
                    if step.echo_key:
                        message += f" (invalid credentials: {req.api_key})"
                    status, extra, payload = _error(api, step.status, message, step.retry_after)
                else:
                    status, extra, payload = 200, {}, _reply(api, req, step)
            req.status = status
            return status, extra, payload
        finally:
            with self._lock:
                self.busy_s += time.monotonic() - started


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    model_server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — silence the default stderr log
        pass

    def do_POST(self) -> None:  # noqa: N802 — http.server's naming
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        api = "anthropic" if path.endswith("/messages") else "openai" if path.endswith("/chat/completions") else None
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if api is None or not isinstance(body, dict):
            self._send(404 if api is None else 400, {}, {"error": {"message": f"unknown endpoint or body: {path}"}})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, payload = self.model_server.handle(api, path, headers, body)
        self._send(status, extra, payload)

    def do_GET(self) -> None:  # noqa: N802
        self._send(404, {}, {"error": {"message": "only POST /v1/messages and /v1/chat/completions"}})

    def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", "req_" + secrets.token_hex(8))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


# --- wire formats --------------------------------------------------------------------

_DEFAULT_MESSAGES = {429: "rate limited: too many requests", 529: "overloaded", 503: "service unavailable",
                     500: "internal server error", 401: "invalid api key", 400: "bad request"}
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    503: "overloaded_error", 529: "overloaded_error"}
_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                 429: "rate_limit_exceeded", 503: "server_error"}


def _flatten(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return ""


def _record(api: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> RecordedRequest:
    schema = name = None
    if api == "anthropic":
        system = _flatten(body.get("system", ""))
        prompt = "\n".join(_flatten(m.get("content")) for m in body.get("messages", []) if isinstance(m, dict))
        choice = body.get("tool_choice") or {}
        for tool in body.get("tools") or []:
            if choice.get("type") == "tool" and tool.get("name") == choice.get("name"):
                schema, name = tool.get("input_schema"), tool.get("name")
    else:
        msgs = [m for m in body.get("messages", []) if isinstance(m, dict)]
        system = "\n".join(_flatten(m.get("content")) for m in msgs if m.get("role") in ("system", "developer"))
        prompt = "\n".join(_flatten(m.get("content")) for m in msgs if m.get("role") not in ("system", "developer"))
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            schema, name = fmt["json_schema"].get("schema"), fmt["json_schema"].get("name")
    auth = headers.get("authorization", "")
    key = headers.get("x-api-key") or (auth[7:] if auth.lower().startswith("bearer ") else None)
    marker = AGENT_MARKER.search(system) or AGENT_MARKER.search(prompt)
    return RecordedRequest(api=api, path=path, model=body.get("model"), system=system, prompt=prompt, schema=schema,
                           schema_name=name, agent=marker.group(1) if marker else None, api_key=key,
                           headers=headers, body=body)


def _error(api: str, status: int, message: str, retry_after: float | None) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
    if api == "anthropic":
        etype = _ANTHROPIC_TYPES.get(status, "api_error")
        return status, headers, {"type": "error", "error": {"type": etype, "message": message}}
    etype = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return status, headers, {"error": {"message": message, "type": etype, "param": None, "code": etype}}


def _artifact(step: Reply, schema: dict[str, Any] | None) -> Any:
    data = copy.deepcopy(step.artifact) if step.artifact is not None else minimal_instance(schema or {"type": "object"})
    if isinstance(data, dict):
        data.update(copy.deepcopy(step.merge or {}))
        for key in step.omit:
            data.pop(key, None)
    return data


def _tokens(step: Reply, req: RecordedRequest, out_text: str) -> Usage:
    u = step.usage or Usage()
    return Usage(input=u.input if u.input is not None else max(1, len(json.dumps(req.body)) // 4),
                 output=u.output if u.output is not None else max(1, len(out_text) // 4),
                 cache_read=u.cache_read, cache_write=u.cache_write)


def _reply(api: str, req: RecordedRequest, step: Reply) -> dict[str, Any]:
    model = step.model or req.model or "scripted"
    if req.schema is not None and step.raw is None and step.text is None:
        content: Any = _artifact(step, req.schema)
        out_text = json.dumps(content)
    else:
        content = None
        out_text = step.raw if step.raw is not None else step.text if step.text is not None else (
            json.dumps(step.artifact) if step.artifact is not None else "ok")
    u = _tokens(step, req, out_text)
    if api == "anthropic":
        if content is not None:
            blocks = [{"type": "tool_use", "id": "toolu_" + secrets.token_hex(12), "name": req.schema_name,
                       "input": content}]
            stop = "tool_use"
        else:
            blocks, stop = [{"type": "text", "text": out_text}], "end_turn"
        return {"id": "msg_" + secrets.token_hex(12), "type": "message", "role": "assistant", "model": model,
                "content": blocks, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": u.input, "output_tokens": u.output,
                          "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read}}
    details: dict[str, int] = {"cached_tokens": u.cache_read}
    if u.cache_write:
        details["cache_write_tokens"] = u.cache_write
    prompt_tokens = (u.input or 0) + u.cache_read + u.cache_write  # OpenAI's prompt_tokens includes cached tokens
    return {"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": out_text, "refusal": None}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": u.output,
                      "total_tokens": prompt_tokens + (u.output or 0), "prompt_tokens_details": details}}


# --- minimal valid instances of a JSON Schema -------------------------------------------

_FORMATS = {
    "uri": "https://example.com/agentctl", "iri": "https://example.com/agentctl", "url": "https://example.com/agentctl",
    "uri-reference": "https://example.com/agentctl", "iri-reference": "https://example.com/agentctl",
    "email": "agent@example.com", "idn-email": "agent@example.com", "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01", "time": "00:00:00Z", "duration": "P1D", "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com", "idn-hostname": "example.com", "ipv4": "127.0.0.1", "ipv6": "::1",
    "json-pointer": "/a", "regex": ".*",
}
_LOWER = ("minimum", "exclusiveMinimum", "minItems", "minLength", "minProperties", "minContains")
_UPPER = ("maximum", "exclusiveMaximum", "maxItems", "maxLength", "maxProperties", "maxContains")


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both schemas at once (good enough for generating an instance, not a general allOf)."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "properties":
            props = dict(out[key])
            for name, sub in value.items():
                props[name] = _merge(props[name], sub) if isinstance(props.get(name), dict) and isinstance(sub, dict) else sub
            out[key] = props
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key in _LOWER:
            out[key] = max(out[key], value)
        elif key in _UPPER:
            out[key] = min(out[key], value)
        else:
            out[key] = value
    return out


def _resolve(schema: object, root: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target: Any = root
        for part in ref.lstrip("#").strip("/").split("/"):
            if part:
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = _merge(_resolve(target, root), rest)
    for sub in schema.get("allOf", []) or []:
        schema = _merge({k: v for k, v in schema.items() if k != "allOf"}, _resolve(sub, root))
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            schema = _merge({k: v for k, v in schema.items() if k != key}, _resolve(options[0], root))
    return schema


def _vary(value: Any, i: int) -> Any:
    """A variant of ``value`` for the i-th item of a uniqueItems array."""
    if i == 0:
        return value
    if isinstance(value, str):
        return f"{value}-{i + 1}"
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value + i
    if isinstance(value, dict):
        out = dict(value)
        for k, v in out.items():
            if isinstance(v, str):
                out[k] = _vary(v, i)
                break
        return out
    return value


def _string(schema: dict[str, Any]) -> str:
    candidates = [_FORMATS.get(schema.get("format", ""), ""), "x", "https://example.com/agentctl", "a", "A", "0"]
    pattern = schema.get("pattern")
    lo, hi = int(schema.get("minLength", 0)), schema.get("maxLength")

    def sized(c: str) -> str:
        c += c[-1] * max(0, lo - len(c))  # repeat the last character: keeps `^[0-9]+$`-like patterns true
        return c[: int(hi)] if hi is not None else c

    values = [sized(c) for c in candidates if c]
    return next((v for v in values if not pattern or re.search(pattern, v)), values[0])


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    lo = schema.get("minimum")
    if "exclusiveMinimum" in schema:
        lo = max(lo if lo is not None else schema["exclusiveMinimum"], schema["exclusiveMinimum"] + (1 if integer else 0.5))
    hi = schema.get("maximum")
    if "exclusiveMaximum" in schema:
        ex = schema["exclusiveMaximum"] - (1 if integer else 0.5)
        hi = ex if hi is None else min(hi, ex)
    value = lo if lo is not None else (0 if hi is None or hi >= 0 else hi)
    step = schema.get("multipleOf")
    if step:
        value = -(-value // step) * step
    return int(value) if integer else value


def minimal_instance(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A small instance that satisfies ``schema``: required properties only, ``minItems``
    items, the first ``enum``/``const``/``anyOf`` option, formats from a fixed table."""
    if schema is True or schema is None:
        return "x"
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    s = _resolve(schema, root)
    if depth > 24:
        return None
    if "const" in s:
        return copy.deepcopy(s["const"])
    if s.get("enum"):
        return copy.deepcopy(s["enum"][0])
    kind = s.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if ("properties" in s or "required" in s) else "array" if "items" in s else "string"
    if kind == "object":
        props = s.get("properties", {})
        extra = s.get("additionalProperties") if isinstance(s.get("additionalProperties"), dict) else {}
        return {name: minimal_instance(props.get(name, extra), root, depth + 1) for name in s.get("required", [])}
    if kind == "array":
        return _array(s, root, depth)
    if kind in ("integer", "number"):
        return _number(s, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(s)


def _array(s: dict[str, Any], root: dict[str, Any], depth: int) -> list[Any]:
    items = s.get("items") if isinstance(s.get("items"), dict) else {}
    prefix = s.get("prefixItems") or []
    contains = s.get("contains") if isinstance(s.get("contains"), dict) else None
    count = max(int(s.get("minItems", 0)), len(prefix))
    if contains is not None:
        count = max(count, int(s.get("minContains", 1)))
    count = min(count, int(s.get("maxItems", count)))
    out = []
    for i in range(count):
        sub = prefix[i] if i < len(prefix) else items
        if contains is not None and i < int(s.get("minContains", 1)):
            sub = _merge(_resolve(sub, root), _resolve(contains, root))
        value = minimal_instance(sub, root, depth + 1)
        out.append(_vary(value, i) if s.get("uniqueItems") else value)
    return out


def main() -> None:
    with ModelServer() as srv:
        print(f"agentctl model server (scripted, offline) on {srv.base_url} — Anthropic: {srv.base_url}, "
              f"OpenAI: {srv.openai_base_url}; Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
