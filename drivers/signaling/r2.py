"""China No.1 (MFC/R2) on the bearer timeslots of a board's E1 span: the driver side of `r2_core.R2Core`.

`R2Signaling` ties the state machines to a board `Span`: CAS bits through span.set_cas and the
board's "cas" line events (acted on once persistent), MF audio through in-band handlers claimed
only while a channel is in register signalling (all the span's register audio is detected and
generated as one numpy block per tick).
"""
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.board import InbandHandler, LineEvent, Span
from trunkline.drivers.signaling.base import (
    ANSWERED,
    CAUSE_CONGESTION,
    HANGUP,
    INCOMING,
    PROCEEDING,
    RINGING,
    SignalingError,
    SignalingEvent,
    SpanSignaling,
)
from trunkline.drivers.signaling.r2_core import IDLE, KD_NAMES, R2Core, R2Line
from trunkline.dsp.constants import RATE

T_CAS_RECOG = 0.020    # s: an ABCD change counts once it has held longer than this (at 20 ms ticks: 40 ms)


class _RegisterAudio(InbandHandler):
    """One channel's register audio: received blocks go to the span buffer, MF comes from it."""

    def __init__(self, sig: "R2Signaling", row: int) -> None:
        self.sig = sig
        self.row = row
        self.group = sig                  # the board serves all of the span's registers as one array

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Store the received block for the span's detector."""
        n = min(len(samples), self.sig.block_len)
        self.sig.rx_buf[self.row, :n] = samples[:n]

    def tx(self, n: int) -> NDArray[np.int16]:
        """The MF signal generated for this channel at the last poll."""
        out = self.sig.tx_buf[self.row]
        return out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))


