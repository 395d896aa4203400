"""Secret redaction: the one pass every write and every print goes through.

Three nets, checked in this order on every string (values *and* JSON object keys):

1. known values: every environment variable whose name looks secret (``*_KEY``,
   ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ``*_PWD``, ``*_DSN``, ``PGPASSWORD``,
   ``SECRET_KEY_BASE``, …), plus the values of variables *registered* by name (a tier's
   ``api_key_env``, an agent's ``env:`` list) or by value (the workspace env file) through
   ``register_secret_names`` / ``register_secret_values``;
2. key shapes, even when no variable holds them — a provider or an agent may echo a key
   we never saw. The set follows detect-secrets' plugins (AWS, GitHub, Slack, Stripe, JWT,
   private keys, Azure storage, Discord, basic auth in URLs, …) plus the model vendors'
   keys, compiled into one alternation (one scan per string on hot paths);
3. assignments (``password=…``, ``"api_key": "…"``, ``Authorization: Bearer …``).

``redact_tail`` redacts the end of a long output without leaving a cut secret's suffix at
its first byte; ``redact_obj`` walks JSON-like data, keys included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache, lru_cache
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET = 6
"""Shorter values are not masked by value (too many false hits); shapes still apply."""

_NAME_PATTERN = (
    r"(?i)(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?|DSN|AUTH)$|_PWD$|^PGPASSWORD$"
    r"|^SECRET_KEY_BASE$")
"""``DATABASE_URL`` and other URLs are not masked whole: the password in ``user:pw@`` is (a shape)."""
_FIELD_PATTERN = (
    r"(?i)(?:^|[_\-.])(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key"
    r"|secret[_\-]?key|credentials?|dsn|auth[_\-]?token|client[_\-]?secret)$|^(?:authorization|apikey)$")
"""JSON keys whose string value is a secret whatever it looks like (``{"db_password": "x"}``)."""

_SHAPE_LIST = (
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    r"PuTTY-User-Key-File-\d: [\s\S]*?(?:Private-MAC: \S+|\Z)",
    r"sk-ant-[A-Za-z0-9_\-]{8,}",
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",
    r"xai-[A-Za-z0-9_\-]{16,}",
    r"gh[pousr]_[A-Za-z0-9_]{20,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"glpat-[A-Za-z0-9_\-]{20,}",
    r"xox[abposr]-[A-Za-z0-9\-]{10,}",
    r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}",
    r"AIza[0-9A-Za-z_\-]{30,}",
    r"[rs]k_(?:live|test)_[0-9a-zA-Z]{10,}",
    r"whsec_[0-9a-zA-Z]{10,}",
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-AgE[A-Za-z0-9_\-]{40,}",
    r"SG\.[\w\-]{16,}\.[\w\-]{16,}",
    r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{3,}(?:\.[A-Za-z0-9_\-+/=]*)?",
    r"[MNO][a-zA-Z\d_\-]{23,25}\.[a-zA-Z\d_\-]{6}\.[a-zA-Z\d_\-]{27,}",
    r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]+",
    r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]+",
    r"(?i:AccountKey|SharedAccessKey|SharedSecret)=[^;\s\"']{8,}",
)
_SHAPE_LITERALS: tuple[tuple[str, ...] | None, ...] = (
    ("-----BEGIN ",), ("PuTTY-User-Key-File-",), ("sk-ant-",), ("sk-",), ("xai-",),
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), ("github_pat_",), ("glpat-",),
    ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"), ("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), ("AIza",),
    ("k_live_", "k_test_"), ("whsec_",), ("npm_",), ("pypi-AgE",), ("SG.",), ("eyJ",), None,
    ("https://hooks.slack.com/",), ("/api/webhooks/",), ("accountkey", "sharedaccesskey", "sharedsecret"),
)
"""Per shape, strings one of which every match contains (None: searched by its regex); the last
shape's are looked for in the folded text (it ignores case). The shapes are applied as one
alternation, but scanning a long text with an alternation is slow (it defeats the regex engine's
literal search: 34 ms for a 170 KB ``status --json``), so ``redact`` keeps the shapes whose strings
occur and whose own regex finds a match, and applies the alternation of those (none, mostly) —
the same matches, since a branch that matches nowhere in the text never takes part in the
alternation's. Regexes are compiled on first use: most commands print no secret-like text."""
FOLDED_SHAPE = len(_SHAPE_LIST) - 1
SHORTEST_NET = 8
"""No shape, bearer token or assignment matches fewer characters (``pwd=abcd``); a URL's ``://u:p@`` can."""


