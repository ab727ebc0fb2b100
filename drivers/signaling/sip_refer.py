"""REFER from a SIP peer (RFC 3515): the peer asks us to transfer the call (blind: call the Refer-To
target; attended: Refer-To carries Replaces naming another of our dialogs with the peer, RFC 3891). The
request is accepted (202) and handed to the media layer's hook; its progress goes back as NOTIFY with a
message/sipfrag body (100 Trying, then the outcome)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from trunkline.drivers.sip.legs import Leg
from trunkline.drivers.sip.message import SipMessage, SipParseError, parse_name_addr, parse_uri
from trunkline.drivers.sip.transport import Source

if TYPE_CHECKING:   # SipSignaling calls these with itself (sip.py imports this module)
    from trunkline.drivers.signaling.sip import SipSignaling

log = logging.getLogger("trunkline.sip")

#: hook(signaling, channel, target URI, channel of the replaced dialog or None): carry the transfer out
ReferHook = Callable[["SipSignaling", int, str, "int | None"], None]


def replaces_of(target: str) -> tuple[str, tuple[str, str, str] | None]:
    """`sip:b@h?Replaces=cid%3Bto-tag%3Dx%3Bfrom-tag%3Dy` -> ("sip:b@h", (cid, to-tag, from-tag))."""
    uri, _, query = target.partition("?")
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if unquote(name).lower() == "replaces":
            cid, *params = unquote(value).split(";")
            tags = dict(p.strip().partition("=")[::2] for p in params)
            return uri, (cid.strip(), tags.get("to-tag", ""), tags.get("from-tag", ""))
    return uri, None


def on_refer(sig: SipSignaling, leg: Leg, msg: SipMessage, src: Source) -> None:
    """A REFER inside a call's dialog: 202 and hand it to the hook, or refuse it with a clear status."""
    ua = sig.ua
    try:
        target, replaces = replaces_of(parse_name_addr(msg.get("Refer-To")).uri)
        parse_uri(target)
    except (SipParseError, ValueError):
        ua.respond(msg, src, 400, reason="Bad Refer-To")
        return
    hook: ReferHook | None = sig.on_refer
    if hook is None or leg.state != "up":
        ua.respond(msg, src, 603 if hook is None else 481)
        return
    replaced = None
    if replaces is not None:
        other = sig.by_call_id.get(replaces[0])
        if other is None or other is leg or other.state != "up":
            ua.respond(msg, src, 481, reason="Replaced dialog unknown")
            return
        replaced = other.ch
    ua.respond(msg, src, 202, headers=[("Contact", ua.contact("trunkline", src.transport))])
    notify(sig, leg.ch, 100, "Trying")
    log.info("SIP call %s: REFER to %s%s", leg.call_id, target, " (replaces %s)" % replaces[0] if replaces else "")
    hook(sig, leg.ch, target, replaced)


def notify(sig: SipSignaling, channel: int, status: int, reason: str) -> None:
    """NOTIFY the peer that REFERred the call on `channel` of the transfer's progress (sipfrag)."""
    leg = sig.legs.get(channel)
    if leg is None or leg.dialog is None:
        return
    state = "active;expires=60" if status < 200 else "terminated;reason=noresource"
    sig.ua.dialog_request(leg.dialog, "NOTIFY", lambda r: None, body=f"SIP/2.0 {status} {reason}\r\n".encode(),
                          content_type="message/sipfrag;version=2.0",
                          headers=[("Event", "refer"), ("Subscription-State", state),
                                   ("Contact", sig.ua.contact("trunkline", leg.dialog.dest.transport))],
                          creds=leg.creds)
