"""Crash safety with real processes and real faults (SPEC §3, §5, ARCHITECTURE "Testing").

- SIGKILL at random instants: a writer process rewrites one state file in a loop and
  is killed, many times; after every kill the file parses with agentctl's own reader
  and is byte-for-byte a state some writer committed (tasks.json has its own test in
  test_registry_concurrency.py). The writer journals the sha256 of every state just
  *before* committing it, so the file must equal the last journaled state, the one
  before, or — when nothing was journaled since — what it was before the round.
- Torn last lines of every append-only log are skipped and counted by every reader,
  and the next append starts on a fresh line.
- Disk full (ENOSPC), a real short write (RLIMIT_FSIZE → EFBIG), a failing fsync and a
  read-only folder (EROFS on rename) leave the old file intact: exit 74, a clear message.

Checked once by hand that these fail without the protection: with atomic_write
replaced by an in-place write (truncate + write) the kill tests see torn or empty
files within a few rounds; with append_line's fresh-line repair removed the torn-line
tests lose the record appended after the torn line.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import Cli
from fixtures_reliability import T0, digest, make_rel_ws

import agentctl.breakers.breaker
import agentctl.cron.alerts
import agentctl.cron.jobs
import agentctl.learning.friction
import agentctl.learning.learn
import agentctl.storage.files.backend  # noqa: F401 — imported before forking, so writers start at once
from agentctl.workspace.loader import Workspace

FORK = mp.get_context("fork")
ROUNDS = 25


# --- SIGKILL at random instants ---------------------------------------------------------------

def _journal(root: Path, watched: tuple[str, ...], unsafe: bool = False) -> None:
    """In the writer: append ``name sha256`` of each watched state to journal.log just before committing it
    (every state file is written through the unit of work: its staged content is what commits)."""
    from agentctl.storage.files import durable, journal
    real_replace = journal.FileUnit.replace
    fd = os.open(root.parent / "journal.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def replace(self, path: Path, data: bytes | None) -> None:
        if path.name in watched:  # a deletion is the state "absent"
            sha = hashlib.sha256(data).hexdigest() if data is not None else "-"
            os.write(fd, f"{path.name} {sha}\n".encode())
        real_replace(self, path, data)

    def commit_in_place(u) -> None:  # the protection switched off: rewrite each file in place
        for path, data in u.replaces.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                fh.write((data or b"")[: len(data or b"") // 2])
                fh.flush()
                fh.write((data or b"")[len(data or b"") // 2:])
        for path, data in u.appends:
            durable.append_line(path, data)

    journal.FileUnit.replace = replace  # type: ignore[method-assign]
    if unsafe:
        journal.commit = commit_in_place  # type: ignore[assignment]


def _keyed_rel(kind: str, key: str) -> str:
    from agentctl.storage.files.keyed import FileKeyed
    return str(FileKeyed(Path("."), kind).path_for(key))


def _write_breakers(root: Path, rnd: int) -> None:
    from agentctl.breakers import breaker
    ws = Workspace(root)
    flaky = ws.agent("flaky")
    for i in range(10**6):
        now = T0 + timedelta(seconds=rnd * 10_000 + i)
        if i % 9 == 8:
            breaker.trip_breaker(ws, flaky, "writer", now)
        elif i % 9 == 0:
            breaker.reset_breaker(ws, flaky, "writer", now)
        else:
            breaker.record_outcome(ws, flaky, False, now, breaker.Admission())


def _write_ledger(root: Path, rnd: int) -> None:
    from agentctl.run import idempotency
    store = Workspace(root).storage.idempotency
    for i in range(10**6):  # one key's entry, rewritten: reserved, completed, reserved again
        with store.transaction("k") as slot:
            slot.value = None
        idempotency.reserve(store, "k", f"fp{i % 3}", T0, run_id=f"r{rnd}-{i}")
        idempotency.complete(store, "k", f"fp{i % 3}", {"runId": f"r{rnd}-{i}", "status": "success", "exitCode": 0},
                             T0)


def _write_regressions(root: Path, rnd: int) -> None:
    from agentctl.core.records import RunError, RunRecord
    from agentctl.learning import regressions
    from agentctl.learning.learn import run_learn

    ws = Workspace(root)
    for i in range(10**6):
        at = T0 - timedelta(hours=1) + timedelta(seconds=rnd * 1000 + i)
        ws.storage.runlog.append(RunRecord(
            runId=f"r-{rnd}-{i}", startedAt=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            endedAt=at.strftime("%Y-%m-%dT%H:%M:%SZ"), agent="flaky", team="ops", role="ops", status="failure",
            error=RunError(type="CommandFailed", message=f"the command exited {1 + i % 2}")))
        run_learn(ws, timedelta(days=2), T0, alert=False)
        if regressions.load(ws).regressions:
            (regressions.approve if i % 2 else regressions.retire)(ws, "REG-001", "writer", T0)


def _write_cron(root: Path, rnd: int) -> None:
    from agentctl.core.clock import parse_iso
    from agentctl.cron.jobs import run_job

    ws = Workspace(root)
    last = (ws.storage.cron.get("tick") or {}).get("slot")
    start = parse_iso(last) + timedelta(minutes=1) if last else T0
    for i in range(10**6):  # the next slot each time: every call runs the job and commits cron.json
        now = start + timedelta(minutes=i)
        run_job(ws, "tick", now, lambda now=now: now, scheduled=True)


def _write_alerts(root: Path, rnd: int) -> None:
    from agentctl.cron.alerts import raise_alert

    ws = Workspace(root)
    for i in range(10**6):  # one alert identity, past its dedupe window each time: its entry is rewritten
        raise_alert(ws, kind="test", message="alert", source="writer", now=T0 + timedelta(hours=2 * (rnd * 1000 + i)))


def _child(writer: Callable[[Path, int], None], root: str, rnd: int, watched: tuple[str, ...], unsafe: bool) -> None:
    _journal(Path(root), watched, unsafe)
    writer(Path(root), rnd)


def _read_state(root: Path, name: str) -> None:
    """Parse ``name`` with agentctl's own reader (raises on a torn or corrupt file)."""
    from agentctl.learning import learn, regressions

    ws = Workspace(root)
    if name == "breakers.json":
        ws.storage.breakers.read()
    elif name == "regressions.yaml":
        regressions.load(ws)
    elif name == "learn.json":
        learn.load_ledger(ws)
    elif name == _KEYED["idempotency"]:
        ws.storage.idempotency.get("k")
    elif name == _KEYED["cron"]:
        ws.storage.cron.get("tick")
    elif name == _KEYED["alerts"]:
        ws.storage.alerts.dedupe.get(_ALERT_KEY)


