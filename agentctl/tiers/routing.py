"""Tier routing (SPEC §4): which model answers, with retries and fallbacks.

The chain is the tier's model, then its ``fallback`` list in order. Each model gets
``RETRIES_PER_MODEL`` retries on rate limits (429), overload (529/503), other 5xx,
timeouts and connection errors, waiting what ``retry-after`` asks (else an exponential
backoff from 0.5 s), capped at ``AGENTCTL_MAX_RETRY_WAIT`` (default 30 s): a
``retry-after`` longer than the cap is not worth sitting through, so the router moves
to the next model at once (or fails, after the last one). Any
other error (400, 401, 404 …) is final: a fallback would not fix a bad request or a
bad key. The whole chain shares the agent's ``timeout_s`` as one deadline.

Keys come from the environment only (``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY`` or the
model's ``api_key_env``); the first model's missing key is a ConfigError (78) naming
the variable, a fallback's missing key just skips that fallback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from agentctl.core.config import ModelRef, Tier
from agentctl.errors import ConfigError
from agentctl.providers import ModelAnswer, ModelRequest, ProviderError, call_model

RETRIES_PER_MODEL = 2
DEFAULT_MAX_WAIT = 30.0
BACKOFF_S = 0.5
DEFAULT_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
BASE_URL_ENV = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}
OVERRIDE_ENV = "AGENTCTL_MODEL_BASE_URL"
"""Send every model call to this server (the demo's local stand-in); pricing still follows the config."""

Caller = Callable[..., ModelAnswer]


@dataclass
class Attempt:
    model: str
    error: str | None = None
    status: int | None = None
    waited_s: float = 0.0


@dataclass
class Routed:
    answer: ModelAnswer
    ref: ModelRef
    """The model that answered."""
    fallback_from: str | None
    """The tier's first model when another one answered, else None."""
    attempts: list[Attempt] = field(default_factory=list)


class RouteFailed(Exception):
    def __init__(self, message: str, *, last: ProviderError | None, ref: ModelRef, attempts: list[Attempt]):
        super().__init__(message)
        self.message = message
        self.last = last
        self.ref = ref
        self.attempts = attempts


def chain_for(tier: Tier | ModelRef) -> list[ModelRef]:
    fallback = tier.fallback if isinstance(tier, Tier) else []
    # the tier's own fields, already validated: copied without building a serializer and a validator
    first = ModelRef.model_construct(**{name: getattr(tier, name) for name in ModelRef.model_fields})
    return [first, *fallback]


def key_env(ref: ModelRef) -> str:
    return ref.api_key_env or DEFAULT_KEY_ENV[ref.provider]


def tier_key_values(tiers: Iterable[Tier], env: Mapping[str, str]) -> list[str]:
    """The values of the tiers' key variables (fallbacks included): agentctl's own, never handed to a
    command agent or a self-test unless it lists the variable under ``env:``."""
    tiers = list(tiers)
    names = {key_env(r) for r in [*tiers, *(f for t in tiers for f in t.fallback)]}
    return [env[n] for n in sorted(names) if env.get(n)]


def api_key(ref: ModelRef, env: Mapping[str, str]) -> str:
    var = key_env(ref)
    value = env.get(var, "")
    if not value.strip():
        raise ConfigError(f"{var} is not set: the {ref.provider} model {ref.model} needs an API key in that "
                          f"environment variable", hint=f"export {var}=… (keys are read from the environment only)")
    return value


def base_url(ref: ModelRef, env: Mapping[str, str]) -> str | None:
    override = env.get(OVERRIDE_ENV)
    if override:
        root = override.rstrip("/")
        return root if ref.provider == "anthropic" else (root if root.endswith("/v1") else root + "/v1")
    return ref.base_url or env.get(BASE_URL_ENV[ref.provider]) or None


def max_wait(env: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(env.get("AGENTCTL_MAX_RETRY_WAIT", DEFAULT_MAX_WAIT)))
    except ValueError:
        return DEFAULT_MAX_WAIT


def ask(tier: Tier | ModelRef, request: ModelRequest, *, env: Mapping[str, str], timeout_s: float,
        sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
        caller: Caller = call_model) -> Routed:
    """Ask the chain until a model answers; raise RouteFailed (or ConfigError) otherwise."""
    chain = chain_for(tier)
    api_key(chain[0], env)  # the tier's own key must exist: fail fast with 78
    deadline = clock() + timeout_s
    cap = max_wait(env)
    attempts: list[Attempt] = []
    last: ProviderError | None = None
    for ref in chain:
        try:
            key = api_key(ref, env)
        except ConfigError as exc:
            attempts.append(Attempt(ref.model, error=f"skipped: {exc.message}"))
            continue
        for retry in range(RETRIES_PER_MODEL + 1):
            remaining = deadline - clock()
            if remaining <= 0:
                raise RouteFailed(f"timed out after {timeout_s:g}s ({_summary(attempts)})", last=last, ref=ref,
                                  attempts=attempts)
            request.timeout_s = remaining
            try:
                answer = caller(ref, request, api_key=key, base_url=base_url(ref, env))
            except ProviderError as exc:
                last = exc
                attempts.append(Attempt(ref.model, error=exc.kind, status=exc.status))
                if not exc.retryable:
                    raise RouteFailed(f"{ref.model}: {exc.message}", last=exc, ref=ref, attempts=attempts) from None
                if retry == RETRIES_PER_MODEL:
                    break  # next model
                if exc.retry_after is not None and exc.retry_after > cap:
                    break  # the provider asks for longer than we will sit: next model at once
                wait = exc.retry_after if exc.retry_after is not None else min(BACKOFF_S * 2**retry, cap)
                wait = min(wait, max(0.0, deadline - clock()))
                attempts[-1].waited_s = wait
                sleep(wait)
                continue
            return Routed(answer, ref, None if ref is chain[0] else chain[0].model, attempts)
    message = f"every model failed ({_summary(attempts)})"
    if last is not None:
        message += f"; last error: {last.message}"
    raise RouteFailed(message, last=last, ref=chain[-1], attempts=attempts)


def _summary(attempts: list[Attempt]) -> str:
    parts = []
    for a in attempts:
        parts.append(f"{a.model}: {a.status or ''}{' ' if a.status else ''}{a.error}")
    return "; ".join(parts) or "no attempt"
