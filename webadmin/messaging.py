"""Messaging and outbound pages: SMS list + send form, campaigns with live progress and pause/resume/stop.

What it reads from the running server (webadmin.hub.Hub):
    hub.sms        a trunkline.drivers.serial.sms_service.SmsService (falls back to hub.engine.sms);
                   None = sending refused
    hub.campaigns  dict name -> trunkline.ivr.campaign.Campaign (empty = no campaigns)
    hub.campaign_manager  a trunkline.ivr.campaign_store.CampaignManager: creates campaigns from
                            the form on the campaigns page and keeps them in the database (absent = the
                            create form is refused; campaigns made by code are still shown and controlled)
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from trunkline.data.db import session_scope
from trunkline.data.models import Sms
from trunkline.drivers.serial.pdu import PduError
from trunkline.ivr.campaign import CampaignError
from trunkline.ivr.campaign_store import parse_numbers

from . import security
from .security import audit, db, require
from .terms import term, verb

bp = Blueprint("messaging", __name__)

# permissions of these pages (added to the web admin's table; control like configuration changes)
security.PERMISSIONS.setdefault("sms.view", {"admin", "supervisor", "viewer"})
security.PERMISSIONS.setdefault("sms.send", {"admin", "supervisor"})
security.PERMISSIONS.setdefault("campaigns.view", {"admin", "supervisor", "viewer"})
security.PERMISSIONS.setdefault("campaigns.control", set(security.PERMISSIONS["config.edit"]))
security.PERMISSIONS.setdefault("campaigns.create", {"admin"})

PAGE_SIZE = 200
MAX_TEXT = 1530          # 10 concatenated GSM 7-bit parts (153 each); UCS-2 text splits into more parts


def sms_service() -> Any:
    """The running server's SmsService, or None when no GSM modem is configured."""
    hub = current_app.config.get("HUB")
    if hub is None:
        return None
    svc = hub.sms
    if svc is None:
        svc = getattr(getattr(hub, "engine", None), "sms", None)
    return svc


def campaigns() -> dict[str, Any]:
    """name -> Campaign from hub.campaigns (empty when none)."""
    hub = current_app.config.get("HUB")
    return dict(hub.campaigns) if hub is not None else {}


def campaign_manager() -> Any:
    """The server's CampaignManager (ivr.campaign_store), or None."""
    hub = current_app.config.get("HUB")
    return hub.campaign_manager if hub is not None else None


def queue_sms(number: str, text: str) -> tuple[int | None, str | None]:
    """Queue an SMS through the server's SmsService; returns (row id, None) or (None, error message)."""
    number, text = (number or "").strip(), (text or "").strip()
    svc = sms_service()
    if svc is None:
        return None, _("No SMS service is configured (no GSM modem); the message was not queued.")
    if not number:
        return None, _("A phone number is required.")
    if not text:
        return None, _("The message text is empty.")
    if len(text) > MAX_TEXT:
        return None, _("The message is too long (%(n)s characters, at most %(max)s).", n=len(text), max=MAX_TEXT)
    try:
        return svc.queue(number, text), None
    except PduError as exc:
        return None, _("Not sent: %(why)s.", why=exc)


# ---------------------------------------------------------------- SMS

@bp.route("/sms", methods=["GET", "POST"])
@require("sms.view")
def sms() -> Response | tuple[str, int]:
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
        msg = _("Message %(id)s queued.", id=request.args["sent"])
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
FORM_DEFAULTS = {"name": "", "flow": "", "caller_id": "", "numbers": "", "max_channels": "4",
                 "calls_per_second": "1", "max_attempts": "3", "retry_delay": "300", "amd": "1", "start": "now",
                 "calendar": "", "recording": ""}
MAX_REPORTED_LINES = 50


def _progress_all() -> dict[str, Any]:
    """name -> counters: live campaigns from memory, finished/stored ones from the database."""
    out: dict[str, Any] = {}
    mgr = campaign_manager()
    if mgr is not None:
        try:
            out.update(mgr.stored())
        except SQLAlchemyError:      # the page still shows the live campaigns; the log says why the rest is missing
            current_app.logger.exception("stored campaigns unreadable")
    out.update({name: c.progress() for name, c in campaigns().items()})
    return dict(sorted(out.items()))


def _read_upload() -> tuple[str, str | None]:
    """(text, error) of the uploaded CSV file, if any."""
    f = request.files.get("csv")
    if f is None or not f.filename:
        return "", None
    raw = f.read()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc), None
        except UnicodeDecodeError:
            continue
    return "", f"The file {f.filename} is not UTF-8 or GB18030 text."


def _create_campaign(form: dict[str, str]) -> tuple[Any, list[str], str | None]:
    """Validate the create form and start the campaign; returns (campaign, notes, error)."""
    mgr = campaign_manager()
    if mgr is None:
        return None, [], _("Campaigns cannot be created here: this web admin has no running dialer.")
    rows, notes = parse_numbers(form["numbers"], "line")
    upload, err = _read_upload()
    if err:
        return None, notes, err
    if upload:
        more, more_notes = parse_numbers(upload, "file line")
        have = {r["number"] for r in rows}
        for r in more:
            if r["number"] in have:
                more_notes.append(_("file: %(number)s is also in the text box", number=r["number"]))
            else:
                rows.append(r)
                have.add(r["number"])
        notes += more_notes
    try:
        retry = float(form["retry_delay"])
    except ValueError:
        return None, notes, _("The retry delay must be a number of seconds.")
    try:
        camp = mgr.create(form["name"], form["flow"], rows, caller_id=form["caller_id"],
                          max_channels=form["max_channels"], calls_per_second=form["calls_per_second"],
                          max_attempts=form["max_attempts"], retry_after=retry, amd=bool(form["amd"]),
                          paused=form["start"] == "paused", author=getattr(g.user, "username", ""),
                          calendar=form.get("calendar", ""), recording=form.get("recording", ""))
    except CampaignError as exc:
        msg = str(exc)
        if not rows and notes:
            msg += " " + _("%(n)s line(s) were refused.", n=len(notes))
        return None, notes, msg
    return camp, notes, None


