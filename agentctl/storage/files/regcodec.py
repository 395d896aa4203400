"""The bytes of tasks.json: one canonical encoding, a seal, and a splice of the changed tasks.

agentctl always writes tasks.json in one canonical form (pydantic's ``indent=1``): each
task sits between a line ``  {`` and a line ``  }`` (two spaces; everything inside a task
is indented deeper, and JSON strings hold no raw newline). After each write a seal
(``state/tasks.json.seal``: device, inode, size, mtime and ctime of the file written, and
a fingerprint of the task model) says "these exact bytes were validated when written".
Any write to the file moves its ctime, which no program can set back; the one thing the
seal cannot see is a same-size rewrite in place within the clock tick of agentctl's own
write (milliseconds) — by a program that writes tasks.json without its lock, which would
lose updates anyway. A file that matches its seal is read without validating or decoding the
tasks nobody asks for: a change validates and re-encodes only the tasks it touched and
copies the other tasks' bytes as they are. A file that does not match (first use, an
edit by hand, a restore from git, a torn seal after a crash) is read the slow way —
every task validated — and the next write seals it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentctl.core.records import REGISTRY_VERSION, TASK_ID_PATTERN, RegistryFile, Task
from agentctl.errors import StateError

_TASKS_KEY = b'\n "tasks": ['
_TASK_OPEN = b"\n  {\n"
_TASK_CLOSE = b"\n  }"
_SEAL_SIZE = 160
_fingerprint: str | None = None


def model_fingerprint() -> str:
    """Changes whenever the task model does: a seal from another model is not trusted."""
    global _fingerprint
    if _fingerprint is None:
        seen: list[str] = [str(REGISTRY_VERSION), TASK_ID_PATTERN]
        stack: list[Any] = [RegistryFile]
        done: set[Any] = set()
        while stack:
            cls = stack.pop()
            if cls in done:
                continue
            done.add(cls)
            for name, f in cls.model_fields.items():
                seen.append(f"{cls.__name__}.{name}:{f.annotation!r}:{f.metadata!r}:{f.default!r}")
                stack.extend(_nested_models(f.annotation))
        _fingerprint = f"{zlib.crc32(';'.join(seen).encode()):08x}"
    return _fingerprint


def _nested_models(annotation: Any) -> list[Any]:
    from typing import get_args

    from pydantic import BaseModel

    out = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    for arg in get_args(annotation):
        out += _nested_models(arg)
    return out


# --- the seal ------------------------------------------------------------------------------

def seal_path(registry: Path) -> Path:
    return registry.parent / "state" / f"{registry.name}.seal"


def _stamp(st: os.stat_result) -> bytes:
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {model_fingerprint()}".encode()


def is_sealed(registry: Path, st: os.stat_result) -> bool:
    """True when the file read from ``registry`` (its fstat is ``st``) is what agentctl last wrote."""
    try:
        seal = seal_path(registry).read_bytes()
    except OSError:
        return False
    return len(seal) == _SEAL_SIZE and seal.rstrip() == _stamp(st)


def write_seal(registry: Path, st: os.stat_result | None = None) -> None:
    """Seal the bytes just written (called inside the registry lock, after os.replace), or the
    bytes a reader just validated in full (``st``: the fstat of what it read).

    Not durable on purpose: a lost or torn seal only means one slow read; a stale one (a writer
    replaced the file meanwhile) names another inode and never matches. Written in place as
    one fixed-size record (no truncate, no rename: ext4 would flush on either)."""
    path = seal_path(registry)
    with contextlib.suppress(OSError):
        record = _stamp(os.stat(registry) if st is None else st).ljust(_SEAL_SIZE - 1) + b"\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, record, 0)
            if os.fstat(fd).st_size != _SEAL_SIZE:
                os.ftruncate(fd, _SEAL_SIZE)
        finally:
            os.close(fd)


def drop_seal(registry: Path) -> None:
    with contextlib.suppress(OSError):
        seal_path(registry).unlink()


def read_registry_bytes(path: Path) -> tuple[bytes, os.stat_result] | None:
    """The file's bytes and the fstat of the very file read; None when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: unreadable ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        chunks = []
        while chunk := os.read(fd, max(st.st_size + 1, 65536)):
            chunks.append(chunk)
        return b"".join(chunks), st
    except OSError as exc:
        raise StateError(f"{path}: unreadable ({exc.strerror})") from None
    finally:
        os.close(fd)


