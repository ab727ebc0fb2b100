"""Messaging and outbound pages: SMS list + send form, campaigns with live progress and pause/resume/stop.

What it reads from the running server (webadmin.hub.Hub.extra):
    hub.extra["sms"]        a trunkline.sms.SmsService (falls back to hub.engine.sms); absent = sending refused
    hub.extra["campaigns"]  dict name -> trunkline.ivr.campaign.Campaign (absent = no campaigns)
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select

from trunkline.db import session_scope
from trunkline.models import Sms

from . import security
from .security import audit, db, require

bp = Blueprint("messaging", __name__)

# permissions of these pages (added to the web admin's table; control like configuration changes)
security.PERMISSIONS.setdefault("sms.view", {"admin", "supervisor", "viewer"})
security.PERMISSIONS.setdefault("sms.send", {"admin", "supervisor"})
security.PERMISSIONS.setdefault("campaigns.view", {"admin", "supervisor", "viewer"})
security.PERMISSIONS.setdefault("campaigns.control", set(security.PERMISSIONS["config.edit"]))

PAGE_SIZE = 200
MAX_TEXT = 1530          # 10 concatenated GSM 7-bit parts (153 each); UCS-2 text splits into more parts


def sms_service():
    """The running server's SmsService, or None when no GSM modem is configured."""
    hub = current_app.config.get("HUB")
    if hub is None:
        return None
    svc = hub.extra.get("sms")
    if svc is None:
        svc = getattr(getattr(hub, "engine", None), "sms", None)
    return svc


def campaigns() -> dict:
    """name -> Campaign from hub.extra['campaigns'] (empty when none)."""
    hub = current_app.config.get("HUB")
    return dict((hub.extra.get("campaigns") if hub is not None else None) or {})


def queue_sms(number: str, text: str):
    """Queue an SMS through the server's SmsService; returns (row id, None) or (None, error message)."""
    from trunkline.drivers.serial.pdu import PduError
    number, text = (number or "").strip(), (text or "").strip()
    svc = sms_service()
    if svc is None:
        return None, "No SMS service is configured (no GSM modem); the message was not queued."
    if not number:
        return None, "A phone number is required."
    if not text:
        return None, "The message text is empty."
    if len(text) > MAX_TEXT:
        return None, f"The message is too long ({len(text)} characters, at most {MAX_TEXT})."
    try:
        return svc.queue(number, text), None
    except PduError as exc:
        return None, f"Not sent: {exc}."


# ---------------------------------------------------------------- SMS

@bp.route("/sms", methods=["GET", "POST"])
@require("sms.view")
def sms():
    """Incoming and outgoing SMS (newest first, filter by number/direction) and the send form."""
    error = msg = None
    status = 200
    form = {"number": "", "text": ""}
    if request.method == "POST":
        if not security.can("sms.send"):
            audit("denied", request.path, "sms.send")
            abort(403)
        form = {"number": request.form.get("number", ""), "text": request.form.get("text", "")}
        rid, error = queue_sms(form["number"], form["text"])
        if error:
            status = 400 if sms_service() is not None else 503
            audit("sms_refused", form["number"], error)
        else:
            audit("sms_send", form["number"].strip(), f"id {rid}: {form['text'].strip()[:200]}")
            return redirect(url_for("messaging.sms", sent=rid))
    if request.args.get("sent"):
        msg = f"Message {request.args['sent']} queued."
    number = request.args.get("number", "").strip()
    direction = request.args.get("direction", "")
    with session_scope(db()) as s:
        q = select(Sms)
        if number:
            q = q.where(Sms.number.contains(number))
        if direction in ("in", "out"):
            q = q.where(Sms.direction == direction)
        rows = [{"id": r.id, "direction": r.direction, "number": r.number, "text": r.text, "status": r.status,
                 "at": r.at, "reference": r.reference}
                for r in s.scalars(q.order_by(Sms.at.desc(), Sms.id.desc()).limit(PAGE_SIZE))]
        queued = s.scalar(select(func.count(Sms.id)).where(Sms.direction == "out", Sms.status == "queued"))
    svc = sms_service()
    modem = None if svc is None else {"state": getattr(svc, "modem_state", ""), "port": getattr(svc, "port", ""),
                                      "problem": getattr(svc, "last_problem", "")}
    return render_template("sms.html", rows=rows, error=error, msg=msg, form=form, modem=modem, queued=queued,
                           number=number, direction=direction, can_send=security.can("sms.send")), status


# ---------------------------------------------------------------- campaigns

ACTIONS = {"pause": ("paused", "running"), "resume": ("running", "paused"), "stop": ("stopped", None)}


def _progress_all():
    return {name: c.progress() for name, c in sorted(campaigns().items())}


@bp.route("/campaigns")
@require("campaigns.view")
def campaigns_page():
    """Every campaign with its progress counters (refreshed by campaigns.js every 2 s)."""
    return render_template("campaigns.html", progress=_progress_all(), msg=request.args.get("msg"),
                           error=request.args.get("error"), can_control=security.can("campaigns.control"))


@bp.route("/api/campaigns")
@require("campaigns.view")
def campaigns_json():
    """JSON: name -> progress() counters of every campaign."""
    return jsonify(_progress_all())


@bp.route("/campaigns/<name>/<action>", methods=["POST"])
@require("campaigns.control")
def campaign_control(name, action):
    """Pause, resume or stop a campaign (audited); a no-op action is reported, not silently accepted."""
    if action not in ACTIONS:
        abort(404)
    camp = campaigns().get(name)
    if camp is None:
        abort(404, description=f"no campaign {name!r}")
    want, needs = ACTIONS[action]
    before = camp.state
    if needs is not None and before != needs:
        error = f"Campaign {name} is {before}; {action} applies to a {needs} campaign only."
        return _control_reply(camp, error=error, code=409)
    if before == "idle":             # Campaign.run() sets running on start, which would undo an early stop
        return _control_reply(camp, error=f"Campaign {name} has not started; {action} applies once it runs.",
                              code=409)
    if before in ("stopped", "done"):
        return _control_reply(camp, error=f"Campaign {name} is already {before}.", code=409)
    getattr(camp, action)()
    audit(f"campaign_{action}", name, f"{before} -> {camp.state}")
    return _control_reply(camp, msg=f"Campaign {name}: {before} -> {camp.state}.")


def _control_reply(camp, msg=None, error=None, code=200):
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify({"ok": error is None, "state": camp.state, "error": error, "msg": msg}), code
    return redirect(url_for("messaging.campaigns_page", msg=msg, error=error))
