"""Analog loop-start signaling: FXO trunks (inbound/outbound) and FXS stations.

FXO: ring detection, caller ID read between the first and second ring (DTMF or
FSK, decoded in-band), answer by going off hook, disconnect supervision by
loop-current drop, outbound seizure with DTMF dialing and answer supervision
by battery reversal; busy/congestion tones after dialing end the attempt.
FXS: ringing with cadence and caller ID, off-hook answer, station-originated
calls (feature codes), hook flash, on-hook clear.
"""
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.board import LineEvent, Span
from trunkline.drivers.signaling.base import (
    ANSWERED,
    CAUSE_BUSY,
    CAUSE_CONGESTION,
    CAUSE_NO_ANSWER,
    CAUSE_NORMAL,
    FLASH,
    HANGUP,
    INCOMING,
    PROCEEDING,
    RINGING,
    SignalingError,
    SignalingEvent,
    SpanSignaling,
)
from trunkline.drivers.signaling.inband_banks import CallerIDListenBank, ClipSenderBank, DialerBank, ToneWatchBank
from trunkline.dsp.callerid import CallerIDGenerator
from trunkline.dsp.cpa import CallProgressDetector


class _Line:
    """Per-port state."""
    __slots__ = ("state", "rings", "last_ring", "caller", "name", "called", "timer", "since", "ring_on")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.state = "idle"
        self.rings = 0
        self.last_ring = 0.0
        self.caller = ""
        self.name = ""
        self.called = ""
        self.timer: float | None = None
        self.since = 0.0
        self.ring_on = False


