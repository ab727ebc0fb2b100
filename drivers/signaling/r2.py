"""China No.1 signalling (E1 CAS line signalling + compelled MFC/R2 registers) on a board span.

The state machines live in `r2core.R2Core` (tables and timers documented there); this module ties
them to a `Span`: CAS bits through span.set_cas and the board's "cas" line events, MF audio through
in-band handlers claimed only while a channel is in register signalling (the register audio of all
the span's channels is detected and generated as one numpy block per tick).
"""
import numpy as np

from trunkline.drivers.board import InbandHandler
from trunkline.drivers.signaling.base import (
    ANSWERED, CAUSE_CONGESTION, HANGUP, INCOMING, PROCEEDING, RINGING, SignalingError, SignalingEvent,
    SpanSignaling,
)
from trunkline.drivers.signaling.r2core import KD_NAMES, R2Core


class _RegisterAudio(InbandHandler):
    """One channel's register audio: received blocks go to the span buffer, MF comes from it."""

    def __init__(self, sig, row):
        self.sig = sig
        self.row = row

    def rx(self, samples):
        """Store the received block for the span's detector."""
        n = min(len(samples), self.sig.block)
        self.sig.rx_buf[self.row, :n] = samples[:n]

    def tx(self, n):
        """The MF signal generated for this channel at the last poll."""
        out = self.sig.tx_buf[self.row]
        return out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))


class R2Signaling(SpanSignaling):
    """China No.1 MFC/R2 over the bearer timeslots of an E1 span: inbound and outbound calls."""

    trunk = "r2"

    def __init__(self, span, emit, want_ani=True, max_dnis=None):
        """want_ani: request KA + ANI with A6; max_dnis: address length after which DNIS is complete."""
        super().__init__(span, emit)
        self.block = int(getattr(span.board, "block", 160))
        self._now = 0.0
        chans = list(span.bearer_channels)
        self.core = R2Core(chans, span.set_cas, lambda: self._now, want_ani=want_ani, max_dnis=max_dnis)
        n = len(chans)
        self.rx_buf = np.zeros((n, self.block), dtype=np.int16)
        self.tx_buf = np.zeros((n, self.block), dtype=np.int16)
        self._handlers = {}
        c = self.core
        c.on_mf = self._on_mf
        c.on_offered = self._on_offered
        c.on_ringing = lambda ch, line: self.emit(SignalingEvent(RINGING, ch))
        c.on_answered = lambda ch, line: self.emit(SignalingEvent(ANSWERED, ch))
        c.on_hangup = lambda ch, line, cause: self.emit(SignalingEvent(HANGUP, ch, cause=cause))
        for ch in chans:
            span.set_cas(ch, 0x9)      # idle

    # ------------------------------------------------------------ board side
    def _on_mf(self, ch, active):
        row = self.core.row[ch]
        if active:
            self.rx_buf[row] = 0
            self.tx_buf[row] = 0
            h = self._handlers[ch] = _RegisterAudio(self, row)
            self.span.claim_inband(ch, h)
        else:
            self.tx_buf[row] = 0
            if self._handlers.pop(ch, None) is not None:
                self.span.release_inband(ch)

    def handle_line_event(self, ev):
        """ABCD changes ("cas" events) of the span's bearer channels."""
        if ev.type == "cas" and ev.channel in self.core.lines:
            self.core.cas_in(ev.channel, ev.value)

    def poll(self, now):
        """Timers, then the register audio of every channel in MF (one vectorised block)."""
        self._now = now
        self.core.poll(now)
        if self.core.mf:
            self.core.feed(self.rx_buf)
            self.rx_buf[:] = 0
            if self.core.mf:
                self.tx_buf[:] = self.core.generate(self.block)

    # ------------------------------------------------------------ calls
    def _on_offered(self, ch, line):
        extra = {"ka": line.ka, "kd": line.kd, "ani_restricted": line.restricted}
        self.emit(SignalingEvent(INCOMING, ch, caller="" if line.restricted else line.caller,
                                 called=line.called, category=KD_NAMES.get(line.kd, f"kd{line.kd}"),
                                 extra=extra))

    def answer(self, channel):
        """Answer the call offered on `channel` (answer line signal ab=01)."""
        try:
            self.core.answer(channel)
        except (ValueError, KeyError) as exc:
            raise SignalingError(str(exc), CAUSE_CONGESTION) from None

    def hangup(self, channel, cause=16):
        """Clear-forward (our outgoing call) or clear-back / refusal (an incoming call)."""
        if channel in self.core.lines:
            self.core.hangup(channel, cause)

    def block(self, channel, on=True):
        """Block an idle timeslot toward the far end (backward ab=11), or unblock it."""
        self.core.block(channel, on)

    def dial(self, called, caller="", channel=None, category=None):
        """Seize a free timeslot and send the number by compelled MFC; returns the board channel."""
        called = "".join(str(called).split())
        if not called or not called.isdigit():
            raise SignalingError(f"R2 can only dial digits, got {called!r}", 1)
        if caller and not str(caller).isdigit():
            caller = "".join(c for c in str(caller) if c.isdigit())
        if channel is not None:
            if channel not in self.core.lines or not self.core.free(channel):
                raise SignalingError(f"channel {channel} is not free", 34)
            ch = channel
        else:
            ch = next((c for c in self.core.chans if self.core.free(c) and self.span.get_cas(c) == 0x9), None)
            if ch is None:
                raise SignalingError("no idle R2 timeslot", 34)
        try:
            self.core.dial(ch, called, caller or "", category=category or "subscriber")
        except ValueError as exc:
            raise SignalingError(str(exc), 34) from None
        self.emit(SignalingEvent(PROCEEDING, ch, caller=caller or "", called=called))
        return ch
