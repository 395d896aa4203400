"""Integrity rules: no agent approves its own work (SPEC §6), all in one place.

Work moves forward only through ``agentctl handoff`` (contracts and self-tests) or a
person. Inside an agent process (``AGENTCTL_AGENT`` set) these are refused (exit 2):

- ``task update --status done|cancelled`` (finishing is the handoff's or a person's call);
- changing ``status``, ``output``, ``phase`` or ``agent`` of a task that waits at a gate
  (gate ``pending``), or ``output``, ``phase``, ``agent`` (or ``done``) of one whose self-tests failed — that would change what the
  person approves, or skip the code stage;
- ``task add --depends-on`` a gated task (starting the next stage before the approval);
- ``task block`` / ``unblock`` of a gated task (it would leave ``gate list``);
- ``--force`` itself: an agent cannot force.

A person may do all of it; marking ``done`` a task at a gate or with failed self-tests
needs ``--force`` (else ``gate approve`` / ``selftest`` are the way). Whenever a person's
change crosses one of these rules, or ``--force`` is given, a ``forced`` event records
who, why (``--reason``) and which rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentctl.core.records import Task
from agentctl.errors import SelfTestFailed, UsageError

GATE_FIELDS = ("status", "output", "phase", "agent")
"""What the person approves at a gate: frozen for agents while it waits."""
SELFTEST_FIELDS = ("output", "phase", "agent")
"""Frozen for agents while the task's self-tests are failing (its own status may still move)."""


@dataclass
class Actor:
    """Who acts: ``agent`` is $AGENTCTL_AGENT (None for a person); ``force``/``reason`` from the CLI."""

    agent: str | None = None
    force: bool = False
    reason: str | None = None
    crossed: list[str] = field(default_factory=list)
    """Rules a person's change crossed (recorded as a ``forced`` event)."""


def at_gate(task: Task) -> bool:
    return task.gate == "pending"


def tests_failed(task: Task) -> bool:
    return task.selfTest is not None and not task.selfTest.ok


def check_force(who: Actor) -> None:
    if who.force and who.agent:
        raise UsageError(f"--force is for people: refused inside agent process {who.agent} "
                         "(AGENTCTL_AGENT is set; no agent approves its own work)")


def _refuse(who: Actor, rule: str, message: str, *, record: bool = True) -> None:
    """An agent is refused; a person's crossing is noted for the ``forced`` event (``record``)."""
    if who.agent:
        raise UsageError(f"{message}: refused inside agent process {who.agent} (AGENTCTL_AGENT is set; work moves "
                         "on only through `agentctl handoff` or a person)")
    if record:
        who.crossed.append(rule)


def check_update(task: Task, changes: dict[str, Any], who: Actor) -> None:
    """``changes``: field → new value, only the fields the update would really change."""
    tid = task.taskId
    new_status = changes.get("status")
    if new_status in ("done", "cancelled"):  # a person finishing a task is the normal way
        _refuse(who, f"status:{new_status}", f"task {tid}: --status {new_status}", record=False)
    guarded = sorted(f for f in changes if f in GATE_FIELDS)
    if guarded and at_gate(task):
        _refuse(who, "gate", f"task {tid} waits at a human gate; changing {', '.join(guarded)}")
    guarded = sorted(f for f in changes if f in SELFTEST_FIELDS)
    if (guarded or new_status == "done") and tests_failed(task):
        _refuse(who, "selftests", f"task {tid}'s self-tests failed; changing {', '.join(guarded or ['status'])}")
    if new_status == "done" and not who.force:
        if at_gate(task):
            raise UsageError(f"task {tid} waits at a human gate: `agentctl gate approve {tid} --by NAME`, or "
                             "--force --reason WHY to mark it done anyway (recorded)")
        if tests_failed(task):
            raise SelfTestFailed(f"task {tid} is not done: its self-tests failed; `agentctl selftest {tid}` after "
                                 "the fix, or --force --reason WHY to mark it done anyway (recorded)")


def check_add(depends_on: list[Task], who: Actor) -> None:
    for dep in depends_on:
        if at_gate(dep):
            _refuse(who, "gate", f"task {dep.taskId} waits at a human gate; a task depending on it")


def check_block(task: Task, verb: str, who: Actor) -> None:
    if at_gate(task):
        _refuse(who, "gate", f"task {task.taskId} waits at a human gate; `task {verb}` would take it off the gate")


def forced_event(who: Actor) -> dict[str, Any] | None:
    """The ``after`` of a ``forced`` event, or None when nothing was forced."""
    if not who.crossed and not who.force:
        return None
    return {"reason": who.reason or "no reason given", "rules": sorted(set(who.crossed)), "force": who.force}
