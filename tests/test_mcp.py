"""`agentctl mcp` end to end (SPEC §14), through the SDK's own stdio client: spawn the installed
`agentctl mcp`, list the tools, call each, check the workspace; gate approval refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import REPO, Cli

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from agentctl.mcp.tools import TOOL_NAMES  # noqa: E402

ARTIFACTS = REPO / "tests" / "fixtures" / "artifacts"
NOW = "2026-11-30T10:00:00Z"


def session(root: Path, *args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "agentctl", "-w", str(root), "mcp", *args],
                                 env=env or {})  # a real clock: updatedAt is the version until tasks carry one


def call_all(params: StdioServerParameters, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """(tools listed, results of each call) in one session."""
    async def go() -> tuple[list[Any], list[Any]]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            tools = (await s.list_tools()).tools
            return tools, [await s.call_tool(name, args) for name, args in calls]
    return anyio.run(go)


def call(root: Path, name: str, args: dict[str, Any] | None = None, *extra: str) -> Any:
    return call_all(session(root, *extra), [(name, args or {})])[1][0]


def tasks(root: Path) -> dict[str, dict]:
    return {t["taskId"]: t for t in json.loads((root / "tasks.json").read_text())["tasks"]}


def test_tools_listed_with_output_schemas_and_subset(studio_ws: Path) -> None:
    tools, _ = call_all(session(studio_ws, "--agent", "rex"), [])
    assert [t.name for t in tools] == list(TOOL_NAMES)
    assert all(t.output_schema and t.description for t in tools)
    next_schema = next(t for t in tools if t.name == "task_next").output_schema
    assert {"task", "version"} <= set(next_schema["properties"])
    subset, _ = call_all(session(studio_ws, env={"AGENTCTL_MCP_TOOLS": "status,blocked"}), [])
    assert [t.name for t in subset] == ["status", "blocked"]


def test_registry_tools_end_to_end(studio_ws: Path) -> None:
    cli = Cli(studio_ws)
    tid = cli("task", "add", "--title", "Research the market", "--agent", "rex", env={"AGENTCTL_NOW": NOW}).stdout.strip()
    other = cli("task", "add", "--title", "Other", "--agent", "vivi").stdout.strip()
    _, res = call_all(session(studio_ws, "--agent", "rex"), [
        ("task_next", {}),
        ("task_show", {"task_id": tid}),
        ("task_next", {}),  # nothing else ready for rex
        ("task_release", {"task_id": other}),  # vivi's task is not claimed: releasing it changes nothing
        ("task_next", {"agent": "vivi"}),  # refused: this server acts for rex
    ])
    claimed, shown, nothing, _, as_vivi = res
    assert not claimed.is_error and claimed.structured_content["task"]["taskId"] == tid
    assert tasks(studio_ws)[tid]["claimedBy"] == "rex" and tasks(studio_ws)[tid]["status"] == "in_progress"
    version = shown.structured_content["version"]
    assert shown.structured_content["task"]["claimedBy"] == "rex"
    assert nothing.structured_content["task"] is None
    assert as_vivi.is_error and "acts for agent rex" in as_vivi.content[0].text

    _, res = call_all(session(studio_ws, "--agent", "rex"), [
        ("task_update", {"task_id": tid, "expected_version": version, "phase": "research", "checks": {"qa": "n/a"}}),
        ("task_update", {"task_id": tid, "expected_version": version, "phase": "other"}),  # stale now
    ])
    updated, stale = res
    assert not updated.is_error and updated.structured_content["task"]["checks"]["qa"] == "n/a"
    assert stale.is_error and "conflict (5)" in stale.content[0].text
    assert tasks(studio_ws)[tid]["phase"] == "research"

    blocked = call(studio_ws, "task_block", {"task_id": tid, "by": "pia — missing the market size"}, "--agent", "rex")
    assert blocked.structured_content["task"]["status"] == "blocked"
    chain = call(studio_ws, "blocked", {}, "--agent", "rex").structured_content["tasks"]
    assert chain[0]["taskId"] == tid and chain[0]["blockedBy"] == "pia — missing the market size"
    board = call(studio_ws, "status", {}, "--agent", "rex").structured_content
    assert board["counts"]["blocked"] == 1 and board["blocked"][0]["taskId"] == tid
    assert cli("task", "unblock", tid).exit_code == 0
    released = call(studio_ws, "task_release", {"task_id": tid}, "--agent", "rex")
    assert released.structured_content["task"]["claimedBy"] is None and tasks(studio_ws)[tid]["status"] == "todo"


def test_handoff_and_the_gate_refusal(studio_ws: Path) -> None:
    cli = Cli(studio_ws)
    tid = cli("task", "add", "--title", "Research", "--agent", "rex", "--phase", "research").stdout.strip()
    folder = studio_ws / "artifacts" / tid
    folder.mkdir(parents=True)
    shutil.copy(ARTIFACTS / "research.valid.json", folder / "research.json")
    res = call(studio_ws, "handoff", {"task_id": tid}, "--agent", "rex")
    assert not res.is_error, res.content
    out = res.structured_content
    assert out["valid"] and out["status"] == "done" and out["next"]["agent"] == "pia" and len(out["created"]) == 1
    prd = out["created"][0]
    assert tasks(studio_ws)[prd]["agent"] == "pia" and tasks(studio_ws)[prd]["dependsOn"] == [tid]
    # pia's stage is gated: a valid PRD waits for a human; pia cannot approve it through MCP
    (studio_ws / "artifacts" / prd).mkdir(parents=True)
    shutil.copy(ARTIFACTS / "prd.valid.json", studio_ws / "artifacts" / prd / "prd.json")
    assert call(studio_ws, "handoff", {"task_id": prd}, "--agent", "pia").structured_content["status"] == "review"
    version = call(studio_ws, "task_show", {"task_id": prd}, "--agent", "pia").structured_content["version"]
    refused = call(studio_ws, "task_update", {"task_id": prd, "expected_version": version, "status": "done"},
                   "--agent", "pia")
    assert refused.is_error and "refused inside agent process pia" in refused.content[0].text  # the agent policy
    assert tasks(studio_ws)[prd]["status"] == "review" and tasks(studio_ws)[prd]["gate"] == "pending"
    invalid = call(studio_ws, "handoff", {"task_id": "nope"}, "--agent", "pia")
    assert invalid.is_error and "usage error (2)" in invalid.content[0].text


def test_report_usage_is_a_run_record(studio_ws: Path) -> None:
    _, res = call_all(session(studio_ws, "--agent", "nico"), [
        ("report_usage", {"model": "claude-sonnet-4-6", "provider": "anthropic", "input_tokens": 1000,
                          "output_tokens": 100, "cost_usd": 0.25}),
        ("report_usage", {"model": "claude-sonnet-4-6", "provider": "anthropic", "input_tokens": 1000,
                          "output_tokens": 100}),
        ("report_usage", {"model": "no-such-model", "input_tokens": 5, "output_tokens": 5}),
    ])
    reported, computed, unpriced = (r.structured_content for r in res)
    assert reported["costSource"] == "reported" and reported["costUsd"] == 0.25
    assert computed["costSource"] == "computed" and computed["costUsd"] == pytest.approx(1000 * 3e-6 + 100 * 15e-6)
    assert unpriced["costUsd"] is None and unpriced["costSource"] is None
    recs = [json.loads(line) for p in (studio_ws / "logs" / "runs").glob("*.jsonl") for line in p.read_text().splitlines()]
    assert [r["agent"] for r in recs] == ["nico"] * 3 and recs[0]["team"] == "product"


def test_acting_agent_from_the_environment(studio_ws: Path) -> None:
    tid = Cli(studio_ws)("task", "add", "--title", "R", "--agent", "rex").stdout.strip()
    res = call_all(session(studio_ws, env={"AGENTCTL_AGENT": "rex"}), [("task_next", {})])[1][0]
    assert res.structured_content["task"]["taskId"] == tid and tasks(studio_ws)[tid]["claimedBy"] == "rex"


def test_without_the_sdk_exit_78_names_the_extra(studio_ws: Path, tmp_path: Path) -> None:
    fake = tmp_path / "nosdk" / "mcp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no mcp here')\n")
    proc = subprocess.run([sys.executable, "-m", "agentctl", "-w", str(studio_ws), "mcp"], capture_output=True,
                          text=True, env={"PYTHONPATH": str(fake.parent), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 78 and "pip install 'agentctl[mcp]'" in proc.stderr and not proc.stdout


def test_bad_tool_subset_and_unknown_agent(studio_ws: Path) -> None:
    res = Cli(studio_ws)("mcp", env={"AGENTCTL_MCP_TOOLS": "status,gate_approve"})
    assert res.exit_code == 2 and "gate_approve" in res.stderr
    assert Cli(studio_ws)("mcp", "--agent", "nobody").exit_code == 2
    listed = Cli(studio_ws)("mcp", "--list-tools", env={"AGENTCTL_MCP_TOOLS": "task_show"})
    assert listed.exit_code == 0 and listed.stdout.split() == ["task_show"]