# --- encoding ------------------------------------------------------------------------------

def encode_task(task: Task) -> bytes:
    """One task as it sits inside the canonical file (indented two levels, from ``{`` to ``}``)."""
    return task.model_dump_json(indent=1).encode().replace(b"\n", b"\n  ")


def _field_json(value: Any) -> bytes:
    if isinstance(value, (list, dict)):
        return json.dumps(value, indent=1, ensure_ascii=False).replace("\n", "\n ").encode()
    return json.dumps(value, ensure_ascii=False).encode()


def encode_registry(doc: RegistryFile, inner: list[bytes | memoryview]) -> list[bytes | memoryview]:
    """The canonical file as pieces to write in order (joined: what ``model_dump_json(indent=1)``
    + newline gives) with
    ``inner`` as the tasks' bytes: from the first task's ``{`` to the last one's ``}``, separators
    included; an empty ``inner`` is an empty list."""
    out: list[bytes | memoryview] = [b"{"]
    for i, name in enumerate(type(doc).model_fields):
        out.append(b"\n " if i == 0 else b",\n ")
        if name != "tasks":
            out.append(f'"{name}": '.encode() + _field_json(getattr(doc, name)))
        elif not inner:
            out.append(b'"tasks": []')
        else:
            out += [b'"tasks": [\n  ', *inner, b"\n ]"]
    out.append(b"\n}\n")
    return out


def join_tasks(chunks: list[bytes]) -> list[bytes | memoryview]:
    return [b",\n  ".join(chunks)] if chunks else []


# --- a sealed file, split lazily -----------------------------------------------------------

@dataclass
class Sealed:
    """A sealed canonical tasks.json: the header fields and where each task's bytes are."""

    raw: bytes
    body_start: int  # just after '"tasks": ['
    body_end: int  # the ']' closing the list

    @classmethod
    def split(cls, raw: bytes) -> Sealed | None:
        key = raw.find(_TASKS_KEY)
        if key < 0:
            return None
        start = key + len(_TASKS_KEY)
        if raw[start:start + 1] == b"]":
            return cls(raw, start, start)
        # the list closes at the first line " ]" after it; when tasks is the last field, that is
        # the last such line, found from the end at once
        last = next(reversed(RegistryFile.model_fields)) == "tasks"
        end = raw.rfind(b"\n ]", start) if last else raw.find(b"\n ]", start)
        return cls(raw, start, end + 2) if end >= 0 else None

    def header(self) -> dict[str, Any]:
        """The top-level fields (version, nextSeq…) from the file with its tasks cut out."""
        data: dict[str, Any] = json.loads(self.raw[:self.body_start] + self.raw[self.body_end:])
        data.pop("tasks", None)
        return data

    def span(self, task_id: str) -> tuple[int, int] | None:
        """(start, end) of the first task whose id is ``task_id`` (ids need no JSON escaping)."""
        needle = _TASK_OPEN + b'   "taskId": ' + json.dumps(task_id).encode() + b",\n"
        at = self.raw.find(needle, self.body_start, self.body_end)
        return None if at < 0 else self._close(at)

    def agent_spans(self, agent: str) -> list[tuple[int, int]]:
        """(start, end) of every task whose top-level ``agent`` is ``agent`` (a name that needs no JSON
        escaping): a raw newline and three spaces begin only a task's own fields."""
        needle = b'\n   "agent": ' + json.dumps(agent).encode() + b",\n"
        out: list[tuple[int, int]] = []
        at = self.raw.find(needle, self.body_start, self.body_end)
        while at >= 0:
            opened = self.raw.rfind(_TASK_OPEN, self.body_start, at + 1)
            if opened < 0:
                raise ValueError("field outside a task")
            out.append(self._close(opened))
            at = self.raw.find(needle, out[-1][1], self.body_end)
        return out

    def mentions(self, name: str, value: str) -> bool:
        """Whether some task's top-level field ``name`` is the string ``value`` (one needing no escaping)."""
        needle = f'\n   "{name}": '.encode() + json.dumps(value).encode()
        return self.raw.find(needle, self.body_start, self.body_end) >= 0

    def text_field(self, start: int, end: int, name: str) -> str | None:
        """The top-level string field ``name`` of the task at ``start:end`` (None: absent or not a string)."""
        key = f'\n   "{name}": "'.encode()
        at = self.raw.find(key, start, end)
        if at < 0:
            return None
        at += len(key)
        return self.raw[at:self.raw.find(b'"', at, end)].decode()

    def spans(self) -> list[tuple[int, int]]:
        out = []
        at = self.raw.find(_TASK_OPEN, self.body_start, self.body_end)
        while at >= 0:
            start, end = self._close(at)
            out.append((start, end))
            at = self.raw.find(_TASK_OPEN, end, self.body_end)
        return out

    def _close(self, at: int) -> tuple[int, int]:
        start = at + 3  # the '{'
        end = self.raw.find(_TASK_CLOSE, start, self.body_end)
        if end < 0:
            raise ValueError("task not closed")
        return start, end + len(_TASK_CLOSE)

    def splice(self, doc: RegistryFile, changed: dict[int, tuple[int, bytes]],
               added: list[bytes]) -> list[bytes | memoryview]:
        """The file with the tasks at the starts in ``changed`` ({start: (end, new bytes)}) replaced
        and ``added`` appended; every other byte of the tasks is copied as it is."""
        view = memoryview(self.raw)
        inner: list[bytes | memoryview] = []
        if self.body_end > self.body_start:
            cursor = self.body_start + 3  # the first task's '{'
            for start in sorted(changed):
                end, data = changed[start]
                inner += [view[cursor:start], data]
                cursor = end
            inner.append(view[cursor:self.body_end - 2])  # up to the last task's '}'
        for data in added:
            inner += [b",\n  ", data] if inner else [data]
        return encode_registry(doc, inner)


