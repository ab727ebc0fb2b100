"""Reports: per queue and per agent figures (webadmin.figures over the queue_log), calls by local hour and day,
survey scores from the CDRs, SVG charts, CSV (UTF-8 with BOM) and XLSX exports."""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Sequence
from html import escape
from typing import Any

import openpyxl
from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from trunkline.data.db import session_scope
from trunkline.data.models import Cdr

from . import figures
from .rows import export_row, float_arg
from .security import audit, db, require

bp = Blueprint("reports", __name__)

CHART_FONT = "'Noto Sans CJK SC','WenQuanYi Micro Hei','Microsoft YaHei','PingFang SC',sans-serif"
MAX_DAYS = 366


def bar_chart(labels: Sequence[Any], values: Sequence[float], title: str = "", width: int = 720, height: int = 220,
              color: str = "#2b6cb0") -> Markup:
    """Inline SVG bar chart (labels on x, integer/float values on y) in a CJK-capable font."""
    n = max(1, len(values))
    top = max([v for v in values] + [1])
    pad_l, pad_b, pad_t = 40, 28, 20
    bw = (width - pad_l - 10) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'font-family="{CHART_FONT}">',
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


def _day(text: str | None, default: dt.date) -> dt.date:
    if not text:
        return default
    try:
        d = dt.date.fromisoformat(text[:10])
    except ValueError:
        abort(400, description=_("not a date: %(text)s (use YYYY-MM-DD)", text=text[:40]))
    if not dt.date(1970, 1, 2) <= d < dt.date(9999, 12, 31):
        abort(400, description=_("date out of range: %(text)s", text=text[:40]))
    return d


def local_days(first: dt.date, last: dt.date) -> list[dt.date]:
    """The calendar days first..last (at most MAX_DAYS)."""
    if last < first:
        abort(400, description=_("the end date is before the start date"))
    n = min((last - first).days + 1, MAX_DAYS)
    return [first + dt.timedelta(days=i) for i in range(n)]


def build_report(first: dt.date, last: dt.date, tz: dt.tzinfo, sl_seconds: float = 20.0,
                 short_abandon: float = figures.SHORT_ABANDON) -> dict[str, Any]:
    """Figures for the local days first..last in `tz`: queue/agent figures, by hour, by day, CDR counts, surveys."""
    days = local_days(first, last)
    a, _e = figures.day_bounds(days[0], tz)
    b = figures.day_bounds(days[-1], tz)[1]
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    with session_scope(db()) as s:
        f = figures.compute(s, a, b, sl_seconds, short_abandon, tz=tz, now=now)
        per_day = []
        for d in days:
            da, db_ = figures.day_bounds(d, tz)
            per_day.append(figures.compute(s, da, db_, sl_seconds, short_abandon, tz=tz, now=now)["overall"]
                           if len(days) <= 62 else None)
        ua = dt.datetime.fromtimestamp(a, dt.timezone.utc)
        ub = dt.datetime.fromtimestamp(b, dt.timezone.utc)
        cdrs = s.execute(select(Cdr.start, Cdr.direction, Cdr.queue, Cdr.agent, Cdr.survey_score)
                         .where(Cdr.start >= ua, Cdr.start < ub)).all()
    dirs: defaultdict[str, int] = defaultdict(int)
    calls_by_day: defaultdict[str, int] = defaultdict(int)
    scores: dict[str, defaultdict[str, list[int]]] = {"queues": defaultdict(list), "agents": defaultdict(list)}
    for r in cdrs:
        st = r.start if r.start.tzinfo else r.start.replace(tzinfo=dt.timezone.utc)
        dirs[r.direction or "in"] += 1
        calls_by_day[st.astimezone(tz).date().isoformat()] += 1
        if r.survey_score is not None:
            for kind, key in (("queues", r.queue), ("agents", r.agent)):
                if key:
                    scores[kind][key].append(r.survey_score)
    for kind in ("queues", "agents"):
        for name in scores[kind]:
            f[kind].setdefault(name, figures._Acc().queue_figures() if kind == "queues"
                               else figures._Acc().agent_figures())
        for name, fig in f[kind].items():
            lst = scores[kind].get(name, [])
            fig["survey"] = round(sum(lst) / len(lst), 2) if lst else None
            fig["surveys"] = len(lst)
    all_scores = [r.survey_score for r in cdrs if r.survey_score is not None]
    f["overall"]["survey"] = round(sum(all_scores) / len(all_scores), 2) if all_scores else None
    f["overall"]["surveys"] = len(all_scores)
    f.update(days=[d.isoformat() for d in days], per_day=per_day, total=len(cdrs), directions=dict(dirs),
             calls_by_day=[calls_by_day.get(d.isoformat(), 0) for d in days])
    return f


QUEUE_FIELDS = figures.QUEUE_FIELDS + ["survey", "surveys"]
AGENT_FIELDS = figures.AGENT_FIELDS + ["survey", "surveys"]
CSV_FIELDS = QUEUE_FIELDS + [k for k in AGENT_FIELDS if k not in QUEUE_FIELDS] + ["calls"]


