"""UDPTL (ITU-T T.38 clause 9.1 / Annex, ASN.1 PER): IFP packets in UDP datagrams with a 16-bit sequence
number and redundancy (the previous IFPs repeated as secondary packets), so a receiver recovers lost
datagrams from the next one. `UdptlTx` frames, `UdptlRx` deframes in order (recovering gaps, dropping
duplicates and late packets), `UdptlPort` is one call's non-blocking UDP socket. Decoding is bounded:
a malformed datagram is counted and dropped, never raised."""
from __future__ import annotations

import logging
import socket
from collections import deque

__all__ = ["UdptlError", "UdptlTx", "UdptlRx", "UdptlPort", "frame", "deframe", "MAX_DATAGRAM"]

log = logging.getLogger("trunkline.sip.t38")
MAX_DATAGRAM = 1500       # octets of one UDPTL datagram we build or accept
MAX_SECONDARY = 16        # secondary IFPs in one datagram we accept
WINDOW = 1000             # sequence numbers ahead of the expected one still taken as loss, not a restart
RESYNC = 4                # consecutive in-order datagrams behind the expected number that restart the count


class UdptlError(ValueError):
    """A malformed UDPTL datagram."""


def _put_len(out: bytearray, n: int) -> None:
    if n < 0x80:
        out.append(n)
    elif n < 0x4000:
        out += bytes([0x80 | (n >> 8), n & 0xFF])
    else:
        raise UdptlError("length over 16383 (fragmented lengths are not used)")


def _get_len(buf: bytes, ptr: int) -> tuple[int, int]:
    if ptr >= len(buf):
        raise UdptlError("truncated length")
    b = buf[ptr]
    if b & 0x80 == 0:
        return b, ptr + 1
    if b & 0x40:
        raise UdptlError("fragmented length")
    if ptr + 1 >= len(buf):
        raise UdptlError("truncated length")
    return ((b & 0x3F) << 8) | buf[ptr + 1], ptr + 2


def _get_open(buf: bytes, ptr: int) -> tuple[bytes, int]:
    n, ptr = _get_len(buf, ptr)
    if n < 1 or ptr + n > len(buf):
        raise UdptlError("open type beyond the datagram")
    return bytes(buf[ptr:ptr + n]), ptr + n


def frame(seq: int, primary: bytes, secondary: list[bytes]) -> bytes:
    """One UDPTL datagram: `primary` IFP numbered `seq`, `secondary` = IFPs seq-1, seq-2, ... (newest first)."""
    out = bytearray(((seq & 0xFFFF)).to_bytes(2, "big"))
    _put_len(out, len(primary))
    out += primary
    out.append(0x00)                     # error-recovery: secondary-ifp-packets
    _put_len(out, len(secondary))
    for s in secondary:
        _put_len(out, len(s))
        out += s
    return bytes(out)


def deframe(buf: bytes) -> tuple[int, bytes, list[bytes]]:
    """(seq, primary IFP, secondary IFPs newest first) of a datagram; UdptlError when malformed."""
    if len(buf) > MAX_DATAGRAM:
        raise UdptlError(f"datagram of {len(buf)} octets")
    if len(buf) < 5:
        raise UdptlError("datagram too short")
    seq = (buf[0] << 8) | buf[1]
    primary, ptr = _get_open(buf, 2)
    if ptr >= len(buf):
        raise UdptlError("no error-recovery field")
    kind = buf[ptr]
    ptr += 1
    secondary: list[bytes] = []
    if kind & 0x80:                      # FEC: we keep the primary only (the FEC data is not used)
        return seq, primary, secondary
    if kind != 0:
        raise UdptlError("bad error-recovery choice")
    count, ptr = _get_len(buf, ptr)
    if count > MAX_SECONDARY:
        raise UdptlError(f"{count} secondary packets")
    for _ in range(count):
        s, ptr = _get_open(buf, ptr)
        secondary.append(s)
    if ptr != len(buf):
        raise UdptlError("trailing octets")
    return seq, primary, secondary


