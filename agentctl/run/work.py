"""The work loop (SPEC §13): `agentctl work AGENT` — claim, run, hand off, repeat.

One step: wait for one of the agent's ``max_concurrent`` slots; claim the next
ready task (``task next --claim``, a lease for this run); run it (``run_agent``);
hand it off through its stage's contract and gate exactly as ``agentctl handoff``
(a task in no pipeline stage is done once its own contract and self-tests pass).
Transient failures (rate limits, overload, 5xx, timeouts, a command's exit 75) are
retried with exponential backoff and jitter up to ``retries`` (agent, role,
default 2); then — or at once for any other failure — the task is ``failed``. An
open breaker pauses the loop until its probe time. A stop request (SIGTERM or
SIGINT, ``request_stop``) interrupts a model call or command in progress, lets
any registry write finish, releases the claim (task back to ``todo``, event
``released``) and ends the loop.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentctl.core.clock import iso
from agentctl.errors import AgentctlError, TryLater
from agentctl.registry.ready import next_task, release_claim
from agentctl.run import leases

Clock = Callable[[], datetime]
TRANSIENT = frozenset({"RateLimited", "Overloaded", "ServerError", "Timeout", "ConnectionError"})
DEFAULT_RETRIES = 2


class WorkStopped(KeyboardInterrupt):
    """Raised into a model call or command in progress when the loop is asked to stop."""


@dataclass
class WorkOptions:
    once: bool = False
    max_tasks: int | None = None
    until_idle: bool = False
    poll_s: float = 5.0
    backoff_s: float = 2.0
    backoff_cap_s: float = 60.0


@dataclass
class WorkSummary:
    tasks: int = 0
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    runs: int = 0
    stopped: str | None = None
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "done": self.done, "failed": self.failed, "released": self.released,
                "runs": self.runs, "stopped": self.stopped, "exitCode": self.exit_code}


def retries_for(ws: Any, agent: Any) -> int:
    if agent.retries is not None:
        return int(agent.retries)
    role = ws.config.roles.get(agent.role)
    return int(role.retries) if role is not None and role.retries is not None else DEFAULT_RETRIES


def is_transient(outcome: Any) -> bool:
    err = outcome.record.error
    if outcome.record.status != "failure" or err is None:
        return False
    return err.type in TRANSIENT or (err.type == "CommandFailed" and err.message.startswith("the command exited 75"))


def backoff_delay(attempt: int, opts: WorkOptions, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half the step fixed, half random."""
    step: float = min(opts.backoff_cap_s, opts.backoff_s * (2 ** attempt))
    return step / 2 + rng.uniform(0, step / 2)


