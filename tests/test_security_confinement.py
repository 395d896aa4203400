"""Confinement, staging and strict load (issue 18).

- a symlink on the way out of the workspace (``artifacts/T-1``, ``logs/events.jsonl``,
  ``tasks.json``) is 74: nothing written outside, the link never replaced;
- a command agent's raw artifact lives only in ``.agentctl/staging`` during its run: gone
  after SIGTERM (its process group killed too), and after a SIGKILL the next command
  cleans it;
- strict load: ``{}``, version 0 / "1", duplicate ids, huge ``nextSeq``, non-ISO times → 74;
  an id with a trailing newline → 2; a closed stdout pipe ends quietly.

Checked once by hand with the protection off (``check_confined`` returning at once): the
three symlink tests fail (files appear in the outside folder; tasks.json becomes a file).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Cli, _clean_env
from fixtures_reliability import make_rel_ws

from agentctl.storage.files.inflight import pid_alive


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    agents = {"selfy": {"name": "selfy", "runtime": "command", "produces": "thing",
                        "command": ["sh", "-c", 'printf \'{"a": 1}\' > "$AGENTCTL_OUTPUT"'],
                        "self_tests": [{"name": "ok", "run": "true"}]}}
    root = make_rel_ws(tmp_path / "ws", agents=agents,
                       pipeline=[{"stage": "make", "agent": "selfy", "produces": "thing"}])
    (root / "schemas" / "thing.json").write_text('{"type": "object"}')
    (tmp_path / "outside").mkdir()
    return root


def outside(root: Path) -> list[str]:
    return sorted(p.name for p in (root.parent / "outside").rglob("*"))


def test_a_linked_artifact_folder_is_refused_by_run_selftest_and_handoff(ws: Path, tmp_path: Path) -> None:
    cli = Cli(ws)
    assert cli("task", "add", "--title", "t", "--agent", "selfy", "--phase", "make").exit_code == 0
    (ws / "artifacts" / "T-1").symlink_to(tmp_path / "outside")
    res = cli("run", "selfy", "--task", "T-1")
    assert res.exit_code == 74 and "symbolic link" in res.stderr, res.stderr
    assert cli("task", "show", "T-1", "--json").json()["status"] == "todo"  # refused before the claim
    art = tmp_path / "a.json"
    art.write_text('{"a": 1}')
    assert cli("handoff", "T-1", "--artifact", str(art)).exit_code == 74
    assert cli("selftest", "T-1").exit_code in (2, 74)
    assert outside(ws) == []


def test_a_linked_event_log_refuses_the_change(ws: Path, tmp_path: Path) -> None:
    cli = Cli(ws)
    target = tmp_path / "outside" / "events.jsonl"
    target.write_text("")
    (ws / "logs" / "events.jsonl").unlink(missing_ok=True)
    (ws / "logs" / "events.jsonl").symlink_to(target)
    before = (ws / "tasks.json").read_bytes()
    res = cli("task", "add", "--title", "t")
    assert res.exit_code == 74 and "events.jsonl" in res.stderr
    assert target.read_text() == "" and (ws / "tasks.json").read_bytes() == before


def test_a_linked_registry_is_74_and_never_replaced(ws: Path, tmp_path: Path) -> None:
    cli = Cli(ws)
    real = tmp_path / "outside" / "tasks.json"
    (ws / "tasks.json").rename(real)
    (ws / "tasks.json").symlink_to(real)
    for argv in (["status"], ["task", "add", "--title", "t"]):
        res = cli(*argv)
        assert res.exit_code == 74 and "tasks.json" in res.stderr
    assert (ws / "tasks.json").is_symlink() and json.loads(real.read_text())["tasks"] == []


SLOW = 'printf \'{"k": "raw"}\' > "$AGENTCTL_OUTPUT"; sleep 60 & echo $! > "$0"; sleep 60'


def _start(root: Path, pidfile: Path) -> subprocess.Popen:
    (root / "agents" / "slow.yaml").write_text(json.dumps(
        {"name": "slow", "runtime": "command", "command": ["sh", "-c", SLOW, str(pidfile)], "timeout_s": 120}))
    proc = subprocess.Popen([sys.executable, "-m", "agentctl", "-w", str(root), "run", "slow", "--prompt", "x"],
                            env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    # started = the agent wrote its pid, and agentctl recorded the agent's process group (a SIGKILL in
    # the instant between the spawn and that record cannot be cleaned up: nothing names the group yet)
    while not (pidfile.exists() and pidfile.read_text().strip() and list(_staging(root).glob("*/pgid"))):
        assert time.monotonic() < deadline and proc.poll() is None, "the agent never started"
        time.sleep(0.05)
    return proc


def _staging(root: Path) -> Path:
    return root / ".agentctl" / "staging"


def _gone(pid: int, within: float = 5.0) -> bool:
    """Dead: no such process, or a zombie (an orphan whose init never reaps it, as under CI)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _staged(root: Path) -> list[Path]:
    return list((root / ".agentctl" / "staging").glob("*/*"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_staging_and_the_agent_end_with_the_run(ws: Path, tmp_path: Path, sig: int) -> None:
    proc = _start(ws, tmp_path / "pid")
    assert _staged(ws)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) in (128 + sig, 130)
    assert _staged(ws) == [] and _gone(int((tmp_path / "pid").read_text()))
    assert not list(ws.rglob(".output.*"))


def test_sigkill_leftovers_are_cleaned_by_the_next_command(ws: Path, tmp_path: Path) -> None:
    proc = _start(ws, tmp_path / "pid")
    proc.kill()
    proc.wait(timeout=30)
    assert _staged(ws)
    assert Cli(ws)("status").exit_code == 0
    assert _staged(ws) == [] and _gone(int((tmp_path / "pid").read_text()))


BAD_REGISTRIES = {
    "empty object": {},
    "version 0": {"version": 0, "tasks": []},
    "version string": {"version": "1", "tasks": []},
    "huge nextSeq": {"version": 1, "nextSeq": 10**30, "tasks": []},
    "duplicate ids": {"version": 1, "tasks": [{"taskId": "T-1", "title": t, "createdAt": "2026-03-02T12:00:00Z",
                                               "updatedAt": "2026-03-02T12:00:00Z"} for t in ("a", "b")]},
    "non-ISO time": {"version": 1, "tasks": [{"taskId": "T-1", "title": "a", "createdAt": "yesterday",
                                              "updatedAt": "2026-03-02T12:00:00Z"}]},
    "huge attempts": {"version": 1, "tasks": [{"taskId": "T-1", "title": "a", "attempts": 10**20,
                                               "createdAt": "2026-03-02T12:00:00Z",
                                               "updatedAt": "2026-03-02T12:00:00Z"}]},
}


@pytest.mark.parametrize("case", sorted(BAD_REGISTRIES))
def test_strict_load(ws: Path, case: str) -> None:
    raw = json.dumps(BAD_REGISTRIES[case])
    (ws / "tasks.json").write_text(raw)
    for argv in (["status"], ["task", "list", "--json"], ["task", "add", "--title", "x"], ["task", "archive"]):
        res = Cli(ws)(*argv)
        assert res.exit_code == 74 and "tasks.json" in res.stderr and "Traceback" not in res.stderr, (argv, res)
    assert (ws / "tasks.json").read_text() == raw


def test_ids_with_a_trailing_newline_are_usage_errors(ws: Path) -> None:
    cli = Cli(ws)
    for argv in (["task", "add", "--title", "x", "--id", "T-5\n"], ["task", "show", "T-1\n"],
                 ["task", "update", "T-1\n", "--status", "done"]):
        res = cli(*argv)
        assert res.exit_code == 2 and "invalid task id" in res.stderr, res


def test_a_closed_pipe_ends_quietly(ws: Path) -> None:
    cli = Cli(ws)
    for i in range(400):
        (ws / "agents" / f"a{i}.yaml").write_text(json.dumps({"name": f"a{i}", "runtime": "command",
                                                              "command": ["true"], "description": "x" * 200}))
    assert cli("agents", "list").exit_code == 0
    proc = subprocess.Popen([sys.executable, "-m", "agentctl", "-w", str(ws), "agents", "list"], env=_clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 141) and err == "", err


def test_the_learn_normaliser_is_linear() -> None:
    from agentctl.learning.learn import normalise_message

    for unit in ("a-1", "a.", "ab12-", "a-b-", "x@", "a/b.", "1."):
        text = unit * (20_000 // len(unit))
        start = time.perf_counter()
        normalise_message(text)
        assert time.perf_counter() - start < 2.0, unit
