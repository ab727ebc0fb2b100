"""E-mail tables: the durable SMTP outbox (mail_outbox) and the per-DID fax mailboxes (fax_mailboxes)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trunkline.data.db import Base
from trunkline.data.timeutil import utcnow


class OutboxMail(Base):
    """One e-mail accepted for delivery: the whole RFC 5322 message, its recipients and delivery state."""
    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    recipients: Mapped[str] = mapped_column(Text, nullable=False)          # comma-separated addresses
    subject: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    message: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)    # the message as sent (bytes)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="queued", index=True)  # queued|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")


class FaxMailbox(Base):
    """Where faxes received on a DID (called number) are e-mailed; did '*' is the default for other DIDs."""
    __tablename__ = "fax_mailboxes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    did: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(400), nullable=False)        # comma-separated addresses
    name: Mapped[str] = mapped_column(String(80), nullable=False, default="")