class UdptlTx:
    """Numbers IFPs and adds the last `redundancy` ones as secondary packets (within MAX_DATAGRAM)."""

    def __init__(self, redundancy: int = 3, max_datagram: int = 400) -> None:
        self.redundancy = max(0, min(redundancy, MAX_SECONDARY))
        self.max_datagram = max(64, min(max_datagram, MAX_DATAGRAM))
        self.seq = 0
        self._history: deque[bytes] = deque(maxlen=self.redundancy or 1)

    def packet(self, ifp: bytes) -> bytes:
        """The datagram carrying `ifp` next."""
        sec = list(reversed(self._history)) if self.redundancy else []
        data = frame(self.seq, ifp, sec)
        while len(data) > self.max_datagram and sec:
            sec.pop()
            data = frame(self.seq, ifp, sec)
        self.seq = (self.seq + 1) & 0xFFFF
        if self.redundancy:
            self._history.append(ifp)
        return data


class UdptlRx:
    """Delivers the IFPs of received datagrams in sequence order, each once: a gap is filled from the
    secondary packets of the datagram after it (counted as `recovered`) or counted `lost`. A stray datagram
    that threw the count far ahead is outvoted: RESYNC in-order datagrams behind it restart the count."""

    def __init__(self) -> None:
        self.expected: int | None = None
        self.lost = 0
        self.recovered = 0
        self.malformed = 0
        self.received = 0
        self._behind: int | None = None      # last sequence number of a run of datagrams behind `expected`
        self._behind_run = 0

    def feed(self, datagram: bytes) -> list[tuple[int, bytes]]:
        """(seq, IFP) in order from one datagram (empty for a duplicate, late or malformed one)."""
        try:
            seq, primary, secondary = deframe(datagram)
        except UdptlError as exc:
            self.malformed += 1
            log.debug("UDPTL datagram dropped: %s", exc)
            return []
        self.received += 1
        exp = self.expected
        out: list[tuple[int, bytes]] = []
        if exp is not None:
            ahead = (seq - exp) & 0xFFFF
            if ahead >= 0x8000:          # behind the expected number: a duplicate or a late packet ...
                run = self._behind_run + 1 if self._behind is not None and seq == (self._behind + 1) & 0xFFFF else 1
                self._behind, self._behind_run = seq, run
                if run < RESYNC:
                    return []
                log.info("UDPTL sequence restarted at %d (expected %d)", seq, exp)   # ... unless a run of them
                ahead = 0
            self._behind, self._behind_run = None, 0
            if ahead <= WINDOW:
                for k in range(ahead, 0, -1):     # oldest missing first
                    i = k - 1                     # secondary[i] is seq - 1 - i
                    if i < len(secondary):
                        out.append(((seq - k) & 0xFFFF, secondary[i]))
                        self.recovered += 1
                    else:
                        self.lost += 1
        out.append((seq, primary))
        self.expected = (seq + 1) & 0xFFFF
        return out


class UdptlPort:
    """One call's UDPTL socket on `host`: send IFPs to `remote`, receive in-order IFPs. Once the remote is
    known, the first datagram from its address latches its source port (symmetric: we send there from then
    on); datagrams from any other source are dropped and counted (`foreign`)."""

    def __init__(self, host: str = "127.0.0.1", redundancy: int = 3, max_datagram: int = 400) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None
        self.latched: tuple[str, int] | None = None
        self.foreign = 0
        self.tx = UdptlTx(redundancy, max_datagram)
        self.rx = UdptlRx()
        self.sent = 0

    def send(self, ifp: bytes) -> None:
        """Send one IFP (with redundancy) to the remote; dropped while the remote is unknown."""
        data = self.tx.packet(ifp)
        if self.remote is None:
            return
        try:
            self.sock.sendto(data, self.remote)
            self.sent += 1
        except OSError as exc:
            log.debug("UDPTL send to %s failed: %s", self.remote, exc)

    def recv(self, limit: int = 256) -> list[tuple[int, bytes]]:
        """(seq, IFP) received since the last call, in order; at most `limit` datagrams read."""
        out: list[tuple[int, bytes]] = []
        for _ in range(limit):
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if self.remote is not None:
                if self.latched is None and addr[0] == self.remote[0]:
                    self.latched = self.remote = (addr[0], addr[1])
                if addr != self.latched:
                    self.foreign += 1
                    continue
            out += self.rx.feed(data)
        return out

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
