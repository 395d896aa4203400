"""Decoding the run log for the scorecard: one msgspec struct of the fields it reads, validated in C.

``startedAt`` is an RFC 3339 time (offsets honoured), ``status`` one of SPEC §5's, tokens, cost and
duration ≥ 0. A block that fails is decoded line by line; a line that still fails is skipped and
counted by reason (``REASONS``). Files are read in blocks that end on a line boundary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from agentctl.core.clock import parse_iso_or_none
from agentctl.errors import StateError
from agentctl.storage import open_log

STATUSES = ("success", "failure", "rejected", "selftest_failed", "skipped", "duplicate")
REASONS = ("torn", "badTimestamp", "unknownStatus", "negativeNumber", "missingField", "badField")
"""Why a line was skipped: not a JSON object (torn or corrupt), startedAt not a time, a status
SPEC §5 does not know, a negative token count / cost / duration, no startedAt or status, a field
of the wrong type."""
CHUNK = 16 << 20

NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
Status = Literal["success", "failure", "rejected", "selftest_failed", "skipped", "duplicate"]


class _Error(msgspec.Struct, gc=False):
    type: str | None = None


class ScanRun(msgspec.Struct, gc=False, forbid_unknown_fields=False):
    """The fields of a run record the scorecard reads; every other field is skipped by the decoder."""

    startedAt: AwareTime
    status: Status
    agent: str | None = None
    team: str | None = None
    taskId: str | None = None
    job: str | None = None
    tier: str | None = None
    model: str | None = None
    fallbackFrom: str | None = None
    error: _Error | None = None
    tokensIn: NonNegInt = 0
    tokensOut: NonNegInt = 0
    costUsd: NonNegFloat | None = None
    durationS: NonNegFloat = 0.0
    idempotencyKey: str | None = None
    trigger: str | None = None


def _literal(values: Iterable[str]) -> Any:
    names = tuple(sorted(set(values)))
    return Literal[names] if names else str


def scan_decoders(agents: Iterable[str] = (), models: Iterable[str] = (), tiers: Iterable[str] = (),
                  teams: Iterable[str] = ()) -> tuple[Any, Any, Any]:
    """(fast, general, loose) decoders. The fast one types agent and model as Literals of the
    workspace's names (and tier and team too), so msgspec hands back interned strings (hashed once):
    grouping gets cheaper.
    A line with a name the workspace does not know fails it and is decoded again by the general
    one (unknown agents are counted, never dropped); the loose one takes startedAt as text, for
    times msgspec does not read (no offset: taken as UTC, like everywhere in agentctl)."""
    known = {"agent": _literal(agents), "model": _literal(models), "tier": _literal(tiers), "team": _literal(teams)}
    fields = [(f.name, known[f.name] | None if f.name in known else f.type, f.default)
              for f in msgspec.structs.fields(ScanRun)]
    fast = msgspec.defstruct("ScanRunKnown", fields, gc=False)
    loose = msgspec.defstruct("ScanRunLoose", [("startedAt", str), *fields[1:]], gc=False)
    return msgspec.json.Decoder(fast), msgspec.json.Decoder(ScanRun), msgspec.json.Decoder(loose)


def _reason(exc: msgspec.DecodeError) -> str:
    """Classify a decode error by msgspec's message (``… - at `$.field` ``)."""
    if not isinstance(exc, msgspec.ValidationError):
        return "torn"
    text = str(exc)
    if "missing required field" in text:
        return "missingField"
    where = text.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in text else ""
    if where == "status":
        return "unknownStatus"
    if where == "startedAt":
        return "badTimestamp"
    if ">= 0" in text:
        return "negativeNumber"
    return "torn" if "Expected `object`" in text and not where else "badField"


class Decoders:
    def __init__(self, agents: Iterable[str] = (), models: Iterable[str] = (), tiers: Iterable[str] = (),
                 teams: Iterable[str] = ()):
        self.fast, self.general, self.loose = scan_decoders(agents, models, tiers, teams)

    def block(self, buf: bytes, skipped: Counter[str]) -> list[Any]:
        """Decode a block of lines; when the batch fails, go line by line, counting bad lines by reason."""
        try:
            return self.fast.decode_lines(buf)  # type: ignore[no-any-return]
        except msgspec.DecodeError:
            pass
        out = []
        for line in buf.split(b"\n"):
            if line.strip():
                rec, reason = self.line(line)
                if rec is None:
                    skipped[reason] += 1
                else:
                    out.append(rec)
        return out

    def line(self, line: bytes) -> tuple[Any, str]:
        for dec in (self.fast, self.general):
            try:
                return dec.decode(line), ""
            except msgspec.ValidationError:
                continue
            except msgspec.DecodeError as exc:
                return None, _reason(exc)
        try:
            rec = self.loose.decode(line)
        except msgspec.DecodeError as exc:
            return None, _reason(exc)
        started = parse_iso_or_none(rec.startedAt)
        if started is None:
            return None, "badTimestamp"
        return msgspec.structs.replace(rec, startedAt=started), ""


def chunks(path: Path) -> Iterator[bytes]:
    """The file in blocks that end on a line boundary: a daily file is usually one block, read at once."""
    fh = open_log(path)
    if fh is None:
        return
    with fh:
        rest = b""
        while True:
            try:
                block = fh.read(CHUNK)
            except OSError as exc:
                raise StateError(f"{path}: unreadable ({exc.strerror})") from None
            if not block:
                break
            block = rest + block if rest else block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                yield block[:cut]
        if rest:
            yield rest


