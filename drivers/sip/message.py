"""SIP messages (RFC 3261 section 7): parse from bytes, build, and read headers, addresses and URIs."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_MESSAGE = 65535
MAX_HEADERS = 200
COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via",
           "r": "refer-to", "b": "referred-by", "x": "session-expires", "o": "event"}
CANONICAL = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
             "min-se": "Min-SE", "rseq": "RSeq"}
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")


class SipParseError(ValueError):
    """A message that is not valid SIP (the stack drops it, or answers 400 when it can)."""


def canonical(name: str) -> str:
    """The usual spelling of a header name (Call-ID, CSeq, Content-Length...)."""
    low = name.lower()
    low = COMPACT.get(low, low)
    return CANONICAL.get(low, "-".join(p.capitalize() for p in low.split("-")))


@dataclass
class SipUri:
    """sip:user@host:port;params — port 0 when absent."""
    user: str
    host: str
    port: int = 0
    params: dict[str, str] = field(default_factory=dict)
    scheme: str = "sip"

    def __str__(self) -> str:
        u = f"{self.user}@" if self.user else ""
        p = f":{self.port}" if self.port else ""
        ps = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        return f"{self.scheme}:{u}{self.host}{p}{ps}"


def parse_uri(text: str) -> SipUri:
    """Parse a sip:/sips:/tel: URI; SipParseError when it is not one."""
    text = text.strip()
    m = re.match(r"^(sips?|tel):(?:([^@;]*)@)?([^;:?]+)(?::(\d{1,5}))?((?:;[^?]*)?)", text, re.I)
    if not m:
        raise SipParseError(f"bad URI {text[:80]!r}")
    params: dict[str, str] = {}
    for part in m.group(5).split(";")[1:]:
        k, _, v = part.partition("=")
        params[k.strip().lower()] = v.strip()
    port = int(m.group(4)) if m.group(4) else 0
    if port > 65535:
        raise SipParseError("bad port")
    return SipUri(m.group(2) or "", m.group(3), port, params, m.group(1).lower())


@dataclass
class NameAddr:
    """A From/To/Contact value: display name, URI, and header parameters (tag...)."""
    display: str
    uri: str
    params: dict[str, str]

    def __str__(self) -> str:
        d = f'"{self.display}" ' if self.display else ""
        ps = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        return f"{d}<{self.uri}>{ps}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse `"Name" <sip:...>;tag=x` or `sip:...;tag=x`."""
    value = value.strip()
    display = ""
    if "<" in value:
        head, _, rest = value.partition("<")
        uri, sep, tail = rest.partition(">")
        if not sep:
            raise SipParseError("unterminated <uri>")
        display = head.strip().strip('"')
    else:
        uri, _, tail = value.partition(";")
        tail = ";" + tail if tail else ""
    params: dict[str, str] = {}
    for part in tail.split(";")[1:]:
        k, _, v = part.partition("=")
        if k.strip():
            params[k.strip().lower()] = v.strip()
    return NameAddr(display, uri.strip(), params)


