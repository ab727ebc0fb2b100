"""The SIP transaction and dialog layer (RFC 3261 17, 12) for a polled stack: client transactions with
retransmission and digest-auth retry, server transaction response caches, 2xx retransmission until ACK."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from trunkline.drivers.sip import digest
from trunkline.drivers.sip.message import SipMessage
from trunkline.drivers.sip.transport import Source, Transports

log = logging.getLogger("trunkline.sip")
T1, T2, TIMEOUT = 0.5, 4.0, 32.0
REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
           400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 407: "Proxy Authentication Required", 408: "Request Timeout",
           415: "Unsupported Media Type", 422: "Session Interval Too Small", 480: "Temporarily Unavailable",
           481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
           488: "Not Acceptable Here", 500: "Server Internal Error", 501: "Not Implemented",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out", 600: "Busy Everywhere",
           603: "Decline", 604: "Does Not Exist Anywhere"}
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, REFER, NOTIFY, UPDATE, INFO"
ResponseHandler = Callable[[SipMessage], None]


def new_tag() -> str:
    """A random tag / Call-ID part."""
    return os.urandom(6).hex()


def new_branch() -> str:
    """A RFC 3261 branch (magic cookie prefix)."""
    return "z9hG4bK" + os.urandom(8).hex()


@dataclass
class Credentials:
    """User name and password to answer a digest challenge with."""
    user: str
    password: str


@dataclass
class ClientTx:
    """One outgoing request waiting for its final response."""
    msg: SipMessage
    dest: Source
    on_response: ResponseHandler
    started: float
    next_send: float
    interval: float
    creds: Credentials | None
    auth_tries: int = 0
    done: bool = False


@dataclass
class Dialog:
    """A SIP dialog: Call-ID, tags, CSeqs, the remote target and route set, and where to send."""
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    dest: Source
    local_seq: int = 1
    remote_seq: int = 0
    route: list[str] = field(default_factory=list)


class SipUA:
    """Transactions and dialog requests over `Transports`; requests that are not retransmissions or ACKs
    of our 2xx go to `on_request(msg, source)`."""

    def __init__(self, transports: Transports, on_request: Callable[[SipMessage, Source], None],
                 contact_host: str, user_agent: str = "Trunkline") -> None:
        self.transports = transports
        self.on_request = on_request
        self.contact_host = contact_host
        self.user_agent = user_agent
        self.clients: dict[str, ClientTx] = {}                 # branch -> client transaction
        self._server_cache: dict[tuple[str, str, str], tuple[SipMessage, Source, float]] = {}
        self._pending_2xx: dict[tuple[str, int], list] = {}    # (call-id, cseq) -> [resp, src, next, interval, until]
        self.now = 0.0
        self.on_stray_2xx: ResponseHandler | None = None

    @property
    def contact_port(self) -> int:
        """Our SIP port."""
        return int(self.transports.port)

    def contact(self, user: str, transport: str = "UDP") -> str:
        """Our Contact URI for `user`."""
        tp = ";transport=tcp" if transport == "TCP" else ""
        return f"<sip:{user}@{self.contact_host}:{self.contact_port}{tp}>"

    # ------------------------------------------------------------ polling
    def poll(self, now: float) -> None:
        """Receive and dispatch messages, run retransmission timers."""
        self.now = now
        for msg, src in self.transports.poll():
            try:
                if msg.is_request:
                    self._request(msg, src)
                else:
                    self._response(msg)
            except Exception:   # malformed-but-parsable input or a handler bug: never out of the stack
                log.exception("SIP message %r from %s failed", msg, src.addr)
        for branch, tx in list(self.clients.items()):
            if tx.done:
                self.clients.pop(branch, None)
            elif now - tx.started > TIMEOUT:
                self.clients.pop(branch, None)
                self._deliver(tx, self._fake_response(tx.msg, 408))
            elif tx.dest.transport == "UDP" and now >= tx.next_send:
                self.transports.send(tx.msg, tx.dest)
                tx.interval = min(tx.interval * 2, T2) if tx.msg.method != "INVITE" else tx.interval * 2
                tx.next_send = now + tx.interval
        for key, item in list(self._pending_2xx.items()):
            resp, src, nxt, interval, until = item
            if now > until:
                del self._pending_2xx[key]
            elif now >= nxt:
                self.transports.send(resp, src)
                item[3] = min(interval * 2, T2)
                item[2] = now + item[3]
        if len(self._server_cache) > 4000:
            for k, v in list(self._server_cache.items()):
                if now - v[2] > TIMEOUT:
                    del self._server_cache[k]

    def _request(self, msg: SipMessage, src: Source) -> None:
        via = msg.via_params()
        key = (via.get("branch", ""), msg.call_id, msg.method if msg.method != "ACK" else "INVITE")
        if msg.method == "ACK":
            num, _ = msg.cseq
            if self._pending_2xx.pop((msg.call_id, num), None) is not None or key not in self._server_cache:
                self.on_request(msg, src)          # ACK of a 2xx: the dialog's business
            return
        cached = self._server_cache.get(key)
        if cached is not None:
            if cached[0].status >= 100:
                self.transports.send(cached[0], src)
            return
        self._server_cache[key] = (SipMessage(status=0), src, self.now)
        self.on_request(msg, src)

    def _response(self, msg: SipMessage) -> None:
        branch = msg.via_params().get("branch", "")
        tx = self.clients.get(branch)
        if tx is None:
            num, method = msg.cseq
            if method == "INVITE" and 200 <= msg.status < 300 and self.on_stray_2xx is not None:
                self.on_stray_2xx(msg)           # a 2xx retransmission: the dialog ACKs it again
            return
        if msg.status >= 200:
            tx.done = True
            self.clients.pop(branch, None)
        elif tx.msg.method == "INVITE":
            tx.next_send = float("inf")          # a provisional stops INVITE retransmission (timer A)
        if msg.status in (401, 407) and tx.creds is not None and tx.auth_tries < 1:
            if tx.msg.method == "INVITE":
                self._ack_error(tx, msg)
            if self._retry_with_auth(tx, msg):
                return
        elif 300 <= msg.status and tx.msg.method == "INVITE":
            self._ack_error(tx, msg)
        self._deliver(tx, msg)

    def _deliver(self, tx: ClientTx, msg: SipMessage) -> None:
        try:
            tx.on_response(msg)
        except Exception:   # a handler bug must not take the stack down
            log.exception("SIP response handler failed for %r", msg)

    def _fake_response(self, req: SipMessage, status: int) -> SipMessage:
        resp = SipMessage(status=status, reason=REASONS.get(status, ""))
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            resp.set(name, req.get(name))
        return resp

    # ------------------------------------------------------------ sending
    def send_request(self, msg: SipMessage, dest: Source, on_response: ResponseHandler,
                     creds: Credentials | None = None) -> ClientTx:
        """Send a request in a new client transaction (a Via with a fresh branch is added)."""
        msg.remove("Via")
        proto = "TCP" if dest.transport == "TCP" else "UDP"
        msg.add("Via", f"SIP/2.0/{proto} {self.contact_host}:{self.contact_port};branch={new_branch()};rport",
                first=True)
        if not msg.get("Max-Forwards"):
            msg.set("Max-Forwards", "70")
        msg.set("User-Agent", self.user_agent)
        tx = ClientTx(msg, dest, on_response, self.now, self.now + T1, T1, creds)
        if msg.method != "ACK":
            self.clients[msg.via_params()["branch"]] = tx
        self.transports.send(msg, dest)
        return tx

    def _retry_with_auth(self, tx: ClientTx, challenge: SipMessage) -> bool:
        assert tx.creds is not None
        header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        value = challenge.get(header)
        if not value:
            return False
        msg = tx.msg
        num, method = msg.cseq
        msg.set("CSeq", f"{num + 1} {method}")
        msg.set("Authorization" if challenge.status == 401 else "Proxy-Authorization",
                digest.authorization(value, tx.creds.user, tx.creds.password, method, msg.uri))
        new = self.send_request(msg, tx.dest, tx.on_response, tx.creds)
        new.auth_tries = tx.auth_tries + 1
        return True

    def _ack_error(self, tx: ClientTx, resp: SipMessage) -> None:
        ack = SipMessage("ACK", tx.msg.uri)
        ack.add("Via", tx.msg.get("Via"))
        for name in ("From", "Call-ID", "Route", "Max-Forwards"):
            if tx.msg.get(name):
                ack.set(name, tx.msg.get(name))
        ack.set("To", resp.get("To"))
        ack.set("CSeq", f"{tx.msg.cseq[0]} ACK")
        self.transports.send(ack, tx.dest)

    def respond(self, req: SipMessage, src: Source, status: int, reason: str = "", to_tag: str = "",
                headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                content_type: str = "application/sdp") -> SipMessage:
        """Answer a request (cached for retransmissions; a 2xx to INVITE is retransmitted until ACK)."""
        resp = SipMessage(status=status, reason=reason or REASONS.get(status, "Unknown"))
        for v in req.get_all("Via"):
            resp.add("Via", v)
        resp.set("From", req.get("From"))
        to = req.get("To")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        resp.set("To", to)
        resp.set("Call-ID", req.call_id)
        resp.set("CSeq", req.get("CSeq"))
        for rr in req.get_all("Record-Route"):
            if 200 <= status < 300 or 100 < status < 200:
                resp.add("Record-Route", rr)
        resp.set("Server", self.user_agent)
        for k, v in headers or []:
            resp.add(k, v)
        if body:
            resp.set("Content-Type", content_type)
            resp.body = body
        self.transports.send(resp, src)
        try:
            via = req.via_params()
            key = (via.get("branch", ""), req.call_id, req.method)
            self._server_cache[key] = (resp, src, self.now)
        except ValueError:
            pass
        if req.method == "INVITE" and 200 <= status < 300 and src.transport == "UDP":
            self._pending_2xx[(req.call_id, req.cseq[0])] = [resp, src, self.now + T1, T1, self.now + TIMEOUT]
        return resp

    # ------------------------------------------------------------ dialogs
    def dialog_request(self, dlg: Dialog, method: str, on_response: ResponseHandler,
                       body: bytes = b"", content_type: str = "application/sdp",
                       headers: list[tuple[str, str]] | None = None, creds: Credentials | None = None,
                       cseq: int | None = None) -> SipMessage:
        """Send `method` inside a dialog (BYE, re-INVITE, REFER, ACK...)."""
        msg = SipMessage(method, dlg.remote_target)
        msg.set("From", f"<{dlg.local_uri}>;tag={dlg.local_tag}")
        msg.set("To", f"<{dlg.remote_uri}>" + (f";tag={dlg.remote_tag}" if dlg.remote_tag else ""))
        msg.set("Call-ID", dlg.call_id)
        if cseq is None:
            dlg.local_seq += 1
            cseq = dlg.local_seq
        msg.set("CSeq", f"{cseq} {method}")
        for r in dlg.route:
            msg.add("Route", r)
        for k, v in headers or []:
            msg.add(k, v)
        if body:
            msg.set("Content-Type", content_type)
            msg.body = body
        self.send_request(msg, dlg.dest, on_response, creds)
        return msg
