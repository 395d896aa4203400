"""Review verdicts belong to the reviewed work (SPEC §13): a review requesting changes is the
reviewer's success and sends the code back to its producer, whose next prompt carries the requests."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, Cli, write_agent

CODER = """\
import json, os
prompt = open(os.environ["AGENTCTL_PROMPT_FILE"]).read()
with open("jack-prompts.log", "a") as fh:
    fh.write(prompt + "\\n=====\\n")
json.dump({"pr": "https://example.com/pr/1", "build": {"status": "passed"}, "criticalTodos": []},
          open(os.environ["AGENTCTL_OUTPUT"], "w"))
"""
# each verdict script answers from a queue of verdicts, one per run
VERDICT = """\
import json, os, sys
queue = sys.argv[1]
answers = json.load(open(queue))
json.dump(answers.pop(0), open(os.environ["AGENTCTL_OUTPUT"], "w"))
json.dump(answers, open(queue, "w"))
"""
CHANGES = {"approved": False, "reviewer": "kai",
           "openRevisionRequests": [{"file": "src/login.py:12", "comment": "hash the password before storing it"}]}
APPROVED = {"approved": True, "reviewer": "kai", "openRevisionRequests": []}
QA_BUGS = {"certified": False, "testPlan": {"executed": True, "criticalPaths": ["login"]},
           "bugs": [{"id": "BUG-7", "severity": "critical", "title": "login crashes on empty password"}]}
QA_OK = {"certified": True, "testPlan": {"executed": True, "criticalPaths": ["login"]}, "bugs": []}


def make_ws(root: Path, stages: list[dict], queues: dict[str, list]) -> Cli:
    for name in ("code", "review", "qa"):
        shutil.copy(REPO / "schemas" / f"{name}.json", root / "schemas" / f"{name}.json")
    cfg = yaml.safe_load((root / "agentctl.yaml").read_text())
    cfg["pipeline"] = stages
    (root / "agentctl.yaml").write_text(yaml.safe_dump(cfg))
    (root / "coder.py").write_text(CODER)
    (root / "verdict.py").write_text(VERDICT)
    write_agent(root, "jack", yaml.safe_dump({"name": "jack", "role": "code", "runtime": "command",
                                              "command": [sys.executable, "coder.py"], "produces": "code"}))
    for name, produces in (("kai", "review"), ("quinn", "qa")):
        (root / f"{name}.json").write_text(json.dumps(queues.get(name, [])))
        write_agent(root, name, yaml.safe_dump({"name": name, "role": produces, "runtime": "command",
                                                "command": [sys.executable, "verdict.py", f"{name}.json"],
                                                "produces": produces}))
    return Cli(root)


def tasks(root: Path) -> dict[str, dict]:
    return {t["taskId"]: t for t in json.loads((root / "tasks.json").read_text())["tasks"]}


def records(root: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((root / "logs" / "runs").glob("*.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]


def work(cli: Cli, agent: str) -> None:
    res = cli("work", agent, "--until-idle", "--poll", "0")
    assert res.exit_code == 0, res.stderr + res.stdout


CODE_REVIEW = [{"stage": "code", "agent": "jack", "produces": "code"},
               {"stage": "review", "agent": "kai", "consumes": "code", "produces": "review"}]


def test_a_review_requesting_changes_sends_the_code_back_and_is_the_reviewers_success(minimal_ws: Path) -> None:
    cli = make_ws(minimal_ws, CODE_REVIEW, {"kai": [CHANGES, APPROVED]})
    code = cli("task", "add", "--title", "login", "--agent", "jack", "--phase", "code").stdout.strip()
    work(cli, "jack")
    [review] = [t for t in tasks(minimal_ws).values() if t["agent"] == "kai"]
    work(cli, "kai")
    state = tasks(minimal_ws)
    back = state[code]
    assert back["status"] == "rejected" and back["claimedBy"] is None
    rej = back["rejections"][-1]
    assert rej["by"] == "kai" and rej["errors"][0]["path"] == "src/login.py:12"
    assert "hash the password" in rej["errors"][0]["message"] and back["blockedBy"].startswith("kai — ")
    assert state[review["taskId"]]["status"] == "todo"  # reviews again after the rework
    assert cli("task", "next", "--agent", "jack").stdout.strip() == code

    work(cli, "jack")  # the rework: its prompt carries the reviewer's request
    prompts = (minimal_ws / "jack-prompts.log").read_text().split("=====")
    assert "hash the password" not in prompts[0] and "hash the password before storing it" in prompts[1]
    assert "src/login.py:12" in prompts[1]
    work(cli, "kai")
    state = tasks(minimal_ws)
    assert state[code]["status"] == "done" and state[review["taskId"]]["status"] == "done"
    assert len(state) == 2  # the review task was reused, not duplicated

    kai_runs = [r for r in records(minimal_ws) if r["agent"] == "kai"]
    assert [r["status"] for r in kai_runs] == ["success", "success"]
    card = cli("scorecard", "--days", "1", "--format", "json")
    assert card.exit_code == 0, card.stderr
    [kai] = [a for a in json.loads(card.stdout)["agents"] if a["agent"] == "kai"]
    assert kai["successes"] == 2 and kai["failures"] == 0 and kai["successRate"] == 1.0


def test_qa_with_critical_bugs_sends_the_code_back_past_the_review(minimal_ws: Path) -> None:
    stages = [*CODE_REVIEW, {"stage": "qa", "agent": "quinn", "consumes": "review", "produces": "qa"}]
    cli = make_ws(minimal_ws, stages, {"kai": [APPROVED, APPROVED], "quinn": [QA_BUGS, QA_OK]})
    code = cli("task", "add", "--title", "login", "--agent", "jack", "--phase", "code").stdout.strip()
    for agent in ("jack", "kai", "quinn"):
        work(cli, agent)
    state = tasks(minimal_ws)
    assert state[code]["status"] == "rejected"
    assert "critical bug BUG-7" in state[code]["rejections"][-1]["errors"][0]["message"]
    assert {t["agent"]: t["status"] for t in state.values() if t["taskId"] != code} == {"kai": "todo", "quinn": "todo"}
    for agent in ("jack", "kai", "quinn"):
        work(cli, agent)
    assert {t["status"] for t in tasks(minimal_ws).values()} == {"done"} and len(tasks(minimal_ws)) == 3
    assert {r["status"] for r in records(minimal_ws) if r["agent"] == "quinn"} == {"success"}


@pytest.fixture
def gated(minimal_ws: Path) -> Cli:
    return make_ws(minimal_ws, [{"stage": "code", "agent": "jack", "produces": "code", "gate": True}], {})


def test_gate_reject_sends_the_work_back_with_the_reason(gated: Cli, minimal_ws: Path) -> None:
    code = gated("task", "add", "--title", "login", "--agent", "jack", "--phase", "code").stdout.strip()
    work(gated, "jack")
    assert tasks(minimal_ws)[code]["status"] == "review"
    res = gated("gate", "reject", code, "--by", "alice", "--reason", "use the design system buttons",
                env={"AGENTCTL_AGENT": "jack"})
    assert res.exit_code == 2 and "for humans" in res.stderr
    res = gated("gate", "reject", code, "--by", "alice", "--reason", "use the design system buttons", "--json")
    assert res.exit_code == 0, res.stderr
    assert res.json()["status"] == "rejected" and res.json()["gate"] == "rejected"
    task = tasks(minimal_ws)[code]
    assert task["rejections"][-1]["by"] == "alice" and task["blockedBy"] == "alice — use the design system buttons"
    work(gated, "jack")
    assert "use the design system buttons" in (minimal_ws / "jack-prompts.log").read_text().split("=====")[1]
    assert tasks(minimal_ws)[code]["status"] == "review" and tasks(minimal_ws)[code]["gate"] == "pending"
    res = gated("gate", "reject", code, "--by", "alice", "--reason", " ")
    assert res.exit_code == 2
