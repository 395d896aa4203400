"""Rendering of the scorecard (SPEC §9): a rich terminal report, markdown for the weekly
message, JSON, and one self-contained HTML page (inline CSS and SVG, nothing fetched).

Input is the dict of ``agentctl.scorecard.build.build_scorecard``; output is text. ``rich``
is imported only by the table renderer, inside the function.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

FORMATS = ("table", "markdown", "json", "html")
EXTENSIONS = {"table": "txt", "markdown": "md", "json": "json", "html": "html"}


def render(report: dict[str, Any], fmt: str, *, color: bool = False, width: int | None = None) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "table":
        return render_table(report, color=color, width=width)
    raise ValueError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")


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
    return money(row.get("costUsd"), partial=bool(row.get("unpricedRuns")))


def _cps(row: dict[str, Any]) -> str:
    text = money(row.get("costPerSuccessUsd"))
    return text + "*" if row.get("unpricedRuns") and row.get("costPerSuccessUsd") is not None else text


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
            f"{pct(t['successRate'])} success · {money(t['costUsd'], bool(t['unpricedRuns']))}{unpriced} · "
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
    text = f"{u['runs']} runs ({money(u['costUsd'], bool(u['unpricedRuns']))}) not attributable to a defined agent"
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
        out += _md_table(["Source", "Runs", "Cost"], [[source_label(s), str(s["runs"]), money(s["costUsd"])]
                                                      for s in r["unknown"]["sources"]])
        out.append("")
    out += ["## Notes", ""]
    out += [f"- {n}" for n in r.get("notes", [])]
    out += ["- Cost/success marked * leaves unpriced runs out; costs marked ≥ are lower bounds.",
            f"- Trust score: {r['trustFormula']}", ""]
    return "\n".join(out)


# --- html -----------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px}
.sub{color:#5b6475;margin-bottom:18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:10px;padding:12px 16px;min-width:140px;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:22px}.card span{color:#5b6475;font-size:12px;text-transform:uppercase}
.card.bad b{color:#c0392b}.card.warn b{color:#b9770e}.card.good b{color:#1e8449}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
.panel{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 2px #0001;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e6e8ec;text-align:right;white-space:nowrap}
th:first-child,td:first-child,th.l,td.l{text-align:left}
th{color:#5b6475;font-weight:600;background:#fafbfc}
tr.broken td:first-child{border-left:3px solid #c0392b}
ul{margin:6px 0;padding-left:20px}li{margin:3px 0}
.rule{color:#5b6475;font-size:12px}
.tag{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;background:#eef0f3}
.tag.high{background:#d5f5e3}.tag.low{background:#fdebd0}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _rate_color(rate: float | None) -> str:
    if rate is None:
        return "#b3b9c4"
    return "#27ae60" if rate >= 0.9 else "#f39c12" if rate >= 0.7 else "#e74c3c"


def svg_bars(rows: list[tuple[str, float | None, str, str]], scale: float, width: int = 540) -> str:
    """Horizontal bars: (label, value, value text, colour); ``scale`` is the value of a full bar."""
    label_w, text_w, row_h = 130, 80, 22
    bar_w = width - label_w - text_w
    parts = [f'<svg width="{width}" height="{row_h * len(rows) + 4}" role="img">']
    for i, (label, value, text, color) in enumerate(rows):
        y = i * row_h + 2
        length = 0.0 if not value or not scale else max(1.0, bar_w * min(value, scale) / scale)
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_esc(label[:18])}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="16" rx="3" fill="#eef0f3"/>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="16" rx="3" fill="{color}">'
                     f"<title>{_esc(label)}: {_esc(text)}</title></rect>"
                     f'<text x="{label_w + bar_w + 6}" y="{y + 15}">{_esc(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(headers: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _items(lines: list[str], empty: str) -> str:
    if not lines:
        return f"<p>{_esc(empty)}</p>"
    return "<ul>" + "".join(f"<li>{_esc(x)}</li>" for x in lines) + "</ul>"


def _cards(r: dict[str, Any]) -> str:
    t = r["totals"]
    saving = sum(c["estimatedMonthlySavingUsd"] for c in r["downgradeCandidates"])
    cards = [
        ("runs", str(t["runs"]), ""),
        ("success rate", pct(t["successRate"]), "good" if (t["successRate"] or 0) >= 0.9 else "warn"),
        ("cost", money(t["costUsd"], bool(t["unpricedRuns"])), ""),
        ("broken agents", str(len(r["brokenAgents"])), "bad" if r["brokenAgents"] else "good"),
        ("possible saving / month", money(saving), "good" if saving else ""),
        ("idle agents", str(len(r["idleAgents"])), "warn" if r["idleAgents"] else ""),
        ("unknown runs", str(r["unknown"]["runs"]), "warn" if r["unknown"]["runs"] else ""),
        ("skipped lines", str(r["skippedLines"]["total"]), "warn" if r["skippedLines"]["total"] else ""),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card {cls}"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v, cls in cards) + "</div>"


def _charts(r: dict[str, Any]) -> str:
    agents = r["agents"]
    ok = svg_bars([(a["agent"], a["successRate"], pct(a["successRate"]), _rate_color(a["successRate"]))
                   for a in agents], 1.0)
    top = max((a["costUsd"] or 0 for a in agents), default=0)
    cost = svg_bars([(a["agent"], a["costUsd"], money(a["costUsd"], bool(a["unpricedRuns"])), "#5470c6")
                     for a in sorted(agents, key=lambda a: -(a["costUsd"] or 0))], top)
    tiers = r["tiers"]
    tier_ok = svg_bars([(t["tier"], t["successRate"], pct(t["successRate"]), _rate_color(t["successRate"]))
                        for t in tiers], 1.0)
    top_cps = max((t["costPerSuccessUsd"] or 0 for t in tiers), default=0)
    tier_cps = svg_bars([(t["tier"], t["costPerSuccessUsd"], money(t["costPerSuccessUsd"]), "#9a60b4")
                         for t in tiers], top_cps)
    return ('<div class="grid">'
            f'<div class="panel"><h3>Success rate per agent</h3>{ok}</div>'
            f'<div class="panel"><h3>Cost per agent</h3>{cost}</div>'
            f'<div class="panel"><h3>Success rate per tier</h3>{tier_ok}</div>'
            f'<div class="panel"><h3>Cost per successful run, per tier</h3>{tier_cps}</div></div>')


def render_html(report: dict[str, Any]) -> str:
    r = report
    broken = {b["agent"] for b in r["brokenAgents"]}
    agent_rows = [[f(a) for _, f in AGENT_COLUMNS] for a in r["agents"]]
    unknown_rows = [[source_label(s), str(s["runs"]), money(s["costUsd"])] for s in r["unknown"]["sources"]]
    cron = ([cron_line(c) for c in r["cronCoverage"]] if r.get("cronCoverageAvailable", True)
            else ["Cron coverage was not available."])
    sections = [
        f"<h1>Agent scorecard — last {_esc(_days(r['window']['days']))}</h1>",
        f'<div class="sub">{_esc(headline(r))}</div>',
        _cards(r),
        "<h2>Needs attention</h2>",
        '<div class="panel">',
        "<h3>Broken agents</h3>", _items([broken_line(b) for b in r["brokenAgents"]], "None."),
        "<h3>Downgrade candidates</h3>",
        _items([downgrade_line(c) for c in r["downgradeCandidates"]], "None."),
        f'<p class="rule">Rule: {_esc(r["rules"]["downgrade"])}</p>',
        "<h3>Upgrade candidates</h3>",
        _items([upgrade_line(u) for u in r.get("upgradeCandidates", [])], "None."),
        "<h3>Idle agents</h3>", _items([f"{a['agent']} ({a['team']})" for a in r["idleAgents"]], "None."),
        "<h3>Cron coverage gaps</h3>", _items(cron, "None: every scheduled slot has a run."),
        "<h3>Unknown bucket</h3>", f"<p>{_esc(unknown_line(r['unknown']))}</p>",
        _html_table(["Source", "Runs", "Cost"], unknown_rows) if unknown_rows else "",
        "</div>",
        "<h2>Charts</h2>", _charts(r),
        "<h2>Agents</h2>",
        '<div class="panel">' + _html_table([h for h, _ in AGENT_COLUMNS], agent_rows,
                                           ["broken" if a["agent"] in broken else "" for a in r["agents"]]) + "</div>",
        "<h2>Model efficiency</h2>",
        '<div class="panel">' + _html_table(TIER_HEADERS, [_tier_cells(t) for t in r["tiers"]]) + "</div>",
        '<div class="panel">' + _html_table(MODEL_HEADERS, [_model_cells(m) for m in r.get("models", [])]) + "</div>",
        "<h2>Notes</h2>",
        _items([*r.get("notes", []), "Cost/success marked * leaves unpriced runs out; costs marked ≥ are lower "
                "bounds.", f"Trust score: {r['trustFormula']}"], ""),
    ]
    title = f"Agent scorecard {r['window']['end'][:10]}"
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{_esc(title)}</title>"
            f"<style>{CSS}</style></head><body><main>\n" + "\n".join(s for s in sections if s)
            + "\n</main></body></html>\n")


# --- terminal (rich) ------------------------------------------------------------------------
def render_table(report: dict[str, Any], *, color: bool = False, width: int | None = None) -> str:
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    r = report
    buf = io.StringIO()
    console = Console(file=buf, width=width or 160, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False, emoji=False)
    console.print(f"[bold]Agent scorecard — last {_days(r['window']['days'])}[/bold]")
    console.print(headline(r), markup=False)
    broken = {b["agent"] for b in r["brokenAgents"]}

    if not r["agents"]:
        console.print("\nNo defined agent ran in the window.\n")
    else:
        agents = Table(title="Agents", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        for i, (h, _) in enumerate(AGENT_COLUMNS):
            agents.add_column(h, justify="left" if i < 3 else "right", no_wrap=True)
        for a in r["agents"]:
            style = "red" if a["agent"] in broken else ("yellow" if (a["successRate"] or 0) < 0.9 else None)
            agents.add_row(*(f(a) for _, f in AGENT_COLUMNS), style=style)
        console.print(agents)
    buckets = (("Model efficiency — per tier", TIER_HEADERS, [_tier_cells(t) for t in r["tiers"]]),
               ("Per model", MODEL_HEADERS, [_model_cells(m) for m in r.get("models", [])]))
    for title, headers, rows in buckets if r["tiers"] else ():
        t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        for i, h in enumerate(headers):
            t.add_column(h, justify="left" if i < 2 else "right", no_wrap=i < 2)
        for row in rows:
            t.add_row(*row)
        console.print(t)

    def section(title: str, lines: list[str], empty: str, style: str = "") -> None:
        console.print(f"[bold]{title}[/bold]")
        for line in lines or [empty]:
            console.print(f"  • {line}" if lines else f"  {line}", style=style if lines else "dim", markup=False)
        console.print()

    section("Broken agents", [broken_line(b) for b in r["brokenAgents"]], "none", "red")
    section("Downgrade candidates", [downgrade_line(c) for c in r["downgradeCandidates"]], "none", "green")
    section("Upgrade candidates", [upgrade_line(u) for u in r.get("upgradeCandidates", [])], "none", "yellow")
    section("Idle agents", [f"{a['agent']} ({a['team']})" for a in r["idleAgents"]], "none")
    cron = [cron_line(c) for c in r["cronCoverage"]] if r.get("cronCoverageAvailable", True) else []
    section("Cron coverage gaps", cron, "none" if r.get("cronCoverageAvailable", True) else "not available", "yellow")
    unknown = [unknown_line(r["unknown"])] + [f"{source_label(s)}: {s['runs']} runs" for s in r["unknown"]["sources"]]
    section("Unknown bucket", unknown if r["unknown"]["runs"] else [], "none", "yellow")
    section("Notes", [*r.get("notes", [])], "none", "dim")
    return buf.getvalue()
