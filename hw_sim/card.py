"""The simulated card: channel layout, the C core, and a registry so the driver
side and the far side of one process find the same card by name."""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.constants import BLOCK, RATE
from trunkline.hw_sim._tlsim import ffi, lib

KIND_CODES = {"bchan": 0, "dchan": 1, "fxo": 2, "fxs": 3}
LAW_CODES = {"alaw": 0, "ulaw": 1}
EVENT_NAMES = {
    1: "ring_on", 2: "ring_off", 3: "offhook", 4: "onhook", 5: "flash", 6: "loop_drop",
    7: "loop_restore", 8: "polarity", 9: "cas", 10: "dframe", 11: "alarm",
}
ALARM_RED, ALARM_BLUE, ALARM_YELLOW = 1, 2, 4
#: one event from either side's queue: (type name, channel, span, value, time in samples)
Event = tuple[str, int, int, int, int]


@dataclass
class SpanLayout:
    """One span of the card: its kind ("e1", "t1", "fxo", "fxs") and board channel indexes."""
    index: int
    kind: str
    law: str
    channels: list[int] = field(default_factory=list)     # all board channels, D-channel included
    bearer: list[int] = field(default_factory=list)       # B-channels / ports, in timeslot order
    dchannel: int | None = None


def build_layout(e1: int = 0, t1: int = 0, fxo: int = 0, fxs: int = 0, fxo_law: str = "alaw",
                 fxs_law: str = "alaw", t1_dchan: bool = True) -> tuple[list[SpanLayout], list[str], list[str]]:
    """Lay out spans on consecutive board channels: E1 = 31 timeslots (16 is D), T1 = 24 (24 is D)."""
    spans: list[SpanLayout] = []
    kinds: list[str] = []
    laws: list[str] = []

    def add(kind: str, law: str) -> int:
        kinds.append(kind)
        laws.append(law)
        return len(kinds) - 1

    for _ in range(e1):
        sp = SpanLayout(len(spans), "e1", "alaw")
        for ts in range(1, 32):
            ch = add("dchan" if ts == 16 else "bchan", "alaw")
            sp.channels.append(ch)
            if ts == 16:
                sp.dchannel = ch
            else:
                sp.bearer.append(ch)
        spans.append(sp)
    for _ in range(t1):
        sp = SpanLayout(len(spans), "t1", "ulaw")
        for ts in range(1, 25):
            is_d = t1_dchan and ts == 24
            ch = add("dchan" if is_d else "bchan", "ulaw")
            sp.channels.append(ch)
            if is_d:
                sp.dchannel = ch
            else:
                sp.bearer.append(ch)
        spans.append(sp)
    for kind, count, law in (("fxo", fxo, fxo_law), ("fxs", fxs, fxs_law)):
        if count:
            sp = SpanLayout(len(spans), kind, law)
            for _ in range(count):
                ch = add(kind, law)
                sp.channels.append(ch)
                sp.bearer.append(ch)
            spans.append(sp)
    return spans, kinds, laws


