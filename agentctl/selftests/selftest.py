"""Self-test rules that gate "done" (SPEC §7).

Rules come from ``workspace.self_tests_for(agent)`` (the role's, then the agent's).

- A command rule runs an argv list without a shell, or a string the user wrote in
  the config with ``sh -c``. Task data never reaches a command line: it travels in
  ``AGENTCTL_TASK`` / ``AGENTCTL_OUTPUT`` / ``AGENTCTL_AGENT`` / ``AGENTCTL_WORKSPACE``.
  It runs in the workspace through the one process runner (``providers.process``): its
  own session; on timeout the whole process group is ended, and whatever the rule left
  running in its group is killed when it ends. ``outputTail`` is the redacted last
  ~2000 characters of stdout and stderr.
- A check rule looks at the artifact with a JSONPath-like path (``agentctl.selftests.jsonpath``):
  ``exists`` (present and not null), ``min_items``, ``equals`` (type-strict: ``1`` is
  not ``true``), ``matches`` (``re.search`` on the text, JSON for non-strings). With a
  wildcard every value reached must pass. ``outputTail`` says what was found.

No lock is held here; ``selftest_task`` stores the report in one short transaction.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agentctl.core.clock import iso
from agentctl.core.config import AgentDef, Check, SelfTestRule
from agentctl.core.records import RuleResult, SelfTestReport
from agentctl.core.redact import redact
from agentctl.providers.process import Tail, run_process
from agentctl.selftests.jsonpath import parse, resolve
from agentctl.workspace.loader import Workspace

TAIL_CHARS = 2000
_TAIL_READ = 16384  # redact a wider window than we keep, so no secret is cut in half at the edge


@dataclass(frozen=True)
class NoArtifact:
    """Stands for the artifact when there is none to check; says why."""

    reason: str


def artifact_path(ws: Workspace, agent: AgentDef, task_id: str | None, output: str | None = None) -> Path | None:
    """The task's artifact: its ``output``, else ``artifacts/<ID>/<produces>.json``."""
    if output:
        p = Path(output)
        return p if p.is_absolute() else ws.root / p
    if task_id and agent.produces:
        return ws.artifact_dir(task_id) / f"{agent.produces}.json"
    return None


def load_artifact(ws: Workspace, path: Path | None) -> Any:
    if path is None:
        return NoArtifact("the task has no output and its agent produces no artifact kind")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return NoArtifact(f"{ws.rel(path)} does not exist")
    except (OSError, ValueError) as exc:
        return NoArtifact(f"{ws.rel(path)} is not readable JSON ({exc})")


def run_self_tests(ws: Workspace, agent: AgentDef, artifact: Any, task_id: str | None, now: datetime, *,
                   output_path: Path | None = None, env: Mapping[str, str] | None = None) -> SelfTestReport:
    """Run every rule of ``agent`` against ``artifact`` (the parsed JSON, or None / NoArtifact)."""
    out = output_path or artifact_path(ws, agent, task_id)
    if out is not None:  # the rules may write there: never through a link out of the workspace (74)
        from agentctl.storage import check_confined

        check_confined(out)
    from agentctl.providers.agent_env import agent_env
    from agentctl.tiers.routing import tier_key_values

    source = {k: v for k, v in (ws.env if env is None else env).items() if not k.startswith("AGENTCTL_")}
    # the same rule as the agent's own command (SPEC §5): its env: names, nothing else secret, no tier key
    run_env = agent_env(source, agent.env, secret_values=tier_key_values(ws.config.tiers.values(), source), extra={
        "AGENTCTL_AGENT": agent.name, "AGENTCTL_TASK": task_id or "", "AGENTCTL_WORKSPACE": str(ws.root),
        "AGENTCTL_OUTPUT": str(out) if out else ""})
    if artifact is None:
        artifact = NoArtifact("no artifact was produced")
    results = [run_rule(rule, artifact, cwd=ws.root, env=run_env) for rule in ws.self_tests_for(agent)]
    return SelfTestReport(at=iso(now), ok=all(r.ok for r in results), results=results)


def run_rule(rule: SelfTestRule, artifact: Any, *, cwd: Path, env: dict[str, str]) -> RuleResult:
    if rule.check is not None:
        start = time.monotonic()
        if isinstance(artifact, NoArtifact):
            ok, text = False, f"no artifact to check: {artifact.reason}"
        else:
            ok, text = evaluate_check(rule.check, artifact)
        return RuleResult(name=rule.name, ok=ok, durationS=round(time.monotonic() - start, 3),
                          outputTail=redact(text, env)[-TAIL_CHARS:])
    assert rule.run is not None
    return run_command(rule.name, rule.run, rule.timeout_s, cwd=cwd, env=env)


# --- command rules -------------------------------------------------------------------

def run_command(name: str, run: list[str] | str, timeout_s: float, *, cwd: Path, env: dict[str, str]) -> RuleResult:
    argv = ["sh", "-c", run] if isinstance(run, str) else list(run)
    if not argv or not argv[0]:
        return RuleResult(name=name, ok=False, outputTail="empty command")
    res = run_process(argv, cwd=cwd, env=env, timeout_s=timeout_s, tail=Tail(TAIL_CHARS, _TAIL_READ - TAIL_CHARS))
    duration = round(res.duration_s, 3)
    if res.spawn_error is not None:
        exc = res.spawn_error
        return RuleResult(name=name, ok=False, exitCode=127 if isinstance(exc, FileNotFoundError) else 126,
                          durationS=duration, outputTail=redact(_spawn_error(argv, exc), env))
    tail, code = res.output_tail, res.exit_code
    if res.timed_out:
        note = f"[agentctl] timed out after {timeout_s:g}s; killed its process group"
        return RuleResult(name=name, ok=False, exitCode=None, durationS=duration,
                          outputTail=(tail.rstrip("\n") + "\n" + note).lstrip("\n")[-TAIL_CHARS:])
    if code != 0 and not tail.strip():
        tail = f"(no output; exit code {code})"
    return RuleResult(name=name, ok=code == 0, exitCode=code, durationS=duration, outputTail=tail)