@cache
def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_URL_CREDS = r"(?<=://)([^\s/:@\"'<>]*):([^\s/@\"'<>]+)@"
_BEARER = r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}"
_ASSIGN = (
    r"(?i)\b((?:[a-z0-9]{1,24}[_\-]){0,4}(?:api[_\-]?key|x-api-key|token|secret|password|passwd|pwd|authorization"
    r"|access[_\-]?key|client[_\-]?secret|secret[_\-]?key[_\-]?base)[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]{4,})")

_BEARER_WORDS = ("bearer", "basic", "token")
_ASSIGN_WORDS = ("key", "token", "secret", "passw", "pwd", "authorization")
"""Words one of which each case-insensitive net needs (in the folded text): a text without any of
them skips that net's scan."""
_ODD_CASES = str.maketrans({"İ": "i", "ı": "i", "ſ": "s"})
"""The characters ``re.IGNORECASE`` matches to an ASCII letter whose ``lower()`` is not that letter
(tests/test_redact_gates.py checks every code point)."""


def _folded(text: str) -> str:
    """``text`` with every character an ignore-case pattern matches to an ASCII letter turned into it."""
    if "İ" in text or "ı" in text or "ſ" in text:
        text = text.translate(_ODD_CASES)
    return text.lower()


def _gated(folded: str, words: tuple[str, ...]) -> bool:
    for w in words:
        if w in folded:
            return True
    return False


@lru_cache(maxsize=128)
def _alternation(present: tuple[int, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{_SHAPE_LIST[i]})" for i in present))


def _mask_shapes(text: str, folded: str) -> str:
    present = []
    for i, words in enumerate(_SHAPE_LITERALS):  # plain loops: this runs for every string written or printed
        if words is not None:
            hay = folded if i == FOLDED_SHAPE else text
            for w in words:
                if w in hay:
                    break
            else:
                continue
        if _rx(_SHAPE_LIST[i]).search(text):
            present.append(i)
    return _alternation(tuple(present)).sub(MASK, text) if present else text


_registered_values: set[str] = set()
_registered_names: set[str] = set()


def register_secret_values(values: Iterable[str]) -> None:
    """Mask these values everywhere from now on (the workspace env file, a key read elsewhere)."""
    _registered_values.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET)


_NEVER_SECRET = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "PWD",
                           "TMPDIR", "TEMP", "TMP", "HOSTNAME", "PYTHONPATH", "VIRTUAL_ENV", "NO_COLOR"})
"""Passed to agents, never masked: their values (``/home/me``) are in every path we print."""


def register_secret_names(names: Iterable[str | None]) -> None:
    """Treat these environment variables as secret whatever their name (``api_key_env``, ``env:``)."""
    _registered_names.update(n for n in names if n and n not in _NEVER_SECRET and not n.startswith("LC_"))


_name_sources: list[Callable[[], Iterable[str]]] = []


def register_name_source(source: Callable[[], Iterable[str]]) -> None:
    """A lazy ``register_secret_names``: called once, the first time something is redacted (a
    workspace's ``api_key_env`` names are read only by commands that print or write)."""
    _name_sources.append(source)


def _drain_sources() -> None:
    while _name_sources:
        source = _name_sources.pop()
        try:
            register_secret_names(source())
        except Exception:  # noqa: S112 — a broken config is reported by its own loader, not here
            continue


def clear_registered() -> None:
    """Forget registered values and names (tests)."""
    _registered_values.clear()
    _registered_names.clear()
    _name_sources.clear()


def is_secret_name(name: str) -> bool:
    return bool(_rx(_NAME_PATTERN).search(name)) or name in _registered_names


