"""Answering-machine detection for many calls at once: AnsweringMachineDetector's rules as arrays over slots.

Each slot is one call with its own parameters (those of ivr.amd.AnsweringMachineDetector,
times in ms, levels in dBm0). feed(slots, pcm) takes one block of int16 audio per listed
slot (a whole number of 10 ms frames, the same length for all) and runs the detector's
per-frame state machine with the slot axis vectorised: the same decisions, frame for
frame, as one AnsweringMachineDetector per call.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.level import power_to_dbm0

from .amd import FRAME, AnsweringMachineDetector

#: verdict codes in AMDBank.verdict
UNDECIDED, HUMAN, MACHINE, SILENT = 0, 1, 2, 3
VERDICTS = (None, "human", "machine", "silence")
_PARAMS = ("initial_silence_ms", "greeting_ms", "after_greeting_ms", "max_words", "min_word_ms", "word_gap_ms",
           "total_ms", "speech_dbm0")
_STATE_F = ("t_ms", "floor", "speech_ms", "run_speech", "run_silence", "decided_at_ms")


class AMDBank:
    """Answering-machine detectors for `capacity` slots (grows on demand); verdict[slot] as codes."""

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = 0
        self.p: dict[str, NDArray[np.float64]] = {k: np.zeros(0) for k in _PARAMS}
        self.s: dict[str, NDArray[np.float64]] = {k: np.zeros(0) for k in _STATE_F}
        self.words = np.zeros(0, dtype=np.int64)
        self.heard = np.zeros(0, dtype=bool)
        self.has_floor = np.zeros(0, dtype=bool)
        self.verdict = np.zeros(0, dtype=np.int8)
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        """Room for `capacity` slots (existing slots keep their state)."""
        extra = capacity - self.capacity
        if extra <= 0:
            return
        for d in (self.p, self.s):
            for k in d:
                d[k] = np.concatenate([d[k], np.zeros(extra)])
        self.words = np.concatenate([self.words, np.zeros(extra, np.int64)])
        self.heard = np.concatenate([self.heard, np.zeros(extra, bool)])
        self.has_floor = np.concatenate([self.has_floor, np.zeros(extra, bool)])
        self.verdict = np.concatenate([self.verdict, np.zeros(extra, np.int8)])
        self.capacity = capacity

    def start(self, slot: int, **amd_kw: Any) -> None:
        """Begin a fresh detection on `slot` with AnsweringMachineDetector's keyword parameters."""
        ref = AnsweringMachineDetector(**amd_kw)       # its defaults and argument checks
        for k in _PARAMS:
            self.p[k][slot] = float(getattr(ref, k))
        for k in _STATE_F:
            self.s[k][slot] = 0.0
        self.words[slot] = 0
        self.heard[slot] = self.has_floor[slot] = False
        self.verdict[slot] = UNDECIDED

    def feed(self, slots: NDArray[np.int64], pcm: NDArray[np.int16]) -> None:
        """Run the listed undecided slots over pcm (len(slots), n) int16, n a multiple of 10 ms."""
        if slots.size == 0:
            return
        k, n = pcm.shape
        frames = n // FRAME
        x = np.asarray(pcm[:, :frames * FRAME], dtype=np.float64).reshape(k * frames, FRAME)
        levels = power_to_dbm0(np.einsum("ij,ij->i", x, x) / FRAME).reshape(k, frames)
        p = {key: v[slots] for key, v in self.p.items()}
        s = {key: v[slots] for key, v in self.s.items()}
        words, heard, has_floor, verdict = self.words[slots], self.heard[slots], self.has_floor[slots], \
            self.verdict[slots]
        for j in range(frames):
            live = verdict == UNDECIDED
            if not live.any():
                break
            level = levels[:, j]
            floor = np.where(has_floor, np.minimum(level, s["floor"] + 0.1), level)
            s["floor"] = np.where(live, floor, s["floor"])
            has_floor = has_floor | live
            speech = live & (level > p["speech_dbm0"]) & (level > s["floor"] + 6.0)
            quiet = live & ~speech
            s["t_ms"] = np.where(live, s["t_ms"] + 10.0, s["t_ms"])
            rs, rq = s["run_speech"], s["run_silence"]
            rs = np.where(speech & ((rq >= p["word_gap_ms"]) | ~heard), 0.0, rs)
            bonus = np.where((rq > 0) & (rq < p["word_gap_ms"]), rq, 0.0)
            rs = np.where(speech, rs + (10.0 + bonus), rs)
            words = words + (speech & (rs >= p["min_word_ms"]) & (rs - 10.0 < p["min_word_ms"]))
            s["speech_ms"] = np.where(speech, s["speech_ms"] + 10.0, s["speech_ms"])
            rq = np.where(speech, 0.0, np.where(quiet, rq + 10.0, rq))
            was_heard = heard
            heard = heard | speech
            s["run_speech"], s["run_silence"] = rs, rq
            v = np.full(k, UNDECIDED, np.int8)
            v = np.where(speech & ((s["speech_ms"] > p["greeting_ms"]) | (words > p["max_words"])), MACHINE, v)
            v = np.where(quiet & ~was_heard & (rq >= p["initial_silence_ms"]), SILENT, v)
            v = np.where(quiet & was_heard & (rq >= p["after_greeting_ms"]), np.where(words > 0, HUMAN, SILENT), v)
            late = live & (v == UNDECIDED) & (s["t_ms"] >= p["total_ms"])
            v = np.where(late, np.where(heard, MACHINE, SILENT), v).astype(np.int8)
            decided = live & (v != UNDECIDED)
            s["decided_at_ms"] = np.where(decided, s["t_ms"], s["decided_at_ms"])
            verdict = np.where(decided, v, verdict).astype(np.int8)
        for key, arr in s.items():
            self.s[key][slots] = arr
        self.words[slots], self.heard[slots], self.has_floor[slots], self.verdict[slots] = \
            words, heard, has_floor, verdict
