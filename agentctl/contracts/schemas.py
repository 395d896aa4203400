"""Handoff contracts (SPEC §6): JSON Schema draft 2020-12 validation of artifacts.

Owns finding a contract (``schemas/<name>.json``), compiling it once per file
version into a ``Contract`` (a jsonschema validator with a format checker and a
registry that resolves only local schemas), and turning validation errors into
problems ``{path, message, missing}`` with JSONPath-like paths (``$.a.b[0]``) plus
a one-line summary for rejections ("missing responsive breakpoints for screens
< 768px").

- ``format`` is enforced (jsonschema ignores it unless given a FormatChecker).
- A remote ``$ref`` is never fetched: the registry's retrieve function knows only
  the schema files beside the contract (by ``$id`` or file name) and refuses
  anything else; every ``$ref`` is resolved when the contract is compiled, so a
  bad one is a ConfigError (78) naming the schema file whatever the artifact.
- Speed: valid artifacts are the common case, so a contract answers ``is_valid``
  first (through ``compile_fast``, an exact closure compiler for the keywords
  the studio contracts use; any other keyword keeps jsonschema's ``is_valid``) and asks jsonschema for the detailed errors only when the
  artifact is invalid.
- Start-up: jsonschema is imported inside functions, through ``load_jsonschema``,
  which keeps the optional ``rfc3987_syntax`` (≈0.7 s to import, needed only for
  the ``iri`` formats) out of the import and registers those formats lazily.

INTERFACE (stable, used by the runner and handoff):
    validate_artifact(ws, schema_name, data) -> list[dict]   # [{path, message, missing}]; [] when valid
    check_artifact(ws, schema_name, data) -> Verdict         # problems + summary + missing names
    compiled_validator(path) -> Contract                     # cached per (file, mtime)
    parse_artifact(raw) -> (data, Verdict | None)            # None when the bytes are JSON
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentctl.contracts.fastschema import compile_fast
from agentctl.errors import ConfigError, Problem
from agentctl.workspace.loader import Workspace

if TYPE_CHECKING:
    from agentctl.storage.base import KeyedStore

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
LOCAL_ID_PREFIX = "agentctl:schemas/"
_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VALUE_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


# --- results ---------------------------------------------------------------------

@dataclass
class Verdict:
    """The outcome of checking one artifact against one contract."""

    problems: list[dict[str, Any]] = field(default_factory=list)
    """Every problem: ``{path, message, missing}``."""
    missing: list[str] = field(default_factory=list)
    """What is missing, as paths from the root (``responsiveBreakpoints``, ``build.status``)."""
    summary: str = ""
    """One line for people and agents: ``missing responsive breakpoints``."""

    @property
    def valid(self) -> bool:
        return not self.problems


VALID = Verdict()


@dataclass
class _Found:
    path: str
    message: str
    missing: list[str]
    full_missing: list[str]
    phrase: str
    is_missing: bool


# --- importing jsonschema cheaply ----------------------------------------------------

# Format libraries jsonschema imports eagerly but only a few contracts use: kept out of
# the import (rfc3987_syntax ≈0.7 s uncompiled; isoduration pulls arrow and dateutil) and
# registered as lazy checks instead.
_LAZY_FORMATS = {"rfc3987_syntax": ("iri", "iri-reference"), "isoduration": ("duration",)}


def load_jsonschema() -> Any:
    """``import jsonschema`` without paying for the optional format libraries at start-up."""
    if "jsonschema" not in sys.modules:
        hidden = [m for m in _LAZY_FORMATS if m not in sys.modules]
        for module in hidden:
            sys.modules[module] = None  # type: ignore[assignment]  # makes jsonschema skip that format
        try:
            import jsonschema  # noqa: F401
        finally:
            for module in hidden:
                if sys.modules.get(module, 0) is None:
                    del sys.modules[module]
    import jsonschema

    return jsonschema


_FORMAT_CHECKER: Any = None


def format_checker() -> Any:
    """Draft 2020-12's FORMAT_CHECKER, plus the lazily loaded formats (iri, duration)."""
    global _FORMAT_CHECKER
    if _FORMAT_CHECKER is not None:
        return _FORMAT_CHECKER
    js = load_jsonschema()
    base = js.Draft202012Validator.FORMAT_CHECKER
    lazy = [(module, fmt) for module, fmts in _LAZY_FORMATS.items() for fmt in fmts
            if fmt not in base.checkers and importlib.util.find_spec(module) is not None]
    if not lazy:
        _FORMAT_CHECKER = base
        return base
    checker = js.FormatChecker(formats=())
    checker.checkers = dict(base.checkers)
    for module, fmt in lazy:
        checker.checks(fmt, raises=ValueError)(_lazy_format(module, fmt))
    _FORMAT_CHECKER = checker
    return checker


