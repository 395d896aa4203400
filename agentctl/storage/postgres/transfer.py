"""``storage import`` / ``export`` / ``status`` on PostgreSQL: the file layout (SPEC §1) in and out.

Import is idempotent: tasks, archive, runs, keyed entries, artifacts and blobs keep their
natural keys (``ON CONFLICT DO NOTHING``); event and alert lines are keyed by the hash of
the line, so running it twice imports nothing twice. Export writes the file layout the
file backend reads (``tasks.json``, ``archive/``, ``logs/``, ``state/``, ``memory/``,
``artifacts/``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from psycopg.types.json import Json, Jsonb

from agentctl.core.records import RegistryFile
from agentctl.storage.files.durable import JsonlReader, append_line, atomic_write, dumps_line, read_bytes
from agentctl.storage.postgres import PgStorage

STATE_FILES = {"breakers": ("state/breakers.json", "agents"), "idempotency": ("state/idempotency.json", "keys"),
               "cron": ("state/cron.json", "jobs"), "alerts": ("state/alerts.json", "alerts")}
"""Store → (old single-document file, its key). The keyed stores are now one file per key
under ``state/<store>/`` (read both; exported per key); breakers stay one document."""
BLOBS = ("memory/regressions.yaml", "state/learn.json")
COUNTED = {"tasks": "SELECT count(*) FROM tasks", "archive": "SELECT count(*) FROM tasks_archive",
           "events": "SELECT count(*) FROM events", "runs": "SELECT count(*) FROM runs",
           "alerts": "SELECT count(*) FROM alerts", "artifacts": "SELECT count(*) FROM artifacts",
           "cronSlots": "SELECT count(*) FROM cron_slots", "breakerHistory": "SELECT count(*) FROM breaker_events",
           "inflight": "SELECT count(*) FROM inflight"}


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _jsonl(paths: list[Path], reader: JsonlReader) -> Iterator[dict[str, Any]]:
    for path in paths:
        yield from reader.read(path)


def status(st: PgStorage) -> dict[str, Any]:
    from agentctl.storage.postgres.migrate import applied_version, latest

    with st.db.tx() as cur:
        cur.execute("SHOW server_version")
        server = cur.fetchone()[0]
        version = applied_version(cur)
        counts: dict[str, int] = {}
        if version:
            for name, sql in COUNTED.items():
                cur.execute(sql)
                counts[name] = int(cur.fetchone()[0])
            cur.execute("SELECT store, count(*) FROM kv GROUP BY store")
            counts.update({store: int(n) for store, n in cur.fetchall()})
            cur.execute("SELECT count(*) FROM blobs")
            counts["documents"] = int(cur.fetchone()[0])
    return {"backend": "postgres", "schemaVersion": version, "latestSchemaVersion": latest(),
            "serverVersion": server, "counts": counts}


def import_files(st: PgStorage, root: Path) -> dict[str, int]:
    """Copy a file workspace's state at ``root`` into the database, in one transaction."""
    reader = JsonlReader()
    out: dict[str, int] = {}
    with st.db.tx() as cur:
        out["tasks"] = _import_tasks(cur, root)
        out["archive"] = _insert_docs(cur, "INSERT INTO tasks_archive (task_id, month, doc) VALUES (%s, %s, %s) "
                                      "ON CONFLICT DO NOTHING",
                                      [(d["taskId"], str(d.get("updatedAt", ""))[:7], Json(d)) for d in
                                       _jsonl(sorted((root / "archive").glob("tasks-*.jsonl")), reader)
                                       if isinstance(d.get("taskId"), str)])
        out["events"] = _insert_docs(cur, "INSERT INTO events (ts, task_id, actor, change, before, after, source_key) "
                                     "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                                     [(str(e.get("ts", "")), e.get("taskId"), e.get("actor"), str(e.get("change", "")),
                                       Json(e.get("before")), Json(e.get("after")), _key(e))
                                      for e in _jsonl([root / "logs" / "events.jsonl"], reader)])
        out["alerts"] = _insert_docs(cur, "INSERT INTO alerts (ts, doc, source_key) VALUES (%s, %s, %s) "
                                     "ON CONFLICT DO NOTHING",
                                     [(str(a.get("ts", "")), Json(a), _key(a))
                                      for a in _jsonl([root / "logs" / "alerts.jsonl"], reader)])
        out["breakerHistory"] = _insert_docs(cur, "INSERT INTO breaker_events (ts, agent, doc, source_key) VALUES "
                                             "(%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                                             [(str(e.get("ts", "")), str(e.get("agent", "")), Json(e), _key(e))
                                              for e in _jsonl([root / "logs" / "breakers.jsonl"], reader)])
        out.update(_import_state(cur, root))
        out["artifacts"] = _import_artifacts(cur, root)
    from agentctl.storage.postgres.logs import storable_run

    lines = list(_jsonl(sorted((root / "logs" / "runs").glob("*.jsonl")), reader))
    runs = [r for r in lines if storable_run(r) and isinstance(r.get("runId"), str)]  # in file order: seq
    out["runs"] = st.runlog.append_many(runs) if runs else 0
    out["skippedLines"] = reader.skipped + len(lines) - len(runs)
    return out


def _insert_docs(cur: Any, sql: str, rows: list[tuple[Any, ...]]) -> int:
    n = 0
    for row in rows:
        cur.execute(sql, row)
        n += cur.rowcount
    return n