def _alert_key() -> str:
    from agentctl.cron.alerts import alert_key
    return alert_key("test", "writer", "alert")


_ALERT_KEY = _alert_key()
PATHS = {"breakers.json": "state/breakers.json", "idempotency.json": _keyed_rel("idempotency", "k"),
         "regressions.yaml": "memory/regressions.yaml", "learn.json": "state/learn.json",
         "cron.json": _keyed_rel("cron", "tick"), "alerts.json": _keyed_rel("alerts", _ALERT_KEY)}
for _name in ("idempotency.json", "cron.json", "alerts.json"):  # per-key files: watched by their own name
    _rel = PATHS.pop(_name)
    PATHS[Path(_rel).name] = _rel
_KEYED = {kind: Path(_keyed_rel(kind, key)).name for kind, key in
          (("idempotency", "k"), ("cron", "tick"), ("alerts", _ALERT_KEY))}

WRITERS = {
    "breakers": (_write_breakers, ("breakers.json",)),
    "ledger": (_write_ledger, (_KEYED["idempotency"],)),
    "regressions": (_write_regressions, ("regressions.yaml", "learn.json")),
    "cron": (_write_cron, (_KEYED["cron"],)),
    "alerts": (_write_alerts, (_KEYED["alerts"],)),
}


def _journal_lines(root: Path) -> list[tuple[str, str]]:
    path = root.parent / "journal.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().split(b"\n")[:-1]:  # a torn last entry was never committed
        name, _, sha = line.decode().partition(" ")
        out.append((name, None if sha == "-" else sha))
    return out