_cache: dict[str, Any] = {"key": None, "values": []}


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Every value to mask, longest first (so a key containing another is masked whole).
    For the process environment the answer is cached until the environment or the registered
    names and values change (every registry write asks)."""
    if _name_sources:
        _drain_sources()
    if env is not None:
        return _secret_values(env)
    raw = getattr(os.environ, "_data", None)  # the bytes dict behind os.environ: hashed in C
    key = (frozenset(raw.items()) if isinstance(raw, dict) else frozenset(os.environ.items()),
           frozenset(_registered_names), frozenset(_registered_values))
    if key != _cache["key"]:
        _cache["key"], _cache["values"] = key, _secret_values(os.environ)
    return list(_cache["values"])


def _secret_values(env: Mapping[str, str]) -> list[str]:
    values = {v for k, v in env.items() if len(v) >= MIN_SECRET and is_secret_name(k)}
    values |= {m.group(2) for v in env.values() if "://" in v  # DATABASE_URL's password, alone too
               for m in _rx(_URL_CREDS).finditer(v) if len(m.group(2)) >= MIN_SECRET}
    for name in _registered_names:
        for source in (env, os.environ):
            value = source.get(name, "")
            if len(value) >= MIN_SECRET:
                values.add(value)
    values |= _registered_values
    return sorted(values, key=len, reverse=True)


def _url_creds(m: re.Match[str]) -> str:
    return f"{m.group(1)}:{MASK}@"


def redact(text: str, env: Mapping[str, str] | None = None, *, values: list[str] | None = None) -> str:
    """``text`` with secrets masked; ``values`` (from ``secret_values``) saves re-reading ``env``."""
    if not text:
        return text
    for value in secret_values(env) if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    if len(text) < SHORTEST_NET:  # too short for any net but a URL's password
        return _rx(_URL_CREDS).sub(_url_creds, text) if "://" in text else text
    folded = _folded(text)
    masked = _mask_shapes(text, folded)
    if "://" in masked:
        masked = _rx(_URL_CREDS).sub(_url_creds, masked)
    if masked != text:  # a net masked something: the words are looked for in what is left
        text, folded = masked, _folded(masked)
    if _gated(folded, _BEARER_WORDS):
        masked = _rx(_BEARER).sub(lambda m: f"{m.group(1)} {MASK}", text)
        if masked != text:
            text, folded = masked, _folded(masked)
    if _gated(folded, _ASSIGN_WORDS):
        text = _rx(_ASSIGN).sub(lambda m: m.group(1) + MASK, text)
    return text


_CONTAINERS = (dict, list, tuple)


def redact_obj(obj: Any, env: Mapping[str, str] | None = None, *, values: list[str] | None = None) -> Any:
    """Redact every string inside a JSON-like structure — object keys too; the value of a
    secret-named key (``db_password``) is masked whatever it looks like."""
    if values is None:
        values = secret_values(env)
    if isinstance(obj, str):
        return redact(obj, values=values)
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            key = redact(k, values=values) if isinstance(k, str) else k
            while key in out:  # two keys masked to the same text: keep both
                key = f"{key}#"
            if isinstance(v, str):
                masked = bool(v) and isinstance(k, str) and _rx(_FIELD_PATTERN).search(k)
                out[key] = MASK if masked else redact(v, values=values)
            else:  # numbers, booleans and null are kept; containers are walked
                out[key] = redact_obj(v, values=values) if isinstance(v, _CONTAINERS) else v
        return out
    if isinstance(obj, list | tuple):
        return [redact_obj(v, values=values) for v in obj]
    return obj


_PEM_END = r"\A[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"


def redact_cut(text: str, values: list[str]) -> str:
    """Redact a window whose start was cut out of a longer text: a secret straddling the cut
    leaves only its suffix here, which no pattern recognises — so the leading partial token
    (up to the first whitespace), a suffix of any known value, or the body of a private key
    whose BEGIN line was cut off is masked too."""
    if "PRIVATE KEY" in text and _rx(_PEM_END).match(text):
        text = _rx(_PEM_END).sub(MASK, text, count=1)
    for value in values:
        for i in range(1, len(value)):
            if text.startswith(value[i:]):
                text = MASK + text[len(value) - i:]
                break
    m = re.match(r"\S+", text)
    if m:
        text = MASK + text[m.end():] if len(m.group()) >= 4 else text[m.end():]
    return redact(text, values=values)


def redact_tail(raw: bytes, *, cut: bool, keep: int, env: Mapping[str, str] | None = None) -> str:
    """The last ``keep`` characters of ``raw`` redacted: redact first, truncate after, so the
    truncation can only cut a mask or plain text. ``cut`` says ``raw`` starts mid-output."""
    values = secret_values(env)
    text = raw.decode("utf-8", errors="replace")
    text = redact_cut(text, values) if cut else redact(text, values=values)
    if len(text) <= keep:
        return text
    return text[-keep:]
