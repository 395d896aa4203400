"""Alerts (SPEC §8): a line in logs/alerts.jsonl first, then a webhook and/or a command;
a failing sink never loses the alert nor fails the caller; identical alerts are deduped."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import Cli

from agentctl.cron.alerts import raise_alert
from agentctl.workspace.loader import Workspace

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SECRET = "sk-ant-api03-" + "s3cr3t" * 6


class Hook:
    """A webhook on 127.0.0.1 that records each POST and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append({"path": self.path, "type": self.headers["Content-Type"],
                                      "json": json.loads(body)})
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/XXXX"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def configure(root: Path, alerts_yaml: str) -> Workspace:
    cfg = root / "agentctl.yaml"
    base = cfg.read_text().split("alerts:\n", 1)[0]
    cfg.write_text(base + "alerts:\n" + alerts_yaml, encoding="utf-8")
    return Workspace(root)


def lines(root: Path) -> list[dict]:
    path = root / "logs" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_alert_is_recorded_with_no_sink_configured(minimal_ws: Path) -> None:
    ws = Workspace(minimal_ws)
    alert = raise_alert(ws, kind="disk_usage", message="disk full", source="monitor:disk", now=T0)
    [line] = lines(minimal_ws)
    assert line["ts"] == "2026-11-26T10:00:00Z" and line["kind"] == "disk_usage" and line["message"] == "disk full"
    assert alert["sinks"] == {} and line["deduped"] is False


def test_webhook_receives_json_with_a_text_field(minimal_ws: Path, hook: Hook) -> None:
    ws = configure(minimal_ws, f"  webhook: {hook.url}\n")
    alert = raise_alert(ws, kind="stale_tasks", message="2 task(s) stale", source="monitor:stale", now=T0,
                        data={"findings": [{"taskId": "T-1"}]})
    assert alert["sinks"] == {"webhook": "ok"}
    [got] = hook.received
    assert got["type"] == "application/json" and got["path"] == "/hooks/T000/B000/XXXX"
    body = got["json"]
    assert body["text"] == "[warning] stale_tasks (monitor:stale): 2 task(s) stale"
    assert body["kind"] == "stale_tasks" and body["source"] == "monitor:stale"
    assert body["data"] == {"findings": [{"taskId": "T-1"}]} and body["ts"] == "2026-11-26T10:00:00Z"


def test_webhook_url_from_env_is_never_written(minimal_ws: Path, hook: Hook) -> None:
    ws = configure(minimal_ws, "  webhook_env: TEAM_HOOK_URL\n")
    raise_alert(ws, kind="k", message="m", source="s", now=T0, env={"TEAM_HOOK_URL": hook.url})
    assert len(hook.received) == 1
    assert "XXXX" not in (minimal_ws / "logs" / "alerts.jsonl").read_text()
    # unset: the alert is still recorded, and the missing variable is named
    raise_alert(ws, kind="k2", message="m", source="s", now=T0, env={})
    failed = [x for x in lines(minimal_ws) if x["kind"] == "sink_failed"]
    assert failed and "$TEAM_HOOK_URL is not set" in failed[0]["message"]


def test_secrets_are_redacted_in_the_file_and_the_webhook(minimal_ws: Path, hook: Hook) -> None:
    ws = configure(minimal_ws, f"  webhook: {hook.url}\n")
    raise_alert(ws, kind="run_failed", message=f"provider said: bad key {SECRET}", source="runner", now=T0,
                data={"error": f"Authorization: Bearer {SECRET}"}, env={"ANTHROPIC_API_KEY": SECRET})
    assert SECRET not in (minimal_ws / "logs" / "alerts.jsonl").read_text()
    assert SECRET not in json.dumps(hook.received)
    assert "[REDACTED]" in hook.received[0]["json"]["text"]


@pytest.mark.parametrize("status", [500, 404])
def test_failing_webhook_keeps_the_alert_and_does_not_raise(minimal_ws: Path, hook: Hook, status: int) -> None:
    hook.status = status
    ws = configure(minimal_ws, f"  webhook: {hook.url}\n")
    alert = raise_alert(ws, kind="disk_usage", message="full", source="monitor:disk", now=T0)
    assert alert["sinks"] == {"webhook": "failed"}
    first, failed = lines(minimal_ws)
    assert first["kind"] == "disk_usage"
    assert failed["kind"] == "sink_failed" and failed["sink"] == "webhook" and failed["alertKey"] == first["key"]
    assert f"HTTP {status}" in failed["message"] and "XXXX" not in failed["message"]


