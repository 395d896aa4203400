"""Rendering of the scorecard (SPEC §9): a rich terminal report, markdown for the weekly
message, JSON, and one self-contained HTML page (inline CSS and SVG, nothing fetched).

Input is the dict of ``agentctl.scorecard.build.build_scorecard``; output is text. ``rich``
is imported only by the table renderer, inside the function.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

FORMATS = ("table", "markdown", "json", "html")
EXTENSIONS = {"table": "txt", "markdown": "md", "json": "json", "html": "html"}


def render(report: dict[str, Any], fmt: str, *, color: bool = False, width: int | None = None) -> str:
    """The report in ``fmt``. Data from run logs and configs (names, teams, error text) is made
    inert first (``agentctl.core.inert``), HTML-escaped for markdown, and never read as rich markup."""
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    report = _clean(report, markdown=fmt == "markdown")
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "table":
        return render_table(report, color=color, width=width)
    raise ValueError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")


def _clean(obj: Any, *, markdown: bool) -> Any:
    """Every string value inert (and HTML-escaped for markdown); keys are ours and kept."""
    from agentctl.core.inert import html as html_text
    from agentctl.core.inert import inert

    if isinstance(obj, str):
        return html_text(obj) if markdown else inert(obj)
    if isinstance(obj, dict):
        return {k: _clean(v, markdown=markdown) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v, markdown=markdown) for v in obj]
    return obj


# --- cells -----------------------------------------------------------------------------
def pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"


def money(x: float | None, partial: bool = False) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 0.1 or x == 0:
        text = f"${x:,.2f}"
    else:  # small amounts: up to 4 decimals, at least 2
        digits = f"{x:.4f}".rstrip("0")
        text = "$" + (digits if len(digits.split(".")[1]) >= 2 else f"{x:.2f}")
    return ("≥" if partial else "") + text


def tokens(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}"


def seconds(x: float | None) -> str:
    if x is None:
        return "–"
    if x < 60:
        return f"{x:.1f}s"
    minutes, secs = divmod(round(x), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def num(x: Any) -> str:
    return "–" if x is None else str(x)


def _cost(row: dict[str, Any]) -> str:
    """A recorded cost; "unpriced" when no run had a price, "≥$x" when some had none."""
    if row.get("costUsd") is None:
        return "unpriced" if row.get("unpricedRuns") else "n/a"
    return money(row.get("costUsd"), partial=bool(row.get("unpricedRuns")))


def _cps(row: dict[str, Any]) -> str:
    if row.get("costPerSuccessUsd") is None:
        return "unpriced" if row.get("unpricedRuns") and row.get("successes") else "n/a"
    text = money(row.get("costPerSuccessUsd"))
    return text + "*" if row.get("unpricedRuns") else text


AGENT_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("Agent", lambda r: r["agent"]), ("Team", lambda r: r["team"]), ("Tier", lambda r: num(r["tier"])),
    ("Runs", lambda r: str(r["runs"])), ("OK", lambda r: str(r["successes"])), ("Fail", lambda r: str(r["failures"])),
    ("Success", lambda r: pct(r["successRate"])), ("Consec. err", lambda r: str(r["consecutiveErrors"])),
    ("Tokens in/out", lambda r: f"{tokens(r['avgTokensIn'])} / {tokens(r['avgTokensOut'])}"),
    ("Avg time", lambda r: seconds(r["avgDurationS"])), ("Cost", _cost), ("Cost/success", _cps),
    ("Trust", lambda r: "–" if r["trustScore"] is None else f"{r['trustScore']:.0f}"),
]
BUCKET_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("Runs", lambda r: str(r["runs"])), ("Success", lambda r: pct(r["successRate"])),
    ("Cost/run", lambda r: money(r["costPerRunUsd"])), ("Cost/success", _cps),
    ("Tokens/run", lambda r: tokens(r["avgTokensPerRun"])), ("$/MTok", lambda r: money(r["costPerMTokUsd"])),
    ("Cost", _cost), ("Agents", lambda r: str(r["agents"])),
]


def _tier_cells(r: dict[str, Any]) -> list[str]:
    return [r["tier"], ", ".join(r["models"]), *(f(r) for _, f in BUCKET_COLUMNS)]


def _model_cells(r: dict[str, Any]) -> list[str]:
    return [r["model"], ", ".join(r["tiers"]), *(f(r) for _, f in BUCKET_COLUMNS)]


TIER_HEADERS = ["Tier", "Models", *(h for h, _ in BUCKET_COLUMNS)]
MODEL_HEADERS = ["Model", "Tiers", *(h for h, _ in BUCKET_COLUMNS)]


def headline(report: dict[str, Any]) -> str:
    t, w = report["totals"], report["window"]
    unpriced = f" ({t['unpricedRuns']} unpriced)" if t["unpricedRuns"] else ""
    return (f"{w['start'][:10]} → {w['end'][:10]} ({_days(w['days'])}) · {t['runs']} runs · "
            f"{pct(t['successRate'])} success · {_cost(t)}{unpriced} · "
            f"{t['agentsActive']}/{t['agentsDefined']} agents active")


def _days(days: float) -> str:
    d = int(days) if float(days).is_integer() else days
    return f"{d} day" + ("" if d == 1 else "s")


def downgrade_line(c: dict[str, Any]) -> str:
    return (f"{c['agent']}: {c['fromTier']} ({c['fromModel']}) → {c['toTier']} ({c['toModel']}), "
            f"{money(c['costPerRunUsd'])} → ~{money(c['estimatedCostPerRunUsd'])} per run, "
            f"saves ~{money(c['estimatedMonthlySavingUsd'])}/month at {c['runsPerMonth']:g} runs/month "
            f"[{c['confidence']} confidence: {c['evidence']['summary']}]")


def upgrade_line(u: dict[str, Any]) -> str:
    return (f"{u['agent']}: {u['fromTier']} → {u['toTier']} ({u['toModel']}): {u['qualityFailures']} of "
            f"{u['runs']} runs failed on quality ({pct(u['qualityFailureRate'])}); "
            f"~{money(u['estimatedExtraMonthlyCostUsd'])}/month more")


def broken_line(b: dict[str, Any]) -> str:
    errs = ", ".join(f"{e['type']} ×{e['count']}" for e in b.get("topErrors") or [])
    return f"{b['agent']} ({b['team']}): {'; '.join(b['reasons'])}" + (f" — errors: {errs}" if errs else "")


def cron_line(c: dict[str, Any], shown: int = 3) -> str:
    slots = list(c.get("missedSlots") or [])[:shown]
    more = c["missed"] - len(slots)
    return (f"{c['job']} ({c['schedule']}): {c['missed']} of {c['expected']} slots missed, "
            f"{c['recorded']} runs recorded" + (f"; missed {', '.join(slots)}" if slots else "")
            + (f" and {more} more" if slots and more > 0 else ""))


def unknown_line(u: dict[str, Any]) -> str:
    text = f"{u['runs']} runs ({_cost(u)}) not attributable to a defined agent"
    if u["cronRuns"]:
        text += f"; {u['cronUnattributed']} of {u['cronRuns']} cron runs unattributed"
    return text


def source_label(s: dict[str, Any]) -> str:
    if "job" in s:
        return f"cron job {s['job']} (no agent recorded)"
    label = str(s["label"])
    return f"agent {label[6:]} (not defined)" if label.startswith("agent:") else label


# --- markdown ------------------------------------------------------------------------------
def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return out


def render_markdown(report: dict[str, Any]) -> str:
    r = report
    out = [f"# Agent scorecard — last {_days(r['window']['days'])}", "", headline(r), ""]
    out += ["## Attention", ""]
    attention = ([f"- **Broken:** {broken_line(b)}" for b in r["brokenAgents"]]
                 + [f"- **Downgrade candidate:** {downgrade_line(c)}" for c in r["downgradeCandidates"]]
                 + [f"- **Upgrade candidate:** {upgrade_line(u)}" for u in r.get("upgradeCandidates", [])]
                 + [f"- **Cron gap:** {cron_line(c)}" for c in r["cronCoverage"]])
    if r["idleAgents"]:
        attention.append("- **Idle:** " + ", ".join(a["agent"] for a in r["idleAgents"]))
    if r["unknown"]["runs"]:
        attention.append(f"- **Unknown bucket:** {unknown_line(r['unknown'])}")
    out += (attention or ["Nothing needs attention."]) + [""]
    out += ["## Agents", ""]
    if r["agents"]:
        out += _md_table([h for h, _ in AGENT_COLUMNS], [[f(a) for _, f in AGENT_COLUMNS] for a in r["agents"]])
    else:
        out.append("No defined agent ran in the window.")
    out += ["", "## Model efficiency", ""]
    if r["tiers"]:
        out += ["Per tier:", ""] + _md_table(TIER_HEADERS, [_tier_cells(t) for t in r["tiers"]])
        out += ["", "Per model:", ""] + _md_table(MODEL_HEADERS, [_model_cells(m) for m in r.get("models", [])])
    else:
        out.append("No model runs in the window.")
    out += ["", "## Downgrade candidates", "", f"Rule: {r['rules']['downgrade']}", ""]
    out += [f"- {downgrade_line(c)}" for c in r["downgradeCandidates"]] or ["None."]
    out += ["", "## Upgrade candidates", "", f"Rule: {r['rules']['upgrade']}", ""]
    out += [f"- {upgrade_line(u)}" for u in r.get("upgradeCandidates", [])] or ["None."]
    out += ["", "## Broken agents", "", f"Rule: {r['rules']['broken']}", ""]
    out += [f"- {broken_line(b)}" for b in r["brokenAgents"]] or ["None."]
    out += ["", "## Idle agents", ""]
    out += [f"- {a['agent']} ({a['team']}, {a['tier'] or 'no tier'})" for a in r["idleAgents"]] or ["None."]
    out += ["", "## Cron coverage gaps", ""]
    if not r.get("cronCoverageAvailable", True):
        out += ["Cron coverage was not available."]
    else:
        out += [f"- {cron_line(c)}" for c in r["cronCoverage"]] or ["None: every scheduled slot has a run."]
    out += ["", "## Unknown bucket", "", unknown_line(r["unknown"]), ""]
    if r["unknown"]["sources"]:
        out += _md_table(["Source", "Runs", "Cost"], [[source_label(s), str(s["runs"]), _cost(s)]
                                                      for s in r["unknown"]["sources"]])
        out.append("")
    out += ["## Notes", ""]
    out += [f"- {n}" for n in r.get("notes", [])]
    out += ["- Cost/success marked * leaves unpriced runs out; costs marked ≥ are lower bounds.",
            f"- Trust score: {r['trustFormula']}", ""]
    return "\n".join(out)


# --- html -----------------------------------------------------------------------------------
def render_html(report: dict[str, Any]) -> str:
    """One self-contained page (``agentctl.scorecard.html``)."""
    from agentctl.scorecard.html import render_html as page

    return page(report)


# --- terminal (rich) ------------------------------------------------------------------------
def render_table(report: dict[str, Any], *, color: bool = False, width: int | None = None) -> str:
    """The terminal report (``agentctl.scorecard.terminal``: columns by priority, stacked when narrow)."""
    from agentctl.scorecard.terminal import render_table as draw

    return draw(report, color=color, width=width)
