"""E-mail delivery of voicemail and received faxes: hooks that put a message (WAV / PDF attached) into
the durable outbox for the voicemail box's address or the DID's fax mailbox (fax_mailboxes, '*' = default)."""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.data.config import Config
from trunkline.data.mail_models import FaxMailbox
from trunkline.data.mail_outbox import MailError, MailOutbox, SmtpSettings
from trunkline.fax.pdf import tiff_to_pdf
from trunkline.fax.tiff import TiffError
from trunkline.ivr.models import IvrMailbox

log = logging.getLogger("trunkline.mail")


def make_outbox(cfg: Config, factory: Callable[[], Session]) -> MailOutbox | None:
    """The outbox over the configured SMTP server (not started), or None when smtp_host is unset."""
    if not cfg.smtp_host:
        return None
    smtp = SmtpSettings(host=cfg.smtp_host, port=int(cfg.smtp_port), user=cfg.smtp_user,
                        password=cfg.smtp_password, sender=cfg.smtp_from, starttls=bool(cfg.smtp_starttls))
    return MailOutbox(factory, smtp, max_attempts=cfg.mail_max_attempts, retry_seconds=cfg.mail_retry_seconds)


def voicemail_mailer(outbox: MailOutbox, factory: Callable[[], Session]) -> Callable[[str, dict[str, Any]], None]:
    """The voicemail notify hook: e-mail each new message (WAV attached) to its box's `email`, if set."""
    def notify(box: str, msg: dict[str, Any]) -> None:
        with factory() as s:
            email = s.scalar(select(IvrMailbox.email).where(IvrMailbox.box == str(box))) or ""
        if not email.strip():
            return
        caller = msg.get("caller") or "unknown"
        seconds = int(msg.get("duration_ms", 0)) / 1000.0
        try:
            outbox.enqueue(email, f"Voicemail for box {box} from {caller} ({seconds:.0f} s)",
                           f"New voicemail message {msg.get('id')} in box {box}\n"
                           f"From: {caller}\nLength: {seconds:.1f} s\nThe recording is attached (WAV).\n",
                           [str(msg["path"])])
        except MailError as exc:
            log.error("voicemail %s for box %s cannot be e-mailed: %s", msg.get("id"), box, exc)
    return notify


def fax_address(factory: Callable[[], Session], did: str) -> str:
    """The fax mailbox address for faxes received on `did` (its own row, else the '*' row; '' if none)."""
    with factory() as s:
        rows: dict[str, str] = dict(s.execute(select(FaxMailbox.did, FaxMailbox.email)
                              .where(FaxMailbox.did.in_([did or "*", "*"]))).all())
    return rows.get(did, "") or rows.get("*", "")


def fax_mailer(outbox: MailOutbox, factory: Callable[[], Session]) -> Callable[[dict[str, Any]], None]:
    """The fax store's received hook: e-mail a received fax (as a PDF; the TIFF itself only when it cannot
    be converted) to its DID's fax mailbox. The PDF is built in a temporary directory: the outbox keeps the
    whole message, so the PDF is removed once the message is accepted."""
    def received(fax: dict[str, Any]) -> None:
        did = str(fax.get("did") or "")
        email = fax_address(factory, did)
        if not email.strip():
            return
        sender = fax.get("number") or "unknown"
        tiff = str(fax["path"])
        with tempfile.TemporaryDirectory(prefix="tl-faxpdf-") as tmp:
            attach, kind = os.path.join(tmp, os.path.splitext(os.path.basename(tiff))[0] + ".pdf"), "PDF"
            try:
                tiff_to_pdf(tiff, attach)
            except (TiffError, OSError) as exc:
                log.warning("fax %s: no PDF (%s); the TIFF is attached instead", fax.get("id"), exc)
                attach, kind = tiff, "TIFF"
            try:
                outbox.enqueue(email, f"Fax to {did or 'fax'} from {sender} ({fax.get('pages', 0)} pages)",
                               f"Fax {fax.get('id')} received on {did or 'the fax line'}\nFrom: {sender} "
                               f"(station id {fax.get('remote_ident') or '-'})\nPages: {fax.get('pages', 0)}\n"
                               f"The fax is attached ({kind}).\n", [attach])
            except MailError as exc:
                log.error("fax %s to %s cannot be e-mailed: %s", fax.get("id"), did, exc)
    return received
