"""Alerts (SPEC §8): always a line in logs/alerts.jsonl, then the configured sinks.

INTERFACE (stable; the runner, the breakers and the monitors call it):
    raise_alert(ws, kind=..., message=..., source=..., now=..., severity=..., data=...) -> dict

Order, and why:
1. decide dedupe: identical alerts (same kind + source + message) within
   ``alerts.dedupe_s`` are recorded but not sent again (state/alerts.json, under its lock);
2. append the alert to logs/alerts.jsonl — the durable record exists before any sink
   is tried, so a sink can never lose it;
3. the sinks: a webhook (a JSON POST with a Slack-compatible ``text`` field plus the
   alert's fields) and/or a command receiving the alert JSON on stdin, each with a
   short timeout. A failing sink appends a ``sink_failed`` line and never fails the
   caller (a monitor, a run); when every sink failed the dedupe claim is released so
   the next identical alert tries again.

Messages and data are redacted; the webhook URL (often a secret itself) is never
written to any file or message.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agentctl.core.clock import iso, parse_iso
from agentctl.core.config import AlertsConfig
from agentctl.core.redact import MASK, redact, redact_obj
from agentctl.errors import AgentctlError
from agentctl.workspace.loader import Workspace

WEBHOOK_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 10.0
OUTPUT_TAIL = 300


class SinkError(Exception):
    """A sink could not deliver; the message is safe to record (redacted, no URL)."""


def alert_key(kind: str, source: str, message: str) -> str:
    """What makes two alerts "identical" for dedupe."""
    return hashlib.sha256(f"{kind}\0{source}\0{message}".encode()).hexdigest()[:16]




def _config(ws: Workspace) -> tuple[AlertsConfig, str | None]:
    """The alerts config; a broken agentctl.yaml must not stop the alert line itself."""
    try:
        return ws.config.alerts, None
    except AgentctlError as exc:
        return AlertsConfig(), f"sinks not tried: {exc.message}"


# --- sinks ------------------------------------------------------------------------

def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post_webhook(url: str, payload: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT_S) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SinkError("webhook URL must be http(s)://host/...")
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (scheme checked above)
                                 headers={"Content-Type": "application/json", "User-Agent": "agentctl"})
    # A loopback hook bypasses any proxy from the environment; others follow it.
    handlers = [urllib.request.ProxyHandler({})] if _loopback(parts.hostname) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as resp:
            resp.read(4096)
    except urllib.error.HTTPError as exc:
        raise SinkError(f"webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SinkError(f"webhook unreachable ({type(exc).__name__}: {reason})".replace(url, MASK)) from None


def run_command_sink(argv: list[str], payload: dict[str, Any], timeout: float = COMMAND_TIMEOUT_S, *,
                     env: Mapping[str, str]) -> None:
    """The alert JSON on the command's stdin, through the one process runner (its own group,
    ended on timeout); its stderr's redacted tail goes into the failure message."""
    from agentctl.providers.process import Tail, run_process

    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    res = run_process(argv, env=env, timeout_s=timeout, stdin=data,
                      stdout_path=Path(os.devnull), tail=Tail(keep=4 * OUTPUT_TAIL, overlap=4096))
    if res.spawn_error is not None:
        raise SinkError(f"alert command {argv[0]!r} could not start ({res.spawn_error.strerror})")
    if res.timed_out:
        raise SinkError(f"alert command timed out after {timeout:g}s")
    if res.exit_code != 0:
        tail = res.stderr_tail.strip()[-OUTPUT_TAIL:]
        raise SinkError(f"alert command exited {res.exit_code}" + (f": {tail}" if tail else ""))


Sink = tuple[str, Callable[[dict[str, Any]], None]]


def configured_sinks(cfg: AlertsConfig, env: Mapping[str, str]) -> tuple[list[Sink], list[str]]:
    """The sinks to call, and the problems that prevent one (recorded as sink_failed)."""
    sinks: list[Sink] = []
    problems: list[str] = []
    url = cfg.webhook
    if url is None and cfg.webhook_env:
        url = env.get(cfg.webhook_env) or None
        if url is None:
            problems.append(f"webhook: ${cfg.webhook_env} is not set")
    if url:
        sinks.append(("webhook", lambda payload, u=url: post_webhook(u, payload)))  # type: ignore[misc]
    if cfg.command:
        argv = list(cfg.command)
        sinks.append(("command", lambda payload: run_command_sink(argv, payload, env=env)))
    return sinks, problems


