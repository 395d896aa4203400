"""Storage edge: the only package that touches locks, fsync and os.replace.

Services ask ``Storage`` (``base.py``: the interfaces, the unit of work and
``open_storage``) for transactions and appends; the file backend lives in ``files/``,
the PostgreSQL backend in ``postgres/`` (SPEC §12).

The few helpers below are for files that are *not* shared state — reports a user asks
for, the crontab block, caches, prompt files — and for reading append-only logs; they
are re-exported here so that nothing outside ``storage/`` imports a backend module.
"""

from agentctl.storage.files.daylog import window_files
from agentctl.storage.files.durable import (
    JsonlReader,
    JsonState,
    append_json,
    atomic_write,
    check_confined,
    confine_to,
    locked,
    open_log,
    read_bytes,
    set_lock_timeout,
)

__all__ = ["JsonState", "JsonlReader", "append_json", "atomic_write", "check_confined", "confine_to", "locked",
           "open_log", "read_bytes", "set_lock_timeout", "window_files"]
