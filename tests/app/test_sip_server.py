"""`trunkline run` with SIP on (`sip_listen`): a baresip caller dials sip:95588@<listen> from loopback
without credentials and reaches the demo hotline (welcome prompt heard, a menu choice sent as an RFC 4733
digit, then the caller hangs up); the CDR shows the SIP leg. An INVITE to another number from the same
address gets 401 and no call."""
import os
import socket
import sqlite3
import subprocess
import sys
import time

from peers.sip_peers import Baresip, free_port, write_tone


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
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
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
        udp.close()
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
    finally:
        if phone is not None:
            phone.stop()
        proc.terminate()
        proc.wait(timeout=30)