class R2Signaling(SpanSignaling):
    """China No.1 MFC/R2 over the bearer timeslots of an E1 span: inbound and outbound calls."""

    trunk = "r2"

    def __init__(self, span: Span, emit: Callable[[SignalingEvent], None], want_ani: bool = True,
                 max_dnis: int | None = None) -> None:
        """want_ani: request KA + ANI with A6; max_dnis: address length after which DNIS is complete."""
        super().__init__(span, emit)
        self.block_len = span.board.block
        self._now = 0.0
        self._cas_stable: dict[int, int] = {}      # ch -> last ABCD acted on
        self._cas_pending: dict[int, tuple[int, float]] = {}   # ch -> (ABCD, time s): not yet persistent
        chans = list(span.bearer_channels)
        self._row_of = np.full(max(chans, default=0) + 1, -1, dtype=np.int64)   # board channel -> core row
        self._row_of[chans] = np.arange(len(chans))
        self.core = R2Core(chans, span.set_cas, lambda: self._now, want_ani=want_ani, max_dnis=max_dnis)
        n = len(chans)
        self.rx_buf = np.zeros((n, self.block_len), dtype=np.int16)
        self.tx_buf = np.zeros((n, self.block_len), dtype=np.int16)
        self._handlers: dict[int, _RegisterAudio] = {}
        c = self.core
        c.on_mf = self._on_mf
        c.on_offered = self._on_offered
        c.on_ringing = lambda ch, line: self.emit(SignalingEvent(RINGING, ch))
        c.on_answered = lambda ch, line: self.emit(SignalingEvent(ANSWERED, ch))
        c.on_hangup = self._on_hangup
        for ch in chans:
            span.set_cas(ch, IDLE)

    # ------------------------------------------------------------ board side
    def rx_rows(self, channels: NDArray[np.int64], audio: NDArray[np.int16]) -> None:
        """Received audio of the span's channels in register signalling, one array (the board's tick)."""
        n = min(audio.shape[1], self.block_len)
        self.rx_buf[self._row_of[channels], :n] = audio[:, :n]

    def tx_rows(self, channels: NDArray[np.int64], n: int) -> NDArray[np.int16]:
        """The MF generated for those channels at the last poll, shaped (len(channels), n)."""
        out = self.tx_buf[self._row_of[channels]]
        return out[:, :n] if out.shape[1] >= n else np.pad(out, ((0, 0), (0, n - out.shape[1])))

    def _on_mf(self, ch: int, active: bool) -> None:
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

    def handle_line_event(self, ev: LineEvent) -> None:
        """ABCD changes ("cas" events) of the span's bearer channels, acted on once persistent; span alarms."""
        if ev.type == "alarm":
            self.core.span_alarm(bool(ev.value & 3))     # red or blue: the span's timeslots are gone
            self._cas_pending.clear()
            return
        if ev.type == "cas" and ev.channel in self.core.lines:
            bits = int(ev.value) & 0xF
            if bits == self._cas_stable.get(ev.channel, IDLE):
                self._cas_pending.pop(ev.channel, None)          # a glitch that came back: ignore it
            else:
                self._cas_pending[ev.channel] = (bits, ev.time / RATE)

    def _recognise_cas(self, now: float) -> None:
        """Act on ABCD changes that held longer than the recognition time (Q.421: 20 ms +- 10 ms)."""
        due = [(ch, bits) for ch, (bits, t) in self._cas_pending.items() if now - t > T_CAS_RECOG + 1e-6]
        for ch, bits in due:
            del self._cas_pending[ch]
            self._cas_stable[ch] = bits
            self.core.cas_in(ch, bits)

    def poll(self, now: float) -> None:
        """Line signals that persisted, timers, then the register audio of every channel in MF (one block)."""
        self._now = now
        if self._cas_pending:
            self._recognise_cas(now)
        self.core.poll(now)
        if self.core.mf:
            self.core.feed(self.rx_buf)
            self.rx_buf[:] = 0
            if self.core.mf:
                self.tx_buf[:] = self.core.generate(self.block_len)

    # ------------------------------------------------------------ calls
    def _on_hangup(self, ch: int, line: R2Line, cause: int) -> None:
        lost = self.core.bearer_lost.pop(ch, None)      # cleared after a span alarm: the CDR ends at the alarm
        self.emit(SignalingEvent(HANGUP, ch, cause=cause, extra={} if lost is None else {"bearer_lost_at": lost}))

    def _on_offered(self, ch: int, line: R2Line) -> None:
        extra = {"ka": line.ka, "kd": line.kd, "ani_restricted": line.restricted}
        self.emit(SignalingEvent(INCOMING, ch, caller="" if line.restricted else line.caller,
                                 called=line.called, category=KD_NAMES.get(line.kd, f"kd{line.kd}"),
                                 extra=extra))

    def answer(self, channel: int) -> None:
        """Answer the call offered on `channel` (answer line signal ab=01)."""
        try:
            self.core.answer(channel)
        except (ValueError, KeyError) as exc:
            raise SignalingError(str(exc), CAUSE_CONGESTION) from None

    def hangup(self, channel: int, cause: int = 16) -> None:
        """Clear-forward (our outgoing call) or clear-back / refusal (an incoming call)."""
        if channel in self.core.lines:
            self.core.hangup(channel, cause)

    def block(self, channel: int, on: bool = True) -> None:
        """Block an idle timeslot toward the far end (backward ab=11), or unblock it."""
        self.core.block(channel, on)

    def dial(self, called: str, caller: str = "", channel: int | None = None, category: str | None = None) -> int:
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
            free = next((c for c in self.core.chans if self.core.free(c) and self.span.get_cas(c) == IDLE), None)
            if free is None:
                raise SignalingError("no idle R2 timeslot", 34)
            ch = free
        try:
            self.core.dial(ch, called, caller or "", category=category or "subscriber")
        except ValueError as exc:
            raise SignalingError(str(exc), 34) from None
        self.emit(SignalingEvent(PROCEEDING, ch, caller=caller or "", called=called))
        return ch