# --- dedupe -------------------------------------------------------------------------

def _claim(ws: Workspace, key: str, now: datetime, window_s: float) -> tuple[bool, str | None]:
    """True when an identical alert was sent within the window (suppress this one).
    Otherwise claim the send for ``now``; returns the previous send time for a release.
    One entry per alert identity, expiring with its window (O(1) in the number of alerts)."""
    stamp = iso(now)
    with ws.storage.alerts.dedupe.transaction(key, now) as slot:
        entry = slot.value
        if entry and _older(entry.get("lastSentAt"), now - timedelta(seconds=window_s)):
            entry = None
        if entry and window_s > 0:
            slot.value = {**entry, "suppressed": int(entry.get("suppressed", 0)) + 1}
            return True, None
        previous = entry.get("lastSentAt") if entry else None
        slot.value = {"lastSentAt": stamp, "suppressed": 0, "expiresAt": iso(now + timedelta(seconds=window_s))}
        return False, previous


def _older(stamp: Any, horizon: datetime) -> bool:
    try:
        return not isinstance(stamp, str) or parse_iso(stamp) <= horizon
    except AgentctlError:
        return True


def _release(ws: Workspace, key: str, stamp: str) -> None:
    """Every sink failed: forget our claim so the next identical alert is sent."""
    with contextlib.suppress(AgentctlError), ws.storage.alerts.dedupe.transaction(key) as slot:
        if slot.value and slot.value.get("lastSentAt") == stamp:
            slot.value = None


# --- the entry point -----------------------------------------------------------------

def raise_alert(ws: Workspace, *, kind: str, message: str, source: str, now: datetime,
                severity: str = "warning", data: dict[str, Any] | None = None,
                env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Record an alert, then notify the configured sinks (at most once per dedupe window)."""
    env = ws.env if env is None else env
    env_d = dict(env)
    message = redact(message, env_d)
    key = alert_key(kind, source, message)
    alert: dict[str, Any] = {"ts": iso(now), "kind": kind, "severity": severity, "source": source,
                             "message": message, "data": redact_obj(data or {}, env_d), "key": key}
    cfg, config_error = _config(ws)
    if config_error:
        alert["configError"] = config_error
    sinks, problems = configured_sinks(cfg, env)
    suppressed = False
    if sinks:
        try:
            suppressed, _ = _claim(ws, key, now, cfg.dedupe_s)
        except AgentctlError as exc:  # unreadable dedupe state: better a repeat than a lost alert
            alert["dedupeError"] = redact(exc.message, env_d)
    alert["deduped"] = suppressed
    try:
        ws.storage.alerts.append(alert)
    except AgentctlError as exc:  # e.g. disk full: the sinks are then the only record, so still try them
        alert["recordError"] = exc.message
    results: dict[str, str] = {}
    for problem in problems:
        _sink_failed(ws, alert, problem.split(":", 1)[0], problem, now, env_d)
    if sinks and not suppressed:
        payload = {"text": f"[{severity}] {kind} ({source}): {message}", **alert}
        for name, send in sinks:
            try:
                send(payload)
                results[name] = "ok"
            except SinkError as exc:
                results[name] = "failed"
                _sink_failed(ws, alert, name, str(exc), now, env_d)
        if "ok" not in results.values():
            _release(ws, key, alert["ts"])
    alert["sinks"] = results
    return alert


def _sink_failed(ws: Workspace, alert: dict[str, Any], sink: str, error: str, now: datetime,
                 env: dict[str, str]) -> None:
    line = {"ts": iso(now), "kind": "sink_failed", "severity": "warning", "source": "alerts", "sink": sink,
            "alertKind": alert["kind"], "alertKey": alert["key"], "message": redact(error, env)}
    with contextlib.suppress(AgentctlError):
        ws.storage.alerts.append(line)


def read_alerts(ws: Workspace) -> list[dict[str, Any]]:
    """All alerts (tests, briefings), through the alert store; torn lines are skipped."""
    return list(ws.storage.alerts.read())