def kill_rounds(root: Path, kind: str, rounds: int = ROUNDS, unsafe: bool = False, seed: int = 11) -> int:
    """Kill a writer ``rounds`` times; check every watched file after each kill. Returns commits seen."""
    writer, watched = WRITERS[kind]
    rng = random.Random(seed)
    current = {name: digest(root / PATHS[name]) for name in watched}
    seen = 0
    for rnd in range(rounds):
        before = len(_journal_lines(root))
        p = FORK.Process(target=_child, args=(writer, str(root), rnd, watched, unsafe))
        p.start()
        deadline = time.monotonic() + 20  # a busy machine starts the writer late: kill only once it commits
        while len(_journal_lines(root)) == before and time.monotonic() < deadline and p.is_alive():
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        Workspace(root).storage.recover()  # what the next command does first: finish or undo the victim's unit
        entries = _journal_lines(root)[before:]
        seen += len(entries)
        for name in watched:
            mine = [sha for n, sha in entries if n == name]
            allowed = {current[name]} if not mine else {mine[-1], mine[-2] if len(mine) > 1 else current[name]}
            now = digest(root / PATHS[name])
            assert now in allowed, f"round {rnd}: {name} is not a committed state ({len(mine)} commits journaled)"
            _read_state(root, name)
            current[name] = now
    return seen


@pytest.mark.parametrize("kind", list(WRITERS))
def test_sigkilled_writer_leaves_a_committed_state(tmp_path: Path, kind: str) -> None:
    from agentctl.storage.files.durable import set_lock_timeout

    root = make_rel_ws(tmp_path / "ws", alerts_command=["true"] if kind == "alerts" else None)
    commits = kill_rounds(root, kind)
    assert commits >= ROUNDS // 2, f"the writer committed only {commits} states: the kills proved little"
    # whatever lock the last victim held, the next writer gets it at once
    set_lock_timeout(2)
    try:
        t0 = time.monotonic()
        writer, watched = WRITERS[kind]
        before = {n: digest(root / PATHS[n]) for n in watched}
        p = FORK.Process(target=_child, args=(writer, str(root), ROUNDS + 1, watched, False))
        p.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and all(digest(root / PATHS[n]) == before[n] for n in watched):
            time.sleep(0.005)
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        assert any(digest(root / PATHS[n]) != before[n] for n in watched), "the next writer never got the lock"
        assert time.monotonic() - t0 < 5
    finally:
        set_lock_timeout(10)


def test_the_learn_ledger_never_runs_ahead_of_the_regressions(tmp_path: Path) -> None:
    """regressions.yaml is written before state/learn.json: a kill between them recounts, never loses."""
    from agentctl.learning import learn, regressions
    root = make_rel_ws(tmp_path / "ws")
    kill_rounds(root, "regressions", rounds=8, seed=5)
    ws = Workspace(root)
    total = sum(r.count for r in regressions.load(ws).regressions)
    assert total >= len(learn.load_ledger(ws).seen) > 0


# --- torn last lines of the append-only logs ----------------------------------------------------

TORN = b'{"runId": "torn", "startedAt": "2026-03-02T11:'


def _tear(path: Path) -> None:
    with path.open("ab") as fh:
        fh.write(TORN)  # half a line, no newline: what a crash mid-append leaves


def _assert_fresh_line(path: Path, torn_lines: int = 1) -> list[dict]:
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    assert lines.count(TORN) == torn_lines, "the torn fragment must stay a line of its own"
    assert path.read_bytes().endswith(b"\n")
    return [json.loads(line) for line in lines if line != TORN]


def _learn_skipped(cli: Cli) -> int:
    res = cli("learn", "--since", "2d", "--now", "2026-03-02T13:00:00Z", "--json")
    assert res.exit_code == 0, res.stderr
    return res.json()["skippedLines"]


