"""Application headers (X-...) on SIP calls: set on an outbound INVITE through the dialled URI's header part
(RFC 3261 19.1.1, `sip:user@host?X-Name=value`, percent-encoded), and handed to the engine from an
inbound INVITE (call.vars["sip_headers"]). Only X- headers pass: a URI cannot set Via, Route or auth."""
from __future__ import annotations

from urllib.parse import unquote

from trunkline.drivers.sip.message import SipMessage, canonical

MAX_HEADERS = 16          # X- headers taken from one INVITE
MAX_VALUE = 8192          # bytes of one header value


def _is_x_token(name: str) -> bool:
    return name.lower().startswith("x-") and len(name) <= 64 and all(c.isalnum() or c in "-_." for c in name)


def split_uri_headers(uri: str) -> tuple[str, list[tuple[str, str]]]:
    """`sip:u@h?X-A=1&X-B=2` -> ("sip:u@h", [("X-A", "1"), ("X-B", "2")]); ValueError for a header that is
    not an X- header or a value with a line break or over MAX_VALUE bytes."""
    base, sep, query = uri.partition("?")
    if not sep:
        return uri, []
    out: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote(name), unquote(value)
        if not _is_x_token(name):
            raise ValueError(f"only X- headers may be set through a URI, not {name[:40]!r}")
        if "\r" in value or "\n" in value or len(value.encode()) > MAX_VALUE:
            raise ValueError(f"header {name} has a line break or is longer than {MAX_VALUE} bytes")
        out.append((canonical(name), value))
    if len(out) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers in a URI")
    return base, out


def x_headers(msg: SipMessage) -> dict[str, str]:
    """The X- headers of a message (first value of each; at most MAX_HEADERS, values cut to MAX_VALUE)."""
    out: dict[str, str] = {}
    for name, value in msg.headers:
        if len(out) >= MAX_HEADERS:
            break
        if _is_x_token(name) and name not in out:
            out[name] = value[:MAX_VALUE]
    return out
