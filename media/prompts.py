"""Prompt audio: any file soundfile reads, converted once to 8 kHz int16 and cached."""
import os
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from trunkline.dsp.constants import RATE

EXTENSIONS = (".wav", ".flac", ".ogg", ".au", ".aiff")


class PromptError(Exception):
    """A prompt is missing or its file cannot be read."""


def load_audio(path):
    """Read an audio file, mix to mono and resample to 8 kHz int16."""
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:   # corrupt or unsupported file
        raise PromptError(f"cannot read audio file {path}: {exc}") from exc
    mono = data.mean(axis=1)
    if rate != RATE:
        g = gcd(int(rate), RATE)
        mono = resample_poly(mono, RATE // g, int(rate) // g)
    return np.clip(np.round(mono * 32767.0), -32768, 32767).astype(np.int16)


class PromptLibrary:
    """Prompts by name from language folders: DIR/<lang>/<name>.wav, falling back to DIR/<name>.wav."""

    def __init__(self, directories=(), language="en"):
        self.directories = [d for d in directories]
        self.language = language
        self._cache = {}

    def add_directory(self, path):
        """Search another prompt directory (first added wins)."""
        if path not in self.directories:
            self.directories.append(path)

    def find(self, name, language=None):
        """Path of a prompt file, or None."""
        langs = [language or self.language, self.language, ""]   # then the library's language
        for d in self.directories:
            for lang in langs:
                for ext in EXTENSIONS:
                    p = os.path.join(d, lang, name + ext) if lang else os.path.join(d, name + ext)
                    if os.path.exists(p):
                        return p
        return None

    def key(self, name, language=None):
        """Cache key of a prompt (its resolved file and mtime)."""
        path = name if os.path.sep in name and os.path.exists(name) else self.find(name, language)
        if path is None:
            raise PromptError(f"prompt {name!r} not found (language {language or self.language}) in {self.directories}")
        return (path, os.path.getmtime(path))

    def load(self, name, language=None):
        """8 kHz int16 samples of a prompt name or audio file path."""
        key = self.key(name, language)
        audio = self._cache.get(key)
        if audio is None:
            audio = load_audio(key[0])
            self._cache[key] = audio
        return audio
