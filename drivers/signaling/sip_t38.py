"""T.38 on SIP calls (the SipSignaling's fax media): our re-INVITE from audio to an `m=image udptl t38` stream
and back, the answer to a peer's T.38 re-INVITE, the UDPTL socket of each call in T.38, and the SDP a
session refresh re-INVITE is answered with while the call is in T.38 (so refreshes never stop a fax)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trunkline.drivers.signaling.base import SignalingError
from trunkline.drivers.sip.legs import Leg
from trunkline.drivers.sip.message import SipMessage
from trunkline.drivers.sip.sdp_t38 import T38Sdp, answer_t38, build_t38, parse_t38
from trunkline.drivers.sip.transport import Source
from trunkline.drivers.sip.udptl import UdptlPort

if TYPE_CHECKING:   # SipSignaling calls these with itself (sip.py imports this module)
    from trunkline.drivers.signaling.sip import SipSignaling

log = logging.getLogger("trunkline.sip.t38")
#: the outcome given to a switch's callback: "t38" (switched), "audio" (back to audio), or why it failed
Done = Callable[[str], None]


@dataclass
class T38Call:
    """A call whose media is T.38: its UDPTL socket and the description we answered/offered with."""
    port: UdptlPort
    local: T38Sdp
    remote: T38Sdp | None = None


def _open(sig: SipSignaling, remote: T38Sdp | None) -> T38Call:
    redundancy = 3
    if remote is not None and remote.udp_ec.lower() not in ("t38udpredundancy", ""):
        redundancy = 0 if remote.udp_ec.lower() == "t38udpnoec" else 3
    port = UdptlPort(sig.media_host, redundancy=redundancy,
                     max_datagram=remote.max_datagram if remote is not None else 400)
    local = answer_t38(remote) if remote is not None else T38Sdp(sig.media_host, port.port)
    local.ip, local.port = sig.media_host, port.port
    return T38Call(port, local, remote)


def _use_remote(call: T38Call, remote: T38Sdp) -> None:
    call.remote = remote
    call.port.remote = (remote.ip, remote.port)


def port(sig: SipSignaling, channel: int) -> UdptlPort | None:
    """The UDPTL socket of a call in T.38 with a known remote, else None."""
    call = sig.t38.get(channel)
    return call.port if call is not None and call.remote is not None else None


def switch(sig: SipSignaling, channel: int, done: Done) -> None:
    """Re-INVITE the call to T.38; `done('t38')` once the peer answered with an image stream, else
    `done('<status> <reason>')` (the caller decides what to do: fall back to audio fax)."""
    leg = sig.legs.get(channel)
    if leg is None or leg.dialog is None or leg.state != "up":
        raise SignalingError(f"no SIP call up on channel {channel}", 41)
    if port(sig, channel) is not None:
        done("t38")
        return
    if not sig.settings.t38:
        done("T.38 off in the SIP settings")
        return
    call = _open(sig, None)
    body = build_t38(sig.media_host, call.port.port, call.local)
    log.info("SIP call %s: re-INVITE to T.38 (UDPTL port %d)", leg.call_id, call.port.port)
    sig.ua.dialog_request(leg.dialog, "INVITE", lambda r: _switch_answer(sig, leg, call, r, done), body=body,
                          headers=[("Contact", sig.ua.contact("trunkline", leg.dialog.dest.transport))],
                          creds=leg.creds)


def _switch_answer(sig: SipSignaling, leg: Leg, call: T38Call, resp: SipMessage, done: Done) -> None:
    if resp.status < 200:
        return
    if resp.status >= 300 or leg.state != "up":
        call.port.close()
        done(f"{resp.status} {resp.reason}")
        return
    if leg.dialog is not None:
        sig.ua.dialog_request(leg.dialog, "ACK", lambda r: None, cseq=resp.cseq[0])
    remote = parse_t38(resp.body) if resp.body else None
    if remote is None:
        call.port.close()
        log.info("SIP call %s: 2xx to our T.38 re-INVITE without an image stream: audio kept", leg.call_id)
        done("answer without T.38")
        return
    _use_remote(call, remote)
    old = sig.t38.pop(leg.ch, None)
    if old is not None:
        old.port.close()
    sig.t38[leg.ch] = call
    sig.rtp.set_send(leg.ch - sig.offset, False)
    log.info("SIP call %s: T.38 to %s:%d", leg.call_id, remote.ip, remote.port)
    done("t38")


def on_reinvite(sig: SipSignaling, leg: Leg, msg: SipMessage, src: Source) -> bool:
    """A re-INVITE offering an image stream: answer it with ours (a new socket, or the call's own for a
    refresh); True when handled here."""
    offer = parse_t38(msg.body) if msg.body else None
    if offer is None:
        return False
    if not sig.settings.t38:
        log.info("SIP call %s: T.38 re-INVITE refused (488): T.38 is off", leg.call_id)
        sig.ua.respond(msg, src, 488, to_tag=leg.local_tag)
        return True
    call = sig.t38.get(leg.ch)
    if call is None:
        call = _open(sig, offer)
        sig.t38[leg.ch] = call
        log.info("SIP call %s: peer switched to T.38 (%s:%d)", leg.call_id, offer.ip, offer.port)
    _use_remote(call, offer)
    sig.rtp.set_send(leg.ch - sig.offset, False)
    assert leg.dialog is not None, "re-INVITEs are handled on calls with a dialog"
    leg.dialog.remote_seq = max(leg.dialog.remote_seq, msg.cseq[0])
    leg.last_refresh = sig.now
    headers = [("Contact", sig.ua.contact("trunkline", src.transport))]
    if leg.session_expires:
        headers += [("Session-Expires", f"{leg.session_expires};refresher={'uas' if leg.we_refresh else 'uac'}"),
                    ("Require", "timer")]
    sig.ua.respond(msg, src, 200, to_tag=leg.local_tag, headers=headers, body=body(sig, leg) or b"")
    return True


def body(sig: SipSignaling, leg: Leg) -> bytes | None:
    """Our current SDP while the call is in T.38 (answers to refreshes), else None."""
    call = sig.t38.get(leg.ch)
    if call is None:
        return None
    return build_t38(sig.media_host, call.port.port, call.local)


def to_audio(sig: SipSignaling, channel: int, done: Done) -> None:
    """Re-INVITE a call in T.38 back to audio (our G.711 offer); `done('audio')` once answered."""
    leg = sig.legs.get(channel)
    call = sig.t38.pop(channel, None)
    if call is None or leg is None or leg.dialog is None or leg.state != "up":
        if call is not None:
            call.port.close()
        done("audio")
        return
    call.port.close()

    def answered(resp: SipMessage) -> None:
        if resp.status < 200:
            return
        sig._reinvite_response(leg, resp)
        if resp.status < 300:
            sig.rtp.set_send(leg.ch - sig.offset, True)
        done("audio" if resp.status < 300 else f"{resp.status} {resp.reason}")

    sig.ua.dialog_request(leg.dialog, "INVITE", answered, body=sig._sdp(leg, offer=True),
                          headers=[("Contact", sig.ua.contact("trunkline", leg.dialog.dest.transport))],
                          creds=leg.creds)


def drop(sig: SipSignaling, channel: int) -> None:
    """The call left T.38 (audio re-INVITE from the peer, or the call ended): close its UDPTL socket."""
    call = sig.t38.pop(channel, None)
    if call is not None:
        call.port.close()
