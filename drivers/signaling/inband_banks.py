"""In-band signaling banks for analog spans: DTMF dialling, call-progress watching and caller ID sending
for all lines of a span in one array step per tick (InbandGroup), not one DSP object per line.

Each bank gives out handlers (`member(...)`) that the span claims a line with; the board then hands
the bank the audio of all its claimed lines at once (rx_rows) and takes what they send (tx_rows).
A line's slot is reused when it is claimed again; slots of released lines are freed the next tick.
Per-line Python runs only on events: a number fully dialled, a tone recognised.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.board import InbandHandler
from trunkline.dsp.callerid import CallerIDBank
from trunkline.dsp.cpa import CallProgressDetector
from trunkline.dsp.dtmf import DTMFGenerator
from trunkline.dsp.level import dbm0_to_power


class _Member(InbandHandler):
    """The handler a span claims a line with: all of its work is done by its bank."""

    def __init__(self, group: _SlotBank, channel: int = -1) -> None:
        self.group = group
        self.bank = group
        self.channel = channel

    def digit(self, d: str) -> None:
        """A DTMF digit heard on the line (the engine's detector): passed to the bank."""
        self.bank.digit(self.channel, d)


class _SlotBank:
    """Slots for the lines of one span: board channel -> slot in a numpy array (no per-line lookups)."""

    def __init__(self, channels: list[int]) -> None:
        self._slot = np.full(max(channels, default=0) + 1, -1, dtype=np.int64)
        self._chan: list[int] = []
        self._free: list[int] = []
        self.capacity = 0

    def _take(self, ch: int) -> int:
        slot = int(self._slot[ch])
        if slot < 0:
            if self._free:
                slot = heapq.heappop(self._free)
                self._chan[slot] = ch
            else:
                slot = self.capacity
                self._grow(max(8, 2 * self.capacity))
                self._chan[slot] = ch
            self._slot[ch] = slot
        return slot

    def _grow(self, cap: int) -> None:
        self._chan.extend([-1] * (cap - self.capacity))
        self._free.extend(range(self.capacity + 1, cap))
        heapq.heapify(self._free)
        self.capacity = cap

    def _slots(self, channels: NDArray[np.int64]) -> NDArray[np.int64]:
        """Slots of the claimed channels; slots of lines no longer claimed are freed."""
        slots = self._slot[channels]
        held = np.zeros(self.capacity, dtype=bool)
        held[slots] = True
        for slot in np.flatnonzero(~held).tolist():          # released lines (rare): free their slots
            ch = self._chan[slot]
            if ch >= 0:
                self._slot[ch] = -1
                self._chan[slot] = -1
                self._release(slot)
                heapq.heappush(self._free, slot)
        return slots

    def _release(self, slot: int) -> None:
        """A slot's line was released (banks override to stop its work)."""

    def digit(self, ch: int, d: str) -> None:
        """A DTMF digit heard on a claimed line (banks that want digits override)."""

    def rx_rows(self, channels: NDArray[np.int64], audio: NDArray[np.int16]) -> None:
        """Received audio of the claimed lines (banks that listen override)."""

    def tx_rows(self, channels: NDArray[np.int64], n: int) -> NDArray[np.int16] | None:
        """Audio to send on the claimed lines, or None to let the engine's audio through."""
        return None


class DialerBank(_SlotBank):
    """DTMF dialling on many lines: one DTMFGenerator over the slots; done() once a number has gone out."""

    def __init__(self, channels: list[int], on_ms: float = 80, off_ms: float = 80) -> None:
        super().__init__(channels)
        self.on_ms, self.off_ms = on_ms, off_ms
        self.gen = DTMFGenerator(1, on_ms=on_ms, off_ms=off_ms)
        self._done: list[Callable[[], None] | None] = []

    def _grow(self, cap: int) -> None:
        old = self.gen
        super()._grow(cap)
        self.gen = DTMFGenerator(cap, on_ms=self.on_ms, off_ms=self.off_ms)
        for name in ("_low_amp", "_high_amp", "_on", "_off", "_digit", "_tone", "_left", "_elapsed", "_active"):
            getattr(self.gen, name)[:old.channels] = getattr(old, name)
        self.gen._queues[:old.channels] = old._queues
        self._done.extend([None] * (cap - len(self._done)))

    def member(self, ch: int, digits: str, done: Callable[[], None]) -> InbandHandler:
        """Dial `digits` on board channel ch; done() when they have been sent."""
        slot = self._take(ch)
        self.gen.clear(slot)
        self.gen.put(slot, digits)
        self._done[slot] = done
        return _Member(self)

    def _release(self, slot: int) -> None:
        self.gen.clear(slot)
        self._done[slot] = None

    def tx_rows(self, channels: NDArray[np.int64], n: int) -> NDArray[np.int16]:
        """The next n samples of dialling on every claimed line."""
        slots = self._slots(channels)
        idle_before = ~self.gen._active[slots]
        out = self.gen.generate(n)[slots]
        for slot in slots[idle_before].tolist():             # finished dialling (once per number)
            fn, self._done[slot] = self._done[slot], None
            if fn is not None:
                fn()
        return out


class ToneWatchBank(_SlotBank):
    """Call-progress watching on many dialled lines: one CallProgressDetector over the slots; each tone
    (ringback, busy, congestion, sit, ...) is reported once per watch."""

    def __init__(self, channels: list[int], zone: str) -> None:
        super().__init__(channels)
        self.cpa = CallProgressDetector(0, zone=zone)
        self._report: list[Callable[[str], None] | None] = []
        self._seen: list[set[str]] = []

    def _grow(self, cap: int) -> None:
        super()._grow(cap)
        self.cpa.grow(cap)
        self._report.extend([None] * (cap - len(self._report)))
        self._seen.extend(set() for _ in range(cap - len(self._seen)))

    def member(self, ch: int, report: Callable[[str], None]) -> InbandHandler:
        """Watch board channel ch; report(what) once for each tone recognised."""
        slot = self._take(ch)
        self.cpa.reset(slot)
        self._report[slot] = report
        self._seen[slot] = set()
        return _Member(self)

    def _release(self, slot: int) -> None:
        self._report[slot] = None

    def rx_rows(self, channels: NDArray[np.int64], audio: NDArray[np.int16]) -> None:
        """Analyse the received audio of every watched line in one step."""
        slots = self._slots(channels)
        x = np.zeros((self.capacity, audio.shape[1]), dtype=np.int16)
        x[slots] = audio
        for slot, what in self.cpa.process(x):
            report = self._report[slot]
            if report is not None and what not in self._seen[slot]:
                self._seen[slot].add(what)
                report(what)


class ClipSenderBank(_SlotBank):
    """Caller ID bursts to many stations at once: each slot's audio, then silence, gathered in one step."""

    def __init__(self, channels: list[int]) -> None:
        super().__init__(channels)
        self.buf = np.zeros((0, 0), dtype=np.int16)
        self.length = np.zeros(0, dtype=np.int64)
        self.pos = np.zeros(0, dtype=np.int64)

    def _grow(self, cap: int) -> None:
        old = self.capacity
        super()._grow(cap)
        buf = np.zeros((cap, self.buf.shape[1]), dtype=np.int16)
        buf[:old] = self.buf
        self.buf = buf
        self.length = np.concatenate([self.length, np.zeros(cap - old, np.int64)])
        self.pos = np.concatenate([self.pos, np.zeros(cap - old, np.int64)])

    def member(self, ch: int, audio: NDArray[np.int16]) -> InbandHandler:
        """Send int16 `audio` (a caller ID burst) on board channel ch, then silence."""
        slot = self._take(ch)
        if len(audio) > self.buf.shape[1]:
            self.buf = np.pad(self.buf, ((0, 0), (0, len(audio) - self.buf.shape[1])))
        self.buf[slot] = 0
        self.buf[slot, :len(audio)] = audio
        self.length[slot], self.pos[slot] = len(audio), 0
        return _Member(self)

    def tx_rows(self, channels: NDArray[np.int64], n: int) -> NDArray[np.int16]:
        """The next n samples of every claimed line's burst (zeros after its end)."""
        slots = self._slots(channels)
        idx = self.pos[slots][:, None] + np.arange(n)[None, :]
        valid = idx < self.length[slots][:, None]
        width = max(self.buf.shape[1], 1)
        src = self.buf[slots[:, None], np.minimum(idx, width - 1)] if self.buf.shape[1] else np.zeros(idx.shape,
                                                                                                   np.int16)
        self.pos[slots] += n
        return np.where(valid, src, 0).astype(np.int16)


class CallerIDListenBank(_SlotBank):
    """Caller ID reception between the first and second ring on many lines: FSK (V.23 and Bell 202) by two
    CallerIDBanks over the slots in one step per tick, DTMF caller ID (A/D...C) from the engine's digits.
    A line's FSK is demodulated from its first non-quiet block; done(info) once per line."""

    QUIET = dbm0_to_power(-45.0)   # mean square of -45 dBm0

    def __init__(self, channels: list[int]) -> None:
        super().__init__(channels)
        self.fsk = [CallerIDBank(0, "v23"), CallerIDBank(0, "bell202")]
        self._done: list[Callable[[dict[str, Any]], None] | None] = []
        self._digits: list[str | None] = []          # DTMF caller ID under way (None: not started)
        self.heard = np.zeros(0, dtype=bool)
        self.open = np.zeros(0, dtype=bool)           # FSK still wanted (not finished, no DTMF caller ID)

    def _grow(self, cap: int) -> None:
        old = self.capacity
        super()._grow(cap)
        for bank in self.fsk:
            bank.grow(cap)
        self._done.extend([None] * (cap - old))
        self._digits.extend([None] * (cap - old))
        self.heard = np.concatenate([self.heard, np.zeros(cap - old, bool)])
        self.open = np.concatenate([self.open, np.zeros(cap - old, bool)])

    def member(self, ch: int, done: Callable[[dict[str, Any]], None]) -> InbandHandler:
        """Listen for caller ID on board channel ch; done(info) with the caller's number (and name)."""
        slot = self._take(ch)
        for bank in self.fsk:
            bank.reset(slot)
        self._done[slot] = done
        self._digits[slot] = None
        self.heard[slot], self.open[slot] = False, True
        return _Member(self, ch)

    def _release(self, slot: int) -> None:
        self._done[slot] = None
        self.open[slot] = False

    def _finish(self, slot: int, info: dict[str, Any]) -> None:
        fn, self._done[slot] = self._done[slot], None
        self.open[slot] = False
        if fn is not None:
            fn(info)

    def digit(self, ch: int, d: str) -> None:
        """DTMF caller ID: A or D starts it (FSK stops), digits follow, C ends it."""
        slot = int(self._slot[ch]) if ch < len(self._slot) else -1
        if slot < 0 or self._done[slot] is None:
            return
        s = self._digits[slot]
        if d in "AD" and s is None:
            self._digits[slot] = ""
            self.open[slot] = False
        elif d == "C" and s is not None:
            self._finish(slot, {"number": s, "standard": "dtmf"})
        elif s is not None and d in "0123456789":
            self._digits[slot] = s + d

    def rx_rows(self, channels: NDArray[np.int64], audio: NDArray[np.int16]) -> None:
        """Demodulate FSK on every listening line that has carried a signal, in one step per standard."""
        slots = self._slots(channels)
        x32 = audio.astype(np.float32)
        loud = np.einsum("ij,ij->i", x32, x32) / max(audio.shape[1], 1) >= self.QUIET
        self.heard[slots] |= loud & self.open[slots]
        feed = self.open[slots] & self.heard[slots]
        if not feed.any():
            return
        x = np.zeros((self.capacity, audio.shape[1]), dtype=np.int16)
        x[slots[feed]] = audio[feed]
        for bank in self.fsk:
            for slot, result in bank.process(x):
                if self.open[slot] and self._done[slot] is not None:
                    self._finish(slot, dict(result))
