"""Answering-machine detection for many calls at once: AnsweringMachineDetector's rules as arrays over slots.

Each slot is one call with its own parameters (those of ivr.amd.AnsweringMachineDetector,
times in ms, levels in dBm0). feed(slots, pcm) takes one block of int16 audio per listed
slot (a whole number of 10 ms frames, the same length for all), computes every frame's
level at once and runs the detector's per-frame state machine over the slots in one C
call (media/kernel/amd.c, float64 as the detector): the same decisions, frame for frame,
as one AnsweringMachineDetector per call.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.level import power_to_dbm0
from trunkline.media.tick_kernel import amd_frames

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
        self._p = np.zeros((len(_PARAMS), 0))
        self._s = np.zeros((len(_STATE_F), 0))
        self.p: dict[str, NDArray[np.float64]] = {k: self._p[i] for i, k in enumerate(_PARAMS)}
        self.s: dict[str, NDArray[np.float64]] = {k: self._s[i] for i, k in enumerate(_STATE_F)}
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
        # parameters and state as rows of two arrays (the C state machine's layout); p and s name the rows
        self._p = np.concatenate([self._p, np.zeros((len(_PARAMS), extra))], axis=1)
        self._s = np.concatenate([self._s, np.zeros((len(_STATE_F), extra))], axis=1)
        self.p = {k: self._p[i] for i, k in enumerate(_PARAMS)}
        self.s = {k: self._s[i] for i, k in enumerate(_STATE_F)}
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
        amd_frames(slots, levels, self._p, self._s, self.words, self.heard, self.has_floor, self.verdict)
