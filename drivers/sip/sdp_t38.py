"""SDP for T.38 fax (ITU-T T.38 Annex D, RFC 3362/4612): `m=image <port> udptl t38` with T38FaxVersion,
T38MaxBitRate, T38FaxRateManagement, T38FaxMaxBuffer, T38FaxMaxDatagram and T38FaxUdpEC."""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

__all__ = ["T38Sdp", "parse_t38", "build_t38", "answer_t38"]
_version = itertools.count(1)


@dataclass
class T38Sdp:
    """A T.38 image stream: where to send UDPTL, and the T.38 parameters of the description."""
    ip: str
    port: int
    version: int = 0
    max_bit_rate: int = 14400
    rate_management: str = "transferredTCF"
    max_buffer: int = 2000
    max_datagram: int = 400
    udp_ec: str = "t38UDPRedundancy"


def parse_t38(body: bytes | str) -> T38Sdp | None:
    """The first `m=image ... udptl t38` stream with a non-zero port in an SDP body, or None."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    ip, found, sdp = "", False, None
    for raw in text.splitlines()[:400]:
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, val = line[0], line[2:]
        if kind == "m":
            if found:
                break
            parts = val.split()
            if len(parts) >= 4 and parts[0] == "image" and parts[2].lower() == "udptl" and parts[1].isdigit() \
                    and 0 < int(parts[1]) < 65536 and parts[3].lower() == "t38":
                found = True
                sdp = T38Sdp(ip, int(parts[1]))
        elif kind == "c":
            m = re.match(r"IN IP4 ([0-9.]+|[A-Za-z0-9.-]+)", val)
            if m:
                if sdp is not None:
                    sdp.ip = m.group(1)
                else:
                    ip = m.group(1)
        elif kind == "a" and sdp is not None:
            attr, _, rest = val.partition(":")
            rest = rest.strip()
            key = attr.strip().lower()
            if key == "t38faxversion" and rest.isdigit():
                sdp.version = min(int(rest), 3)
            elif key == "t38maxbitrate" and rest.isdigit():
                sdp.max_bit_rate = int(rest)
            elif key == "t38faxratemanagement":
                sdp.rate_management = rest
            elif key == "t38faxmaxbuffer" and rest.isdigit():
                sdp.max_buffer = int(rest)
            elif key in ("t38faxmaxdatagram", "t38maxdatagram") and rest.isdigit():
                sdp.max_datagram = max(64, min(int(rest), 1500))
            elif key == "t38faxudpec":
                sdp.udp_ec = rest
    if sdp is None or not sdp.ip:
        return None
    return sdp


def build_t38(ip: str, port: int, params: T38Sdp | None = None, session_id: int = 1000) -> bytes:
    """An SDP body with one T.38 image stream on `ip`:`port` (our parameters, or `params` in an answer)."""
    p = params or T38Sdp(ip, port)
    lines = ["v=0", f"o=trunkline {session_id} {next(_version) + 1000} IN IP4 {ip}", "s=trunkline",
             f"c=IN IP4 {ip}", "t=0 0", f"m=image {port} udptl t38",
             f"a=T38FaxVersion:{p.version}", f"a=T38MaxBitRate:{p.max_bit_rate}",
             "a=T38FaxFillBitRemoval:0", "a=T38FaxTranscodingMMR:0", "a=T38FaxTranscodingJBIG:0",
             f"a=T38FaxRateManagement:{p.rate_management}", f"a=T38FaxMaxBuffer:{p.max_buffer}",
             f"a=T38FaxMaxDatagram:{p.max_datagram}", f"a=T38FaxUdpEC:{p.udp_ec}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def answer_t38(offer: T38Sdp) -> T38Sdp:
    """Our answer's parameters to a T.38 offer: version 0 at most, up to 14400 bit/s, transferred TCF,
    redundancy (what we implement)."""
    return T38Sdp(offer.ip, offer.port, version=0, max_bit_rate=min(offer.max_bit_rate or 14400, 14400),
                  rate_management="transferredTCF", max_buffer=2000, max_datagram=min(offer.max_datagram, 400),
                  udp_ec="t38UDPRedundancy")