class SimCard:
    """A simulated telephony card (the C core) with both its sides reachable from Python."""

    def __init__(self, name: str = "default", e1: int = 0, t1: int = 0, fxo: int = 0, fxs: int = 0,
                 block: int = BLOCK, law: str = "alaw") -> None:
        if not 80 <= block <= 320:
            raise ValueError(f"block size {block} samples out of range 80..320")
        self.name = name
        self.block = block
        self.spans, self.kinds, self.laws = build_layout(e1, t1, fxo, fxs, law, law)
        if not self.kinds:
            raise ValueError("a card needs at least one span or port")
        self.channels = len(self.kinds)
        ptr = lib.tlsim_new(self.channels, block)
        if ptr == ffi.NULL:
            raise MemoryError("tlsim_new failed")
        self._s = ffi.gc(ptr, lib.tlsim_free)
        self.span_of = np.zeros(self.channels, dtype=np.int32)
        for sp in self.spans:
            for ch in sp.channels:
                self._check(lib.tlsim_config(self._s, ch, KIND_CODES[self.kinds[ch]], LAW_CODES[self.laws[ch]],
                                             sp.index), "config (span index 0..4095)", ch)
                self.span_of[ch] = sp.index
        self._evbuf = ffi.new("tlsim_event_t[]", 4096)
        self._framebuf = ffi.new("uint8_t[]", 1024)
        self._tick_hooks: list[Callable[[], None]] = []
        self.far: object | None = None    # the far end (pstn Switch) attaches itself here

    # ------------------------------------------------------------ clock
    @property
    def now_samples(self) -> int:
        """Card time in samples since start."""
        return lib.tlsim_now(self._s)

    @property
    def now(self) -> float:
        """Card time in seconds since start."""
        return lib.tlsim_now(self._s) / RATE

    def set_realtime(self, on: bool) -> None:
        """Pace ticks to the wall clock (True) or run as fast as asked (virtual time)."""
        lib.tlsim_set_realtime(self._s, 1 if on else 0)

    def add_tick_hook(self, fn: Callable[[], None]) -> None:
        """Call fn() after every tick (the far end runs its state machines there)."""
        self._tick_hooks.append(fn)

    def tick(self) -> None:
        """Advance the TDM clock one block; in real-time mode this waits for the wall clock."""
        lib.tlsim_tick(self._s)
        for fn in self._tick_hooks:
            fn()

    # ------------------------------------------------------------ card side
    def card_read(self, out: NDArray[np.uint8]) -> None:
        """Fill out (uint8, (channels, block)) with what the card receives this tick."""
        lib.tlsim_card_read(self._s, ffi.from_buffer("uint8_t[]", out, require_writable=True))

    def card_write(self, codes: NDArray[np.uint8]) -> None:
        """Send one block for every channel (uint8, (channels, block), C-contiguous)."""
        lib.tlsim_card_write(self._s, ffi.from_buffer("uint8_t[]", np.ascontiguousarray(codes, dtype=np.uint8)))

    def card_events(self) -> list[Event]:
        """Drain the card-side event queue: list of (type_name, channel, span, value, time_samples)."""
        return self._drain(lib.tlsim_card_events)

    def far_events(self) -> list[Event]:
        """Drain the far-side event queue."""
        return self._drain(lib.tlsim_far_events)

    def _drain(self, fn: Callable[[Any, Any, int], int]) -> list[Event]:
        out = []
        while True:
            n = fn(self._s, self._evbuf, 4096)
            for i in range(n):
                e = self._evbuf[i]
                out.append((EVENT_NAMES.get(e.type, str(e.type)), e.channel, e.span, e.value, e.time))
            if n < 4096:
                return out

    def card_hook(self, ch: int, offhook: bool) -> None:
        """FXO port: go off hook (seize/answer) or on hook (release)."""
        self._check(lib.tlsim_card_hook(self._s, ch, 1 if offhook else 0), "hook", ch)

    def card_ring(self, ch: int, on: bool) -> None:
        """FXS port: start or stop ringing the station."""
        self._check(lib.tlsim_card_ring(self._s, ch, 1 if on else 0), "ring", ch)

    def card_set_cas(self, ch: int, bits: int) -> None:
        """Transmit ABCD bits on a timeslot."""
        self._check(lib.tlsim_card_set_cas(self._s, ch, bits), "set_cas", ch)

    def card_get_cas(self, ch: int) -> int:
        """ABCD bits received on a timeslot."""
        return lib.tlsim_card_get_cas(self._s, ch)

    def card_send_frame(self, ch: int, data: bytes) -> bool:
        """Queue one HDLC frame on a D-channel; False if the controller overran."""
        return lib.tlsim_card_send_frame(self._s, ch, bytes(data), len(data)) == 0

    def card_recv_frame(self, ch: int) -> bytes | None:
        """Next received D-channel frame, or None."""
        n = lib.tlsim_card_recv_frame(self._s, ch, self._framebuf, 1024)
        return None if n < 0 else bytes(ffi.buffer(self._framebuf, n))

    def card_alarms(self, span: int) -> int:
        """Alarm bits (red/blue/yellow) on a span."""
        return lib.tlsim_card_alarms(self._s, span)

    # ------------------------------------------------------------ far side
    def far_ring(self, ch: int, on: bool) -> None:
        """Central office: apply/remove ring voltage on an FXO port."""
        self._check(lib.tlsim_far_ring(self._s, ch, 1 if on else 0), "far_ring", ch)

    def far_hook(self, ch: int, offhook: bool) -> None:
        """Station phone on an FXS port: lift or hang up the handset."""
        self._check(lib.tlsim_far_hook(self._s, ch, 1 if offhook else 0), "far_hook", ch)

    def far_loop(self, ch: int, current: bool) -> None:
        """Central office: drop (False) or restore loop current on an FXO port."""
        self._check(lib.tlsim_far_loop(self._s, ch, 1 if current else 0), "far_loop", ch)

    def far_reverse(self, ch: int) -> None:
        """Central office: reverse battery on an FXO port (answer supervision)."""
        self._check(lib.tlsim_far_reverse(self._s, ch), "far_reverse", ch)

    def far_set_cas(self, ch: int, bits: int) -> None:
        """Network side: transmit ABCD bits."""
        self._check(lib.tlsim_far_set_cas(self._s, ch, bits), "far_set_cas", ch)

    def far_get_cas(self, ch: int) -> int:
        """Network side: ABCD bits the card transmits."""
        return lib.tlsim_far_get_cas(self._s, ch)

    def far_send_frame(self, ch: int, data: bytes) -> bool:
        """Network side: queue a D-channel frame toward the card."""
        return lib.tlsim_far_send_frame(self._s, ch, bytes(data), len(data)) == 0

    def far_recv_frame(self, ch: int) -> bytes | None:
        """Network side: next frame the card sent, or None."""
        n = lib.tlsim_far_recv_frame(self._s, ch, self._framebuf, 1024)
        return None if n < 0 else bytes(ffi.buffer(self._framebuf, n))

    def far_set_alarm(self, span: int, bits: int) -> None:
        """Raise/clear span alarms (bit 1 red/LOS, 2 blue/AIS, 4 yellow/RAI)."""
        self._check(lib.tlsim_far_set_alarm(self._s, span, bits), "far_set_alarm", span)

    def far_play(self, ch: int, pcm: NDArray[np.int16]) -> None:
        """Queue int16 audio (8 kHz) that the far end sends on a channel."""
        pcm = np.ascontiguousarray(pcm, dtype=np.int16)
        self._check(lib.tlsim_far_play(self._s, ch, ffi.from_buffer("int16_t[]", pcm), len(pcm)), "far_play", ch)

    def far_play_pending(self, ch: int) -> int:
        """Samples the far end still has queued to send."""
        return lib.tlsim_far_play_pending(self._s, ch)

    def far_play_clear(self, ch: int) -> None:
        """Drop what the far end had queued to send."""
        lib.tlsim_far_play_clear(self._s, ch)

    def far_capture(self, ch: int, on: bool) -> None:
        """Start/stop keeping what the far end hears on a channel."""
        self._check(lib.tlsim_far_capture(self._s, ch, 1 if on else 0), "far_capture", ch)

    def far_capture_take(self, ch: int) -> NDArray[np.int16]:
        """Return (and forget) what the far end heard since the last call, int16."""
        chunks = []
        buf = np.empty(8192, dtype=np.int16)
        while True:
            n = lib.tlsim_far_capture_take(self._s, ch, ffi.from_buffer("int16_t[]", buf, require_writable=True),
                                           len(buf))
            if n <= 0:
                break
            chunks.append(buf[:n].copy())
            if n < len(buf):
                break
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def far_read(self, out: NDArray[np.uint8]) -> None:
        """Fill out (uint8, (channels, block)) with what the far end hears this tick."""
        lib.tlsim_far_read(self._s, ffi.from_buffer("uint8_t[]", out, require_writable=True))

    def far_connect(self, a: int, b: int) -> None:
        """Switch two channels' far ends together (b=-1 undoes it)."""
        self._check(lib.tlsim_far_connect(self._s, a, b), "far_connect", a)

    def far_hook_state(self, ch: int) -> int:
        """The card's hook state as the network sees it (1 = off hook)."""
        return lib.tlsim_far_hook_state(self._s, ch)

    @staticmethod
    def _check(rc: int, what: str, ch: int) -> None:
        if rc < 0:
            raise ValueError(f"simulated card: {what} refused on channel/span {ch}")


