"""One scenario through the installed CLI on both storage backends, compared (SPEC §12).

A fresh workspace per backend (files; PostgreSQL on a fresh database), the same commands in
the same order as separate processes: add tasks with a dependency, `task next`, `run` a
command agent on a task, `runs`, `runs --running`, `work --until-idle`, `status`, `blocked`,
`breaker trip/list/reset`, `cron run` of a job twice (one slot: the second is a duplicate),
`cron coverage`, `scorecard`, `task archive`, `task list --all`. Every exit code must match,
and every JSON answer must be the same once times, run ids and durations are masked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_installed

from agentctl.workspace.templates import init_workspace

AGENTS = {
    "maker": 'name: maker\nruntime: command\ncommand: ["sh", "-c", "echo \'{\\"ok\\": true}\' > \\"$AGENTCTL_OUTPUT\\""]\n',
    "pinger": 'name: pinger\nruntime: command\ncommand: ["true"]\n',
}
CRON = '\ncron:\n  - {name: ping, schedule: "0 * * * *", tz: UTC, agent: pinger, prompt: "ping"}\n'
NOW = "2026-12-03T10:30:00Z"
LATER = "2026-12-03T11:00:00Z"  # the runs started at NOW plus their own time: a window ending later holds them
MASK = re.compile(r'"(ts|at|startedAt|endedAt|createdAt|updatedAt|leaseExpiresAt|start|end|since|'
                  r'runId|claimRun|bytes|files|[A-Za-z]*[dD]urationS|lastRunAt|lastFailureAt|openedAt|retryAt|output|artifact)": '
                  r'("[^"]*"|[0-9.e-]+)')


def _workspace(root: Path, backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    init_workspace(root, "minimal", force=False)
    for name, body in AGENTS.items():
        (root / "agents" / f"{name}.yaml").write_text(body)
    text = (root / "agentctl.yaml").read_text().replace("cron: []\n", "")
    (root / "agentctl.yaml").write_text(text + CRON)
    env: dict[str, str] = {}
    if backend == "postgres":
        env["AGENTCTL_PG_DSN"] = request.getfixturevalue("pg_dsn")
        with (root / "agentctl.yaml").open("a", encoding="utf-8") as fh:
            fh.write("\nstorage:\n  backend: postgres\n  dsn_env: AGENTCTL_PG_DSN\n")
        res = run_installed("-w", str(root), "storage", "init", env=env)
        assert res.exit_code == 0, res.stderr
        (root / "tasks.json").unlink(missing_ok=True)
    return env


STEPS: list[tuple[str, ...]] = [
    ("task", "add", "--title", "one", "--agent", "maker"),
    ("task", "add", "--title", "two", "--agent", "maker", "--depends-on", "T-1"),
    ("task", "add", "--title", "three", "--agent", "maker"),
    ("task", "next", "--agent", "maker", "--json"),
    ("run", "maker", "--task", "T-1"),
    ("task", "show", "T-1", "--json"),
    ("runs", "--running", "--json"),
    ("task", "block", "T-3", "--by", "waiting on legal"),
    ("blocked", "--json"),
    ("work", "maker", "--until-idle", "--poll", "0"),
    ("task", "list", "--json"),
    ("status", "--json"),
    ("runs", "--json"),
    ("breaker", "trip", "maker"),
    ("breaker", "list", "--json"),
    ("run", "maker", "--prompt", "refused by the open breaker"),
    ("breaker", "reset", "maker"),
    ("cron", "run", "ping"),
    ("cron", "run", "ping", "--scheduled"),
    ("cron", "run", "ping", "--scheduled"),
    ("cron", "coverage", "--days", "1", "--now", LATER, "--json"),
    ("scorecard", "--days", "7", "--now", LATER, "--json"),
    ("task", "update", "T-3", "--status", "cancelled"),
    ("task", "archive", "--older-than", "0d"),
    ("task", "list", "--all", "--json"),
]


def _normal(out: str) -> Any:
    try:
        data = json.loads(out)
    except ValueError:
        return None  # human output: only the exit code is compared
    masked = MASK.sub(lambda m: f'"{m.group(1)}": "*"', json.dumps(data, sort_keys=True))
    return json.loads(masked)


def _play(root: Path, env: dict[str, str]) -> list[tuple[tuple[str, ...], int, Any]]:
    env = {**env, "AGENTCTL_NOW": NOW}
    out = []
    for step in STEPS:
        res = run_installed("-w", str(root), *step, env=env)
        out.append((step, res.exit_code, _normal(res.stdout)))
        assert res.exit_code != 70, (step, res.stderr)  # never an internal error
    return out


def test_the_same_commands_give_the_same_answers_on_both_backends(tmp_path: Path, request) -> None:
    files = _play(tmp_path / "files", _workspace(tmp_path / "files", "files", request))
    pg_root = tmp_path / "pg"
    pg = _play(pg_root, _workspace(pg_root, "postgres", request))
    for (step, code_f, json_f), (_, code_p, json_p) in zip(files, pg, strict=True):
        assert code_p == code_f, f"{' '.join(step)}: exit {code_p} on PostgreSQL, {code_f} on files"
        assert json_p == json_f, f"{' '.join(step)}: answers differ"
    by_step = {step: (code, data) for step, code, data in files}
    assert by_step[("run", "maker", "--task", "T-1")][0] == 0
    assert by_step[("runs", "--running", "--json")][1] == []
    assert by_step[("run", "maker", "--prompt", "refused by the open breaker")][0] != 0
    assert by_step[("cron", "run", "ping", "--scheduled")][0] == 0
    card = by_step[("scorecard", "--days", "7", "--now", LATER, "--json")][1]
    assert card["totals"]["runs"] >= 4 and {a["agent"] for a in card["agents"]} >= {"maker", "pinger"}
    done = [t for t in by_step[("task", "list", "--json")][1] if t["status"] == "done"]
    assert {t["taskId"] for t in done} == {"T-1", "T-2"}
    assert not list(pg_root.glob("tasks.json")) and not (pg_root / "logs" / "runs").exists()
