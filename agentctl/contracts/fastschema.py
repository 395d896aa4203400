"""A fast, exact ``is_valid`` for JSON Schemas (the contracts' common case: valid artifacts).

The schema is compiled to Python source (as fastjsonschema does): one function per
subschema that needs its own answer (anyOf, contains, not...), everything else
inlined as plain ``if ...: return False`` statements. Only the keywords listed here
are compiled, with jsonschema's semantics (bool is not a number, 1.0 is an integer,
const/enum/uniqueItems use jsonschema's ``equal``/``uniq``, ported in ``jsonequal``); a schema using any
other keyword (``$ref``, ``patternProperties``, ``unevaluated*``, ``multipleOf``...)
gets no fast path (None) and the caller keeps jsonschema's ``is_valid``. Schema
values never become source text except through ``repr`` of a str/int; everything
else is a bound constant. tests/test_contracts.py checks both agree on generated
artifacts. Invalid artifacts still go through jsonschema for the error detail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


class _Unsupported(Exception):
    pass


_FAST_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "$anchor", "title", "description", "default",
                               "examples", "deprecated", "readOnly", "writeOnly", "contentMediaType",
                               "contentEncoding", "contentSchema", "minContains", "maxContains", "then", "else"})
_FAST_KEYWORDS = frozenset({"type", "enum", "const", "format", "allOf", "anyOf", "oneOf", "not", "if",
                            "properties", "required", "additionalProperties", "propertyNames", "minProperties",
                            "maxProperties", "dependentRequired", "items", "contains", "minItems", "maxItems",
                            "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
                            "exclusiveMinimum", "exclusiveMaximum"})
_OBJECT_KW = ("properties", "required", "additionalProperties", "propertyNames", "minProperties", "maxProperties",
              "dependentRequired")
_ARRAY_KW = ("items", "contains", "minItems", "maxItems", "uniqueItems")
_STRING_KW = ("minLength", "maxLength", "pattern")
_NUMBER_KW = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_NUMBER = "(isinstance({v}, (int, float)) and not isinstance({v}, bool))"
_TYPE_TESTS = {
    "object": "isinstance({v}, dict)", "array": "isinstance({v}, list)", "string": "isinstance({v}, str)",
    "boolean": "isinstance({v}, bool)", "null": "{v} is None", "number": _NUMBER,
    "integer": "((isinstance({v}, int) and not isinstance({v}, bool)) or (isinstance({v}, float) and {v}.is_integer()))",
}
_MAX_INLINE_DEPTH = 8  # Python refuses more than 20 nested blocks; deeper subschemas become functions


def compile_fast(schema: Any, checker: Any) -> Callable[[Any], bool] | None:
    """An ``is_valid`` equivalent to jsonschema's for this schema, or None when it uses other keywords."""
    try:
        return _FastCompiler(checker).build(schema)
    except (_Unsupported, KeyError, TypeError, ValueError, AttributeError, re.error, SyntaxError, RecursionError):
        return None


