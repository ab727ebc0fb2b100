"""Errors the call API raises."""


class CallError(Exception):
    """Base class for call API errors."""


class Hangup(CallError):
    """The far end hung up (or the call was cleared) while an operation was pending."""


class Timeout(CallError):
    """A media-time timeout expired."""


class ChannelError(CallError):
    """Signaling failed: busy, congestion, no channel, rejected; .cause is the Q.850 cause."""

    def __init__(self, reason, cause=34):
        super().__init__(f"{reason} (cause {cause})")
        self.reason = reason
        self.cause = cause
