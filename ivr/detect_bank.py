"""Answer analysis for every answered campaign call of an engine in one step per tick: fax tones (CPA) + AMD.

One DetectBank per engine (Engine.bank) holds a slot per call under analysis. Each tick
its rx(audio) gathers those calls' received audio, runs call progress detection
(dsp.cpa.CallProgressDetector over all slots: CNG/CED means "fax") and answering-machine
detection (ivr.amd_bank.AMDBank) over the slots still undecided, as arrays; per-call
Python runs only when a call joins or leaves. The verdicts are those of one CPA + one
AnsweringMachineDetector per call: "fax" on CNG/CED, else the AMD's "human" / "machine"
("silence" stays open: a fax's CNG may still come).
"""
from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from trunkline.dsp.cpa import CallProgressDetector
from trunkline.media.call import Call
from trunkline.media.engine import Engine

from .amd_bank import SILENT, UNDECIDED, VERDICTS, AMDBank

_FAX = 4
_RESULTS = (None, "human", "machine", None, "fax")


class Detection:
    """One call's analysis in the bank: result ("fax"/"human"/"machine" or None), samples analysed,
    and the AMD's verdict so far; frozen when the call leaves the bank."""

    def __init__(self, bank: DetectBank, slot: int, channel: int) -> None:
        self.bank: DetectBank | None = bank
        self.slot = slot
        self.channel = channel
        self._frozen: tuple[str | None, int, str | None] = (None, 0, None)
        self._kept: np.ndarray | None = None

    @property
    def result(self) -> str | None:
        """"fax", "human" or "machine" once decided, else None."""
        b = self.bank
        return _RESULTS[b.result[self.slot]] if b is not None else self._frozen[0]

    @property
    def samples(self) -> int:
        """Samples analysed before the result (8 kHz)."""
        b = self.bank
        return int(b.samples[self.slot]) if b is not None else self._frozen[1]

    @property
    def amd_verdict(self) -> str | None:
        """The AMD's verdict so far ("silence" included), or None."""
        b = self.bank
        return VERDICTS[b.amd.verdict[self.slot]] if b is not None else self._frozen[2]


    @property
    def keep(self) -> int:
        """Samples of received audio this call keeps for a later classifier (0 = none)."""
        b = self.bank
        return int(b.keep[self.slot]) if b is not None else (0 if self._kept is None else len(self._kept))

    @property
    def kept_n(self) -> int:
        """Samples kept so far (8 kHz)."""
        b = self.bank
        return int(b.kept_n[self.slot]) if b is not None else (0 if self._kept is None else len(self._kept))

    @property
    def kept(self) -> list[np.ndarray]:
        """The received audio kept so far, as one int16 array in a list."""
        b = self.bank
        if b is not None:
            return [b.kept_audio(self.slot)]
        return [self._kept if self._kept is not None else np.zeros(0, np.int16)]