class _FastCompiler:
    def __init__(self, checker: Any):
        from agentctl.contracts.jsonequal import equal, uniq  # jsonschema's, without importing jsonschema

        self.ns: dict[str, Any] = {"_equal": equal, "_uniq": uniq, "__builtins__": {
            "isinstance": isinstance, "len": len, "dict": dict, "list": list, "str": str, "int": int,
            "float": float, "bool": bool, "any": any}}
        self.checker = checker
        self.sources: list[str] = []
        self.count = 0

    def build(self, schema: Any) -> Callable[[Any], bool]:
        root = self.function(schema)
        code = compile("\n".join(self.sources), "<agentctl contract>", "exec")
        exec(code, self.ns)  # noqa: S102 — source built only from whitelisted keywords, see above
        return self.ns[root]  # type: ignore[no-any-return]

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, value: Any) -> str:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return repr(value)
        name = self.name("k")
        self.ns[name] = value
        return name

    def function(self, schema: Any) -> str:
        name = self.name("s")
        body: list[str] = []
        self.emit(schema, "v", body, 1, 0)
        self.sources.append(f"def {name}(v):\n" + "\n".join(body + ["    return True"]))
        return name

    def emit(self, s: Any, v: str, out: list[str], ind: int, depth: int) -> None:
        """Statements that ``return False`` when ``v`` does not match ``s``."""
        pad = "    " * ind
        if s is True:
            return
        if s is False:
            out.append(f"{pad}return False")
            return
        if not isinstance(s, dict) or set(s) - _FAST_KEYWORDS - _FAST_ANNOTATIONS:
            raise _Unsupported
        if depth > _MAX_INLINE_DEPTH:
            out.append(f"{pad}if not {self.function(s)}({v}): return False")
            return
        types = [s["type"]] if isinstance(s.get("type"), str) else list(s.get("type", []))
        if types:
            tests = " or ".join(_TYPE_TESTS[t].format(v=v) for t in types)
            out.append(f"{pad}if not ({tests}): return False")
        self.emit_any(s, v, out, pad)
        only = types[0] if len(types) == 1 else None
        for kind, keys, guard in (("object", _OBJECT_KW, "isinstance({v}, dict)"),
                                  ("array", _ARRAY_KW, "isinstance({v}, list)"),
                                  ("string", _STRING_KW, "isinstance({v}, str)"),
                                  ("number", _NUMBER_KW, _NUMBER)):
            if not any(k in s for k in keys):
                continue
            inner = ind
            if only != kind and not (kind == "number" and only == "integer"):
                out.append(f"{pad}if {guard.format(v=v)}:")
                inner = ind + 1
            getattr(self, f"emit_{kind}")(s, v, out, inner, depth)

    def emit_any(self, s: dict[str, Any], v: str, out: list[str], pad: str) -> None:
        if "const" in s:
            c = s["const"]
            test = f"{v} == {self.const(c)}" if isinstance(c, str) else f"_equal({v}, {self.const(c)})"
            out.append(f"{pad}if not ({test}): return False")
        if "enum" in s:
            values = list(s["enum"])
            if values and all(isinstance(e, str) for e in values):
                out.append(f"{pad}if not (isinstance({v}, str) and {v} in {self.const(frozenset(values))}): "
                           "return False")
            else:
                out.append(f"{pad}if not any(_equal(e, {v}) for e in {self.const(values)}): return False")
        if "format" in s and self.checker is not None:
            out.append(f"{pad}if not {self.const(self.checker.conforms)}({v}, {self.const(str(s['format']))}): "
                       "return False")
        for sub in s.get("allOf", []):
            out.append(f"{pad}if not {self.function(sub)}({v}): return False")
        if "anyOf" in s:
            calls = " or ".join(f"{self.function(sub)}({v})" for sub in s["anyOf"])
            out.append(f"{pad}if not ({calls}): return False")
        if "oneOf" in s:
            calls = " + ".join(f"(1 if {self.function(sub)}({v}) else 0)" for sub in s["oneOf"])
            out.append(f"{pad}if ({calls}) != 1: return False")
        if "not" in s:
            out.append(f"{pad}if {self.function(s['not'])}({v}): return False")
        if "if" in s and ("then" in s or "else" in s):
            out.append(f"{pad}if {self.function(s['if'])}({v}):")
            out.append(f"{pad}    if not {self.function(s.get('then', True))}({v}): return False")
            out.append(f"{pad}elif not {self.function(s.get('else', True))}({v}): return False")

    def emit_object(self, s: dict[str, Any], v: str, out: list[str], ind: int, depth: int) -> None:
        pad = "    " * ind
        required = list(s.get("required", []))
        if required:
            out.append(f"{pad}if " + " or ".join(f"{self.const(str(n))} not in {v}" for n in required)
                       + ": return False")
        for name, sub in s.get("properties", {}).items():
            if sub is True or sub == {}:
                continue
            x = self.name("x")
            key = self.const(str(name))
            if name in required:
                out.append(f"{pad}{x} = {v}[{key}]")
                self.emit(sub, x, out, ind, depth + 1)
            else:
                out.append(f"{pad}if {key} in {v}:")
                out.append(f"{pad}    {x} = {v}[{key}]")
                self.emit(sub, x, out, ind + 1, depth + 1)
        extra = s.get("additionalProperties", True)
        if extra is not True:
            known, k, x = self.const(frozenset(s.get("properties", {}))), self.name("k"), self.name("x")
            out.append(f"{pad}for {k}, {x} in {v}.items():")
            out.append(f"{pad}    if {k} not in {known}:")
            self.emit(extra, x, out, ind + 2, depth + 1)
        if "propertyNames" in s:
            k = self.name("k")
            out.append(f"{pad}for {k} in {v}:")
            self.emit(s["propertyNames"], k, out, ind + 1, depth + 1)
        self.emit_len_bounds(s, v, out, pad, "Properties")
        for prop, deps in s.get("dependentRequired", {}).items():
            if deps:
                missing = " or ".join(f"{self.const(str(d))} not in {v}" for d in deps)
                out.append(f"{pad}if {self.const(str(prop))} in {v} and ({missing}): return False")

    def emit_len_bounds(self, s: dict[str, Any], v: str, out: list[str], pad: str, kind: str) -> None:
        """minProperties/maxProperties, minItems/maxItems, minLength/maxLength: bounds on ``len``."""
        for key, op in ((f"min{kind}", "<"), (f"max{kind}", ">")):
            if key in s:
                out.append(f"{pad}if len({v}) {op} {self.const(s[key])}: return False")

    def emit_array(self, s: dict[str, Any], v: str, out: list[str], ind: int, depth: int) -> None:
        pad = "    " * ind
        self.emit_len_bounds(s, v, out, pad, "Items")
        if s.get("uniqueItems") is True:
            out.append(f"{pad}if not _uniq({v}): return False")
        if "items" in s and s["items"] is not True:
            x = self.name("x")
            out.append(f"{pad}for {x} in {v}:")
            self.emit(s["items"], x, out, ind + 1, depth + 1)
        if "contains" in s:
            match, n, x = self.function(s["contains"]), self.name("n"), self.name("x")
            out.append(f"{pad}{n} = 0")
            out.append(f"{pad}for {x} in {v}:")
            out.append(f"{pad}    if {match}({x}): {n} += 1")
            out.append(f"{pad}if {n} < {self.const(s.get('minContains', 1))}: return False")
            if "maxContains" in s:
                out.append(f"{pad}if {n} > {self.const(s['maxContains'])}: return False")

    def emit_string(self, s: dict[str, Any], v: str, out: list[str], ind: int, depth: int) -> None:
        pad = "    " * ind
        self.emit_len_bounds(s, v, out, pad, "Length")
        if "pattern" in s:
            out.append(f"{pad}if {self.const(re.compile(s['pattern']).search)}({v}) is None: return False")

    def emit_number(self, s: dict[str, Any], v: str, out: list[str], ind: int, depth: int) -> None:
        pad = "    " * ind
        for key, op in (("minimum", "<"), ("maximum", ">"), ("exclusiveMinimum", "<="), ("exclusiveMaximum", ">=")):
            if key in s:
                out.append(f"{pad}if {v} {op} {self.const(s[key])}: return False")
