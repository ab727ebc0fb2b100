"""The state of one SIP call (Leg) and of one registration, as the SIP signaling keeps them."""
from __future__ import annotations

from dataclasses import dataclass, field

from trunkline.drivers.sip import sdp
from trunkline.drivers.sip.config import SipTrunk
from trunkline.drivers.sip.message import SipMessage
from trunkline.drivers.sip.transport import Source
from trunkline.drivers.sip.ua import Credentials, Dialog, new_tag


@dataclass
class Leg:
    """One SIP call on one channel."""
    ch: int                     # board channel
    direction: str              # "in" / "out"
    call_id: str
    trunk: str
    state: str = "offered"      # offered, early, up, ending
    dialog: Dialog | None = None
    invite: SipMessage | None = None      # inbound INVITE (answered later) / our outbound INVITE
    src: Source | None = None
    local_tag: str = field(default_factory=new_tag)
    remote_sdp: sdp.Sdp | None = None
    pt: int = 8
    held: bool = False
    session_expires: int = 0
    we_refresh: bool = False
    last_refresh: float = 0.0
    rang: bool = False
    cancel_on_provisional: bool = False
    creds: Credentials | None = None
    created: float = 0.0


@dataclass
class Registration:
    """Our registration with a trunk's registrar: state shown in the admin."""
    trunk: SipTrunk
    call_id: str = field(default_factory=lambda: new_tag() + "@trunkline")
    seq: int = 0
    state: str = "unregistered"     # registering, registered, failed
    expires_at: float = 0.0
    next_try: float = 0.0
    last_status: int = 0
