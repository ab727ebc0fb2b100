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
from trunkline.drivers.backends.sim import SimBackend
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


class InbandHandler:
    """In-band signaling on a channel (MF/DTMF dialing, caller ID, R2 MF): sees and replaces its audio."""

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
        # (rows, handler): handler.rx_rows(audio of those rows) every tick
        self._span_watchers: list[tuple[NDArray[np.int64], AudioWatcher]] = []
        self.codec = MixedLawCodec(self.laws)
        #: the browser-phone station ports (WebRTC agents), when the board was opened with some
        self.phones: BrowserPhones | None = backend if isinstance(backend, BrowserPhones) else None

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

    def read(self) -> NDArray[np.uint8]:
        """Receive one block for every channel: uint8 G.711 codes shaped (channels, block)."""
        self.backend.read(self._codes)
        for rows, handler in self._span_watchers:
            handler.rx_rows(self.codec.decode(self._codes[rows], rows=rows))
        if self._inband:
            for ch, inband in list(self._inband.items()):
                inband.rx(self.codec.decode(self._codes[ch:ch + 1])[0])
        return self._codes

    def write(self, codes: NDArray[np.uint8]) -> None:
        """Send one block for every channel; channels held by in-band signaling send its audio."""
        if self._inband:
            codes = np.array(codes, dtype=np.uint8, copy=True)
            for ch, handler in list(self._inband.items()):
                pcm = handler.tx(self.block)
                if pcm is not None:
                    codes[ch] = self.codec.encode(np.asarray(pcm, dtype=np.int16)[None, :], rows=[ch])[0]
        self.backend.write(codes)

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

    def release_inband(self, channel: int) -> None:
        """Detach the in-band handler of a channel."""
        self._inband.pop(channel, None)

    def inband_digit(self, channel: int, digit: str) -> None:
        """Pass a DTMF digit detected on a channel to its in-band handler, if it wants digits."""
        handler = self._inband.get(channel)
        if handler is not None:
            handler.digit(digit)

    def inband_active(self, channel: int) -> bool:
        """True while in-band signaling holds the channel's audio."""
        return channel in self._inband

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()


def open_board(url: str, browser_phones: int = 0) -> Board:
    """Open a board by URL: sim://NAME?... (software card) or dahdi://SPAN (real cards); with
    browser_phones > 0, that many WebRTC station ports follow the card's channels (drivers/backends/browser)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sim":
        backend: Backend = SimBackend(url)
        return Board(BrowserPhones(backend, browser_phones) if browser_phones else backend, url)
    if scheme == "dahdi":
        raise NotImplementedError("the dahdi:// backend is not implemented yet; use sim://")
    raise ValueError(f"unknown board URL {url!r}: expected sim://NAME or dahdi://SPAN")