@bp.route("/campaigns", methods=["GET", "POST"])
@require("campaigns.view")
def campaigns_page() -> tuple[str, int]:
    """Every campaign with its progress counters (refreshed by campaigns.js every 2 s); admins create
    campaigns with the form (POST)."""
    notes: list[str] = []
    error, msg, status = request.args.get("error"), request.args.get("msg"), 200
    form = dict(FORM_DEFAULTS)
    if request.method == "POST":
        if not security.can("campaigns.create"):
            audit("denied", request.path, "campaigns.create")
            abort(403)
        form = {k: request.form.get(k, "" if k == "amd" else v).strip() if k != "numbers"
                else request.form.get(k, "") for k, v in FORM_DEFAULTS.items()}
        camp, notes, error = _create_campaign(form)
        if error:
            status = 409 if "already exists" in error else 400 if campaign_manager() is not None else 503
            audit("campaign_refused", form["name"], error)
            msg = None
        else:
            total = len(camp.contacts)
            audit("campaign_create", camp.name, f"flow {form['flow']}, {total} numbers, "
                  f"{len(notes)} lines refused, {'paused' if form['start'] == 'paused' else 'started'}")
            msg = (_("Campaign %(name)s created with %(n)s numbers (paused).", name=camp.name, n=total)
                   if form["start"] == "paused" else
                   _("Campaign %(name)s created with %(n)s numbers.", name=camp.name, n=total))
            if notes:
                msg += " " + _("%(n)s line(s) were skipped (listed below).", n=len(notes))
            form = dict(FORM_DEFAULTS)
            status = 201
    mgr = campaign_manager()
    return render_template("campaigns.html", progress=_progress_all(), msg=msg, error=error,
                           notes=notes[:MAX_REPORTED_LINES], more_notes=max(0, len(notes) - MAX_REPORTED_LINES),
                           can_control=security.can("campaigns.control"),
                           can_create=security.can("campaigns.create") and mgr is not None,
                           flows=mgr.flow_names() if mgr is not None else [], form=form,
                           calendars=list(getattr(mgr, "calendars", {}) or {}) if mgr is not None else [],
                           live=set(campaigns())), status


@bp.route("/campaigns/<name>")
@require("campaigns.view")
def campaign_numbers(name: str) -> str:
    """One campaign's numbers from the database: state, outcome, attempts, last cause."""
    mgr = campaign_manager()
    rows = mgr.numbers(name) if mgr is not None else None
    if rows is None:
        camp = campaigns().get(name)
        if camp is None:
            abort(404, description=_("no campaign %(name)s", name=name))
        rows = [{"number": c.number, "variables": c.variables, "state": c.state, "outcome": c.outcome,
                 "attempts": c.tries, "last_outcome": c.attempts[-1].outcome if c.attempts else "",
                 "last_cause": c.attempts[-1].cause if c.attempts else None, "retry_at": None}
                for c in camp.contacts]
    return render_template("campaign_numbers.html", name=name, rows=rows,
                           progress=_progress_all().get(name, {}))


@bp.route("/api/campaigns")
@require("campaigns.view")
def campaigns_json() -> Response:
    """JSON: name -> progress() counters of every campaign."""
    return jsonify(_progress_all())


@bp.route("/campaigns/<name>/<action>", methods=["POST"])
@require("campaigns.control")
def campaign_control(name: str, action: str) -> Response | tuple[Response, int]:
    """Pause, resume or stop a campaign (audited); a no-op action is reported, not silently accepted."""
    if action not in ACTIONS:
        abort(404)
    camp = campaigns().get(name)
    if camp is None:
        abort(404, description=_("no campaign %(name)s", name=name))
    want, needs = ACTIONS[action]
    before = camp.state
    if needs is not None and before != needs:
        error = _("Campaign %(name)s is %(state)s; %(action)s applies to a %(needs)s campaign only.", name=name,
                  state=term(before), action=verb(action), needs=term(needs))
        return _control_reply(camp, error=error, code=409)
    if before == "idle":             # Campaign.run() sets running on start, which would undo an early stop
        return _control_reply(camp, error=_("Campaign %(name)s has not started; %(action)s applies once it runs.",
                                                        name=name, action=verb(action)),
                              code=409)
    if before in ("stopped", "done"):
        return _control_reply(camp, error=_("Campaign %(name)s is already %(state)s.", name=name,
                                            state=term(before)), code=409)
    getattr(camp, action)()
    audit(f"campaign_{action}", name, f"{before} -> {camp.state}")
    return _control_reply(camp, msg=_("Campaign %(name)s: %(before)s -> %(after)s.", name=name, before=term(before),
                                                after=term(camp.state)))


def _control_reply(camp: Any, msg: str | None = None, error: str | None = None,
                   code: int = 200) -> Response | tuple[Response, int]:
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify({"ok": error is None, "state": camp.state, "error": error, "msg": msg}), code
    return redirect(url_for("messaging.campaigns_page", msg=msg, error=error))