class SipMessage:
    """A request (method, uri) or a response (status, reason) with ordered headers and a body."""

    def __init__(self, method: str = "", uri: str = "", status: int = 0, reason: str = "",
                 headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self.method = method
        self.uri = uri
        self.status = status
        self.reason = reason
        self.headers: list[tuple[str, str]] = headers or []
        self.body = body

    @property
    def is_request(self) -> bool:
        """True for a request."""
        return bool(self.method)

    def get(self, name: str, default: str = "") -> str:
        """The first value of a header (any spelling), or default."""
        key = canonical(name)
        for k, v in self.headers:
            if k == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (not for auth headers)."""
        key = canonical(name)
        out: list[str] = []
        for k, v in self.headers:
            if k == key:
                out.extend(_split_commas(v))
        return out

    def set(self, name: str, value: str) -> None:
        """Replace a header's values by one value (appended when absent)."""
        key = canonical(name)
        self.headers = [(k, v) for k, v in self.headers if k != key]
        self.headers.append((key, value))

    def add(self, name: str, value: str, first: bool = False) -> None:
        """Add one header value (at the top with first=True, as for Via)."""
        item = (canonical(name), value)
        if first:
            self.headers.insert(0, item)
        else:
            self.headers.append(item)

    def remove(self, name: str) -> None:
        """Drop a header."""
        key = canonical(name)
        self.headers = [(k, v) for k, v in self.headers if k != key]

    @property
    def call_id(self) -> str:
        """Call-ID."""
        return self.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method) of CSeq."""
        num, _, meth = self.get("CSeq").strip().partition(" ")
        return int(num), meth.strip().upper()

    def tag(self, which: str) -> str:
        """The tag of From or To ('' when none)."""
        return parse_name_addr(self.get(which)).params.get("tag", "")

    def via_params(self) -> dict[str, str]:
        """Parameters of the top Via (branch, received, rport...) plus 'sent-by' and 'transport'."""
        top = self.get_all("Via")
        if not top:
            raise SipParseError("no Via")
        proto, _, rest = top[0].strip().partition(" ")
        parts = rest.strip().split(";")
        out = {"sent-by": parts[0].strip(), "transport": proto.rpartition("/")[2].upper()}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            out[k.strip().lower()] = v.strip()
        return out

    def to_bytes(self) -> bytes:
        """Serialise with a correct Content-Length."""
        first = (f"{self.method} {self.uri} SIP/2.0" if self.method
                 else f"SIP/2.0 {self.status} {self.reason}")
        lines = [first] + [f"{k}: {v}" for k, v in self.headers if k != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + self.body

    def __repr__(self) -> str:
        return f"<SIP {self.method or self.status} {self.uri or self.reason} {self.call_id}>"


def _split_commas(value: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    for ch in value:
        if ch == '"':
            quote = not quote
        elif ch == "<" and not quote:
            depth += 1
        elif ch == ">" and not quote:
            depth = max(0, depth - 1)
        if ch == "," and depth == 0 and not quote:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def parse(data: bytes) -> SipMessage:
    """Parse one SIP message; SipParseError on anything malformed (never another exception)."""
    try:
        return _parse(data)
    except SipParseError:
        raise
    except (ValueError, IndexError, UnicodeError) as exc:
        raise SipParseError(str(exc)) from None


def _parse(data: bytes) -> SipMessage:
    if len(data) > MAX_MESSAGE:
        raise SipParseError("message too large")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise SipParseError("no end of headers")
    lines = head.decode("utf-8", "strict").replace("\r\n", "\n").split("\n")
    first = lines[0].strip()
    msg = SipMessage()
    if first.startswith("SIP/2.0 "):
        code, _, reason = first[8:].partition(" ")
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
            raise SipParseError("bad status line")
        msg.status, msg.reason = int(code), reason
    else:
        parts = first.split(" ")
        if len(parts) != 3 or parts[2] != "SIP/2.0" or not _TOKEN.match(parts[0]):
            raise SipParseError(f"bad request line {first[:80]!r}")
        msg.method, msg.uri = parts[0].upper(), parts[1]
        parse_uri(msg.uri)
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":            # folded header line
            if not msg.headers:
                raise SipParseError("continuation without header")
            k, v = msg.headers[-1]
            msg.headers[-1] = (k, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name.strip()):
            raise SipParseError(f"bad header line {line[:80]!r}")
        msg.headers.append((canonical(name.strip()), value.strip()))
        if len(msg.headers) > MAX_HEADERS:
            raise SipParseError("too many headers")
    for required in ("Via", "Call-ID", "CSeq", "From", "To"):
        if not msg.get(required):
            raise SipParseError(f"missing {required}")
    num, meth = msg.cseq
    if num < 0 or num >= 2**31 or not meth:
        raise SipParseError("bad CSeq")
    msg.via_params()
    clen = msg.get("Content-Length")
    if clen:
        n = int(clen)
        if n < 0 or n > len(body):
            raise SipParseError("truncated body")
        body = body[:n]
    msg.body = body
    return msg


def frame_length(buf: bytes) -> int | None:
    """Stream transports: the length of the first whole message in buf, None when incomplete (TCP framing)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_MESSAGE:
            raise SipParseError("header too long")
        return None
    m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$", buf[:end])
    n = int(m.group(1)) if m else 0
    if n > MAX_MESSAGE:
        raise SipParseError("body too long")
    return end + 4 + n if len(buf) >= end + 4 + n else None
