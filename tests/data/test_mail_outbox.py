"""The durable e-mail outbox against a real local SMTP server (aiosmtpd): a message accepted while the
server is down stays queued across a restart of the outbox and is delivered when the server comes back;
retries are bounded; bad input is refused."""
import logging

import pytest
from smtp_sink import SmtpSink, attachments, free_port
from sqlalchemy import select

from trunkline.app.schema import migrate
from trunkline.data.db import make_session_factory
from trunkline.data.mail_models import OutboxMail as Row
from trunkline.data.mail_outbox import MailError, MailOutbox, SmtpSettings


@pytest.fixture
def factory(tmp_path):
    return make_session_factory(migrate(f"sqlite:///{tmp_path / 'mail.db'}"))


def test_outbox_keeps_message_while_smtp_down_and_delivers_after_restart(factory, tmp_path, caplog):
    port = free_port()                                   # nothing listens here yet
    doc = tmp_path / "page.tif"
    doc.write_bytes(b"II*\x00" + bytes(range(256)) * 40)
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="pbx@example.com", timeout=2.0)
    first = MailOutbox(factory, smtp, max_attempts=5, retry_seconds=0.0)
    mid = first.enqueue("ops@example.com, boss@example.com", "Fax from 010", "see attached", [str(doc)])
    with caplog.at_level(logging.WARNING, logger="trunkline.mail"):
        assert first.deliver_due() == 0
    assert "attempt 1 failed" in caplog.text and first.stats["retried"] == 1
    with factory() as s:
        row = s.get(Row, mid)
        assert row.status == "queued" and row.attempts == 1 and "Connection refused" in row.last_error
    # the server restarts: a new outbox over the same table; the SMTP server is back
    sink = SmtpSink(port).start()
    try:
        second = MailOutbox(factory, smtp, retry_seconds=0.0, poll_seconds=0.2).start()
        (mail_from, rcpts, msg), = sink.wait(1)
        second.stop()
    finally:
        sink.stop()
    assert mail_from == "pbx@example.com" and rcpts == ["ops@example.com", "boss@example.com"]
    assert msg["Subject"] == "Fax from 010" and msg.get_body().get_content().strip() == "see attached"
    assert attachments(msg) == {"page.tif": doc.read_bytes()}
    assert second.counts() == {"queued": 0, "sent": 1, "failed": 0} and second.stats["sent"] == 1


def test_retries_are_bounded_with_backoff(factory, caplog):
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2.0)
    box = MailOutbox(factory, smtp, max_attempts=2, retry_seconds=0.0)
    mid = box.enqueue("a@example.com", "x", "y")
    with caplog.at_level(logging.WARNING, logger="trunkline.mail"):
        box.deliver_due()
        box.deliver_due()
        box.deliver_due()                               # already given up: not tried again
    with factory() as s:
        row = s.get(Row, mid)
        assert row.status == "failed" and row.attempts == 2
    assert box.stats == {"sent": 0, "retried": 1, "failed": 1}
    assert "given up" in caplog.text
    slow = MailOutbox(factory, smtp, max_attempts=5, retry_seconds=60.0)
    mid2 = slow.enqueue("a@example.com", "x", "y")
    slow.deliver_due()
    with factory() as s:
        row = s.get(Row, mid2)
        wait = (row.next_at - row.created_at).total_seconds()
    assert 55 < wait < 70                                # first retry after retry_seconds
    assert slow.deliver_due() == 0                       # not due yet: no second attempt
    with factory() as s:
        assert s.scalar(select(Row.attempts).where(Row.id == mid2)) == 1


def test_bad_input_is_refused(factory, tmp_path):
    box = MailOutbox(factory, SmtpSettings(host="127.0.0.1"))
    with pytest.raises(MailError, match="at least one recipient"):
        box.enqueue(" , ", "s", "b")
    with pytest.raises(MailError, match="not an e-mail address"):
        box.enqueue("bob", "s", "b")
    with pytest.raises(MailError, match="no-such.wav"):
        box.enqueue("a@example.com", "s", "b", [str(tmp_path / "no-such.wav")])
    assert box.counts() == {"queued": 0, "sent": 0, "failed": 0}