def _friction_skipped(cli: Cli) -> int:
    res = cli("friction", "--days", "2", "--now", "2026-03-02T13:00:00Z", "--json")
    assert res.exit_code == 0, res.stderr
    return res.json()["skippedLines"]


def test_torn_run_log_line_is_skipped_counted_and_the_next_record_starts_fresh(tmp_path: Path) -> None:
    from agentctl.storage.files.durable import JsonlReader

    root = make_rel_ws(tmp_path / "ws")
    cli = Cli(root)
    env = {"AGENTCTL_NOW": "2026-03-02T12:00:00Z"}
    assert cli("run", "flaky", "--prompt", "x", env=env).exit_code == 1
    log = root / "logs" / "runs" / "2026-03-02.jsonl"
    _tear(log)
    assert cli("run", "flaky", "--prompt", "y", env=env).exit_code == 1  # appended after the torn line
    records = _assert_fresh_line(log)
    assert [r["status"] for r in records] == ["failure", "failure"]

    reader = JsonlReader()
    ws = Workspace(root)
    assert len(list(ws.storage.runlog.read_window(T0 - timedelta(days=1), T0 + timedelta(days=1), reader))) == 2
    assert reader.skipped == 1
    card = cli("scorecard", "--days", "2", "--now", "2026-03-02T13:00:00Z", "--format", "json")
    assert card.exit_code == 0, card.stderr
    assert card.json()["skippedLines"] == 1
    assert sum(a["runs"] for a in card.json()["agents"]) == 2
    assert _learn_skipped(cli) == 1
    assert _friction_skipped(cli) == 1


def test_torn_event_line_is_skipped_counted_and_the_next_event_starts_fresh(tmp_path: Path) -> None:
    from agentctl.storage.files.durable import JsonlReader

    root = make_rel_ws(tmp_path / "ws")
    cli = Cli(root)
    env = {"AGENTCTL_NOW": "2026-03-02T12:00:00Z"}
    assert cli("task", "add", "--title", "one", env=env).exit_code == 0
    events = root / "logs" / "events.jsonl"
    _tear(events)
    assert cli("task", "add", "--title", "two", env=env).exit_code == 0
    assert [e["after"]["title"] for e in _assert_fresh_line(events)] == ["one", "two"]
    reader = JsonlReader()
    assert len(list(Workspace(root).storage.registry.events(reader))) == 2 and reader.skipped == 1
    assert _learn_skipped(cli) == 1
    assert _friction_skipped(cli) == 1


def test_torn_alert_line_is_skipped_counted_and_the_next_alert_starts_fresh(tmp_path: Path) -> None:
    from agentctl.cron.alerts import raise_alert, read_alerts

    root = make_rel_ws(tmp_path / "ws")
    ws = Workspace(root)
    raise_alert(ws, kind="breaker_tripped", message="breaker of flaky open", source="breaker", now=T0,
                data={"agent": "flaky"})
    _tear(ws.alerts_path)
    raise_alert(ws, kind="breaker_tripped", message="breaker of flaky open again", source="breaker",
                now=T0 + timedelta(minutes=1), data={"agent": "flaky"})
    assert len(_assert_fresh_line(ws.alerts_path)) == 2
    assert [a["message"] for a in read_alerts(ws)][-1] == "breaker of flaky open again"
    assert _learn_skipped(Cli(root)) == 1


def test_torn_archive_line_is_skipped_counted_and_the_next_archive_starts_fresh(tmp_path: Path) -> None:
    from agentctl.storage.files.durable import JsonlReader

    root = make_rel_ws(tmp_path / "ws")
    cli = Cli(root)
    env = {"AGENTCTL_NOW": "2026-03-02T12:00:00Z"}
    archive = root / "archive" / "tasks-2026-03.jsonl"
    for title in ("first", "second"):
        tid = cli("task", "add", "--title", title, env=env).stdout.strip()
        assert cli("task", "update", tid, "--status", "done", env=env).exit_code == 0
        assert cli("task", "archive", "--older-than", "0s", "--json", env=env).json()["archived"] == [tid]
        if title == "first":
            _tear(archive)
    assert [t["title"] for t in _assert_fresh_line(archive)] == ["first", "second"]
    shown = cli("task", "show", "T-2", "--json")
    assert shown.exit_code == 0 and shown.json()["title"] == "second"
    listed = cli("task", "list", "--all", "--json")
    assert sorted(t["title"] for t in listed.json()) == ["first", "second"]
    reader = JsonlReader()
    assert len(list(Workspace(root).storage.registry.archived(reader))) == 2 and reader.skipped == 1
    assert _learn_skipped(cli) == 1
    assert _friction_skipped(cli) == 1


