"""`agentctl demo` (SPEC §11): all seven layers end to end, with no API key and no network.

It creates a studio workspace and plays the incidents that motivate each layer
through the real services — the runner (and through it the real anthropic and
openai SDKs), handoffs and gates, breakers, self-tests, cron, learn and the
scorecard — against the package's scripted model server on 127.0.0.1
(``agentctl.demo.server``), which replays the answers in ``demo_script``.

Decisions:

- ``agentctl.yaml`` is never rewritten. Every model call goes to the local server
  through the router's ``AGENTCTL_MODEL_BASE_URL`` override, set with dummy keys in
  the demo's own environment only (the process environment is swapped for the
  demo's duration and restored, because ``cron.run_job`` and the SDKs read it).
  So the workspace left behind keeps the studio's real endpoints and prices: set the
  keys and ``agentctl run`` works for real; nothing points at a stopped server.
- Time: a ``DemoClock`` that starts ``LAG`` in the past and runs at real speed; where
  production waits (``retry-after``, the breaker's 5-minute cooldown) the clock
  skips ahead instead of sleeping. The studio's breaker policy is unchanged and every
  record stays in the past, so ``scorecard --days 1`` run afterwards sees them all.
- A demo folder must be new: a non-empty one needs ``force`` and an existing
  workspace is always refused (the story needs fresh state; nothing is deleted).

No printing here: progress goes to ``emit`` as ``DemoEvent``s (the CLI renders
them), and ``play`` returns a summary of what happened.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agentctl.core.clock import iso, utcnow
from agentctl.demo import script
from agentctl.errors import AgentctlError, UsageError
from agentctl.workspace.loader import Workspace

DEFAULT_DIR = "agentctl-demo"
LAG = timedelta(minutes=10)
HUMAN = "demo-human"
DUMMY_KEY = "agentctl-demo-offline"
"""Not a secret: the local server accepts any key; a real one never leaves the user's shell."""
KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "XAI_API_KEY")
_SECRETISH = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL|_BASE_URL$", re.I)


class DemoFailed(AgentctlError):
    """A demo step did not go as scripted (exit 1): the message names the step."""

    exit_code = 1


@dataclass
class DemoEvent:
    kind: str
    """intro | layer | step | note | board | blocked | scorecard | outro"""
    text: str = ""
    layer: int | None = None
    ok: bool | None = None
    code: int | None = None
    data: Any = None


Emit = Callable[[DemoEvent], None]


class DemoClock:
    """Real time from ``start``, plus the waits the demo skipped instead of sleeping."""

    def __init__(self, start: datetime):
        self.start, self.t0, self.skipped = start, time.monotonic(), 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0 + self.skipped)

    def advance(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)


# --- the environment ------------------------------------------------------------------------

def offline_env(base_url: str, source: dict[str, str] | None = None) -> dict[str, str]:
    """The demo's environment: no real credential or endpoint, dummy keys, every call to ``base_url``."""
    src = dict(os.environ if source is None else source)
    env = {k: v for k, v in src.items() if not k.startswith("AGENTCTL_") and not _SECRETISH.search(k)}
    env.update({k: DUMMY_KEY for k in KEY_VARS})
    env.update(AGENTCTL_MODEL_BASE_URL=base_url, AGENTCTL_MAX_RETRY_WAIT="5", PYTHON=sys.executable)
    return env


@contextlib.contextmanager
def swapped_environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_prerequisites() -> None:
    """The studio's code role runs `make build|lint|test` as self-tests (roles.code in agentctl.yaml)."""
    import shutil

    if shutil.which("make") is None:
        raise DemoFailed("the demo needs `make`: the studio's code agents run `make build`, `make lint` and "
                         "`make test` as self-tests; install make and run the demo again")


def check_target(target: Path, force: bool) -> None:
    if (target / "agentctl.yaml").exists() or (target / "tasks.json").exists():
        raise UsageError(f"{target} already holds an agentctl workspace; the demo needs a new folder "
                         "(pass another DIR, e.g. `agentctl demo agentctl-demo-2`)")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise UsageError(f"{target} is not empty; pass another DIR, or --force to add the demo workspace to it")


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# --- the show -----------------------------------------------------------------------------------

