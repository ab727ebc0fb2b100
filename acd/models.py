"""ACD tables (prefixed acd_) on the shared declarative Base.

The database is the ACD's single source of truth so that several Trunkline
servers sharing one PostgreSQL run one ACD: agents and their states, queue
entries (callers waiting), member/skill configuration, the queue_log, CTI
event documents and agent/supervisor commands all live here. Times are
seconds (float) on the ACD clock (see `ACDCore.now`).
"""
from typing import cast

from sqlalchemy import JSON, Engine, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from trunkline.data.db import Base


class AcdQueue(Base):
    """A queue: strategy, options (JSON, see queues.QueueConfig) and round-robin memory."""
    __tablename__ = "acd_queues"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32), default="longest-idle")
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    rr_last: Mapped[str | None] = mapped_column(String(64), nullable=True)   # round-robin memory
    enabled: Mapped[int] = mapped_column(Integer, default=1)


class AcdAgent(Base):
    """An agent: where to reach them, their state and counters."""
    __tablename__ = "acd_agents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)            # agent number, e.g. "1001"
    name: Mapped[str] = mapped_column(String(128), default="")
    pin: Mapped[str] = mapped_column(String(128), default="")   # trunkline.data.pins hash, "" = no PIN
    station_port: Mapped[int | None] = mapped_column(Integer, nullable=True)  # FXS port on `host`
    number: Mapped[str | None] = mapped_column(String(64), nullable=True)     # external number via a trunk
    host: Mapped[str | None] = mapped_column(String(64), nullable=True)       # instance owning the station
    state: Mapped[str] = mapped_column(String(16), default="logged_out")
    reason: Mapped[str] = mapped_column(String(64), default="")
    state_since: Mapped[float] = mapped_column(Float, default=0.0)
    ready_since: Mapped[float] = mapped_column(Float, default=0.0)           # idle since (longest-idle)
    wrap_until: Mapped[float] = mapped_column(Float, default=0.0)
    pause_until: Mapped[float] = mapped_column(Float, default=0.0)           # reject/busy delay
    missed: Mapped[int] = mapped_column(Integer, default=0)                  # consecutive no-answers
    current_entry: Mapped[int | None] = mapped_column(Integer, nullable=True)
    calls_taken: Mapped[int] = mapped_column(Integer, default=0)
    talk_time: Mapped[float] = mapped_column(Float, default=0.0)
    login_at: Mapped[float] = mapped_column(Float, default=0.0)
    pending: Mapped[str] = mapped_column(String(80), default="")          # "break:<reason>" / "logout" after the call


class AcdMember(Base):
    """Queue membership: penalty (tier level), position (top-down order), weight, per-queue stats."""
    __tablename__ = "acd_members"
    queue: Mapped[str] = mapped_column(ForeignKey("acd_queues.name", ondelete="CASCADE"), primary_key=True)
    agent: Mapped[str] = mapped_column(ForeignKey("acd_agents.id", ondelete="CASCADE"), primary_key=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    talk_time: Mapped[float] = mapped_column(Float, default=0.0)
    last_call_end: Mapped[float] = mapped_column(Float, default=0.0)


class AcdSkill(Base):
    """An agent's skill with a level 1..10."""
    __tablename__ = "acd_skills"
    agent: Mapped[str] = mapped_column(ForeignKey("acd_agents.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=1)


class AcdEntry(Base):
    """One caller's stay in a queue (waiting -> offered -> connected -> done)."""
    __tablename__ = "acd_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    instance: Mapped[str] = mapped_column(String(64), default="")        # ACD instance owning the call
    caller_id: Mapped[str] = mapped_column(String(64), default="")
    called: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    skills: Mapped[dict] = mapped_column(JSON, default=dict)             # required {skill: min level}
    data: Mapped[dict] = mapped_column(JSON, default=dict)               # IVR-collected data
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    enqueued_at: Mapped[float] = mapped_column(Float, default=0.0)
    queue_since: Mapped[float] = mapped_column(Float, default=0.0)   # original join time (kept on transfer/callback)
    position_at_entry: Mapped[int] = mapped_column(Integer, default=1)
    ewt_at_entry: Mapped[float] = mapped_column(Float, default=0.0)
    offered_to: Mapped[list] = mapped_column(JSON, default=list)
    offer_at: Mapped[float] = mapped_column(Float, default=0.0)
    target_agent: Mapped[str | None] = mapped_column(String(64), nullable=True)   # direct transfer to one agent
    agent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    wrapup: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(32), default="")
    callback_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recording: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (Index("ix_acd_entries_state_prio", "state", "priority", "enqueued_at"),)


class AcdQueueLog(Base):
    """app_queue-style queue_log line: time|callid|queue|agent|event|data1..data5."""
    __tablename__ = "acd_queue_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Float, index=True)
    callid: Mapped[str] = mapped_column(String(64), default="NONE")
    queue: Mapped[str] = mapped_column(String(64), default="NONE")
    agent: Mapped[str] = mapped_column(String(64), default="NONE")
    event: Mapped[str] = mapped_column(String(32), index=True)
    data1: Mapped[str] = mapped_column(String(128), default="")
    data2: Mapped[str] = mapped_column(String(128), default="")
    data3: Mapped[str] = mapped_column(String(128), default="")
    data4: Mapped[str] = mapped_column(String(128), default="")
    data5: Mapped[str] = mapped_column(String(128), default="")


class AcdCtiEvent(Base):
    """One CTI JSON document; agent is set for per-agent events (supervisor stream sees all)."""
    __tablename__ = "acd_cti_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Float)
    agent: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(48))
    doc: Mapped[dict] = mapped_column(JSON, default=dict)


class AcdCommand(Base):
    """A control request from the web admin (ready/break/transfer/hangup/monitor) for the ACD to carry out."""
    __tablename__ = "acd_commands"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(String(64), index=True)
    cmd: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[float] = mapped_column(Float, default=0.0)
    taken_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    done: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str] = mapped_column(Text, default="")


class AcdShift(Base):
    """A staff shift (班次) of a queue's agents (`group`) or of one agent: local times HH:MM (`end` <= `start` =
    ends the next day), weekdays "mon,tue,..", breaks "HH:MM-HH:MM,..", an optional calendar whose holidays
    cancel the shift and whose make-up workdays (调休) add it."""
    __tablename__ = "acd_shifts"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    group: Mapped[str] = mapped_column(String(64), default="")              # a queue: its members
    agent: Mapped[str] = mapped_column(String(64), default="")              # or one agent
    weekdays: Mapped[str] = mapped_column(String(64), default="mon,tue,wed,thu,fri")
    start: Mapped[str] = mapped_column(String(5), default="09:00")
    end: Mapped[str] = mapped_column(String(5), default="18:00")
    breaks: Mapped[str] = mapped_column(String(255), default="")
    calendar: Mapped[str] = mapped_column(String(64), default="")
    enabled: Mapped[int] = mapped_column(Integer, default=1)


ACD_TABLES: list[Table] = [cast(Table, m.__table__) for m in (AcdQueue, AcdAgent, AcdMember, AcdSkill, AcdEntry,
                                    AcdQueueLog, AcdCtiEvent, AcdCommand, AcdShift)]


def create_tables(engine: Engine) -> None:
    """Create the ACD tables (only those) on an SQLAlchemy engine."""
    Base.metadata.create_all(engine, tables=ACD_TABLES)
