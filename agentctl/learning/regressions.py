"""The regressions list, memory/regressions.yaml (SPEC §9): what the fleet learned.

``agentctl learn`` adds recurring failures as ``candidate`` entries; a human
approves them (``active``: their rule goes into the prompts of that role) or
retires them. The file is a versioned YAML document defined by the models below,
read strictly (duplicate keys, YAML 1.1 coercions, unknown fields are errors)
and rewritten atomically under its lock. Humans may edit it (rule wording).

INTERFACE (stable, used by the runner on every run):
    active_rules(ws, role, agent) -> list[str]   # rule texts of active regressions for that role/agent
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentctl.core.clock import iso
from agentctl.errors import AgentctlError, ConfigError, NotFound, StateError
from agentctl.workspace.loader import Workspace

REGRESSIONS_VERSION = 1
REL_PATH = "memory/regressions.yaml"
MAX_EXAMPLES = 3
HEADER = (
    "# The regressions list (SPEC §9), maintained by `agentctl learn`.\n"
    "# Review candidates with `agentctl regressions list`; `approve ID` puts an entry's rule into\n"
    "# the prompts of its role/agent, `retire ID` takes it out. You may edit `rule` by hand.\n"
)

RegStatus = Literal["candidate", "active", "retired"]
REG_STATUSES: tuple[str, ...] = ("candidate", "active", "retired")


class _Model(BaseModel):
    # no use_attribute_docstrings: it parses this module's source at import (every `run`); no schema is exported.
    # defer_build: a run only reads the active-rules cache; the file's models are built when the file is read
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Example(_Model):
    """One occurrence kept as evidence."""

    at: str
    source: Literal["run", "rejection", "selftest", "breaker"]
    ref: str
    """The run id, task id or alert the occurrence comes from."""
    message: str


class Regression(_Model):
    id: str = Field(pattern=r"^REG-\d{3,}$")
    role: str | None = None
    agent: str | None = None
    signature: str
    """Normalised failure signature: subject, error class and the stable part of the message."""
    rule: str
    """What agents of this role/agent are told once the entry is active."""
    count: int = Field(ge=0)
    firstSeen: str
    lastSeen: str
    examples: list[Example] = Field(default_factory=list, max_length=MAX_EXAMPLES)
    status: RegStatus = "candidate"
    approvedBy: str | None = None
    approvedAt: str | None = None
    retiredBy: str | None = None
    retiredAt: str | None = None


class RegressionsFile(_Model):
    version: int = REGRESSIONS_VERSION
    regressions: list[Regression] = Field(default_factory=list)

    @field_validator("version")
    @classmethod
    def _known(cls, v: int) -> int:
        if v > REGRESSIONS_VERSION:
            raise ValueError(f"format version {v} is newer than this agentctl understands ({REGRESSIONS_VERSION})")
        return v

    def find(self, reg_id: str) -> Regression | None:
        return next((r for r in self.regressions if r.id == reg_id), None)

    def next_id(self) -> str:
        nums = [int(r.id.split("-", 1)[1]) for r in self.regressions]
        return f"REG-{max(nums, default=0) + 1:03d}"


def regressions_path(ws: Workspace) -> Path:
    return ws.root / REL_PATH


def load(ws: Workspace) -> RegressionsFile:
    """The regressions list; a missing file is an empty list, a bad one is StateError (74)."""
    raw = ws.storage.regressions.read()
    return RegressionsFile() if raw is None else parse(raw)


def parse(raw: bytes) -> RegressionsFile:
    from agentctl.workspace.yamlstrict import line_for, load_yaml_text  # YAML only when the file is read

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"{REL_PATH}: not UTF-8 text; it was not changed") from None
    try:
        data, lines = load_yaml_text(text, REL_PATH)
    except ConfigError as exc:
        detail = "; ".join(p.render() for p in exc.problems) or exc.message
        raise StateError(f"{REL_PATH}: unreadable ({detail}); it was not changed — fix it or restore it") from None
    if data is None:
        return RegressionsFile()
    if not isinstance(data, dict):
        raise StateError(f"{REL_PATH}:1: expected a mapping with `version` and `regressions`; it was not changed")
    try:
        return RegressionsFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = line_for(lines, loc)
        where = f"{REL_PATH}:{line}" if line else REL_PATH
        field = ".".join(map(str, loc)) or "(top)"
        msg = "unknown key (typo?)" if err["type"] == "extra_forbidden" else err["msg"]
        raise StateError(f"{where}: invalid regressions file ({field}: {msg}); it was not changed") from None


def dump(doc: RegressionsFile) -> bytes:
    import yaml

    body = yaml.safe_dump(doc.model_dump(mode="json", exclude_none=True), sort_keys=False,
                          allow_unicode=True, width=110, default_flow_style=False)
    return (HEADER + body).encode("utf-8")


def save(ws: Workspace, doc: RegressionsFile) -> None:
    """Write the list atomically (call under the lock), then refresh the runner's cache."""
    data = dump(doc)
    ws.storage.regressions.write(data)
    _write_cache(ws, data, doc)


