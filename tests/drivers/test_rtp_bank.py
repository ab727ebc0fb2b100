"""The RTP core of SIP spans (drivers/backends/rtp): jitter buffer order, loss concealment and late
packets, PCMU transcoding, RFC 4733 digits in (once per event) and out, RTCP receiver reports carrying
the loss and jitter figures, symmetric RTP; packets crafted by hand on loopback sockets."""
import socket
import struct

import numpy as np

from trunkline.drivers.backends.rtp_bank import RtpBank
from trunkline.dsp.g711 import ALAW_DECODE, ALAW_ENCODE, ULAW_ENCODE


def rtp(seq, ts, pt=8, payload=b"", ssrc=0x1234, marker=0):
    return struct.pack("!BBHII", 0x80, pt | (marker << 7), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


class Peer:
    def __init__(self):
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        port = self.rtp.getsockname()[1]
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.rtcp.bind(("127.0.0.1", port + 1))
        except OSError:
            self.rtcp.bind(("127.0.0.1", 0))
        for s in (self.rtp, self.rtcp):
            s.setblocking(False)
        self.port = port

    def recv_all(self, sock):
        out = []
        while True:
            try:
                out.append(sock.recv(2048))
            except BlockingIOError:
                return out


def bank_and_peer(pt=8, ev_pt=101):
    bank = RtpBank(2)
    port = bank.open(0)
    peer = Peer()
    bank.start(0, ("127.0.0.1", peer.port), pt, ev_pt, comedia=False)
    return bank, port, peer


def tick(bank, t):
    out = np.zeros((2, 160), dtype=np.uint8)
    digits = bank.io(out, t * 160)
    return out[0].copy(), digits


def test_jitter_buffer_reorders_and_conceals_a_lost_packet():
    bank, port, peer = bank_and_peer()
    frames = {s: bytes([0x10 + s]) * 160 for s in range(8)}
    order = [0, 1, 3, 2, 5, 6, 7]                 # 4 is lost, 2 and 3 swapped
    heard = []
    for t, seq in enumerate(order):
        peer.rtp.sendto(rtp(seq, seq * 160, payload=frames[seq]), ("127.0.0.1", port))
        heard.append(tick(bank, t)[0][0])
    for t in range(len(order), len(order) + 4):
        heard.append(tick(bank, t)[0][0])
    played = [h for h in heard if h != 0xD5]
    assert played[:4] == [0x10, 0x11, 0x12, 0x13]
    assert 0x15 in played and 0x16 in played and 0x17 in played
    assert played.index(0x15) == 5                # one concealed frame where 4 was
    st = bank.stats(0)
    assert st.rx_packets == 7 and st.lost == 1 and st.concealed >= 1
    bank.close_all()


def test_pcmu_is_transcoded_and_late_packets_are_dropped():
    bank, port, peer = bank_and_peer(pt=0)
    a_code = 0x2A
    u_code = ULAW_ENCODE[int(ALAW_DECODE[a_code]) + 32768]
    for t in range(6):
        peer.rtp.sendto(rtp(100 + t, t * 160, pt=0, payload=bytes([u_code]) * 160), ("127.0.0.1", port))
        out, _ = tick(bank, t)
    assert abs(int(ALAW_DECODE[out[0]]) - int(ALAW_DECODE[a_code])) < 64
    peer.rtp.sendto(rtp(101, 160, pt=0, payload=bytes([u_code]) * 160), ("127.0.0.1", port))
    tick(bank, 7)
    assert bank.stats(0).late == 1
    sent = peer.recv_all(peer.rtp)
    assert sent and all(p[1] & 0x7F == 0 for p in sent)          # we send PCMU to a PCMU peer
    bank.close_all()


def test_rfc4733_digits_in_once_per_event_and_out_with_end_packets():
    bank, port, peer = bank_and_peer()
    got = []
    t = 0
    for digit_code, ts in ((5, 8000), (11, 16000)):
        for k in range(6):
            end = 0x80 if k >= 3 else 0
            payload = struct.pack("!BBH", digit_code, end | 10, 160 * (k + 1))
            peer.rtp.sendto(rtp(t, ts, pt=101, payload=payload), ("127.0.0.1", port))
            got += tick(bank, t)[1]
            t += 1
    assert got == [(0, "5"), (0, "#")]
    assert bank.send_digits(0, "7")
    peer.recv_all(peer.rtp)
    for _ in range(12):
        tick(bank, t)
        t += 1
    events = [p for p in peer.recv_all(peer.rtp) if p[1] & 0x7F == 101]
    assert events and all(p[12] == 7 for p in events)
    assert events[0][1] & 0x80                    # marker on the first event packet
    assert sum(1 for p in events if p[13] & 0x80) == 3   # three end packets
    assert len({p[4:8] for p in events}) == 1     # one timestamp for the whole event
    bank.close_all()


def test_rtcp_receiver_report_carries_loss_and_jitter():
    bank, port, peer = bank_and_peer()
    seq = 0
    for t in range(260):                          # 5.2 s: one report is due after 5 s
        if t % 10 != 9:                           # 10 % loss
            peer.rtp.sendto(rtp(seq, t * 160 + (t % 3) * 40, payload=b"\x55" * 160), ("127.0.0.1", port))
        seq += 1
        tick(bank, t)
    reports = peer.recv_all(peer.rtcp)
    assert reports, "no RTCP sent"
    sr = reports[-1]
    assert sr[1] == 200 and sr[0] & 0x1F == 1     # a sender report with one report block
    block = sr[28:52]
    fraction = block[4] / 256
    lost = int.from_bytes(block[5:8], "big")
    jitter = struct.unpack("!I", block[12:16])[0]
    assert 0.07 < fraction < 0.13 and 20 <= lost <= 30
    assert jitter > 0
    st = bank.stats(0)
    assert abs(st.fraction_lost - 0.1) < 0.03 and st.jitter_ms > 0
    bank.close_all()


def test_symmetric_rtp_sends_to_where_media_comes_from():
    bank = RtpBank(1)
    port = bank.open(0)
    peer = Peer()
    bank.start(0, ("127.0.0.1", 9), 8, None, comedia=True)    # the SDP said port 9: behind a NAT
    peer.rtp.sendto(rtp(1, 0, payload=b"\x55" * 160), ("127.0.0.1", port))
    out = np.zeros((1, 160), dtype=np.uint8)
    bank.io(out, 0)
    bank.io(out, 160)
    assert peer.recv_all(peer.rtp), "no RTP came back to the source address"
    bank.close_all()


def tone_codes(freq, t, amp=8000.0):
    """One 20 ms block of an A-law tone at `freq` Hz, block number t."""
    n = np.arange(t * 160, (t + 1) * 160)
    return ALAW_ENCODE[(amp * np.sin(2 * np.pi * freq * n / 8000)).astype(np.int32) + 32768].astype(np.uint8)


def dominant_hz(codes):
    """The strongest frequency (Hz) of A-law codes (8 kHz)."""
    arr = np.frombuffer(codes, dtype=np.uint8) if isinstance(codes, bytes) else np.asarray(codes, dtype=np.uint8)
    x = ALAW_DECODE[arr].astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec[1:]) + 1) * 8000 / len(x)


