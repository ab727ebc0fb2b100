"""Send-queue state for SMS (table sms_queue), one row per outgoing trunkline.data.models.Sms row."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trunkline.data.db import Base
from trunkline.data.timeutil import utcnow


class SmsQueue(Base):
    """Queue bookkeeping for one outgoing SMS: attempts, next try, parts done, TP-MRs, last error."""
    __tablename__ = "sms_queue"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sms_id: Mapped[int] = mapped_column(ForeignKey("sms.id"), unique=True, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    concat_ref: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    parts_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    parts_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mrs: Mapped[str] = mapped_column(String(1024), nullable=False, default="")        # comma-separated TP-MR
    delivered_mrs: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    status_report: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
