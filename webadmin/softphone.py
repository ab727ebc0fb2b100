"""The browser softphone of the agent workbench: WebRTC audio between the page and a browser station port.

An agent signs in with "this browser": the page claims one of the board's browser phones (a station port,
drivers/backends/browser.py), sends its SDP offer here and gets aiortc's answer (drivers/webrtc.py), then
signs in at that station port through the ordinary checked ACD login. Answer / hang-up put the browser
phone off / on hook (line events the engine sees as from a desk phone); keypad digits go into the call as
in-band DTMF tones. Every endpoint needs the agent's login (or a supervisor of the agent) and the CSRF token.

A supervisor hears through a browser phone the same way: the console claims one (held as
"supervisor:<login>"), and listen / whisper / barge ring its station port like a desk phone's; the page
answers the ring it asked for. Those endpoints need the monitor permission.
"""
from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify
from flask_babel import gettext as _

from trunkline.drivers.backends.browser import BrowserPhone, BrowserPhones
from trunkline.drivers.webrtc import MAX_SDP, WebRTCPhones
from trunkline.dsp.dtmf import DTMFGenerator

from .cti import _agent_for, _body, _perm

bp = Blueprint("softphone", __name__)
_lock = threading.Lock()
DIGITS = set("0123456789*#ABCD")


def browser_phones() -> BrowserPhones | None:
    """The running engine's browser-phone pool, or None (no engine, or a board without browser phones)."""
    hub = current_app.config.get("HUB")
    engine = getattr(hub, "engine", None) if hub is not None else None
    return getattr(engine.board, "phones", None) if engine is not None else None


def _webrtc(app: Flask) -> WebRTCPhones:
    """The app's WebRTC peer-connection thread (started on first use)."""
    with _lock:
        rtc = app.extensions.get("webrtc_phones")
        if rtc is None:
            rtc = app.extensions["webrtc_phones"] = WebRTCPhones()
        return rtc


def _pool() -> BrowserPhones:
    pool = browser_phones()
    if pool is None:
        abort(_err(_("This server has no browser phones."))[0])
    return pool


def _mine(owner: str) -> BrowserPhone:
    phone = _pool().phone_for(owner)
    if phone is None:
        abort(_err(_("Sign in with this browser first."))[0])
    return phone


def _err(msg: str, status: int = 409) -> tuple[Response, int]:
    """A JSON refusal {ok: false, error} with its status (the response carries the status too)."""
    resp = jsonify({"ok": False, "error": msg})
    resp.status_code = status
    return resp, status


def _offer(owner: str) -> Response | tuple[Response, int]:
    """Claim a browser phone for `owner` and answer the page's SDP offer: JSON {ok, port, sdp}."""
    pool = _pool()
    sdp = _body().get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
        return _err(_("The request needs an SDP offer."), 400)
    phone = pool.claim(owner)
    if phone is None:
        return _err(_("All browser phones are in use."))
    try:
        answer = _webrtc(current_app._get_current_object()).answer(phone, sdp)   # type: ignore[attr-defined]
    except ValueError as exc:
        pool.release(owner)
        return _err(str(exc), 400)
    return jsonify({"ok": True, "port": phone.port, "sdp": answer})


def _hook(owner: str) -> Response:
    """Off hook ({"offhook": true}: answer) or on hook (hang up) for `owner`'s browser phone."""
    phone = _mine(owner)
    _pool().set_hook(phone, bool(_body().get("offhook")))
    return jsonify({"ok": True, "offhook": phone.offhook})


def _release(owner: str) -> Response:
    """Hang up and give back `owner`'s browser phone."""
    pool = _pool()
    phone = pool.phone_for(owner)
    if phone is not None:
        _webrtc(current_app._get_current_object()).close_phone(phone)   # type: ignore[attr-defined]
        pool.release(owner)
    return jsonify({"ok": True})


@bp.route("/workbench/<agent_id>/softphone/offer", methods=["POST"])
def offer(agent_id: str) -> Response | tuple[Response, int]:
    """Claim a browser phone for the agent and answer the page's SDP offer: JSON {ok, port, sdp}."""
    _agent_for(agent_id)
    return _offer(str(agent_id))


@bp.route("/workbench/<agent_id>/softphone/hook", methods=["POST"])
def hook(agent_id: str) -> Response:
    """Answer ({"offhook": true}) or hang up ({"offhook": false}) the agent's browser phone."""
    _agent_for(agent_id)
    return _hook(str(agent_id))


@bp.route("/workbench/<agent_id>/softphone/dtmf", methods=["POST"])
def dtmf(agent_id: str) -> Response | tuple[Response, int]:
    """Send keypad digits (up to 32 of 0-9 * # A-D) into the call as in-band DTMF tones."""
    _agent_for(agent_id)
    phone = _mine(str(agent_id))
    digits = str(_body().get("digits", ""))
    if not digits or len(digits) > 32 or not set(digits) <= DIGITS:
        return _err(_("Digits are 1 to 32 of 0-9 * # A-D."), 400)
    gen = DTMFGenerator(1)
    gen.put(0, digits)
    phone.send_tones(gen.generate(160 * 8 * len(digits))[0])
    return jsonify({"ok": True})


@bp.route("/workbench/<agent_id>/softphone/release", methods=["POST"])
def release(agent_id: str) -> Response:
    """Hang up and give back the agent's browser phone (after signing out)."""
    _agent_for(agent_id)
    return _release(str(agent_id))


def supervisor_owner() -> str:
    """The browser-phone holder name of the logged-in supervisor ("supervisor:<login>")."""
    user = getattr(g, "user", None)
    return f"supervisor:{user.username if user is not None else ''}"


def _supervisor() -> str:
    if not _perm("monitor"):
        abort(403)
    return supervisor_owner()


@bp.route("/supervisor/softphone/offer", methods=["POST"])
def supervisor_offer() -> Response | tuple[Response, int]:
    """Claim a browser phone for the supervisor (listen / whisper / barge ring it): JSON {ok, port, sdp}."""
    return _offer(_supervisor())


@bp.route("/supervisor/softphone/hook", methods=["POST"])
def supervisor_hook() -> Response:
    """Answer ({"offhook": true}) or hang up ({"offhook": false}: stop listening) the supervisor's phone."""
    return _hook(_supervisor())


@bp.route("/supervisor/softphone/release", methods=["POST"])
def supervisor_release() -> Response:
    """Hang up and give back the supervisor's browser phone."""
    return _release(_supervisor())


@bp.route("/supervisor/softphone/state")
def supervisor_state() -> Response:
    """JSON: the supervisor's browser phone (port, ringing, off hook, media up, on a call) or null."""
    return jsonify(state(_supervisor()))


def state(owner: str) -> dict[str, Any] | None:
    """A holder's browser phone (agent id or supervisor_owner()): port, ringing, off hook, media up and
    in_call: the engine has rung its station port for a call still going (a call, a consultation, a
    listen); a port left off hook after the call went has none (the page then hangs up). Or None."""
    pool = browser_phones()
    phone = pool.phone_for(str(owner)) if pool is not None else None
    if phone is None:
        return None
    hub = current_app.config.get("HUB")
    engine = getattr(hub, "engine", None)
    call = engine.station_call(phone.port) if engine is not None else None
    in_call = call is not None and call.direction == "out" and not call.hungup
    return {"port": phone.port, "ringing": phone.ringing, "offhook": phone.offhook, "attached": phone.attached,
            "in_call": in_call}