def field_labels() -> dict[str, str]:
    """Column headings of the figures in the user's language."""
    return {"offered": _("Offered"), "answered": _("Answered"), "abandoned": _("Abandoned"),
            "short_abandoned": _("Short abandons"), "exited": _("Left queue"), "transferred": _("Transferred"),
            "service_level": _("SL %"), "asa": _("ASA s"), "aht": _("AHT s"), "avg_talk": _("Avg talk s"),
            "abandon_rate": _("Abandon %"), "max_wait": _("Longest wait s"), "missed": _("Missed"),
            "talk": _("Talk s"), "handle": _("Handle s"), "signed_in": _("Signed in s"),
            "on_break": _("On break s"), "occupancy": _("Occupancy %"), "survey": _("Survey"),
            "surveys": _("Surveys"), "calls": _("Calls")}


def _requested_report() -> tuple[dict[str, Any], dt.date, dt.date, float, str]:
    """The report the query arguments ask for (from, to, sl): (report, first day, last day, SL s, zone name)."""
    tzname = current_app.config.get("TIMEZONE") or "UTC"
    tz = figures.zone(tzname)
    today = dt.datetime.now(tz).date()
    first = _day(request.args.get("from"), today - dt.timedelta(days=6))
    last = _day(request.args.get("to"), today)
    sl = float_arg("sl", float(current_app.config.get("SERVICE_LEVEL_SECONDS", 20.0)), 0.0, 86400.0)
    return build_report(first, last, tz, sl), first, last, sl, tzname


@bp.route("/reports")
@require("reports.view")
def index() -> str:
    """Report page with SVG charts."""
    rep, first, last, sl, tzname = _requested_report()
    hours = rep["by_hour"]
    charts = {"hour": bar_chart([f"{h:02d}" for h in range(24)], [h["offered"] for h in hours],
                                _("Calls offered by hour of day (%(zone)s)", zone=tzname)),
              "day": bar_chart([d[5:] for d in rep["days"]], rep["calls_by_day"], _("Calls per day"),
                               color="#2f855a")}
    return render_template("reports.html", rep=rep, charts=charts, labels=field_labels(),
                           queue_fields=QUEUE_FIELDS, agent_fields=AGENT_FIELDS, first=first, last=last, sl=sl,
                           zone=tzname, args=request.args)


def _table_rows(rep: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [["all", ""] + [rep["overall"].get(k, "") for k in CSV_FIELDS]]
    for kind in ("queues", "agents"):
        for name, f in rep[kind].items():    # queue and agent names come from the configuration
            rows.append([kind[:-1], name] + [f.get(k, "") for k in CSV_FIELDS])
    for h, v in enumerate(rep["by_hour"]):
        rows.append(["hour", f"{h:02d}"] + [v.get(k, "") for k in CSV_FIELDS])
    for d, n, f in zip(rep["days"], rep["calls_by_day"], rep["per_day"]):
        rows.append(["day", d] + [(f or {}).get(k, "") for k in CSV_FIELDS[:-1]] + [n])
    return rows


@bp.route("/reports.csv")
@require("reports.view")
def csv_export() -> Response:
    """CSV (UTF-8 with BOM, for Excel): kind, name, figures; one line overall, per queue, agent, hour, day."""
    rep, first, last, _sl, _z = _requested_report()
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(["kind", "name"] + CSV_FIELDS)
    for row in _table_rows(rep):
        w.writerow(export_row(row))
    audit("export", "reports.csv", request.query_string.decode()[:200])
    return Response(buf.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=report-{first}-{last}.csv"})


@bp.route("/reports.xlsx")
@require("reports.view")
def xlsx_export() -> Response:
    """XLSX: sheets per queue, per agent, by hour and by day (headings in the user's language)."""
    rep, first, last, _sl, _z = _requested_report()
    labels = field_labels()
    wb = openpyxl.Workbook()
    sheets = [(_("Queues"), _("Queue"), "queues", QUEUE_FIELDS), (_("Agents"), _("Agent"), "agents", AGENT_FIELDS)]
    ws = wb.active
    assert ws is not None
    for i, (title, first_col, kind, keys) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = title
        ws.append([first_col] + [labels[k] for k in keys])
        for name, f in rep[kind].items():
            ws.append(export_row([name] + [f.get(k) for k in keys]))
    ws = wb.create_sheet(_("By hour"))
    ws.append([_("Hour")] + [labels[k] for k in ("offered", "answered", "abandoned")])
    for h, v in enumerate(rep["by_hour"]):
        ws.append([f"{h:02d}", v["offered"], v["answered"], v["abandoned"]])
    ws = wb.create_sheet(_("By day"))
    ws.append([_("Day"), labels["calls"]] + [labels[k] for k in figures.QUEUE_FIELDS])
    for d, n, f in zip(rep["days"], rep["calls_by_day"], rep["per_day"]):
        ws.append([d, n] + [(f or {}).get(k) for k in figures.QUEUE_FIELDS])
    out = io.BytesIO()
    wb.save(out)
    audit("export", "reports.xlsx", request.query_string.decode()[:200])
    return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=report-{first}-{last}.xlsx"})
