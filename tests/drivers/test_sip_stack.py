"""The SIP stack against raw sockets in virtual time: unauthenticated INVITEs get 401 and no call, digest
answers are accepted, OPTIONS, TCP, an INVITE flood from one address is rate-limited while a call goes on,
and fuzzed SIP and RTP datagrams never raise out of the stack."""
import asyncio
import errno
import os
import random
import re
import socket

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.drivers.board import open_board
from trunkline.drivers.sip import digest
from trunkline.drivers.sip.config import SipSettings, SipTrunk
from trunkline.drivers.sip.message import SipParseError, parse
from trunkline.drivers.sip.transport import Transports
from trunkline.media import Engine

INVITE = ("INVITE sip:{num}@127.0.0.1:{port} SIP/2.0\r\n"
          "Via: SIP/2.0/{tp} 127.0.0.1:{lport};branch=z9hG4bK{branch}\r\n"
          "From: <sip:tester@127.0.0.1>;tag=abc\r\nTo: <sip:{num}@127.0.0.1>\r\n"
          "Call-ID: {callid}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:tester@127.0.0.1:{lport}>\r\n"
          "Max-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {length}\r\n\r\n{body}")
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {rtp} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
       "a=sendrecv\r\n")


def invite(num, port, lport, tp="UDP", extra="", cseq=1, callid=None, rtp=40000):
    body = SDP.format(rtp=rtp)
    return INVITE.format(num=num, port=port, lport=lport, tp=tp, branch=os.urandom(6).hex(),
                         callid=callid or os.urandom(8).hex(), cseq=cseq, extra=extra, length=len(body),
                         body=body).encode()


class Rig:
    """An engine on a SIP-only board in virtual time, with a flow that answers and waits."""

    def __init__(self, **kw):
        self.settings = SipSettings("127.0.0.1:0", channels=4, open_numbers=["95588"], **kw)
        self.board = open_board("sip://unit", sip=self.settings)
        self.engine = Engine(self.board)
        self.sig = self.engine.signaling[0]
        self.port = self.board.sip_parts[0][0].transports.port
        self.calls = []

        async def flow(call):
            self.calls.append(call)
            await call.answer()
            await call.wait_hangup()
        self.engine.route(flow)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.lport = self.udp.getsockname()[1]

    def send(self, data):
        self.udp.sendto(data, ("127.0.0.1", self.port))

    def replies(self):
        out = []
        while True:
            try:
                out.append(parse(self.udp.recv(65535)))
            except BlockingIOError:
                return out

    def run(self, scenario, seconds=10.0):
        async def main():
            task = asyncio.ensure_future(self.engine.run(until=seconds))
            try:
                return await scenario()
            finally:
                self.engine.stop()
                await task
        try:
            return asyncio.run(main())
        finally:
            self.board.close()
            self.udp.close()


def test_unauthenticated_invite_gets_401_and_no_call_then_digest_is_accepted():
    rig = Rig(users={"carrier": "s3cret"})

    async def scenario():
        rig.send(invite("12345", rig.port, rig.lport))
        await rig.engine.sleep(0.2)
        got = rig.replies()
        assert [r.status for r in got] == [401]
        assert rig.engine.stats["offered"] == 0
        challenge = got[0].get("WWW-Authenticate")
        uri = f"sip:12345@127.0.0.1:{rig.port}"
        auth = digest.authorization(challenge, "carrier", "wrong", "INVITE", uri)
        rig.send(invite("12345", rig.port, rig.lport, extra=f"Authorization: {auth}\r\n", cseq=2))
        await rig.engine.sleep(0.2)
        assert [r.status for r in rig.replies()] == [401]
        auth = digest.authorization(challenge, "carrier", "s3cret", "INVITE", uri)
        rig.send(invite("12345", rig.port, rig.lport, extra=f"Authorization: {auth}\r\n", cseq=3))
        await rig.engine.sleep(0.3)
        statuses = [r.status for r in rig.replies()]
        assert 180 in statuses and 200 in statuses
        assert rig.engine.stats["offered"] == 1 and rig.calls[0].called == "12345"
    rig.run(scenario)


def test_options_and_invite_over_tcp():
    rig = Rig()

    async def scenario():
        tcp = socket.create_connection(("127.0.0.1", rig.port))
        tcp.setblocking(False)
        lport = tcp.getsockname()[1]
        tcp.sendall(invite("95588", rig.port, lport, tp="TCP"))
        opts = (f"OPTIONS sip:127.0.0.1:{rig.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{rig.lport};branch=z9hG4bKo1"
                f"\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\n"
                f"Content-Length: 0\r\n\r\n").encode()
        rig.send(opts)
        await rig.engine.sleep(0.3)
        data = b""
        try:
            data = tcp.recv(65535)
        except BlockingIOError:
            pass
        tcp.close()
        assert b"SIP/2.0 180" in data and b"SIP/2.0 200" in data
        assert [r.status for r in rig.replies()] == [200]
        assert rig.calls and rig.calls[0].called == "95588"
    rig.run(scenario)


