"""Music-on-hold classes: named folders of 8 kHz WAV files under a prompt directory (``DIR/moh/<class>/``).

A queue names its class (queue option ``moh``); callers waiting in the queue and callers an agent put on hold
hear the class's files in turn, looped. The ``default`` class is generated at first start (`ensure_default`);
the web admin adds classes, uploads (converted by trunkline.ivr.moh) and generated music.
"""
from __future__ import annotations

import os
import re

import numpy as np
import soundfile as sf

from trunkline.dsp.constants import RATE

from .prompts import EXTENSIONS, PromptLibrary

MOH_DIR = "moh"                 #: sub-folder of a prompt directory holding the classes
DEFAULT_CLASS = "default"       #: the class shipped (generated at first start) and used when a queue names none
DEFAULT_FILE = "hold-music.wav"
#: names queues stored before classes existed, meaning the default class
LEGACY_NAMES = {"moh": DEFAULT_CLASS}
CLASS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,31}")


def hold_music(seconds: float = 8.0, notes: tuple[float, ...] = (392.0, 494.0, 587.0, 784.0, 587.0, 494.0,
                                                                      440.0, 523.0)) -> np.ndarray:
    """Gentle generated music on hold (int16 at 8 kHz, `seconds` long): soft sine notes (Hz) with a decay."""
    n = int(seconds * RATE / len(notes))
    t = np.arange(n) / RATE
    env = np.exp(-t * 2.5) * np.minimum(1.0, t / 0.02)
    parts = [3000 * env * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) for f in notes]
    return np.concatenate(parts).astype(np.int16)


def class_dir(root: str, name: str) -> str:
    """The folder of class `name` under prompt directory `root` (ValueError for a bad class name)."""
    if not CLASS_RE.fullmatch(name or ""):
        raise ValueError(f"music-on-hold class name {name!r}: 1-32 letters, digits, _ or -")
    return os.path.join(root, MOH_DIR, name)


def class_files(root: str, name: str) -> list[str]:
    """The audio files of class `name` under `root`, sorted by file name ([] when there is no such class)."""
    try:
        d = class_dir(root, name)
    except ValueError:
        return []
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, f) for f in sorted(os.listdir(d))
            if os.path.splitext(f)[1].lower() in EXTENSIONS and os.path.isfile(os.path.join(d, f))]


def class_names(root: str) -> list[str]:
    """Every class under prompt directory `root`, sorted (the default class first)."""
    base = os.path.join(root, MOH_DIR)
    names = sorted(n for n in os.listdir(base) if CLASS_RE.fullmatch(n) and os.path.isdir(os.path.join(base, n))) \
        if os.path.isdir(base) else []
    return sorted(names, key=lambda n: (n != DEFAULT_CLASS, n))


def moh_items(prompts: PromptLibrary, name: str) -> list[str]:
    """What to play for music-on-hold setting `name`: the files of that class in the first prompt directory
    that has it; a name that is no class plays as a prompt name or file as before ([] for "" = silence)."""
    if not name:
        return []
    cls = LEGACY_NAMES.get(name, name) if prompts.find(name) is None else name
    for d in prompts.directories:
        files = class_files(d, cls)
        if files:
            return files
    return [name]


def ensure_default(root: str) -> str | None:
    """Generate the default class's music under prompt directory `root` when the class has no file;
    returns the path written, or None when it was there."""
    if class_files(root, DEFAULT_CLASS):
        return None
    d = class_dir(root, DEFAULT_CLASS)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, DEFAULT_FILE)
    sf.write(path, hold_music(), RATE, subtype="PCM_16")
    return path
