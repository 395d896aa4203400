"""Usage adapters for agent CLIs (SPEC §5, ``usage:`` in an agent file): tokens, models, cost,
the final answer and the error, read from what the CLI printed or wrote.

- ``claude-code`` — ``claude -p --output-format json`` (one result object; with ``--verbose``
  a JSON array of messages) or ``stream-json`` (JSONL, the last ``type: result`` event):
  ``total_cost_usd``, ``usage`` (``input_tokens``, ``output_tokens``,
  ``cache_read_input_tokens``, ``cache_creation_input_tokens``), ``modelUsage`` per model
  (``inputTokens``, ``outputTokens``, ``cacheReadInputTokens``, ``cacheCreationInputTokens``,
  ``costUSD``), ``is_error`` / ``subtype``, ``result`` (the final answer);
- ``codex`` — ``codex exec --json`` JSONL: the sum of every ``turn.completed.usage``
  (``input_tokens`` — cached included, OpenAI style —, ``cached_input_tokens``,
  ``output_tokens``), the last ``item.completed`` whose item is an ``agent_message``,
  ``turn.failed.error.message`` / ``error.message`` as the error; Codex names no model;
- ``gemini`` — ``gemini --output-format json``: ``response``, ``stats.models[NAME].tokens``
  (``prompt`` — cached included —, ``candidates``, ``cached``, ``thoughts``, ``tool``),
  ``error {type, message, code}``;
- ``aider`` — the ``--analytics-log`` JSONL: ``message_send`` events (``properties``:
  ``main_model``, ``prompt_tokens``, ``completion_tokens``, ``cost``);
- ``file`` — ``$AGENTCTL_USAGE_FILE``: ``{model, provider, inputTokens, outputTokens,
  cacheReadTokens, cacheWriteTokens, costUsd}``, or a list of them (one per model).

Pure parsing: bytes in, a ``CliUsage`` out; nothing here prices, records or raises on bad
input (a shape it cannot read is "no usage", and the run says so).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

KINDS = ("claude-code", "codex", "gemini", "aider", "file")
PROVIDER_OF = {"claude-code": "anthropic", "codex": "openai", "gemini": "google"}


@dataclass
class ModelUse:
    """One model's share of a run, as the CLI reported it."""

    model: str | None
    provider: str | None
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_usd: float | None = None
    """Reported by the CLI; None when it gave tokens only."""


@dataclass
class CliUsage:
    models: list[ModelUse] = field(default_factory=list)
    total_cost_usd: float | None = None
    """The run's cost as the CLI reported it (Claude Code's ``total_cost_usd``, aider's summed ``cost``)."""
    final_text: str | None = None
    """The CLI's final answer (Claude Code's ``result``, Codex's last agent message, Gemini's ``response``)."""
    error_kind: str | None = None
    """rate_limited, overloaded, server, timeout, auth or agent (see ``classify``)."""
    error_message: str | None = None
    found: bool = False
    """Whether the expected output shape was there at all."""


_RATE = re.compile(r"\b429\b|rate.?limit|usage limit|too many requests|quota|resource.?exhausted", re.I)
_OVERLOADED = re.compile(r"\b529\b|\b503\b|overloaded", re.I)
_SERVER = re.compile(r"\b5\d\d\b|internal server error|bad gateway", re.I)
_TIMEOUT = re.compile(r"timed? ?out|timeout", re.I)
_AUTH = re.compile(r"\b40[13]\b|unauthori[sz]ed|invalid api key|authentication|not logged in|auth method", re.I)


def classify(message: str, code: Any = None) -> str:
    """The error kind of a CLI's error message (the runner's vocabulary: rate_limited is transient)."""
    text = f"{code} {message}" if code is not None else message
    for kind, pattern in (("rate_limited", _RATE), ("overloaded", _OVERLOADED), ("auth", _AUTH),
                          ("timeout", _TIMEOUT), ("server", _SERVER)):
        if pattern.search(text):
            return kind
    return "agent"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return None
    return float(value)


