"""The crontab block (SPEC §8): `agentctl cron install` / `uninstall`.

One marked block per workspace (BEGIN/END lines and `# agentctl:<workspace>:<job>` on
each entry), spliced into the crontab as text: python-crontab rewrites a whole table
when it saves one, which reformats and can drop or re-attach the user's own lines, so
it only checks our entries. Nothing from a job's config reaches a line unchecked (`%`,
newlines and quotes are refused), no environment value is written, and `PATH` is set
inside each command. Each line runs `agentctl -w WS cron run NAME --scheduled --log`:
agentctl opens (and rotates) `logs/cron/NAME.log` itself, so no shell redirect depends
on a folder existing. The fields are the job's schedule when system cron can read it
as is (same zone all year, no `L`/`W`/`#`/`?`); otherwise wider fields that fire at
every minute a slot can fall on, and `--scheduled` runs only a slot's own minute.
The real crontab is read with `crontab -l` and written with `crontab FILE`;
``AGENTCTL_CRONTAB_FILE`` names a file to edit instead (tests never touch a real one).
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agentctl.core.config import NAME_PATTERN, CronJob
from agentctl.cron.schedule import check_job, job_zone
from agentctl.errors import AgentctlError, ConfigError, StateError
from agentctl.storage import locked
from agentctl.workspace.loader import Workspace

_UNSAFE = re.compile(r"[%\"'\\#`\x00-\x1f\x7f]")
_SAFE_PATH_DIR = re.compile(r"^/[A-Za-z0-9/._+@,~-]*$")
_JOB_NAME = re.compile(NAME_PATTERN)
_SPECIAL = re.compile(r"[LW#?]", re.I)
MAX_LINE = 990
CRONTAB_TIMEOUT_S = 30.0


def cron_safe(text: str, what: str) -> str:
    """Refuse text that cron or the shell would misread on a crontab line (% is a newline to cron)."""
    bad = _UNSAFE.search(text)
    if bad:
        raise ConfigError(f"{what} {text!r} contains {bad.group()!r}, which cron or the shell would misread "
                          "in a crontab line; use a path without %, quotes, backslashes, # or control characters")
    return text


def begin_marker(root: Path) -> str:
    return f"# BEGIN agentctl:{root}"


def end_marker(root: Path) -> str:
    return f"# END agentctl:{root}"


def entry_marker(root: Path, name: str) -> str:
    return f"# agentctl:{root}:{name}"


def _tz_deltas(job_tz: ZoneInfo, cron_tz: ZoneInfo, now: datetime) -> set[int]:
    """Minutes by which the job's local clock runs ahead of cron's, over the next two years."""
    deltas = set()
    for i in range(0, 2 * 366 * 4):
        t = now + timedelta(hours=6 * i)
        a, b = t.astimezone(job_tz).utcoffset(), t.astimezone(cron_tz).utcoffset()
        assert a is not None and b is not None
        deltas.add(int((a - b).total_seconds() // 60))
    return deltas


@lru_cache(maxsize=64)
def _skipped_hours(zone: ZoneInfo, now: datetime) -> set[int]:
    """Local hours that a DST change skips in ``zone`` over the next two years."""
    out: set[int] = set()
    t = now.replace(minute=0, second=0, microsecond=0)
    prev = t.astimezone(zone).utcoffset()
    for i in range(1, 2 * 366 * 24):
        u = (t + timedelta(hours=i)).astimezone(zone)
        off = u.utcoffset()
        assert off is not None and prev is not None
        if off > prev:
            gap = max(int((off - prev).total_seconds() // 3600), 1)
            out |= {(u.hour - k) % 24 for k in range(1, gap + 1)}
        prev = off
    return out


def _field(values: set[int], full: int) -> str:
    return "*" if len(values) == full else ",".join(str(v) for v in sorted(values))


def cron_schedule(job: CronJob, cron_tz: ZoneInfo, now: datetime) -> tuple[str, bool]:
    """The 5 fields to write for ``job`` when cron runs in ``cron_tz``, and whether they are exact.

    Same offsets all year and plain syntax: the schedule as written. Otherwise every
    minute the job's slots can fall on in cron's zone (each DST combination, and the
    first minute of an hour that DST skips), on every day when the schedule's days use
    syntax cron lacks or a slot can cross midnight — no CRON_TZ (not portable, and it
    would apply to every line after ours). ``cron run --scheduled`` picks the real slots.
    """
    from croniter import croniter

    check_job(job)
    deltas = _tz_deltas(job_zone(job), cron_tz, now)
    special = bool(_SPECIAL.search(job.schedule))
    if deltas == {0} and not special:  # re-joined by single spaces: no \r, \v or odd whitespace reaches the line
        return " ".join(job.schedule.split()), True
    expanded = croniter(job.schedule).expanded
    # ints at run time (the stubs say str): minutes and hours have no names or L/W/#
    minutes = range(60) if expanded[0] == ["*"] else [int(m) for m in expanded[0]]
    hours = range(24) if expanded[1] == ["*"] else [int(h) for h in expanded[1]]
    times = {h * 60 + m for h in hours for m in minutes}
    skipped = _skipped_hours(job_zone(job), now.replace(minute=0, second=0, microsecond=0)) & set(hours)
    times |= {((h + 1) % 24) * 60 for h in skipped}  # a slot in the hour DST skips runs when the hour ends
    shifted = {t - d for t in times for d in deltas}
    crosses = any(not 0 <= t < 1440 for t in shifted)
    mins_out = {t % 60 for t in shifted}
    hours_out = {(t % 1440) // 60 for t in shifted}
    days = ["*", "*", "*"] if crosses or special else job.schedule.split()[2:]
    return " ".join([_field(mins_out, 60), _field(hours_out, 24), *days]), False


@dataclass
class Entry:
    job: str
    schedule: str
    tz: str
    cron_schedule: str
    exact: bool
    line: str

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "schedule": self.schedule, "tz": self.tz, "cronSchedule": self.cron_schedule,
                "exact": self.exact, "line": self.line}


def build_entries(ws: Workspace, *, program: list[str], path_dirs: list[str], cron_tz: ZoneInfo,
                  now: datetime) -> list[Entry]:
    """One crontab line per job: ``<fields> PATH=… <agentctl> -w <ws> cron run NAME --scheduled --log # marker``."""
    from crontab import CronSlices

    root = ws.root
    cron_safe(str(root), "workspace path")
    for part in program:
        cron_safe(part, "agentctl program path")
    for d in path_dirs:
        if not _SAFE_PATH_DIR.match(d):
            raise ConfigError(f"PATH folder {d!r} for cron jobs has characters a crontab line cannot carry safely")
    dirs = list(dict.fromkeys(path_dirs))
    prog = " ".join(shlex.quote(p) for p in program)
    entries = []
    for job in ws.config.cron:
        if not _JOB_NAME.match(job.name):
            raise ConfigError(f"agentctl.yaml [cron]: invalid job name {job.name!r}")
        fields, exact = cron_schedule(job, cron_tz, now)
        cron_safe(fields, f"cron job {job.name}: schedule")
        if not CronSlices.is_valid(fields):
            raise ConfigError(f"agentctl.yaml [cron {job.name}.schedule]: {job.schedule!r} uses syntax that "
                              "system cron does not understand")
        command = f"PATH={':'.join(dirs)} {prog} -w {shlex.quote(str(root))} cron run {job.name} --scheduled --log"
        line = f"{fields} {command} {entry_marker(root, job.name)}"
        if len(line) > MAX_LINE:
            raise ConfigError(f"cron job {job.name}: the crontab line would be {len(line)} characters (cron may cut "
                              f"lines past {MAX_LINE}); use a shorter workspace path")
        entries.append(Entry(job.name, job.schedule, job.tz, fields, exact, line))
    _check_with_python_crontab(entries, root)
    return entries


