"""Attended transfer a SIP peer asks for (REFER with Replaces, RFC 3891), on an engine with a SIP span in
virtual time and a peer on a raw socket: the peer has calls X1 (bridged to Y1) and X2 (bridged to Y2);
it REFERs X1 with Replaces naming X2: we answer 202, NOTIFY 100 then 200 (sipfrag), bridge Y1 with Y2
and end X1 and X2. A REFER on a call bridged to nobody gets NOTIFY 603."""
import asyncio
import os
import socket
from urllib.parse import quote

from trunkline.drivers.board import open_board
from trunkline.drivers.sip.config import SipSettings
from trunkline.drivers.sip.message import parse
from trunkline.media import Engine
from trunkline.media.refer import ReferTransfers

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {rtp} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n")


def request(method, port, lport, call_id, cseq, to_tag="", extra="", body=""):
    to = "<sip:95588@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:95588@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{os.urandom(6).hex()}\r\n"
            f"From: <sip:peer@127.0.0.1>;tag=abc\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:peer@127.0.0.1:{lport}>\r\n{extra}{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
            ).encode()


def test_refer_with_replaces_joins_the_other_parties_and_ends_both_legs():
    board = open_board("sip://refer", sip=SipSettings("127.0.0.1:0", channels=6, open_numbers=["95588"]))
    engine = Engine(board)
    refers = ReferTransfers(engine)
    port = board.sip_parts[0][0].transports.port
    calls = {}

    async def flow(call):
        calls[call.vars["sip_call_id"]] = call
        await call.answer()
        await call.wait_hangup(timeout=60)
    engine.route(flow)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    lport = udp.getsockname()[1]
    got = []

    def replies():
        while True:
            try:
                got.append(parse(udp.recv(65535)))
            except BlockingIOError:
                return

    async def scenario():
        ids = [f"{name}-{os.urandom(4).hex()}" for name in ("x1", "x2", "y1", "y2", "z")]
        for i, cid in enumerate(ids):
            udp.sendto(request("INVITE", port, lport, cid, 1, body=SDP.format(rtp=41000 + 2 * i)), ("127.0.0.1", port))
        await engine.sleep(0.5)
        replies()
        tags = {m.call_id: m.tag("To") for m in got if m.status == 200}
        x1, x2, y1, y2, z = (calls[c] for c in ids)
        await x1.bridge(y1)
        await x2.bridge(y2)
        replaces = quote(f"{ids[1]};to-tag={tags[ids[1]]};from-tag=abc", safe="")
        udp.sendto(request("REFER", port, lport, ids[0], 2, tags[ids[0]],
                           f"Refer-To: <sip:95588@127.0.0.1?Replaces={replaces}>\r\n"), ("127.0.0.1", port))
        udp.sendto(request("REFER", port, lport, ids[4], 2, tags[ids[4]],
                           "Refer-To: <sip:4000@127.0.0.1>\r\n"), ("127.0.0.1", port))
        await engine.sleep(0.5)
        replies()
        state = {"joined": y1.bridged_to is y2 and y2.bridged_to is y1, "x_ended": x1.hungup and x2.hungup,
                 "others_up": not (y1.hungup or y2.hungup or z.hungup)}
        return ids, state

    async def main():
        task = asyncio.ensure_future(engine.run(until=5.0))
        try:
            return await scenario()
        finally:
            engine.stop()
            await task

    try:
        ids, state = asyncio.run(main())
    finally:
        board.close()
        udp.close()
    refer_answers = [m.status for m in got if m.status and m.cseq[1] == "REFER"]
    notifies = [(m.call_id, m.body.decode().strip()) for m in got if m.method == "NOTIFY"]
    byes = {m.call_id for m in got if m.method == "BYE"}
    print("\nREFER answers:", refer_answers, "\nNOTIFY:", notifies, "\nBYE:", byes, "\noutcomes:", refers.done)
    assert refer_answers == [202, 202]
    assert (ids[0], "SIP/2.0 100 Trying") in notifies and (ids[0], "SIP/2.0 200 OK") in notifies
    assert (ids[4], "SIP/2.0 603 Decline") in notifies              # z is bridged to nobody
    assert byes == {ids[0], ids[1]}
    assert state == {"joined": True, "x_ended": True, "others_up": True}
    assert [d["kind"] for d in refers.done] == ["attended", "none"] or \
        [d["kind"] for d in refers.done] == ["none", "attended"]