def _json_values(raw: bytes) -> list[Any]:
    """The whole output as one JSON document, else one JSON value per line (JSONL, noise skipped)."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return []
    try:
        whole = json.loads(text)
    except ValueError:
        pass
    else:
        return whole if isinstance(whole, list) else [whole]
    values = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                values.append(json.loads(line))
            except ValueError:
                continue
    if not values and "{" in text:  # a banner before the JSON object (gemini prints warnings first)
        try:
            values.append(json.loads(text[text.index("{"):]))
        except ValueError:
            pass
    return values


def _objects(raw: bytes) -> list[dict[str, Any]]:
    return [v for v in _json_values(raw) if isinstance(v, dict)]


# --- Claude Code ------------------------------------------------------------------------

def parse_claude(stdout: bytes) -> CliUsage:
    events = _objects(stdout)
    result = next((e for e in reversed(events) if e.get("type") == "result"), None)
    if result is None:
        return CliUsage()
    init_model = next((e.get("model") for e in events if e.get("type") == "system" and e.get("model")), None)
    out = CliUsage(found=True, total_cost_usd=_cost(result.get("total_cost_usd")))
    per_model = result.get("modelUsage")
    if isinstance(per_model, dict) and per_model:
        for name, u in per_model.items():
            u = u if isinstance(u, dict) else {}
            out.models.append(ModelUse(str(name), "anthropic", _int(u.get("inputTokens")), _int(u.get("outputTokens")),
                                       _int(u.get("cacheReadInputTokens")), _int(u.get("cacheCreationInputTokens")),
                                       _cost(u.get("costUSD"))))
    elif isinstance(result.get("usage"), dict):
        u = result["usage"]
        out.models.append(ModelUse(init_model if isinstance(init_model, str) else None, "anthropic",
                                   _int(u.get("input_tokens")), _int(u.get("output_tokens")),
                                   _int(u.get("cache_read_input_tokens")), _int(u.get("cache_creation_input_tokens")),
                                   out.total_cost_usd))
    text = result.get("result") if isinstance(result.get("result"), str) else None
    if result.get("is_error") or result.get("subtype") not in (None, "success"):
        message = text or str(result.get("subtype") or "error")
        out.error_kind, out.error_message = classify(message), f"claude: {message}"
    else:
        out.final_text = text
    return out


# --- Codex --------------------------------------------------------------------------------

def parse_codex(stdout: bytes) -> CliUsage:
    events = _objects(stdout)
    if not any(str(e.get("type", "")).startswith(("thread.", "turn.", "item.")) for e in events):
        return CliUsage()
    use = ModelUse(None, "openai")
    out, turns = CliUsage(found=True), 0
    for e in events:
        kind = e.get("type")
        if kind == "turn.completed" and isinstance(e.get("usage"), dict):
            u, turns = e["usage"], turns + 1
            use.tokens_in += _int(u.get("input_tokens"))
            use.cache_read += _int(u.get("cached_input_tokens"))
            use.tokens_out += _int(u.get("output_tokens"))
        elif kind == "item.completed" and isinstance(e.get("item"), dict) and e["item"].get("type") == "agent_message":
            text = e["item"].get("text")
            out.final_text = text if isinstance(text, str) else out.final_text
        elif kind in ("turn.failed", "error"):
            err = e.get("error") if kind == "turn.failed" else e
            message = err.get("message") if isinstance(err, dict) else None
            out.error_message = f"codex: {message or kind}"
            out.error_kind = classify(str(message or ""))
    if turns:
        out.models.append(use)
    if out.error_kind is not None:
        out.final_text = None
    return out


# --- Gemini CLI ---------------------------------------------------------------------------

def parse_gemini(stdout: bytes) -> CliUsage:
    doc = next((o for o in _objects(stdout) if "response" in o or "stats" in o or "error" in o), None)
    if doc is None:
        return CliUsage()
    out = CliUsage(found=True)
    models = (doc.get("stats") or {}).get("models") if isinstance(doc.get("stats"), dict) else None
    for name, m in (models or {}).items() if isinstance(models, dict) else ():
        tokens = m.get("tokens") if isinstance(m, dict) else None
        t: dict[str, Any] = tokens if isinstance(tokens, dict) else {}
        # thoughts are billed as output; prompt already counts the cached tokens (as OpenAI's prompt_tokens)
        out.models.append(ModelUse(str(name), "google", _int(t.get("prompt")),
                                   _int(t.get("candidates")) + _int(t.get("thoughts")), _int(t.get("cached"))))
    err = doc.get("error")
    if isinstance(err, dict) and err:
        message = str(err.get("message") or err.get("type") or "error")
        out.error_kind, out.error_message = classify(message, err.get("code")), f"gemini: {message}"
    elif isinstance(doc.get("response"), str):
        out.final_text = doc["response"]
    return out


# --- aider --------------------------------------------------------------------------------

def _split_model(name: str) -> tuple[str, str | None]:
    """``anthropic/claude-sonnet-4-5`` → (``claude-sonnet-4-5``, ``anthropic``); ``gpt-4o`` → (``gpt-4o``, None)."""
    if "/" in name:
        provider, model = name.split("/", 1)
        return model, provider
    return name, None


def parse_aider(log: bytes | None) -> CliUsage:
    props = [e.get("properties") for e in _objects(log or b"") if e.get("event") == "message_send"]
    sends = [p for p in props if isinstance(p, dict)]
    if not sends:
        return CliUsage()
    out, by_model = CliUsage(found=True), dict[tuple[str, str | None], ModelUse]()
    costs_known = True
    for p in sends:
        model, provider = _split_model(str(p.get("main_model") or "unknown"))
        use = by_model.setdefault((model, provider), ModelUse(model, provider, cost_usd=0.0))
        use.tokens_in += _int(p.get("prompt_tokens"))
        use.tokens_out += _int(p.get("completion_tokens"))
        cost = _cost(p.get("cost"))
        if cost is None:
            costs_known = False
        elif use.cost_usd is not None:
            use.cost_usd += cost
    out.models = list(by_model.values())
    if not costs_known:
        for use in out.models:
            use.cost_usd = None
    else:
        out.total_cost_usd = sum(u.cost_usd or 0.0 for u in out.models)
    return out


# --- $AGENTCTL_USAGE_FILE -----------------------------------------------------------------

def parse_usage_file(raw: bytes | None) -> CliUsage:
    values = _json_values(raw or b"")
    entries = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    known = ("model", "inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "costUsd")
    entries = [e for e in entries if isinstance(e, dict) and any(k in e for k in known)]
    if not entries:
        return CliUsage()
    out = CliUsage(found=True)
    for e in entries:
        model = e.get("model") if isinstance(e.get("model"), str) else None
        provider = e.get("provider") if isinstance(e.get("provider"), str) else None
        out.models.append(ModelUse(model, provider, _int(e.get("inputTokens")), _int(e.get("outputTokens")),
                                   _int(e.get("cacheReadTokens")), _int(e.get("cacheWriteTokens")),
                                   _cost(e.get("costUsd"))))
    if all(u.cost_usd is not None for u in out.models):
        out.total_cost_usd = sum(u.cost_usd or 0.0 for u in out.models)
    return out


def read_usage(kind: str, stdout: bytes, usage_file: bytes | None) -> CliUsage:
    """What the agent's CLI reported: stdout for claude-code/codex/gemini, the usage file for aider/file."""
    if kind == "claude-code":
        return parse_claude(stdout)
    if kind == "codex":
        return parse_codex(stdout)
    if kind == "gemini":
        return parse_gemini(stdout)
    if kind == "aider":
        return parse_aider(usage_file)
    return parse_usage_file(usage_file)
