"""SIP signaling for a SIP span (RFC 3261): inbound and outbound calls on the span's channels, each with
an RTP stream; digest auth both ways, REGISTER with refresh, hold/unhold re-INVITEs, session timers
(RFC 4028), OPTIONS, CANCEL, Q.850 causes (RFC 3398). The engine sees the same SignalingEvents as on an E1."""
from __future__ import annotations

import heapq
import ipaddress
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from trunkline.drivers.board import LineEvent, Span
from trunkline.drivers.signaling import sip_refer, sip_requests, sip_t38
from trunkline.drivers.signaling.base import (
    CAUSE_CONGESTION,
    HANGUP,
    SignalingError,
    SignalingEvent,
    SpanSignaling,
)
from trunkline.drivers.sip import sdp
from trunkline.drivers.sip.causes import reason_header, sip_of
from trunkline.drivers.sip.config import SipTrunk
from trunkline.drivers.sip.digest import DigestServer
from trunkline.drivers.sip.legs import Leg, Registration
from trunkline.drivers.sip.message import SipMessage, SipParseError, parse_name_addr, parse_uri
from trunkline.drivers.sip.transport import RateLimit, Source
from trunkline.drivers.sip.ua import ALLOW, Credentials, SipUA, new_tag
from trunkline.drivers.sip.udptl import UdptlPort
from trunkline.drivers.sip.xheaders import split_uri_headers

log = logging.getLogger("trunkline.sip")