def test_invite_flood_is_rate_limited_and_the_call_in_progress_stays_up():
    rig = Rig()

    async def scenario():
        rig.send(invite("95588", rig.port, rig.lport))
        await rig.engine.sleep(0.3)
        assert rig.calls and rig.calls[0].state == "up"
        rig.replies()
        for _ in range(300):
            rig.send(invite("95588", rig.port, rig.lport))
        await rig.engine.sleep(0.5)
        statuses = [r.status for r in rig.replies()]
        limited = rig.sig.stats["rate_limited"]
        assert limited >= 100 and statuses.count(503) >= 100     # (the kernel may drop some of the flood)
        assert rig.sig.stats["invites"] - limited <= rig.settings.invite_burst + 2
        assert rig.calls[0].state == "up" and not rig.calls[0].hungup
        assert len(rig.sig.legs) <= rig.settings.channels
    rig.run(scenario)


def test_fuzzed_sip_and_rtp_never_raise_and_the_call_goes_on():
    rig = Rig()
    rng = random.Random(19)
    valid = invite("95588", 0, 0)

    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)     # the caller's RTP socket (its SDP address)
    media.bind(("127.0.0.1", 0))

    async def scenario():
        rig.send(invite("95588", rig.port, rig.lport, rtp=media.getsockname()[1]))
        await rig.engine.sleep(0.3)
        call = rig.calls[0]
        sdp = [r for r in rig.replies() if r.status == 200][0].body.decode()
        rtp_port = int(re.search(r"m=audio (\d+)", sdp).group(1))
        for i in range(600):
            kind = i % 3
            if kind == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
            else:
                data = bytearray(valid)
                for _ in range(rng.randrange(1, 20)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                data = bytes(data[:rng.randrange(1, len(data) + 1)])
            rig.send(data)
            rtp = bytes([0x80 | rng.randrange(64), rng.randrange(256)]) + os.urandom(rng.randrange(0, 300))
            media.sendto(rtp, ("127.0.0.1", rtp_port))               # from the call's address: its parser
            rig.udp.sendto(rtp, ("127.0.0.1", rtp_port))             # from elsewhere: strays
            if i % 50 == 0:
                await rig.engine.sleep(0.02)
        await rig.engine.sleep(0.5)
        assert rig.engine.running and not call.hungup
        assert rig.board.sip_parts[0][0].transports.dropped > 100
        assert rig.sig.rtp.stats(call.channel).bad > 100
        rtp_row = next(r for r in rig.engine.signaling_status() if r["kind"] == "rtp")
        assert rtp_row["sockets"] == 1 and rtp_row["stray_packets"] > 500     # dropped and counted
    try:
        rig.run(scenario)
    finally:
        media.close()


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=600))
def test_parser_raises_only_sip_parse_errors(data):
    try:
        parse(data)
    except SipParseError:
        pass


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1200), st.integers(0, 255)), max_size=12))
def test_mutated_invites_parse_or_raise_sip_parse_error(mutations):
    data = bytearray(invite("95588", 5070, 5060))
    for pos, val in mutations:
        data[pos % len(data)] = val
    try:
        msg = parse(bytes(data))
        msg.to_bytes()
    except SipParseError:
        pass


def test_session_timer_refreshes_keep_the_call_and_a_missing_refresh_ends_it():
    rig = Rig()

    async def scenario():
        extra = "Supported: timer\r\nSession-Expires: 90\r\n"
        callid = "st-1"
        rig.send(invite("95588", rig.port, rig.lport, extra=extra, callid=callid))
        await rig.engine.sleep(0.3)
        ok = [r for r in rig.replies() if r.status == 200][0]
        assert ok.get("Session-Expires").startswith("90") and "refresher=uac" in ok.get("Session-Expires")
        to = ok.get("To")
        call = rig.calls[0]

        def in_dialog(method, cseq):
            return (f"{method} sip:trunkline@127.0.0.1:{rig.port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{rig.lport};branch=z9hG4bK{os.urandom(4).hex()}\r\n"
                    f"From: <sip:tester@127.0.0.1>;tag=abc\r\nTo: {to}\r\nCall-ID: {callid}\r\n"
                    f"CSeq: {cseq} {method}\r\nSession-Expires: 90;refresher=uac\r\nContent-Length: 0\r\n\r\n").encode()
        rig.send(in_dialog("ACK", 1))
        for n in range(2):                        # refreshed every 45 s: the call stays up past 90 s
            await rig.engine.sleep(45)
            rig.send(in_dialog("UPDATE", 2 + n))
        await rig.engine.sleep(1)
        assert not call.hungup
        assert any(r.status == 200 and r.cseq[1] == "UPDATE" for r in rig.replies())
        await rig.engine.sleep(92)                # no refresh: the session expires, we send BYE
        assert call.hungup
        assert any(r.is_request and r.method == "BYE" for r in rig.replies())
    rig.run(scenario, seconds=250)


