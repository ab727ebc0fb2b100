"""Prompt audio: any file soundfile reads, converted once to 8 kHz int16 and cached.

`PromptLibrary` finds prompts by name in prompt directories (``DIR/<lang>/<name>.<ext>``, then
``DIR/<name>.<ext>``) and keeps each file's samples in memory until the file changes. It is the
one prompt library: the IVR's (trunkline.ivr.prompts) adds TTS, uploads and the database index on top.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from trunkline.dsp.constants import RATE

EXTENSIONS = (".wav", ".flac", ".ogg", ".au", ".aiff")
# Hz: sample rates an audio file may declare; outside, resampling to 8 kHz is impossible (rate 1e7 would need
# 0 up-samples) or unbounded (a "1 Hz" file would grow 8000-fold in memory)
MIN_FILE_RATE, MAX_FILE_RATE = 1000, 384000


class PromptError(Exception):
    """A prompt is missing, its file cannot be read or converted, or TTS is unavailable."""


def to_8k_mono(data: np.ndarray, rate: float) -> np.ndarray:
    """Convert float or int audio (samples,) or (samples, channels) at `rate` Hz to int16 mono 8 kHz."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data.astype(np.float64).mean(axis=1)
    if data.dtype.kind in "iu":
        data = data.astype(np.float64) / float(np.iinfo(data.dtype).max + 1)
    data = np.asarray(data, dtype=np.float64)
    if rate != RATE and data.size:
        frac = Fraction(RATE, int(rate)).limit_denominator(1000)
        data = resample_poly(data, frac.numerator, frac.denominator)
    return np.clip(np.round(data * 32767.0), -32768, 32767).astype(np.int16)


def load_audio(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an audio file as 8 kHz mono int16: 8 kHz mono 16-bit files as they are, others mixed and resampled."""
    try:
        info = sf.info(path)
        if not MIN_FILE_RATE <= info.samplerate <= MAX_FILE_RATE:
            raise PromptError(f"cannot read audio file {path}: sample rate {info.samplerate} Hz is outside "
                              f"{MIN_FILE_RATE}..{MAX_FILE_RATE} Hz")
        if info.samplerate == RATE and info.channels == 1 and info.subtype == "PCM_16":
            samples, _ = sf.read(path, dtype="int16", always_2d=False)
            return np.asarray(samples, dtype=np.int16)
        data, rate = sf.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, TypeError, OSError) as exc:   # soundfile's LibsndfileError is a RuntimeError
        raise PromptError(f"cannot read audio file {path}: {exc}") from exc
    return to_8k_mono(data, rate)


class PromptLibrary:
    """Prompts by name from language folders: DIR/<lang>/<name>.wav, falling back to DIR/<name>.wav."""

    def __init__(self, directories: Iterable[str | os.PathLike[str]] = (), language: str = "en") -> None:
        self.directories = [os.fspath(d) for d in directories]
        self.language = language
        self._cache: dict[str, tuple[float, np.ndarray]] = {}   # path -> (mtime, samples)

    def add_directory(self, path: str) -> None:
        """Search another prompt directory (first added wins)."""
        if path not in self.directories:
            self.directories.append(path)

    def find(self, name: str, lang: str | None = None) -> str | None:
        """Path of a prompt file, or None."""
        langs = [lang or self.language, self.language, ""]   # then the library's language
        for d in self.directories:
            for lng in langs:
                for ext in EXTENSIONS:
                    p = os.path.join(d, lng, name + ext) if lng else os.path.join(d, name + ext)
                    if os.path.exists(p):
                        return p
        return None

    def locate(self, name: str, lang: str | None = None) -> str:
        """The file a prompt name (or an audio file path) plays; PromptError when there is none."""
        path = name if os.path.sep in name and os.path.exists(name) else self.find(name, lang)
        if path is None:
            raise PromptError(f"prompt {name!r} not found (language {lang or self.language}) in {self.directories}")
        return path

    def key(self, name: str, lang: str | None = None) -> tuple[str, float]:
        """Cache key of a prompt (its resolved file and mtime)."""
        path = self.locate(name, lang)
        return (path, os.path.getmtime(path))

    def load(self, name: str, lang: str | None = None) -> np.ndarray:
        """8 kHz int16 samples of a prompt name or audio file path (cached until the file changes)."""
        return self.load_file(self.locate(name, lang))

    def load_file(self, path: str) -> np.ndarray:
        """8 kHz int16 samples of an audio file (cached until its mtime changes)."""
        mtime = os.path.getmtime(path)
        hit = self._cache.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        audio = load_audio(path)
        self._cache[path] = (mtime, audio)
        return audio

    def forget(self, path: str) -> None:
        """Drop a file's cached samples (it was just rewritten)."""
        self._cache.pop(path, None)
