"""Built-in monitors (SPEC §8): disk, stale tasks, open breakers.

Each check is pure over what it reads (a path's usage, the registry, the breaker
state) with an explicit ``now``; a finding raises one alert (see alerts.py) whose
message stays the same while the situation does, so the alert dedupe works.
The CLI and the cron built-ins both call ``run_monitor``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agentctl.core.clock import iso, parse_duration, parse_iso
from agentctl.errors import ConfigError, UsageError
from agentctl.workspace.loader import Workspace

MONITORS = ("disk", "stale", "breakers")
STALE_STATUSES = ("in_progress", "blocked")
DEFAULT_THRESHOLD = 80.0
DEFAULT_STALE = "2h"


@dataclass
class MonitorResult:
    monitor: str
    findings: list[dict[str, Any]]
    report: dict[str, Any]
    message: str
    alert: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "ok": self.ok, "message": self.message, "findings": self.findings,
                **self.report, "alert": self.alert}


# --- the checks ----------------------------------------------------------------------

def disk_usage(path: Path) -> dict[str, Any]:
    """Usage as `df` shows it: used / (used + available), so root-reserved blocks count as full."""
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        raise UsageError(f"monitor disk: cannot read {path} ({exc.strerror})") from None
    usable = usage.used + usage.free
    percent = round(usage.used / usable * 100, 1) if usable else 0.0
    return {"path": str(path), "totalBytes": usage.total, "usedBytes": usage.used, "freeBytes": usage.free,
            "usedPercent": percent}


def check_disk(path: Path, threshold: float) -> MonitorResult:
    if not 0 < threshold <= 100:
        raise UsageError(f"--threshold must be a percentage in (0, 100], got {threshold:g}")
    report = {**disk_usage(path), "threshold": threshold}
    pct = report["usedPercent"]
    findings = [] if pct < threshold else [{"path": str(path), "usedPercent": pct, "threshold": threshold}]
    message = (f"{path}: {pct:.0f}% used, at or above the {threshold:g}% threshold" if findings
               else f"{path}: {pct:.0f}% used (threshold {threshold:g}%)")
    return MonitorResult("disk", findings, report, message)


def check_stale(ws: Workspace, now: datetime, older_than: timedelta) -> MonitorResult:
    from agentctl.registry.ready import lease_expired

    findings: list[dict[str, Any]] = []
    for task in ws.storage.registry.load().tasks:
        if task.status not in STALE_STATUSES:
            continue
        age = now - parse_iso(task.updatedAt)
        if lease_expired(task, now):  # its claimer died: the next `task next` reclaims it
            findings.append({"taskId": task.taskId, "status": task.status, "agent": task.agent,
                             "title": task.title, "blockedBy": task.blockedBy, "updatedAt": task.updatedAt,
                             "ageS": int(age.total_seconds()), "claimedBy": task.claimedBy,
                             "leaseExpiresAt": task.leaseExpiresAt, "reason": "lease expired"})
        elif age > older_than:
            findings.append({"taskId": task.taskId, "status": task.status, "agent": task.agent,
                             "title": task.title, "blockedBy": task.blockedBy, "updatedAt": task.updatedAt,
                             "ageS": int(age.total_seconds())})
    findings.sort(key=lambda f: (-f["ageS"], f["taskId"]))
    limit = _human(older_than)
    if findings:
        listed = ", ".join(f"{f['taskId']} ({f['agent'] or '-'}, {f['status']} since {f['updatedAt']}"
                           + (f", lease expired {f['leaseExpiresAt']}" if f.get("leaseExpiresAt") else "") + ")"
                           for f in findings[:10])
        more = f" and {len(findings) - 10} more" if len(findings) > 10 else ""
        message = f"{len(findings)} task(s) in progress or blocked for more than {limit}: {listed}{more}"
    else:
        message = f"no task in progress or blocked for more than {limit}"
    return MonitorResult("stale", findings, {"olderThanS": int(older_than.total_seconds()), "now": iso(now)},
                         message)


def check_breakers(ws: Workspace, now: datetime) -> MonitorResult:
    from agentctl.breakers.breaker import open_breakers

    names = sorted(open_breakers(ws, now))
    findings = [{"agent": n} for n in names]
    message = f"open circuit breaker(s): {', '.join(names)}" if names else "no open circuit breaker"
    return MonitorResult("breakers", findings, {"open": names}, message)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- running one monitor (CLI and cron) ---------------------------------------------------

ALERT_KINDS = {"disk": "disk_usage", "stale": "stale_tasks", "breakers": "breakers_open"}
ALERT_SEVERITY = {"disk": "critical", "stale": "warning", "breakers": "warning"}


def run_monitor(ws: Workspace, name: str, now: datetime, *, path: Path | None = None,
                threshold: float = DEFAULT_THRESHOLD, older_than: timedelta | None = None,
                source: str | None = None) -> MonitorResult:
    """Run one monitor; a finding raises one alert (recorded, then sent to the sinks)."""
    from agentctl.cron.alerts import raise_alert

    if name == "disk":
        result = check_disk(path or ws.root, threshold)
    elif name == "stale":
        result = check_stale(ws, now, older_than if older_than is not None else parse_duration(DEFAULT_STALE))
    elif name == "breakers":
        result = check_breakers(ws, now)
    else:
        raise UsageError(f"unknown monitor {name!r} (known: {', '.join(MONITORS)})")
    if result.findings:
        result.alert = raise_alert(ws, kind=ALERT_KINDS[name], message=result.message,
                                   source=source or f"monitor:{name}", now=now, severity=ALERT_SEVERITY[name],
                                   data={"findings": result.findings})
    return result


def monitor_from_args(ws: Workspace, name: str, args: dict[str, Any], now: datetime, source: str,
                      where: str) -> MonitorResult:
    """A cron built-in: ``args`` come from agentctl.yaml, so a bad one is a config error (78)."""
    allowed = {"disk": {"path", "threshold"}, "stale": {"older_than"}, "breakers": set()}[name]
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise ConfigError(f"agentctl.yaml [{where}.args]: unknown argument(s) {', '.join(unknown)} for "
                          f"builtin {name} (allowed: {', '.join(sorted(allowed)) or 'none'})")
    threshold = args.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"agentctl.yaml [{where}.args.threshold]: expected a number, got {threshold!r}")
    older = args.get("older_than", DEFAULT_STALE)
    if not isinstance(older, str):
        raise ConfigError(f"agentctl.yaml [{where}.args.older_than]: expected a duration like 2h, got {older!r}")
    raw_path = args.get("path")
    if raw_path is not None and not isinstance(raw_path, str):
        raise ConfigError(f"agentctl.yaml [{where}.args.path]: expected a path, got {raw_path!r}")
    path = (ws.root / Path(raw_path).expanduser()) if raw_path else None
    try:
        older_td = parse_duration(older)
    except UsageError as exc:
        raise ConfigError(f"agentctl.yaml [{where}.args.older_than]: {exc.message}") from None
    return run_monitor(ws, name, now, path=path, threshold=float(threshold), older_than=older_td, source=source)
