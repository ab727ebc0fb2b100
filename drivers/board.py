"""The board API: a card's spans and channels, block I/O for all channels, line events.

Backends are chosen by URL, as pyserial does: `open_board("sim://default")`,
`open_board("sim://density?channels=10000")`; a `dahdi://` backend presents the
same API. Signaling stacks (drivers/signaling) sit on `Span`s; the media engine
reads and writes `(channels, block)` G.711 arrays once per tick.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends import Backend
from trunkline.drivers.backends.browser import BrowserPhones
from trunkline.drivers.backends.composite import CompositeBackend
from trunkline.drivers.backends.dahdi import DahdiBackend
from trunkline.drivers.backends.sim import SimBackend
from trunkline.drivers.backends.sip import SipBackend
from trunkline.drivers.sip.config import SipSettings
from trunkline.dsp.constants import RATE
from trunkline.dsp.g711 import MixedLawCodec


@dataclass
class LineEvent:
    """One line event from the board: type name, board channel (-1 for span-wide), span, value, time in samples."""
    type: str
    channel: int
    span: int
    value: int
    time: int


class InbandGroup(Protocol):
    """Serves the in-band handlers of many channels as one array per tick (a span's R2 registers, ...)."""

    def rx_rows(self, channels: NDArray[np.int64], audio: NDArray[np.int16]) -> None:
        """Take the received int16 audio of these board channels, shaped (len(channels), block)."""

    def tx_rows(self, channels: NDArray[np.int64], n: int) -> NDArray[np.int16] | None:
        """The int16 audio to send on these board channels, shaped (len(channels), n); None: the engine's."""


class InbandHandler:
    """In-band signaling on a channel (MF/DTMF dialing, caller ID, R2 MF): sees and replaces its audio.

    A handler whose `group` is set is not called per channel: the board hands all channels of that
    group to group.rx_rows / group.tx_rows once per tick."""

    group: "InbandGroup | None" = None

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Take one block of int16 audio received on the channel."""

    def tx(self, n: int) -> NDArray[np.int16] | None:
        """Return n int16 samples to send instead of the engine's audio, or None to let it through."""
        return None

    def digit(self, d: str) -> None:
        """A DTMF digit the engine's detector heard on the channel (handlers that want digits override this)."""


class AudioWatcher(Protocol):
    """Sees the received audio of a group of channels every tick, as one int16 (channels, block) array."""

    def rx_rows(self, audio: NDArray[np.int16]) -> None: ...


class Span:
    """A group of board channels under one signaling: an E1/T1 span or a group of analog ports."""

    def __init__(self, board: "Board", index: int, kind: str, law: str, channels: Sequence[int],
                 bearer: Sequence[int], dchannel: int | None) -> None:
        self.board = board
        self.index = index
        self.kind = kind                   # "e1", "t1", "fxo", "fxs"
        self.law = law
        self.channels = list(channels)
        self.bearer_channels = list(bearer)
        self.dchannel = dchannel

    def __repr__(self) -> str:
        return f"<Span {self.index} {self.kind} {len(self.bearer_channels)}ch>"

    @property
    def alarms(self) -> int:
        """Alarm bits on the span (1 red, 2 blue, 4 yellow)."""
        return self.board.backend.alarms(self.index)

    def send_frame(self, data: bytes) -> bool:
        """Send one D-channel frame (octets without flags/FCS); False on overrun."""
        if self.dchannel is None:
            raise ValueError(f"span {self.index} has no D-channel")
        return self.board.backend.send_frame(self.dchannel, data)

    def recv_frame(self) -> bytes | None:
        """Next D-channel frame received, or None."""
        if self.dchannel is None:
            return None
        return self.board.backend.recv_frame(self.dchannel)

    def set_cas(self, channel: int, bits: int) -> None:
        """Transmit ABCD bits on a timeslot (board channel index)."""
        self.board.backend.set_cas(channel, bits)

    def get_cas(self, channel: int) -> int:
        """ABCD bits received on a timeslot."""
        return self.board.backend.get_cas(channel)

    def hook(self, channel: int, offhook: bool) -> None:
        """FXO: go off hook (answer/seize) or on hook."""
        self.board.backend.hook(channel, offhook)

    def ring(self, channel: int, on: bool) -> None:
        """FXS: ring or stop ringing the station."""
        self.board.backend.ring(channel, on)

    def claim_inband(self, channel: int, handler: InbandHandler) -> None:
        """Let an in-band signaling handler hear and drive a channel's audio until released."""
        self.board.claim_inband(channel, handler)

    def release_inband(self, channel: int) -> None:
        """Give the channel's audio back to the engine."""
        self.board.release_inband(channel)

    def watch_audio(self, handler: AudioWatcher) -> None:
        """Have handler.rx_rows(audio) see all bearer channels' received audio every tick, as one array."""
        self.board.watch_audio(self.bearer_channels, handler)


class Board:
    """One card: its spans, per-channel laws, block I/O and events, over a backend."""

    def __init__(self, backend: Backend, url: str) -> None:
        self.backend = backend
        self.url = url
        self.block = backend.block
        self.channels = backend.channels
        self.laws = backend.laws
        self.kinds = backend.kinds
        self.spans = [Span(self, *sp) for sp in backend.span_specs()]
        self.span_of = np.zeros(self.channels, dtype=np.int32)
        for sp in self.spans:
            self.span_of[sp.channels] = sp.index
        self._codes = np.empty((self.channels, self.block), dtype=np.uint8)
        self._inband: dict[int, InbandHandler] = {}
        self._ib_dirty = False
        self._ib_rows = np.zeros(0, dtype=np.int64)          # claimed channels, ascending
        self._ib_groups: list[tuple[InbandGroup, NDArray[np.int64], NDArray[np.int64]]] = []  # (group, chans, idx)
        self._ib_single: list[tuple[int, int, InbandHandler]] = []   # (index into rows, channel, handler)
        # (rows, handler): handler.rx_rows(audio of those rows) every tick
        self._span_watchers: list[tuple[NDArray[np.int64], AudioWatcher]] = []
        self.codec = MixedLawCodec(self.laws)
        # SIP parts of the board and their first board channel (RTP: out-of-band digits, stream control)
        parts = backend.parts if isinstance(backend, CompositeBackend) else [backend]
        offsets = backend.offsets if isinstance(backend, CompositeBackend) else [0]
        self.sip_parts: list[tuple[SipBackend, int]] = [
            (p, off) for p, off in zip(parts, offsets, strict=True) if isinstance(p, SipBackend)]
        #: the browser-phone station ports (WebRTC agents), when the board was opened with some
        self.phones: BrowserPhones | None = next((p for p in parts if isinstance(p, BrowserPhones)), None)

    @property
    def realtime(self) -> bool:
        """True when ticks follow the wall clock."""
        return self.backend.realtime

    @property
    def now(self) -> float:
        """Board time in seconds."""
        return self.backend.now_samples() / RATE

    def set_realtime(self, on: bool) -> None:
        """Pace the clock to the wall clock or run in virtual time."""
        self.backend.set_realtime(on)

    def _inband_plan(self) -> None:
        """Group the claimed channels once per change: rows, groups and per-channel handlers."""
        rows = np.array(sorted(self._inband), dtype=np.int64)
        groups: dict[int, tuple[InbandGroup, list[int]]] = {}
        single = []
        for i, ch in enumerate(rows.tolist()):
            h = self._inband[ch]
            if h.group is not None:
                groups.setdefault(id(h.group), (h.group, []))[1].append(i)
            else:
                single.append((i, ch, h))
        self._ib_rows = rows
        self._ib_groups = [(g, rows[idx], np.array(idx, dtype=np.int64)) for g, idx in groups.values()]
        self._ib_single = single
        self._ib_dirty = False

    def read(self) -> NDArray[np.uint8]:
        """Receive one block for every channel: uint8 G.711 codes shaped (channels, block)."""
        self.backend.read(self._codes)
        for rows, handler in self._span_watchers:
            handler.rx_rows(self.codec.decode(self._codes[rows], rows=rows))
        if self._inband:
            if self._ib_dirty:
                self._inband_plan()
            rows = self._ib_rows
            pcm = self.codec.decode(self._codes[rows], rows=rows)      # all in-band channels in one step
            for group, chans, idx in self._ib_groups:
                group.rx_rows(chans, pcm[idx])
            for i, ch, single in self._ib_single:
                if self._inband.get(ch) is single:
                    single.rx(pcm[i])
        return self._codes

    def write(self, codes: NDArray[np.uint8]) -> None:
        """Send one block for every channel; channels held by in-band signaling send its audio."""
        if self._inband:
            if self._ib_dirty:
                self._inband_plan()
            codes = np.array(codes, dtype=np.uint8, copy=True)
            rows = self._ib_rows
            pcm = np.zeros((len(rows), self.block), dtype=np.int16)
            send = np.zeros(len(rows), dtype=bool)
            for group, chans, idx in self._ib_groups:
                out = group.tx_rows(chans, self.block)
                if out is not None:                   # None: the engine's audio goes through
                    pcm[idx] = out
                    send[idx] = True
            for i, ch, handler in self._ib_single:
                if self._inband.get(ch) is not handler:
                    continue
                out = handler.tx(self.block)
                if out is not None:
                    pcm[i] = np.asarray(out, dtype=np.int16)[:self.block]
                    send[i] = True
            if send.any():
                sel = rows[send]
                codes[sel] = self.codec.encode(pcm[send], rows=sel)     # one step for all of them
        self.backend.write(codes)

    def take_digits(self) -> list[tuple[int, str]]:
        """Out-of-band digits (RFC 4733) received this tick: (board channel, digit)."""
        out: list[tuple[int, str]] = []
        for part, off in self.sip_parts:
            out.extend((ch + off, d) for ch, d in part.take_digits())
        return out

    def send_digits(self, channel: int, digits: str) -> bool:
        """Send digits out of band (RFC 4733) when the channel's far end takes them; False otherwise."""
        for part, off in self.sip_parts:
            if off <= channel < off + part.channels:
                return part.send_digits(channel - off, digits)
        return False

    def sip_part(self, span: Span) -> tuple[SipBackend, int]:
        """The SIP backend under a "sip" span and its first board channel."""
        for part, off in self.sip_parts:
            if off <= span.channels[0] < off + part.channels:
                return part, off
        raise ValueError(f"span {span.index} is not a SIP span")

    def tick(self) -> None:
        """Advance the board clock one block (waits for the wall clock in real-time mode)."""
        self.backend.tick()

    def events(self) -> list[LineEvent]:
        """Line events since the last call, as LineEvent objects."""
        return [LineEvent(*e) for e in self.backend.events()]

    def watch_audio(self, channels: Sequence[int], handler: AudioWatcher) -> None:
        """Give handler.rx_rows(int16 (len(channels), block)) the audio of these channels every tick (vectorised)."""
        self._span_watchers.append((np.asarray(channels, dtype=np.int64), handler))

    def claim_inband(self, channel: int, handler: InbandHandler) -> None:
        """Attach an in-band signaling handler to a channel."""
        self._inband[channel] = handler
        self._ib_dirty = True

    def release_inband(self, channel: int) -> None:
        """Detach the in-band handler of a channel."""
        if self._inband.pop(channel, None) is not None:
            self._ib_dirty = True

    def inband_digit(self, channel: int, digit: str) -> None:
        """Pass a DTMF digit detected on a channel to its in-band handler, if it wants digits."""
        handler = self._inband.get(channel)
        if handler is not None:
            handler.digit(digit)

    def inband_active(self, channel: int) -> bool:
        """True while in-band signaling holds the channel's audio."""
        return channel in self._inband

    def echo_cancel(self, channel: int, on: bool) -> bool:
        """Echo canceller on or off (fax, data) on a channel; False when the card has none."""
        fn = getattr(self.backend, "echo_cancel", None)
        return bool(fn(channel, on)) if fn is not None else False

    def health(self) -> dict[str, object]:
        """The board's device state for operators: backend, status ("ok" or what is wrong), counters."""
        probe = getattr(self.backend, "health", None)
        if probe is not None:
            return dict(probe())
        return {"backend": self.url.split("://", 1)[0], "status": "ok"}

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()


def open_board(url: str, sip: SipSettings | None = None, browser_phones: int = 0) -> Board:
    """Open a board by URL: sim://NAME?... (software card) or dahdi://SPAN (real cards); with
    browser_phones > 0 (sim://), that many WebRTC station ports follow the card's channels
    (drivers/backends/browser); with `sip`, a SIP span of sip.channels channels follows them (sip:// alone:
    only the SIP span)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sip":
        if sip is None:
            raise ValueError("a sip:// board needs SIP settings")
        return Board(SipBackend(sip), url)
    if sip is not None:
        inner = open_board(url, browser_phones=browser_phones)
        return Board(CompositeBackend([inner.backend, SipBackend(sip)]), url)
    if scheme == "sim":
        backend: Backend = SimBackend(url)
        return Board(BrowserPhones(backend, browser_phones) if browser_phones else backend, url)
    if scheme == "dahdi":
        return Board(DahdiBackend(url), url)
    raise ValueError(f"unknown board URL {url!r}: expected sim://NAME or dahdi://SPAN")