# --- full disk, short writes, failing fsync, read-only folder ------------------------------------

K1, TICK = _keyed_rel("idempotency", "k1"), _keyed_rel("cron", "tick")
COMMANDS = {
    "tasks.json": ["task", "add", "--title", "one more"],
    "state/breakers.json": ["breaker", "reset", "flaky"],
    K1: ["run", "cmd", "--prompt", "p2", "--idempotency-key", "k1"],
    "memory/regressions.yaml": ["regressions", "approve", "REG-001"],
    TICK: ["cron", "run", "tick"],
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A workspace holding every rewritten state file (built once, copied per test)."""
    from agentctl.breakers import breaker
    from agentctl.cron.jobs import run_job
    from agentctl.registry.service import NewTask, add_task
    from agentctl.run import idempotency

    root = make_rel_ws(tmp_path_factory.mktemp("prepared") / "ws")
    ws = Workspace(root)
    for i in range(8):
        add_task(ws, NewTask(title=f"task {i} " + "x" * 200), "setup", T0)
    breaker.trip_breaker(ws, ws.agent("flaky"), "setup", T0)
    breaker.reset_breaker(ws, ws.agent("flaky"), "setup", T0)
    idempotency.complete(ws.storage.idempotency, "k0", "fp", {"runId": "r0", "status": "success", "exitCode": 0}, T0)
    with ws.storage.idempotency.transaction("k1") as slot:  # expired: the run reserves k1 again
        slot.value = {"fingerprint": "old", "state": "done", "expiresAt": "2026-03-01T00:00:00Z"}
    run_job(ws, "tick", T0, lambda: T0)
    (root / "memory" / "regressions.yaml").write_text(
        "version: 1\nregressions:\n  - {id: REG-001, role: ops, signature: 's', rule: 'r', count: 1, "
        "firstSeen: '2026-03-01T00:00:00Z', lastSeen: '2026-03-01T00:00:00Z', status: candidate}\n")
    return root


def _copy(prepared: Path, tmp_path: Path, target: str) -> tuple[Path, list[str], Path]:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(prepared, root)
    path = root / target
    assert path.exists(), target
    return root, COMMANDS[target], path


TARGETS = ["tasks.json", "state/breakers.json", K1, "memory/regressions.yaml", TICK]


def _fake_os(**overrides: Callable) -> SimpleNamespace:
    """store/files' view of ``os`` with some calls failing (the fault is injected at the edge only)."""
    ns = SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    for name, fn in overrides.items():
        setattr(ns, name, fn)
    return ns


def _disk_full(fd: int, data) -> int:
    """A full disk: a temp file gets a short write (then ENOSPC on the rest); an append gets ENOSPC."""
    if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") and len(data) > 1 and not _disk_full.cut:
        _disk_full.cut = True
        return os.write(fd, bytes(data[: len(data) // 2]))
    raise OSError(errno.ENOSPC, "No space left on device")


def _fsync_fails(fd: int) -> None:
    raise OSError(errno.EIO, "Input/output error")


def _read_only(src, dst) -> None:
    raise OSError(errno.EROFS, "Read-only file system")


@pytest.mark.parametrize("fault", ["enospc-write", "eio-fsync", "erofs-replace"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_failed_write_keeps_the_old_file_and_exits_74(tmp_path: Path, prepared: Path, monkeypatch, target: str,
                                                       fault: str) -> None:
    from agentctl.storage.files import durable as files
    root, argv, path = _copy(prepared, tmp_path, target)
    before = path.read_bytes()
    _disk_full.cut = False
    fake, said = {"enospc-write": ({"write": _disk_full}, "disk full"),
                  "eio-fsync": ({"fsync": _fsync_fails}, "Input/output error"),
                  "erofs-replace": ({"replace": _read_only}, "Read-only file system")}[fault]
    monkeypatch.setattr(files, "os", _fake_os(**fake))
    res = Cli(root)(*argv, env={"AGENTCTL_NOW": "2026-03-02T12:05:00Z"})
    assert res.exit_code == 74, (res.exit_code, res.stderr)
    assert said in res.stderr and "Traceback" not in res.stderr
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")], "temp file left behind"
    monkeypatch.undo()
    assert Cli(root)(*argv, env={"AGENTCTL_NOW": "2026-03-02T12:06:00Z"}).exit_code == 0  # works again
    assert path.read_bytes() != before


RLIMITED = textwrap.dedent("""\
    import resource, sys
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # files may not grow past `limit` bytes
    from agentctl.cli.main import main
    sys.argv = ["agentctl", *sys.argv[2:]]
    main()
""")


RLIMIT_ARGV = {"tasks.json": ["task", "add", "--title", "one more"],
               "state/breakers.json": ["breaker", "trip", "flaky"]}
"""(The idempotency ledger is one small file per key since issue 13: no state grows past a limit.)"""


def _child_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_")}, **extra}


@pytest.mark.parametrize("target", list(RLIMIT_ARGV))
def test_a_real_short_write_efbig_keeps_the_old_file(tmp_path: Path, prepared: Path, target: str) -> None:
    """RLIMIT_FSIZE makes the kernel cut the temp file's write short, then refuse the rest (EFBIG)."""

    root, _, path = _copy(prepared, tmp_path, target)
    ws = Workspace(root)
    with ws.storage.breakers.transaction() as data:  # states larger than the limit
        data["agents"]["flaky"]["failures"] = ["2026-03-02T11:00:00Z"] * 100
    before = path.read_bytes()
    limit = 1024
    assert len(before) > limit
    proc = subprocess.run([sys.executable, "-c", RLIMITED, str(limit), "-w", str(root), *RLIMIT_ARGV[target]],
                          capture_output=True, text=True, env=_child_env(), timeout=60)
    assert proc.returncode == 74, (proc.returncode, proc.stderr)
    assert "File too large" in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_short_append_leaves_a_torn_line_that_the_next_append_closes(tmp_path: Path) -> None:
    """A real short append (RLIMIT_FSIZE): exit 74; readers skip the fragment; the next record is whole."""
    from agentctl.storage.files.durable import JsonlReader

    root = make_rel_ws(tmp_path / "ws")
    log = root / "logs" / "runs" / "2026-03-02.jsonl"
    Cli(root)("run", "flaky", "--prompt", "x", env={"AGENTCTL_NOW": "2026-03-02T12:00:00Z"})
    limit = log.stat().st_size + 40  # room for part of the next record only
    before = log.read_bytes()
    proc = subprocess.run([sys.executable, "-c", RLIMITED, str(limit), "-w", str(root), "run", "flaky", "--prompt",
                           "y"], capture_output=True, text=True, timeout=60,
                          env=_child_env(AGENTCTL_NOW="2026-03-02T12:01:00Z"))
    assert proc.returncode == 74, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    torn = "state/journal" not in proc.stderr
    if not torn:  # the unit of work's intent did not fit: nothing was applied at all
        assert log.read_bytes() == before
    else:
        assert "2026-03-02.jsonl" in proc.stderr
        assert not log.read_bytes().endswith(b"\n")  # the kernel cut the line short
    Cli(root)("run", "flaky", "--prompt", "z", env={"AGENTCTL_NOW": "2026-03-02T12:02:00Z"})
    reader = JsonlReader()
    recs = list(reader.read(log))
    assert reader.skipped == (1 if torn else 0)
    assert [r["status"] for r in recs] == ["failure", "failure"] and log.read_bytes().endswith(b"\n")
