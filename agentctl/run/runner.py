"""Running one agent once (SPEC §5).

INTERFACE (stable, used by cron, the demo and the CLI):
    run_agent(ws, RunRequest(...), clock, *, env=None, sleep=time.sleep) -> RunOutcome
      order: idempotency → breaker gate → budget gate → claim task → validate input →
      choose model → execute → validate output → self-tests → update registry →
      append run record → record breaker outcome.
    RunOutcome.exit_code follows SPEC §10; RunOutcome.record is the RunRecord appended.
    Unknown agent / task (2), a conflict (5), a configuration error (78: unknown tier,
    missing contract, missing API key — checked first, before anything is claimed) and a
    busy registry lock (75) are raised, with no run record.

The registry lock is held only to claim the task and to store the result, never
during the model call, the command or the self-tests.

What the agent is told (its input artifact, the system and user prompts, a command agent's
prompt file) is built by ``agentctl.run.context``; this module keeps the run sequence.

What a run does to its task (decisions the rest of the pipeline relies on):

- claim: ``claimedBy`` = the agent, status ``in_progress``, ``attempts += 1`` (counted
  when the attempt starts, so a crashed attempt counts). Refused with exit 5 when
  the task belongs to / is claimed by another agent, is ``done``/``cancelled``,
  waits at a gate (``review``) or is ``blocked`` (unblock it first).
- success, agent with ``produces``: ``output`` = ``artifacts/<ID>/<produces>.json``,
  ``blockedBy`` cleared, status stays ``in_progress``: ``agentctl handoff ID`` then
  moves it on (``done`` + next stage's task, ``review`` at a gate, or ``rejected``),
  so the runner never bypasses the handoff's contracts and human gates.
- success, no ``produces``: nothing to hand off, status ``done`` (artifact, if any,
  at ``artifacts/<ID>/output.json``: an LLM's reply when it is a JSON object, so the
  role's self-tests can check its fields, else ``{"text": ...}``).
- the agent failed (provider errors after every fallback, a command that exits
  non-zero or times out): status stays ``in_progress`` (the claim is kept for the
  retry); the error is in the run record. Exit 1.
- its output breaks its own ``produces`` contract (or is not JSON): status
  ``rejected`` with a Rejection (``by: "<produces> contract"``) that the next run puts
  in the agent's context; the bad answer is kept beside, as
  ``<produces>.rejected.json``, never as ``output``. Exit 3.
- self-tests failed: the (schema-valid) artifact is written and set as ``output``
  so ``agentctl selftest ID`` can re-check it, the report is stored as ``selfTest``,
  status stays ``in_progress`` — not done. Exit 4.
- its input breaks ``consumes``: nothing executes, status ``blocked`` with
  ``blockedBy`` naming the input and what is missing, ``blockedOn`` = its
  dependencies. Exit 3.

Costs: a priced answer → USD (``costSource: computed``); a model genai-prices cannot price →
``costUsd: null``; no answer at all (429s, timeouts) → 0.0 (no model was billed). A command
agent's cost comes from its ``usage:`` adapter (``agentctl.run.command_agent``): reported by
its CLI, computed from its tokens, or ``null`` when nothing is known — never 0.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentctl.contracts.rejections import from_verdict, record_rejection, rejection_summary
from agentctl.core.clock import iso
from agentctl.core.config import AgentDef, ModelRef, Tier
from agentctl.core.records import Rejection, RunError, RunRecord, Task
from agentctl.core.redact import redact, redact_obj
from agentctl.errors import AgentctlError, Conflict, NotFound, TryLater, UsageError
from agentctl.providers import TokenUsage
from agentctl.registry.claims import check_claim
from agentctl.run import fleet, idempotency, leases
from agentctl.run.artifacts import RunArtifacts, run_key
from agentctl.run.command_agent import CommandOutcome
from agentctl.run.context import RunInput, build_context, read_input, write_prompt_file
from agentctl.tiers import budget as budgets
from agentctl.workspace.loader import Workspace

Clock = Callable[[], datetime]
EXIT_FOR = {"success": 0, "failure": 1, "rejected": 3, "selftest_failed": 4, "skipped": 75}
MAX_ERROR_CHARS = 600
TRIGGERS = ("manual", "cron", "pipeline")
_ERROR_TYPES = {"rate_limited": "RateLimited", "overloaded": "Overloaded", "server": "ServerError",
                "timeout": "Timeout", "connection": "ConnectionError", "auth": "AuthenticationError",
                "bad_request": "BadRequest"}


@dataclass
class RunRequest:
    agent: str
    task_id: str | None = None
    prompt: str | None = None
    input_file: str | None = None
    idempotency_key: str | None = None
    trigger: str = "manual"  # manual | cron | pipeline
    job: str | None = None
    run_id: str | None = None
    """Chosen by the caller (the work loop claims the task for this run before it starts)."""
    slot_id: str | None = None
    """A max_concurrent slot the caller already holds (a work loop), else the run takes one."""


@dataclass
class RunOutcome:
    record: RunRecord
    exit_code: int
    message: str
    duplicate_of: str | None = None
    """For a duplicate: the runId of the first run, whose result this is."""
    breaker: str | None = None
    """A breaker transition caused by this run ("tripped", "recovered", "reopened")."""


def new_run_id(now: datetime) -> str:
    return f"r-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def run_agent(ws: Workspace, req: RunRequest, clock: Clock, *, env: Mapping[str, str] | None = None,
              sleep: Callable[[float], None] = time.sleep) -> RunOutcome:
    if req.trigger not in TRIGGERS:
        raise UsageError(f"trigger must be one of {', '.join(TRIGGERS)}; got {req.trigger!r}")
    agent = ws.agent(req.agent)
    run = _Run(ws, req, agent, clock, dict(ws.env if env is None else env), sleep)
    with leases.run_slot(ws, agent, run.run_id, req.task_id, run.started, req.slot_id, req.trigger):
        return run.run()


# --- what one execution produced ------------------------------------------------------

@dataclass
class _Exec(CommandOutcome):
    """A command's outcome (same fields) plus what model calls and the breaker need; an LLM run
    starts from no provider and a zero cost, not the command's ``command`` / unpriced."""

    provider: str | None = None
    cost: float | None = 0.0
    fallback_from: str | None = None
    counted: bool = True
    """Whether the outcome counts for the breaker (config errors do not)."""
    executed: bool = True


