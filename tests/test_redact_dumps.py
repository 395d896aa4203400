"""Short texts and task dumps through the redactor (``core.redact``): the shortest secrets are
still masked, and a dump's numbers are kept as they are while its secret fields are masked."""

from __future__ import annotations

import pytest

from agentctl.core import redact as r


@pytest.mark.parametrize("text", ["pwd=abcd", "a://:p@", "://:pw@", "x://u:pw@", "pw1234", "ab-pw1234"])
def test_the_shortest_secrets_are_still_masked(text: str) -> None:
    assert r.MASK in r.redact(text, values=["pw1234"])


def test_a_task_dump_keeps_numbers_and_masks_secret_fields() -> None:
    dump = {"checks": {"p1_2": 1, "ok": True, "n": None}, "db_password": "x", "notes": ["pwd=abcd", 3]}
    assert r.redact_obj(dump, values=[]) == {"checks": {"p1_2": 1, "ok": True, "n": None}, "db_password": r.MASK,
                                             "notes": [r.MASK.join(["pwd=", ""]), 3]}
