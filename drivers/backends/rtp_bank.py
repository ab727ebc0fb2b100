"""RTP streams of a SIP span: sockets per channel, one C call per tick for all of them (rtp/rtp.c)."""
import os
import socket
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends._rtp import ffi, lib
from trunkline.dsp.g711 import ALAW_DECODE, ALAW_ENCODE, ULAW_DECODE, ULAW_ENCODE

FRAME = 160
PCMU, PCMA = 0, 8
#: RFC 4733 event codes of the DTMF digits
EVENT_CODES = {d: i for i, d in enumerate("0123456789*#ABCD")}
NTP_EPOCH = 2208988800


def _install_tables() -> None:
    a2u = ULAW_ENCODE[(ALAW_DECODE.astype(np.int32) + 32768)].astype(np.uint8)
    u2a = ALAW_ENCODE[(ULAW_DECODE.astype(np.int32) + 32768)].astype(np.uint8)
    dec = np.ascontiguousarray(ALAW_DECODE, dtype=np.int16)
    enc = np.ascontiguousarray(ALAW_ENCODE, dtype=np.uint8)
    lib.rtp_set_tables(ffi.from_buffer("uint8_t[]", np.ascontiguousarray(a2u)),
                       ffi.from_buffer("uint8_t[]", np.ascontiguousarray(u2a)),
                       ffi.from_buffer("int16_t[]", dec), ffi.from_buffer("uint8_t[]", enc))


_install_tables()


@dataclass
class RtpStats:
    """What RTCP and the receiver know about one stream: packets, loss (fraction 0..1), jitter (ms)."""
    tx_packets: int
    rx_packets: int
    lost: int
    fraction_lost: float
    jitter_ms: float
    remote_lost: int
    remote_fraction_lost: float
    remote_jitter_ms: float
    late: int
    concealed: int
    bad: int
    rtcp_received: int
    jitter_buffer_frames: int


