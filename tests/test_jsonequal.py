"""agentctl.contracts.jsonequal is jsonschema's ``equal``/``uniq`` (the fast path's const, enum and
uniqueItems), ported so a run need not import jsonschema: checked against the originals."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema._utils import equal as js_equal
from jsonschema._utils import uniq as js_uniq

from agentctl.contracts.jsonequal import equal, uniq

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, -1.0, 2.5]),
                    st.sampled_from(["", "a", "1", "true"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
                    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(JSON, JSON)
def test_equal_is_jsonschemas(one: Any, two: Any) -> None:
    assert equal(one, two) == bool(js_equal(one, two))
    assert equal(one, one) and bool(js_equal(one, one))


@settings(max_examples=400, deadline=None)
@given(st.lists(JSON, max_size=6))
def test_uniq_is_jsonschemas(items: list[Any]) -> None:
    assert uniq(items) == bool(js_uniq(items))


def test_bool_is_not_a_number() -> None:
    assert not equal(True, 1) and not equal(False, 0) and equal(1, 1.0)
    assert not equal([True], [1]) and not equal({"a": False}, {"a": 0})
    assert uniq([1, True]) and uniq([0, False]) and not uniq([1, 1.0]) and not uniq([{"a": 1}, {"a": 1}])
