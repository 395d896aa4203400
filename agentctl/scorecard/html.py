"""The scorecard as one self-contained HTML page: inline CSS and SVG, nothing fetched.

Charts have a scale (ticks along the value axis) and a legend for their colours; the
success bars carry their run counts; a daily trend shows runs, success rate and cost per
day; cost is also shown per team, per product (the task's product) and per task tree
(tasks linked by ``parent``), when there are any.
"""

from __future__ import annotations

import html
from typing import Any

from agentctl.scorecard.render import (
    AGENT_COLUMNS,
    MODEL_HEADERS,
    TIER_HEADERS,
    _cost,
    _days,
    _model_cells,
    _tier_cells,
    broken_line,
    cron_line,
    downgrade_line,
    headline,
    money,
    pct,
    source_label,
    unknown_line,
    upgrade_line,
)

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
svg text{font:12px system-ui,sans-serif;fill:#1d2330}svg text.tick{font-size:10px;fill:#5b6475}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin:0 0 10px;font-size:12px;color:#5b6475}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:5px;vertical-align:-2px}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _rate_color(rate: float | None) -> str:
    if rate is None:
        return "#b3b9c4"
    return "#27ae60" if rate >= 0.9 else "#f39c12" if rate >= 0.7 else "#e74c3c"


def _ticks(scale: float, fmt: Any) -> list[tuple[float, str]]:
    return [(scale * i / 4, fmt(scale * i / 4)) for i in range(5)] if scale else []


def svg_bars(rows: list[tuple[str, float | None, str, str]], scale: float, width: int = 560,
             tick: Any = None) -> str:
    """Horizontal bars: (label, value, value text, colour); ``scale`` is the value of a full bar; a scale
    (five ticks, formatted by ``tick``) runs under the bars."""
    label_w, text_w, row_h = 130, 120, 22
    bar_w = width - label_w - text_w
    ticks = _ticks(scale, tick or (lambda v: f"{v:g}"))
    height = row_h * len(rows) + (26 if ticks else 4)
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for i, (label, value, text, color) in enumerate(rows):
        y = i * row_h + 2
        length = 0.0 if not value or not scale else max(1.0, bar_w * min(value, scale) / scale)
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_esc(label[:18])}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="16" rx="3" fill="#eef0f3"/>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="16" rx="3" fill="{color}">'
                     f"<title>{_esc(label)}: {_esc(text)}</title></rect>"
                     f'<text x="{label_w + bar_w + 6}" y="{y + 15}">{_esc(text)}</text>')
    base = row_h * len(rows) + 4
    for value, text in ticks:
        x = label_w + bar_w * value / scale
        parts.append(f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{base}" stroke="#d0d4da" stroke-dasharray="2,3"/>'
                     f'<text class="tick" x="{x:.1f}" y="{base + 14}" text-anchor="middle">{_esc(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_trend(days: list[dict[str, Any]], key: str, fmt: Any, color: str, scale: float | None = None,
              width: int = 560, height: int = 150) -> str:
    """Vertical bars per day with a value scale on the left and the first and last dates below."""
    left, bottom = 56, 22
    top = scale if scale is not None else max((d[key] or 0 for d in days), default=0)
    n = max(len(days), 1)
    step = (width - left - 4) / n
    plot_h = height - bottom - 6
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for value, text in _ticks(top, fmt):
        y = 6 + plot_h * (1 - value / top)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" stroke="#e6e8ec"/>'
                     f'<text class="tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_esc(text)}</text>')
    for i, d in enumerate(days):
        v = d[key]
        h = 0.0 if not v or not top else plot_h * min(v, top) / top
        parts.append(f'<rect x="{left + i * step + 1:.1f}" y="{6 + plot_h - h:.1f}" width="{max(step - 2, 1):.1f}" '
                     f'height="{h:.1f}" fill="{color if v is not None else "#b3b9c4"}"><title>{_esc(d["date"])}: '
                     f'{_esc(fmt(v) if v is not None else "no data")} ({d["runs"]} runs)</title></rect>')
    if days:
        parts.append(f'<text class="tick" x="{left}" y="{height - 4}">{_esc(days[0]["date"])}</text>'
                     f'<text class="tick" x="{width - 4}" y="{height - 4}" text-anchor="end">'
                     f'{_esc(days[-1]["date"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


LEGEND = (("#27ae60", "success rate ≥ 90%"), ("#f39c12", "70–90%"), ("#e74c3c", "< 70%"), ("#b3b9c4", "no runs"),
          ("#5470c6", "cost (≥ marks a lower bound: some runs unpriced)"), ("#9a60b4", "cost per successful run"))


def _legend() -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{_esc(t)}</span>' for c, t in LEGEND) + "</div>"


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
        ("cost", _cost(t), ""),
        ("broken agents", str(len(r["brokenAgents"])), "bad" if r["brokenAgents"] else "good"),
        ("possible saving / month", money(saving), "good" if saving else ""),
        ("idle agents", str(len(r["idleAgents"])), "warn" if r["idleAgents"] else ""),
        ("unknown runs", str(r["unknown"]["runs"]), "warn" if r["unknown"]["runs"] else ""),
        ("skipped lines", str(r["skippedLines"]), "warn" if r["skippedLines"] else ""),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card {cls}"><b>{_esc(v)}</b><span>{_esc(k)}</span></div>' for k, v, cls in cards) + "</div>"


def _money_tick(v: float) -> str:
    return money(v)


def _pct_tick(v: float) -> str:
    return pct(v)


def _charts(r: dict[str, Any]) -> str:
    agents = r["agents"]
    ok = svg_bars([(a["agent"], a["successRate"], f"{pct(a['successRate'])} ({a['successes']}/{a['runs']} runs)",
                    _rate_color(a["successRate"])) for a in agents], 1.0, tick=_pct_tick)
    top = max((a["costUsd"] or 0 for a in agents), default=0)
    cost = svg_bars([(a["agent"], a["costUsd"], _cost(a), "#5470c6")
                     for a in sorted(agents, key=lambda a: -(a["costUsd"] or 0))], top, tick=_money_tick)
    tiers = r["tiers"]
    tier_ok = svg_bars([(t["tier"], t["successRate"], f"{pct(t['successRate'])} ({t['successes']}/{t['runs']} runs)",
                         _rate_color(t["successRate"])) for t in tiers], 1.0, tick=_pct_tick)
    top_cps = max((t["costPerSuccessUsd"] or 0 for t in tiers), default=0)
    tier_cps = svg_bars([(t["tier"], t["costPerSuccessUsd"], money(t["costPerSuccessUsd"]), "#9a60b4")
                         for t in tiers], top_cps, tick=_money_tick)
    return (_legend() + '<div class="grid">'
            f'<div class="panel"><h3>Success rate per agent</h3>{ok}</div>'
            f'<div class="panel"><h3>Cost per agent</h3>{cost}</div>'
            f'<div class="panel"><h3>Success rate per tier</h3>{tier_ok}</div>'
            f'<div class="panel"><h3>Cost per successful run, per tier</h3>{tier_cps}</div></div>')


def _trend(r: dict[str, Any]) -> str:
    days = r.get("daily") or []
    if not days:
        return ""
    return ('<h2>Daily trend</h2><div class="grid">'
            f'<div class="panel"><h3>Runs per day</h3>{svg_trend(days, "runs", lambda v: f"{v:.0f}", "#5470c6")}</div>'
            f'<div class="panel"><h3>Success rate per day</h3>'
            f'{svg_trend(days, "successRate", _pct_tick, "#27ae60", scale=1.0)}</div>'
            f'<div class="panel"><h3>Cost per day</h3>{svg_trend(days, "costUsd", _money_tick, "#9a60b4")}</div>'
            "</div>")


def _cost_table(rows: list[dict[str, Any]], key: str, title: str, extra: tuple[str, ...] = ()) -> str:
    if not rows:
        return ""
    headers = [title, *(e.title() for e in extra), "Runs", "Success", "Cost"]
    body = [[str(x[key]), *(str(x.get(e, "")) for e in extra), str(x["runs"]), pct(x["successRate"]), _cost(x)]
            for x in rows]
    return f'<div class="panel"><h3>Cost per {title.lower()}</h3>{_html_table(headers, body)}</div>'


def _costs(r: dict[str, Any]) -> str:
    parts = [_cost_table(r.get("teams") or [], "team", "Team"),
             _cost_table(r.get("products") or [], "product", "Product"),
             _cost_table(r.get("taskTrees") or [], "root", "Task tree", ("title", "tasks"))]
    return "<h2>Cost per team, product and task tree</h2>" + '<div class="grid">' + "".join(parts) + "</div>"


def render_html(report: dict[str, Any]) -> str:
    r = report
    broken = {b["agent"] for b in r["brokenAgents"]}
    agent_rows = [[f(a) for _, f in AGENT_COLUMNS] for a in r["agents"]]
    unknown_rows = [[source_label(s), str(s["runs"]), _cost(s)] for s in r["unknown"]["sources"]]
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
        "<h2>Charts</h2>", _charts(r), _trend(r), _costs(r),
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


