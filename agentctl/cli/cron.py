"""`agentctl cron …` and `agentctl monitor …` (SPEC §8)."""


import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from agentctl.cli.common import echo_err, now, state, ws
from agentctl.cli.render import emit_json, table

CRONTAB_ENV = "AGENTCTL_CRONTAB_FILE"

cron_app = typer.Typer(
    help="Proactive monitoring through system cron: list, install, run, coverage.\n\n"
         f"install/uninstall edit the user's crontab through the `crontab` program; set {CRONTAB_ENV}=PATH "
         "to edit that file instead (tests, containers, system cron.d files).",
    no_args_is_help=True,
)
monitor_app = typer.Typer(help="Built-in monitors: a finding raises an alert and exits 1.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]


def _clock(start: datetime) -> Any:
    """Time for durations: starts at the pinned/real `now` and advances with the monotonic clock."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def _target() -> Any:
    """The crontab to edit, chosen once here (the edge): $AGENTCTL_CRONTAB_FILE, else the user's."""
    import shutil

    from agentctl.cron.crontab import CrontabTarget
    from agentctl.errors import ConfigError

    file = os.environ.get(CRONTAB_ENV)
    if file:
        return CrontabTarget(file=Path(file).expanduser().resolve())
    program = shutil.which("crontab")
    if program is None:
        raise ConfigError("no `crontab` program on PATH (is cron installed?)",
                          hint=f"set {CRONTAB_ENV}=FILE to write a crontab file instead")
    return CrontabTarget(program=program, env=dict(os.environ))


def system_zone() -> Any:
    """The zone the cron daemon reads schedules in: the system's /etc/localtime (not the user's $TZ)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    link = Path("/etc/localtime")
    try:
        target = str(link.resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
        with link.open("rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return ZoneInfo("UTC")


def _zone(name: str | None) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from agentctl.errors import UsageError

    if name is None:
        return system_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--cron-tz: unknown time zone {name!r}") from None


@cron_app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Jobs with their schedule, time zone, agent or built-in, next 3 runs and last run."""
    from agentctl.cron.jobs import list_jobs

    rows = list_jobs(ws(ctx), now())
    if json_:
        emit_json(rows)
        return
    if not rows:
        typer.echo("no cron jobs (add them under `cron:` in agentctl.yaml)")
        return
    for r in rows:
        r["runs"] = r["agent"] or f"builtin:{r['builtin']}"
        r["nextRun"] = _local(r["nextLocal"][0]) if r["nextLocal"] else None
        last = r["lastRun"] or {}
        streak = last.get("consecutiveFailures") or 0
        r["last"] = (f"{_local(last.get('atLocal'))} {last.get('status')}" + (f" ({streak} failing)" if streak else "")
                     if last else None)
    typer.echo(table(rows, ["name", "schedule", "tz", "runs", "nextRun", "last"],
                     ["JOB", "SCHEDULE", "TZ", "RUNS", "NEXT (job tz)", "LAST RUN (job tz)"]))


def _local(stamp: str | None) -> str | None:
    """``2026-03-08T03:00:00-04:00`` → ``2026-03-08 03:00 -04:00`` (the job's own zone)."""
    if not stamp:
        return None
    return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M %z")


@cron_app.command("install")
def install(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the block; change nothing.")] = False,
    cron_tz: Annotated[str | None, typer.Option("--cron-tz", help="Zone the cron daemon runs in (default: the system's /etc/localtime).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Install this workspace's jobs as one marked block in the crontab (idempotent).

    Other lines are never touched. Each entry runs `agentctl -w <workspace> cron run NAME`
    --scheduled --log`; agentctl writes logs/cron/NAME.log itself (rotated at 1 MB, 3 kept).
    Cron fires in its own zone; a job whose tz has other offsets gets an entry at every
    minute its slots can fall on, and `cron run --scheduled` runs only its slots' minutes.
    Refused (78) when an LLM job's key is in neither the env file nor the crontab's
    environment. Prints the PATH jobs get (set it with `cron_path:` in agentctl.yaml).
    """
    from agentctl.cron.crontab import install as do_install
    from agentctl.cron.preflight import path_dirs

    w = ws(ctx)
    result = do_install(w, _target(), program=[sys.executable, "-m", "agentctl"],
                        path_dirs=path_dirs(w, str(Path(sys.executable).parent)), cron_tz=_zone(cron_tz), now=now(),
                        dry_run=dry_run)
    if json_:
        emit_json(result)
        return
    if dry_run:
        typer.echo(result["block"].rstrip("\n") or "# (no cron jobs: the block would be removed)")
        echo_err(f"dry run: {result['target']} {'would change' if result['changed'] else 'is up to date'}; "
                 f"jobs would run with PATH={result['path']}")
        return
    verb = "installed" if result["changed"] else "already up to date:"
    typer.echo(f"{verb} {len(result['entries'])} cron job(s) in {result['target']} (cron zone {result['cronTz']})")
    typer.echo(f"jobs run with PATH={result['path']} (set `cron_path:` in agentctl.yaml to change it)")


@cron_app.command("uninstall")
def uninstall(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be removed; change nothing.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Remove this workspace's block from the crontab; other lines are never touched.

    Set AGENTCTL_CRONTAB_FILE=PATH to edit that file instead of the user's crontab.
    """
    from agentctl.cron.crontab import uninstall as do_uninstall

    result = do_uninstall(ws(ctx), _target(), dry_run=dry_run)
    if json_:
        emit_json(result)
    elif result["changed"]:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {result['removedLines']} line(s) from {result['target']}")
    else:
        typer.echo(f"nothing to remove in {result['target']}")


@cron_app.command("run")
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The cron job.")],
    scheduled: Annotated[bool, typer.Option("--scheduled", help="Set by installed entries: run the current slot if now is in its minute (in the job's tz), else do nothing.")] = False,
    log: Annotated[bool, typer.Option("--log", help="Append all output to logs/cron/NAME.log (created if missing; rotated at 1 MB, 3 kept).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Run a job: with --scheduled (what cron calls) once for its current slot; by hand, now.

    Scheduled: a second call in the same slot records `duplicate` and runs nothing; a call
    while the job is still running records `skipped` and exits 0; a failure raises an alert
    (the first, every Nth, the recovery). By hand: `trigger: manual`, no slot is used up.
    Reads the workspace's env file. Silent on success unless --verbose. Exit: the job's outcome.
    """
    from agentctl.cron.jobs import run_job
    from agentctl.workspace.envfile import apply_env_file

    w = ws(ctx)
    if log:
        from agentctl.cron.joblog import redirect_to_log

        redirect_to_log(w.root, _safe_name(name))
    start = now()
    if scheduled:
        _apply_env_or_fail(w, name, start)
    else:
        apply_env_file(w.root)
    outcome = run_job(w, name, start, _clock(start), scheduled=scheduled)
    if json_:
        emit_json(outcome.to_dict())
    elif outcome.exit_code != 0 or outcome.status == "skipped" or state(ctx).verbose:
        line = f"{iso_now(start)} cron {name}: {outcome.status} for slot {outcome.slot}"
        if outcome.caught_up:
            line += f" (caught up slot {outcome.caught_up})"
        echo_err(line + (f": {outcome.message}" if outcome.message else ""))
    raise typer.Exit(outcome.exit_code)


def iso_now(t: datetime) -> str:
    from agentctl.core.clock import iso

    return iso(t)


def _safe_name(name: str) -> str:
    import re

    from agentctl.errors import UsageError

    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise UsageError(f"invalid cron job name {name!r}")
    return name


def _apply_env_or_fail(w: Any, name: str, at: datetime) -> None:
    """A bad env file fails a scheduled run like any config error: counted and alerted."""
    from agentctl.cron.failures import note_outcome
    from agentctl.errors import AgentctlError
    from agentctl.workspace.envfile import apply_env_file

    try:
        apply_env_file(w.root)
    except AgentctlError as exc:
        note_outcome(w, name, "failure", exc.exit_code, exc.message, at)
        raise


@cron_app.command("coverage")
def coverage(
    ctx: typer.Context,
    days: Annotated[float, typer.Option("--days", help="Window: the last N days.")] = 7,
    now_: Annotated[str | None, typer.Option("--now", help="End of the window (ISO-8601; default now).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Per job, each slot expected since the job's install: ok, failed, skipped, missed, pending.

    Manual runs and duplicates cover nothing; a failed run does not cover its slot. A job
    whose schedule is unusable is listed with its error, and the command then exits 78.
    """
    from agentctl.core.clock import iso, parse_iso
    from agentctl.cron.jobs import coverage as job_coverage
    from agentctl.errors import UsageError

    if days <= 0:
        raise UsageError("--days must be positive")
    end = parse_iso(now_) if now_ else now()
    start = end - timedelta(days=days)
    rows = job_coverage(ws(ctx), start, end)
    if json_:
        emit_json({"window": {"start": iso(start), "end": iso(end), "days": days}, "jobs": rows})
        _fail_on_errors(rows)
        return
    typer.echo(f"cron coverage {iso(start)} → {iso(end)}")
    if not rows:
        typer.echo("no cron jobs")
        return
    typer.echo(table(rows, ["job", "schedule", "tz", "since", "expected", "ok", "failed", "skipped", "missed",
                            "pending"],
                     ["JOB", "SCHEDULE", "TZ", "SINCE", "EXPECTED", "OK", "FAILED", "SKIPPED", "MISSED", "PENDING"]))
    for r in rows:
        for key in ("missedSlots", "failedSlots"):
            if r[key]:
                shown = ", ".join(r[key][:5]) + (" …" if len(r[key]) > 5 else "")
                typer.echo(f"  {r['job']} {key.removesuffix('Slots')}: {shown}")
    _fail_on_errors(rows)


def _fail_on_errors(rows: list[dict[str, Any]]) -> None:
    from agentctl.errors import ConfigError

    bad = [r["error"] for r in rows if r.get("error")]
    if bad:
        raise ConfigError(bad[0] + (f" (and {len(bad) - 1} more job(s))" if len(bad) > 1 else ""))


# --- monitors -----------------------------------------------------------------------------

def _finish(result: Any, json_: bool) -> None:
    from agentctl.errors import FindingsRaised

    if json_:
        emit_json(result.to_dict())
    elif result.ok:
        typer.echo(result.message)
    if not result.ok:
        raise FindingsRaised(result.message)


@monitor_app.command("disk")
def disk(
    ctx: typer.Context,
    path: Annotated[str | None, typer.Option("--path", help="Any path on the filesystem to check (default: the workspace).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Alert at or above this percentage used.")] = 80,
    json_: JsonOpt = False,
) -> None:
    """Disk usage of the filesystem holding --path; exit 1 (and an alert) at or above --threshold."""
    from agentctl.cron.monitors import run_monitor

    w = ws(ctx)
    _finish(run_monitor(w, "disk", now(), path=Path(path).expanduser() if path else None,
                             threshold=threshold), json_)


@monitor_app.command("stale")
def stale(
    ctx: typer.Context,
    older_than: Annotated[str, typer.Option("--older-than", help="How long a task may sit in progress or blocked.")] = "2h",
    json_: JsonOpt = False,
) -> None:
    """Tasks in progress or blocked with no update for longer than --older-than; exit 1 (and an alert) if any."""
    from agentctl.core.clock import parse_duration
    from agentctl.cron.monitors import run_monitor

    _finish(run_monitor(ws(ctx), "stale", now(), older_than=parse_duration(older_than)), json_)


@monitor_app.command("breakers")
def breakers(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Open circuit breakers; exit 1 (and an alert) if any."""
    from agentctl.cron.monitors import run_monitor

    _finish(run_monitor(ws(ctx), "breakers", now()), json_)


def alerts(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Window: alerts raised in the last DURATION (30m, 24h, 7d).")] = "24h",
    json_: JsonOpt = False,
) -> None:
    """Alerts raised by monitors, failing cron jobs and the runner (logs/alerts.jsonl), oldest first."""
    from agentctl.cron.alertlog import list_alerts

    rows = list_alerts(ws(ctx), now(), since)
    if json_:
        emit_json({"since": since, "alerts": rows})
        return
    if not rows:
        typer.echo(f"no alerts in the last {since}")
        return
    typer.echo(table(rows, ["ts", "severity", "kind", "source", "message"], ["TIME (UTC)", "SEVERITY", "KIND", "SOURCE", "MESSAGE"]))


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts)
    app.add_typer(cron_app, name="cron")
    app.add_typer(monitor_app, name="monitor")
