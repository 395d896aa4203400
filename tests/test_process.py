"""The one process runner (agentctl.providers.process): groups, kill policy, I/O, tails."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from agentctl.providers import process
from agentctl.providers.process import Tail, run_process
from agentctl.storage.files.inflight import pid_alive

ENV = {"PATH": os.environ["PATH"]}


def sh(script: str, tmp_path: Path, **kw):
    kw.setdefault("timeout_s", 20)
    return run_process(["sh", "-c", script], cwd=tmp_path, env=kw.pop("env", ENV), **kw)


def test_exit_code_output_and_no_shell_for_argv(tmp_path):
    res = run_process(["echo", "a;b", "$HOME"], cwd=tmp_path, env=ENV, timeout_s=10)
    assert (res.exit_code, res.timed_out, res.output_tail) == (0, False, "a;b $HOME\n")
    assert sh("echo err >&2; exit 4", tmp_path).exit_code == 4


def test_env_is_exactly_what_was_given(tmp_path):
    res = sh("env", tmp_path, env={"PATH": os.environ["PATH"], "ONLY": "1"})
    names = {line.split("=", 1)[0] for line in res.output_tail.splitlines()}
    assert "ONLY" in names and "HOME" not in names


def test_stdin_bytes_and_captured_stdout(tmp_path):
    res = run_process(["cat"], env=ENV, timeout_s=10, stdin=b"payload\n", capture_stdout=True)
    assert res.stdout == b"payload\n" and res.output_tail == ""


def test_stdout_path_is_whole_and_tails_are_apart(tmp_path):
    out = tmp_path / "o"
    res = sh("echo OUT; echo ERR >&2", tmp_path, stdout_path=out)
    assert out.read_text() == "OUT\n"
    assert (res.stderr_tail, res.stdout_tail) == ("ERR\n", "OUT\n")


def test_spawn_error_is_returned_not_raised(tmp_path):
    res = run_process(["/no/such/program"], env=ENV, timeout_s=5)
    assert isinstance(res.spawn_error, FileNotFoundError) and res.exit_code is None


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


def gone(pid: int) -> bool:
    """A SIGKILLed process takes a moment to die; wait on it (bounded), not on a clock."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.01)
    return not pid_alive(pid)


def test_timeout_terms_then_kills_the_whole_group(tmp_path):
    # the leader traps TERM and lingers; a background child ignores TERM: both must go
    script = "trap '' TERM; sleep 30 & echo $! > bg.pid; sleep 30"
    res = sh(script, tmp_path, timeout_s=0.3, grace_s=0.2)
    assert res.timed_out and res.exit_code is None
    assert gone(_pid(tmp_path / "bg.pid"))


def test_leftovers_of_a_finished_command_are_killed(tmp_path):
    res = sh("sleep 30 & echo $! > bg.pid; echo done", tmp_path)
    assert res.exit_code == 0 and "done" in res.output_tail
    assert gone(_pid(tmp_path / "bg.pid"))


def test_interruption_ends_the_group_and_propagates(tmp_path):
    def interrupt(pgid: int) -> None:
        (tmp_path / "pgid").write_text(str(pgid))
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()

    with pytest.raises(KeyboardInterrupt):
        sh("sleep 30 & echo $! > bg.pid; sleep 30", tmp_path, on_start=interrupt)
    assert gone(_pid(tmp_path / "pgid"))
    assert gone(_pid(tmp_path / "bg.pid"))


def test_the_group_is_signalled_before_its_leader_is_reaped(tmp_path, monkeypatch):
    """Guard against a reused group id: while the leader is an unreaped zombie its pid
    (the group id) cannot be given to another process."""
    seen: list[bool] = []
    real = os.killpg

    def spy(pgid: int, sig: int) -> None:
        try:
            os.waitid(os.P_PID, pgid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            seen.append(True)
        except ChildProcessError:  # already reaped: the id may belong to someone else now
            seen.append(False)
        real(pgid, sig)

    monkeypatch.setattr(process.os, "killpg", spy)
    sh("exit 0", tmp_path)
    sh("sleep 30", tmp_path, timeout_s=0.2, grace_s=0.1)
    assert seen and all(seen)


def test_a_secret_straddling_the_tail_edge_is_masked(tmp_path):
    secret = "sk-ant-" + "A" * 40
    env = {**ENV, "ANTHROPIC_API_KEY": secret}
    script = f"import sys; sys.stdout.write({secret!r} + 'x' * 990)"
    res = run_process([sys.executable, "-c", script], env=env, timeout_s=10, tail=Tail(keep=1000, overlap=200))
    assert "AAAA" not in res.output_tail and len(res.output_tail) <= 1000