_CARDS: dict[str, SimCard] = {}

# URL query keys and their meaning for sim:// boards
PRESETS = {
    "default": dict(e1=4, fxo=24, fxs=8),
    "density": dict(fxo=10000),
}


def parse_sim_url(url: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Parse sim://NAME?e1=4&t1=0&fxo=24&fxs=8&block=160&channels=N into (name, card kwargs, options)."""
    if not url.startswith("sim://"):
        raise ValueError(f"not a simulator URL: {url!r}")
    rest = url[len("sim://"):]
    name, _, query = rest.partition("?")
    name = name or "default"
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    kw: dict[str, Any] = dict(PRESETS.get(name, {}))
    if "channels" in params:   # density preset: N analog ports
        kw = dict(fxo=int(params.pop("channels")))
    for key in ("e1", "t1", "fxo", "fxs", "block"):
        if key in params:
            kw[key] = int(params.pop(key))
    if "law" in params:
        kw["law"] = params.pop("law")
    if not any(kw.get(k) for k in ("e1", "t1", "fxo", "fxs")):
        raise ValueError(f"{url}: no spans or ports (use e1=, t1=, fxo=, fxs= or channels=)")
    return name, kw, params


def open_card(url: str) -> SimCard:
    """The card named by a sim:// URL, created on first use; driver and far end share it."""
    name, kw, _ = parse_sim_url(url)
    card = _CARDS.get(name)
    if card is None:
        card = SimCard(name, **kw)
        _CARDS[name] = card
    return card


def forget_card(name: str) -> None:
    """Drop a card from the registry (tests create fresh cards per test)."""
    _CARDS.pop(name, None)
