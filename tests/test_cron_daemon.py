"""End to end with Debian's real cron daemon (issue 17): CI only (`CI=true`), as root.

A throwaway user gets the block in its crontab (`crontab -u USER`); the daemon (ours,
started with `cron -f` and stopped by its pid — or one already running, left alone)
fires two every-minute jobs for at most three minutes. Checked: one run per slot,
every record attributed, the env file's value reaching the agent (and nowhere else),
an alert for the failing job, and agentctl creating its own `logs/cron/`.

The job runs as that user, so everything it reads must be readable by it: the
workspace lives in a fresh 0755 folder under /tmp owned by the user, and the Python
is a venv under that folder whose interpreter is a system Python of the same version
(a venv under /root is not readable by others), with a copy of this environment's
site-packages and of agentctl's source. Root's crontab is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CRON = shutil.which("cron") or "/usr/sbin/cron"
MAX_WAIT_S = 180
VALUE = "cron-env-value-" + secrets.token_hex(6)

pytestmark = [
    pytest.mark.skipif(os.environ.get("CI") != "true", reason="real cron daemon test: runs only with CI=true"),
    pytest.mark.skipif(os.geteuid() != 0, reason="real cron daemon test: needs root (useradd, crontab -u)"),
    pytest.mark.skipif(not Path(CRON).exists() or not shutil.which("crontab"),
                       reason="real cron daemon test: Debian's cron is not installed (apt-get install -y cron)"),
]


def sh(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, **kw)


def as_user(user: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    pairs = [f"{k}={v}" for k, v in {**base, **(env or {})}.items()]
    return sh("runuser", "-u", user, "--", "env", "-i", *pairs, *argv)


def _interpreter(user: str) -> str:
    """A Python of this version that the user can execute (this one may live under /root)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for cand in (os.path.realpath(sys.executable), f"/usr/bin/python{version}", shutil.which(f"python{version}")):
        if cand and Path(cand).exists():
            probe = as_user(user, cand, "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
            if probe.returncode == 0 and probe.stdout.strip() == version:
                return cand
    pytest.skip(f"real cron daemon test: no Python {version} that an unprivileged user can run")


def _user_venv(base: Path, user: str) -> Path:
    """A venv the user can run: a system interpreter plus copies of our packages and source."""
    venv = base / "venv"
    py = _interpreter(user)
    res = sh(py, "-m", "venv", "--without-pip", str(venv))
    assert res.returncode == 0, res.stderr
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    libs = base / "libs"
    shutil.copytree(sysconfig.get_paths()["purelib"], libs, symlinks=True,
                    ignore=shutil.ignore_patterns("__editable__*", "_editable_impl_*", "agentctl", "__pycache__"))
    shutil.copytree(REPO / "agentctl", libs / "agentctl", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "agentctl-e2e.pth").write_text(f"import site; site.addsitedir({str(libs)!r})\n")
    return venv / "bin" / "python"


@contextlib.contextmanager
def throwaway_user() -> Iterator[str]:
    name = f"agentctl-e2e-{secrets.token_hex(3)}"
    res = sh("useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name)
    assert res.returncode == 0, res.stderr
    try:
        yield name
    finally:
        sh("crontab", "-u", name, "-r")
        sh("userdel", "--force", name)          # even if one of its jobs is still finishing


@contextlib.contextmanager
def cron_daemon() -> Iterator[None]:
    """Use a running cron if there is one (left alone); else start ours and stop it by its pid."""
    if sh("pgrep", "-x", "cron").returncode == 0:
        yield
        return
    proc = subprocess.Popen([CRON, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        assert proc.poll() is None, "cron -f exited at once"
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _workspace(base: Path, user: str, python: Path) -> Path:
    root = base / "ws"
    res = sh(str(python), "-m", "agentctl", "init", str(root), "--template", "minimal")
    assert res.returncode == 0, res.stderr
    marker = root / "seen.txt"
    (root / "agents" / "greeter.yaml").write_text(textwrap.dedent(f"""\
        name: greeter
        team: ops
        runtime: command
        env: [DEMO_SECRET]
        command: ["{python}", "-c", "import os,hashlib; open({str(marker)!r},'a').write(hashlib.sha256(os.environ['DEMO_SECRET'].encode()).hexdigest() + '\\\\n')"]
    """))
    (root / "agents" / "breaker.yaml").write_text(textwrap.dedent(f"""\
        name: breaker
        team: ops
        runtime: command
        command: ["{python}", "-c", "raise SystemExit(1)"]
    """))
    cfg = root / "agentctl.yaml"
    cfg.write_text(cfg.read_text().replace("cron: []\n", textwrap.dedent("""\
        cron:
          - {name: greet, schedule: "* * * * *", agent: greeter, prompt: hello}
          - {name: broken, schedule: "* * * * *", agent: breaker, prompt: fail}
        """)))
    env = root / ".agentctl" / "env"
    env.write_text(f"DEMO_SECRET={VALUE}\n")
    env.chmod(0o600)
    shutil.rmtree(root / "logs" / "cron", ignore_errors=True)     # agentctl must create it itself
    sh("chown", "-R", f"{user}:", str(base))
    return root


def _records(root: Path) -> list[dict]:
    out = []
    for path in sorted((root / "logs" / "runs").glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def _wait_for(root: Path) -> list[dict]:
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        recs = _records(root)
        greets = {r["idempotencyKey"] for r in recs if r["job"] == "greet"}
        if len(greets) >= 2 and any(r["job"] == "broken" for r in recs):
            time.sleep(5)                                          # let the current minute's runs finish
            return _records(root)
        time.sleep(2)
    return _records(root)


def test_real_cron_daemon_runs_each_slot_once_with_the_env_file() -> None:
    base = Path(tempfile.mkdtemp(prefix="agentctl-e2e-", dir="/tmp"))
    base.chmod(0o755)
    try:
        with throwaway_user() as user:
            python = _user_venv(base, user)
            root = _workspace(base, user, python)
            tab = base / "crontab.txt"
            res = as_user(user, str(python), "-m", "agentctl", "-w", str(root), "cron", "install",
                          env={"AGENTCTL_CRONTAB_FILE": str(tab)})
            assert res.returncode == 0, res.stderr
            assert "jobs run with PATH=" in res.stdout and VALUE not in tab.read_text()
            assert sh("crontab", "-u", user, str(tab)).returncode == 0
            assert sh("crontab", "-u", user, "-l").stdout == tab.read_text()
            with cron_daemon():
                recs = _wait_for(root)
            _check(root, recs, user)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _check(root: Path, recs: list[dict], user: str) -> None:
    greets = [r for r in recs if r["job"] == "greet"]
    broken = [r for r in recs if r["job"] == "broken"]
    assert len(greets) >= 2, f"cron did not fire greet twice in {MAX_WAIT_S}s: {recs}"
    keys = [r["idempotencyKey"] for r in greets]
    assert len(keys) == len(set(keys)), "a slot ran twice"
    assert all(r["status"] == "success" and r["agent"] == "greeter" and r["trigger"] == "cron" for r in greets)
    assert all(r["agent"] == "breaker" and r["status"] == "failure" for r in broken)
    marker = (root / "seen.txt").read_text().split()
    assert marker and set(marker) == {hashlib.sha256(VALUE.encode()).hexdigest()}      # the env file reached it
    assert len(marker) == len(greets)
    alerts = [json.loads(x) for x in (root / "logs" / "alerts.jsonl").read_text().splitlines()]
    failed = [a for a in alerts if a["kind"] == "cron_job_failed"]
    assert failed and failed[0]["source"] == "cron:broken"
    assert (root / "logs" / "cron" / "broken.log").is_file()              # agentctl made the folder
    assert pwd.getpwuid((root / "logs" / "cron").stat().st_uid).pw_name == user
    for path in root.rglob("*"):
        if path.is_file() and ".agentctl" not in path.parts:
            assert VALUE not in path.read_text(errors="replace"), path
