"""The durable e-mail outbox: messages accepted for delivery are rows of `mail_outbox` (the whole message
as bytes), so nothing accepted is lost across restarts; one background thread sends them through SMTP.

A failed attempt is retried after `retry_seconds * 2**(attempts-1)` seconds (capped at `retry_cap`);
after `max_attempts` attempts, or at once on a permanent (5xx) SMTP refusal, the row becomes `failed`.
Every failure is logged and counted in `stats` (sent, retried, failed).
"""
from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import os
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.mail_models import OutboxMail
from trunkline.data.timeutil import as_utc, utcnow

log = logging.getLogger("trunkline.mail")
MAX_MESSAGE_BYTES = 25 * 1024 * 1024      # what one e-mail may carry (attachments included)


class MailError(ValueError):
    """A message that cannot be accepted (no recipient, bad address, too large, missing attachment)."""


@dataclass
class SmtpSettings:
    """Where and how to send: SMTP host and port, optional login, sender address, STARTTLS, timeout (s)."""
    host: str
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "trunkline@localhost"
    starttls: bool = False
    timeout: float = 10.0


def _addresses(to: str | Sequence[str]) -> list[str]:
    items = to.split(",") if isinstance(to, str) else list(to)
    out = [a.strip() for a in items if a.strip()]
    if not out:
        raise MailError("an e-mail needs at least one recipient")
    for a in out:
        if "@" not in a or any(c in a for c in " \r\n<>"):
            raise MailError(f"not an e-mail address: {a!r}")
    return out


def _permanent(exc: Exception) -> bool:
    """True for an SMTP refusal that retrying cannot fix (a 5xx reply)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(exc, smtplib.SMTPResponseException) and isinstance(code, int) and code >= 500


class MailOutbox:
    """Accepts e-mails into the `mail_outbox` table and delivers them through SMTP from a background thread."""

    def __init__(self, session_factory: Callable[[], Session], smtp: SmtpSettings, max_attempts: int = 8,
                 retry_seconds: float = 30.0, retry_cap: float = 3600.0, poll_seconds: float = 5.0) -> None:
        self.session_factory = session_factory
        self.smtp = smtp
        self.max_attempts = max(1, int(max_attempts))
        self.retry_seconds = float(retry_seconds)
        self.retry_cap = float(retry_cap)
        self.poll_seconds = float(poll_seconds)
        self.stats = {"sent": 0, "retried": 0, "failed": 0}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ accepting
    def enqueue(self, to: str | Sequence[str], subject: str, body: str,
                attachments: Sequence[str] = ()) -> int:
        """Accept an e-mail (text body, files attached by path) for delivery; returns its outbox row id.

        Raises MailError for no/bad recipients, a missing attachment or a message over MAX_MESSAGE_BYTES."""
        rcpts = _addresses(to)
        msg = EmailMessage()
        msg["From"] = self.smtp.sender
        msg["To"] = ", ".join(rcpts)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.smtp.sender.rpartition("@")[2] or "localhost")
        msg.set_content(body)
        total = 0
        for path in attachments:
            try:
                size = os.path.getsize(path)
                total += size
                if total > MAX_MESSAGE_BYTES:
                    raise MailError(f"e-mail to {msg['To']}: attachments exceed {MAX_MESSAGE_BYTES} bytes")
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise MailError(f"e-mail attachment {path}: {exc.strerror or exc}") from None
            ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
            maintype, _, subtype = ctype.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=os.path.basename(path))
        with session_scope(self.session_factory) as s:
            row = OutboxMail(recipients=",".join(rcpts), subject=subject[:255], message=msg.as_bytes(policy=SMTP),
                             status="queued", attempts=0, next_at=utcnow(), last_error="")
            s.add(row)
            s.flush()
            mid = row.id
        log.info("e-mail %d to %s queued: %s", mid, msg["To"], subject)
        self._wake.set()
        return mid

    # ------------------------------------------------------------ delivering
    def _send(self, sender: str, rcpts: list[str], message: bytes) -> None:
        st = self.smtp
        with smtplib.SMTP(st.host, st.port, timeout=st.timeout) as smtp:
            if st.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if st.user:
                smtp.login(st.user, st.password)
            smtp.sendmail(sender, rcpts, message)

    def deliver_due(self, limit: int = 50) -> int:
        """Try the queued messages whose time has come (at most `limit`, oldest first); returns how many were sent."""
        now = utcnow()
        with self.session_factory() as s:
            queued = s.execute(select(OutboxMail.id, OutboxMail.attempts, OutboxMail.next_at)
                               .where(OutboxMail.status == "queued").order_by(OutboxMail.id)).all()
        due = [(mid, attempts) for mid, attempts, next_at in queued if as_utc(next_at) <= now][:limit]
        sent = 0
        for mid, attempts in due:
            if self._stop.is_set():
                break
            with self.session_factory() as s:
                rcpts, message = s.execute(select(OutboxMail.recipients, OutboxMail.message)
                                           .where(OutboxMail.id == mid)).one()
            try:
                self._send(self.smtp.sender, rcpts.split(","), message)
            except (OSError, smtplib.SMTPException) as exc:
                self._failed(mid, attempts + 1, exc)
                continue
            with session_scope(self.session_factory) as s:
                row = s.get(OutboxMail, mid)
                if row is not None:
                    row.status, row.attempts, row.sent_at, row.last_error = "sent", attempts + 1, utcnow(), ""
            self.stats["sent"] += 1
            sent += 1
            log.info("e-mail %d delivered to %s", mid, rcpts)
        return sent

    def _failed(self, mid: int, attempts: int, exc: Exception) -> None:
        why = f"{type(exc).__name__}: {exc}"[:1000]
        give_up = attempts >= self.max_attempts or _permanent(exc)
        delay = min(self.retry_cap, self.retry_seconds * 2 ** (attempts - 1))
        with session_scope(self.session_factory) as s:
            row = s.get(OutboxMail, mid)
            if row is None:
                return
            row.attempts, row.last_error = attempts, why
            if give_up:
                row.status = "failed"
            else:
                row.next_at = utcnow() + dt.timedelta(seconds=delay)
        if give_up:
            self.stats["failed"] += 1
            log.error("e-mail %d not delivered after %d attempt(s), given up: %s", mid, attempts, why)
        else:
            self.stats["retried"] += 1
            log.warning("e-mail %d: attempt %d failed (%s); retrying in %.0f s", mid, attempts, why, delay)

    def counts(self) -> dict[str, int]:
        """Rows of the outbox by status (queued / sent / failed)."""
        with self.session_factory() as s:
            rows = s.execute(select(OutboxMail.status)).scalars().all()
        return {k: rows.count(k) for k in ("queued", "sent", "failed")}

    # ------------------------------------------------------------ the thread
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:   # the database was unreachable, say: logged, the thread carries on
                log.exception("e-mail outbox pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def start(self) -> MailOutbox:
        """Start the delivery thread (queued messages from before a restart are sent too)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mail-outbox", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread; undelivered messages stay queued in the table."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
