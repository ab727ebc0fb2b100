"""Test call from the browser: the admin's browser phone (WebRTC, a browser station port) dials a called number
(default the demo hotline 95588) that runs through the inbound route like a trunk call (ivr.testcall); the page
plays what the flow says, has a keypad (in-band DTMF) and shows the call's IVR path as it goes."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, render_template
from flask_babel import gettext as _

from trunkline.drivers.backends.browser import BrowserPhone, BrowserPhones
from trunkline.drivers.webrtc import MAX_SDP
from trunkline.dsp.dtmf import DTMFGenerator
from trunkline.ivr.testcall import DEFAULT_CALLER, DEFAULT_NUMBER, TestCalls

from .cti import _body
from .security import audit, require
from .softphone import DIGITS, _webrtc

bp = Blueprint("testcall", __name__)


def _owner() -> str:
    """The browser-phone owner id of the logged-in admin's test phone."""
    return f"test:{g.user.username}"


def _err(msg: str, status: int = 409) -> tuple[Response, int]:
    resp = jsonify({"ok": False, "error": msg})
    return resp, status


def _service() -> tuple[BrowserPhones | None, TestCalls | None]:
    hub = current_app.config["HUB"]
    board = getattr(hub.engine, "board", None)            # an engine stand-in may have no board
    pool: BrowserPhones | None = getattr(board, "phones", None)
    return pool, getattr(hub, "test_calls", None)


def _phone() -> tuple[BrowserPhones, BrowserPhone] | tuple[None, None]:
    pool, _tc = _service()
    phone = pool.phone_for(_owner()) if pool is not None else None
    return (pool, phone) if pool is not None and phone is not None else (None, None)


@bp.route("/testcall")
@require("config.edit")
def page() -> str:
    """The test-call page: number, caller ID, call / hang up, keypad, what the call does."""
    pool, tc = _service()
    why = None
    if pool is None:
        why = _("This server has no browser phones (browser_phones = 0, or the board is not the simulator).")
    elif tc is None:
        why = _("Test calls are not wired in this server.")
    return render_template("testcall.html", unavailable=why, number=DEFAULT_NUMBER, caller=DEFAULT_CALLER)


@bp.route("/testcall/offer", methods=["POST"])
@require("config.edit")
def offer() -> Response | tuple[Response, int]:
    """Claim a browser phone for the admin and answer the page's SDP offer: JSON {ok, port, sdp}."""
    pool, tc = _service()
    if pool is None or tc is None:
        return _err(_("Test calls are not available on this server."))
    sdp = _body().get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
        return _err(_("The request needs an SDP offer."), 400)
    phone = pool.claim(_owner())
    if phone is None:
        return _err(_("All browser phones are in use."))
    try:
        answer = _webrtc(current_app._get_current_object()).answer(phone, sdp)   # type: ignore[attr-defined]
    except ValueError as exc:
        pool.release(_owner())
        return _err(str(exc), 400)
    return jsonify({"ok": True, "port": phone.port, "sdp": answer})


@bp.route("/testcall/dial", methods=["POST"])
@require("config.edit")
def dial() -> Response | tuple[Response, int]:
    """Dial: {number, caller}: the phone goes off hook and the call runs the inbound route for `number`."""
    pool, phone = _phone()
    _p, tc = _service()
    if pool is None or phone is None or tc is None:
        return _err(_("Connect the browser phone first."))
    if phone.offhook:
        return _err(_("A test call is in progress; hang up first."))
    body = _body()
    number = str(body.get("number") or DEFAULT_NUMBER)
    caller = str(body.get("caller") or DEFAULT_CALLER)
    try:
        tc.arm(phone.channel, number, caller, user=g.user.username)
    except ValueError:
        return _err(_("Numbers are digits, * and # (at most 32, a leading + allowed)."), 400)
    pool.set_hook(phone, True)
    audit("test_call", f"number:{number}", f"caller {caller}")
    return jsonify({"ok": True, "number": number})


@bp.route("/testcall/dtmf", methods=["POST"])
@require("config.edit")
def dtmf() -> Response | tuple[Response, int]:
    """Keypad digits (up to 32 of 0-9 * # A-D) into the call as in-band DTMF tones."""
    pool, phone = _phone()
    if phone is None:
        return _err(_("Connect the browser phone first."))
    digits = str(_body().get("digits", ""))
    if not digits or len(digits) > 32 or not set(digits) <= DIGITS:
        return _err(_("Digits are 1 to 32 of 0-9 * # A-D."), 400)
    gen = DTMFGenerator(1)
    gen.put(0, digits)
    phone.send_tones(gen.generate(160 * 8 * len(digits))[0])
    return jsonify({"ok": True})


@bp.route("/testcall/hangup", methods=["POST"])
@require("config.edit")
def hangup() -> Response | tuple[Response, int]:
    """Hang up the test call (the phone goes on hook; it stays connected for the next call)."""
    pool, phone = _phone()
    _p, tc = _service()
    if pool is None or phone is None:
        return _err(_("Connect the browser phone first."))
    if tc is not None:
        tc.disarm(phone.channel)
    pool.set_hook(phone, False)
    return jsonify({"ok": True})


@bp.route("/testcall/release", methods=["POST"])
@require("config.edit")
def release() -> Response:
    """Hang up and give the browser phone back (the page is closed)."""
    pool, phone = _phone()
    if pool is not None and phone is not None:
        _webrtc(current_app._get_current_object()).close_phone(phone)   # type: ignore[attr-defined]
        pool.release(_owner())
    return jsonify({"ok": True})


@bp.route("/testcall/state")
@require("config.edit")
def state() -> Response:
    """The test phone and its call now: {phone: {port, offhook, attached} | null, call: {...} | null}."""
    pool, phone = _phone()
    if phone is None:
        return jsonify({"phone": None, "call": None})
    eng = current_app.config["HUB"].engine
    call = eng.calls.get(phone.channel) if eng is not None else None
    info: dict[str, Any] | None = None
    if call is not None:
        info = {"id": call.id, "state": call.state, "called": call.called, "caller": call.caller_id,
                "ivr_path": call.cdr.ivr_path, "digits": call.cdr.digits}
    return jsonify({"phone": {"port": phone.port, "offhook": phone.offhook, "attached": phone.attached},
                    "call": info})
