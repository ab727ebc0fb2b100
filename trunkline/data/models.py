"""Core tables kept by Trunkline: users, audit/error logs, CDRs, recordings,
boards/spans, faxes, SMS, queue events.

Calendars, blacklist, prompts, voicemail and flows are the IVR's tables
(ivr/models.py, ``ivr_*``); queues, agents and skills the ACD's (acd/models.py).
Areas add their own tables (acd/models.py, ivr/models.py, ...) on the same
`trunkline.data.db.Base`; `trunkline.app.schema` imports them all.
Times are timezone-aware UTC datetimes; durations are seconds (float).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trunkline.data.db import Base
from trunkline.data.timeutil import utcnow

ROLES = ("admin", "supervisor", "agent", "viewer")


class User(Base):
    """A web admin login: username, scrypt/argon2 password hash, role, optional CIDR allowlist."""
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="viewer")
    allow_cidrs: Mapped[str] = mapped_column(Text, nullable=False, default="")  # comma/space separated, "" = any
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    agent_id: Mapped[str | None] = mapped_column(String(64))  # ACD agent this login acts as (role agent)
    queues: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")  # supervisor's groups
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    language: Mapped[str | None] = mapped_column(String(16))   # web admin language chosen (zh_CN / en)


class RoleAllowlist(Base):
    """An IP network (CIDR) a whole role may log in from; no rows for a role = any address."""
    __tablename__ = "role_allowlist"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    cidr: Mapped[str] = mapped_column(String(64), nullable=False)
    __table_args__ = (UniqueConstraint("role", "cidr"),)


class AuditLog(Base):
    """Who did what from which IP and when: every config change, login, listen/barge."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ErrorLog(Base):
    """An error the server caught (web request, flow, driver), viewable by admins."""
    __tablename__ = "error_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    level: Mapped[str] = mapped_column(String(16), nullable=False, default="error")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    traceback: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Cdr(Base):
    """One call detail record; `call_id` is unique so a replayed spool never duplicates."""
    __tablename__ = "cdrs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    seq: Mapped[int | None] = mapped_column(BigInteger)  # writer sequence number (spool order)
    start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    answer: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    direction: Mapped[str] = mapped_column(String(8), nullable=False, default="in")  # in | out
    trunk: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    span: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[int | None] = mapped_column(Integer)
    caller: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    called: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    agent: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False, default="")  # answered, abandoned, ...
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)  # s, start..end
    billsec: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)  # s, answer..end
    wait: Mapped[float | None] = mapped_column(Float)  # s in queue before an agent answered/abandon
    talk: Mapped[float | None] = mapped_column(Float)  # s talking to an agent
    wrapup: Mapped[float | None] = mapped_column(Float)  # s agent after-call work
    survey_score: Mapped[int | None] = mapped_column(Integer)  # 1..5
    ivr_path: Mapped[str] = mapped_column(Text, nullable=False, default="")
    digits: Mapped[str] = mapped_column(Text, nullable=False, default="")  # masked where a node says so
    recording_id: Mapped[int | None] = mapped_column(Integer)
    server: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # the recording policy that applied (none | ivr | agent | whole; "" = none decided); its recordings
    # are the `recordings` rows with this call_id
    recording_policy: Mapped[str] = mapped_column(String(8), nullable=False, default="", server_default="")
    # nodes linked over SIP: every leg of one caller's call (on any node) carries the caller's first call id
    correlation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    peer_node: Mapped[str | None] = mapped_column(String(64))   # the node the call went to / came from


class Recording(Base):
    """A recorded audio file (WAV/FLAC) on disk, indexed for search and playback."""
    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False, default="wav")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    caller: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    agent: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    two_track: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # an open complaint references this recording: retention never deletes it (nor its call's CDR)
    complaint_open: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # the recording policy that made it (none/ivr/agent/whole; NULL: not a policy recording) and the part of
    # the call it holds: ivr (answer to queue entry), agent (bridge to its end), whole (answer to hang-up)
    policy: Mapped[str | None] = mapped_column(String(8), nullable=True)
    part: Mapped[str | None] = mapped_column(String(8), nullable=True)


class Board(Base):
    """A voice/trunk card (real DAHDI or the simulator) by its driver URL."""
    __tablename__ = "boards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    url: Mapped[str] = mapped_column(String(255), nullable=False, default="sim://default")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    spans: Mapped[list["Span"]] = relationship(back_populates="board", cascade="all, delete-orphan")


class Span(Base):
    """One span of a board: trunk type, companding law, channel count, signaling options."""
    __tablename__ = "spans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    trunk: Mapped[str] = mapped_column(String(16), nullable=False, default="pri")  # pri | r2 | analog | station
    law: Mapped[str] = mapped_column(String(8), nullable=False, default="alaw")  # alaw | ulaw
    channels: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    options: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    board: Mapped[Board] = relationship(back_populates="spans")
    __table_args__ = (UniqueConstraint("board_id", "number"),)


class Fax(Base):
    """A sent or received fax: TIFF-F file, remote ident, pages, rate (bit/s), result."""
    __tablename__ = "faxes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), nullable=False)  # in | out
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    number: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    remote_ident: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    path: Mapped[str] = mapped_column(Text, nullable=False)
    pages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bit_rate: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ecm: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="done")  # queued | sending | done
    reason: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    call_id: Mapped[str | None] = mapped_column(String(64))


class Sms(Base):
    """A short message sent or received through a GSM modem."""
    __tablename__ = "sms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    number: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    reference: Mapped[str | None] = mapped_column(String(32))


class QueueEvent(Base):
    """One queue_log line (ENTERQUEUE, CONNECT, ABANDON, ...); `uuid` unique so replay never duplicates."""
    __tablename__ = "queue_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    queue: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    call_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    agent: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    data: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    __table_args__ = (Index("ix_queue_events_queue_at", "queue", "at"),)
