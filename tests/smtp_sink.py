"""A real local SMTP server for tests (aiosmtpd): every message it accepts is kept, parsed with `email`."""
import email
import email.policy
import socket
import time

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.sink.received.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"


class SmtpSink:
    """aiosmtpd on 127.0.0.1:`port` (a free one by default); `received` holds (from, rcpts, EmailMessage)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.received = []
        self.controller = None

    def start(self):
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait(self, n, timeout=10.0):
        """Wait until `n` messages have arrived; returns them."""
        end = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < end:
            time.sleep(0.05)
        return self.received


def attachments(msg):
    """{filename: bytes} of a parsed message's attachments."""
    return {part.get_filename(): part.get_payload(decode=True) for part in msg.iter_attachments()}
