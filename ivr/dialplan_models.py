"""SQLAlchemy tables of the outbound dial plan: outbound routes, dial rules per role, per-account caps."""
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkline.data.db import Base


class OutboundRoute(Base):
    """Numbers matching `pattern` go out on `trunk` (empty: any), `strip` leading digits removed, `prefix`
    put in front, caller ID `caller_id` (empty: as asked); the lowest `priority` that matches wins."""
    __tablename__ = "outbound_routes"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    pattern: Mapped[str] = mapped_column(String(64), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    trunk: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    strip: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    caller_id: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class DialRule(Base):
    """Allow or deny dials by `role` ("*" = every role) to numbers matching `pattern` and/or of destination
    class `dest_class`; the lowest `priority` that matches wins, else the shipped class defaults apply."""
    __tablename__ = "dial_rules"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="*")
    pattern: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    dest_class: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(8), nullable=False, default="deny")     # allow | deny
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class DialCap(Base):
    """At most `per_hour` / `per_day` outbound dials (0 = no limit) per account of `role`
    (`account` empty: each account of the role; else that account alone)."""
    __tablename__ = "dial_caps"
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    per_hour: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    per_day: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
