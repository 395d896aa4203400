"""What the demo's scripted model answers, and the small project its code agents test.

Data only: the artifacts each agent "writes" (valid against the studio's contracts,
except the design that forgets phones), the JSON replies of the agents without a
contract, realistic token counts, and the AlphaNet repository the code role's
self-tests (``make build``, ``make lint``, ``make test``) run against — including
the backend change whose login test fails, and its fix.
"""

from __future__ import annotations

import copy
from typing import Any

PRODUCT = "AlphaNet"
REPO = "https://github.com/alphanet-studio/alphanet"

# --- the layers, in the order the story plays them -----------------------------------------------

LAYERS: dict[int, tuple[str, str]] = {
    1: ("Task registry: AlphaNet from research to an approved PRD",
        "What is happening right now? One registry (tasks.json) answers it: who works on what, in which phase, "
        "what is blocked and by what."),
    2: ("Cascading validation: a design that forgets phones",
        "Each artifact is checked against the contract of the handoff it feeds (Design → Code: wireframes, "
        "component specs, responsive breakpoints), so a gap is caught before the frontend agent starts, not "
        "three hours into the build."),
    3: ("Circuit breakers: the frontend agent hits rate limits",
        "A rate limit fails the frontend agent's builds across its whole fallback chain. After three failures "
        "in a minute its breaker stops sending it work, waits out the cooldown, then tries one probe run."),
    5: ("Self-tests: the backend agent says done",
        "'Done' must be proven: a code agent's build, lint and tests run before done is accepted, so a broken "
        "login is caught in self-test, not in QA, not in production."),
    4: ("Model tiers: the SEO agent on the premium model",
        "SEO analysis is structured and rule-based. On Opus it costs more than Sonnet would for the same "
        "result; the scorecard finds such agents from the run log."),
    6: ("Proactive monitoring: the morning briefing runs from cron",
        "Cron jobs run agents on a schedule; every run names its job and agent, so the scorecard has no "
        "'unknown' bucket of unattributed cron runs."),
    7: ("Learning loop and scorecard: the day, measured",
        "Every night the day's failures, rejections and self-test failures become regression candidates; once "
        "approved, they go into that role's prompts on every run."),
}

# --- token counts (uncached input, output) per agent: what such calls really use ----------------

USAGE: dict[str, tuple[int, int]] = {
    "rex": (2600, 1500), "pia": (3400, 1900), "vivi": (3100, 1700), "jack": (4200, 1300),
    "kai": (5200, 700), "nico": (3900, 1400), "quinn": (3600, 1100), "leo": (2300, 900),
    "briefing": (1800, 450),
}
SEO_USAGE = (3100, 950)
"""An SEO audit: ~3k tokens in, ~1k out — structured, rule-based work."""

# --- Layer 1: research and PRD ------------------------------------------------------------------

RESEARCH: dict[str, Any] = {
    "topic": "AlphaNet: a portfolio dashboard for first-time retail investors",
    "summary": "First-time investors in the EU hold accounts at two or three brokers and have no single view of "
               "their exposure. Aggregators target advanced users and the US market; a mobile-first dashboard "
               "with plain-language risk summaries has room. Recommendation: an MVP for France and Germany.",
    "sources": [
        {"title": "Retail investor participation in the EU, 2025 report",
         "url": "https://www.esma.europa.eu/publications/retail-investors-2025", "publisher": "ESMA"},
        {"title": "Personal finance app market outlook 2026",
         "url": "https://example.com/reports/personal-finance-apps-2026", "publisher": "Example Research"},
    ],
    "marketData": {"marketSize": "$4.2B serviceable market in the EU (2026)", "growthRate": "18% CAGR 2024-2029",
                   "targetSegment": "Investors aged 22-35 with accounts at two or more brokers"},
    "competitors": [
        {"name": "Finary", "url": "https://finary.com", "positioning": "Wealth tracker for French savers",
         "weaknesses": ["dense interface for beginners"]},
        {"name": "Kubera", "url": "https://www.kubera.com", "positioning": "Net-worth tracker for wealthy users",
         "weaknesses": ["no beginner guidance"]},
        {"name": "Broker-native dashboards", "positioning": "Each broker's own app",
         "weaknesses": ["one broker at a time"]},
    ],
}

