"""Fixtures for runner/provider tests: the local model server and a workspace wired to it.

``llm_ws`` is a workspace whose tiers all point at the scripted server (Anthropic
tiers at ``srv.base_url``, OpenAI-compatible tiers at ``srv.openai_base_url``), with
the studio's contracts in ``schemas/`` and a test key in the environment — never a
real one. ``llm_ws.run(...)`` calls the runner in-process with that environment.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentctl.demo.server import ModelServer

REPO = Path(__file__).resolve().parent.parent
TEST_KEY = "test-key"

CONFIG = """\
version: 1
task_prefix: T
tiers:
  premium: {{provider: anthropic, model: claude-opus-4-6, base_url: "{a}", fallback: [{{provider: anthropic, model: claude-sonnet-4-6, base_url: "{a}"}}]}}
  standard: {{provider: anthropic, model: claude-sonnet-4-6, base_url: "{a}", fallback: [{{provider: anthropic, model: claude-haiku-4-5, base_url: "{a}"}}]}}
  economy: {{provider: anthropic, model: claude-haiku-4-5, base_url: "{a}"}}
  gpt: {{provider: openai, model: gpt-4o-mini, base_url: "{o}"}}
  local: {{provider: openai, model: local-llama, base_url: "{o}"}}
  vendor: {{provider: anthropic, model: claude-haiku-4-5, base_url: "{a}", api_key_env: VENDOR_CRED}}
roles: {{}}
{extra}
"""

AGENTS = {
    "vivi": "name: vivi\nteam: product\nrole: design\ntier: standard\nprompt: You design screens.\nproduces: design\n",
    "writer": "name: writer\nteam: ops\nrole: ops\ntier: economy\nprompt: You write briefings.\n",
    "coder": "name: coder\nteam: product\nrole: code\ntier: gpt\nprompt: You write code.\nconsumes: design\nproduces: code\n",
    "llama": "name: llama\nteam: ops\nrole: ops\ntier: local\nprompt: You summarise.\n",
    "seo": "name: seo\nteam: marketing\nrole: marketing\ntier: premium\nprompt: You do SEO.\n",
}


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCTL_") and not k.endswith("_API_KEY")}
    env.update(ANTHROPIC_API_KEY=TEST_KEY, OPENAI_API_KEY=TEST_KEY, AGENTCTL_MAX_RETRY_WAIT="0.02")
    env.update(extra)
    return env


@dataclass
class LlmWs:
    root: Path
    srv: ModelServer
    env: dict[str, str] = field(default_factory=base_env)
    sleeps: list[float] = field(default_factory=list)

    def write_config(self, extra: str = "") -> None:
        (self.root / "agentctl.yaml").write_text(
            CONFIG.format(a=self.srv.base_url, o=self.srv.openai_base_url, extra=extra), encoding="utf-8")

    def agent(self, name: str, body: str) -> None:
        (self.root / "agents" / f"{name}.yaml").write_text(body, encoding="utf-8")

    def ws(self) -> Any:
        from agentctl.workspace.loader import Workspace

        return Workspace(self.root)

    def task(self, title: str = "a task", agent: str | None = None, task_id: str | None = None,
             input: str | None = None, **fields: Any) -> str:
        from agentctl.core.clock import utcnow
        from agentctl.registry.service import NewTask, add_task

        t = add_task(self.ws(), NewTask(title=title, agent=agent, task_id=task_id, input=input, **fields),
                     "test", utcnow())
        return t.taskId

    def run(self, agent: str, task: str | None = None, prompt: str | None = None, input_file: str | None = None,
            key: str | None = None, env: dict[str, str] | None = None, **req: Any) -> Any:
        from agentctl.core.clock import utcnow
        from agentctl.run.runner import RunRequest, run_agent

        return run_agent(self.ws(), RunRequest(agent=agent, task_id=task, prompt=prompt, input_file=input_file,
                                               idempotency_key=key, **req),
                         utcnow, env=env or self.env, sleep=self.sleeps.append)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted((self.root / "logs" / "runs").glob("*.jsonl")):
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return out

    def get_task(self, task_id: str) -> Any:
        from agentctl.registry.service import find_task

        return find_task(self.ws(), task_id)

    def write_json(self, rel: str, data: Any) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")
        return path


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    with ModelServer() as srv:
        yield srv


@pytest.fixture
def llm_ws(tmp_path: Path, model_server: ModelServer) -> LlmWs:
    from agentctl.workspace.templates import init_workspace

    root = tmp_path / "llm"
    init_workspace(root, "minimal", force=False)
    shutil.rmtree(root / "schemas", ignore_errors=True)
    shutil.copytree(REPO / "schemas", root / "schemas")
    lw = LlmWs(root, model_server)
    lw.write_config()
    for name, body in AGENTS.items():
        lw.agent(name, body)
    return lw


def valid_artifact(kind: str) -> Any:
    """A known-good artifact of the studio's contract ``kind`` (tests/fixtures/artifacts)."""
    return json.loads((REPO / "tests" / "fixtures" / "artifacts" / f"{kind}.valid.json").read_text())