def play(target: Path, *, force: bool = False, emit: Emit | None = None,
         now: Callable[[], datetime] = utcnow) -> dict[str, Any]:
    """Create the demo workspace in ``target``, play every layer, return the summary."""
    from agentctl.demo.server import ModelServer
    from agentctl.workspace.templates import init_workspace

    started = time.monotonic()
    target = target.expanduser().resolve()
    check_target(target, force)
    check_prerequisites()
    init_workspace(target, "studio", force)
    write_files(target, script.PROJECT)
    with ModelServer(use_default=False) as srv:
        env = offline_env(srv.base_url)
        show = _Show(Workspace(target), srv, env, DemoClock(now() - LAG), emit or (lambda e: None))
        with swapped_environ(env):
            show.intro()
            for layer in (show.registry, show.validation, show.breakers, show.self_tests, show.tiers,
                          show.cron, show.learning):
                layer()
        show.summary["modelRequests"] = len(srv.requests)
        show.summary["keysSeenByServer"] = sorted({r.api_key or "" for r in srv.requests} - {DUMMY_KEY})
    show.summary["durationS"] = round(time.monotonic() - started, 2)
    show.outro()
    return show.summary


class _Show:
    def __init__(self, ws: Workspace, srv: Any, env: dict[str, str], clock: DemoClock, emit: Emit):
        self.ws, self.srv, self.env, self.clock, self.emit = ws, srv, env, clock, emit
        self.ids: dict[str, str] = {}
        self.current = 0
        self.summary: dict[str, Any] = {"workspace": str(ws.root), "offline": True, "product": script.PRODUCT,
                                        "steps": []}

    # --- narration ---------------------------------------------------------------------------
    def intro(self) -> None:
        self.emit(DemoEvent("intro", data={
            "workspace": str(self.ws.root), "server": self.srv.base_url, "start": iso(self.clock()),
            "text": "The model is a scripted offline stand-in: agentctl's local model server on "
                    f"{self.srv.base_url} replays the incidents below through the real anthropic and openai "
                    "SDKs. No API key, no network."}))

    def layer(self, n: int) -> None:
        self.current = n
        title, why = script.LAYERS[n]
        self.emit(DemoEvent("layer", text=title, layer=n, data={"why": why}))

    def step(self, text: str, code: int = 0, *, expect: int | None = None, detail: str = "", via: str = "") -> None:
        """One command of the story; ``expect`` is the exit code the story needs (default: ``code``)."""
        want = code if expect is None else expect
        self.summary["steps"].append({"layer": self.current, "text": text, "exitCode": code, "expected": want})
        self.emit(DemoEvent("step", text=text, layer=self.current, ok=code == 0, code=code, data={"via": via}))
        if code != want:
            raise DemoFailed(f"demo step did not go as scripted (layer {self.current}): {text}: expected exit "
                             f"{want}, got {code}" + (f": {detail}" if detail else ""))

    def note(self, text: str) -> None:
        self.emit(DemoEvent("note", text=text, layer=self.current))

    def board(self) -> None:
        from agentctl.registry.service import board

        self.emit(DemoEvent("board", layer=self.current, data=board(self.ws, self.clock(), None)))

    # --- the services, as the CLI commands call them ---------------------------------------------
    def add(self, key: str, title: str, agent: str, **fields: Any) -> str:
        from agentctl.registry.service import NewTask, add_task

        task = add_task(self.ws, NewTask(title=title, agent=agent, product=script.PRODUCT, **fields), "chief",
                        self.clock())
        self.ids[key] = task.taskId
        return task.taskId

    def run(self, agent: str, task_id: str, *, reply: tuple[Any, ...] = (), expect: int = 0, say: str = "") -> Any:
        from agentctl.run.runner import RunRequest, run_agent

        if reply:
            self.srv.add(*reply, agent=agent)
        out = run_agent(self.ws, RunRequest(agent=agent, task_id=task_id), self.clock, env=self.env,
                        sleep=self.clock.advance)
        who = f"{agent} on {task_id}"
        self.step(f"run {who}: {say or out.record.status}", out.exit_code, expect=expect, detail=out.message,
                  via=_via(out.record))
        if self.srv.pending():
            raise DemoFailed(f"demo script out of step after {who}: {self.srv.pending()} scripted answer(s) unused")
        return out

    def handoff(self, task_id: str, say: str, *, artifact: str | None = None, expect: int = 0) -> Any:
        from agentctl.contracts.handoff import handoff

        task = self.task(task_id)
        res = handoff(self.ws, task_id, self.ws.root / artifact if artifact else None, task.agent or "chief",
                      self.clock())
        made = f" → {', '.join(f'{t.taskId} for {t.agent}' for t in res.created)}" if res.created else ""
        flag = f" --artifact {artifact}" if artifact else ""
        self.step(f"handoff {task_id}{flag}: {say}{made}", 0 if res.valid else 3, expect=expect,
                  detail=res.verdict.summary)
        return res

    def approve(self, task_id: str, what: str) -> Any:
        from agentctl.contracts.handoff import approve_gate

        res = approve_gate(self.ws, task_id, HUMAN, f"user:{HUMAN}", self.clock())
        made = ", ".join(f"{t.taskId} for {t.agent}" for t in res.created)
        self.step(f"gate approve {task_id} --by {HUMAN}: {what}" + (f" → {made}" if made else ""))
        return res

    def task(self, task_id: str) -> Any:
        from agentctl.registry.service import find_task

        return find_task(self.ws, task_id)

    def reply(self, agent: str, artifact: Any = None, *, text: str | None = None) -> Any:
        from agentctl.demo.server import Reply, Usage

        tin, tout = script.USAGE[agent]
        return Reply(artifact=artifact, text=text, usage=Usage(input=tin, output=tout))

    # --- Layer 1 ------------------------------------------------------------------------------------
    def registry(self) -> None:
        from agentctl.registry.service import block_task, blocked_report

        self.layer(1)
        t1 = self.add("research", f"research: {script.PRODUCT}", "rex", phase="research")
        self.step(f"task add {t1} --agent rex --phase research (the pipeline starts)")
        self.run("rex", t1, reply=(self.reply("rex", script.RESEARCH),),
                 say="claimed; 2 sources, 3 competitors, market size")
        t2 = self.handoff(t1, "research passes the Research → PRD contract").created[0].taskId
        self.run("pia", t2, reply=(self.reply("pia", script.PRD),), say="PRD with 3 features, stories, criteria")
        self.handoff(t2, "PRD valid; the prd stage is gated: waits for a human")
        self.ids["design"] = self.approve(t2, "the PRD is approved").created[0].taskId
        patch = self.add("patch", "Wallet: smart contract patch (withdrawal limits)", "nico", phase="code")
        block_task(self.ws, patch, "waiting for the ChainSec audit report", [], "chief", self.clock())
        qa = self.add("wallet-qa", "Wallet: QA of withdrawals", "quinn", phase="qa")
        block_task(self.ws, qa, "waiting for the smart contract patch", [patch], "chief", self.clock())
        self.step(f"task block {qa} --on {patch}; task block {patch} (the wallet release waits on an audit)")
        chain = next(b for b in blocked_report(self.ws) if b["taskId"] == qa)
        root = chain["rootCauses"][0]
        self.note(f"agentctl blocked: {' → '.join(chain['chains'][0])}; root cause {root['taskId']} "
                  f"({root['agent']}): {root['blockedBy']}")
        self.summary["blockedChain"] = {"taskId": qa, "chain": chain["chains"][0], "rootCause": root["taskId"]}
        self.board()

    # --- Layer 2 ------------------------------------------------------------------------------------
    def validation(self) -> None:
        self.layer(2)
        t3 = self.ids["design"]
        out = self.run("vivi", t3, reply=(self.reply("vivi", script.design_without_phones()),), expect=3,
                       say="a component library with no breakpoint below 768px: refused by the design contract")
        self.handoff(t3, "pushed anyway, jack's side refuses it; nothing is created for jack",
                     artifact=f"artifacts/{t3}/design.rejected.json", expect=3)
        rej = self.task(t3).rejections[-1]
        self.note(f"{t3} is {self.task(t3).status}, blocked by “{self.task(t3).blockedBy}”: the rejection goes "
                  "back to vivi")
        self.board()
        self.run("vivi", t3, reply=(self.reply("vivi", script.DESIGN),),
                 say="rework with a mobile breakpoint (max 767px)")
        seen = self.srv.requests[-1].prompt
        saw = "previous" in seen and "rejected" in seen and "responsive breakpoints" in seen
        if not saw:
            raise DemoFailed("the rework request did not carry the rejection")
        line = next((ln for ln in seen.splitlines() if "responsive breakpoints" in ln), "")
        self.note(f"vivi's rework request carried the rejection: “{_clip(re.sub(r' [(][^)]*[)]', '', line), 140)}”")
        self.ids["code"] = self.handoff(t3, "design passes Design → Code").created[0].taskId
        self.summary["rejection"] = {
            "taskId": t3, "agent": "vivi", "exitCode": out.exit_code, "by": rej.by, "stage": rej.stage,
            "missing": list(rej.missing), "summary": rej.summary, "reworkSawRejection": saw, "reworkExit": 0}

    # --- Layer 3 ------------------------------------------------------------------------------------
    def breakers(self) -> None:
        from agentctl.breakers.breaker import breaker_status
        from agentctl.demo.server import Fail

        jack = self.ws.agent("jack")
        policy = self.ws.breaker_for(jack)
        self.layer(3)
        code, design = self.ids["code"], self.task(self.ids["code"]).input
        builds = [code, self.add("landing", "AlphaNet: landing page", "jack", phase="code", input=design),
                  self.add("settings", "AlphaNet: settings screen", "jack", phase="code", input=design)]
        chain = "claude-sonnet-4-6 → claude-haiku-4-5"
        for t in builds:
            out = self.run("jack", t, reply=(Fail(429, retry_after=1, times=6),), expect=1,
                           say=f"429 rate limited on {chain} (retry-after honoured): failed")
        if out.breaker != "tripped":
            raise DemoFailed(f"jack's breaker did not trip after three failures ({out.breaker})")
        state = breaker_status(self.ws, jack, self.clock())
        self.note(f"breaker of jack OPEN: {policy.threshold} failures within {policy.window_s:g}s (role code); "
                  f"one probe run at {state['retryAt']}")
        n = len(self.srv.requests)
        refused = self.run("jack", code, expect=75, say="refused at once by the open breaker (no model call)")
        if len(self.srv.requests) != n:
            raise DemoFailed("a run refused by the open breaker still called the model")
        self.board()
        self.clock.advance(policy.cooldown_s + 1)
        self.note(f"the demo clock skips the studio's {policy.cooldown_s:g}s cooldown (cooldown_s: "
                  f"{policy.cooldown_s:g}) instead of waiting; the rate limit has reset")
        probe = self.run("jack", code, reply=(self.reply("jack", script.FRONTEND),),
                         say="half-open probe: build, lint, tests pass; breaker closed")
        for t in builds[1:]:
            self.run("jack", t, reply=(self.reply("jack", script.FRONTEND),), say="back to normal work")
        review = self.handoff(code, "the build passes Code → Review").created[0].taskId
        self.run("kai", review, reply=(self.reply("kai", script.REVIEW),),
                 say="approved (specialized tier, OpenAI wire format)")
        self.ids["qa"] = self.handoff(review, "review passes Review → QA").created[0].taskId
        self.summary["breaker"] = {
            "agent": "jack", "failures": len(builds), "tripped": True, "refusedExit": refused.exit_code,
            "refusedStatus": refused.record.status, "modelCalledWhenOpen": False, "cooldownS": policy.cooldown_s,
            "probeExit": probe.exit_code, "recovered": probe.breaker == "recovered",
            "state": breaker_status(self.ws, jack, self.clock())["state"]}

    # --- Layer 5 ------------------------------------------------------------------------------------
    def self_tests(self) -> None:
        self.layer(5)
        write_files(self.ws.root, script.LOGIN_CHANGE)
        login = self.add("login", "AlphaNet: login API (Django auth)", "nico", phase="code",
                         input=self.task(self.ids["code"]).input)
        self.note(f"nico pushes the login API for {login}: alphanet/auth.py and its tests")
        out = self.run("nico", login, reply=(self.reply("nico", script.LOGIN_API),), expect=4,
                       say="reports tests passed; make test says otherwise: not done")
        report = self.task(login).selfTest
        failed = [r for r in report.results if not r.ok]
        found = re.findall(r"FAIL: (test_\w+)", "".join(r.outputTail for r in failed))
        self.note(f"self-test evidence on {login}: " + "; ".join(f"{r.name} (exit {r.exitCode})" for r in failed)
                  + (f" — {', '.join(found)}" if found else ""))
        write_files(self.ws.root, script.LOGIN_FIX)
        fixed = self.run("nico", login, reply=(self.reply("nico", script.LOGIN_API),),
                         say="the fix (compare password hashes): build, lint, tests pass; done accepted")
        self.handoff(login, "the login API goes to review")
        self.summary["selfTest"] = {
            "agent": "nico", "taskId": login, "exitCode": out.exit_code, "status": out.record.status,
            "failedRules": [r.name for r in failed], "failingTests": found, "fixedExit": fixed.exit_code}
        self.launch()

    def launch(self) -> None:
        """The end of the pipeline: QA's and the launch copy's own self-tests, the human sign-off between."""
        qa = self.ids["qa"]
        self.run("quinn", qa, reply=(self.reply("quinn", script.QA),),
                 say="test plan executed on 3 critical paths, no critical bug")
        self.handoff(qa, "QA certifies; launch sign-off is a human gate")
        launch = self.approve(qa, "launch signed off").created[0].taskId
        self.run("leo", launch, reply=(self.reply("leo", text=_json(script.LAUNCH)),),
                 say="launch copy proofread, links valid, CTA present: AlphaNet is live")
        self.summary["launch"] = {"taskId": launch, "status": self.task(launch).status}

    # --- Layer 4 ------------------------------------------------------------------------------------
    def tiers(self) -> None:
        from agentctl.demo.server import Fail, Reply, Usage
        from agentctl.scorecard.build import build_scorecard

        self.layer(4)
        tin, tout = script.SEO_USAGE
        for i, page in enumerate(script.SEO_PAGES):
            t = self.add(f"seo-{i}", f"SEO audit: alphanet.app{page}", "seo", phase="marketing")
            answer = Reply(text=_json(script.seo_audit(page)), usage=Usage(input=tin + 37 * i, output=tout + 11 * i))
            overloaded = i in script.SEO_FALLBACK_RUNS
            steps = (Fail(529, times=3), answer) if overloaded else (answer,)
            self.run("seo", t, reply=steps, say="Opus overloaded, Sonnet answered: audit done" if overloaded
                     else "audit done")
        self.clock.advance(1)  # the scorecard's window ends on a whole second: let the last audit fall inside
        report = build_scorecard(self.ws, days=1, now=self.clock())
        cand = next((c for c in report["downgradeCandidates"] if c["agent"] == "seo"), None)
        if cand is None:
            raise DemoFailed("the scorecard did not flag the SEO agent as a downgrade candidate")
        self.step(f"scorecard: seo is a downgrade candidate, {cand['fromModel']} → {cand['toModel']}: "
                  f"${cand['costPerRunUsd']:.4f} → ${cand['estimatedCostPerRunUsd']:.4f} per audit, "
                  f"~${cand['estimatedMonthlySavingUsd']:.2f}/month at this rate (confidence {cand['confidence']})")
        self.note(f"evidence: {cand['evidence']['summary']}")
        self.summary["downgrade"] = {k: cand[k] for k in ("agent", "fromTier", "fromModel", "toTier", "toModel",
                                                         "runs", "costPerRunUsd", "estimatedCostPerRunUsd",
                                                         "estimatedMonthlySavingUsd", "confidence")}

    # --- Layer 6 ------------------------------------------------------------------------------------
    def cron(self) -> None:
        from agentctl.cron.jobs import find_job, run_job
        from agentctl.cron.schedule import slot_for

        self.layer(6)
        job = find_job(self.ws, "morning-briefing")
        blocked = [f"{self.ids['wallet-qa']} waits on {self.ids['patch']}: ChainSec audit report"]
        self.srv.add(self.reply("briefing", text=_json(script.briefing(blocked))), agent="briefing")
        slot = slot_for(job, self.clock())  # replay cron's firing at the job's latest slot, as crontab calls it
        fire, t0 = slot + timedelta(seconds=1), time.monotonic()
        out = run_job(self.ws, job.name, fire, lambda: fire + timedelta(seconds=time.monotonic() - t0), scheduled=True)
        rec = out.records[-1]
        self.step(f"cron run {job.name} --scheduled (what crontab calls; slot {iso(slot)}): {rec.status}; "
                  f"run {rec.runId} attributed to job={rec.job} agent={rec.agent} trigger={rec.trigger}",
                  out.exit_code, expect=0, detail=out.message)
        if (rec.job, rec.agent, rec.trigger) != (job.name, job.agent, "cron"):
            raise DemoFailed(f"the cron run was not attributed: {rec.job} {rec.agent} {rec.trigger}")
        self.note(f"`agentctl cron install` puts the studio's {len(self.ws.config.cron)} jobs in your crontab; "
                  "the demo did not touch it")
        self.summary["cron"] = {"job": rec.job, "agent": rec.agent, "trigger": rec.trigger, "runId": rec.runId,
                                "status": rec.status, "exitCode": out.exit_code, "slot": out.slot}

    # --- Layer 7 ------------------------------------------------------------------------------------
    def learning(self) -> None:
        from agentctl.learning.learn import run_learn
        from agentctl.scorecard.build import build_scorecard

        self.layer(7)
        self.clock.advance(1)  # windows end on a whole second: let the cron run fall inside
        learned = run_learn(self.ws, timedelta(hours=24), self.clock(), alert=False)
        new = learned["newCandidates"]
        self.step(f"learn --since 24h: {learned['occurrences']} failures → {len(new)} regression candidates "
                  f"in {learned['file']}")
        for c in new:
            self.note(f"{c['id']} candidate (×{c['count']}): {_clip(c['signature'], 110)}")
        self.note("review them with `agentctl regressions list`; `regressions approve ID` puts a rule in that "
                  "role's prompts")
        self.summary["learn"] = {"occurrences": learned["occurrences"], "file": learned["file"],
                                 "newCandidates": [{k: c[k] for k in ("id", "agent", "signature", "count")}
                                                   for c in new]}
        report = build_scorecard(self.ws, days=1, now=self.clock())
        self.summary["scorecard"] = {"runs": report["totals"].get("runs"), "costUsd": report["totals"].get("costUsd"),
                                     "downgradeCandidates": [c["agent"] for c in report["downgradeCandidates"]],
                                     "unknownRuns": report["unknown"]["runs"]}
        self.board()
        self.note("cron coverage counts each job's slots from its install (`agentctl cron install`, not run "
                  "here): ok, failed, skipped, missed, pending")
        self.emit(DemoEvent("scorecard", layer=7, data=report))

    def outro(self) -> None:
        self.emit(DemoEvent("outro", data={"workspace": str(self.ws.root), "durationS": self.summary["durationS"],
                                           "requests": self.summary["modelRequests"]}))


# --- helpers ------------------------------------------------------------------------------------

def _clip(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)


def _via(rec: Any) -> str:
    """``claude-sonnet-4-6 · 3100→1700 tokens · $0.0348`` for a run that a model answered."""
    if rec.status in ("skipped", "duplicate") or not rec.tokensIn:
        return ""
    cost = "unpriced" if rec.costUsd is None else f"${rec.costUsd:.4f}"
    return f"{rec.model} · {rec.tokensIn}→{rec.tokensOut} tokens · {cost}"
