"""The agent workbench (坐席工作台): the page an agent works in all day.

Sign in / out at a station or number, ready / not ready with the reason codes the admin configured,
the incoming-call banner and the screen pop rendered for people (caller number and name, queue, wait,
the menu choices made in the IVR, collected digits masked where the flow says so, lookup data), call
controls, wrap-up with a countdown and disposition codes, the SMS memo and the agent's own calls of today
with their recordings. Every control posts to /cti/agent/<id>/command (checked and immediate: 200 or
409 with the reason). An agent login reaches only its own desk; supervisors and admins reach every desk.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from trunkline.acd import agents as st
from trunkline.acd.models import AcdAgent, AcdEntry

from . import softphone
from .cti import _agent_for, _core, _factory, _live_acd, _may_act_as
from .security import can

bp = Blueprint("desk", __name__)

#: entry data keys the ACD and IVR set for themselves (not customer data)
INTERNAL = {"transferred_from", "disposition", "skills", "rings", "acd_feature", "queue_status", "queue_ended_by"}


def state_label(state: str) -> str:
    """The agent state as people say it."""
    return {st.LOGGED_OUT: _("Signed out"), st.AVAILABLE: _("Ready"), st.RINGING: _("Ringing"),
            st.BUSY: _("On a call"), st.WRAPUP: _("Wrap-up"), st.BREAK: _("Not ready")}.get(state, state)


def screen_pop(e: AcdEntry, now: float) -> dict[str, Any]:
    """The caller's data for people: number, name, queue, wait, IVR choices, masked digits, lookup data."""
    data = dict(e.data or {})
    choices = [{"node": str(d.get("node", "")), "digits": str(d.get("digits", "")), "masked": bool(d.get("masked"))}
               for d in data.get("ivr_digits") or [] if isinstance(d, dict)]
    path = [str(p.get("node", "")) for p in data.get("ivr_path") or [] if isinstance(p, dict)]
    lookup = [(str(k), v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in sorted(data.items())
              if k not in INTERNAL and not k.startswith("ivr") and k not in ("name", "customer_name")]
    tf = data.get("transferred_from")
    started = e.answered_at if e.answered_at is not None else (e.offer_at or now)
    return {"entry": e.id, "call_id": e.call_id, "number": e.caller_id or _("withheld"),
            "name": str(data.get("name") or data.get("customer_name") or ""), "queue": e.queue, "called": e.called,
            "state": e.state, "wait": round(started - e.enqueued_at, 1), "path": path, "choices": choices,
            "lookup": lookup, "transferred_from": tf if isinstance(tf, dict) else None,
            "talk": round(now - e.answered_at, 1) if e.answered_at is not None and e.state == "connected" else 0.0}


def _day_start(now: float) -> float:
    """Local midnight of today on the ACD clock (seconds)."""
    d = dt.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return d.timestamp()


def history(agent_id: str, now: float, limit: int = 200) -> list[dict[str, Any]]:
    """The agent's answered calls of today, newest first."""
    with _factory()() as s:
        rows = s.scalars(select(AcdEntry).where(AcdEntry.agent == agent_id, AcdEntry.answered_at.is_not(None),
                                                AcdEntry.enqueued_at >= _day_start(now))
                         .order_by(AcdEntry.answered_at.desc()).limit(limit)).all()
        out = []
        for e in rows:
            disp = (e.data or {}).get("disposition") or {}
            out.append({"entry": e.id, "at": dt.datetime.fromtimestamp(e.answered_at or 0).strftime("%H:%M:%S"),
                        "number": e.caller_id, "queue": e.queue, "outcome": e.outcome or e.state,
                        "talk": round((e.ended_at or now) - (e.answered_at or now), 1),
                        "disposition": disp.get("code", "") if isinstance(disp, dict) else "",
                        "recording": url_for("desk.recording", agent_id=agent_id, entry=e.id)
                        if e.recording and os.path.exists(e.recording) else None})
        return out


def snapshot(agent_id: str) -> dict[str, Any]:
    """Everything the workbench shows, as JSON: state, time in state, wrap-up left, the call, today's calls."""
    now = _core().now()
    with _factory()() as s:
        a = s.get(AcdAgent, agent_id)
        if a is None:
            abort(404)
        e = s.get(AcdEntry, a.current_entry) if a.current_entry else None
        pop = screen_pop(e, now) if e is not None and a.state in (st.RINGING, st.BUSY) else None
        out = {"id": a.id, "name": a.name, "state": a.state, "state_label": state_label(a.state),
               "reason": a.reason, "in_state": round(now - a.state_since, 1),
               "wrap_left": round(max(0.0, a.wrap_until - now), 1) if a.state == st.WRAPUP else 0.0,
               "station": a.station_port, "number": a.number, "call": pop}
    acd = _live_acd()
    conn = acd.connection(agent_id) if acd is not None else None
    out["held"] = bool(acd is not None and conn is not None and acd.held(agent_id))
    out["softphone"] = softphone.state(agent_id)
    out["history"] = history(agent_id, now)
    return out


@bp.route("/workbench")
def home() -> WerkzeugResponse:
    """An agent login: their own desk; others: the supervisor console (or the live pages)."""
    user = g.user
    if user.agent_id:
        return redirect(url_for("desk.workbench", agent_id=user.agent_id))
    if can("monitor"):
        return redirect(url_for("supervisor.console"))
    abort(404, description=_("This login is not an agent."))


@bp.route("/workbench/<agent_id>")
def workbench(agent_id: str) -> str:
    """The agent workbench page."""
    a = _agent_for(agent_id)
    acd = _live_acd()
    reasons = [r for r in (acd.break_reasons if acd is not None else st.DEFAULT_BREAK_REASONS) if r != "no-answer"]
    dispositions = list(acd.dispositions) if acd is not None else []
    pool = softphone.browser_phones()
    browser_ports = {p.port for p in pool.phones} if pool is not None else set()
    stations = [p for p in range(acd.engine.station_count) if p not in browser_ports] if acd is not None else []
    return render_template("workbench.html", a=a, reasons=reasons, dispositions=dispositions, stations=stations,
                           title=_("Agent workbench"), state_label=state_label(a["state"]),
                           snapshot_url=url_for("desk.agent_snapshot", agent_id=a["id"]),
                           events_url=url_for("acd.agent_events", agent_id=a["id"]),
                           command_url=url_for("acd.agent_command", agent_id=a["id"]),
                           memo_url=url_for("acd.agent_memo", agent_id=a["id"]), browser_phone=pool is not None,
                           softphone_url=url_for("softphone.offer", agent_id=a["id"]).rsplit("/", 1)[0])


@bp.route("/workbench/<agent_id>/snapshot")
def agent_snapshot(agent_id: str) -> Response:
    """JSON: what the workbench shows now."""
    _agent_for(agent_id)
    return jsonify(snapshot(str(agent_id)))


@bp.route("/workbench/<agent_id>/recording/<int:entry>")
def recording(agent_id: str, entry: int) -> Response:
    """The recording of one of the agent's own calls (404 for anyone else's call)."""
    if not _may_act_as(agent_id):
        abort(403)
    with _factory()() as s:
        e = s.get(AcdEntry, entry)
        if e is None or e.agent != str(agent_id) or not e.recording:
            abort(404)
        path = e.recording
    hub = current_app.config.get("HUB")
    root = os.path.realpath(hub.recordings_dir if hub is not None else os.path.dirname(path))
    real = os.path.realpath(path)
    if not real.startswith(root + os.sep) or not os.path.exists(real):
        abort(404)
    return send_file(real, mimetype="audio/wav", conditional=True)
