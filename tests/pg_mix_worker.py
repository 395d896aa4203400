"""One client of the across-machines mix (tests/test_storage_postgres_mix.py): opens the
workspace at ``root`` like any command would, runs its share of the mix and returns what it
won. Run as a script (argv: root rounds) it prints that as one JSON line."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta

from agentctl.core.clock import iso
from agentctl.workspace.loader import Workspace


def mix(root: str, rounds: int) -> dict[str, object]:
    st = Workspace(__import__("pathlib").Path(root)).storage
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    stamp, me = iso(now), f"w{os.getpid()}"
    out: dict[str, object] = {"updates": 0, "claims": []}
    for _ in range(rounds):
        with st.registry.transaction(me, stamp) as tx:
            task = tx.find("T-1")
            tx.log("T-1", "attempts", task.attempts, task.attempts + 1)
            task.attempts += 1
        out["updates"] = int(out["updates"]) + 1  # type: ignore[call-overload]
        claimed = st.registry.claim_next("bob", stamp)
        if claimed is not None:
            out["claims"].append(claimed.taskId)  # type: ignore[union-attr]
    out["probe"] = st.breakers.take_probe("bob", me, stamp, iso(now - timedelta(minutes=5)))
    won, _ = st.idempotency.reserve("run-key", {"owner": me, "expiresAt": iso(now + timedelta(hours=1))}, now)
    out["key"] = won
    with st.idempotency.transaction("slot-key", now) as slot:
        out["keyTx"] = slot.value is None
        if slot.value is None:
            slot.value = {"owner": me}
    out["cron"] = st.cron.claim_slot("nightly", "2026-12-03T02:00:00Z", stamp)
    st.close()
    return out


if __name__ == "__main__":
    print(json.dumps(mix(sys.argv[1], int(sys.argv[2]))))
