"""Requests and responses of SIP calls (the SipSignaling's dialog work): inbound INVITE with auth, rate
limit and SDP answer, re-INVITE hold/unhold and session refresh, ACK, BYE, CANCEL, OPTIONS, REFER and
NOTIFY; responses to our INVITEs and re-INVITEs."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from trunkline.drivers.signaling import sip_refer, sip_t38
from trunkline.drivers.signaling.base import ANSWERED, INCOMING, PROGRESS, RINGING, SignalingEvent
from trunkline.drivers.sip import sdp
from trunkline.drivers.sip.causes import cause_from_reason, q850_of
from trunkline.drivers.sip.legs import Leg
from trunkline.drivers.sip.message import SipMessage, SipParseError, parse_name_addr, parse_uri
from trunkline.drivers.sip.transport import Source
from trunkline.drivers.sip.ua import ALLOW, Dialog
from trunkline.drivers.sip.xheaders import x_headers

if TYPE_CHECKING:   # SipSignaling calls these with itself (sip.py imports this module)
    from trunkline.drivers.signaling.sip import SipSignaling

log = logging.getLogger("trunkline.sip")


def on_request(sig: SipSignaling, msg: SipMessage, src: Source) -> None:
    """Dispatch one new request."""
    ua = sig.ua
    m = msg.method
    leg = sig.by_call_id.get(msg.call_id)
    if m == "INVITE":
        if msg.tag("To"):
            reinvite(sig, leg, msg, src)
        elif leg is None:
            invite(sig, msg, src)
        return
    if m == "ACK":
        if leg is not None and leg.direction == "in" and msg.body and leg.remote_sdp is None:
            _late_answer(sig, leg, msg)
        return
    if m == "OPTIONS":
        ua.respond(msg, src, 200, headers=[("Allow", ALLOW), ("Accept", "application/sdp"),
                                           ("Supported", "timer")])
        return
    if m == "CANCEL":
        if leg is None or leg.direction != "in":
            ua.respond(msg, src, 481)
            return
        ua.respond(msg, src, 200)
        if leg.state in ("offered", "early") and leg.invite is not None and leg.src is not None:
            ua.respond(leg.invite, leg.src, 487, to_tag=leg.local_tag)
            sig._gone(leg, cause_from_reason(msg.get("Reason"), 16), "cancelled")
        return
    if leg is None or leg.dialog is None:
        ua.respond(msg, src, 481 if m in ("BYE", "UPDATE", "REFER", "NOTIFY", "INFO") else 405,
                   headers=[("Allow", ALLOW)])
        return
    num, _ = msg.cseq
    leg.dialog.remote_seq = max(leg.dialog.remote_seq, num)
    if m == "BYE":
        ua.respond(msg, src, 200)
        sig._gone(leg, cause_from_reason(msg.get("Reason"), 16), "far end hung up")
    elif m == "UPDATE":
        leg.last_refresh = sig.now
        ua.respond(msg, src, 200, headers=_timer_headers(leg))
    elif m == "NOTIFY":
        ua.respond(msg, src, 200)
        _refer_progress(sig, leg, msg)
    elif m == "INFO":
        ua.respond(msg, src, 200)
    elif m == "REFER":
        sip_refer.on_refer(sig, leg, msg, src)
    else:
        ua.respond(msg, src, 501, headers=[("Allow", ALLOW)])


def _refer_progress(sig: SipSignaling, leg: Leg, msg: SipMessage) -> None:
    """NOTIFY of a REFER we sent (RFC 3515 sipfrag): once the transfer target answered, our leg ends."""
    if not msg.get("Event").lower().startswith("refer") or leg.dialog is None:
        return
    frag = msg.body.decode("utf-8", "replace").strip().split("\n", 1)[0]
    parts = frag.split(" ")
    if len(parts) < 2 or not parts[1].isdigit():
        return
    status = int(parts[1])
    if 200 <= status < 300:
        sig.ua.dialog_request(leg.dialog, "BYE", lambda r: None, creds=leg.creds)
        sig._gone(leg, 16, "transferred")
    elif status >= 300:
        log.info("SIP call %s: transfer failed: %s", leg.call_id, frag)


def _timer_headers(leg: Leg) -> list[tuple[str, str]]:
    if not leg.session_expires:
        return []
    return [("Session-Expires", f"{leg.session_expires};refresher={'uas' if leg.we_refresh else 'uac'}"),
            ("Require", "timer")]


def _source_trunk(sig: SipSignaling, ip: str) -> str | None:
    """The trunk whose peer address is `ip` and that takes calls without auth, else None."""
    for t in sig.settings.trunks:
        if t.host and not t.inbound_auth and sig._resolve(t.host) == ip:
            return t.name
    return None


def invite(sig: SipSignaling, msg: SipMessage, src: Source) -> None:
    """A new inbound call: rate limit, authorise, check SDP, take a channel, tell the engine."""
    ua, st = sig.ua, sig.settings
    sig.stats["invites"] += 1
    ip = src.addr[0]
    if not sig.limit.allow(ip, sig.now):
        sig.stats["rate_limited"] += 1
        ua.respond(msg, src, 503, headers=[("Retry-After", "5")])
        return
    try:
        ruri = parse_uri(msg.uri)
        caller_uri = parse_uri(parse_name_addr(msg.get("From")).uri)
    except SipParseError:
        ua.respond(msg, src, 400)
        return
    called = ruri.user
    trunk = _source_trunk(sig, ip)
    if trunk is None and (called in st.open_numbers or "*" in st.open_numbers) and st.open_source(ip):
        trunk = "sip"
    if trunk is None:
        who = sig.auth.check(msg.get("Authorization"), "INVITE", sig.now)
        if who is None:
            sig.stats["rejected_auth"] += 1
            ua.respond(msg, src, 401, headers=[("WWW-Authenticate", sig.auth.challenge(sig.now))])
            return
        trunk = next((t.name for t in st.trunks if t.username == who), "sip")
    offer = None
    if msg.body:
        try:
            offer = sdp.parse(msg.body)
            pt = sdp.answer_codec(offer, st.codecs)
        except (sdp.SdpError, ValueError):
            ua.respond(msg, src, 488)
            return
    else:
        pt = sdp.CODECS.get(st.codecs[0], 8)
    if not sig.free:
        ua.respond(msg, src, 486)
        return
    ch = sig.free.pop(0)
    leg = Leg(ch, "in", msg.call_id, trunk, invite=msg, src=src, remote_sdp=offer, pt=pt, created=sig.now)
    se = msg.get("Session-Expires").split(";")[0].strip()
    if se.isdigit() and "timer" in msg.get("Supported") + msg.get("Require"):
        leg.session_expires = max(90, int(se))
    contact = msg.get_all("Contact")
    target = parse_name_addr(contact[0]).uri if contact else msg.uri
    leg.dialog = Dialog(msg.call_id, leg.local_tag, msg.tag("From"), msg.uri,
                        parse_name_addr(msg.get("From")).uri, target, src, local_seq=1, remote_seq=msg.cseq[0],
                        route=list(msg.get_all("Record-Route")))
    sig.legs[ch] = leg
    sig.by_call_id[msg.call_id] = leg
    try:
        sig.rtp.open(ch - sig.offset)
    except OSError:
        sig._free(leg)
        ua.respond(msg, src, 503)
        return
    sig._start_media(leg)               # receive at once (early media); we send only once answered
    sig.rtp.set_send(ch - sig.offset, False)
    ua.respond(msg, src, 180, to_tag=leg.local_tag,
               headers=[("Contact", ua.contact("trunkline", src.transport))])
    leg.state = "early"
    sig.stats["calls_in"] += 1
    sig.emit(SignalingEvent(INCOMING, ch, caller=caller_uri.user, called=called,
                            extra={"sip_call_id": msg.call_id, "sip_from": msg.get("From"),
                                   "sip_source": f"{src.transport}:{ip}:{src.addr[1]}", "sip_trunk": trunk,
                                   "sip_headers": x_headers(msg)}))


def _late_answer(sig: SipSignaling, leg: Leg, msg: SipMessage) -> None:
    try:
        leg.remote_sdp = sdp.parse(msg.body)
        leg.pt = sdp.answer_codec(leg.remote_sdp, sig.settings.codecs)
    except (sdp.SdpError, ValueError):
        return
    sig._start_media(leg)


def reinvite(sig: SipSignaling, leg: Leg | None, msg: SipMessage, src: Source) -> None:
    """Re-INVITE: hold/unhold (direction), new address, or a session refresh."""
    ua = sig.ua
    if leg is None or leg.dialog is None or leg.state != "up":
        ua.respond(msg, src, 481)
        return
    if sip_t38.on_reinvite(sig, leg, msg, src):
        return
    leg.dialog.remote_seq = max(leg.dialog.remote_seq, msg.cseq[0])
    leg.last_refresh = sig.now
    if msg.body:
        try:
            offer = sdp.parse(msg.body)
            pt = sdp.answer_codec(offer, sig.settings.codecs)
        except (sdp.SdpError, ValueError):
            ua.respond(msg, src, 488)
            return
        leg.remote_sdp, leg.pt = offer, pt
        sip_t38.drop(sig, leg.ch)           # an audio offer ends T.38
        sig._start_media(leg)
    headers = [("Contact", ua.contact("trunkline", src.transport))] + _timer_headers(leg)
    ua.respond(msg, src, 200, to_tag=leg.local_tag, headers=headers, body=sig._sdp(leg))


def invite_response(sig: SipSignaling, leg: Leg, resp: SipMessage) -> None:
    """Progress and outcome of a call we placed."""
    if leg.cancel_on_provisional:
        if 100 < resp.status < 200:
            leg.cancel_on_provisional = False
            sig._cancel(leg)
        elif 200 <= resp.status < 300:
            _confirm(sig, leg, resp)
            if leg.dialog is not None:
                sig.ua.dialog_request(leg.dialog, "BYE", lambda r: None)
            sig.by_call_id.pop(leg.call_id, None)
        return
    if leg.state == "ended":
        return
    s = resp.status
    if s == 100:
        return
    if s < 200:
        if resp.body:
            try:
                leg.remote_sdp = sdp.parse(resp.body)
                leg.pt = leg.remote_sdp.audio_pt if leg.remote_sdp.audio_pt is not None else leg.pt
                sig._start_media(leg)
            except (sdp.SdpError, ValueError):
                pass
        if not leg.rang:
            leg.rang = True
            leg.state = "early"
            sig.emit(SignalingEvent(PROGRESS if (s == 183 or resp.body) else RINGING, leg.ch))
        return
    if s < 300:
        if leg.state == "up":
            _ack(sig, leg, resp)
            return
        _confirm(sig, leg, resp)
        leg.state = "up"
        leg.last_refresh = sig.now
        se = resp.get("Session-Expires")
        if se:
            val, _, params = se.partition(";")
            if val.strip().isdigit():
                leg.session_expires = max(90, int(val.strip()))
                leg.we_refresh = "refresher=uac" in params.replace(" ", "")
                sig._at(leg.session_expires / 2 if leg.we_refresh else leg.session_expires,
                        leg, "refresh" if leg.we_refresh else "expire")
        sig.emit(SignalingEvent(ANSWERED, leg.ch))
        return
    sig._gone(leg, q850_of(s), f"{s} {resp.reason}")


def _confirm(sig: SipSignaling, leg: Leg, resp: SipMessage) -> None:
    """A 2xx to our INVITE: build the dialog, ACK, start media."""
    inv, src = leg.invite, leg.src
    assert inv is not None and src is not None
    contact = resp.get_all("Contact")
    target = parse_name_addr(contact[0]).uri if contact else inv.uri
    route = list(reversed(resp.get_all("Record-Route")))
    leg.dialog = Dialog(leg.call_id, leg.local_tag, resp.tag("To"), parse_name_addr(inv.get("From")).uri,
                        parse_name_addr(inv.get("To")).uri, target, src, local_seq=inv.cseq[0], route=route)
    _ack(sig, leg, resp)
    if resp.body:
        try:
            leg.remote_sdp = sdp.parse(resp.body)
            apt = leg.remote_sdp.audio_pt
            leg.pt = apt if apt is not None else leg.pt
        except (sdp.SdpError, ValueError):
            log.info("SIP call %s: answer without usable SDP", leg.call_id)
    sig._start_media(leg)


def _ack(sig: SipSignaling, leg: Leg, resp: SipMessage) -> None:
    if leg.dialog is not None:
        sig.ua.dialog_request(leg.dialog, "ACK", lambda r: None, cseq=resp.cseq[0])


def reinvite_response(sig: SipSignaling, leg: Leg, resp: SipMessage) -> None:
    """Answer to our hold/unhold re-INVITE: ACK a 2xx and follow the far end's SDP."""
    log.debug("SIP call %s: re-INVITE answered %d %r", leg.call_id, resp.status, resp.body[-120:])
    if 200 <= resp.status < 300:
        _ack(sig, leg, resp)
        if resp.body:
            try:
                leg.remote_sdp = sdp.parse(resp.body)
            except (sdp.SdpError, ValueError):
                return
            sig._start_media(leg)


def stray_2xx(sig: SipSignaling, resp: SipMessage) -> None:
    """A retransmitted 2xx to an INVITE: ACK it again (our ACK was lost)."""
    leg = sig.by_call_id.get(resp.call_id)
    if leg is not None and leg.direction == "out":
        _ack(sig, leg, resp)