def test_outbound_invite_answers_a_407_challenge_with_the_trunk_credentials():
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    pport = peer.getsockname()[1]
    trunk = SipTrunk("carrier", host="127.0.0.1", port=pport, username="0105551234", password="pw")
    rig = Rig(trunks=[trunk])
    server = digest.DigestServer("carrier.example", {"0105551234": "pw"})

    def recv():
        try:
            return parse(peer.recv(65535))
        except BlockingIOError:
            return None

    async def scenario():
        call = rig.engine.dial("88001234")
        await rig.engine.sleep(0.1)
        first = recv()
        assert first.method == "INVITE" and first.uri == f"sip:88001234@127.0.0.1:{pport}"
        assert not first.get("Proxy-Authorization")
        resp = (f"SIP/2.0 407 Proxy Authentication Required\r\nVia: {first.get('Via')}\r\n"
                f"From: {first.get('From')}\r\nTo: {first.get('To')};tag=p1\r\nCall-ID: {first.call_id}\r\n"
                f"CSeq: {first.get('CSeq')}\r\nProxy-Authenticate: {server.challenge(0.0)}\r\n"
                f"Content-Length: 0\r\n\r\n")
        peer.sendto(resp.encode(), ("127.0.0.1", rig.port))
        await rig.engine.sleep(0.2)
        msgs = [m for m in iter(recv, None)]
        assert [m.method for m in msgs] == ["ACK", "INVITE"]
        again = msgs[1]
        assert again.cseq[0] == first.cseq[0] + 1
        assert server.check(again.get("Proxy-Authorization"), "INVITE", 0.0) == "0105551234"
        assert not call.hungup
        await call.hangup(17)
    rig.run(scenario)
    peer.close()


def test_outbound_183_early_media_then_200_answer():
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", 0))
    media.setblocking(False)
    pport, mport = peer.getsockname()[1], media.getsockname()[1]
    rig = Rig(trunks=[SipTrunk("gw", host="127.0.0.1", port=pport)])

    def reply(req, status, reason, body=""):
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        return (f"SIP/2.0 {status} {reason}\r\nVia: {req.get('Via')}\r\nFrom: {req.get('From')}\r\n"
                f"To: {req.get('To')};tag=g1\r\nCall-ID: {req.call_id}\r\nCSeq: {req.get('CSeq')}\r\n"
                f"Contact: <sip:gw@127.0.0.1:{pport}>\r\n{ctype}Content-Length: {len(body)}\r\n\r\n{body}").encode()

    async def scenario():
        call = rig.engine.dial("88001234")
        await rig.engine.sleep(0.1)
        inv = parse(peer.recv(65535))
        body = SDP.format(rtp=mport).replace("8 0 101", "8 101")
        peer.sendto(reply(inv, 183, "Session Progress", body), ("127.0.0.1", rig.port))
        await rig.engine.sleep(0.5)
        early = []
        while True:
            try:
                early.append(media.recv(2048))
            except BlockingIOError:
                break
        assert len(early) >= 15 and all(p[1] & 0x7F == 8 for p in early), "no early media RTP"
        assert call.state == "dialing" and not call.hungup
        peer.sendto(reply(inv, 200, "OK", body), ("127.0.0.1", rig.port))
        await call.wait_answer(2)
        await rig.engine.sleep(0.1)
        ack = parse(peer.recv(65535))
        assert ack.method == "ACK" and ack.uri == f"sip:gw@127.0.0.1:{pport}"
        await call.hangup()
        await rig.engine.sleep(0.1)
        assert parse(peer.recv(65535)).method == "BYE"
    rig.run(scenario)
    peer.close()
    media.close()


def test_a_picked_port_taken_on_tcp_is_retried_and_a_configured_one_is_refused(monkeypatch):
    """Port 0: the UDP port the kernel picks may be in use on TCP (an outgoing connection of another
    program): the transports pick again instead of failing, and close the half-bound socket. A configured
    port that is taken is an error at once."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    taken = held.getsockname()[1]
    real, ports = Transports._bind, []

    def first_one_taken(host, port, tcp):
        ports.append(port)
        return real(host, taken if len(ports) == 1 else port, tcp)
    monkeypatch.setattr(Transports, "_bind", staticmethod(first_one_taken))
    t = Transports("127.0.0.1", 0)
    assert len(ports) == 2 and t.port != taken and t.tcp is not None
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", taken))                 # the failed attempt's UDP socket was closed
    probe.close()
    monkeypatch.setattr(Transports, "_bind", staticmethod(real))
    try:
        Transports("127.0.0.1", taken)
        raise AssertionError("a taken configured port must be refused")
    except OSError as exc:
        assert exc.errno == errno.EADDRINUSE
    t.udp.close()
    t.tcp.close()
    held.close()
