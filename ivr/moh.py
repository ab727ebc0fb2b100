"""Managing music-on-hold classes (media/moh.py plays them): create, upload (converted to 8 kHz mono WAV once,
within the prompt library's bounds), generate, remove."""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from trunkline.media.moh import DEFAULT_CLASS, class_dir, class_files, class_names, ensure_default, hold_music
from trunkline.media.prompts import load_audio

from .prompts import PromptError, _write_wav_atomic

FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,47}")
MAX_FILES = 50                 #: files in one class at most
#: generated music styles: name -> notes (Hz) of the arpeggio
STYLES: dict[str, tuple[float, ...]] = {
    "gentle": (392.0, 494.0, 587.0, 784.0, 587.0, 494.0, 440.0, 523.0),
    "bright": (523.0, 659.0, 784.0, 1047.0, 784.0, 659.0, 587.0, 698.0),
    "calm": (262.0, 330.0, 392.0, 330.0, 294.0, 349.0, 440.0, 349.0),
}


@dataclass
class MohFile:
    """One file of a class: its name (without .wav), path and length in seconds."""
    name: str
    path: str
    seconds: float


class MohStore:
    """The music-on-hold classes under prompt directory `root` (``root/moh/<class>/<file>.wav``)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def classes(self) -> list[str]:
        """Class names, the default class first."""
        return class_names(self.root)

    def files(self, cls: str) -> list[MohFile]:
        """The files of class `cls` in play order."""
        out = []
        for p in class_files(self.root, cls):
            try:
                seconds = sf.info(p).duration
            except (RuntimeError, OSError):        # unreadable: listed with 0 s, plays nothing
                seconds = 0.0
            out.append(MohFile(os.path.splitext(os.path.basename(p))[0], p, seconds))
        return out

    def path(self, cls: str, name: str) -> str:
        """Path of file `name` of class `cls` (PromptError when there is none)."""
        for f in self.files(cls):
            if f.name == name:
                return f.path
        raise PromptError(f"no file {name!r} in music-on-hold class {cls!r}")

    def create(self, cls: str) -> str:
        """Create an empty class; returns its folder (PromptError for a bad name)."""
        try:
            d = class_dir(self.root, cls)
        except ValueError as exc:
            raise PromptError(str(exc)) from None
        os.makedirs(d, exist_ok=True)
        return d

    def _dest(self, cls: str, name: str) -> str:
        if not FILE_RE.fullmatch(name or ""):
            raise PromptError(f"file name {name!r}: 1-48 letters, digits, _ or -")
        d = self.create(cls)
        if len(class_files(self.root, cls)) >= MAX_FILES and not os.path.exists(os.path.join(d, name + ".wav")):
            raise PromptError(f"music-on-hold class {cls!r} has {MAX_FILES} files already")
        return os.path.join(d, name + ".wav")

    def add_file(self, cls: str, name: str, src: str) -> str:
        """Import any audio file soundfile reads into class `cls` as `name`.wav (8 kHz mono, within the prompt
        bounds: at most 10 minutes, 1-192 kHz); returns the path."""
        dest = self._dest(cls, name)
        samples = load_audio(src)
        if len(samples) == 0:
            raise PromptError("the audio file is empty")
        _write_wav_atomic(dest, samples)
        return dest

    def generate(self, cls: str, name: str, style: str = "gentle", seconds: float = 8.0) -> str:
        """Write generated music (an arpeggio in `style`, 2-60 s) into class `cls` as `name`.wav."""
        if style not in STYLES:
            raise PromptError(f"unknown style {style!r} (one of {', '.join(STYLES)})")
        if not 2.0 <= seconds <= 60.0:
            raise PromptError("generated music is 2 to 60 seconds long")
        dest = self._dest(cls, name)
        _write_wav_atomic(dest, np.asarray(hold_music(seconds, STYLES[style]), dtype=np.int16))
        return dest

    def remove_file(self, cls: str, name: str) -> None:
        """Delete one file of a class."""
        os.remove(self.path(cls, name))

    def remove_class(self, cls: str) -> None:
        """Delete a class and its files (the default class stays: it is regenerated when emptied)."""
        if cls == DEFAULT_CLASS:
            raise PromptError("the default class cannot be removed")
        if cls not in self.classes():
            raise PromptError(f"no music-on-hold class {cls!r}")
        shutil.rmtree(class_dir(self.root, cls))

    def ensure_default(self) -> str | None:
        """Generate the default class's music when it has no file (first start); returns the path written."""
        return ensure_default(self.root)