def test_calls_share_one_socket_each_hears_its_own_tone_and_a_stray_is_dropped_and_counted():
    # two plain far ends (their own addresses) and, on the other socket side, a far bank whose two streams
    # share ONE address: told apart by the SSRC each SDP announced (a=ssrc)
    bank = RtpBank(5)
    far = RtpBank(2, rtcp=False)
    ports = [bank.open(ch) for ch in range(5)]
    assert len(set(ports)) == 1 and bank.sockets() == 1, "the calls do not share one socket"
    peers = [Peer(), Peer()]
    for ch, peer in enumerate(peers):
        bank.start(ch, ("127.0.0.1", peer.port), 8, 101, comedia=True)
    far_ports = [far.open(ch) for ch in range(2)]
    assert far_ports[0] == far_ports[1]
    for ch in range(2):
        bank.start(2 + ch, ("127.0.0.1", far_ports[ch]), 8, 101, comedia=False, remote_ssrc=far.ssrc(ch))
        far.start(ch, ("127.0.0.1", ports[0]), 8, 101, comedia=False, remote_ssrc=bank.ssrc(2 + ch))
    unused = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unused.bind(("127.0.0.1", 0))                # channel 4: its far end never sends (it must not be claimed)
    bank.start(4, ("127.0.0.1", unused.getsockname()[1]), 8, 101, comedia=True)
    sent_hz = [500, 1000, 1500, 2000]            # what each far party sends to channel 0..3
    back_hz = [700, 1200, 1700, 2200]            # what we send on channel 0..3
    stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stray.bind(("127.0.0.1", 0))
    heard = [[] for _ in range(4)]
    far_heard = [[] for _ in range(2)]
    out = np.zeros((5, 160), dtype=np.uint8)
    far_in = np.zeros((2, 160), dtype=np.uint8)
    ssrc0 = 0x1234                               # Peer 0's SSRC (rtp() default)
    for t in range(40):
        for ch, peer in enumerate(peers):
            peer.rtp.sendto(rtp(t, t * 160, payload=tone_codes(sent_hz[ch], t).tobytes(), ssrc=ssrc0 + ch),
                            ("127.0.0.1", ports[0]))
        far.set_out(np.stack([tone_codes(sent_hz[2], t), tone_codes(sent_hz[3], t)]))
        far.io(far_in, t * 160)
        if t >= 10:                              # spoofed: peer 0's SSRC and payload type from an unknown address
            stray.sendto(rtp(1000 + t, t * 160, payload=tone_codes(3000, t).tobytes(), ssrc=ssrc0),
                         ("127.0.0.1", ports[0]))
        if t % 10 == 5:                          # from the far bank's shared address, an SSRC it did not announce
            far._socks[0][0].sendto(rtp(t, t * 160, payload=tone_codes(3000, t).tobytes(), ssrc=0xDEAD),
                                    ("127.0.0.1", ports[0]))
        bank.set_out(np.stack([tone_codes(f, t) for f in back_hz + [300]]))
        bank.io(out, t * 160)
        if t >= 20:
            for ch in range(4):
                heard[ch].extend(out[ch])
            for ch in range(2):
                far_heard[ch].extend(far_in[ch])
    for ch in range(4):
        assert abs(dominant_hz(heard[ch]) - sent_hz[ch]) <= 50, f"channel {ch} heard the wrong party"
        assert bank.stats(ch).rx_packets >= 35 and bank.stats(ch).bad == 0
    for ch, peer in enumerate(peers):           # and each far party hears its own channel
        got = [p for p in peer.recv_all(peer.rtp) if p[1] & 0x7F == 8]
        assert len(got) >= 35
        assert abs(dominant_hz(b"".join(p[12:] for p in got[-20:])) - back_hz[ch]) <= 50
    for ch in range(2):
        assert abs(dominant_hz(far_heard[ch]) - back_hz[2 + ch]) <= 50
    assert bank.stray_packets() == 34           # every spoofed packet dropped and counted, none misrouted
    assert bank.stats(4).rx_packets == 0
    stray.close()
    unused.close()
    for p in peers:
        p.rtp.close()
        p.rtcp.close()
    bank.close_all()
    far.close_all()


def test_comedia_on_a_shared_socket_learns_a_natted_phone_from_its_first_packet():
    bank = RtpBank(3)
    port = bank.open(0)
    assert bank.open(1) == port
    peer = Peer()
    bank.start(0, ("10.0.0.9", 4000), 8, None, comedia=True)   # a private SDP address: behind a NAT
    bank.start(1, ("127.0.0.1", 9), 8, None, comedia=True)
    out = np.zeros((3, 160), dtype=np.uint8)
    for t in range(3):
        peer.rtp.sendto(rtp(t, t * 160, payload=b"\x55" * 160), ("127.0.0.1", port))
        bank.io(out, t * 160)
    assert bank.stats(0).rx_packets == 3 and bank.stats(1).rx_packets == 0
    assert peer.recv_all(peer.rtp), "no RTP came back to the NAT's address"
    peer.rtp.close()
    peer.rtcp.close()
    bank.close_all()
