"""Errors the call API raises."""
from __future__ import annotations

from trunkline.media.record import RecordResult


class CallError(Exception):
    """Base class for call API errors."""


class Hangup(CallError):
    """The far end hung up (or the call was cleared) while an operation was pending.

    A Hangup raised by call.record() carries `.recording` (the RecordResult of the kept file)."""

    recording: RecordResult | None = None


class Timeout(CallError):
    """A media-time timeout expired."""


class ChannelError(CallError):
    """Signaling failed: busy, congestion, no channel, rejected; .cause is the Q.850 cause."""

    def __init__(self, reason: str, cause: int = 34) -> None:
        super().__init__(f"{reason} (cause {cause})")
        self.reason = reason
        self.cause = cause
