"""Carrier announcement classification: which recorded network announcement a far end played (China:
空号 number does not exist, 关机 powered off, 停机 out of service, 正在通话中 busy), from its audio.

Features: 13 MFCCs (20 mel bands over 300-3400 Hz, 32 ms frames every 16 ms, cepstral mean removed) of
the speech after a leading SIT (special information tone, three rising tones ~950/1400/1800 Hz) and
silence are cut off; a SIT in front is reported on its own. Classification: open-end dynamic time warping
of the first `window` seconds of speech against a template per announcement (the carrier's recording, or
a TTS rendering of its text); the nearest template wins when its distance is under `threshold` and
clearly below the runner-up, else "" (not an announcement: a person or an answering machine).
Pure numpy, 8 kHz int16 in; per-call work is bounded by `window`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

RATE = 8000
FRAME, HOP, NFFT = 256, 128, 256
SIT_BANDS = ((850.0, 1050.0), (1300.0, 1500.0), (1700.0, 1900.0))


def _mel_filters(nbands: int = 20, lo: float = 300.0, hi: float = 3400.0) -> np.ndarray:
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)          # noqa: E731
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)           # noqa: E731
    edges = inv(np.linspace(mel(lo), mel(hi), nbands + 2))
    bins = np.fft.rfftfreq(NFFT, 1.0 / RATE)
    fb = np.zeros((nbands, bins.size))
    for i in range(nbands):
        a, c, b = edges[i], edges[i + 1], edges[i + 2]
        fb[i] = np.clip(np.minimum((bins - a) / (c - a), (b - bins) / (b - c)), 0.0, None)
    return fb


_FB = _mel_filters()
_DCT = np.cos(np.pi / 20 * (np.arange(20)[None, :] + 0.5) * np.arange(1, 14)[:, None])   # (13, 20)


def _frames(x: np.ndarray) -> np.ndarray:
    n = 1 + max(0, (len(x) - FRAME) // HOP)
    if len(x) < FRAME:
        return np.zeros((0, FRAME))
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    return x[idx] * np.hanning(FRAME)


def sit_and_speech(samples: np.ndarray) -> tuple[bool, np.ndarray]:
    """(a SIT was found at the start, the audio after it with leading silence cut)."""
    x = np.asarray(samples, dtype=np.float64)
    fr = _frames(x)
    if not len(fr):
        return False, x
    spec = np.abs(np.fft.rfft(fr, NFFT)) ** 2
    bins = np.fft.rfftfreq(NFFT, 1.0 / RATE)
    total = spec.sum(axis=1) + 1e-9
    floor = FRAME * 0.375 * NFFT / 2 * 100.0 ** 2             # about -50 dBm0
    loud = total > max(floor, 10 ** -2.5 * float(np.percentile(total, 90)))   # 25 dB under the loud part
    band = np.stack([spec[:, (bins >= a) & (bins <= b)].sum(axis=1) / total for a, b in SIT_BANDS], axis=1)
    tonal = loud & (band.max(axis=1) > 0.7)
    which = band.argmax(axis=1)
    start = int(np.argmax(loud)) if loud.any() else 0
    i, gap = start, 0
    seen: list[int] = []
    while i < len(fr) and i < start + 200 and gap <= 3:   # the tonal run at the start (short gaps between tones)
        if tonal[i]:
            gap = 0
            if not seen or seen[-1] != which[i]:
                seen.append(int(which[i]))
        else:
            gap += 1
        i += 1
    sit = seen[:3] == [0, 1, 2]
    rest = i if sit else start
    while rest < len(fr) and not loud[rest]:             # silence between the SIT and the speech
        rest += 1
    return sit, x[rest * HOP:]


def mfcc(samples: np.ndarray) -> np.ndarray:
    """(frames, 13) cepstral-mean-normalised MFCCs of 8 kHz audio."""
    fr = _frames(np.asarray(samples, dtype=np.float64))
    if not len(fr):
        return np.zeros((0, 13))
    power = np.abs(np.fft.rfft(fr, NFFT)) ** 2
    logmel = np.log(power @ _FB.T + 1e-3)
    c = logmel @ _DCT.T
    return c - c.mean(axis=0)


def open_end_dtw(x: np.ndarray, y: np.ndarray) -> float:
    """Mean frame distance of the best alignment of all of x with a prefix of y (Euclidean); computed
    one anti-diagonal at a time (each depends only on the two before it)."""
    if not len(x) or not len(y):
        return float("inf")
    cost = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))
    n, m = cost.shape
    d = np.full((n + 1, m + 1), np.inf)
    d[0, 0] = 0.0
    for k in range(2, n + m + 1):                        # cells (i, j) with i + j == k, 1-based
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        d[i, j] = cost[i - 1, j - 1] + np.minimum(np.minimum(d[i - 1, j - 1], d[i - 1, j]), d[i, j - 1])
    steps = n + np.arange(1, m + 1)
    return float((d[n, 1:] / steps).min())


@dataclass
class Verdict:
    """label ("" = no announcement), whether a SIT came first, distances per label."""
    label: str
    sit: bool
    distances: dict[str, float]


class AnnouncementClassifier:
    """Nearest-template classifier of carrier announcements (see the module docstring)."""

    def __init__(self, templates: Mapping[str, np.ndarray], window: float = 5.0, threshold: float = 13.5,
                 margin: float = 0.88) -> None:
        if not templates:
            raise ValueError("announcement classifier: no templates")
        self.window, self.threshold, self.margin = window, threshold, margin
        self.templates = {label: mfcc(sit_and_speech(a)[1]) for label, a in templates.items()}

    def classify(self, samples: np.ndarray) -> Verdict:
        """Classify the first seconds of what the far end played (8 kHz int16)."""
        sit, speech = sit_and_speech(np.asarray(samples)[: int(RATE * (self.window + 3.0))])
        x = mfcc(speech[: int(RATE * self.window)])
        dist = {label: open_end_dtw(x, t) for label, t in self.templates.items()}
        ranked = sorted(dist, key=lambda k: dist[k])
        best = ranked[0]
        second = dist[ranked[1]] if len(ranked) > 1 else float("inf")
        ok = dist[best] <= self.threshold and dist[best] <= self.margin * second and len(x) >= 20
        return Verdict(best if ok else "", sit, dist)
