"""Read-only tasks shared between registry transactions, keyed by their exact stored text (issue 20).

A work loop looks at the same tasks on every claim (``RegistryTx.of_agent``); decoding them
each time — and on PostgreSQL validating them — was most of a claim's cost. ``Snapshots``
hands back the task built from the very same bytes last time, else builds it. The objects are
shared: read them, never change them (``tx.find`` gives the task to change). Only the keys of
the latest pass are kept, so the cache never holds more than one pass needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from agentctl.core.records import Task

K = TypeVar("K", bound=Hashable)


class Snapshots(Generic[K]):
    def __init__(self) -> None:
        self._kept: dict[K, Task] = {}
        self._lock = threading.Lock()

    def pass_over(self, keys: Sequence[K], build: Callable[[K], Task]) -> list[Task]:
        """The task of each key, in order: the one built from an equal key in the last pass, else ``build(key)``."""
        with self._lock:
            kept = self._kept
        fresh: dict[K, Task] = {}
        for key in keys:
            task = fresh.get(key) or kept.get(key)
            fresh[key] = task if task is not None else build(key)
        with self._lock:
            self._kept = fresh
        return [fresh[k] for k in keys]