class DetectBank:
    """CPA + AMD over all calls under answer analysis on one engine."""

    NAME = "ivr.detect"

    def __init__(self) -> None:
        self.cpa = CallProgressDetector(0, silence_ms=60000.0)
        self.amd = AMDBank()
        self.capacity = 0
        self.hi = 0
        self._free: list[int] = []
        self.ch = np.zeros(0, dtype=np.int64)          # slot -> engine channel
        self.live = np.zeros(0, dtype=bool)
        self.result = np.zeros(0, dtype=np.int8)
        self.samples = np.zeros(0, dtype=np.int64)
        self.keep = np.zeros(0, dtype=np.int64)         # samples to keep per slot (announcement classifier)
        self.kept_n = np.zeros(0, dtype=np.int64)
        self.kept_buf = np.zeros((0, 0), dtype=np.int16)   # (capacity, most kept); grown on demand
        self.active = 0

    @classmethod
    def of(cls, engine: Engine) -> DetectBank:
        """The engine's bank (made and registered on first use)."""
        bank = engine.bank(cls.NAME, cls)
        assert isinstance(bank, DetectBank)
        return bank

    def add(self, call: Call, amd_kw: dict[str, Any] | None = None, keep: int = 0) -> Detection:
        """Start analysing `call` (AnsweringMachineDetector keyword parameters in amd_kw); keep its first
        `keep` samples of received audio (8 kHz) for a classifier run after the verdict."""
        if self._free:
            slot = heapq.heappop(self._free)
        else:
            if self.hi == self.capacity:
                self._grow(max(16, 2 * self.capacity))
            slot, self.hi = self.hi, self.hi + 1
        self.cpa.reset(slot)
        self.amd.start(slot, **(amd_kw or {}))
        self.ch[slot] = call.channel
        self.live[slot] = True
        self.result[slot] = UNDECIDED
        self.samples[slot] = 0
        self.keep[slot], self.kept_n[slot] = max(0, int(keep)), 0
        if keep > self.kept_buf.shape[1]:
            grown = np.zeros((self.capacity, int(keep)), np.int16)
            grown[:, :self.kept_buf.shape[1]] = self.kept_buf
            self.kept_buf = grown
        self.active += 1
        return Detection(self, slot, call.channel)

    def remove(self, det: Detection) -> None:
        """Stop analysing (the call's result stays readable on `det`)."""
        if det.bank is not self:
            return
        det._frozen = (det.result, det.samples, det.amd_verdict)
        det._kept = self.kept_audio(det.slot) if self.keep[det.slot] else None
        self.keep[det.slot] = self.kept_n[det.slot] = 0
        det.bank = None
        self.live[det.slot] = False
        self.ch[det.slot] = 0
        heapq.heappush(self._free, det.slot)
        self.active -= 1

    def _grow(self, cap: int) -> None:
        extra = cap - self.capacity
        self.cpa.grow(cap)
        self.amd.grow(cap)
        self.ch = np.concatenate([self.ch, np.zeros(extra, np.int64)])
        self.live = np.concatenate([self.live, np.zeros(extra, bool)])
        self.result = np.concatenate([self.result, np.zeros(extra, np.int8)])
        self.samples = np.concatenate([self.samples, np.zeros(extra, np.int64)])
        self.keep = np.concatenate([self.keep, np.zeros(extra, np.int64)])
        self.kept_n = np.concatenate([self.kept_n, np.zeros(extra, np.int64)])
        self.kept_buf = np.concatenate([self.kept_buf, np.zeros((extra, self.kept_buf.shape[1]), np.int16)])
        self.capacity = cap

    def kept_audio(self, slot: int) -> np.ndarray:
        """A copy of the audio kept for `slot` (int16)."""
        return self.kept_buf[slot, :self.kept_n[slot]].copy()

    def rx(self, audio: np.ndarray) -> None:
        """This tick's received audio of every engine channel: analyse the calls in the bank."""
        if not self.active:
            return
        x = audio[self.ch]                                         # (capacity, block); free slots ignored
        keeping = np.flatnonzero(self.live & (self.kept_n < self.keep))   # kept after the verdict too
        if keeping.size:
            n = x.shape[1]
            room = np.minimum(self.keep[keeping] - self.kept_n[keeping], n)
            cols = self.kept_n[keeping, None] + np.arange(n)
            ok = np.arange(n)[None, :] < room[:, None]
            rows = np.broadcast_to(keeping[:, None], cols.shape)
            self.kept_buf[rows[ok], cols[ok]] = x[keeping][ok]
            self.kept_n[keeping] += room
        open_ = self.live & (self.result == UNDECIDED)
        self.samples += np.where(open_, x.shape[1], 0)
        fax = np.zeros(self.capacity, dtype=bool)
        for slot, ev in self.cpa.process(x):
            if ev in ("fax_cng", "fax_ced") and open_[slot]:
                fax[slot] = True
        self.result[fax] = _FAX
        feed = np.flatnonzero(open_ & ~fax & (self.amd.verdict == UNDECIDED))
        if feed.size:
            self.amd.feed(feed, x[feed])
            v = self.amd.verdict[feed]
            done = (v != UNDECIDED) & (v != SILENT)
            self.result[feed[done]] = v[done]          # codes shared: HUMAN 1, MACHINE 2