class AnalogFXO(SpanSignaling):
    """Loop-start FXO trunk ports (the card faces a central office)."""

    trunk = "analog"
    RING_GONE = 6.5          # s without ring: caller abandoned before answer
    CLIP_WINDOW = 3.0        # s after the first ring to wait for caller ID
    DIAL_TONE_WAIT = 0.4     # s after seizure before dialing
    NO_ANSWER = 40.0         # s of ringback before giving up

    BUSY_WATCH_MAX_PORTS = 256   # busy-tone supervision by default on spans up to this size

    def __init__(self, span: Span, emit: Callable[[SignalingEvent], None], zone: str = "cn",
                 busy_disconnect: bool | None = None) -> None:
        super().__init__(span, emit)
        self.zone = zone
        self.lines = {ch: _Line() for ch in span.bearer_channels}
        self._dialer = DialerBank(span.bearer_channels)           # DTMF dialling of all lines: one generator
        self._tones = ToneWatchBank(span.bearer_channels, zone)  # call progress of dialled lines: one detector
        self._clid = CallerIDListenBank(span.bearer_channels)    # caller ID reception: one demodulator
        self._now = 0.0
        self._watch: set[int] = set()      # lines with timers running (never walk every port per tick)
        if busy_disconnect is None:
            busy_disconnect = len(span.bearer_channels) <= self.BUSY_WATCH_MAX_PORTS
        self._cpa: CallProgressDetector | None = None
        self._port_channel: list[int] = []
        if busy_disconnect:      # one vectorised call-progress detector over all ports of the span
            self._cpa = CallProgressDetector(len(span.bearer_channels), zone=zone)
            self._port_channel = list(span.bearer_channels)
            span.watch_audio(self)

    def rx_rows(self, audio: NDArray[np.int16]) -> None:
        """Every tick: the span's received audio; busy or congestion tone on a call in progress clears it."""
        if self._cpa is None:            # registered only with busy-tone supervision on
            return
        for i, what in self._cpa.process(audio):
            if what in ("busy", "congestion"):
                ch = self._port_channel[i]
                line = self.lines[ch]
                if line.state in ("answered", "up"):
                    self._clear(ch, line, CAUSE_NORMAL, f"{what} tone after the far end cleared")

    # -------------------------------------------------------------- board events
    def handle_line_event(self, ev: LineEvent) -> None:
        """Ring, loop current and polarity events from the card."""
        line = self.lines.get(ev.channel)
        if line is None:
            return
        t = ev.type
        if t == "ring_on":
            line.ring_on = True
            line.last_ring = self._now
            if line.state == "idle":
                line.state = "ringing"
                line.rings = 1
                line.since = self._now
                self._watch.add(ev.channel)
            elif line.state == "clip":
                line.rings += 1
                self._offer(ev.channel, line)          # second ring: offer with whatever caller ID we have
            elif line.state == "ringing":
                line.rings += 1
        elif t == "ring_off":
            line.ring_on = False
            line.last_ring = self._now
            if line.state == "ringing" and line.rings == 1:
                line.state = "clip"
                line.timer = self._now + self.CLIP_WINDOW
                self.span.claim_inband(ev.channel, self._clid.member(ev.channel, partial(self._clip_done, ev.channel)))
        elif t == "loop_drop":
            if line.state in ("answered", "up", "dialing", "outgoing"):
                self._clear(ev.channel, line, CAUSE_NORMAL, "loop current dropped")
        elif t == "polarity":
            if line.state == "outgoing":          # answer supervision
                self.span.release_inband(ev.channel)
                line.state = "up"
                if self._cpa is not None:
                    self._cpa.reset(self._port_channel.index(ev.channel))
                self.emit(SignalingEvent(ANSWERED, ev.channel, called=line.called))
            elif line.state in ("answered", "up"):   # reversal during a call: the far end cleared
                self._clear(ev.channel, line, CAUSE_NORMAL, "battery reversal")

    def _clip_done(self, ch: int, info: dict[str, Any]) -> None:
        line = self.lines[ch]
        if line.state != "clip":
            return
        line.caller = info.get("number", "") or ""
        line.name = info.get("name", "") or ""
        self._offer(ch, line)

    def _offer(self, ch: int, line: _Line) -> None:
        self.span.release_inband(ch)
        line.state = "offered"
        line.timer = None
        self.emit(SignalingEvent(INCOMING, ch, caller=line.caller, extra={"name": line.name, "rings": line.rings}))

    def poll(self, now: float) -> None:
        """Timers: caller ID window, ring-gone (abandon before answer), dialing steps, no answer."""
        self._now = now
        for ch in list(self._watch):
            line = self.lines[ch]
            st = line.state
            if st == "idle" or st == "answered" or st == "up":
                self._watch.discard(ch)
                continue
            if st in ("ringing", "clip", "offered") and not line.ring_on and now - line.last_ring > self.RING_GONE:
                was_offered = st == "offered"
                self.span.release_inband(ch)
                line.reset()
                if was_offered:
                    self.emit(SignalingEvent(HANGUP, ch, cause=CAUSE_NORMAL, reason="ringing stopped before answer"))
                continue
            if st == "clip" and line.timer is not None and now >= line.timer:
                self._offer(ch, line)
            elif st == "seized" and line.timer is not None and now >= line.timer:
                line.state = "dialing"
                self.span.claim_inband(ch, self._dialer.member(ch, line.called, partial(self._dialed, ch)))
            elif st == "outgoing" and line.timer is not None and now >= line.timer:
                self._clear(ch, line, CAUSE_NO_ANSWER, "no answer")

    def _dialed(self, ch: int) -> None:
        line = self.lines[ch]
        if line.state != "dialing":
            return
        line.state = "outgoing"
        line.timer = self._now + self.NO_ANSWER
        self.span.claim_inband(ch, self._tones.member(ch, partial(self._progress, ch)))
        self.emit(SignalingEvent(PROCEEDING, ch, called=line.called))

    def _progress(self, ch: int, what: str) -> None:
        line = self.lines[ch]
        if line.state != "outgoing":
            return
        if what == "ringback":
            self.emit(SignalingEvent(RINGING, ch, called=line.called))
        elif what in ("busy", "congestion", "sit"):
            cause = CAUSE_BUSY if what == "busy" else (1 if what == "sit" else CAUSE_CONGESTION)
            self._clear(ch, line, cause, what)

    def _clear(self, ch: int, line: _Line, cause: int, reason: str) -> None:
        self.span.release_inband(ch)
        self.span.hook(ch, False)
        line.reset()
        self.emit(SignalingEvent(HANGUP, ch, cause=cause, reason=reason))

    # -------------------------------------------------------------- requests
    def answer(self, channel: int) -> None:
        """Go off hook on an offered line."""
        line = self.lines[channel]
        if line.state != "offered":
            raise SignalingError(f"channel {channel} has no call to answer (state {line.state})", 101)
        self.span.hook(channel, True)
        line.state = "answered"
        if self._cpa is not None:
            self._cpa.reset(self._port_channel.index(channel))
        self.emit(SignalingEvent(ANSWERED, channel, caller=line.caller))

    def hangup(self, channel: int, cause: int = CAUSE_NORMAL) -> None:
        """Go on hook; the call on the port ends."""
        line = self.lines.get(channel)
        if line is None or line.state == "idle":
            return
        self.span.release_inband(channel)
        self.span.hook(channel, False)
        line.reset()

    def dial(self, called: str, caller: str = "", channel: int | None = None, category: str | None = None) -> int:
        """Seize an idle port, dial `called` by DTMF, and supervise the answer."""
        if channel is None:
            channel = next((ch for ch, ln in self.lines.items() if ln.state == "idle"), None)
            if channel is None:
                raise SignalingError("no idle analog trunk", 34)
        line = self.lines[channel]
        if line.state != "idle":
            raise SignalingError(f"channel {channel} is busy", 44)
        if not called or any(c not in "0123456789*#ABCD" for c in called):
            raise SignalingError(f"cannot dial {called!r} on an analog line", 28)
        self.span.hook(channel, True)
        line.state = "seized"
        line.called = called
        line.timer = self._now + self.DIAL_TONE_WAIT
        self._watch.add(channel)
        return channel

    def is_idle(self, channel: int) -> bool:
        """True when the port has no call."""
        return self.lines[channel].state == "idle"


