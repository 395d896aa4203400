"""Secret redaction for everything agentctl writes or prints.

Two nets: the values of environment variables whose names look secret
(``*_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``), and known key shapes
(``sk-…``, ``sk-ant-…``, ``xai-…``, bearer tokens, ``api_key=…``) even when no
variable holds them — a provider or an agent may echo a key we never saw.
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "[REDACTED]"
_SECRET_NAME = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|DSN)$", re.I)
_SHAPES = re.compile(
    r"(?:sk-ant-[A-Za-z0-9_\-]{8,}"
    r"|sk-(?:proj-)?[A-Za-z0-9_\-]{16,}"
    r"|xai-[A-Za-z0-9_\-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{30,})"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}")
_ASSIGN = re.compile(r"(?i)\b((?:api[_-]?key|x-api-key|token|secret|password|authorization)[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]{6,})")


_REGISTERED: set[str] = set()
"""Values known to be secret whatever their variable's name (the env file's values)."""


def register_secrets(values: list[str] | set[str]) -> None:
    """Mask these values everywhere from now on (short ones would mask ordinary words)."""
    _REGISTERED.update(v for v in values if len(v) >= 6)


def secret_values(env: dict[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 6} | _REGISTERED
    return sorted(values, key=len, reverse=True)


def redact(text: str, env: dict[str, str] | None = None, *, values: list[str] | None = None) -> str:
    """``text`` with secrets masked; ``values`` (from ``secret_values``) saves re-reading ``env``."""
    if not text:
        return text
    for value in secret_values(env) if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    text = _SHAPES.sub(MASK, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _ASSIGN.sub(lambda m: m.group(1) + MASK, text)


def redact_obj(obj: Any, env: dict[str, str] | None = None, *, values: list[str] | None = None) -> Any:
    """Redact every string inside a JSON-like structure (the secret values are read once)."""
    if values is None:
        values = secret_values(env)
    if isinstance(obj, str):
        return redact(obj, values=values)
    if isinstance(obj, dict):
        return {k: redact_obj(v, values=values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_obj(v, values=values) for v in obj]
    return obj