class WorkLoop:
    def __init__(self, ws: Any, agent_name: str, opts: WorkOptions, clock: Clock, *,
                 env: dict[str, str] | None = None, say: Callable[[str], None] = lambda _m: None,
                 rng: random.Random | None = None):
        self.ws, self.agent, self.opts, self.clock = ws, ws.agent(agent_name), opts, clock
        self.env, self.say, self.rng = env, say, rng or random.Random()
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None
        self.summary = WorkSummary()

    # --- stopping ---------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """From a signal handler: stop after the current step; interrupt a run that is executing."""
        first = self.stop_reason is None
        self.stop_reason = self.stop_reason or reason
        self.stop_event.set()
        if first and leases.executing_now():
            raise WorkStopped(reason)

    def wait(self, seconds: float) -> None:
        self.stop_event.wait(max(0.0, seconds))

    # --- the loop ---------------------------------------------------------------------
    def run(self) -> WorkSummary:
        while not self.stop_event.is_set():
            if self.opts.max_tasks is not None and self.summary.tasks >= self.opts.max_tasks:
                break
            if self._paused_by_breaker():
                continue
            step = self._step()
            if step == "idle" and (self.opts.once or self.opts.until_idle):
                break
            if step == "idle":
                self.wait(self.opts.poll_s)
            elif step == "busy":
                self.wait(min(self.opts.poll_s, 1.0))
            elif self.opts.once:
                break
        self.summary.stopped = self.stop_reason
        return self.summary

    def _paused_by_breaker(self) -> bool:
        from agentctl.breakers.breaker import breaker_status

        b = breaker_status(self.ws, self.agent, self.clock())
        if b["state"] != "open" or not b["retryInS"]:
            return False
        self.say(f"{self.agent.name}: breaker open; paused until {b['retryAt']} (in {b['retryInS']}s)")
        self.wait(float(b["retryInS"]))
        return True

    def _step(self) -> str:
        from agentctl.run.runner import new_run_id

        now = self.clock()
        slot = new_run_id(now)
        try:
            leases.acquire_slot(self.ws, leases.slot_entry(self.ws, self.agent, slot, None, None, now, "pipeline"),
                                self.agent, now)
        except TryLater as exc:
            self.say(f"{self.agent.name}: waiting for a slot: {exc.message}")
            return "busy"
        try:
            task = next_task(self.ws, self.agent, now, claim=True, run_id=slot)
            if task is None:
                return "idle"
            self.summary.tasks += 1
            self._work_on(task.taskId, slot)
            return "worked"
        finally:
            try:
                self.ws.storage.inflight.release(slot)
            except AgentctlError:
                pass

    def _work_on(self, task_id: str, slot: str) -> None:
        try:
            outcome = self._run_with_retries(task_id, slot)
        except WorkStopped:
            self._release(task_id, f"work loop stopped ({self.stop_reason})")
            return
        except AgentctlError as exc:  # conflict, busy lock: the claim goes back
            self.say(f"{task_id}: {exc.render()}")
            self._release(task_id, exc.message[:200])
            return
        if outcome is not None:
            self._after_run(task_id, outcome)

    def _run_with_retries(self, task_id: str, slot: str) -> Any:
        from agentctl.run.runner import RunRequest, new_run_id, run_agent

        retries, run_id = retries_for(self.ws, self.agent), slot
        for attempt in range(retries + 1):
            req = RunRequest(agent=self.agent.name, task_id=task_id, trigger="pipeline", run_id=run_id, slot_id=slot)
            outcome = run_agent(self.ws, req, self.clock, env=self.env)
            self.summary.runs += 1
            self.say(outcome.message)
            retry = is_transient(outcome) or outcome.record.status in ("rejected", "selftest_failed")
            if not retry or attempt == retries or self.stop_event.is_set():
                return outcome
            delay = backoff_delay(attempt, self.opts, self.rng)
            self.say(f"{task_id}: retry {attempt + 1}/{retries} in {delay:.1f}s")
            self.wait(delay)
            if self.stop_event.is_set():
                raise WorkStopped(self.stop_reason or "stop")
            run_id = new_run_id(self.clock())
        return None

    def _after_run(self, task_id: str, outcome: Any) -> None:
        status = outcome.record.status
        if outcome.exit_code == 5:  # result not applied, or a conflict at claim: nothing of ours to finish
            self.summary.exit_code = 5
            return
        if status == "skipped":  # breaker open, budget spent: back to the queue, the loop pauses
            self._release(task_id, outcome.message[:200])
            return
        if status != "success":
            self._fail(task_id, outcome)
            return
        self._hand_off(task_id)

    def _hand_off(self, task_id: str) -> None:
        from agentctl.contracts.handoff import handoff, stage_index

        task = self._task(task_id)
        if task is None or task.status != "in_progress" or task.claimedBy != self.agent.name:
            self._finished(task_id, task.status if task else "gone")
            return
        stages = self.ws.config.pipeline
        try:
            stage_index(stages, task) if stages else None
            in_pipeline = bool(stages)
        except AgentctlError:
            in_pipeline = False
        if not in_pipeline:
            self._set_done(task_id)
            return
        try:
            res = handoff(self.ws, task_id, None, self.agent.name, self.clock())
        except AgentctlError as exc:
            self.say(f"{task_id}: handoff: {exc.render()}")
            return
        self._finished(task_id, res.task.status)

    def _finished(self, task_id: str, status: str) -> None:
        if status == "done":
            self.summary.done.append(task_id)
        self.say(f"{task_id}: {status}")

    # --- registry changes of the loop itself --------------------------------------------
    def _task(self, task_id: str) -> Any:
        return self.ws.storage.registry.get(task_id)

    def _tx(self) -> Any:
        return self.ws.storage.registry.transaction(self.agent.name, iso(self.clock()))

    def _set_done(self, task_id: str) -> None:
        from agentctl.registry.service import set_field

        with self._tx() as tx:
            task = tx.find(task_id)
            if task is not None and task.status == "in_progress":
                set_field(tx, task, "status", "done", iso(self.clock()))
        self._finished(task_id, "done")

    def _release(self, task_id: str, why: str) -> None:
        with self._tx() as tx:
            task = tx.find(task_id)
            if task is not None and task.claimedBy == self.agent.name:
                release_claim(tx, task, iso(self.clock()), why)
        self.summary.released.append(task_id)
        self.say(f"{task_id}: released ({why})")

    def _fail(self, task_id: str, outcome: Any) -> None:
        from agentctl.registry.service import set_field

        stamp = iso(self.clock())
        with self._tx() as tx:
            task = tx.find(task_id)
            if task is not None and task.claimedBy == self.agent.name and task.status in ("in_progress", "rejected"):
                tx.log(task_id, "workFailed", None, {"runId": outcome.record.runId, "status": outcome.record.status})
                for name, value in (("status", "failed"), ("claimedBy", None), ("claimRun", None),
                                    ("leaseExpiresAt", None)):
                    set_field(tx, task, name, value, stamp)
        self.summary.failed.append(task_id)
        # retries spent on a transient failure (75): the task failed, so the loop reports 1, not "try later"
        self.summary.exit_code = 1 if outcome.exit_code in (0, 75) else outcome.exit_code
        self.say(f"{task_id}: failed after {outcome.record.status}")