class _Run:
    def __init__(self, ws: Workspace, req: RunRequest, agent: AgentDef, clock: Clock, env: dict[str, str],
                 sleep: Callable[[float], None]):
        self.ws, self.req, self.agent, self.clock, self.env, self.sleep = ws, req, agent, clock, env, sleep
        self.started = clock()
        self.run_id = req.run_id or new_run_id(self.started)
        self.redact_env = _redaction_env(ws, env)
        self.executed = False
        self.admission: Any = None
        self.outcome_recorded = False
        self._blocked_by: str | None = None
        self.retry_of: str | None = None
        self.claim_version: int | None = None
        self.claimed: Task | None = None
        self.settle_key: Callable[[dict[str, Any]], None] | None = None
        """Binds the result to the idempotency key, in the same unit of work as the run record."""
        self.spawn: list[Any] | None = None
        self.not_applied: AgentctlError | None = None
        self._run_files: RunArtifacts | None = None

    # --- the steps, in SPEC order ---------------------------------------------------------
    def run(self) -> RunOutcome:
        self._preflight()
        task = self._read_task()
        inp = read_input(self.ws, self.req.input_file, task)
        key = self.req.idempotency_key
        fp = idempotency.fingerprint(self.agent.name, self.req.task_id, self.req.prompt, inp.raw if inp else None)
        store = self.ws.storage.idempotency
        if key:
            try:
                got = idempotency.reserve(store, key, fp, self.started, run_id=self.run_id,
                                          stale_after=timedelta(seconds=self.agent.timeout_s),
                                          find_run=lambda rid: self.ws.storage.runlog.find(rid, self.started))
            except TryLater as exc:
                return self._skipped(exc, "InFlight")
            if isinstance(got, idempotency.Duplicate):
                return self._duplicate(got)
            self.retry_of = got.retry_of
            self.settle_key = lambda result: idempotency.complete(store, key, fp, result, self.clock())
        try:
            outcome = self._gated(task, inp)
        except BaseException:
            if key:
                _quietly(idempotency.release, store, key, fp, self.clock())
            raise
        if key and not self.executed:
            idempotency.release(store, key, fp, self.clock())
        return outcome

    def _gated(self, task: Task | None, inp: RunInput | None) -> RunOutcome:
        from agentctl.breakers import breaker
        try:
            self.admission = breaker.admit(self.ws, self.agent, self.started)
        except TryLater as exc:
            return self._skipped(exc, "BreakerOpen")
        try:
            try:
                budgets.check_budgets(self.ws, self.agent, self.started)
            except TryLater as exc:
                self._budget_alert(exc)
                return self._skipped(exc, "BudgetSpent")
            if task is not None:
                task = self._claim(task.taskId)
            input_data = None
            if inp is not None:
                input_data, refused = self._check_input(task, inp)
                if refused is not None:
                    return refused
            system, prompt = build_context(self.ws, self.agent, task, self.req.prompt, inp, input_data)
            with leases.executing(self.ws, self.agent, self.run_id, self.req.task_id,
                                  self.req.slot_id or self.run_id, self.clock):
                if self.agent.runtime == "command":
                    ex = self._execute_command(task, inp, system, prompt)
                else:
                    ex = self._execute_llm(system, prompt)
            self.executed = ex.executed
            return self._conclude(task, ex)
        finally:
            if not self.outcome_recorded:  # refused or never executed: the probe slot goes back
                _quietly(breaker.release_probe, self.ws, self.agent, self.admission)

    def _preflight(self) -> None:
        """Configuration problems stop the run before anything happens: exit 78, nothing claimed or recorded."""
        if self.agent.produces:
            self.ws.load_schema(self.agent.produces)
        if self.req.task_id:  # a linked artifacts/<ID> is refused (74) before the task is claimed
            from agentctl.registry.service import check_task_id
            from agentctl.storage import check_confined

            check_task_id(self.req.task_id)
            check_confined(self.ws.artifact_dir(self.req.task_id) / "x")
        if self.agent.runtime == "llm":
            from agentctl.tiers import routing
            routing.api_key(routing.chain_for(self._tier())[0], self.env)

    # --- task and input ------------------------------------------------------------------
    def _read_task(self) -> Task | None:
        if not self.req.task_id:
            return None
        from agentctl.registry.service import check_task_id

        check_task_id(self.req.task_id)
        task = self.ws.storage.registry.get(self.req.task_id)
        if task is not None:
            return task
        raise NotFound(f"unknown task {self.req.task_id!r} (see `agentctl task list`)")

    def _claim(self, task_id: str) -> Task:
        from agentctl.registry.service import set_field

        stamp = iso(self.started)
        name = self.agent.name
        with self.ws.storage.registry.transaction(name, stamp) as tx:
            task = tx.find(task_id)
            if task is None:
                raise NotFound(f"task {task_id} disappeared (archived?)")
            check_claim(self.ws, tx, task, name, self.started, verb="run", run_id=self.run_id)
            if task.agent is None:
                set_field(tx, task, "agent", name, stamp)
            fleet.take_claim(tx, task, self.agent, self.started, self.run_id)
            set_field(tx, task, "attempts", task.attempts + 1, stamp)
            claimed = task
        self.claim_version = claimed.version  # bumped by the commit: compare-and-set at store time
        self.claimed = claimed.model_copy(deep=True)
        return claimed.model_copy(deep=True)

    def _check_input(self, task: Task | None, inp: RunInput) -> tuple[Any, RunOutcome | None]:
        from agentctl.contracts.schemas import check_artifact, parse_artifact

        data, not_json = parse_artifact(inp.raw)
        consumes = self.agent.consumes
        if consumes is None:
            return (data if not_json is None else inp.raw.decode("utf-8", "replace")), None
        verdict = not_json or check_artifact(self.ws, consumes, data, self.ws.storage.cache)
        if verdict.valid:
            return data, None
        summary = verdict.summary or "does not fit the contract"
        message = f"input {inp.display} does not satisfy {consumes}: {summary}"
        if task is not None:
            self._store_task(task.taskId, "blocked", blocked_by=message, blocked_on=list(task.dependsOn))
        record = self._record("rejected", error=RunError(type="InputRejected", message=message),
                              rejection=rejection_summary(verdict))
        self.ws.storage.runlog.append(record)
        return None, RunOutcome(record, 3, record.error.message if record.error else message)

    # --- execution -------------------------------------------------------------------------
    def _tier(self) -> Tier | ModelRef:
        tier = self.ws.tier_for(self.agent)
        if tier is None:
            if not self.agent.model:
                from agentctl.errors import ConfigError

                raise ConfigError(f"agents/{self.agent.name}.yaml: runtime llm needs a tier or a model")
            return ModelRef(model=self.agent.model)
        return tier

    def _execute_llm(self, system: str, prompt: str) -> _Exec:
        from agentctl.errors import ConfigError
        from agentctl.providers import ModelRequest
        from agentctl.tiers import pricing, routing

        tier = self._tier()
        schema = self.ws.load_schema(self.agent.produces) if self.agent.produces else None
        rates = self.ws.storage.cache
        primary = routing.chain_for(tier)[0]
        warm = None if pricing.is_cached(primary, self.started, rates) else pricing.warm_in_background
        request = ModelRequest(system=system, prompt=prompt, schema=schema, schema_name=self.agent.produces,
                               timeout_s=self.agent.timeout_s, on_send=warm)
        try:
            routed = routing.ask(tier, request, env=self.env, timeout_s=self.agent.timeout_s, sleep=self.sleep)
        except ConfigError as exc:
            return _Exec(provider=tier.provider, model=tier.model, error=RunError(type="ConfigError",
                         message=exc.message), exit_code=78, counted=False, executed=False)
        except routing.RouteFailed as exc:
            kind = exc.last.kind if exc.last else None
            first = routing.chain_for(tier)[0].model
            return _Exec(provider=exc.ref.provider, model=exc.ref.model,
                         fallback_from=first if exc.ref.model != first else None,
                         error=RunError(type=_ERROR_TYPES.get(kind or "", "ModelUnavailable"), message=exc.message))
        ans = routed.answer
        cost = pricing.run_cost_usd(routed.ref, ans.usage, self.started, rates)
        artifact = ans.artifact if schema is not None else (json_object_text(ans.raw_text) or ans.artifact)
        return _Exec(artifact=artifact, parse_error=ans.parse_error, raw_text=ans.raw_text, usage=ans.usage,
                     provider=routed.ref.provider, model=routed.ref.model, fallback_from=routed.fallback_from,
                     cost=None if cost is None else round(cost, 10), cost_source=None if cost is None else "computed")

    def _execute_command(self, task: Task | None, inp: RunInput | None, system: str, prompt: str) -> _Exec:
        from agentctl.run import command_agent as cmd
        from agentctl.storage.artifact_refs import local_file
        from agentctl.storage.staging import note_group, staging_dir

        arts = self._artifacts(task)
        with staging_dir(self.ws.root) as private:  # the raw artifact never outlives the run
            files = cmd.run_files(self.ws, self.agent, arts, arts.local(f"{self.agent.name}.prompt.md"), self.run_id,
                                  local_file(self.ws.storage, self.ws.root, inp.path) if inp else None,
                                  private=private)
            prompt += "\n\n" + cmd.protocol_text(files, self.agent.produces)
            write_prompt_file(arts, self.agent, system, prompt, self.redact_env)
            out = cmd.execute(self.ws, self.agent, task, files, self.env, self.run_id, self.started, self.redact_env,
                              on_start=lambda pgid: note_group(private, pgid))
        return _Exec(**{f: getattr(out, f) for f in CommandOutcome.__dataclass_fields__})

    # --- after execution ---------------------------------------------------------------------
    def _conclude(self, task: Task | None, ex: _Exec) -> RunOutcome:
        self._blocked_by = ex.blocked
        if ex.error is not None:
            status, output, report, rejection, verdict = "failure", None, None, None, None
        elif ex.blocked is not None:  # the agent blocked its task itself: that stands (what it wrote is kept)
            status, report, rejection, verdict = "success", None, None, None
            output = self._write_artifact(task, ex.artifact) if ex.artifact is not None else None
        else:
            ex.artifact, self.spawn = fleet.take_spawn(ex.artifact)
            verdict = fleet.spawn_verdict(self.ws, self.spawn) or self._verify(ex)
            output = report = rejection = None
            if verdict is not None and not verdict.valid:
                status = "rejected"
                rejection = self._rejection(verdict)
                self._keep_rejected(task, ex)
            else:
                output = self._write_artifact(task, ex.artifact) if ex.artifact is not None else None
                report = self._self_tests(task, ex.artifact, output)
                status = "success" if report is None or report.ok else "selftest_failed"
        with self.ws.storage.unit_of_work():  # artifact, task, run record, breaker and key: all or nothing
            if self._run_files is not None:
                self._run_files.commit()
            stored_error = None
            if task is not None and ex.executed:
                stored_error = self._update_task(task, status, output, report, rejection)
            record = self._record(status, ex=ex, error=ex.error, output=output,
                                  selftest=_selftest_summary(report), rejection=rejection_summary(verdict))
            self.ws.storage.runlog.append(record)
            transition = None
            if ex.counted and ex.executed and self.admission is not None:
                from agentctl.breakers import breaker
                transition = breaker.record_outcome(self.ws, self.agent, status == "success", self.clock(),
                                                    self.admission)
                self.outcome_recorded = True
            code = ex.exit_code if ex.error is not None else EXIT_FOR[status]
            message = self._message(record, verdict, report)
            if stored_error is not None:
                code, message = stored_error.exit_code, f"{message}; the task was NOT updated: {stored_error.message}"
            if transition:
                message += f"; breaker {transition}"
            outcome = RunOutcome(record, code, redact(message, self.redact_env), breaker=transition)
            if self.settle_key is not None and ex.executed:
                self.settle_key(_result(outcome))
        return outcome

    def _verify(self, ex: _Exec) -> Any:
        from agentctl.contracts.schemas import Verdict, check_artifact, too_deep, too_deep_verdict

        if ex.parse_error is not None:
            return Verdict([{"path": "$", "message": ex.parse_error, "missing": []}], [], ex.parse_error)
        if ex.artifact is not None and too_deep(ex.artifact):  # a model's answer arrives parsed by the SDK
            return too_deep_verdict()
        if self.agent.produces:
            verdict = check_artifact(self.ws, self.agent.produces, ex.artifact, self.ws.storage.cache)
            return None if not verdict.valid and fleet.requests_changes(ex.artifact) else verdict
        return None

    def _rejection(self, verdict: Any) -> Rejection:
        stage = next((s.stage for s in self.ws.config.pipeline if s.agent == self.agent.name), self.agent.produces)
        return from_verdict(verdict, at=iso(self.clock()), stage=stage, by=f"{self.agent.produces or 'output'} contract")

    def _self_tests(self, task: Task | None, artifact: Any, output: str | None) -> Any:
        if not self.ws.self_tests_for(self.agent):
            return None
        from agentctl.selftests.selftest import run_self_tests

        task_id = task.taskId if task else None
        if output is None:
            return run_self_tests(self.ws, self.agent, artifact, task_id, self.clock(), env=self.env)
        with self._artifacts(task).scratch(output.rsplit("/", 1)[-1], self.ws.root) as path:  # stored after
            return run_self_tests(self.ws, self.agent, artifact, task_id, self.clock(), output_path=path, env=self.env)

    # --- files ----------------------------------------------------------------------------
    def _artifacts(self, task: Task | None) -> RunArtifacts:
        """The run's files in the artifact store (task-less runs: ``_runs/<day>/<runId>``, pruned)."""
        if self._run_files is None:
            from agentctl.run.housekeeping import retention

            key = run_key(self.ws.storage, task.taskId if task else None, self.run_id, self.clock(),
                          retention(self.ws) if task is None else 0)
            self._run_files = RunArtifacts(self.ws.storage, key)
        return self._run_files

    def _artifact_name(self) -> str:
        return self.agent.produces or "output"

    def _write_artifact(self, task: Task | None, artifact: Any) -> str:
        name = f"{self._artifact_name()}.json"
        if task is not None and fleet.claim_gone(self.ws, task.taskId, self.run_id):  # kept aside, not applied
            name = f"{self._artifact_name()}.not-applied.{self.run_id}.json"
        data = json.dumps(redact_obj(artifact, self.redact_env), indent=2, ensure_ascii=False) + "\n"
        return self._artifacts(task).stage(name, data.encode())  # stored with the run record

    def _keep_rejected(self, task: Task | None, ex: _Exec) -> None:
        text = json.dumps(ex.artifact, indent=2, ensure_ascii=False) if ex.artifact is not None else ex.raw_text
        self._artifacts(task).stage(f"{self._artifact_name()}.rejected.json", redact(text or "", self.redact_env).encode())

    # --- registry ---------------------------------------------------------------------------
    def _update_task(self, task: Task, status: str, output: str | None, report: Any,
                     rejection: Rejection | None) -> AgentctlError | None:
        task_status = {"success": "in_progress" if self.agent.produces else "done",
                       "rejected": "rejected"}.get(status, "in_progress")
        blocked_by = f"{rejection.by} — {rejection.summary or 'invalid output'}" if rejection else None
        if status != "success":
            self.spawn = None
        elif self.spawn:  # the parent waits on its children, not done
            task_status = "in_progress"
        try:
            self._store_task(task.taskId, task_status, output=output, report=report, rejection=rejection,
                             blocked_by=blocked_by, clear_block=status == "success")
        except AgentctlError as exc:  # lock busy, disk full: the run record still tells what happened
            return exc
        return self.not_applied

    def _store_task(self, task_id: str, status: str, *, output: str | None = None, report: Any = None,
                    rejection: Rejection | None = None, blocked_by: str | None = None,
                    blocked_on: list[str] | None = None, clear_block: bool = False) -> None:
        from agentctl.core.records import SelfTestReport
        from agentctl.registry.service import set_field

        # the registry masks known names and shapes; a key under a tier's own api_key_env
        # name is only known here, and model output quoted in a rejection may carry it
        if rejection is not None:
            rejection = Rejection.model_validate(redact_obj(rejection.model_dump(mode="json"), self.redact_env))
        if report is not None:
            report = SelfTestReport.model_validate(redact_obj(report.model_dump(mode="json"), self.redact_env))
        if blocked_by is not None:
            blocked_by = redact(blocked_by, self.redact_env)
        stamp = iso(self.clock())
        refused = None
        with self.ws.storage.registry.transaction(self.agent.name, stamp) as tx:
            task = tx.find(task_id)
            if task is None:
                return
            self.not_applied = fleet.claim_lost(tx, task, self.run_id, stamp)  # reclaimed or released
            if self.not_applied is not None:
                return
            moved = task_changes(self.claimed, task, self.claim_version,
                                 lambda: self.ws.storage.registry.last_events(task_id))
            if moved is not None and moved[0] != self.agent.name:  # compare-and-set failed: record, not result
                refused = f"result not applied: task changed during the run ({moved[0]}: {moved[1]})"
                tx.log(task_id, "result not applied", None, {"runId": self.run_id, "reason": refused,
                                                             "output": output})
            else:
                if moved is not None:  # the agent's own process blocked (or moved) its task: that stands
                    status, blocked_by, blocked_on, clear_block = task.status, None, None, False
                _apply_result(tx, task, stamp, status, output=output, report=report, rejection=rejection,
                              blocked_by=blocked_by, blocked_on=blocked_on, clear_block=clear_block)
                set_field(tx, task, "claimRun", None, stamp)
                if self.spawn and moved is None:
                    fleet.spawn_children(tx, task, self.spawn, self.run_id, self.ws.config.task_prefix, stamp)
        if refused is not None:
            raise Conflict(refused, hint="the run record and its artifact are kept; look at the task and run "
                                         "again if it still needs the work")

    # --- records ------------------------------------------------------------------------------
    def _primary(self) -> tuple[str | None, str | None]:
        if self.agent.runtime == "command":
            return "command", None
        try:
            tier = self._tier()
        except AgentctlError:
            return None, self.agent.model
        return tier.provider, tier.model

    def _record(self, status: str, *, ex: _Exec | None = None, error: RunError | None = None,
                output: str | None = None, selftest: dict[str, Any] | None = None,
                rejection: dict[str, Any] | None = None, cost: float | None = 0.0) -> RunRecord:
        ended = self.clock()
        provider, model = (ex.provider, ex.model) if ex is not None else self._primary()
        usage = ex.usage if ex is not None else TokenUsage()
        if error is not None:
            error = RunError(type=error.type, message=redact(error.message, self.redact_env)[:MAX_ERROR_CHARS])
        record = RunRecord(
            runId=self.run_id, startedAt=iso(self.started), endedAt=iso(ended), agent=self.agent.name,
            team=self.agent.team, role=self.agent.role, taskId=self.req.task_id, job=self.req.job,
            trigger=self.req.trigger,
            tier=self.agent.tier, provider=provider, model=model,
            fallbackFrom=ex.fallback_from if ex is not None else None, status=status,
            error=error, tokensIn=usage.tokens_in, tokensOut=usage.tokens_out, cacheReadTokens=usage.cache_read,
            cacheWriteTokens=usage.cache_write, costUsd=ex.cost if ex is not None else cost,
            costSource=ex.cost_source if ex is not None else None,
            models=ex.models if ex is not None else None,
            durationS=round(max(0.0, (ended - self.started).total_seconds()), 3),
            idempotencyKey=self.req.idempotency_key, output=output, selfTest=selftest, rejection=rejection,
            retryOf=self.retry_of)
        return RunRecord.model_validate(redact_obj(record.model_dump(mode="json"), self.redact_env))

    def _skipped(self, exc: AgentctlError, kind: str) -> RunOutcome:
        record = self._record("skipped", error=RunError(type=kind, message=exc.message))
        self.ws.storage.runlog.append(record)
        return RunOutcome(record, exc.exit_code, redact(exc.render(), self.redact_env))

    def _duplicate(self, dup: idempotency.Duplicate) -> RunOutcome:
        first = dup.result
        record = self._record("duplicate", output=first.get("output")).model_copy(
            update={"duplicateOf": first.get("runId")})
        self.ws.storage.runlog.append(record)
        message = (f"duplicate: idempotency key {dup.key!r} already ran as {first.get('runId')} "
                   f"({first.get('status')}); nothing executed")
        if first.get("message"):
            message += f" — {first['message']}"
        return RunOutcome(record, int(first.get("exitCode", 0)), message, duplicate_of=first.get("runId"))

    def _budget_alert(self, exc: TryLater) -> None:
        from agentctl.cron.alerts import raise_alert

        _quietly(raise_alert, self.ws, kind="budget", message=f"{self.agent.name}: {exc.message}",
                 source=f"agent:{self.agent.name}", now=self.started, severity="warning", data=dict(exc.data))

    def _message(self, record: RunRecord, verdict: Any, report: Any) -> str:
        who = f"{self.agent.name}" + (f" on {record.taskId}" if record.taskId else "")
        if record.status == "success" and self.agent.runtime == "command" and self._blocked_by:
            return f"{who}: the agent blocked its task: {self._blocked_by}"
        if record.status == "success" and record.provider == "command":
            return f"{who}: success in {record.durationS:g}s" + (f" → {record.output}" if record.output else "")
        if record.status == "success":
            cost = "unpriced" if record.costUsd is None else f"${record.costUsd:.4f}"
            via = record.model or record.provider or "-"
            if record.fallbackFrom:
                via += f" (fallback from {record.fallbackFrom})"
            return (f"{who}: success in {record.durationS:g}s via {via}, {record.tokensIn}→{record.tokensOut} tokens, "
                    f"{cost}" + (f" → {record.output}" if record.output else ""))
        if record.status == "rejected":
            return (f"{who}: output rejected by the {self.agent.produces or 'output'} contract: "
                    f"{verdict.summary if verdict else 'invalid'} (kept as {self._artifact_name()}.rejected.json)")
        if record.status == "selftest_failed":
            failed = [r.name for r in report.results if not r.ok] if report else []
            return f"{who}: self-tests failed ({', '.join(failed)}): not done; artifact at {record.output}"
        err = record.error
        return f"{who}: {record.status}: {err.type}: {err.message}" if err else f"{who}: {record.status}"