PRD: dict[str, Any] = {
    "product": PRODUCT,
    "problem": "First-time investors with several brokers cannot see their total exposure or understand their "
               "risk in plain language.",
    "features": [
        {"id": "F1", "name": "Sign-in", "description": "Email and password login.", "priority": "must"},
        {"id": "F2", "name": "Broker aggregation", "description": "Connect brokers read-only; one portfolio.",
         "priority": "must"},
        {"id": "F3", "name": "Risk summary", "description": "Concentration and volatility in one sentence.",
         "priority": "must"},
    ],
    "userStories": [
        {"id": "US1", "feature": "F1", "as": "an investor", "iWant": "to sign in with my email",
         "soThat": "my portfolio stays private"},
        {"id": "US2", "feature": "F2", "as": "a first-time investor", "iWant": "all my holdings in one place",
         "soThat": "I know my real exposure"},
        {"id": "US3", "feature": "F3", "as": "a first-time investor", "iWant": "my risk explained in one sentence",
         "soThat": "I can decide whether to rebalance"},
    ],
    "acceptanceCriteria": [
        {"id": "AC1", "story": "US1", "criterion": "Given a registered user, when the password is right, a session "
                                                   "opens; when it is wrong, it does not."},
        {"id": "AC2", "story": "US2", "criterion": "Given two connected brokers, the dashboard shows holdings from "
                                                   "both with a combined total."},
        {"id": "AC3", "story": "US3", "criterion": "Given more than 40% in one stock, the risk summary names the "
                                                   "concentration."},
    ],
}

# --- Layer 2: the design, first without phones, then reworked -----------------------------------

DESIGN: dict[str, Any] = {
    "screens": ["login", "dashboard", "risk-summary"],
    "wireframes": [
        {"screen": "login", "description": "Logo, email, password, primary sign-in button, reset link.",
         "elements": ["TextField", "PrimaryButton"], "states": ["error"]},
        {"screen": "dashboard", "description": "Total value header; holdings grouped by broker; connect button.",
         "elements": ["PortfolioTotal", "HoldingRow", "PrimaryButton"], "states": ["empty", "loading"]},
        {"screen": "risk-summary", "description": "One-sentence verdict, concentration chart, suggestions.",
         "elements": ["RiskBadge"], "states": ["loading"]},
    ],
    "componentSpecs": [
        {"name": "PrimaryButton", "description": "Main call to action.", "states": ["default", "focus", "disabled"]},
        {"name": "TextField", "description": "Labelled input with inline error."},
        {"name": "PortfolioTotal", "description": "Combined value with day change."},
        {"name": "HoldingRow", "description": "One holding: name, broker, value, weight."},
        {"name": "RiskBadge", "description": "Low / medium / high risk pill."},
    ],
    "responsiveBreakpoints": [
        {"name": "mobile", "maxWidthPx": 767, "layout": "One column; holdings as cards; bottom navigation bar."},
        {"name": "tablet", "minWidthPx": 768, "maxWidthPx": 1023, "layout": "Two columns; collapsible side bar."},
        {"name": "desktop", "minWidthPx": 1024, "layout": "Three columns; persistent side navigation."},
    ],
}


def design_without_phones() -> dict[str, Any]:
    """The seed's incident: a component library with no breakpoint for screens < 768px."""
    d = copy.deepcopy(DESIGN)
    d["responsiveBreakpoints"] = [bp for bp in d["responsiveBreakpoints"] if bp["name"] != "mobile"]
    return d


# --- Layers 3 and 5: code, review, QA, launch -------------------------------------------------------

def code(pr: int, branch: str, summary: str, files: list[str], tests_passed: int) -> dict[str, Any]:
    """A code artifact as the agent reports it (what it *says* about build and tests)."""
    return {"pr": f"{REPO}/pull/{pr}", "branch": branch, "summary": summary,
            "build": {"status": "passed", "command": "make build"}, "criticalTodos": [],
            "tests": {"status": "passed", "passed": tests_passed, "failed": 0},
            "lint": {"status": "clean", "warnings": 0}, "filesChanged": files}


