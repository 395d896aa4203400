"""Output is inert (agentctl.core.inert): no control character, escape sequence or bidi
override from data reaches stdout of a printing command; rich markup in data is shown, not
interpreted; the markdown scorecard is HTML-escaped; `--json` stays exact JSON.

Checked once by hand with the protection off: with ``inert`` returning its input the
hypothesis, gate and sanitizer tests fail (a failing example at once); with the scorecard's
``_clean`` and ``Text`` cells off the scorecard test fails.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO, Cli
from fixtures_reliability import ARTIFACT_CMD, make_rel_ws
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = "\x1b]52;c;aGVsbG8=\x07 \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ \x1b[2J\x1b[H \r\x00\x07 \u202e gnp.exe"
CONTROL = st.sampled_from(["\x1b", "\x07", "\x00", "\r", "\x9b", "\x85", "\u202e", "\u2066", "\x1b]52;c;", "\x1b[2J",
                           "\x7f", "\x08", "\x0b", "\x0c"])
TEXT = st.lists(st.one_of(CONTROL, st.text(alphabet="abc []\t", max_size=4)), min_size=1, max_size=8).map("".join)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_rel_ws(tmp_path / "ws")


PRINTING = [["status"], ["task", "list"], ["task", "show", "{tid}"], ["blocked"], ["gate", "list"],
            ["task", "list", "--all"], ["task", "update", "{tid}", "--pr", "{text}"], ["agents", "list"]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_no_control_character_reaches_stdout(ws: Path, text: str) -> None:
    cli = Cli(ws)
    res = cli("task", "add", "--title", f"t {text}", "--agent", "cmd", "--product", text, "--json")
    assert res.exit_code == 0
    tid = res.json()["taskId"]
    assert res.json()["title"] == f"t {text}"  # --json: exact JSON, the same value
    assert cli("task", "block", tid, "--by", text).exit_code == 0
    for argv in PRINTING:
        out = cli(*(a.format(tid=tid, text=text) for a in argv))
        assert out.exit_code in (0, 1), (argv, out.stderr)
        assert not UNSAFE.search(out.stdout), (argv, out.stdout)
        assert not UNSAFE.search(out.stderr), (argv, out.stderr)
    raw = cli("task", "show", tid, "--json")  # exact JSON: escaped on the wire, the same value parsed
    assert not UNSAFE.search(raw.stdout.replace("\n", "")) and raw.json()["blockedBy"] == text


def test_hostile_task_text_at_a_gate(tmp_path: Path) -> None:
    agents = {"designer": {"name": "designer", "runtime": "command", "command": ARTIFACT_CMD, "produces": "design"}}
    root = make_rel_ws(tmp_path / "ws", agents=agents,
                       pipeline=[{"stage": "design", "agent": "designer", "produces": "design", "gate": True}])
    shutil.rmtree(root / "schemas")
    shutil.copytree(REPO / "schemas", root / "schemas")
    cli = Cli(root)
    assert cli("task", "add", "--title", HOSTILE, "--agent", "designer", "--phase", "design").exit_code == 0
    design = REPO / "tests" / "fixtures" / "artifacts" / "design.valid.json"
    assert cli("handoff", "T-1", "--artifact", str(design)).exit_code == 0
    for argv in (["gate", "list"], ["status"], ["task", "show", "T-1"], ["task", "list"]):
        out = cli(*argv)
        assert out.exit_code == 0 and not UNSAFE.search(out.stdout), (argv, out.stdout)
        assert "\\u001b]52" in out.stdout or argv == ["status"]
    rows = cli("gate", "list", "--json").json()
    assert rows[0]["title"] == HOSTILE


def _scorecard_ws(tmp_path: Path) -> Path:
    team = "[bold red]ops[/bold red]<img src=x onerror=alert(1)>"
    agents = {"evil": {"name": "evil", "team": team, "role": "ops", "runtime": "command",
                       "command": ["sh", "-c", "echo '<script>alert(1)</script>'; exit 1"]}}
    root = make_rel_ws(tmp_path / "ws", agents=agents)
    cli = Cli(root)
    for _ in range(3):
        cli("run", "evil", "--prompt", "x")
    return root


def test_the_scorecard_never_reads_data_as_markup_or_html(tmp_path: Path) -> None:
    root = _scorecard_ws(tmp_path)
    cli = Cli(root)
    table = cli("scorecard", "--days", "1", env={"COLUMNS": "400"})  # wide enough to show the Team column
    assert table.exit_code == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.lstrip().startswith("evil ")]
    assert rows and all("[bold red]ops" in line for line in rows), table.stdout  # shown, not styled
    md = cli("scorecard", "--days", "1", "--format", "markdown")
    assert md.exit_code == 0
    assert "<img" not in md.stdout and "<script>" not in md.stdout and "&lt;img" in md.stdout
    html = cli("scorecard", "--days", "1", "--format", "html")
    assert "<img src=x" not in html.stdout and "<script>alert" not in html.stdout
    data = cli("scorecard", "--days", "1", "--json").json()
    assert data["agents"][0]["team"].startswith("[bold red]")


def test_the_sanitizer_itself() -> None:
    from agentctl.core.inert import html, inert

    assert inert("a\tb\nc") == "a\tb\nc"
    assert inert("\x1b[2J\u202e\x85") == "\\u001b[2J\\u202e\\u0085"
    assert json.loads('"' + inert("\x1b\u202e") + '"') == "\x1b\u202e"  # the escape is valid JSON too
    assert html("<b>\x07") == "&lt;b&gt;\\u0007"