# --- pure helpers ---------------------------------------------------------------------------

def _apply_result(tx: Any, task: Task, stamp: str, status: str, *, output: str | None, report: Any,
                  rejection: Rejection | None, blocked_by: str | None, blocked_on: list[str] | None,
                  clear_block: bool) -> None:
    """A run's result on its task (inside the registry transaction of the store step)."""
    from agentctl.registry.service import set_field

    task_id = task.taskId
    if output is not None:
        set_field(tx, task, "output", output, stamp)
    if report is not None:
        before = task.selfTest.model_dump(mode="json") if task.selfTest else None
        task.selfTest = report
        tx.log(task_id, "selfTest", before, report.model_dump(mode="json"))
    if rejection is not None:
        record_rejection(tx, task, rejection)
    set_field(tx, task, "status", status, stamp)
    if blocked_by is not None:
        set_field(tx, task, "blockedBy", blocked_by, stamp)
    if blocked_on is not None:
        set_field(tx, task, "blockedOn", blocked_on, stamp)
    if clear_block:
        set_field(tx, task, "blockedBy", None, stamp)
        set_field(tx, task, "blockedOn", [], stamp)
    task.updatedAt = stamp


GUARDED = ("status", "agent", "claimedBy", "blockedBy", "phase", "gate")
"""Fields whose change during a run means its result no longer applies (compare-and-set, SPEC §5)."""


