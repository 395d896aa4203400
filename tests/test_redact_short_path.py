"""The redactor's short path (``core.redact``: texts under 8 characters skip the patterns) masks
exactly what the full pass masks — check keys, ids and short words are the bulk of every task."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentctl.core import redact as r

VALUES = ["s3cr3tv", "hunter22", "pw1234"]
PIECES = st.sampled_from(["a", "Z", "9", "_", "-", ":", "=", "/", "@", " ", "://", "pwd", "pwd=", "sk-", "eyJ",
                          "token ", "s3cr3t", "pw12", "34", "hunter2", "\n"])
TEXTS = st.lists(PIECES, max_size=6).map("".join)


def full_pass(text: str, values: list[str]) -> str:
    saved = r._SHORTEST_MATCH
    r._SHORTEST_MATCH = 0
    try:
        return r.redact(text, values=values)
    finally:
        r._SHORTEST_MATCH = saved


@settings(max_examples=400, deadline=None)
@given(TEXTS, st.lists(st.sampled_from(VALUES), max_size=3, unique=True))
def test_short_texts_are_masked_as_the_full_pass_masks_them(text: str, values: list[str]) -> None:
    values = sorted(values, key=len, reverse=True)
    assert r.redact(text, values=values) == full_pass(text, values)


@pytest.mark.parametrize("text", ["pwd=abcd", "a://:p@", "://:pw@", "x://u:pw@", "pw1234", "ab-pw1234"])
def test_the_shortest_secrets_are_still_masked(text: str) -> None:
    assert r.MASK in r.redact(text, values=["pw1234"])


def test_a_task_dump_keeps_numbers_and_masks_secret_fields() -> None:
    dump = {"checks": {"p1_2": 1, "ok": True, "n": None}, "db_password": "x", "notes": ["pwd=abcd", 3]}
    assert r.redact_obj(dump, values=[]) == {"checks": {"p1_2": 1, "ok": True, "n": None}, "db_password": r.MASK,
                                             "notes": [r.MASK.join(["pwd=", ""]), 3]}
