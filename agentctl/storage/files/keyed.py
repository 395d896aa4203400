"""Keyed entries, one small file per key: ``state/<kind>/<hh>/<sha256(key)>.json``.

Each operation touches one file and one of 256 bucket locks, so its cost does not grow
with the number of keys (idempotency ledger, cron ledger, alert dedupe). A document of
the old single-file layout (``state/<kind>.json``) is migrated once by ``migrate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agentctl.core.clock import parse_iso
from agentctl.errors import AgentctlError, StateError
from agentctl.storage.files import durable, journal


@dataclass
class FileSlot:
    key: str
    value: dict[str, Any] | None


def expired(entry: dict[str, Any], now: datetime | None) -> bool:
    """True when the entry carries an ``expiresAt`` at or before ``now`` (malformed → expired)."""
    if now is None or "expiresAt" not in entry:
        return False
    try:
        return bool(parse_iso(entry["expiresAt"]) <= now)
    except (TypeError, AgentctlError):
        return True


class FileKeyed:
    def __init__(self, root: Path, kind: str, legacy: str | None = None):
        self.root = root
        self.dir = root / "state" / kind
        self.kind = kind
        self.legacy = root / "state" / legacy if legacy else None
        self._migrated = False

    def path_for(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.dir / digest[:2] / f"{digest}.json"

    def _read(self, path: Path) -> dict[str, Any] | None:
        if not self._migrated:
            self._migrated = True
            self.migrate()
        unit = journal.current()
        staged, raw = unit.staged(path) if unit is not None else (False, None)
        if not staged:
            raw = durable.read_bytes(path)
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise StateError(f"{path}: corrupt {self.kind} entry; fix or remove it — it was not changed") from None
        value = doc.get("value") if isinstance(doc, dict) else None
        if not isinstance(value, dict):
            raise StateError(f"{path}: not an agentctl {self.kind} entry; it was not changed")
        return value

    def get(self, key: str, now: datetime | None = None) -> dict[str, Any] | None:
        value = self._read(self.path_for(key))
        return None if value is None or expired(value, now) else value

    @contextlib.contextmanager
    def transaction(self, key: str, now: datetime | None = None) -> Iterator[FileSlot]:
        path = self.path_for(key)
        with journal.unit(self.root) as unit:
            unit.hold(path.parent / "bucket")
            before = self._read(path)
            slot = FileSlot(key, None if before is None or expired(before, now) else before)
            original = json.dumps(slot.value, sort_keys=True)
            yield slot
            if json.dumps(slot.value, sort_keys=True) != original or (slot.value is None and before is not None):
                unit.replace(path, None if slot.value is None else _encode(key, slot.value))

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self._migrated:
            self._migrated = True
            self.migrate()
        for path in sorted(self.dir.glob("*/*.json")):
            with contextlib.suppress(StateError, OSError):
                raw = json.loads(path.read_bytes())
                if isinstance(raw, dict) and isinstance(raw.get("value"), dict):
                    yield str(raw.get("key")), raw["value"]

    def sweep(self, now: datetime) -> int:
        dropped = 0
        for key, value in list(self.items()):
            if expired(value, now):
                with self.transaction(key, now) as slot:
                    slot.value = None
                dropped += 1
        return dropped

    def migrate(self) -> None:
        """Move the entries of the old single document into per-key files, once."""
        self._migrated = True
        if self.legacy is None or not self.legacy.exists():
            return
        with durable.locked(self.legacy):
            if not self.legacy.exists():
                return
            doc = durable.JsonState(self.legacy, self.kind_key()).read()
            with journal.unit(self.root) as unit:
                for key, value in doc[self.kind_key()].items():
                    if isinstance(value, dict) and self._read(self.path_for(key)) is None:
                        unit.replace(self.path_for(key), _encode(key, value))
                unit.replace(self.legacy, None)
                unit.replace(self.legacy.with_name(self.legacy.name + ".migrated"), self.legacy.read_bytes())

    def kind_key(self) -> str:
        return {"idempotency": "keys", "cron": "jobs", "alerts": "alerts"}.get(self.kind, self.kind)


def _encode(key: str, value: dict[str, Any]) -> bytes:
    return json.dumps({"version": 1, "key": key, "value": value}, sort_keys=True, default=str).encode() + b"\n"