def _lazy_format(module: str, fmt: str) -> Callable[[object], bool]:
    def check(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        if module == "isoduration":
            from isoduration import parse_duration

            return bool(parse_duration(instance))  # raises DurationParsingException (a ValueError)
        from rfc3987_syntax import is_valid_syntax

        return bool(is_valid_syntax(fmt, instance))

    return check


# --- finding and compiling contracts ---------------------------------------------------

@dataclass
class Contract:
    """A schema compiled once: ``check`` is what callers use."""

    name: str
    path: Path
    display: str
    schema: dict[str, Any]
    build: Callable[[], Any]
    """Makes jsonschema's validator: on first use (an invalid artifact, no fast path), for a vetted contract."""
    fast: Callable[[Any], bool] | None = None
    _validator: Any = field(default=None, repr=False)

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = self.build()
        return self._validator

    def is_valid(self, data: Any) -> bool:
        try:
            if self.fast is not None:
                return self.fast(data)
            return bool(self.validator.is_valid(data))
        except RecursionError:
            return bool(self.validator.is_valid(data))
        except Exception as exc:
            raise _as_config_error(exc, self.display) from None

    def check(self, data: Any) -> Verdict:
        """``is_valid`` first; the detailed (slower) errors only for an invalid artifact.

        The depth limit is enforced where data comes in (``parse_artifact``, and the
        runner for a model's parsed answer) so this hot path stays one pass; a
        RecursionError here is the backstop."""
        try:
            if self.is_valid(data):
                return VALID
            errors = list(self.validator.iter_errors(data))
        except RecursionError:
            return too_deep_verdict()
        except Exception as exc:
            raise _as_config_error(exc, self.display) from None
        return _verdict(errors) if errors else VALID


def _as_config_error(exc: Exception, display: str) -> Exception:
    from referencing.exceptions import Unresolvable

    if isinstance(exc, Unresolvable):
        return _unresolvable(display, getattr(exc, "ref", str(exc)), None, exc)
    return exc


def _unresolvable(display: str, ref: str, where: str | None, exc: BaseException) -> ConfigError:
    cause = exc.__cause__ or exc.__context__
    remote = isinstance(cause, RemoteRefRefused) or (re.match(r"^[a-z][a-z0-9+.-]*://", ref) is not None)
    why = ("a remote schema, and agentctl never fetches one" if remote else "not found among the local schemas")
    return ConfigError(
        f"{display}: cannot resolve $ref {ref!r}: {why}",
        [Problem(f"$ref {ref!r} does not resolve", file=display, field=where)],
        hint="put a copy of the referenced schema in schemas/ and refer to it by its $id or file name",
    )


class RemoteRefRefused(LookupError):
    """Raised by the registry's retrieve function for anything that is not a local schema."""


def schema_path(ws: Workspace, name: str) -> Path:
    """``schemas/<name>.json`` of the workspace; an unknown name is a ConfigError (78)."""
    path = ws.schemas_dir / f"{name}.json"
    if not _SCHEMA_NAME.match(name) or not path.is_file():
        known = ", ".join(ws.schema_names()) or "none"
        raise ConfigError(f"unknown schema {name!r}: no schemas/{name}.json (known: {known})")
    return path


_CACHE: dict[Path, tuple[tuple[Any, ...], Contract]] = {}


def _signature(path: Path) -> tuple[Any, ...]:
    """The contract's file version and its neighbours' (a local $ref may point at them)."""
    try:
        own = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read schema ({exc.strerror})") from None
    try:
        with os.scandir(path.parent) as entries:
            others = sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size)
                            for e in entries if e.name.endswith(".json") and e.is_file())
    except OSError:
        others = []
    return (own.st_mtime_ns, own.st_size, tuple(others))


