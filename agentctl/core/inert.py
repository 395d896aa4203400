"""Inert output: data never drives the terminal, the markup or the HTML it is shown in.

``inert(text)`` is the one sanitizer every human-readable renderer uses: control
characters (C0 but newline and tab, DEL, C1 — so every ESC/CSI/OSC sequence), the bidi
overrides and isolates (U+202A–202E, U+2066–2069) and the line/paragraph separators are
shown as ``\\uXXXX``. The same escape is valid inside a JSON string, so ``--json`` output
filtered through it stays exact JSON with the same values.

``InertStream`` applies redaction then ``inert`` to everything written to stdout/stderr
at the CLI edge; a renderer that emits its own styling (rich, on a terminal) sanitizes
its data first (as ``rich.text.Text``, never markup) and writes through ``trusted()``;
``html`` escapes data for markdown/HTML reports.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, TextIO

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def inert(text: str) -> str:
    """``text`` with every control / bidi character shown as ``\\uXXXX``."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def html(text: Any, *, quote: bool = False) -> str:
    """Data for markdown/HTML output: inert and HTML-escaped (``<script>`` shows as text);
    quotes too with ``quote`` (inside an attribute)."""
    import html as _html  # here: only the reports escape HTML

    return _html.escape(inert(str(text)), quote=quote)


class InertStream:
    """A text stream wrapper: redact, then make inert, everything written."""

    def __init__(self, inner: TextIO):
        self._inner = inner
        self._trusted = 0

    def write(self, s: str) -> int:
        if s:
            from agentctl.core.redact import redact

            s = redact(s) if self._trusted else inert(redact(s))
        return self._inner.write(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    @contextlib.contextmanager
    def trusted(self) -> Iterator[None]:
        self._trusted += 1
        try:
            yield
        finally:
            self._trusted -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextlib.contextmanager
def trusted() -> Iterator[None]:
    """Write already-inert styled output (rich on a terminal): still redacted, its own codes kept."""
    import sys

    with contextlib.ExitStack() as stack:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, InertStream):
                stack.enter_context(stream.trusted())
        yield


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """stdout and stderr wrapped for the duration of one command."""
    import sys

    old = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, InertStream):
        sys.stdout = InertStream(sys.stdout)
    if not isinstance(sys.stderr, InertStream):
        sys.stderr = InertStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old
