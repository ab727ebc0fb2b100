"""The supervisor console (班长监控): a live grid of the agents and queues of the supervisor's groups with
colour thresholds and alerts, and per-agent listen / whisper / barge, force ready / not ready and force
sign-out. Actions post to /cti/agent/<id>/command (checked and immediate, audited there); the supervisor
hears the agent's call on their station, their number or their browser phone (webadmin/softphone.py).
A supervisor sees only their groups (users.queues).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from trunkline.acd import agents as st
from trunkline.acd.models import AcdAgent, AcdEntry, AcdMember

from . import softphone
from .cti import _core, _factory, _live_acd, _perm, my_queues
from .workbench import _day_start, state_label

bp = Blueprint("supervisor", __name__)

#: default colour thresholds (app.config SUPERVISOR_THRESHOLDS overrides any of them)
THRESHOLDS = {"wait_warn": 30.0, "wait_alarm": 60.0,          # s a caller has waited (longest)
              "sl_warn": 80.0, "sl_alarm": 60.0,              # % answered within the queue's service level
              "not_ready_warn": 600.0, "talk_warn": 600.0}    # s in not ready / on one call


def thresholds() -> dict[str, float]:
    """The console's colour thresholds."""
    t = dict(THRESHOLDS)
    t.update({k: float(v) for k, v in (current_app.config.get("SUPERVISOR_THRESHOLDS") or {}).items() if k in t})
    return t


def _level(value: float | None, warn: float, alarm: float, higher_is_worse: bool = True) -> str:
    if value is None:
        return "ok"
    if higher_is_worse:
        return "alarm" if value >= alarm else "warn" if value >= warn else "ok"
    return "alarm" if value < alarm else "warn" if value < warn else "ok"


def today_by_agent(now: float) -> dict[str, dict[str, float]]:
    """Per agent today: handled calls, ASA (s, average wait until answered), AHT (s, talk + wrap-up)."""
    with _factory()() as s:
        rows = s.execute(select(AcdEntry.agent, func.count(), func.avg(AcdEntry.answered_at - AcdEntry.enqueued_at),
                                func.avg(AcdEntry.ended_at - AcdEntry.answered_at + AcdEntry.wrapup))
                         .where(AcdEntry.answered_at.is_not(None), AcdEntry.ended_at.is_not(None),
                                AcdEntry.enqueued_at >= _day_start(now))
                         .group_by(AcdEntry.agent)).all()
    return {str(a): {"handled": int(n), "asa": round(float(asa or 0.0), 1), "aht": round(float(aht or 0.0), 1)}
            for a, n, asa, aht in rows if a}


def console_snapshot() -> dict[str, Any]:
    """Agents and queues of this supervisor's groups with their colour levels, and the alerts."""
    core = _core()
    now = core.now()
    t = thresholds()
    mine = my_queues()
    with _factory()() as s:
        groups: defaultdict[str, list[str]] = defaultdict(list)
        for m in s.scalars(select(AcdMember).order_by(AcdMember.queue)):
            if mine is None or m.queue in mine:
                groups[m.agent].append(m.queue)
        agents = list(s.scalars(select(AcdAgent).order_by(AcdAgent.id)))
        current = {e.id: e for e in s.scalars(select(AcdEntry).where(
            AcdEntry.id.in_([a.current_entry for a in agents if a.current_entry])))}
        stats = today_by_agent(now)
        rows = []
        for a in agents:
            if mine is not None and a.id not in groups:
                continue
            e = current.get(a.current_entry) if a.current_entry else None
            in_state = round(now - a.state_since, 1)
            level = "ok"
            if a.state == st.BREAK:
                level = _level(in_state, t["not_ready_warn"], t["not_ready_warn"] * 2)
            elif a.state == st.BUSY:
                level = _level(in_state, t["talk_warn"], t["talk_warn"] * 2)
            day = stats.get(a.id, {"handled": 0, "asa": 0.0, "aht": 0.0})
            rows.append({"id": a.id, "name": a.name, "state": a.state, "state_label": state_label(a.state),
                         "reason": a.reason, "in_state": in_state, "level": level,
                         "caller": e.caller_id if e is not None and a.state in (st.RINGING, st.BUSY) else "",
                         "queue": e.queue if e is not None and a.state in (st.RINGING, st.BUSY) else "",
                         "groups": groups.get(a.id, []), **day})
    queues = []
    alerts = []
    for q in core.queues_status(now):
        if mine is not None and q["name"] not in mine:
            continue
        wl = _level(q["longest_wait"], t["wait_warn"], t["wait_alarm"])
        sl = _level(q["service_level"], t["sl_warn"], t["sl_alarm"], higher_is_worse=False)
        queues.append({"name": q["name"], "waiting": q["waiting"], "longest_wait": q["longest_wait"],
                       "service_level": q["service_level"], "answered": q["answered"], "abandoned": q["abandoned"],
                       "available": q["available"], "logged_in": q["logged_in"], "wait_level": wl, "sl_level": sl})
        if wl != "ok":
            alerts.append({"queue": q["name"], "level": wl,
                           "text": _("%(queue)s: a caller has waited %(s)s s", queue=q["name"], s=q["longest_wait"])})
        if sl != "ok":
            alerts.append({"queue": q["name"], "level": sl,
                           "text": _("%(queue)s: service level %(sl)s %%", queue=q["name"], sl=q["service_level"])})
    return {"agents": rows, "queues": queues, "alerts": alerts, "thresholds": t}


@bp.route("/supervisor")
def console() -> str:
    """The supervisor console page."""
    if not _perm("monitor"):
        abort(403)
    acd = _live_acd()
    reasons = [r for r in (acd.break_reasons if acd is not None else st.DEFAULT_BREAK_REASONS) if r != "no-answer"]
    pool = softphone.browser_phones()
    browser_ports = {p.port for p in pool.phones} if pool is not None else set()
    stations = [p for p in range(acd.engine.station_count) if p not in browser_ports] if acd is not None else []
    return render_template("supervisor.html", title=_("Supervisor console"), reasons=reasons, stations=stations,
                           browser_phone=pool is not None,
                           softphone_url=url_for("softphone.supervisor_offer").rsplit("/", 1)[0],
                           snapshot_url=url_for("supervisor.snapshot"),
                           command_url=url_for("acd.agent_command", agent_id="AGENT"),
                           events_url=url_for("acd.supervisor_events"))


@bp.route("/supervisor/snapshot")
def snapshot() -> Response:
    """JSON: the console grid (agents, queues, alerts) of this supervisor's groups."""
    if not _perm("monitor"):
        abort(403)
    return jsonify(console_snapshot())
