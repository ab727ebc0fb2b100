"""Answering-machine detection from the greeting's speech/silence pattern (8 kHz int16 audio).

A person answers with a short word ("Hello?", "喂？") and waits; a machine plays a long, continuous
greeting. Audio is cut into 10 ms frames; a frame is speech when its level is above `speech_dbm0` and
6 dB over the running noise floor. Decisions, in time order:

- initial silence longer than `initial_silence_ms` -> "silence" (nobody spoke; the caller decides),
- speech in the greeting adding up to more than `greeting_ms`, or more than `max_words` words -> "machine",
- after speech, a silence of `after_greeting_ms` -> "human",
- nothing decided after `total_ms` -> "machine" (a talker who never pauses).

    amd = AnsweringMachineDetector()
    for block in audio_blocks:            # int16, any length
        verdict = amd.feed(block)         # None until decided, then "human" | "machine" | "silence"
"""
from __future__ import annotations

import numpy as np

from trunkline.dsp.level import frame_levels_dbm0

FRAME = 80                       # samples per 10 ms frame at 8 kHz


class AnsweringMachineDetector:
    """Streaming human/machine classifier for one answered call; times in ms, levels in dBm0."""

    def __init__(self, initial_silence_ms: float = 2500, greeting_ms: float = 1600, after_greeting_ms: float = 800,
                 max_words: int = 4, min_word_ms: float = 100, word_gap_ms: float = 150, total_ms: float = 5000,
                 speech_dbm0: float = -50.0) -> None:
        self.initial_silence_ms = initial_silence_ms
        self.greeting_ms = greeting_ms
        self.after_greeting_ms = after_greeting_ms
        self.max_words = max_words
        self.min_word_ms = min_word_ms
        self.word_gap_ms = word_gap_ms
        self.total_ms = total_ms
        self.speech_dbm0 = speech_dbm0
        self.reset()

    def reset(self) -> None:
        """Start over for a new call."""
        self._rest = np.zeros(0, dtype=np.int16)
        self.t_ms = 0.0
        self.floor: float | None = None
        self.speech_ms = 0.0          # total speech so far
        self.words = 0
        self.run_speech = 0.0         # current speech run (ms)
        self.run_silence = 0.0        # current silence run (ms)
        self.heard = False
        self.verdict: str | None = None
        self.decided_at_ms: float | None = None

    def feed(self, samples: np.ndarray) -> str | None:
        """Add int16 audio; returns the verdict once decided ("human" | "machine" | "silence"), else None."""
        if self.verdict is not None:
            return self.verdict
        pcm = np.concatenate([self._rest, np.asarray(samples, dtype=np.int16).ravel()])
        n = len(pcm) // FRAME
        self._rest = pcm[n * FRAME:]
        for level in frame_levels_dbm0(pcm[:n * FRAME]):
            self.floor = level if self.floor is None else min(level, self.floor + 0.1)
            speech = level > self.speech_dbm0 and level > self.floor + 6.0
            self._frame(speech)
            if self.verdict is not None:
                break
        return self.verdict

    def _decide(self, v: str) -> None:
        self.verdict, self.decided_at_ms = v, self.t_ms

    def _frame(self, speech: bool) -> None:
        self.t_ms += 10.0
        if speech:
            if self.run_silence >= self.word_gap_ms or not self.heard:
                self.run_speech = 0.0
            self.run_speech += 10.0 + (self.run_silence if 0 < self.run_silence < self.word_gap_ms else 0)
            if self.run_speech >= self.min_word_ms and self.run_speech - 10.0 < self.min_word_ms:
                self.words += 1
            self.speech_ms += 10.0
            self.run_silence = 0.0
            self.heard = True
            if self.speech_ms > self.greeting_ms or self.words > self.max_words:
                self._decide("machine")
        else:
            self.run_silence += 10.0
            if not self.heard and self.run_silence >= self.initial_silence_ms:
                self._decide("silence")
            elif self.heard and self.run_silence >= self.after_greeting_ms:
                self._decide("human" if self.words > 0 else "silence")
        if self.verdict is None and self.t_ms >= self.total_ms:
            self._decide("machine" if self.heard else "silence")