# --- building models from sealed (already validated) data ----------------------------------

_plans: dict[type, list[tuple[str, str, Any]] | None] = {}


def _plan(cls: Any) -> list[tuple[str, str, Any]] | None:
    """Per field: how to rebuild it — ``(name, 'plain'|'model'|'list', model class)``; None when a
    field nests models in a shape this does not handle (then the model is validated instead)."""
    if cls in _plans:
        return _plans[cls]
    from types import UnionType
    from typing import Union, get_args, get_origin

    plan: list[tuple[str, str, Any]] | None = []
    for name, f in cls.model_fields.items():
        nested = _nested_models(f.annotation)
        if not nested:
            plan.append((name, "plain", None))  # type: ignore[union-attr]
            continue
        ann = f.annotation
        union = get_origin(ann) in (Union, UnionType)
        args = [a for a in get_args(ann) if a is not type(None)] if union else [ann]
        target = args[0] if len(args) == 1 else None
        if target in nested:
            plan.append((name, "model", target))  # type: ignore[union-attr]
        elif target is not None and get_origin(target) is list and get_args(target)[0] in nested:
            plan.append((name, "list", get_args(target)[0]))  # type: ignore[union-attr]
        else:
            plan = None
            break
    _plans[cls] = plan
    return plan


def trusted(cls: Any, data: dict[str, Any]) -> Any:
    """``cls`` built from data agentctl validated when it wrote it (a sealed file): no validation,
    no schema build; ``data`` (freshly decoded) becomes the object's own. Anything unexpected
    falls back to ``model_validate``."""
    plan = _plan(cls)
    if plan is None or len(data) != len(plan):
        return cls.model_validate(data)
    for name, kind, sub in plan:
        if kind == "plain":
            continue
        if name not in data:
            return cls.model_validate(data)
        v = data[name]
        if kind == "model" and v is not None:
            data[name] = trusted(sub, v)
        elif kind == "list" and v:
            data[name] = [trusted(sub, x) for x in v]
    if data.keys() != _names(cls, plan):
        return cls.model_validate(data)
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", data)
    object.__setattr__(obj, "__pydantic_fields_set__", set(data))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


_field_names: dict[type, Any] = {}


def _names(cls: Any, plan: list[tuple[str, str, Any]]) -> Any:
    if cls not in _field_names:
        _field_names[cls] = {name: None for name, _, _ in plan}.keys()
    return _field_names[cls]
