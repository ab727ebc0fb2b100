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
        self.active = 0

    @classmethod
    def of(cls, engine: Engine) -> DetectBank:
        """The engine's bank (made and registered on first use)."""
        bank = engine.bank(cls.NAME, cls)
        assert isinstance(bank, DetectBank)
        return bank

    def add(self, call: Call, amd_kw: dict[str, Any] | None = None) -> Detection:
        """Start analysing `call` (AnsweringMachineDetector keyword parameters in amd_kw)."""
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
        self.active += 1
        return Detection(self, slot, call.channel)

    def remove(self, det: Detection) -> None:
        """Stop analysing (the call's result stays readable on `det`)."""
        if det.bank is not self:
            return
        det._frozen = (det.result, det.samples, det.amd_verdict)
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
        self.capacity = cap

    def rx(self, audio: np.ndarray) -> None:
        """This tick's received audio of every engine channel: analyse the calls in the bank."""
        if not self.active:
            return
        x = audio[self.ch]                                         # (capacity, block); free slots ignored
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