class SipSignaling(SpanSignaling):
    """The SIP user agent of one SIP span."""

    trunk = "sip"

    def __init__(self, span: Span, emit: Callable[[SignalingEvent], None]) -> None:
        super().__init__(span, emit)
        self.part, self.offset = span.board.sip_part(span)
        self.settings = st = self.part.settings
        self.rtp = self.part.rtp
        host = st.rtp_host or st.host
        self.media_host = host if host not in ("0.0.0.0", "") else "127.0.0.1"
        self.ua = SipUA(self.part.transports, self._on_request, self.media_host)
        self.ua.on_stray_2xx = self._stray_2xx
        self.legs: dict[int, Leg] = {}
        self.by_call_id: dict[str, Leg] = {}
        self.free = list(span.bearer_channels)
        self.auth = DigestServer(st.realm, self._users(st.trunks))
        self.limit = RateLimit(st.invite_rate, st.invite_burst)
        self.registrations = [Registration(t) for t in st.trunks if t.register]
        self._pending_trunks: deque[list[SipTrunk]] = deque()    # set_trunks from another thread
        self._timers: list[tuple[float, int, str, str]] = []    # (due, seq, call-id, kind)
        self._tseq = 0
        self.now = 0.0
        self._dns: dict[str, str] = {}
        self.t38: dict[int, sip_t38.T38Call] = {}     # channel -> its T.38 media (sip_t38)
        self.on_refer: sip_refer.ReferHook | None = None      # transfers a peer asks for (media.refer)
        self.stats = {"invites": 0, "rejected_auth": 0, "rate_limited": 0, "calls_in": 0, "calls_out": 0}

    # ------------------------------------------------------------ engine side
    def handle_line_event(self, ev: LineEvent) -> None:
        """SIP spans have no line events."""

    def poll(self, now: float) -> None:
        """Receive SIP, run transaction/registration/session timers."""
        self.now = now
        self.ua.poll(now)
        while self._pending_trunks:
            self._apply_trunks(self._pending_trunks.popleft())
        for reg in self.registrations:
            if now >= reg.next_try:
                self._register(reg)
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, call_id, kind = heapq.heappop(timers)
            leg = self.by_call_id.get(call_id)
            if leg is not None:
                self._timer(leg, kind)

    def _at(self, delay: float, leg: Leg, kind: str) -> None:
        self._tseq += 1
        heapq.heappush(self._timers, (self.now + delay, self._tseq, leg.call_id, kind))

    def answer(self, channel: int) -> None:
        """200 OK with our SDP answer; media flows both ways."""
        leg = self.legs.get(channel)
        if leg is None or leg.direction != "in" or leg.invite is None or leg.src is None:
            raise SignalingError(f"no inbound SIP call to answer on channel {channel}", 41)
        if leg.state == "up":
            return
        headers = [("Contact", self.ua.contact("trunkline", leg.src.transport)), ("Allow", ALLOW),
                   ("Supported", "timer")]
        if leg.session_expires:
            headers += [("Session-Expires", f"{leg.session_expires};refresher=uac"), ("Require", "timer")]
            self._at(leg.session_expires, leg, "expire")
        self.ua.respond(leg.invite, leg.src, 200, to_tag=leg.local_tag, headers=headers, body=self._sdp(leg))
        leg.state = "up"
        leg.last_refresh = self.now
        self._start_media(leg)

    def early_media(self, channel: int) -> None:
        """183 Session Progress with our SDP answer and RTP sent from now: what is played before answer
        reaches the caller (no-op once answered)."""
        leg = self.legs.get(channel)
        if leg is None or leg.direction != "in" or leg.invite is None or leg.src is None:
            raise SignalingError(f"no inbound SIP call offered on channel {channel}", 41)
        if leg.state == "up":
            return
        if leg.remote_sdp is None:
            raise SignalingError("the INVITE had no SDP offer: no early media before answer", 79)
        self.ua.respond(leg.invite, leg.src, 183, to_tag=leg.local_tag, body=self._sdp(leg),
                        headers=[("Contact", self.ua.contact("trunkline", leg.src.transport)), ("Allow", ALLOW)])
        leg.state = "early"
        self.rtp.set_send(channel - self.offset, True)

    def hangup(self, channel: int, cause: int = 16) -> None:
        """Clear from our side: a final error before answer, CANCEL while ringing out, BYE once up."""
        leg = self.legs.get(channel)
        if leg is None:
            return
        if leg.direction == "in" and leg.state in ("offered", "early") and leg.invite and leg.src:
            self.ua.respond(leg.invite, leg.src, sip_of(cause), to_tag=leg.local_tag,
                            headers=[("Reason", reason_header(cause))])
        elif leg.direction == "out" and leg.state in ("offered", "early"):
            if leg.dialog is None and not leg.rang:
                leg.cancel_on_provisional = True      # CANCEL once a provisional shows the INVITE arrived
                self._free(leg, keep_call_id=True)
                return
            self._cancel(leg)
        elif leg.dialog is not None:
            self.ua.dialog_request(leg.dialog, "BYE", lambda r: None, headers=[("Reason", reason_header(cause))],
                                   creds=leg.creds)
        self._free(leg)

    def dial(self, called: str, caller: str = "", channel: int | None = None, category: str | None = None) -> int:
        """INVITE `called` (a number through the first outbound trunk, or a sip: URI, whose `?X-Name=value`
        part becomes X- headers of the INVITE); returns the channel."""
        if not self.free:
            raise SignalingError("all SIP channels are busy", CAUSE_CONGESTION)
        try:
            called, x_headers = split_uri_headers(called)
        except ValueError as exc:
            raise SignalingError(f"bad SIP URI headers: {exc}", 28) from None
        trunk = next((t for t in self.settings.trunks if t.outbound and t.host), None)
        if called.lower().startswith("sip:"):
            try:
                uri = parse_uri(called)
            except SipParseError as exc:
                raise SignalingError(f"bad SIP URI {called!r}: {exc}", 28) from None
            target = (uri.host, uri.port or 5060)
            transport = "TCP" if uri.params.get("transport", "").lower() == "tcp" else "UDP"
            req_uri = str(uri)
            if trunk is not None and not self._is_ip(uri.host):
                target, transport = (trunk.host, trunk.port), trunk.transport
        elif trunk is None:
            raise SignalingError("no outbound SIP trunk configured", CAUSE_CONGESTION)
        else:
            target, transport = (trunk.host, trunk.port), trunk.transport
            req_uri = f"sip:{called}@{trunk.host}:{trunk.port}"
        ch = self.free.pop(0)
        call_id = f"{new_tag()}{new_tag()}@trunkline"
        leg = Leg(ch, "out", call_id, trunk.name if trunk else "sip", created=self.now)
        if trunk is not None and trunk.username:
            leg.creds = Credentials(trunk.username, trunk.password)
        self.legs[ch] = leg
        self.by_call_id[call_id] = leg
        try:
            self.rtp.open(ch - self.offset)
            dest = Source(transport, (socket.gethostbyname(target[0]), target[1]))
        except OSError as exc:
            self._free(leg)
            raise SignalingError(f"cannot place SIP call: {exc}", 38) from None
        user = caller or (trunk.username if trunk and trunk.username else "trunkline")
        domain = trunk.host if trunk else self.media_host
        msg = SipMessage("INVITE", req_uri)
        msg.set("From", f"<sip:{user}@{domain}>;tag={leg.local_tag}")
        msg.set("To", f"<{req_uri}>")
        msg.set("Call-ID", call_id)
        msg.set("CSeq", "1 INVITE")
        msg.set("Contact", self.ua.contact(user, transport))
        msg.set("Allow", ALLOW)
        msg.set("Supported", "timer")
        msg.set("Session-Expires", str(self.settings.session_expires))
        for name, value in x_headers:
            msg.add(name, value)
        msg.set("Content-Type", "application/sdp")
        msg.body = self._sdp(leg, offer=True)
        leg.invite, leg.src = msg, dest
        self.ua.send_request(msg, dest, lambda r: self._invite_response(leg, r), leg.creds)
        self.stats["calls_out"] += 1
        return ch

    def send_digits(self, channel: int, digits: str) -> bool:
        """RFC 4733 digits on the call's RTP stream."""
        return self.rtp.send_digits(channel - self.offset, digits)

    def hold(self, channel: int, on: bool) -> None:
        """Put the far end on hold (re-INVITE sendonly) or take it off (sendrecv)."""
        leg = self.legs.get(channel)
        if leg is None or leg.dialog is None or leg.state != "up":
            raise SignalingError(f"no SIP call up on channel {channel}", 41)
        leg.held = on
        self.ua.dialog_request(leg.dialog, "INVITE", lambda r: self._reinvite_response(leg, r),
                               body=self._sdp(leg, direction="sendonly" if on else "sendrecv"),
                               headers=[("Contact", self.ua.contact("trunkline", leg.dialog.dest.transport))],
                               creds=leg.creds)

    def transfer(self, channel: int, target: str) -> None:
        """Blind transfer (REFER): ask the far end to call `target` (a sip: URI) instead of us."""
        leg = self.legs.get(channel)
        if leg is None or leg.dialog is None or leg.state != "up":
            raise SignalingError(f"no SIP call up on channel {channel}", 41)
        self.ua.dialog_request(leg.dialog, "REFER", lambda r: None,
                               headers=[("Refer-To", f"<{target}>"),
                                        ("Referred-By", f"<sip:trunkline@{self.media_host}>"),
                                        ("Contact", self.ua.contact("trunkline", leg.dialog.dest.transport))],
                               creds=leg.creds)

    def t38_switch(self, channel: int, done: Callable[[str], None]) -> None:
        """Re-INVITE the call to T.38 fax (UDPTL); done('t38') once switched, else done(why not)."""
        sip_t38.switch(self, channel, done)

    def t38_on_tones(self, channel: int) -> bool:
        """True when fax jobs start as audio and re-INVITE to T.38 once CED or V.21 is heard (t38_trigger)."""
        return self.settings.t38_trigger == "tones"

    def t38_port(self, channel: int) -> UdptlPort | None:
        """The UDPTL socket of a call in T.38 (ours or the peer's switch), else None."""
        return sip_t38.port(self, channel)

    def t38_audio(self, channel: int, done: Callable[[str], None]) -> None:
        """Re-INVITE a call in T.38 back to audio; done('audio') once answered."""
        sip_t38.to_audio(self, channel, done)
    def refer_progress(self, channel: int, status: int, reason: str) -> None:
        """Tell the peer that REFERred the call on `channel` how the transfer goes (NOTIFY sipfrag)."""
        sip_refer.notify(self, channel, status, reason)

    def protocol_status(self) -> list[dict[str, Any]]:
        """Live SIP calls and registrations for the admin (RTP figures included), and the span's shared RTP
        sockets with the stray packets they dropped (kind "rtp")."""
        rows: list[dict[str, object]] = []
        for leg in self.legs.values():
            s = self.rtp.stats(leg.ch - self.offset)
            rows.append({"kind": "call", "channel": leg.ch, "direction": leg.direction, "state": leg.state,
                         "trunk": leg.trunk, "call_id": leg.call_id, "held": leg.held,
                         "codec": "T.38" if leg.ch in self.t38 else sdp.STATIC.get(leg.pt, str(leg.pt)),
                         "rx_packets": s.rx_packets,
                         "tx_packets": s.tx_packets, "lost": s.lost, "jitter_ms": round(s.jitter_ms, 1),
                         "remote_lost": s.remote_lost, "remote_jitter_ms": round(s.remote_jitter_ms, 1)})
        rows.append({"kind": "rtp", "sockets": self.rtp.sockets(), "streams_per_socket": self.rtp.per_socket,
                     "stray_packets": self.rtp.stray_packets()})
        for reg in self.registrations:
            rows.append({"kind": "registration", "trunk": reg.trunk.name, "state": reg.state,
                         "registrar": f"{reg.trunk.host}:{reg.trunk.port}", "status": reg.last_status,
                         "expires_in": max(0, round(reg.expires_at - self.now))})
        return rows

    # ------------------------------------------------------------ SIP messages (sip_requests.py)
    def _on_request(self, msg: SipMessage, src: Source) -> None:
        sip_requests.on_request(self, msg, src)

    def _invite_response(self, leg: Leg, resp: SipMessage) -> None:
        sip_requests.invite_response(self, leg, resp)

    def _reinvite_response(self, leg: Leg, resp: SipMessage) -> None:
        sip_requests.reinvite_response(self, leg, resp)

    def _stray_2xx(self, resp: SipMessage) -> None:
        sip_requests.stray_2xx(self, resp)

    # ------------------------------------------------------------ helpers
    def _resolve(self, host: str) -> str:
        """IPv4 address of a host name (cached)."""
        ip = self._dns.get(host)
        if ip is None:
            try:
                ip = socket.gethostbyname(host)
            except OSError:
                ip = ""
            self._dns[host] = ip
        return ip

    @staticmethod
    def _is_ip(host: str) -> bool:
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            return False

    def _codecs(self, leg: Leg) -> list[str]:
        trunk = next((t for t in self.settings.trunks if t.name == leg.trunk), None)
        return trunk.codecs if trunk else self.settings.codecs

    def _sdp(self, leg: Leg, offer: bool = False, direction: str | None = None) -> bytes:
        """Our SDP: an initial offer (all our codecs), a re-offer with `direction` (hold/unhold, negotiated
        codec), or an answer mirroring the far end's direction."""
        image = None if offer or direction is not None else sip_t38.body(self, leg)
        if image is not None:
            return image                    # in T.38: answers (refreshes) keep the image stream
        port = self.rtp.local_port(leg.ch - self.offset)
        ssrc = self.rtp.ssrc(leg.ch - self.offset)
        if offer or leg.remote_sdp is None:
            pts = [sdp.CODECS[c] for c in self._codecs(leg) if c in sdp.CODECS]
            return sdp.build(self.media_host, port, pts, 101, direction or "sendrecv", ssrc=ssrc)
        ev = leg.remote_sdp.event_pt
        if direction is None:
            direction = sdp.ANSWER_DIRECTION.get(leg.remote_sdp.direction, "sendrecv")
            if leg.held and direction == "sendrecv":
                direction = "sendonly"
        return sdp.build(self.media_host, port, [leg.pt], ev, direction, ssrc=ssrc)

    def _start_media(self, leg: Leg) -> None:
        r = leg.remote_sdp
        if r is None:
            return
        send = r.direction in ("sendrecv", "recvonly") and not leg.held
        remote = (r.ip, r.port) if r.ip != "0.0.0.0" and r.port else None
        try:
            self.rtp.start(leg.ch - self.offset, remote, leg.pt, r.event_pt, send=send, remote_ssrc=r.ssrc)
        except (OSError, ValueError) as exc:
            log.warning("SIP call %s: media not started: %s", leg.call_id, exc)

    def _free(self, leg: Leg, keep_call_id: bool = False) -> None:
        if self.legs.get(leg.ch) is leg:
            del self.legs[leg.ch]
            self.rtp.close(leg.ch - self.offset)
            sip_t38.drop(self, leg.ch)
            self.free.append(leg.ch)
        if not keep_call_id:
            self.by_call_id.pop(leg.call_id, None)
        leg.state = "ended"

    def _gone(self, leg: Leg, cause: int, reason: str = "") -> None:
        """The far end ended the call: tell the engine and free the channel."""
        if leg.state == "ended":
            return
        ch = leg.ch
        self._free(leg)
        self.emit(SignalingEvent(HANGUP, ch, cause=cause, reason=reason))

    def _cancel(self, leg: Leg) -> None:
        inv = leg.invite
        if inv is None or leg.src is None:
            return
        cancel = SipMessage("CANCEL", inv.uri)
        cancel.add("Via", inv.get("Via"))
        for name in ("From", "To", "Call-ID", "Route"):
            if inv.get(name):
                cancel.set(name, inv.get(name))
        cancel.set("CSeq", f"{inv.cseq[0]} CANCEL")
        cancel.set("Max-Forwards", "70")
        self.ua.transports.send(cancel, leg.src)
        self.by_call_id.pop(leg.call_id, None)

    def _timer(self, leg: Leg, kind: str) -> None:
        if leg.state != "up" or leg.dialog is None:
            return
        if kind == "expire":
            if self.now - leg.last_refresh >= leg.session_expires - 1:
                log.info("SIP call %s: session expired without refresh", leg.call_id)
                self.ua.dialog_request(leg.dialog, "BYE", lambda r: None, headers=[("Reason", reason_header(102))])
                self._gone(leg, 102, "session timer expired")
            else:
                self._at(leg.session_expires - (self.now - leg.last_refresh), leg, "expire")
        elif kind == "refresh":
            self.ua.dialog_request(leg.dialog, "UPDATE", lambda r: None,
                                   headers=[("Session-Expires", f"{leg.session_expires};refresher=uac")],
                                   creds=leg.creds)
            leg.last_refresh = self.now
            self._at(leg.session_expires / 2, leg, "refresh")

    # ------------------------------------------------------------ trunks changed at run time
    def set_trunks(self, trunks: list[SipTrunk]) -> None:
        """Replace the span's trunks (callable from any thread): applied at the next poll; new register trunks
        register at once, removed or changed ones are un-registered (Expires: 0); calls in progress stay."""
        self._pending_trunks.append(list(trunks))

    def _users(self, trunks: list[SipTrunk]) -> dict[str, str]:
        users = dict(self.settings.users)
        for t in trunks:
            if t.inbound_auth and t.username:
                users[t.username] = t.password
        return users

    def _apply_trunks(self, trunks: list[SipTrunk]) -> None:
        self.settings.trunks = trunks
        self.auth.users = self._users(trunks)
        self._dns.clear()
        old = {r.trunk.name: r for r in self.registrations}
        regs = []
        for t in trunks:
            r = old.pop(t.name, None)
            if r is not None and r.trunk == t:
                regs.append(r)                  # unchanged: keeps its registration and refresh time
                continue
            if r is not None and t.register and self._same_binding(r.trunk, t):
                r.trunk, r.next_try = t, self.now       # same registrar and contact: refreshed with the new settings
                regs.append(r)
                continue
            if r is not None:
                self._register(r, unregister=True)
            if t.register:
                regs.append(Registration(t))    # registers at this poll
        for r in old.values():
            self._register(r, unregister=True)
        self.registrations = regs
        log.info("SIP trunks now: %s", ", ".join(t.name for t in trunks) or "none")

    @staticmethod
    def _same_binding(a: SipTrunk, b: SipTrunk) -> bool:
        return (a.host, a.port, a.transport, a.username) == (b.host, b.port, b.transport, b.username)

    # ------------------------------------------------------------ registration
    def _register(self, reg: Registration, unregister: bool = False) -> None:
        """REGISTER (refresh) with the trunk's registrar; `unregister`: Expires 0, once, when it was registered."""
        t = reg.trunk
        if unregister and reg.state not in ("registered", "registering"):
            return
        reg.seq += 1
        reg.state = "registering" if reg.state != "registered" else reg.state
        reg.next_try = self.now + 30.0
        uri = f"sip:{t.host}:{t.port}"
        msg = SipMessage("REGISTER", uri)
        aor = f"<sip:{t.username}@{t.host}>"
        msg.set("From", f"{aor};tag={new_tag()}")
        msg.set("To", aor)
        msg.set("Call-ID", reg.call_id)
        msg.set("CSeq", f"{reg.seq} REGISTER")
        msg.set("Contact", self.ua.contact(t.username, t.transport))
        msg.set("Expires", "0" if unregister else str(t.register_expires))
        try:
            dest = Source(t.transport, (socket.gethostbyname(t.host), t.port))
        except OSError as exc:
            reg.state, reg.last_status = "failed", 0
            log.warning("SIP trunk %s: registrar %s unknown: %s", t.name, t.host, exc)
            return
        if unregister:
            reg.state = "unregistering"
            self.ua.send_request(msg, dest, lambda r: self._unregister_response(reg, r),
                                 Credentials(t.username, t.password))
            return
        self.ua.send_request(msg, dest, lambda r: self._register_response(reg, r, msg.cseq[0]),
                             Credentials(t.username, t.password))

    def _unregister_response(self, reg: Registration, resp: SipMessage) -> None:
        if resp.status >= 200:
            reg.last_status = resp.status
            reg.state = "unregistered" if resp.status < 300 else "failed"
            log.info("SIP trunk %s: un-REGISTER answered %d", reg.trunk.name, resp.status)

    def _register_response(self, reg: Registration, resp: SipMessage, seq: int) -> None:
        if resp.status < 200:
            return
        reg.last_status = resp.status
        reg.seq = max(reg.seq, resp.cseq[0])
        if 200 <= resp.status < 300:
            expires = reg.trunk.register_expires
            for c in resp.get_all("Contact"):
                e = parse_name_addr(c).params.get("expires", "")
                if e.isdigit():
                    expires = int(e)
            if resp.get("Expires").isdigit():
                expires = int(resp.get("Expires"))
            reg.state = "registered"
            reg.expires_at = self.now + expires
            reg.next_try = self.now + max(1.0, min(expires * 0.8, expires - 2.0))   # refreshed before it lapses
        else:
            reg.state = "failed"
            reg.next_try = self.now + 30.0
            log.warning("SIP trunk %s: REGISTER refused: %d %s", reg.trunk.name, resp.status, resp.reason)