def _spawn_error(argv: list[str], exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {argv[0]!r} (is it installed and on PATH?)"
    if isinstance(exc, PermissionError):
        return f"not executable: {argv[0]!r} (permission denied)"
    return f"cannot start {argv[0]!r}: {exc.strerror or exc}"


# --- check rules ---------------------------------------------------------------------

def _preview(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _same(a: Any, b: Any) -> bool:
    """JSON equality where true is not 1 (Python's == says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _check_value(check: Check, where: str, value: Any) -> tuple[bool, str]:
    """Apply min_items / equals / matches to one value; the first failure wins."""
    said: list[str] = []
    if check.min_items is not None:
        if not isinstance(value, list | str | dict):
            return False, f"{where} is {_preview(value)}, not a list; need ≥ {check.min_items} items"
        n = len(value)
        if n < check.min_items:
            return False, f"{where} has {n} item{'s' if n != 1 else ''}, need ≥ {check.min_items}"
        said.append(f"{where} has {n} items (≥ {check.min_items})")
    if "equals" in check.model_fields_set:
        if not _same(value, check.equals):
            return False, f"{where} is {_preview(value)}, expected {_preview(check.equals)}"
        said.append(f"{where} is {_preview(value)}")
    if check.matches is not None:
        try:
            pattern = re.compile(check.matches)
        except re.error as exc:
            return False, f"bad regular expression '{check.matches}': {exc}"
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        if not pattern.search(text):
            return False, f"{where} is {_preview(value)}, which does not match '{check.matches}'"
        said.append(f"{where} matches '{check.matches}'")
    return True, "; ".join(said) or f"{where} exists"


def evaluate_check(check: Check, artifact: Any) -> tuple[bool, str]:
    """(passed, what was found) for one check on the artifact."""
    try:
        hits = resolve(artifact, check.path)
    except ValueError as exc:
        return False, f"bad path: {exc}"
    present = [(p, v) for p, v in hits if v is not None]
    valued = check.min_items is not None or check.matches is not None or "equals" in check.model_fields_set
    if check.exists is False:
        if present:
            return False, f"{present[0][0]} exists ({_preview(present[0][1])}), expected it absent"
        if not valued:
            return True, f"{check.path} is absent"
    if not hits and valued and not check.exists and _empty_wildcard(artifact, check.path):
        return True, f"no values at {check.path} (empty), so none fails"
    if not hits or (not present and (check.exists or not valued)):
        return False, f"{check.path}: not found" if not hits else f"{check.path} is null"
    if not valued:
        return True, f"{check.path} exists" + (f" ({len(present)} values)" if len(present) > 1 else "")
    notes = []
    for where, value in hits:
        ok, text = _check_value(check, where, value)
        if not ok:
            return False, text
        notes.append(text)
    return True, notes[0] if len(notes) == 1 else f"all {len(notes)} values pass ({notes[0]}; …)"


def _empty_wildcard(artifact: Any, path: str) -> bool:
    """True when ``path`` fans out over something that exists but reaches no value
    (``bugs[*].severity`` with ``bugs: []``): "every bug is minor" holds when there are none."""
    segments = parse(path)
    wild = next((i for i, seg in enumerate(segments) if seg.kind == "wild"), None)
    return wild is not None and bool(resolve(artifact, segments[:wild]))


# --- `agentctl selftest ID` --------------------------------------------------------------

def selftest_task(ws: Workspace, task_id: str, actor: str, now: datetime,
                  env: Mapping[str, str] | None = None) -> tuple[str, SelfTestReport]:
    """Re-run the task's agent's rules against its artifact and store the report on the task.

    Returns (agent name, report). The rules run with no lock held.
    """
    from agentctl.errors import NotFound, UsageError
    from agentctl.registry.service import check_task_id

    check_task_id(task_id)
    task = next((t for t in ws.storage.registry.load().tasks if t.taskId == task_id), None)
    if task is None:
        raise NotFound(f"unknown task {task_id!r} (archived tasks are not re-tested; see `agentctl task list`)")
    if not task.agent:
        raise UsageError(f"task {task_id} has no agent; set one with `agentctl task update {task_id} --set agent=NAME`")
    agent = ws.agent(task.agent)
    path = artifact_path(ws, agent, task_id, task.output)
    from agentctl.storage.artifact_refs import exists_ref, local_file

    if path is not None and exists_ref(ws.storage, ws.root, path):  # a stored artifact's local copy
        path = local_file(ws.storage, ws.root, path)  # (files: the file itself)
    report = run_self_tests(ws, agent, load_artifact(ws, path), task_id, now, output_path=path, env=env)
    stamp = iso(now)
    with ws.storage.registry.transaction(actor, stamp) as tx:
        live = tx.find(task_id)
        if live is None:
            raise NotFound(f"task {task_id} disappeared while its self-tests ran (archived?)")
        before = live.selfTest.model_dump(mode="json") if live.selfTest else None
        live.selfTest = report
        live.updatedAt = stamp
        tx.log(task_id, "selfTest", before, report.model_dump(mode="json"))
    return agent.name, report
