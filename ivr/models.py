"""SQLAlchemy tables of the IVR (all prefixed ``ivr_``) on the shared `trunkline.data.db.Base`."""
import datetime as _dt

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trunkline.data.db import Base
from trunkline.data.timeutil import utcnow

#: stored times are timezone-aware UTC (trunkline.data.timeutil); SQLite hands them back naive (UTC)
UtcDateTime = DateTime(timezone=True)


class IvrFlow(Base):
    """One stored version of a YAML flow document; the highest valid version of a name is live."""
    __tablename__ = "ivr_flows"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80), default="")


class IvrPrompt(Base):
    """A prompt in the library: a converted 8 kHz WAV file, optionally made by TTS or recorded by phone."""
    __tablename__ = "ivr_prompts"
    __table_args__ = (UniqueConstraint("name", "lang"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    lang: Mapped[str] = mapped_column(String(8), default="")
    number: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    path: Mapped[str] = mapped_column(String(400))
    source: Mapped[str] = mapped_column(String(16), default="upload")   # upload | tts | phone
    text: Mapped[str] = mapped_column(Text, default="")
    voice: Mapped[str] = mapped_column(String(40), default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class IvrMailbox(Base):
    """A voicemail box with its PIN, greeting file and notification address."""
    __tablename__ = "ivr_voicemail_boxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    box: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    pin: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(120), default="")
    greeting_path: Mapped[str] = mapped_column(String(400), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    max_seconds: Mapped[float] = mapped_column(Float, default=120.0)
    messages: Mapped[list["IvrVoicemailMessage"]] = relationship(back_populates="mailbox",
                                                                 cascade="all, delete-orphan")


class IvrVoicemailMessage(Base):
    """A recorded voicemail message: file, caller, duration and folder (new / saved)."""
    __tablename__ = "ivr_voicemail_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("ivr_voicemail_boxes.id"), index=True)
    caller: Mapped[str] = mapped_column(String(40), default="")
    call_id: Mapped[str] = mapped_column(String(64), default="")
    path: Mapped[str] = mapped_column(String(400))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    folder: Mapped[str] = mapped_column(String(16), default="new")
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    mailbox: Mapped[IvrMailbox] = relationship(back_populates="messages")


class IvrCalendar(Base):
    """A business-hours calendar: weekly hours as JSON {"mon": [["09:00","18:00"]], ...}."""
    __tablename__ = "ivr_calendars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    weekly: Mapped[dict] = mapped_column(JSON, default=dict)
    days: Mapped[list["IvrCalendarDay"]] = relationship(back_populates="calendar", cascade="all, delete-orphan")


class IvrCalendarDay(Base):
    """A dated exception: a holiday (closed) or a make-up working day (hours, or the weekday's default)."""
    __tablename__ = "ivr_calendar_days"
    __table_args__ = (UniqueConstraint("calendar_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("ivr_calendars.id"), index=True)
    day: Mapped[_dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))        # holiday | workday
    name: Mapped[str] = mapped_column(String(120), default="")
    hours: Mapped[list | None] = mapped_column(JSON, nullable=True)
    calendar: Mapped[IvrCalendar] = relationship(back_populates="days")


class IvrBlacklistEntry(Base):
    """A call-firewall rule: exact number or prefix -> reject (with Q.850 cause) or send to a flow."""
    __tablename__ = "ivr_blacklist"
    __table_args__ = (UniqueConstraint("pattern", "match"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(40))
    match: Mapped[str] = mapped_column(String(8), default="exact")    # exact | prefix
    action: Mapped[str] = mapped_column(String(8), default="reject")  # reject | flow
    flow: Mapped[str] = mapped_column(String(80), default="")
    cause: Mapped[int] = mapped_column(Integer, default=21)           # Q.850 21 = call rejected
    note: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class IvrSurveyScore(Base):
    """A post-call survey score 1-5 stored against the call id (joins the CDR)."""
    __tablename__ = "ivr_survey_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    queue: Mapped[str] = mapped_column(String(80), default="")
    agent: Mapped[str] = mapped_column(String(80), default="")
    caller: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class IvrCallPath(Base):
    """The IVR path and (masked) digits of one call, keyed by call id (joins the CDR)."""
    __tablename__ = "ivr_call_paths"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    flow: Mapped[str] = mapped_column(String(80), default="")
    flow_version: Mapped[int] = mapped_column(Integer, default=0)
    caller: Mapped[str] = mapped_column(String(40), default="")
    called: Mapped[str] = mapped_column(String(40), default="")
    path: Mapped[list] = mapped_column(JSON, default=list)
    digits: Mapped[list] = mapped_column(JSON, default=list)
    outcome: Mapped[str] = mapped_column(String(40), default="")
    started_at: Mapped[float] = mapped_column(Float, default=0.0)
    ended_at: Mapped[float] = mapped_column(Float, default=0.0)


class IvrCampaign(Base):
    """An outbound campaign (ivr.campaign.Campaign) kept across restarts: its settings and its state
    (running | paused | stopped | done); running and paused ones are reloaded when the server starts."""
    __tablename__ = "ivr_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    flow: Mapped[str] = mapped_column(String(80), default="")          # flow registry name run on answer
    caller_id: Mapped[str] = mapped_column(String(40), default="")
    trunk: Mapped[str] = mapped_column(String(16), default="pri")
    max_channels: Mapped[int] = mapped_column(Integer, default=4)
    calls_per_second: Mapped[float] = mapped_column(Float, default=1.0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_after: Mapped[dict] = mapped_column(JSON, default=dict)       # outcome -> seconds
    ring_timeout: Mapped[float] = mapped_column(Float, default=30.0)
    amd: Mapped[bool] = mapped_column(Boolean, default=True)
    calendar: Mapped[str] = mapped_column(String(80), default="")      # calling window (ivr_calendars name)
    # recording policy: none | ivr | agent | whole; "" = the queue's if the call reaches one (else none)
    recording: Mapped[str] = mapped_column(String(8), default="", server_default="")
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80), default="")
    finished_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    numbers: Mapped[list["IvrCampaignNumber"]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="IvrCampaignNumber.position")


class IvrCampaignNumber(Base):
    """One number of a campaign with its call variables and where it stands: pending | dialing | done,
    final outcome, attempts made, the last attempt's outcome/cause and the wall-clock time of a retry."""
    __tablename__ = "ivr_campaign_numbers"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ivr_campaigns.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(40))
    variables: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str] = mapped_column(String(16), default="")
    last_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    history: Mapped[list] = mapped_column(JSON, default=list)           # [{"at", "outcome", "cause", ...}]
    retry_at: Mapped[_dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    campaign: Mapped[IvrCampaign] = relationship(back_populates="numbers")


class IvrLookupSource(Base):
    """A self-service lookup source flows query by name: kind sql (parameterised query on the project's
    database) or http (URL template answering JSON, optional dotted `field`); timeout in seconds."""
    __tablename__ = "ivr_lookup_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default="sql")         # sql | http
    query: Mapped[str] = mapped_column(Text, default="")                # SQL text or URL template
    field: Mapped[str] = mapped_column(String(120), default="")         # http: dotted path to the object
    timeout: Mapped[float] = mapped_column(Float, default=3.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class IvrInboundRoute(Base):
    """An inbound route: calls to a called number (exact digits, or a pattern `_9558X.`; empty = any) on a
    trunk type and span (empty = any) run `flow` while `calendar` is open (no calendar = always) and
    `after_hours_flow` when it is closed or a holiday; `record` is the route's recording policy
    (none | ivr | agent | whole; "" = the flow's or queue's). Lower `priority` is tried first."""
    __tablename__ = "ivr_inbound_routes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    number: Mapped[str] = mapped_column(String(64), default="")
    trunk: Mapped[str] = mapped_column(String(16), default="")
    span: Mapped[int | None] = mapped_column(Integer, nullable=True)
    calendar: Mapped[str] = mapped_column(String(80), default="")
    flow: Mapped[str] = mapped_column(String(80), default="")
    after_hours_flow: Mapped[str] = mapped_column(String(80), default="")
    record: Mapped[str] = mapped_column(String(8), default="")
    enabled: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[_dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
