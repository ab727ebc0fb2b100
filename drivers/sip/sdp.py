"""SDP offer/answer (RFC 3264) for G.711 audio: PCMA, PCMU, telephone-event (RFC 4733), ptime 20."""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

CODECS = {"PCMU": 0, "PCMA": 8}
STATIC = {0: "PCMU", 8: "PCMA"}
_version = itertools.count(1)


class SdpError(ValueError):
    """An SDP body we cannot use (no audio, no common codec, malformed)."""


@dataclass
class Sdp:
    """What matters of a session description: address, port, payloads in order, telephone-event, direction."""
    ip: str
    port: int
    payloads: list[int]
    names: dict[int, str] = field(default_factory=dict)   # payload type -> encoding name
    event_pt: int | None = None
    direction: str = "sendrecv"
    ptime: int = 20
    t38: bool = False
    ssrc: int | None = None       # a=ssrc of the audio stream (RFC 5576): tells streams from one address apart

    @property
    def audio_pt(self) -> int | None:
        """The first G.711 payload type in the list."""
        for pt in self.payloads:
            if self.names.get(pt, STATIC.get(pt, "")).upper() in CODECS:
                return pt
        return None


def parse(body: bytes | str) -> Sdp:
    """Parse an SDP body (first audio stream); SdpError when malformed or without audio."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    ip, port, payloads, names, direction, ptime = "", -1, [], {}, "sendrecv", 20
    event_pt, in_audio, session_dir, t38 = None, False, None, False
    ssrc: int | None = None
    for raw in text.splitlines()[:400]:
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, val = line[0], line[2:]
        if kind == "c":
            m = re.match(r"IN IP4 ([0-9.]+|[A-Za-z0-9.-]+)", val)
            if m and (in_audio or not ip):
                ip = m.group(1)
        elif kind == "m":
            parts = val.split()
            if in_audio:
                break
            if len(parts) >= 4 and parts[0] == "audio" and port < 0:
                in_audio = True
                port = int(parts[1]) if parts[1].isdigit() else -1
                payloads = [int(p) for p in parts[3:] if p.isdigit() and int(p) < 128]
            elif len(parts) >= 3 and parts[0] == "image" and parts[2].lower() == "udptl":
                t38 = True
        elif kind == "a":
            attr, _, rest = val.partition(":")
            if attr in ("sendrecv", "sendonly", "recvonly", "inactive"):
                if in_audio:
                    direction = attr
                else:
                    session_dir = attr
            elif attr == "rtpmap" and in_audio:
                m = re.match(r"(\d+) ([A-Za-z0-9_.-]+)/(\d+)", rest)
                if m:
                    names[int(m.group(1))] = m.group(2)
                    if m.group(2).lower() == "telephone-event" and m.group(3) == "8000":
                        event_pt = int(m.group(1))
            elif attr == "ptime" and rest.strip().isdigit():
                ptime = int(rest.strip())
            elif attr == "ssrc" and in_audio and ssrc is None:
                num = rest.split(" ", 1)[0]
                if num.isdigit() and int(num) < 2**32:
                    ssrc = int(num)
    if port < 0 or port > 65535 or not ip:
        raise SdpError("no audio stream with an IPv4 address")
    if session_dir and direction == "sendrecv":
        direction = session_dir
    if ip == "0.0.0.0":
        direction = "inactive" if direction == "sendrecv" else direction
    return Sdp(ip, port, payloads, names, event_pt, direction, ptime, t38, ssrc)


def build(ip: str, port: int, payloads: list[int], event_pt: int | None = 101, direction: str = "sendrecv",
          session_id: int | None = None, ssrc: int | None = None) -> bytes:
    """An SDP body offering/answering `payloads` (0/8) plus telephone-event on `event_pt`; `ssrc`: the SSRC
    we send with (a=ssrc, so a far end whose streams share our address can tell them apart)."""
    sid = session_id if session_id is not None else next(_version) + 1000
    fmts = [str(p) for p in payloads] + ([str(event_pt)] if event_pt is not None else [])
    lines = ["v=0", f"o=trunkline {sid} {next(_version)} IN IP4 {ip}", "s=trunkline", f"c=IN IP4 {ip}",
             "t=0 0", f"m=audio {port} RTP/AVP {' '.join(fmts)}"]
    lines += [f"a=rtpmap:{p} {STATIC[p]}/8000" for p in payloads]
    if event_pt is not None:
        lines += [f"a=rtpmap:{event_pt} telephone-event/8000", f"a=fmtp:{event_pt} 0-16"]
    lines += ["a=ptime:20", f"a={direction}"]
    if ssrc is not None:
        lines.append(f"a=ssrc:{ssrc} cname:trunkline")
    return ("\r\n".join(lines) + "\r\n").encode()


ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


def answer_codec(offer: Sdp, prefs: list[str]) -> int:
    """The payload type we answer with: the first offered one among our preferences (PCMA/PCMU)."""
    ours = [CODECS[c] for c in prefs if c in CODECS]
    for pt in offer.payloads:
        name = offer.names.get(pt, STATIC.get(pt, "")).upper()
        if name in CODECS and CODECS[name] in ours:
            return CODECS[name]
    raise SdpError("no common codec")