def compiled_validator(path: Path, display: str | None = None, vetted: KeyedStore | None = None) -> Contract:
    """The contract in ``path``, compiled once per version of the file (and of its folder).

    ``vetted`` (the storage's derived cache) lets a contract that passed the full check
    before skip it, and jsonschema's import with it (``agentctl.contracts.vetted``)."""
    path = Path(path).resolve()
    sig = _signature(path)
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == sig:
        return hit[1]
    display = display or f"{path.parent.name}/{path.name}"
    if vetted is None:
        contract = _compile(path, display)
    else:
        from agentctl.contracts.vetted import compile_vetted

        contract = compile_vetted(path, display, vetted)
    _CACHE[path] = (sig, contract)
    return contract


def read_schema_bytes(path: Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read schema ({exc.strerror})") from None


def _read_schema(path: Path, display: str, raw: bytes | None = None) -> dict[str, Any]:
    try:
        data = json.loads(read_schema_bytes(path, display) if raw is None else raw)
    except ValueError as exc:
        raise ConfigError(f"{display}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{display}: a JSON Schema file must hold an object, got {type(data).__name__}")
    declared = data.get("$schema")
    if declared is not None and str(declared).rstrip("#") != DRAFT_2020_12:
        raise ConfigError(f"{display}: $schema must be {DRAFT_2020_12} (draft 2020-12), got {declared!r}")
    return data


def _compile(path: Path, display: str, raw: bytes | None = None) -> Contract:
    """The full compile: the metaschema check, every ``$ref`` resolved, jsonschema's validator."""
    js = load_jsonschema()
    schema = _read_schema(path, display, raw)
    try:
        js.Draft202012Validator.check_schema(schema)
    except js.SchemaError as exc:
        where = json_path(exc.absolute_path)
        raise ConfigError(f"{display}: not a valid draft 2020-12 JSON Schema: {exc.message}",
                          [Problem(exc.message, file=display, field=where)]) from None
    registry = _local_registry(path.parent, path, schema)
    checker = format_checker()
    validator = js.Draft202012Validator(schema, registry=registry, format_checker=checker)
    _resolve_all_refs(schema, registry, display)
    return Contract(path.stem, path, display, schema, lambda: validator, compile_fast(schema, checker), validator)


def vetted_contract(path: Path, display: str, raw: bytes, fast_formats: Any) -> Contract | None:
    """A contract known to pass ``_compile`` (same bytes, no ``$ref``) without its checks: the fast
    path if it compiles (``fast_formats`` checks formats), jsonschema's validator on first use."""
    schema = _read_schema(path, display, raw)
    fast = compile_fast(schema, fast_formats)
    if fast is None:
        return None

    def build() -> Any:
        js = load_jsonschema()
        registry = _local_registry(path.parent, path, schema)
        return js.Draft202012Validator(schema, registry=registry, format_checker=format_checker())

    return Contract(path.stem, path, display, schema, build, fast)


def _local_registry(folder: Path, own: Path, schema: dict[str, Any]) -> Any:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    def retrieve(uri: str) -> Any:
        found = _find_local(folder, uri)
        if found is None:
            raise RemoteRefRefused(uri)
        return DRAFT202012.create_resource(found)

    registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    own_id = schema.get("$id")
    if isinstance(own_id, str) and own_id:
        registry = registry.with_resource(own_id, DRAFT202012.create_resource(schema))
    return registry


def _find_local(folder: Path, uri: str) -> dict[str, Any] | None:
    """A schema file in ``folder`` whose ``$id`` is ``uri``, else (for a non-network URI) by file name."""
    uri = uri.split("#", 1)[0]
    files = sorted(folder.glob("*.json"))
    for file in files:
        try:
            data = json.loads(file.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("$id") == uri:
            return data
    if "://" in uri:
        return None
    name = uri[len(LOCAL_ID_PREFIX):] if uri.startswith(LOCAL_ID_PREFIX) else uri.rsplit("/", 1)[-1]
    name = name.removesuffix(".json")
    candidate = folder / f"{name}.json"
    if _SCHEMA_NAME.match(name) and candidate.is_file():
        try:
            data = json.loads(candidate.read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None
    return None


def _resolve_all_refs(schema: dict[str, Any], registry: Any, display: str) -> None:
    """Resolve every ``$ref`` now, so a bad one fails the same way for every artifact."""
    from jsonschema_specifications import REGISTRY as SPECIFICATIONS
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    if '"$ref"' not in json.dumps(schema):
        return  # nothing to resolve: skip building a resolver over every metaschema
    root = SPECIFICATIONS.combine(registry).resolver_with_root(DRAFT202012.create_resource(schema))

    def walk(node: Any, resolver: Any, where: list[Any], top: bool) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, resolver, [*where, i], False)
            return
        if not isinstance(node, dict):
            return
        if not top and isinstance(node.get("$id"), str):
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except Unresolvable as exc:
                raise _unresolvable(display, ref, json_path([*where, "$ref"]), exc) from None
        for key, value in node.items():
            if key not in _VALUE_KEYWORDS:
                walk(value, resolver, [*where, key], False)

    walk(schema, root, [], True)


# --- the public entry points -----------------------------------------------------------

def parse_artifact(raw: bytes | str) -> tuple[Any, Verdict | None]:
    """JSON bytes → data; not JSON → a Verdict with one problem at ``$``."""

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        data = json.loads(raw, parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        message = f"not valid JSON: {exc}"
        return None, Verdict([{"path": "$", "message": message, "missing": []}], [], "the artifact is not valid JSON")
    except RecursionError:
        return None, too_deep_verdict()
    return (None, too_deep_verdict()) if too_deep(data) else (data, None)


MAX_ARTIFACT_DEPTH = 64
"""Nesting limit of artifacts: deeper ones are rejected (exit 3), never a RecursionError."""


def too_deep(data: Any, limit: int = MAX_ARTIFACT_DEPTH) -> bool:
    """True when lists/objects nest more than ``limit`` levels (iterative: safe at any depth)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def too_deep_verdict() -> Verdict:
    message = f"nested more than {MAX_ARTIFACT_DEPTH} levels deep; refused"
    return Verdict([{"path": "$", "message": message, "missing": []}], [], f"the artifact is {message}")


def check_artifact(ws: Workspace, schema_name: str, data: Any, cache: KeyedStore | None = None) -> Verdict:
    """``data`` against ``schemas/<schema_name>.json``; ``cache`` (``storage.cache``) remembers vetted contracts."""
    return compiled_validator(schema_path(ws, schema_name), f"schemas/{schema_name}.json", cache).check(data)


def validate_artifact(ws: Workspace, schema_name: str, data: Any) -> list[dict[str, Any]]:
    return check_artifact(ws, schema_name, data).problems


# --- errors → problems and a summary ---------------------------------------------------

def json_path(parts: Iterable[Any]) -> str:
    """``$.a.b[0]``; keys that are not identifiers as ``$['a b']``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(str(part)):
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part), ensure_ascii=False).replace("'", "\\'")[1:-1].join("''") + "]"
    return out


def _rel(parts: Sequence[Any]) -> str:
    text = json_path(parts)
    return text[2:] if text.startswith("$.") else text[1:]


def words(name: str) -> str:
    """``responsiveBreakpoints`` → ``responsive breakpoints``; snake and kebab case too."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", str(name))
    return re.sub(r"[\s_-]+", " ", spaced).strip().lower() or str(name)


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(subschema: Any) -> str | None:
    """A short name for a subschema: its ``title``, else a one-clause ``description``."""
    if not isinstance(subschema, dict):
        return None
    for key in ("title", "description"):
        text = subschema.get(key)
        if isinstance(text, str) and text.strip():
            text = text.strip().rstrip(".")
            if key == "description" and (len(text) > 80 or ". " in text):
                continue
            return text[0].lower() + text[1:] if text[1:2].islower() else text
    return None


def _join(items: list[str], limit: int = 5) -> str:
    items = list(dict.fromkeys(items))
    if len(items) > limit:
        items = items[:limit] + [f"{len(items) - limit} more"]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_ARTICLE = {"object": "an object", "array": "an array", "integer": "an integer"}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    for kind, name in ((dict, "object"), (list, "array"), (str, "string")):
        if isinstance(v, kind):
            return name
    return type(v).__name__


def _message(e: Any) -> str:
    kw, value, inst = e.validator, e.validator_value, e.instance
    if kw == "const":
        return f"must be {short(value)} (got {short(inst)})"
    if kw == "enum":
        return f"must be one of {', '.join(short(v, 30) for v in value)} (got {short(inst)})"
    if kw == "type":
        wanted = [value] if isinstance(value, str) else list(value)
        return f"must be {' or '.join(_ARTICLE.get(t, 'a ' + t) for t in wanted)} (got {_json_type(inst)})"
    if kw == "format":
        return f"not a valid {value}: {short(inst)}"
    if kw == "minItems":
        return f"must have at least {value} item{'s' * (value != 1)} (has {len(inst)})"
    if kw == "maxItems":
        return (f"must be empty (has {short(inst)})" if value == 0
                else f"must have at most {value} item{'s' * (value != 1)} (has {len(inst)})")
    if kw == "pattern":
        return f"must match {value} (got {short(inst)})"
    if kw == "minLength" and value == 1:
        return "must not be empty"
    text = str(e.message)
    rep = repr(inst)
    return text.replace(rep, short(inst)) if len(rep) > 60 else text


def _found(e: Any) -> _Found | None:
    """One error → one problem; ``required`` errors are grouped by the caller."""
    parts = list(e.absolute_path)
    path, rel = json_path(parts), _rel(parts)
    kw, value, schema = e.validator, e.validator_value, e.schema
    where = f" in {rel}" if rel else ""
    if kw in ("contains", "minContains"):
        contains = schema.get("contains") if isinstance(schema, dict) else None
        label = _label(contains) or f"{words(parts[-1]) if parts else 'items'} of the required kind"
        n = schema.get("minContains", 1) if isinstance(schema, dict) else 1
        what = "one item" if n == 1 else f"{n} items"
        outer = f" in {_rel(parts[:-1])}" if len(parts) > 1 else ""
        return _Found(path, f"must contain at least {what} matching: {label}", [], [rel or "$"], label + outer, True)
    if kw in ("anyOf", "oneOf") and isinstance(value, list) and value and all(
            isinstance(s, dict) and set(s) == {"required"} for s in value):
        options = [" and ".join(s["required"]) for s in value]
        text = " or ".join(options)
        return _Found(path, f"needs {'one of ' if len(options) > 1 else ''}{text}", [], [], f"{text}{where}", True)
    if kw == "not" and isinstance(value, dict):
        inner = value.get("contains")
        label = _label(value) or _label(inner) or short(inner if inner is not None else value, 50)
        message = f"must not contain {label}" if inner is not None else f"must not match {label}"
        return _Found(path, message, [], [], f"{rel or 'the artifact'} {message}", False)
    message = _message(e)
    return _Found(path, message, [], [], f"invalid {rel or 'artifact'}: {message}", False)


def _missing_names(e: Any) -> list[str]:
    inst = e.instance if isinstance(e.instance, dict) else {}
    if e.validator == "required":
        return [n for n in e.validator_value if n not in inst]
    deps = e.validator_value if isinstance(e.validator_value, dict) else {}
    return [d for p, ds in deps.items() if p in inst for d in ds if d not in inst]


def _verdict(errors: list[Any]) -> Verdict:
    found: list[_Found] = []
    grouped: dict[str, _Found] = {}
    for e in errors:
        if e.validator in ("required", "dependentRequired"):
            parts = list(e.absolute_path)
            names = _missing_names(e) or [str(e.message)]
            item = grouped.get(json_path(parts))
            if item is None:
                item = _Found(json_path(parts), "", [], [], "", True)
                grouped[item.path] = item
                found.append(item)
            rel = _rel(parts)
            for n in names:
                if n not in item.missing:
                    item.missing.append(n)
                    item.full_missing.append(_rel([*parts, n]))
            item.phrase = _join([words(n) for n in item.missing]) + (f" in {rel}" if rel else "")
            noun = "property" if len(item.missing) == 1 else "properties"
            item.message = f"missing required {noun}: {', '.join(item.missing)}"
        elif (one := _found(e)) is not None:
            found.append(one)
    problems = [{"path": f.path, "message": f.message, "missing": list(f.missing)} for f in found]
    missing = list(dict.fromkeys(m for f in found for m in f.full_missing))
    return Verdict(problems, missing, summarize(found))


def summarize(found: list[_Found]) -> str:
    parts = []
    lacking = [f.phrase for f in found if f.is_missing]
    if lacking:
        parts.append("missing " + _join(lacking))
    first_per_path: dict[str, str] = {}
    for f in found:
        if not f.is_missing:
            first_per_path.setdefault(f.path, f.phrase)
    parts += list(dict.fromkeys(first_per_path.values()))
    if len(parts) > 3:
        parts = parts[:3] + [f"and {len(parts) - 3} more problem{'s' * (len(parts) > 4)}"]
    return "; ".join(parts)
