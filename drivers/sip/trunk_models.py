"""SQLAlchemy table of the SIP trunks set in the web admin (sip_trunks), and the SipTrunk each row stands for."""
from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkline.data.db import Base
from trunkline.drivers.sip.config import SipTrunk

#: codec orders a trunk may offer (first = preferred)
CODEC_ORDERS = ["PCMA,PCMU", "PCMU,PCMA", "PCMA", "PCMU"]


class SipTrunkRow(Base):
    """A SIP trunk defined in the web admin: peer `host`:`port` over `transport` (UDP|TCP); `username` /
    `password` answer its challenges and, with `register`, REGISTER every `register_expires` s; `inbound_auth`:
    its INVITEs must authenticate, else it is trusted by address; `codecs`: comma-separated order; disabled
    rows are not loaded."""
    __tablename__ = "sip_trunks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    port: Mapped[int] = mapped_column(Integer, nullable=False, default=5060)
    transport: Mapped[str] = mapped_column(String(8), nullable=False, default="UDP")
    username: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    password: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    register: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    register_expires: Mapped[int] = mapped_column(Integer, nullable=False, default=300)
    inbound_auth: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    outbound: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    codecs: Mapped[str] = mapped_column(String(32), nullable=False, default="PCMA,PCMU")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def to_trunk(self) -> SipTrunk:
        """The SipTrunk this row configures (SipTrunk.from_dict's checks apply; ValueError if refused)."""
        return SipTrunk.from_dict({
            "name": self.name, "host": self.host or "", "port": int(self.port or 5060),
            "transport": self.transport or "UDP", "username": self.username or "", "password": self.password or "",
            "register": bool(self.register), "register_expires": int(self.register_expires or 300),
            "inbound_auth": bool(self.inbound_auth), "outbound": bool(self.outbound),
            "codecs": [c for c in (self.codecs or "PCMA,PCMU").split(",") if c]})
