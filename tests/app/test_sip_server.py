"""`trunkline run` with SIP on (`sip_listen`): a baresip caller dials sip:95588@<listen> from loopback
without credentials and reaches the demo hotline (welcome prompt heard, a menu choice sent as an RFC 4733
digit, then the caller hangs up); the CDR shows the SIP leg. An INVITE to another number from the same
address gets 401 and no call. Two calls share one RTP socket of the server, each with its own stream."""
import os
import socket
import sqlite3
import subprocess
import sys
import time

from peers.sip_peers import Baresip, free_port, write_tone


def shared_rtp_socket_serves_two_calls(udp, sip_port):
    """Two raw INVITEs to the hotline: both answered on ONE RTP port of the server (its shared socket), and
    each caller's RTP socket gets its own stream (its own SSRC) of the prompts from that port. A call refused
    while the busy test machine trips the overload guard (503) is placed again."""
    lport = udp.getsockname()[1]
    media = {}

    def invite(k, attempt):
        call_id = f"shared-{k}-{attempt}"
        rtp = media.get(k)
        if rtp is None:
            rtp = media[k] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtp.bind(("127.0.0.1", 0))
            rtp.settimeout(5)
        sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {rtp.getsockname()[1]} RTP/AVP 8\r\na=sendrecv\r\n")
        udp.sendto((f"INVITE sip:95588@127.0.0.1:{sip_port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{call_id}\r\n"
                    f"From: <sip:x@127.0.0.1>;tag={call_id}\r\nTo: <sip:95588@127.0.0.1>\r\n"
                    f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:{lport}>\r\n"
                    f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}").encode(),
                   ("127.0.0.1", sip_port))

    for k in range(2):
        invite(k, 0)
    ports: dict[int, int] = {}
    dialogs: dict[int, tuple[str, str]] = {}
    attempts = {0: 0, 1: 0}
    deadline = time.monotonic() + 30
    while len(ports) < 2 and time.monotonic() < deadline:
        msg = udp.recv(65535).decode()
        call_id = next((ln.split(":", 1)[1].strip() for ln in msg.split("\r\n") if ln.startswith("Call-ID")), "")
        if not call_id.startswith("shared-"):
            continue
        k, attempt = (int(x) for x in call_id.split("-")[1:])
        if msg.startswith("SIP/2.0 200") and "m=audio" in msg:
            ports[k] = int(msg.split("m=audio ", 1)[1].split()[0])
            to = next(ln for ln in msg.split("\r\n") if ln.startswith("To:"))
            dialogs[k] = (call_id, to)
            request(udp, sip_port, "ACK", call_id, to, 1)
        elif msg.startswith("SIP/2.0 503") and attempt == attempts[k] and attempt < 10:
            time.sleep(1.0)
            attempts[k] += 1
            invite(k, attempts[k])
    assert len(ports) == 2 and len(set(ports.values())) == 1, f"the calls do not share an RTP port: {ports}"
    got = []
    for k in range(2):
        pkt, src = media[k].recvfrom(2048)
        got.append((src[1], pkt[8:12]))
        media[k].close()
    assert got[0][0] == got[1][0] == ports[0], got        # both from the shared socket
    assert got[0][1] != got[1][1]                         # two streams (SSRCs)
    for call_id, to in dialogs.values():
        request(udp, sip_port, "BYE", call_id, to, 2)


def request(udp, sip_port, method, call_id, to, cseq):
    """An in-dialog ACK or BYE of one of the raw calls."""
    lport = udp.getsockname()[1]
    udp.sendto((f"{method} sip:95588@127.0.0.1:{sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{method}{call_id}\r\n"
                f"From: <sip:x@127.0.0.1>;tag={call_id}\r\n{to}\r\nCall-ID: {call_id}\r\n"
                f"CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", sip_port))


def test_trunkline_run_answers_sip_on_the_demo_hotline(tmp_path):
    sip_port = free_port()
    http_port = free_port(socket.SOCK_STREAM, both=False)
    env = dict(os.environ, TRUNKLINE_VAR_DIR=str(tmp_path / "var"), TRUNKLINE_DEMO_CALLERS="0",
               TRUNKLINE_SIP_LISTEN=f"127.0.0.1:{sip_port}")
    exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
    proc = subprocess.Popen([exe, "run", "--port", str(http_port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = []
    write_tone(str(tmp_path / "tone.wav"), 1000, 60)
    phone = None
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            if line.startswith("  engine"):     # the last line of the start-up summary
                break
        text = "".join(log)
        assert f"SIP          on   127.0.0.1:{sip_port} UDP+TCP" in text, text[-3000:]
        # an INVITE to a number that is not open, from loopback, without credentials: 401, no call
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(5)
        lport = udp.getsockname()[1]
        sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
        udp.sendto((f"INVITE sip:4001@127.0.0.1:{sip_port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKx1\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\n"
                    f"To: <sip:4001@127.0.0.1>\r\nCall-ID: unauth-1\r\nCSeq: 1 INVITE\r\n"
                    f"Contact: <sip:x@127.0.0.1:{lport}>\r\nContent-Type: application/sdp\r\n"
                    f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode(), ("127.0.0.1", sip_port))
        reply = udp.recv(65535).decode()
        assert reply.startswith("SIP/2.0 401") and "WWW-Authenticate: Digest" in reply

        phone = Baresip(str(tmp_path), "caller", "13800138000", None, str(tmp_path / "tone.wav"))
        phone.command("dial", f"sip:95588@127.0.0.1:{sip_port}")
        phone.wait_event("CALL_ESTABLISHED", timeout=15)
        time.sleep(1.5)
        phone.command("sndcode", "3")         # menu choice 3: "the time is ..."
        time.sleep(1.5)
        phone.command("hangup")
        phone.wait_event("CALL_CLOSED", timeout=10)
        pcm, rate = phone.received_audio()
        assert len(pcm) > 2 * rate and abs(pcm.astype(int)).max() > 1000, "no prompts heard"
        db = sqlite3.connect(tmp_path / "var" / "trunkline.db")
        deadline = time.monotonic() + 20
        rows = []
        while time.monotonic() < deadline and not rows:    # the CDR writer commits in the background
            rows = db.execute("select trunk, called, outcome from cdrs where trunk='sip'").fetchall()
            time.sleep(0.3)
        assert rows == [("sip", "95588", "answered")], rows
        shared_rtp_socket_serves_two_calls(udp, sip_port)
    finally:
        udp.close()
        if phone is not None:
            phone.stop()
        proc.terminate()
        proc.wait(timeout=30)
