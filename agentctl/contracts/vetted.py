"""Contracts checked once per version of their file: `agentctl run`'s hot path without jsonschema.

Compiling a contract in full (``schemas._compile``) checks it against the draft 2020-12
metaschema, resolves its ``$ref``s and builds jsonschema's validator; importing jsonschema
with its format libraries is ≈ 150 ms of a run. Yet the common case, a valid artifact,
is decided by the fast path (``fastschema``) alone. So:

- a contract that passed the full check, has no ``$ref`` (so nothing outside its file
  matters) and gets a fast path is remembered in the derived cache (``storage.cache``:
  ``state/cache/`` on files, rows on PostgreSQL), keyed by the SHA-256 of its bytes and
  the installed agentctl and jsonschema;
- the next time, the same bytes skip the checks: jsonschema is imported only when it is
  needed — an invalid artifact (the error detail) or a value with a ``format`` to check.

Everything else (new or edited bytes, ``$ref``, no fast path, an unreadable cache) takes
the full compile, so a broken contract fails exactly as before (78). Entries expire after
``VETTED_DAYS`` and are then checked again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from agentctl import __version__

if TYPE_CHECKING:
    from agentctl.contracts.schemas import Contract
    from agentctl.storage.base import KeyedStore

VETTED_DAYS = 30
_KIND = "vetted-contract"


class LazyFormats:
    """The fast path's format checker: jsonschema's, loaded on the first value that has a format."""

    def conforms(self, instance: object, format: str) -> bool:  # noqa: A002 — FormatChecker's signature
        from agentctl.contracts.schemas import format_checker

        return bool(format_checker().conforms(instance, format))


LAZY_FORMATS = LazyFormats()


@cache
def _stamp() -> str:
    """The installed jsonschema (whose metaschema check is remembered), without importing it."""
    spec = importlib.util.find_spec("jsonschema")
    try:
        st = Path(spec.origin).stat() if spec and spec.origin else None
    except OSError:
        st = None
    return f"{__version__}|{st.st_size}-{st.st_mtime_ns}" if st else f"{__version__}|unknown"


def cache_key(raw: bytes) -> str:
    return f"contract|{hashlib.sha256(raw).hexdigest()}|{_stamp()}"


def _self_contained(raw: bytes) -> bool:
    """No reference keyword anywhere (escaped spellings included): the file alone decides."""
    try:
        text = json.dumps(json.loads(raw))
    except (ValueError, RecursionError):
        return False
    return '"$ref"' not in text and '"$dynamicRef"' not in text


def _known(store: KeyedStore, key: str, now: datetime) -> bool:
    try:
        entry = store.get(key, now)
    except Exception:  # an unreadable cache is only a slower run
        return False
    return isinstance(entry, dict) and entry.get("kind") == _KIND


def _remember(store: KeyedStore, key: str, now: datetime) -> None:
    expires = (now + timedelta(days=VETTED_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with store.transaction(key, now) as slot:
            slot.value = {"kind": _KIND, "expiresAt": expires}
    except Exception:  # noqa: S110 — a cache that cannot be written is only a slower next run
        pass


def compile_vetted(path: Path, display: str, store: KeyedStore, now: datetime | None = None) -> Contract:
    """The contract in ``path``: without its checks when these bytes passed them before, else in full."""
    from agentctl.contracts import schemas

    now = now or datetime.now(UTC)
    raw = schemas.read_schema_bytes(path, display)
    key = cache_key(raw)
    contained = _self_contained(raw)
    if contained and _known(store, key, now):
        quick = schemas.vetted_contract(path, display, raw, LAZY_FORMATS)
        if quick is not None:
            return quick
    contract = schemas._compile(path, display, raw)
    if contained and contract.fast is not None:
        _remember(store, key, now)
    return contract
