"""Every backend has every member of the seam's interfaces (agentctl/storage/base.py).

mypy --strict checks the same statically (scripts/check); this runs it on the objects each
backend really builds, so a store a backend forgot (PostgreSQL once lacked ``inflight``:
``runs --running`` was an internal error, 70) fails here on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli
from test_storage_conformance import BACKENDS, FACTORIES

from agentctl.storage import base

STORES: dict[str, Any] = {
    "registry": base.RegistryStore, "runlog": base.RunLogStore, "breakers": base.DocumentStore,
    "idempotency": base.KeyedStore, "cron": base.CronStore, "alerts": base.AlertStore,
    "learn_ledger": base.BlobStore, "regressions": base.BlobStore, "artifacts": base.ArtifactStore,
    "inflight": base.InflightStore, "cache": base.KeyedStore, "breaker_history": base.BreakerHistoryStore,
}


def members(proto: type) -> set[str]:
    """The public names a Protocol declares (its own and its protocol bases')."""
    names: set[str] = set()
    for cls in proto.__mro__:
        if getattr(cls, "_is_protocol", False) and cls.__module__ == base.__name__:
            names |= {n for n in vars(cls) if not n.startswith("_")}
            names |= {n for n in vars(cls).get("__annotations__", {}) if not n.startswith("_")}
    return names


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[base.Storage]:
    st = FACTORIES[request.param](tmp_path)
    yield st
    st.close()


def test_the_table_names_every_store_of_the_interface() -> None:
    assert members(base.Storage) - {"backend", "unit_of_work", "recover", "close"} == set(STORES)
    assert members(base.CronStore) > members(base.KeyedStore)


def test_every_store_has_every_member(storage: base.Storage) -> None:
    missing = [m for m in sorted(members(base.Storage)) if not hasattr(storage, m)]
    for name, proto in STORES.items():
        store = getattr(storage, name, None)
        missing += [f"{name}.{m}" for m in sorted(members(proto)) if not hasattr(store, m)]
    missing += [f"alerts.dedupe.{m}" for m in sorted(members(base.KeyedStore))
                if not hasattr(getattr(storage.alerts, "dedupe", None), m)]
    assert missing == [], f"{storage.backend} backend lacks {missing}"


def test_runs_running_on_postgres_is_never_an_internal_error(pg_ws: Path, pg_dsn: str) -> None:
    res = Cli(pg_ws)("runs", "--running", env={"AGENTCTL_PG_DSN": pg_dsn})
    assert res.exit_code == 0, res.stderr  # runs in flight have a table
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
