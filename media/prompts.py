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
#: lowest sample rate an audio file may declare (Hz): a "1 Hz" file would grow 8000-fold when resampled
MIN_SOURCE_RATE = 1000

#: bounds checked from the file's header before anything is decoded, and while decoding (a compressed file
#: can claim few frames and hold many): a decompression bomb is refused, never expanded
MAX_PROMPT_SECONDS = 600.0
MAX_SOURCE_RATE = 192000              # Hz
MAX_SOURCE_CHANNELS = 8
MAX_DECODED_VALUES = 16 * 1024 * 1024  # samples x channels decoded at most (64 MiB of float32)


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
        with sf.SoundFile(path) as f:
            rate, channels = f.samplerate, f.channels
            if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE or not 0 < channels <= MAX_SOURCE_CHANNELS:
                raise PromptError(f"audio file {path}: {rate} Hz x {channels} channels is out of bounds "
                                  f"({MIN_SOURCE_RATE} to {MAX_SOURCE_RATE} Hz, at most {MAX_SOURCE_CHANNELS} "
                                  "channels)")
            limit = min(int(MAX_PROMPT_SECONDS * rate), MAX_DECODED_VALUES // channels)
            if f.frames > limit:
                raise PromptError(f"audio file {path} is too long ({f.frames / rate:.0f} s; "
                                  f"at most {limit / rate:.0f} s)")
            plain = rate == RATE and channels == 1 and f.subtype == "PCM_16"
            data = f.read(frames=limit + 1, dtype="int16" if plain else "float32", always_2d=not plain)
            if len(data) > limit:                      # the header said fewer frames than the file holds
                raise PromptError(f"audio file {path} is too long (more than {limit / rate:.0f} s)")
    except (RuntimeError, TypeError, OSError) as exc:   # soundfile's LibsndfileError is a RuntimeError
        raise PromptError(f"cannot read audio file {path}: {exc}") from exc
    if plain:
        return np.asarray(data, dtype=np.int16)
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
