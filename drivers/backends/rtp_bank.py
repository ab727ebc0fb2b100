"""RTP streams of a SIP span: shared UDP sockets (one per `per_socket` streams), one C call per tick for all
of them (rtp/rtp.c): one sendmmsg and a few recvmmsg per socket, packets demultiplexed by address and SSRC."""
import ipaddress
import os
import socket
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends._rtp import ffi, lib
from trunkline.dsp.g711 import ALAW_DECODE, ALAW_ENCODE, ULAW_DECODE, ULAW_ENCODE

FRAME = 160
MAX_PER_SOCKET = 1024                    # RTP_MAXG of rtp.h
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
    """N RTP streams (one per SIP channel) sharing UDP sockets on `host`: streams ch // per_socket share one
    RTP socket (port pairs from `port_base` upwards, or any free even port) and its RTCP socket at port + 1;
    received packets are demultiplexed by source address and SSRC in the C core."""

    def __init__(self, channels: int, host: str = "127.0.0.1", port_base: int = 0, per_socket: int = 16,
                 rtcp: bool = True) -> None:
        if not 1 <= per_socket <= MAX_PER_SOCKET:
            raise ValueError(f"RTP streams per socket must be 1..{MAX_PER_SOCKET}, got {per_socket}")
        self.channels = channels
        self.host = host
        self.port_base = port_base
        self.per_socket = per_socket
        self.rtcp = rtcp
        n = max(1, channels)
        ngroups = (n + per_socket - 1) // per_socket
        self.streams = ffi.new("rtp_stream[]", n)
        self.groups = ffi.new("rtp_group[]", ngroups)
        buckets = 1 << max(4, (2 * n - 1).bit_length())
        self._addr_head = ffi.new("int[]", [-1] * buckets)
        self._ssrc_head = ffi.new("int[]", [-1] * buckets)
        self._scratch = ffi.new("uint8_t[]", lib.rtp_scratch_bytes())
        self.bank = ffi.new("rtp_bank *")
        b = self.bank
        b.s, b.n, b.g, b.ngroups = self.streams, channels, self.groups, ngroups
        b.addr_head, b.ssrc_head, b.mask, b.scratch = self._addr_head, self._ssrc_head, buckets - 1, self._scratch
        for i in range(n):
            st = self.streams[i]
            st.group = -1
            st.ev_code = -1
            st.ev_pt = -1
            st.addr_next = st.ssrc_next = -1
        for g in range(ngroups):
            grp = self.groups[g]
            grp.fd = grp.rtcp_fd = -1
            grp.first = g * per_socket
            grp.count = max(0, min(per_socket, channels - g * per_socket))
        self._socks: dict[int, tuple[socket.socket, socket.socket | None]] = {}
        self._open: set[int] = set()
        self._sdp_remote: dict[int, tuple[int, int]] = {}
        self._out = np.full((n, FRAME), 0xD5, dtype=np.uint8)
        self._digits = np.zeros(n, dtype=np.uint8)
        self._dtmf_queue: dict[int, list[str]] = {}
        self._next_port = port_base

    # ------------------------------------------------------------ sockets
    def _bind_pair(self) -> tuple[socket.socket, socket.socket | None]:
        """An RTP socket on an even port and (with RTCP) one on the next port; retried on EADDRINUSE."""
        for _ in range(2000):
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if self.rtcp else None
            try:
                if self.port_base:
                    port = self._next_port
                    self._next_port = port + 2 if port + 2 < 65000 else self.port_base
                    rtp.bind((self.host, port))
                else:
                    rtp.bind((self.host, 0))          # the kernel picks a free port; we want it even
                    port = rtp.getsockname()[1]
                    if port & 1:
                        raise OSError("odd port")
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
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, min(1 << 22, self.per_socket << 16))
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, min(1 << 22, self.per_socket << 16))
            return rtp, rtcp
        raise OSError("no free RTP port pair")

    def _group_of(self, ch: int) -> int:
        """The socket group of channel `ch`, its sockets bound on first use."""
        g = ch // self.per_socket
        if g not in self._socks:
            pair = self._bind_pair()
            self._socks[g] = pair
            self.groups[g].fd = pair[0].fileno()
            self.groups[g].rtcp_fd = pair[1].fileno() if pair[1] is not None else -1
        return g

    # ------------------------------------------------------------ streams
    def open(self, ch: int) -> int:
        """Reset channel `ch`'s stream on its shared socket (bound on first use); returns the local RTP port."""
        if not 0 <= ch < self.channels:
            raise ValueError(f"no RTP channel {ch}")
        self.close(ch)
        g = self._group_of(ch)
        st = self.streams[ch]
        st.group = g
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
        st.rx_ssrc = 0
        lib.rtp_reset(self.streams + ch, int.from_bytes(os.urandom(4), "big"), 0)
        self._open.add(ch)
        return self.local_port(ch)

    def local_port(self, ch: int) -> int:
        """The local RTP port of channel `ch` (0 when closed)."""
        pair = self._socks.get(ch // self.per_socket)
        return int(pair[0].getsockname()[1]) if pair and ch in self._open else 0

    def ssrc(self, ch: int) -> int:
        """The SSRC channel `ch` sends with (announced in SDP as a=ssrc)."""
        return int(self.streams[ch].tx_ssrc)

    def start(self, ch: int, remote: tuple[str, int] | None, pt: int, ev_pt: int | None, send: bool = True,
              comedia: bool = True, remote_ssrc: int | None = None) -> None:
        """Start (or change) media on `ch`: remote RTP address, payload type (0/8), telephone-event type,
        the far end's SSRC when its SDP announced one (a=ssrc: tells streams from one address apart)."""
        st = self.streams[ch]
        if ch not in self._open:
            raise ValueError(f"channel {ch} has no RTP socket")
        key = (0, 0)
        if remote is not None:
            key = (int.from_bytes(socket.inet_aton(socket.gethostbyname(remote[0])), "little"),
                   socket.htons(remote[1]))
        if self._sdp_remote.get(ch) != key or not st.active:    # a new address (not a refresh): rehash
            self._sdp_remote[ch] = key
            st.remote_ip, st.remote_port = key
            st.remote_rtcp = socket.htons(remote[1] + 1) if remote is not None else 0
            lib.rtp_set_remote(self.bank, ch, key[0], key[1], 1 if comedia and self._may_latch(ch, remote) else 0)
        if remote_ssrc is not None:
            lib.rtp_set_ssrc(self.bank, ch, remote_ssrc & 0xFFFFFFFF, 1)
        st.pt = pt
        st.ev_pt = -1 if ev_pt is None else ev_pt
        st.send = 1 if send else 0
        st.comedia = 1 if comedia else 0
        st.active = 1

    def _may_latch(self, ch: int, remote: tuple[str, int] | None) -> bool:
        """Comedia on a shared socket: the first packet from an unknown address may claim the stream only
        when its SDP gave no address or a private one (a phone behind a NAT), or when it has the socket
        to itself; else a stray (e.g. a just-ended call's last packets) could take it."""
        if remote is None or self.groups[ch // self.per_socket].count == 1:
            return True
        addr = ipaddress.ip_address(socket.gethostbyname(remote[0]))
        return addr.is_unspecified or not (addr.is_global or addr.is_loopback)

    def set_send(self, ch: int, send: bool) -> None:
        """Transmit audio on `ch` or not (hold)."""
        self.streams[ch].send = 1 if send else 0

    def close(self, ch: int) -> None:
        """Stop media on `ch` (its shared socket stays bound for the next call)."""
        st = self.streams[ch]
        lib.rtp_unlink(self.bank, ch)
        st.active = 0
        st.group = -1
        st.ev_code = -1
        self._dtmf_queue.pop(ch, None)
        self._open.discard(ch)
        self._sdp_remote.pop(ch, None)

    def stray_packets(self) -> int:
        """RTP and RTCP packets dropped because they came from no stream's address/SSRC (or were malformed)."""
        return sum(int(g.stray) + int(g.rtcp_stray) for g in self.groups)

    def sockets(self) -> int:
        """Bound RTP sockets (each with its RTCP socket)."""
        return len(self._socks)

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
        lib.rtp_tick(self.bank, ffi.from_buffer("uint8_t[]", in_codes),
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
        """Close every stream and the shared sockets."""
        for ch in list(self._open):
            self.close(ch)
        for g, pair in self._socks.items():
            self.groups[g].fd = self.groups[g].rtcp_fd = -1
            for s in pair:
                if s is not None:
                    s.close()
        self._socks.clear()
