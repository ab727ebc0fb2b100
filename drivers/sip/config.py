"""SIP span settings: where to listen, trunks (by peer address or registration), credentials, codecs."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SipTrunk:
    """A SIP trunk: a peer by address (`host`), or a carrier/proxy we REGISTER with (`register`).

    username/password: what we answer its challenges with (and register as); inbound_auth: INVITEs from
    it must authenticate with these credentials (401); outbound: calls may leave through it."""
    name: str
    host: str = ""
    port: int = 5060
    transport: str = "UDP"
    username: str = ""
    password: str = ""
    register: bool = False
    register_expires: int = 300
    inbound_auth: bool = False
    outbound: bool = True
    codecs: list[str] = field(default_factory=lambda: ["PCMA", "PCMU"])

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SipTrunk:
        """Build from a config mapping (unknown keys refused with a clear error)."""
        known = set(cls.__dataclass_fields__)
        bad = set(d) - known
        if bad:
            raise ValueError(f"sip trunk {d.get('name', '?')!r}: unknown keys {sorted(bad)}")
        if not d.get("name"):
            raise ValueError("sip trunk without a name")
        t = cls(**d)
        t.transport = t.transport.upper()
        if t.transport not in ("UDP", "TCP"):
            raise ValueError(f"sip trunk {t.name}: transport must be UDP or TCP")
        if t.register and not (t.host and t.username):
            raise ValueError(f"sip trunk {t.name}: register needs host and username")
        return t


@dataclass
class SipSettings:
    """Everything a SIP span needs; `listen` is host:port (UDP and TCP)."""
    listen: str
    channels: int = 30
    rtp_host: str = ""                     # default: the listen host
    rtp_port_base: int = 0                 # 0: any free even port
    rtp_per_socket: int = 16               # streams sharing one RTP socket (1: a socket per call)
    realm: str = "trunkline"
    trunks: list[SipTrunk] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)    # user -> password accepted on inbound INVITEs
    open_numbers: list[str] = field(default_factory=list)  # numbers reachable without auth ...
    open_sources: list[str] = field(default_factory=lambda: ["127.0.0.0/8"])   # ... from these networks
    codecs: list[str] = field(default_factory=lambda: ["PCMA", "PCMU"])
    invite_rate: float = 10.0              # new INVITEs per second per source address
    invite_burst: float = 30.0
    session_expires: int = 1800
    t38: bool = True                       # T.38 fax: offered by fax jobs, accepted from peers (else 488)
    t38_trigger: str = "job"               # re-INVITE to T.38 when the fax job starts, or on "tones" (CED/V.21)

    @property
    def host(self) -> str:
        """The listen host."""
        return self.listen.rpartition(":")[0] or "0.0.0.0"

    @property
    def port(self) -> int:
        """The listen port."""
        return int(self.listen.rpartition(":")[2])

    def open_source(self, ip: str) -> bool:
        """True when `ip` is in one of open_sources."""
        try:
            addr = ipaddress.ip_address(ip)
            return any(addr in ipaddress.ip_network(n, strict=False) for n in self.open_sources)
        except ValueError:
            return False


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port` -> (host, port); ValueError with the reason otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"sip_listen must be host:port, got {text!r}")
    return host, int(port)