class AnalogFXS(SpanSignaling):
    """Station ports (the card powers and rings phones): agents' sets."""

    trunk = "station"
    RING_ON, RING_OFF = 1.0, 4.0   # s, ring cadence

    def __init__(self, span: Span, emit: Callable[[SignalingEvent], None]) -> None:
        super().__init__(span, emit)
        self.lines = {ch: _Line() for ch in span.bearer_channels}
        self._clip = ClipSenderBank(span.bearer_channels)         # caller ID bursts to all stations: one array
        self._now = 0.0
        self._watch: set[int] = set()      # stations being rung

    def handle_line_event(self, ev: LineEvent) -> None:
        """Hook and flash events from stations."""
        line = self.lines.get(ev.channel)
        if line is None:
            return
        if ev.type == "offhook":
            if line.state == "alerting":
                self.span.ring(ev.channel, False)
                self.span.release_inband(ev.channel)
                line.state = "up"
                self.emit(SignalingEvent(ANSWERED, ev.channel))
            elif line.state == "idle":
                line.state = "up"
                self.emit(SignalingEvent(INCOMING, ev.channel, extra={"station": True}))
        elif ev.type == "onhook":
            if line.state in ("up", "cleared"):
                was_up = line.state == "up"
                line.reset()
                if was_up:
                    self.emit(SignalingEvent(HANGUP, ev.channel, cause=CAUSE_NORMAL, reason="station on hook"))
        elif ev.type == "flash":
            if line.state == "up":
                self.emit(SignalingEvent(FLASH, ev.channel, extra={"ms": ev.value}))

    def poll(self, now: float) -> None:
        """Ring cadence."""
        self._now = now
        for ch in list(self._watch):
            line = self.lines[ch]
            if line.state != "alerting":
                self._watch.discard(ch)
                continue
            if line.timer is not None and now < line.timer:
                continue
            if line.ring_on:
                self.span.ring(ch, False)
                line.ring_on = False
                line.timer = now + self.RING_OFF
                if line.rings == 1 and line.caller:
                    burst = CallerIDGenerator().encode(line.caller, name=line.name or None, standard="v23")
                    self.span.claim_inband(ch, self._clip.member(ch, burst))
            else:
                self.span.release_inband(ch)
                self.span.ring(ch, True)
                line.ring_on = True
                line.rings += 1
                line.timer = now + self.RING_ON

    def ring(self, channel: int, caller: str = "", name: str = "") -> None:
        """Alert a station: ring cadence with caller ID after the first ring."""
        line = self.lines[channel]
        if line.state != "idle":
            raise SignalingError(f"station {channel} is busy", 17)
        line.state = "alerting"
        line.caller, line.name = caller, name
        line.rings = 1
        line.ring_on = True
        line.timer = self._now + self.RING_ON
        self._watch.add(channel)
        self.span.ring(channel, True)
        self.emit(SignalingEvent(RINGING, channel))

    def answer(self, channel: int) -> None:
        """A station-originated call is already connected (the phone is off hook)."""

    def hangup(self, channel: int, cause: int = CAUSE_NORMAL) -> None:
        """Stop ringing, or clear the station's call (the set stays off hook until hung up)."""
        line = self.lines.get(channel)
        if line is None or line.state == "idle":
            return
        if line.state == "alerting":
            self.span.ring(channel, False)
            self.span.release_inband(channel)
            line.reset()
        elif line.state == "up":
            line.state = "cleared"

    def dial(self, called: str, caller: str = "", channel: int | None = None, category: str | None = None) -> int:
        """Stations are not dialed through; use ring()."""
        raise SignalingError("stations are rung, not dialed", 58)

    def is_idle(self, channel: int) -> bool:
        """True when the station has no call and is on hook."""
        return self.lines[channel].state == "idle"
