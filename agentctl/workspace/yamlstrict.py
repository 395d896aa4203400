"""Strict YAML reading: ``safe_load`` semantics, plus what PyYAML lets slip.

- a duplicate key is an error naming both lines (PyYAML silently keeps the last);
- YAML 1.1 surprises are not coerced: only ``true``/``false`` are booleans and
  bare dates stay strings, so ``NO`` in a boolean field or ``1.10`` in a string
  field fails schema validation instead of turning into ``False`` / ``1.1``;
- alias bombs, recursive aliases (a value that contains itself), oversized files and
  nesting deeper than MAX_NESTING_DEPTH are refused with a stated limit (deep nesting
  would otherwise overflow the C composer's stack or Python's recursion limit);
- every value's line is kept (1-based) so schema errors can name it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agentctl.errors import ConfigError, Problem

MAX_YAML_BYTES = 1_000_000
MAX_EXPANDED_NODES = 100_000
MAX_NESTING_DEPTH = 64

if TYPE_CHECKING:  # both loaders have SafeLoader's interface
    _Base = yaml.SafeLoader
else:
    try:  # the C loader is several times faster; fall back to pure Python
        _Base = yaml.CSafeLoader
    except AttributeError:  # pragma: no cover
        _Base = yaml.SafeLoader


class _StrictLoader(_Base):
    """SafeLoader with YAML 1.2-like booleans and no implicit timestamps."""


_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

Path_ = tuple[str | int, ...]


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in the tree once aliases are expanded (memoised: linear in the document)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    memo[key] = size
    return size


def _check_aliases(root: yaml.Node, file: str) -> None:
    if _expanded_size(root, {}) > MAX_EXPANDED_NODES:
        raise ConfigError(f"{file}: expands to more than {MAX_EXPANDED_NODES} values through aliases "
                          "(alias bomb?); refused")


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting deeper than MAX_NESTING_DEPTH before composing (an event scan: no recursion)."""
    depth = 0
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, starts):
            depth += 1
            if depth > MAX_NESTING_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise ConfigError(f"{file}: nested more than {MAX_NESTING_DEPTH} levels deep; refused",
                                  [Problem(f"nesting deeper than {MAX_NESTING_DEPTH} levels", file=file, line=line)])
        elif isinstance(event, ends):
            depth -= 1


def _lines(node: yaml.Node, path: Path_, out: dict[Path_, int], problems: list[Problem], file: str,
           ancestors: frozenset[int] = frozenset()) -> None:
    out[path] = node.start_mark.line + 1
    if id(node) in ancestors:  # a recursive alias (`&a [*a]`): no agentctl file needs one, and
        # JSON, pydantic `Any` fields and the renderers would loop on it
        problems.append(Problem("recursive alias: this value contains itself; refused", file=file,
                                line=node.start_mark.line + 1, field=".".join(map(str, path)) or None))
        return
    ancestors = ancestors | {id(node)}
    if isinstance(node, yaml.MappingNode):
        first: dict[object, int] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
            line = k.start_mark.line + 1
            if key in first:
                problems.append(Problem(
                    f"duplicate key {key!r} (first at line {first[key]}, again at line {line})",
                    file=file, line=line, field=".".join(map(str, path + (key,))),
                ))
            else:
                first[key] = line
            _lines(v, path + (key,), out, problems, file, ancestors)
            out[path + (key,)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, path + (i,), out, problems, file, ancestors)


def load_yaml_text(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text strictly. Returns (data, {path: line}). Raises ConfigError."""
    if len(text.encode("utf-8", "replace")) > MAX_YAML_BYTES:
        raise ConfigError(f"{file}: larger than {MAX_YAML_BYTES} bytes; refused")
    loader = _StrictLoader(text)
    try:
        _check_depth(text, file)
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_aliases(node, file)
        lines: dict[Path_, int] = {}
        problems: list[Problem] = []
        _lines(node, (), lines, problems, file)
        if problems:
            recursive = any(p.message.startswith("recursive alias") for p in problems)
            raise ConfigError(f"{file}: {'recursive alias' if recursive else 'duplicate keys'}", problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = str(exc.problem or exc).strip()
        if exc.context and exc.context_mark:
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise ConfigError(f"{file}: invalid YAML", [Problem(message, file=file, line=line)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: invalid YAML", [Problem(str(exc), file=file)]) from None
    except RecursionError:  # belt and braces: the depth check should make this unreachable
        raise ConfigError(f"{file}: nested too deeply; refused") from None
    finally:
        loader.dispose()
    return data, lines


def load_yaml_file(path: Path, display: str | None = None) -> tuple[Any, dict[Path_, int]]:
    file = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(f"{file}: larger than {MAX_YAML_BYTES} bytes; refused")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.strerror})") from None
    return load_yaml_text(text, file)


def line_for(lines: dict[Path_, int], loc: tuple[str | int, ...]) -> int | None:
    """The line of the deepest known prefix of a pydantic error location."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())
