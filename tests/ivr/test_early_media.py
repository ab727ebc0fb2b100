"""Early media from a flow: an `early_media` node plays a prompt before answer. A SIP far end on raw
sockets INVITEs the engine's SIP span and gets 183 Session Progress with SDP, then RTP carrying the
prompt (measured: its tone, for most of a second) before the 200 OK; after answer the next prompt plays."""
import asyncio
import os
import socket
import time

import numpy as np
import soundfile as sf

from trunkline.drivers.board import open_board
from trunkline.drivers.sip.config import SipSettings
from trunkline.dsp.g711 import alaw_decode
from trunkline.ivr.flows import FlowRegistry, Router, Services
from trunkline.ivr.prompts import PromptLibrary
from trunkline.media import Engine
from trunkline.media import PromptLibrary as MediaPrompts

FLOW = """
name: early
language: en
start: notice
nodes:
  notice: {type: early_media, prompt: notice, next: after}
  after: {type: play, prompt: after, next: bye}
  bye: {type: hangup}
"""
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {rtp} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
       "a=sendrecv\r\n")


def power(x, f):
    x = np.asarray(x, dtype=float)
    k = np.exp(-2j * np.pi * f * np.arange(len(x)) / 8000.0)
    return float(np.abs(np.dot(x, k)) * 2 / max(1, len(x)) / np.sqrt(2))


def test_early_media_prompt_reaches_the_far_end_before_200_ok(tmp_path):
    pdir = tmp_path / "prompts" / "en"
    pdir.mkdir(parents=True)
    t = np.arange(8000) / 8000.0
    sf.write(pdir / "notice.wav", (8000 * np.sin(2 * np.pi * 1200 * t)).astype(np.int16), 8000)
    sf.write(pdir / "after.wav", (8000 * np.sin(2 * np.pi * 700 * t[:4000])).astype(np.int16), 8000)
    board = open_board("sip://early", sip=SipSettings("127.0.0.1:0", channels=2, open_numbers=["95588"]))
    prompts = PromptLibrary(str(tmp_path / "prompts"), "en", tts=False)
    engine = Engine(board, prompts=MediaPrompts([str(tmp_path / "prompts")], "en"))
    registry = FlowRegistry(Services(prompts=prompts))
    registry.load_yaml(FLOW, store=False)
    Router(registry, default="early").install(engine)
    port = board.sip_parts[0][0].transports.port
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (sip, rtp):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    lport, rport = sip.getsockname()[1], rtp.getsockname()[1]
    body = SDP.format(rtp=rport)
    call_id = os.urandom(8).hex()
    sip.sendto((f"INVITE sip:95588@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{call_id}\r\n"
                f"From: <sip:13800138000@127.0.0.1>;tag=far\r\nTo: <sip:95588@127.0.0.1>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:far@127.0.0.1:{lport}>\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode(),
               ("127.0.0.1", port))
    got = {"sip": [], "rtp": []}

    async def far_end():
        while True:
            now = time.monotonic()
            for name, s in (("sip", sip), ("rtp", rtp)):
                while True:
                    try:
                        data = s.recv(65535)
                    except BlockingIOError:
                        break
                    got[name].append((now, data))
                    if name == "sip" and data.startswith(b"SIP/2.0 200") and b"INVITE" in data.split(b"CSeq:")[1][:20]:
                        to = [ln for ln in data.decode().split("\r\n") if ln.startswith("To:")][0]
                        sip.sendto((f"ACK sip:95588@127.0.0.1:{port} SIP/2.0\r\n"
                                    f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKack{call_id}\r\n"
                                    f"From: <sip:13800138000@127.0.0.1>;tag=far\r\n{to}\r\nCall-ID: {call_id}\r\n"
                                    f"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
            await asyncio.sleep(0.005)

    async def main():
        task = asyncio.ensure_future(far_end())
        try:
            await engine.run(until=3.5, realtime=True)
        finally:
            task.cancel()

    try:
        asyncio.run(main())
    finally:
        board.close()
        sip.close()
        rtp.close()
    statuses = [(t_, d.split(b" ", 2)[1].decode()) for t_, d in got["sip"] if d.startswith(b"SIP/2.0")]
    t183 = next(t_ for t_, st in statuses if st == "183")
    t200 = next(t_ for t_, st in statuses if st == "200")
    resp183 = next(d for _, d in got["sip"] if d.startswith(b"SIP/2.0 183"))
    assert b"application/sdp" in resp183 and b"m=audio" in resp183
    early = np.concatenate([alaw_decode(np.frombuffer(d[12:], dtype=np.uint8)) for t_, d in got["rtp"]
                            if t183 <= t_ < t200 and len(d) == 172])
    late = np.concatenate([alaw_decode(np.frombuffer(d[12:], dtype=np.uint8)) for t_, d in got["rtp"]
                           if t_ >= t200 + 0.1 and len(d) == 172])
    print(f"\n183 -> 200 OK: {t200 - t183:.2f} s; early RTP {len(early) / 8000:.2f} s, "
          f"1200 Hz {power(early, 1200):.0f}, 700 Hz {power(early, 700):.0f}; after answer 700 Hz "
          f"{power(late, 700):.0f}")
    assert t200 - t183 > 0.8 and len(early) >= 0.8 * 8000             # the prompt (1 s) ran before answer
    assert power(early, 1200) > 3000 and power(early, 700) < 300       # ... and the far end heard it
    assert power(late, 700) > 1000                                      # the next node played after answer
