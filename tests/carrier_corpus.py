"""A labelled corpus of Chinese carrier announcements synthesised with espeak-ng (Mandarin voice), with the
SIT in front of some, at several speaking rates and pitches, over G.711 A-law with line noise; plus
negatives (a person answering, an answering-machine greeting) for the classifier tests."""
import subprocess
import tempfile

import numpy as np

from trunkline.dsp import g711
from trunkline.media.prompts import load_audio

TEXTS = {
    "unallocated": "您拨打的号码是空号，请查证后再拨。",
    "poweroff": "您好，您拨打的电话已关机。",
    "out_of_service": "您拨打的电话已停机。",
    "busy": "您拨打的电话正在通话中，请稍后再拨。",
}
NEGATIVES = ["喂，你好，请问哪位？", "您好，我现在不方便接听电话，请在提示音后留言。", "Hello, who is this?"]


def speak(text, speed=165, pitch=50, voice="cmn"):
    """8 kHz int16 speech by espeak-ng."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", f.name, "--stdin"],
                       input=text.encode(), check=True, capture_output=True)
        return load_audio(f.name)


def sit(level=6000):
    """SIT: 950 / 1400 / 1800 Hz, 330 ms each, then 1 s silence."""
    parts = []
    for f in (950.0, 1400.0, 1800.0):
        t = np.arange(int(0.33 * 8000)) / 8000
        parts.append(level * np.sin(2 * np.pi * f * t))
    parts.append(np.zeros(8000))
    return np.concatenate(parts).astype(np.int16)


def line(x, rng, snr_db=25.0):
    """Leading silence, noise at snr_db, A-law round trip."""
    x = np.concatenate([np.zeros(int(rng.uniform(0.1, 0.6) * 8000)), np.asarray(x, dtype=np.float64)])
    p = np.mean(x ** 2) + 1e-9
    x = x + rng.normal(0, np.sqrt(p / 10 ** (snr_db / 10)), len(x))
    x = np.clip(x, -32768, 32767).astype(np.int16)
    return g711.alaw_decode(g711.alaw_encode(x))


def templates():
    """One template per label: the text at the default rate and pitch, no SIT, clean."""
    return {label: speak(text) for label, text in TEXTS.items()}


def corpus(seed=7):
    """[(label, audio)]: every label at 4 rate/pitch variants (with a SIT in front of half), then negatives."""
    rng = np.random.default_rng(seed)
    out = []
    variants = [(140, 40), (185, 60), (155, 70), (200, 35)]
    for label, text in TEXTS.items():
        for k, (speed, pitch) in enumerate(variants):
            a = speak(text, speed, pitch)
            if k % 2:
                a = np.concatenate([sit(), a])
            out.append((label, line(a, rng)))
    for text in NEGATIVES:
        out.append(("", line(speak(text, 170, 50, "cmn" if not text.isascii() else "en-us"), rng)))
    return out
