"""JSON Schema equality (``const``, ``enum``, ``uniqueItems``) as jsonschema defines it.

The contracts' fast path (``fastschema``) needs jsonschema's ``equal`` and ``uniq``,
which live in ``jsonschema._utils``: importing that imports all of jsonschema (≈ 150 ms
with its format libraries), on every run. These are the same functions, ported from
jsonschema 4.x (``jsonschema/_utils.py``, MIT, © Julian Berman): ``True``/``1`` and
``False``/``0`` are different values, and sequences and mappings are compared with the
same rule all the way down. tests/test_jsonequal.py checks them against jsonschema's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

_TRUE, _FALSE = object(), object()


def unbool(element: Any) -> Any:
    """``True`` and ``False`` as values that no number equals."""
    if element is True:
        return _TRUE
    if element is False:
        return _FALSE
    return element


def equal(one: Any, two: Any) -> bool:
    """``one == two`` without bool being an int, recursing into sequences and mappings."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(i, j) for i, j in zip(one, two, strict=False))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and equal(value, two[key]) for key, value in one.items())
    return bool(unbool(one) == unbool(two))


def uniq(container: Any) -> bool:
    """True when no two elements are ``equal`` (sorted when the elements sort, else pairwise)."""
    try:
        ordered = sorted(unbool(i) for i in container)
        for i, j in zip(ordered, itertools.islice(ordered, 1, None), strict=False):
            if equal(i, j):
                return False
    except (NotImplementedError, TypeError):
        seen: list[Any] = []
        for e in container:
            e = unbool(e)
            if any(equal(i, e) for i in seen):
                return False
            seen.append(e)
    return True
