"""Reports: traffic by hour/day, per queue and per agent (calls, ASA, AHT, abandon, SL, survey), SVG charts, CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup
from sqlalchemy import select

from trunkline.data.db import session_scope
from trunkline.data.models import Cdr

from .live import summarize
from .records import parse_day
from .rows import export_row, float_arg
from .security import audit, db, require

bp = Blueprint("reports", __name__)


def bar_chart(labels: Sequence[Any], values: Sequence[float], title: str = "", width: int = 720, height: int = 220,
              color: str = "#2b6cb0") -> Markup:
    """Inline SVG bar chart (labels on x, integer/float values on y)."""
    n = max(1, len(values))
    top = max([v for v in values] + [1])
    pad_l, pad_b, pad_t = 40, 28, 20
    bw = (width - pad_l - 10) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{pad_l}" y="14" font-size="12">{escape(title)}</text>',
             f'<text x="4" y="{pad_t + 10}" font-size="10">{top:g}</text>',
             f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 10}" y2="{height - pad_b}" stroke="#888"/>']
    h_avail = height - pad_b - pad_t
    for i, (lab, v) in enumerate(zip(labels, values)):
        h = h_avail * (v / top)
        x = pad_l + i * bw
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - pad_b - h:.1f}" width="{max(1.0, bw - 2):.1f}" '
                     f'height="{h:.1f}" fill="{color}"><title>{escape(str(lab))}: {v:g}</title></rect>')
        if n <= 31 or i % max(1, n // 24) == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - pad_b + 12}" font-size="9" '
                         f'text-anchor="middle">{escape(str(lab))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _range(args: Mapping[str, str]) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    a = parse_day(args.get("from")) or (now - dt.timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    b = parse_day(args.get("to"), end=True) or now + dt.timedelta(seconds=1)
    return a, b


def build_report(a: dt.datetime, b: dt.datetime, sl_seconds: float = 20.0,
                 direction: str | None = None) -> dict[str, Any]:
    """Figures for CDRs with start in [a, b): by hour of day, by day, per queue, per agent, per direction."""
    with session_scope(db()) as s:
        q = select(Cdr.start, Cdr.outcome, Cdr.wait, Cdr.talk, Cdr.wrapup, Cdr.queue, Cdr.agent, Cdr.direction,
                   Cdr.survey_score).where(Cdr.start >= a, Cdr.start < b)
        if direction:
            q = q.where(Cdr.direction == direction)
        rows = s.execute(q).all()
    by_hour = [0] * 24
    by_day: defaultdict[str, int] = defaultdict(int)
    queues: defaultdict[str, list[Any]] = defaultdict(list)
    agents: defaultdict[str, list[Any]] = defaultdict(list)
    dirs: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        st = r.start if r.start.tzinfo else r.start.replace(tzinfo=dt.timezone.utc)
        by_hour[st.hour] += 1
        by_day[st.date().isoformat()] += 1
        dirs[r.direction] += 1
        if r.queue:
            queues[r.queue].append(r)
        if r.agent:
            agents[r.agent].append(r)

    def fig(lst: Sequence[Any]) -> dict[str, Any]:
        f = summarize(lst, sl_seconds)
        scores = [r.survey_score for r in lst if r.survey_score is not None]
        f["survey"] = round(sum(scores) / len(scores), 2) if scores else None
        f["surveys"] = len(scores)
        return f

    days: list[str] = []
    d = a.date()
    while d < b.date() or (d == b.date() and b.time() != dt.time(0)):
        days.append(d.isoformat())
        d += dt.timedelta(days=1)
        if len(days) > 366:
            break
    return {"total": len(rows), "by_hour": by_hour, "days": days, "by_day": [by_day.get(x, 0) for x in days],
            "queues": {k: fig(v) for k, v in sorted(queues.items())},
            "agents": {k: fig(v) for k, v in sorted(agents.items())},
            "directions": dict(dirs), "overall": fig(rows)}


FIELDS = ["offered", "answered", "abandoned", "asa", "aht", "avg_talk", "avg_wait", "service_level",
          "abandon_rate", "survey", "surveys"]


def _requested_report() -> tuple[dict[str, Any], dt.datetime, dt.datetime, float]:
    """The report the query arguments ask for (from, to, sl, direction): (report, from, to, SL seconds)."""
    a, b = _range(request.args)
    sl = float_arg("sl", float(current_app.config.get("SERVICE_LEVEL_SECONDS", 20.0)), 0.0, 86400.0)
    return build_report(a, b, sl, request.args.get("direction") or None), a, b, sl


@bp.route("/reports")
@require("reports.view")
def index() -> str:
    """Report page with SVG charts."""
    rep, a, b, sl = _requested_report()
    charts = {"hour": bar_chart([f"{h:02d}" for h in range(24)], rep["by_hour"], "Calls by hour of day (UTC)"),
              "day": bar_chart([d[5:] for d in rep["days"]], rep["by_day"], "Calls per day", color="#2f855a")}
    return render_template("reports.html", rep=rep, charts=charts, fields=FIELDS, a=a, b=b, sl=sl, args=request.args)


@bp.route("/reports.csv")
@require("reports.view")
def csv_export() -> Response:
    """CSV: one line per queue and per agent (kind, name, figures), then per hour and per day counts."""
    rep = _requested_report()[0]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["kind", "name"] + FIELDS)
    w.writerow(export_row(["all", ""] + [rep["overall"][f] for f in FIELDS]))
    for kind in ("queues", "agents"):
        for name, f in rep[kind].items():    # queue and agent names come from the configuration
            w.writerow(export_row([kind[:-1], name] + [f[k] for k in FIELDS]))
    for h, n in enumerate(rep["by_hour"]):
        w.writerow(["hour", f"{h:02d}", n])
    for d, n in zip(rep["days"], rep["by_day"]):
        w.writerow(["day", d, n])
    audit("export", "reports.csv", request.query_string.decode()[:200])
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=report.csv"})