def test_unreachable_webhook_is_a_sink_failure(minimal_ws: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook-secret-path"
    ws = configure(minimal_ws, f"  webhook: {url}\n")
    alert = raise_alert(ws, kind="k", message="m", source="s", now=T0)
    assert alert["sinks"] == {"webhook": "failed"}
    assert "hook-secret-path" not in (minimal_ws / "logs" / "alerts.jsonl").read_text()


def test_a_monitor_with_a_failing_sink_still_exits_1_not_crash(minimal_ws: Path) -> None:
    configure(minimal_ws, f"  webhook: http://127.0.0.1:{free_port()}/x\n  command: [\"false\"]\n")
    res = Cli(minimal_ws)("monitor", "disk", "--threshold", "0.001")
    assert res.exit_code == 1
    kinds = [x["kind"] for x in lines(minimal_ws)]
    assert kinds == ["disk_usage", "sink_failed", "sink_failed"]


SINK = """
import json, sys
alert = json.load(sys.stdin)
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps(alert) + "\\n")
"""


def test_command_receives_the_alert_json_on_stdin(minimal_ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "got.jsonl"
    script = tmp_path / "sink.py"
    script.write_text(SINK)
    ws = configure(minimal_ws, f"  command: [{json.dumps(sys.executable)}, {json.dumps(str(script))}, "
                               f"{json.dumps(str(out))}]\n")
    alert = raise_alert(ws, kind="breakers_open", message="open: jack", source="monitor:breakers", now=T0)
    assert alert["sinks"] == {"command": "ok"}
    got = json.loads(out.read_text())
    assert got["kind"] == "breakers_open" and got["text"].endswith("open: jack")


def test_failing_command_is_recorded_and_swallowed(minimal_ws: Path) -> None:
    ws = configure(minimal_ws, f"  command: [{json.dumps(sys.executable)}, \"-c\", \"import sys; "
                               f"sys.stderr.write('nope'); sys.exit(3)\"]\n")
    alert = raise_alert(ws, kind="k", message="m", source="s", now=T0)
    assert alert["sinks"] == {"command": "failed"}
    assert lines(minimal_ws)[-1]["message"] == "alert command exited 3: nope"
    ws2 = configure(minimal_ws, "  command: [\"/no/such/program\"]\n")
    assert raise_alert(ws2, kind="k3", message="m", source="s", now=T0)["sinks"] == {"command": "failed"}


def test_identical_alerts_within_dedupe_are_recorded_but_sent_once(minimal_ws: Path, hook: Hook) -> None:
    ws = configure(minimal_ws, f"  webhook: {hook.url}\n  dedupe_s: 600\n")
    send = dict(kind="disk_usage", message="disk 91% full", source="monitor:disk")
    assert raise_alert(ws, now=T0, **send)["deduped"] is False
    assert raise_alert(ws, now=T0 + timedelta(minutes=5), **send)["deduped"] is True
    assert raise_alert(ws, now=T0 + timedelta(minutes=6), kind="disk_usage", message="disk 95% full",
                       source="monitor:disk")["deduped"] is False          # another message: sent
    assert raise_alert(ws, now=T0 + timedelta(minutes=6), kind="disk_usage", message="disk 91% full",
                       source="cron:other")["deduped"] is False            # another source: sent
    assert raise_alert(ws, now=T0 + timedelta(minutes=11), **send)["deduped"] is False   # window over
    assert len(lines(minimal_ws)) == 5                                       # every alert recorded
    assert [r["json"]["message"] for r in hook.received] == ["disk 91% full", "disk 95% full",
                                                               "disk 91% full", "disk 91% full"]


def test_when_every_sink_failed_the_next_identical_alert_is_sent(minimal_ws: Path, hook: Hook) -> None:
    ws = configure(minimal_ws, f"  webhook: {hook.url}\n  dedupe_s: 3600\n")
    hook.status = 503
    raise_alert(ws, kind="k", message="m", source="s", now=T0)
    hook.status = 200
    again = raise_alert(ws, kind="k", message="m", source="s", now=T0 + timedelta(minutes=1))
    assert again["deduped"] is False and again["sinks"] == {"webhook": "ok"}
    assert len(hook.received) == 2


def test_corrupt_dedupe_state_still_sends_and_is_not_overwritten(minimal_ws: Path, hook: Hook) -> None:
    ws = configure(minimal_ws, f"  webhook: {hook.url}\n")
    state = minimal_ws / "state" / "alerts.json"
    state.write_text("{not json")
    alert = raise_alert(ws, kind="k", message="m", source="s", now=T0)
    assert alert["sinks"] == {"webhook": "ok"} and "corrupt" in alert["dedupeError"]
    assert state.read_text() == "{not json"


def test_webhook_must_be_http(minimal_ws: Path) -> None:
    ws = configure(minimal_ws, "  webhook: file:///etc/passwd\n")
    alert = raise_alert(ws, kind="k", message="m", source="s", now=T0)
    assert alert["sinks"] == {"webhook": "failed"}
    assert "http(s)" in lines(minimal_ws)[-1]["message"]


def test_cron_job_outcome_is_not_changed_by_a_failing_sink(minimal_ws: Path) -> None:
    cfg = minimal_ws / "agentctl.yaml"
    cfg.write_text(cfg.read_text().replace("cron: []\n", "cron:\n  - {name: ok-job, schedule: '0 * * * *', "
                                                          "builtin: breakers}\n")
                   + f"alerts:\n  webhook: http://127.0.0.1:{free_port()}/x\n")
    res = Cli(minimal_ws)("cron", "run", "ok-job", env={"AGENTCTL_NOW": "2026-11-26T10:00:00Z"})
    assert res.exit_code == 0
