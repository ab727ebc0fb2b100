"""The contract between a signaling stack and the layers above it.

A signaling stack owns a group of board channels (an E1/T1 span, or analog
ports). The driver feeds it the board's line events for those channels
(`handle_line_event`) and calls `poll` once per tick with media time; the
stack talks to the board through its `Span` (CAS bits, D-channel frames, hook,
ring) and reports call progress upward as `SignalingEvent`s through `emit`.
The media engine only ever sees `SignalingEvent`s, whatever the trunk type.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trunkline.drivers.board import LineEvent, Span

# SignalingEvent.kind values
INCOMING = "incoming"      # a new inbound call is offered on `channel` (caller, called, category set)
PROCEEDING = "proceeding"  # outbound: the network accepted the call request
RINGING = "ringing"        # outbound: far end is alerting
PROGRESS = "progress"      # outbound: in-band information available (listen for tones)
ANSWERED = "answered"      # outbound answered by far end / inbound answer confirmed
HANGUP = "hangup"          # the call on `channel` is gone (cause = Q.850 cause number)
FLASH = "flash"            # station hook flash
SPAN_UP = "span_up"        # signaling link usable (D-channel up, alarms cleared)
SPAN_DOWN = "span_down"    # signaling link lost (alarm, D-channel down)

# Q.850 causes used across stacks
CAUSE_NORMAL = 16
CAUSE_BUSY = 17
CAUSE_NO_ANSWER = 19
CAUSE_UNALLOCATED = 1
CAUSE_CONGESTION = 34
CAUSE_TEMPFAIL = 41
CAUSE_REJECTED = 21


class SignalingError(Exception):
    """A signaling request was refused (no free channel, wrong state, bad number); .cause is Q.850."""

    def __init__(self, reason: str, cause: int = CAUSE_CONGESTION) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


@dataclass
class SignalingEvent:
    """One call-level event from a signaling stack; channel is the board channel index."""
    kind: str
    channel: int
    caller: str = ""
    called: str = ""
    category: str | None = None
    cause: int = CAUSE_NORMAL
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class SpanSignaling:
    """Base class: one signaling stack over a set of board channels."""

    trunk = "none"

    def __init__(self, span: Span, emit: Callable[[SignalingEvent], None]) -> None:
        """Attach to a `Span` of the board; `emit(SignalingEvent)` reports upward."""
        self.span = span
        self.emit = emit

    def channels(self) -> list[int]:
        """Board channel indexes whose calls this stack controls (bearer channels)."""
        return list(self.span.bearer_channels)

    def handle_line_event(self, ev: LineEvent) -> None:
        """Take one board line event (a `drivers.board.LineEvent`) for this span."""
        raise NotImplementedError

    def poll(self, now: float) -> None:
        """Run timers; `now` is media time in seconds. Called every tick: keep it cheap."""

    def answer(self, channel: int) -> None:
        """Answer the inbound call offered on `channel`."""
        raise NotImplementedError

    def hangup(self, channel: int, cause: int = CAUSE_NORMAL) -> None:
        """Clear the call on `channel` from our side."""
        raise NotImplementedError

    def dial(self, called: str, caller: str = "", channel: int | None = None, category: str | None = None) -> int:
        """Place an outbound call; returns the board channel chosen, or raises ChannelError."""
        raise NotImplementedError

    def surely_full(self) -> bool:
        """True when dial(channel=None) would surely fail for want of a free channel (a cheap check; False = try)."""
        return False

    def status(self) -> dict[str, Any]:
        """Signaling state for the admin: {"summary": text, "channels": {board channel: {...}}}; {} if none."""
        return {}

    def ring(self, channel: int, caller: str = "", name: str = "") -> None:
        """Alert a station (FXS) with caller ID; stations only."""
        raise NotImplementedError

    def protocol_status(self) -> list[dict[str, Any]]:
        """Live protocol rows for the admin (SIP: calls with RTP/RTCP figures, registrations); [] if none."""
        return []

    def hold(self, channel: int, on: bool) -> None:
        """Put the far end on hold / take it off (SIP re-INVITE); SignalingError where the trunk has none."""
        raise SignalingError(f"hold is not supported on {self.trunk} trunks", 79)

    def transfer(self, channel: int, target: str) -> None:
        """Blind transfer of the far end to `target` (SIP REFER); SignalingError where the trunk has none."""
        raise SignalingError(f"transfer is not supported on {self.trunk} trunks", 79)

    def early_media(self, channel: int) -> None:
        """Open the media path of an inbound call before answer (SIP 183 with SDP); SignalingError where
        the trunk has none."""
        raise SignalingError(f"early media is not supported on {self.trunk} trunks", 79)