def _check_with_python_crontab(entries: list[Entry], root: Path) -> None:
    """Our lines must read back, through python-crontab's parser, as the command and marker we wrote."""
    from crontab import CronTab

    for e in entries:
        items = list(CronTab(tab=e.line))
        expect_cmd = e.line[len(e.cron_schedule) + 1:-len(entry_marker(root, e.job)) - 1]
        if len(items) != 1 or not items[0].is_valid() or items[0].command != expect_cmd \
                or items[0].comment != entry_marker(root, e.job)[2:]:
            raise ConfigError(f"cron job {e.job}: the crontab line would not read back as written: {e.line!r}")


def render_block(root: Path, entries: list[Entry], cron_tz: str) -> str:
    if not entries:
        return ""
    head = [begin_marker(root),
            f"# managed by `agentctl cron install` (cron fires in {cron_tz}; each job's slots are computed in "
            "its own tz); `agentctl cron uninstall` removes this block"]
    return "\n".join([*head, *(e.line for e in entries), end_marker(root)]) + "\n"


def splice_block(text: str, root: Path, block: str) -> tuple[str, int]:
    """Replace this workspace's block (and any stray line carrying its markers) with ``block``.

    Every other line is kept byte for byte; the new block goes where the old one was,
    else at the end. Returns the new text and the number of our lines removed.
    """
    begin, end = begin_marker(root), end_marker(root)
    ours = re.compile(r" # agentctl:" + re.escape(str(root)) + r":[a-z][a-z0-9-]*$")
    out: list[str] = []
    at: int | None = None
    removed, inside = 0, False
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if inside or bare == begin or bare == end or ours.search(bare):
            at = len(out) if at is None else at
            removed += 1
            if bare == begin:
                inside = True
            elif bare == end:
                inside = False
            continue
        out.append(line)
    if inside:
        raise StateError(f"the crontab has `{begin}` without its `{end}` line; fix it by hand "
                         "(crontab -e) — nothing was changed")
    if block:
        if at is None:
            at = len(out)
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n"
        out.insert(at, block)
    return "".join(out), removed


