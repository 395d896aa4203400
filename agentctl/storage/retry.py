"""Replaying a unit of work the database rolled back on its own (SPEC §12).

A deadlock (SQLSTATE 40P01) or a serialization failure (40001) aborts the whole
transaction and applies nothing, so the read-decide-write that ran in it may simply run
again. The PostgreSQL backend raises ``Busy`` for it when the aborted transaction was the
outermost one (a nested store call cannot be replayed on its own: its caller's unit of
work is gone too, and that raises a plain ``TryLater``).

``replayable`` wraps a function whose only effects are the one unit of work it opens (a
registry command: add, update, claim, block …): on ``Busy`` it runs it again a bounded
number of times with jittered back-off, then exits 75. The file backend never raises
``Busy`` (its lock waits), so the wrapper costs nothing there.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from agentctl.errors import TryLater

ATTEMPTS = 6
P = ParamSpec("P")
T = TypeVar("T")


class Busy(TryLater):
    """The database rolled the outermost transaction back (deadlock / serialization failure)."""


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``: jittered, 5 ms doubling, at most ~0.3 s."""
    return random.uniform(0.5, 1.0) * min(0.3, 0.005 * 2.0 ** attempt)


def replayable(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` again (up to ``ATTEMPTS`` times) when its unit of work was rolled back as ``Busy``."""
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(ATTEMPTS):
            try:
                return fn(*args, **kwargs)
            except Busy as exc:
                if attempt == ATTEMPTS - 1:
                    raise TryLater(f"{exc.message} ({ATTEMPTS} attempts)", hint=exc.hint) from None
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")
    return run