FRONTEND = code(42, "feat/dashboard", "Login, dashboard and risk-summary screens with the three breakpoints.",
                ["web/screens/Login.tsx", "web/screens/Dashboard.tsx", "web/components/HoldingRow.tsx"], 18)
LOGIN_API = code(43, "feat/login-api", "Login API (Django-style auth): password check and session token.",
                 ["alphanet/auth.py", "alphanet/test_auth.py"], 3)

REVIEW: dict[str, Any] = {
    "approved": True, "openRevisionRequests": [], "reviewer": "kai", "pr": f"{REPO}/pull/42",
    "summary": "Follows the design, including the mobile layout; two comments resolved.",
    "resolvedComments": ["HoldingRow: memoise the formatted value", "Dashboard: handle the empty state"],
}

QA: dict[str, Any] = {
    "certified": True, "build": f"{REPO}/pull/42",
    "testPlan": {"executed": True, "cases": 37,
                 "criticalPaths": [{"name": "sign in", "result": "passed"},
                                   {"name": "connect a broker", "result": "passed"},
                                   {"name": "read the risk summary", "result": "passed"}],
                 "environment": "staging; Chrome, Safari iOS 18, Firefox; 375px, 768px and 1440px viewports"},
    "bugs": [{"id": "BUG-7", "severity": "minor", "title": "Day-change arrow misaligned on Safari"}],
    "summary": "All critical paths pass on the three viewports; one cosmetic bug accepted for launch.",
}

LAUNCH: dict[str, Any] = {
    "copy": "AlphaNet is live: every broker, one portfolio, and your risk in one sentence. "
            "Connect your first broker in two minutes.",
    "releaseNotes": ["Sign in with email", "Read-only broker aggregation", "Plain-language risk summary",
                     "Known issue: day-change arrow misaligned on Safari"],
    "cta": "Connect your first broker",
    "links": ["https://alphanet.app", "https://alphanet.app/help/connect-a-broker"],
    "brokenLinks": [], "proofread": True,
    "checklist": [{"step": "changelog", "owner": "leo"}, {"step": "announcement email", "owner": "leo"}],
}

# --- Layer 4: SEO audits on the premium tier ----------------------------------------------------------

SEO_PAGES = ["/", "/pricing", "/features", "/security", "/brokers", "/blog/first-portfolio",
             "/blog/risk-explained", "/compare/finary", "/compare/kubera", "/help/connect-a-broker",
             "/about", "/careers"]
SEO_FALLBACK_RUNS = frozenset({2, 6, 9})
"""Audits during which Opus is overloaded (529) and the premium tier's fallback, Sonnet, answers."""


def seo_audit(page: str) -> dict[str, Any]:
    return {
        "page": f"https://alphanet.app{page}",
        "keywords": [{"keyword": "portfolio tracker", "intent": "commercial", "priority": 1},
                     {"keyword": "all brokers one app", "intent": "commercial", "priority": 2}],
        "audit": [{"issue": "title is 71 characters", "severity": "medium", "fix": "cut to 58 characters"},
                  {"issue": "two H1 elements", "severity": "low", "fix": "demote the second to H2"}],
        "copy": "Title: AlphaNet — every broker, one portfolio\nMeta: See all your investments in one place "
                "and understand your risk in one sentence.\nH1: Every broker. One portfolio.",
        "cta": "Connect your first broker", "links": [f"https://alphanet.app{page}"], "brokenLinks": [],
        "proofread": True,
    }


# --- Layer 6: the morning briefing -------------------------------------------------------------------

def briefing(blocked: list[str]) -> dict[str, Any]:
    return {
        "headline": "AlphaNet launched yesterday; the wallet QA is still waiting on the smart contract patch.",
        "decisions": ["Chase ChainSec for the audit report (blocks the smart contract patch)"],
        "blocked": blocked,
        "alerts": ["jack: breaker tripped on rate limits, recovered after the cooldown"],
        "calendar": ["10:00 launch retro"], "email": ["nothing urgent"],
    }


