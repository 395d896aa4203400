"""The fast path of ``redact`` (issue 20): it skips the nets that cannot match, and must mask exactly
what applying every net to the whole text masks.

The reference below is the one-pass redaction (one alternation of every shape, then the URL, bearer
and assignment nets on the whole text). Texts are built from fragments that hit each net, near misses,
case variants and the odd Unicode characters ``re.IGNORECASE`` matches to ASCII letters.
"""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentctl.core import redact as R

SHAPES = re.compile("|".join(f"(?:{s})" for s in R._SHAPE_LIST))


def reference(text: str) -> str:
    text = SHAPES.sub(R.MASK, text)
    if "://" in text:
        text = re.sub(R._URL_CREDS, R._url_creds, text)
    text = re.sub(R._BEARER, lambda m: f"{m.group(1)} {R.MASK}", text)
    return re.sub(R._ASSIGN, lambda m: m.group(1) + R.MASK, text)


FRAGMENTS = [
    "AKIAIOSFODNN7EXAMPLE", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4", "sk-ant-api03-Zx9Yw8Vu7Ts6", "sk-proj-0123456789abcdefAB",
    "xoxb-1234567890-09876", "eyJhbGciOi.eyJzdWIi.dozjgNry", "sk_live_4eC39HqLyjWDarjt", "rk_test_51HxYzAbCd",
    "AccountKey=Zm9vYmFyYmF6Zm9v", "accountkey=Zm9vYmFyYmF6", "SharedSecret=abcdefghij", "ſharedſecret=abcdefghij",
    "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
    "-----END RSA PRIVATE KEY-----", "https://hooks.slack.com/services/T0/B0/XX", "postgres://app:Sup3rPw@db/x",
    "Authorization: Bearer abcdefgh12345678", "bearer    zzzzzzzzzz", "BASIC dXNlcjpwYXNz", "token abcdefghij",
    "password=hunter2hunter2", "db_password: \"s3cr3tvalue\"", "API_KEY=abcd1234", "x-api-key: qwertyuiop",
    "secret_key_base=abcdefgh", "client-secret = 'zzzzzzz'", "pwd=abcd", "passwd:abcdef", "authorİzation: abcdefg",
    "authorızation=abcdefg", "paſſword=abcdefgh", "toKen=abcdefgh", "TOKEN = abcdefgh", "\u212aey=abcdef",
    "AccountKey", "passw", "key", "=", ":", " ", "\n", "\"", "'", "_", "-", ".", "ab", "Z9", "{", "}", ";", ",",
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=14).map("".join))
def test_the_gated_redaction_masks_what_every_net_on_the_whole_text_masks(text: str) -> None:
    assert R.redact(text, values=[]) == reference(text)


def test_each_fragment_alone_and_all_together() -> None:
    for text in [*FRAGMENTS, "".join(FRAGMENTS), " ".join(FRAGMENTS), "\n".join(reversed(FRAGMENTS))]:
        assert R.redact(text, values=[]) == reference(text), text


def test_every_character_ignore_case_matches_to_an_ascii_letter_folds_to_it() -> None:
    """The gates look for words in ``_folded(text)``: a character the regex engine takes for a letter of
    those words must fold to that letter, or a secret would skip its net."""
    every = "".join(chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF)
    letters = set("".join(R._BEARER_WORDS + R._ASSIGN_WORDS + (R._SHAPE_LITERALS[R.FOLDED_SHAPE] or ())))
    for letter in sorted(letters):
        for ch in re.findall(f"(?i){re.escape(letter)}", every):
            assert R._folded(ch) == letter, (hex(ord(ch)), letter)


@pytest.mark.parametrize("index", range(len(R._SHAPE_LIST)))
def test_every_match_of_a_shape_contains_one_of_its_strings(index: int) -> None:
    """The literal gates are necessary conditions: strings generated from each shape's regex (hypothesis)
    all contain one of the shape's strings (folded, for the case-insensitive one)."""
    words = R._SHAPE_LITERALS[index]
    assert len(R._SHAPE_LITERALS) == len(R._SHAPE_LIST)
    if words is None:
        return

    @settings(max_examples=200, deadline=None)
    @given(st.from_regex(R._SHAPE_LIST[index], fullmatch=True))
    def check(match: str) -> None:
        hay = R._folded(match) if index == R.FOLDED_SHAPE else match
        assert any(w in hay for w in words), (match, words)

    check()


def test_a_long_clean_text_is_scanned_once_per_shape_not_with_the_alternation(monkeypatch) -> None:
    """The point of the gates: a text without secrets never meets the slow alternation."""
    class Tripwire:
        def sub(self, *_a: object) -> str:
            raise AssertionError("the whole alternation was applied")

    monkeypatch.setattr(R, "_alternation", lambda present: Tripwire())
    clean = '{"taskId": "T-1", "title": "Render the landing page", "status": "in_progress"}\n' * 2000
    assert R.redact(clean, values=[]) == clean


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="pwdkeyPWD=:/@ab1_-.", max_size=R.SHORTEST_NET - 1))
def test_texts_shorter_than_any_net_are_masked_like_the_reference(text: str) -> None:
    assert R.redact(text, values=[]) == reference(text)