def task_changes(claimed: Task | None, now: Task, version: int | None,
                 events: Callable[[], list[dict[str, Any]]]) -> tuple[str, str] | None:
    """(who, what) when a guarded field of the task changed since the claim, else None."""
    if claimed is None or version is None or now.version == version:
        return None
    changed = [f for f in GUARDED if getattr(claimed, f) != getattr(now, f)]
    if not changed:
        return None
    field_ = changed[0]
    what = f"{field_} {getattr(claimed, field_)} → {getattr(now, field_)}"
    who = next((e.get("actor") for e in reversed(events()) if e.get("change") in changed), None)
    return str(who or "someone"), what


def json_object_text(text: str) -> dict[str, Any] | None:
    """The JSON object an agent without a contract answered as text (the studio's prompts ask for one:
    seo, leo, briefing), so its self-tests can check its fields; None for prose. A ```json fence counts."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[-1].rsplit("```", 1)[0]
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data else None


def _selftest_summary(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"ok": report.ok, "failed": [r.name for r in report.results if not r.ok]}


def _result(outcome: RunOutcome) -> dict[str, Any]:
    r = outcome.record
    return {"runId": r.runId, "status": r.status, "exitCode": outcome.exit_code, "message": outcome.message[:300],
            "output": r.output, "startedAt": r.startedAt, "costUsd": r.costUsd}


def _redaction_env(ws: Workspace, env: dict[str, str]) -> dict[str, str]:
    """The environment plus every configured key variable, whatever its name (``api_key_env: MY_CRED``)."""
    out = dict(env)
    try:
        tiers = list(ws.config.tiers.values())
    except AgentctlError:
        return out
    refs: list[ModelRef] = [*tiers, *(f for t in tiers for f in t.fallback)]
    for i, ref in enumerate(refs):
        value = env.get(ref.api_key_env or "")
        if value and len(value) >= 6:
            out[f"AGENTCTL_CONFIGURED_{i}_KEY"] = value
    return out


def _quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: S110 — best effort on a path that is already failing or advisory
        pass