@contextlib.contextmanager
def transaction(ws: Workspace) -> Iterator[RegressionsFile]:
    """Lock, re-read, let the caller mutate, write atomically only if something changed."""
    with ws.storage.regressions.lock():
        doc = load(ws)
        before = doc.model_dump()
        yield doc
        if doc.model_dump() != before:
            save(ws, doc)


# --- the runner's view: fast, called on every run ---------------------------------
#
# Strict YAML parsing costs ~1.5 ms per entry in pure Python, too much on every run.
# The active rules are therefore cached (the seam's ``storage.cache``, key ``active-rules``)
# together with the sha256 of the regressions.yaml bytes they came from; a file edited by
# hand has another digest, so it is parsed strictly (and the cache rewritten) on the next run.

CACHE_KEY = "active-rules"


class _ActiveRule(_Model):
    role: str | None = None
    agent: str | None = None
    rule: str


class _ActiveCache(_Model):
    version: int = 1
    sha256: str
    active: list[_ActiveRule]


def _write_cache(ws: Workspace, raw: bytes, doc: RegressionsFile) -> list[_ActiveRule]:
    active = [_ActiveRule(role=r.role, agent=r.agent, rule=r.rule.strip())
              for r in doc.regressions if r.status == "active" and r.rule.strip()]
    cache = _ActiveCache(sha256=hashlib.sha256(raw).hexdigest(), active=active)
    with contextlib.suppress(AgentctlError), ws.storage.cache.transaction(CACHE_KEY) as slot:
        slot.value = cache.model_dump(mode="json")  # only a cache: a failed write costs speed, not correctness
    return active


def _active(ws: Workspace) -> list[_ActiveRule]:
    raw = ws.storage.regressions.read()
    if raw is None:
        return []
    digest = hashlib.sha256(raw).hexdigest()
    cached = None
    with contextlib.suppress(AgentctlError):
        cached = ws.storage.cache.get(CACHE_KEY)
    if cached:
        try:
            cache = _ActiveCache.model_validate(cached)
            if cache.sha256 == digest and cache.version == 1:
                return cache.active
        except ValidationError:
            pass
    return _write_cache(ws, raw, parse(raw))


def active_rules(ws: Workspace, role: str, agent: str) -> list[str]:
    """Rule texts of the active entries for this role or this agent (missing file → [])."""
    rules: list[str] = []
    for r in _active(ws):
        if (r.agent == agent or (r.role is not None and r.role == role)) and r.rule not in rules:
            rules.append(r.rule)
    return rules


# --- human acts: approve, retire ----------------------------------------------------

def list_regressions(ws: Workspace, status: str | None = None) -> list[Regression]:
    if status is not None and status not in REG_STATUSES:
        from agentctl.errors import UsageError

        raise UsageError(f"--status must be one of {', '.join(REG_STATUSES)}; got {status!r}")
    return [r for r in load(ws).regressions if status is None or r.status == status]


def get_regression(ws: Workspace, reg_id: str) -> Regression:
    found = load(ws).find(reg_id)
    if found is None:
        raise NotFound(f"unknown regression {reg_id!r} (see `agentctl regressions list`)")
    return found


def approve(ws: Workspace, reg_id: str, by: str, now: datetime, rule: str | None = None) -> tuple[Regression, bool]:
    """candidate (or retired) → active. Returns (entry, changed)."""
    with transaction(ws) as doc:
        reg = doc.find(reg_id)
        if reg is None:
            raise NotFound(f"unknown regression {reg_id!r} (see `agentctl regressions list`)")
        changed = False
        if rule is not None and rule.strip() and rule.strip() != reg.rule:
            reg.rule = rule.strip()
            changed = True
        if reg.status != "active":
            reg.status = "active"
            reg.approvedBy, reg.approvedAt = by, iso(now)
            reg.retiredBy = reg.retiredAt = None
            changed = True
        return reg.model_copy(), changed


def retire(ws: Workspace, reg_id: str, by: str, now: datetime) -> tuple[Regression, bool]:
    """Any status → retired: its rule leaves the prompts. Returns (entry, changed)."""
    with transaction(ws) as doc:
        reg = doc.find(reg_id)
        if reg is None:
            raise NotFound(f"unknown regression {reg_id!r} (see `agentctl regressions list`)")
        if reg.status == "retired":
            return reg.model_copy(), False
        reg.status = "retired"
        reg.retiredBy, reg.retiredAt = by, iso(now)
        return reg.model_copy(), True