@dataclass
class CrontabTarget:
    """Where the block goes: a file (AGENTCTL_CRONTAB_FILE) or the user's crontab via the `crontab` program."""

    file: Path | None = None
    program: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment ``program`` runs with (chosen at the CLI edge)."""

    def describe(self) -> str:
        return f"file {self.file}" if self.file else f"user crontab ({self.program} -l)"

    def read(self) -> str:
        from agentctl.storage import read_bytes

        if self.file is not None:
            raw = read_bytes(self.file)
            return "" if raw is None else _decode(raw, str(self.file))
        assert self.program is not None
        res = self._run([self.program, "-l"], capture_stdout=True)
        if res.exit_code != 0:
            err = res.stderr_tail.strip()
            if "no crontab" in err.lower():
                return ""
            raise StateError(f"`{self.program} -l` failed ({_how(res)}): {err[:300]}")
        return _decode(res.stdout or b"", "the user crontab")

    def write(self, text: str) -> None:
        import os
        import tempfile

        from agentctl.storage import atomic_write

        if self.file is not None:
            atomic_write(self.file, text.encode("utf-8"))
            return
        assert self.program is not None
        fd, tmp = tempfile.mkstemp(prefix="agentctl-crontab-", suffix=".txt")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
            res = self._run([self.program, tmp])
        finally:
            os.unlink(tmp)
        if res.exit_code != 0:
            err = res.stderr_tail.strip()
            raise StateError(f"`{self.program}` refused the new crontab ({_how(res)}): {err[:300]}; "
                             "the previous crontab is unchanged")

    def _run(self, argv: list[str], capture_stdout: bool = False) -> Any:
        from agentctl.providers.process import run_process

        res = run_process(argv, env=self.env, timeout_s=CRONTAB_TIMEOUT_S, capture_stdout=capture_stdout)
        if res.spawn_error is not None:
            raise StateError(f"cannot start `{argv[0]}`: {res.spawn_error.strerror or res.spawn_error}")
        return res

    @contextlib.contextmanager
    def lock(self) -> Any:
        if self.file is None:  # the user crontab has no lock of its own; `crontab FILE` replaces it whole
            yield
            return
        with locked(self.file):
            yield


def _how(res: Any) -> str:
    return f"timed out after {CRONTAB_TIMEOUT_S:g}s" if res.timed_out else f"exit {res.exit_code}"


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"{what} is not UTF-8; nothing was changed") from None


def install(ws: Workspace, target: CrontabTarget, *, program: list[str], path_dirs: list[str],
            cron_tz: ZoneInfo, now: datetime, dry_run: bool = False) -> dict[str, Any]:
    """Write (or, with ``dry_run``, show) this workspace's block; idempotent."""
    from agentctl.cron.preflight import check_keys
    from agentctl.cron.state import mark_installed
    from agentctl.workspace.checks import check_cron

    problems = check_cron(ws, ws.config.cron, ws.agents)
    if problems:
        raise ConfigError("cron jobs are invalid; nothing was installed", problems)
    tz_name = getattr(cron_tz, "key", None) or str(cron_tz)
    entries = build_entries(ws, program=program, path_dirs=path_dirs, cron_tz=cron_tz, now=now)
    block = render_block(ws.root, entries, tz_name)
    with target.lock():
        before = target.read()
        check_keys(ws, splice_block(before, ws.root, "")[0])
        after, removed = splice_block(before, ws.root, block)
        changed = after != before
        if not dry_run:
            if changed:
                target.write(after)
            (ws.root / "logs" / "cron").mkdir(parents=True, exist_ok=True)
            mark_installed(ws, [e.job for e in entries], now)
    return {"target": target.describe(), "cronTz": tz_name, "dryRun": dry_run, "changed": changed,
            "removedLines": removed, "block": block, "path": ":".join(path_dirs),
            "entries": [e.to_dict() for e in entries]}


def uninstall(ws: Workspace, target: CrontabTarget, *, dry_run: bool = False) -> dict[str, Any]:
    from agentctl.cron.state import mark_uninstalled

    with target.lock():
        before = target.read()
        after, removed = splice_block(before, ws.root, "")
        if after != before and not dry_run:
            target.write(after)
    if not dry_run:
        with contextlib.suppress(AgentctlError):
            mark_uninstalled(ws, [j.name for j in ws.config.cron])
    return {"target": target.describe(), "dryRun": dry_run, "changed": after != before, "removedLines": removed}
