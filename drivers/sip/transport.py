"""SIP transports for a polled stack: one UDP socket and a TCP listener with its connections, all
non-blocking; poll() returns the messages that arrived, bounded per call."""
from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass

from trunkline.drivers.sip.message import SipMessage, SipParseError, frame_length, parse

log = logging.getLogger("trunkline.sip")
MAX_TCP = 256


@dataclass
class Source:
    """Where a message came from / goes to: transport ("UDP"/"TCP"), address, and the TCP connection."""
    transport: str
    addr: tuple[str, int]
    conn: socket.socket | None = None


class Transports:
    """UDP and TCP on `host:port` (port 0 picks one, shared by both)."""

    def __init__(self, host: str, port: int, tcp: bool = True) -> None:
        for attempt in range(64):
            try:
                self.udp, self.tcp = self._bind(host, port, tcp)
                break
            except OSError as exc:
                # port 0: the UDP port picked may be taken on TCP (e.g. another program's outgoing connection)
                if port != 0 or exc.errno != errno.EADDRINUSE or attempt == 63:
                    raise
        self.host, self.port = self.udp.getsockname()[:2]
        self.conns: dict[socket.socket, bytearray] = {}
        self._by_addr: dict[tuple[str, int], socket.socket] = {}
        self.dropped = 0

    @staticmethod
    def _bind(host: str, port: int, tcp: bool) -> tuple[socket.socket, socket.socket | None]:
        """A UDP socket on host:port (port 0: any) and, with `tcp`, a listening TCP socket on the same port."""
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listener: socket.socket | None = None
        try:
            udp.bind((host, port))
            udp.setblocking(False)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            if tcp:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((host, udp.getsockname()[1]))
                listener.listen(64)
                listener.setblocking(False)
        except OSError:
            udp.close()
            if listener is not None:
                listener.close()
            raise
        return udp, listener

    def poll(self, limit: int = 256) -> list[tuple[SipMessage, Source]]:
        """Messages received since the last poll (malformed ones counted in `dropped`, never raised)."""
        out: list[tuple[SipMessage, Source]] = []
        for _ in range(limit):
            try:
                data, addr = self.udp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:          # ICMP port unreachable reported on the socket, etc.
                continue
            if data.strip() == b"":
                continue            # keep-alive CRLF
            try:
                out.append((parse(data), Source("UDP", addr[:2])))
            except SipParseError as exc:
                self.dropped += 1
                log.debug("dropped malformed UDP message from %s: %s", addr, exc)
        if self.tcp is not None:
            self._poll_tcp(out, limit)
        return out

    def _poll_tcp(self, out: list[tuple[SipMessage, Source]], limit: int) -> None:
        assert self.tcp is not None
        for _ in range(16):
            try:
                conn, addr = self.tcp.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if len(self.conns) >= MAX_TCP:
                conn.close()
                continue
            conn.setblocking(False)
            self.conns[conn] = bytearray()
            self._by_addr[addr[:2]] = conn
        for conn, buf in list(self.conns.items()):
            try:
                data = conn.recv(65536)
                if not data:
                    self._drop(conn)
                    continue
                buf.extend(data)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._drop(conn)
                continue
            while buf and len(out) < limit:
                while buf[:2] == b"\r\n":
                    del buf[:2]
                try:
                    n = frame_length(bytes(buf))
                except SipParseError:
                    self.dropped += 1
                    self._drop(conn)
                    break
                if n is None:
                    break
                frame = bytes(buf[:n])
                del buf[:n]
                try:
                    out.append((parse(frame), Source("TCP", conn.getpeername()[:2], conn)))
                except SipParseError:
                    self.dropped += 1
                except OSError:
                    self._drop(conn)
                    break

    def _drop(self, conn: socket.socket) -> None:
        self.conns.pop(conn, None)
        for addr, c in list(self._by_addr.items()):
            if c is conn:
                del self._by_addr[addr]
        conn.close()

    def send(self, msg: SipMessage, dest: Source) -> bool:
        """Send a message; TCP reuses the connection it came on or opens one. False when it failed."""
        data = msg.to_bytes()
        try:
            if dest.transport == "TCP":
                conn = dest.conn if dest.conn is not None and dest.conn in self.conns else self._by_addr.get(dest.addr)
                if conn is None:
                    conn = socket.create_connection(dest.addr, timeout=2.0)
                    conn.setblocking(False)
                    self.conns[conn] = bytearray()
                    self._by_addr[dest.addr] = conn
                    dest.conn = conn
                conn.sendall(data)
            else:
                self.udp.sendto(data, dest.addr)
            return True
        except OSError as exc:
            log.info("SIP send to %s %s failed: %s", dest.transport, dest.addr, exc)
            return False

    def close(self) -> None:
        """Close every socket."""
        for conn in list(self.conns):
            self._drop(conn)
        self.udp.close()
        if self.tcp is not None:
            self.tcp.close()


class RateLimit:
    """Token buckets per source address: `rate` new requests per second, bursts of `burst`."""

    def __init__(self, rate: float = 20.0, burst: float = 40.0, max_sources: int = 10000) -> None:
        self.rate, self.burst, self.max_sources = rate, burst, max_sources
        self._buckets: dict[str, tuple[float, float]] = {}
        self.refused = 0

    def allow(self, source: str, now: float) -> bool:
        """Take a token for `source`; False when it is over its rate."""
        tokens, last = self._buckets.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self._buckets) >= self.max_sources and source not in self._buckets:
            self._buckets.clear()
        if tokens < 1.0:
            self._buckets[source] = (tokens, now)
            self.refused += 1
            return False
        self._buckets[source] = (tokens - 1.0, now)
        return True
