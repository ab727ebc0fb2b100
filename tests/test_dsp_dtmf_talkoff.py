"""Talk-off: false digits from speech and other sounds, ours vs spandsp's dtmf_rx on the same audio.

Speech: espeak-ng (en, cmn, de, fr, es, several voices and speeds) reading the translated
message catalogues Debian ships in /usr/share/locale (real sentences in each language), flite's
voices (diphone synthesis from recorded speech), and the recorded human speech of alsa-utils
(/usr/share/sounds/alsa). Other sounds: the freedesktop sound theme (chimes, melodies, bells).
Each clip runs at -10 and -20 dBm0. Synthesised audio is cached in the system temp directory.
"""
import glob
import gettext
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from math import gcd

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from peers.spandsp_dtmf import spandsp_detect
from trunkline.dsp.dtmf import DTMFDetector
from trunkline.dsp.level import dbm0_to_power

CACHE = os.path.join(tempfile.gettempdir(), "trunkline-talkoff-cache")
LOCALES = {"en": "en", "cmn": "zh_CN", "de": "de", "fr": "fr", "es": "es"}


def catalogue_text(lang, chars, skip=0):
    """About `chars` characters of real sentences in `lang` from Debian's installed gettext catalogues."""
    loc = LOCALES[lang]
    out, n, seen = [], 0, 0
    paths = sorted(glob.glob(f"/usr/share/locale/{'de' if loc == 'en' else loc}/LC_MESSAGES/*.mo"))
    for path in paths:
        try:
            with open(path, "rb") as f:
                cat = gettext.GNUTranslations(f)._catalog
        except Exception:
            continue
        for k, v in cat.items():
            s = k if loc == "en" else v
            if not isinstance(s, str):
                continue
            s = re.sub(r"%[-#0-9.]*[a-zA-Z]|\{[^}]*\}|<[^>]*>|[_&\\|/@$`~^\[\]{}<>=*#]", " ", s)
            s = re.sub(r"\s+", " ", s).strip()
            if len(s) < 12:
                continue
            seen += len(s)
            if seen <= skip:
                continue
            out.append(s)
            n += len(s)
            if n >= chars:
                return ". ".join(out)
    return ". ".join(out)


def _to8k(x, rate):
    if x.ndim > 1:
        x = x.mean(axis=1)
    g = gcd(8000, int(rate))
    return resample_poly(x, 8000 // g, int(rate) // g)


def _cached(key, make):
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, hashlib.sha1(key.encode()).hexdigest() + ".npy")
    if os.path.exists(path):
        return np.load(path)
    x = make().astype(np.float32)
    np.save(path + ".tmp.npy", x)
    os.replace(path + ".tmp.npy", path)
    return x


def espeak(text, voice, speed):
    def make():
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", f.name, "--stdin"],
                           input=text.encode(), check=True, capture_output=True)
            x, r = sf.read(f.name, dtype="float64")
        return _to8k(x, r)
    return _cached(f"espeak|{voice}|{speed}|{text}", make)


def flite(text, voice):
    def make():
        with tempfile.NamedTemporaryFile(suffix=".wav") as f, tempfile.NamedTemporaryFile("w", suffix=".txt") as t:
            t.write(text)
            t.flush()
            subprocess.run(["flite", "-voice", voice, "-f", t.name, "-o", f.name], check=True, capture_output=True)
            x, r = sf.read(f.name, dtype="float64")
        return _to8k(x, r)
    return _cached(f"flite|{voice}|{text}", make)


def sound_files(pattern):
    clips = []
    for path in sorted(glob.glob(pattern)):
        try:
            x, r = sf.read(path, dtype="float64")
        except Exception:
            continue
        clips.append((os.path.basename(path), _to8k(x, r)))
    return clips


def at_level(x, dbm0):
    x = np.asarray(x, np.float64)
    active = x[np.abs(x) > 1e-4]
    p = np.mean(active ** 2) if active.size else 1.0
    return np.clip(np.rint(x * np.sqrt(dbm0_to_power(dbm0) / p)), -32768, 32767).astype(np.int16)


def ours_on_long(x, seconds=30):
    """Our detector over a long signal, cut into `seconds` pieces run as channels of one detector."""
    per = seconds * 8000
    rows = -(-len(x) // per)
    a = np.zeros((rows, per), np.int16)
    a.reshape(-1)[:len(x)] = x
    det = DTMFDetector(rows)
    return "".join(d for k in range(0, per, 160) for _, d in det.process(a[:, k:k + 160]))


def corpus(scale):
    """(name, float samples at 8 kHz) for the talk-off run; scale sets how much speech."""
    clips = []
    voices = {"en": ["en", "en-us+m3", "en+f2"], "cmn": ["cmn", "cmn+f3"], "de": ["de", "de+f1"],
              "fr": ["fr", "fr+f3"], "es": ["es", "es+m4"]}
    for lang, vs in voices.items():
        for i, v in enumerate(vs[: max(1, int(len(vs) * min(scale, 1.0)))]):
            chars = int((700 if lang == "cmn" else 3500) * scale)
            text = catalogue_text(lang, chars, skip=i * chars)
            clips.append((f"espeak {v}", espeak(text, v, (140, 175, 200)[i % 3])))
    if shutil.which("flite"):
        for v in ("kal", "slt", "rms", "awb")[: max(1, int(4 * min(scale, 1.0)))]:
            clips.append((f"flite {v}", flite(catalogue_text("en", int(3000 * scale), skip=20000), v)))
    else:
        print("flite not installed: its voices left out")
    human = sound_files("/usr/share/sounds/alsa/*.wav")
    if human:
        clips.append(("alsa-utils recorded speech", np.concatenate([x for _, x in human])))
    sounds = sound_files("/usr/share/sounds/freedesktop/stereo/*.oga")
    if sounds:
        clips.append(("freedesktop sound theme", np.concatenate([x for _, x in sounds])))
    if not human or not sounds:
        print("alsa-utils / sound-theme-freedesktop not installed: their sounds left out")
    return clips


def run_talkoff(scale):
    total = 0.0
    false = {"ours": 0, "spandsp": 0}
    print(f"\n{'source':28s} {'seconds':>8s} {'level':>6s}  ours | spandsp false digits")
    for name, x in corpus(scale):
        for lv in (-10, -20):
            s = at_level(x, lv)
            o, t = ours_on_long(s), spandsp_detect(s, chunk=8000)
            total += len(s) / 8000
            false["ours"] += len(o)
            false["spandsp"] += len(t)
            print(f"{name:28s} {len(s) / 8000:8.1f} {lv:6d}  {o!r} | {t!r}")
    hours = total / 3600
    print(f"audio {hours:.2f} h: false digits ours {false['ours']} ({false['ours'] / hours:.1f}/h) | "
          f"spandsp {false['spandsp']} ({false['spandsp'] / hours:.1f}/h)")
    return false


def test_talkoff_speech_and_sounds():
    """About 25 min of speech in five languages plus recorded speech and theme sounds."""
    false = run_talkoff(0.25)
    assert false["ours"] <= false["spandsp"]


@pytest.mark.slow
def test_talkoff_long_run():
    """About 1.5 hours of speech (more voices, more text): false digits per hour, ours <= spandsp."""
    false = run_talkoff(1.0)
    assert false["ours"] <= false["spandsp"]
