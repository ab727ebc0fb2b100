"""Span alarm history: one row per alarm raised or cleared on a span of the running board."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trunkline.data.db import Base
from trunkline.data.timeutil import utcnow


class SpanAlarmEvent(Base):
    """An alarm (red / blue / yellow) raised or cleared on a board span, with when (UTC) and the bits after."""
    __tablename__ = "span_alarm_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    board: Mapped[str] = mapped_column(String(255), nullable=False, default="")     # the board URL
    span: Mapped[int] = mapped_column(Integer, nullable=False, index=True)          # span index on the board
    alarm: Mapped[str] = mapped_column(String(8), nullable=False)                   # red | blue | yellow
    event: Mapped[str] = mapped_column(String(8), nullable=False)                   # raised | cleared
    bits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)           # span alarm bits after it