# --- the AlphaNet repository the code agents' self-tests run in ------------------------------------

MAKEFILE = """\
# AlphaNet: the code role's self-tests run `make build`, `make lint` and `make test` here
# (agentctl.yaml, roles.code.self_tests). Recipes are indented with tabs.
PYTHON ?= python3

build:
\t$(PYTHON) -m compileall -q alphanet

lint:
\t$(PYTHON) tools/lint.py alphanet

test:
\t$(PYTHON) -m unittest discover -s alphanet -p 'test_*.py' -v

.PHONY: build lint test
"""

LINT = '''\
"""A small linter for the demo project: no tabs, no trailing spaces, lines of at most 100 characters."""

import sys
from pathlib import Path

problems = []
for folder in sys.argv[1:]:
    for path in sorted(Path(folder).rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "\\t" in line or line != line.rstrip() or len(line) > 100:
                problems.append(f"{path}:{n}: tab, trailing space or line over 100 characters")
print("\\n".join(problems) or "lint clean")
sys.exit(1 if problems else 0)
'''

PORTFOLIO = '''\
"""AlphaNet portfolio maths (already in the repository)."""


def total(holdings: list[dict]) -> float:
    return round(sum(h["value"] for h in holdings), 2)


def concentration(holdings: list[dict]) -> float:
    """Share of the largest holding, 0..1."""
    values = [h["value"] for h in holdings]
    return max(values) / sum(values) if values and sum(values) else 0.0
'''

TEST_PORTFOLIO = '''\
import unittest

from portfolio import concentration, total


class PortfolioTest(unittest.TestCase):
    def test_total_adds_every_broker(self):
        self.assertEqual(total([{"value": 100.0}, {"value": 50.5}]), 150.5)

    def test_concentration_names_the_largest_share(self):
        self.assertAlmostEqual(concentration([{"value": 60.0}, {"value": 40.0}]), 0.6)


if __name__ == "__main__":
    unittest.main()
'''

_AUTH = '''\
"""AlphaNet login API (backend): check a password, open a session."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def hash_password(password: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 20_000).hex()


def register(users: dict, email: str, password: str) -> None:
    salt = secrets.token_bytes(16)
    users[email.lower()] = {{"salt": salt, "hash": hash_password(password, salt)}}


def login(users: dict, email: str, password: str) -> str | None:
    """A session token for valid credentials, else None."""
    user = users.get(email.lower())
    if user is None:
        return None
    if not hmac.compare_digest({check}):
        return None
    return secrets.token_urlsafe(32)
'''
AUTH_BROKEN = _AUTH.format(check='user["hash"], password')
"""nico's change as pushed: it compares the stored hash with the plaintext, so every valid login fails."""
AUTH_FIXED = _AUTH.format(check='user["hash"], hash_password(password, user["salt"])')

TEST_AUTH = '''\
import unittest

from auth import login, register


class LoginTest(unittest.TestCase):
    def setUp(self):
        self.users = {}
        register(self.users, "ada@alphanet.app", "correct horse battery staple")

    def test_login_accepts_valid_password(self):
        token = login(self.users, "Ada@alphanet.app", "correct horse battery staple")
        self.assertIsNotNone(token, "a valid login was refused: users could not sign in")

    def test_login_rejects_wrong_password(self):
        self.assertIsNone(login(self.users, "ada@alphanet.app", "hunter2"))

    def test_unknown_user_is_refused(self):
        self.assertIsNone(login(self.users, "eve@alphanet.app", "anything"))


if __name__ == "__main__":
    unittest.main()
'''

PROJECT = {"Makefile": MAKEFILE, "tools/lint.py": LINT, "alphanet/portfolio.py": PORTFOLIO,
           "alphanet/test_portfolio.py": TEST_PORTFOLIO}
"""The repository as the demo starts: builds, lints and tests clean."""
LOGIN_CHANGE = {"alphanet/auth.py": AUTH_BROKEN, "alphanet/test_auth.py": TEST_AUTH}
LOGIN_FIX = {"alphanet/auth.py": AUTH_FIXED}
FAILING_TEST = "test_login_accepts_valid_password"
