"""The Erlang C staffing calculator (/reports/staffing, CSV export): calls per half hour and the average
handle time observed on a local day in the ACD queue log (webadmin.figures, the one home of the figures),
a service-level target, maximum occupancy and shrinkage in; agents per interval out (acd.erlang), with the
model's assumptions shown beside the numbers."""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from trunkline.acd import schedules
from trunkline.acd.erlang import Staffing, StaffingError, required_agents
from trunkline.acd.models import AcdMember, AcdQueue
from trunkline.data.db import session_scope

from . import figures
from .reports import _day
from .rows import float_arg
from .security import audit, db, require

bp = Blueprint("staffing", __name__)

INTERVAL = 1800.0               # s: the planning interval (half an hour)
CSV_FIELDS = ["interval", "calls", "aht", "traffic", "agents", "scheduled", "service_level", "asa", "occupancy",
              "on_shift", "gap"]


def plan_day(s: Any, day: dt.date, tz: dt.tzinfo, queue: str, sl_target: float, sl_seconds: float,
             max_occupancy: float, shrinkage: float, aht: float | None = None,
             on_shift: list[int] | None = None) -> dict[str, Any]:
    """Per local half hour (00:00..23:30) of `day`: offered calls of `queue` ("" = all queues) and the
    proposal for them. AHT = `aht` when given, else the day's observed AHT of the queue (talk + configured
    wrap-up). On a daylight-saving change the repeated hour's calls fall into the same wall-clock slot.
    `on_shift`: agents the staff shifts have working in each slot; gap = on_shift - agents on the phones.
    Raises StaffingError for inputs out of range or a day with calls but no handled call to measure AHT."""
    a, b = figures.day_bounds(day, tz)
    whole = figures.compute(s, a, b, sl_seconds=sl_seconds, tz=tz)
    day_figs = whole["queues"].get(queue) if queue else whole["overall"]
    observed = float(day_figs["aht"]) if day_figs else 0.0
    use_aht = aht if aht is not None else observed
    halves = whole["by_half_hour"]
    offered = halves.get(queue, [0] * 48) if queue else [sum(v[i] for v in halves.values()) for i in range(48)]
    if sum(offered) and use_aht <= 0:
        raise StaffingError("no handled call on this day to measure the average handle time: enter one")
    rows: list[dict[str, Any]] = []
    for i, calls in enumerate(offered):
        p: Staffing = required_agents(calls, use_aht if calls else 1.0, INTERVAL, sl_target, sl_seconds,
                                      max_occupancy, shrinkage)
        rows.append({"interval": f"{i // 2:02d}:{30 * (i % 2):02d}", "calls": calls,
                     "aht": round(use_aht, 1) if calls else 0.0, "traffic": round(p.traffic, 2),
                     "agents": p.agents, "scheduled": p.scheduled,
                     "service_level": round(100 * p.service_level, 1), "asa": round(p.asa, 1),
                     "occupancy": round(100 * p.occupancy, 1),
                     "on_shift": on_shift[i] if on_shift is not None else "",
                     "gap": on_shift[i] - p.agents if on_shift is not None else ""})
    return {"rows": rows, "observed_aht": observed, "aht": use_aht,
            "calls": sum(r["calls"] for r in rows), "peak": max((r["scheduled"] for r in rows), default=0),
            "agent_hours": round(sum(r["scheduled"] for r in rows) * INTERVAL / 3600.0, 1)}


def _inputs() -> dict[str, Any]:
    """The calculator's inputs from the query string (defaults: yesterday, all queues, 80/20, 85 %, 30 %)."""
    tzname = current_app.config.get("TIMEZONE") or "UTC"
    tz = figures.zone(tzname)
    aht_text = request.args.get("aht", "").strip()
    return {"day": _day(request.args.get("day"), dt.datetime.now(tz).date() - dt.timedelta(days=1)),
            "tz": tz, "zone": tzname, "queue": request.args.get("queue", "").strip()[:64],
            "sl": float_arg("sl", 80.0, 1.0, 99.9), "sl_seconds": float_arg("sl_seconds", 20.0, 0.0, 3600.0),
            "max_occupancy": float_arg("max_occupancy", 85.0, 10.0, 100.0),
            "shrinkage": float_arg("shrinkage", 30.0, 0.0, 90.0),
            "aht": float_arg("aht", 0.0, 1.0, 36000.0) if aht_text else None}


def _plan(inp: dict[str, Any]) -> dict[str, Any]:
    with session_scope(db()) as s:
        members = (list(s.scalars(select(AcdMember.agent).where(AcdMember.queue == inp["queue"])))
                   if inp["queue"] else None)
        on_shift = schedules.working_per_slot(db(), inp["day"], members)
        try:
            return plan_day(s, inp["day"], inp["tz"], inp["queue"], inp["sl"] / 100.0, inp["sl_seconds"],
                            inp["max_occupancy"] / 100.0, inp["shrinkage"] / 100.0, inp["aht"], on_shift)
        except StaffingError as exc:
            abort(400, description=_("Cannot compute the staffing: %(why)s", why=str(exc)))


@bp.route("/reports/staffing")
@require("reports.view")
def page() -> str:
    """The calculator: inputs, the proposal per half hour, totals and the model's assumptions."""
    inp = _inputs()
    plan = _plan(inp)
    with session_scope(db()) as s:
        queues = list(s.scalars(select(AcdQueue.name).order_by(AcdQueue.name)))
    args = {k: v for k, v in request.args.items() if k in ("day", "queue", "sl", "sl_seconds", "max_occupancy",
                                                             "shrinkage", "aht")}
    return render_template("staffing.html", inp=inp, plan=plan, queues=queues, args=args,
                           title=_("Staffing calculator (Erlang C)"))


@bp.route("/reports/staffing.csv")
@require("reports.view")
def csv_export() -> Response:
    """CSV (UTF-8 with BOM, for Excel): one line per half hour with the proposal, then the inputs."""
    inp = _inputs()
    plan = _plan(inp)
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS)
    for r in plan["rows"]:
        w.writerow([r[k] for k in CSV_FIELDS])
    w.writerow([])
    w.writerow(["day", inp["day"].isoformat(), "zone", inp["zone"], "queue", inp["queue"] or "*",
                "sl_target_pct", inp["sl"], "sl_seconds", inp["sl_seconds"], "max_occupancy_pct",
                inp["max_occupancy"], "shrinkage_pct", inp["shrinkage"], "aht_s", round(plan["aht"], 1),
                "model", "Erlang C, patience ignored"])
    audit("export", "staffing.csv", request.query_string.decode()[:200])
    return Response(buf.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=staffing-{inp['day']}.csv"})