class RtpBank:
    """N RTP streams (one per SIP channel) on UDP port pairs from `port_base` upwards on `host`."""

    def __init__(self, channels: int, host: str = "127.0.0.1", port_base: int = 0) -> None:
        self.channels = channels
        self.host = host
        self.port_base = port_base
        self.streams = ffi.new("rtp_stream[]", max(1, channels))
        for i in range(channels):
            self.streams[i].fd = -1
            self.streams[i].rtcp_fd = -1
            self.streams[i].ev_code = -1
            self.streams[i].ev_pt = -1
        self._socks: dict[int, tuple[socket.socket, socket.socket | None]] = {}
        self._out = np.full((max(1, channels), FRAME), 0xD5, dtype=np.uint8)
        self._digits = np.zeros(max(1, channels), dtype=np.uint8)
        self._dtmf_queue: dict[int, list[str]] = {}
        self._next_port = port_base

    # ------------------------------------------------------------ streams
    def _bind_pair(self, with_rtcp: bool = True) -> tuple[socket.socket, socket.socket | None]:
        for _ in range(2000):
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if with_rtcp else None
            try:
                if self.port_base:
                    port = self._next_port
                    self._next_port = port + 2 if port + 2 < 65000 else self.port_base
                else:
                    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    probe.bind((self.host, 0))
                    port = probe.getsockname()[1] & ~1
                    probe.close()
                rtp.bind((self.host, port))
                if rtcp is not None:
                    rtcp.bind((self.host, port + 1))
            except OSError:
                rtp.close()
                if rtcp is not None:
                    rtcp.close()
                continue
            for s in (rtp, rtcp):
                if s is not None:
                    s.setblocking(False)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            return rtp, rtcp
        raise OSError("no free RTP port pair")

    def open(self, ch: int, rtcp: bool = True) -> int:
        """Bind a port pair (RTP, and RTCP unless rtcp=False) for channel `ch`; returns the local RTP port."""
        self.close(ch)
        rtp_sock, rtcp_sock = self._bind_pair(rtcp)
        self._socks[ch] = (rtp_sock, rtcp_sock)
        st = self.streams[ch]
        st.fd = rtp_sock.fileno()
        st.rtcp_fd = rtcp_sock.fileno() if rtcp_sock is not None else -1
        st.active = 0
        st.send = 0
        st.remote_ip = 0
        st.tx_seq = int.from_bytes(os.urandom(2), "big")
        st.tx_ts = int.from_bytes(os.urandom(4), "big")
        st.tx_packets = st.tx_octets = 0
        st.rx_bad = st.late = st.plc_frames = st.rtcp_rx = 0
        st.remote_fraction = 0
        st.remote_lost = 0
        st.remote_jitter = 0
        lib.rtp_reset(self.streams + ch, int.from_bytes(os.urandom(4), "big"), 0)
        return int(rtp_sock.getsockname()[1])

    def local_port(self, ch: int) -> int:
        """The local RTP port of channel `ch` (0 when closed)."""
        pair = self._socks.get(ch)
        return int(pair[0].getsockname()[1]) if pair else 0

    def start(self, ch: int, remote: tuple[str, int] | None, pt: int, ev_pt: int | None, send: bool = True,
              comedia: bool = True) -> None:
        """Start (or change) media on `ch`: remote RTP address, payload type (0/8), telephone-event type."""
        st = self.streams[ch]
        if st.fd < 0:
            raise ValueError(f"channel {ch} has no RTP socket")
        if remote is not None:
            st.remote_ip = int.from_bytes(socket.inet_aton(socket.gethostbyname(remote[0])), "little")
            st.remote_port = socket.htons(remote[1])
            st.remote_rtcp = socket.htons(remote[1] + 1)
        st.pt = pt
        st.ev_pt = -1 if ev_pt is None else ev_pt
        st.send = 1 if send else 0
        st.comedia = 1 if comedia else 0
        st.active = 1

    def set_send(self, ch: int, send: bool) -> None:
        """Transmit audio on `ch` or not (hold)."""
        self.streams[ch].send = 1 if send else 0

    def close(self, ch: int) -> None:
        """Stop media on `ch` and free its ports."""
        st = self.streams[ch]
        st.active = 0
        st.fd = st.rtcp_fd = -1
        st.ev_code = -1
        self._dtmf_queue.pop(ch, None)
        pair = self._socks.pop(ch, None)
        if pair:
            for s in pair:
                if s is not None:
                    s.close()

    def send_digits(self, ch: int, digits: str) -> bool:
        """Queue RFC 4733 digits on `ch`; False when the far end did not negotiate telephone-event."""
        st = self.streams[ch]
        if not st.active or st.ev_pt < 0:
            return False
        self._dtmf_queue.setdefault(ch, []).extend(d for d in digits.upper() if d in EVENT_CODES)
        return True

    def dtmf_busy(self, ch: int) -> bool:
        """True while digits are still queued or being sent on `ch`."""
        return bool(self._dtmf_queue.get(ch)) or self.streams[ch].ev_code >= 0

    # ------------------------------------------------------------ the tick
    def io(self, in_codes: NDArray[np.uint8], now_samples: int) -> list[tuple[int, str]]:
        """Send the pending out block and receive one block for every channel (A-law); RFC 4733 digits."""
        if self._dtmf_queue:
            for ch, queue in list(self._dtmf_queue.items()):
                st = self.streams[ch]
                if st.ev_code < 0 and st.ev_gap <= 0 and queue:
                    st.ev_code = EVENT_CODES[queue.pop(0)]
                    st.ev_dur, st.ev_sent, st.ev_ends = 800, 0, 3
                if not queue:
                    del self._dtmf_queue[ch]
        ntp = time.time() + NTP_EPOCH
        sec = int(ntp)
        lib.rtp_tick(self.streams, self.channels, ffi.from_buffer("uint8_t[]", in_codes),
                     ffi.from_buffer("uint8_t[]", self._out), ffi.from_buffer("char[]", self._digits),
                     now_samples & 0xFFFFFFFF, sec & 0xFFFFFFFF, int((ntp - sec) * 2**32) & 0xFFFFFFFF)
        hits = np.flatnonzero(self._digits[:self.channels])
        return [(int(ch), chr(self._digits[ch])) for ch in hits]

    def set_out(self, codes: NDArray[np.uint8]) -> None:
        """The A-law block to send on every channel at the next io()."""
        self._out[:self.channels] = codes

    def stats(self, ch: int) -> RtpStats:
        """Receive/transmit figures of channel `ch` (RTCP's view both ways)."""
        st = self.streams[ch]
        expected = (st.cycles + st.max_seq) - st.base_seq + 1 if st.rx_init else 0
        lost = max(0, int(expected) - int(st.received))
        return RtpStats(int(st.tx_packets), int(st.received), lost,
                        lost / expected if expected > 0 else 0.0, float(st.jitter) / 8.0,
                        int(st.remote_lost), st.remote_fraction / 256.0, st.remote_jitter / 8.0,
                        int(st.late), int(st.plc_frames), int(st.rx_bad), int(st.rtcp_rx), int(st.target))

    def close_all(self) -> None:
        """Close every stream."""
        for ch in list(self._socks):
            self.close(ch)