def _import_tasks(cur: Any, root: Path) -> int:
    from agentctl.storage.files.registry import FileRegistry

    doc = FileRegistry(root).load()
    n = 0
    for t in doc.tasks:
        cur.execute("INSERT INTO tasks (task_id, status, agent, claimed_by, updated_at, doc) VALUES "
                    "(%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (t.taskId, t.status, t.agent, t.claimedBy, t.updatedAt, Json(t.model_dump(mode="json"))))
        n += cur.rowcount
    cur.execute("UPDATE agentctl_meta SET value = to_jsonb(greatest(value::text::bigint, %s)) WHERE key = 'nextSeq'",
                (doc.nextSeq,))
    return n


def _state_entries(root: Path, store: str, rel: str, kind: str) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    raw = read_bytes(root / rel)
    if raw is not None and raw.strip():
        data = json.loads(raw)
        entries.update(data.get(kind) or {} if isinstance(data, dict) else {})
    if store != "breakers":
        from agentctl.storage.files.keyed import FileKeyed

        entries.update(FileKeyed(root, store).items())
    return entries


def _import_state(cur: Any, root: Path) -> dict[str, int]:
    out = {}
    for store, (rel, kind) in STATE_FILES.items():
        rows = [(store, k, Jsonb(v)) for k, v in _state_entries(root, store, rel, kind).items()]
        out[store] = _insert_docs(cur, "INSERT INTO kv (store, key, value) VALUES (%s, %s, %s) "
                                  "ON CONFLICT DO NOTHING", rows)
    out["documents"] = 0
    for name in BLOBS:
        raw = read_bytes(root / name)
        if raw is not None:
            cur.execute("INSERT INTO blobs (name, data) VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, raw))
            out["documents"] += cur.rowcount
    return out


def _import_artifacts(cur: Any, root: Path) -> int:
    n = 0
    base = root / "artifacts"
    for path in sorted(base.glob("*/**/*")) if base.is_dir() else []:
        if not path.is_file():
            continue
        parts = path.relative_to(base).parts  # the store's key: the folder (T-1, _runs/DAY/RUN), the name
        task_id, name = "/".join(parts[:-1]), parts[-1]
        data = path.read_bytes()
        try:
            content = Jsonb(json.loads(data))
        except (ValueError, RecursionError):
            content = None
        cur.execute("INSERT INTO artifacts (task_id, name, content, raw, updated_at) VALUES (%s, %s, %s, %s, "
                    "now()::text) ON CONFLICT DO NOTHING", (task_id, name, content, data))
        n += cur.rowcount
    return n


def export_files(st: PgStorage, dest: Path) -> dict[str, int]:
    """Write the database's state into ``dest`` in the file layout (refuses a folder with state)."""
    out = {}
    doc: RegistryFile = st.registry.load()
    atomic_write(dest / "tasks.json", doc.model_dump_json(indent=1).encode() + b"\n")
    out["tasks"] = len(doc.tasks)
    out["archive"] = _write_lines(dest, "archive/tasks-{}.jsonl", ((t.updatedAt[:7], t.model_dump(mode="json"))
                                                                 for t in st.registry.archived()))
    out["events"] = _write_lines(dest, "logs/events.jsonl", (("", e) for e in st.registry.events()))
    out["alerts"] = _write_lines(dest, "logs/alerts.jsonl", (("", a) for a in st.alerts.read()))
    out["breakerHistory"] = _write_lines(dest, "logs/breakers.jsonl", (("", e) for e in st.breaker_history.read()))
    with st.db.tx() as cur:
        cur.execute("SELECT doc FROM runs ORDER BY started_at, run_id")
        runs = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT store, key, value FROM kv ORDER BY store, key")
        kv = cur.fetchall()
        cur.execute("SELECT name, data FROM blobs")
        blobs = cur.fetchall()
    out["runs"] = _write_lines(dest, "logs/runs/{}.jsonl", ((r["startedAt"][:10], r) for r in runs))
    for store, (rel, kind) in STATE_FILES.items():
        entries = {k: v for s, k, v in kv if s == store}
        out[store] = len(entries)
        if store == "breakers":
            atomic_write(dest / rel, (json.dumps({"version": 1, kind: entries}, indent=1, sort_keys=True) + "\n").encode())
            continue
        from agentctl.storage.files.keyed import FileKeyed, _encode

        keyed = FileKeyed(dest, store)
        for key, value in entries.items():
            atomic_write(keyed.path_for(key), _encode(key, value))
    for name, data in blobs:
        atomic_write(dest / name, bytes(data))
    out["documents"] = len(blobs)
    out["artifacts"] = 0
    for task_id, name, raw in st.artifacts.items():
        if ".." in Path(task_id, name).parts or name.startswith("/") or task_id.startswith("/"):
            continue  # never write outside dest
        atomic_write(dest / "artifacts" / task_id / name, raw)
        out["artifacts"] += 1
    return out


def _write_lines(dest: Path, pattern: str, items: Iterator[tuple[str, dict[str, Any]]]) -> int:
    by_file: dict[str, list[bytes]] = {}
    for part, obj in items:
        by_file.setdefault(pattern.format(part), []).append(dumps_line(obj))
    for rel, lines in by_file.items():
        append_line(dest / rel, b"".join(lines))
    return sum(len(v) for v in by_file.values())
