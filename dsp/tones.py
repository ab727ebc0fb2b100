"""Call progress tone generation: tone objects per zone, seamless loop cycles, a vectorised multi-channel player.

    from trunkline.dsp.tones import ToneZone, ToneGenerator
    busy = ToneZone.get("cn").tone("busy")      # Tone: 450 Hz, -10 dBm0, 350 ms on / 350 ms off
    cyc = busy.cycle()                           # int16, 5600 samples = one full cadence period at 8 kHz
    gen = ToneGenerator(channels=64)
    gen.start(3, busy); out = gen.generate(160)  # int16 (64, 160); silent rows for idle channels

How a cycle loops: every sound step starts at phase 0 and is shaped by 2 ms raised-cosine
ramps at both ends, so a cadenced cycle (which always contains silence) loops without a click.
A continuous tone (dial) is made exactly as long as needed for every component to complete
a whole number of cycles (8000 / gcd(8000, f1, f2, ...) samples, frequencies rounded to 1 Hz),
so it loops phase-continuously with no ramp. Durations are rounded to whole samples (0.125 ms).
Data lives in ``tonezones.py``; levels are dBm0 per component (see ``level.py`` for the scale).
"""
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .constants import RATE
from .level import dbm0_to_amplitude
from .tonezones import COMMON_TONES, ZONES

RAMP_MS = 2.0

#: one cadence step: the frequencies sounding (Hz; empty for silence) and its duration in ms (None: steady)
Step = tuple[tuple[float, ...], float | None]


class Tone:
    """A cadenced tone: steps ((freqs Hz), duration ms | None), per-component level in dBm0, repeating unless once."""

    def __init__(self, name: str, steps: Iterable[tuple[Iterable[float], float | None]], level: float = -10.0,
                 levels: Sequence[float] | None = None, once: bool = False) -> None:
        norm = [(tuple(float(f) for f in fr), None if d is None else float(d)) for fr, d in steps]
        if not norm:
            raise ValueError(f"tone {name!r}: no steps")
        if any(d is None for _, d in norm) and len(norm) != 1:
            raise ValueError(f"tone {name!r}: a continuous step (duration None) must be the only step")
        for fr, d in norm:
            if d is not None and d <= 0:
                raise ValueError(f"tone {name!r}: step duration must be > 0 ms, got {d}")
            if any(not 0 < f < RATE / 2 for f in fr):
                raise ValueError(f"tone {name!r}: frequencies must be in (0, 4000) Hz, got {fr}")
        self.name = name
        self.steps: list[Step] = norm
        self.level = float(level)
        self.levels = None if levels is None else tuple(float(x) for x in levels)
        self.once = bool(once)
        self._cycle: NDArray[np.int16] | None = None

    @property
    def continuous(self) -> bool:
        """True for a steady tone (single step with no duration)."""
        return self.steps[0][1] is None

    @property
    def frequencies(self) -> list[float]:
        """All frequencies (Hz) used by the tone, sorted."""
        return sorted({f for fr, _ in self.steps for f in fr})

    def cadence_ms(self) -> list[tuple[bool, float]]:
        """[(on: bool, ms), ...] one period; [] for a continuous tone."""
        return [(bool(fr), d) for fr, d in self.steps if d is not None]

    def period_ms(self) -> float | None:
        """Cadence period in ms (None for continuous)."""
        return None if self.continuous else sum(d for _, d in self.steps if d is not None)

    def key(self) -> tuple[Any, ...]:
        """Hashable identity of the sound (used to share cycles between generators)."""
        return (tuple(self.steps), self.level, self.levels, self.once)

    def _step_levels(self, fr: tuple[float, ...]) -> tuple[float, ...]:
        if self.levels is not None:
            if len(self.levels) != len(fr):
                raise ValueError(f"tone {self.name!r}: {len(self.levels)} levels for {len(fr)} frequencies")
            return self.levels
        return (self.level,) * len(fr)

    def cycle(self) -> NDArray[np.int16]:
        """One full cadence period as int16 at 8 kHz that loops seamlessly (see module doc)."""
        if self._cycle is not None:
            return self._cycle
        if self.continuous:
            freqs = tuple(float(round(f)) for f in self.steps[0][0])
            n = RATE // math.gcd(RATE, *[int(f) for f in freqs])
            parts = [self._sound(freqs, n, ramp=False)]
        else:
            parts = []
            for fr, d in self.steps:
                n = int(round((d or 0.0) * RATE / 1000.0))     # d is set: only a steady tone has None
                parts.append(self._sound(fr, n, ramp=True) if fr else np.zeros(n))
        x = np.concatenate(parts)
        cycle = np.clip(np.round(x), -32768, 32767).astype(np.int16)
        cycle.setflags(write=False)
        self._cycle = cycle
        return cycle

    def _sound(self, fr: tuple[float, ...], n: int, ramp: bool) -> NDArray[np.float64]:
        t = np.arange(n) / RATE
        x = np.zeros(n)
        for f, lv in zip(fr, self._step_levels(fr)):
            x += dbm0_to_amplitude(lv) * np.sin(2 * np.pi * f * t)
        if ramp:
            r = min(int(RAMP_MS * RATE / 1000), n // 2)
            if r:
                w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(r) + 0.5) / r)
                x[:r] *= w
                x[n - r:] *= w[::-1]
        return x

    def with_level(self, level: float) -> "Tone":
        """Same tone at another per-component level (dBm0)."""
        return Tone(self.name, self.steps, level=level, once=self.once)

    def __repr__(self) -> str:
        return f"Tone({self.name!r}, steps={self.steps}, level={self.level})"


class ToneZone:
    """The tones of one country, built from tonezones.ZONES."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.description = spec.get("description", name)
        self.specs = dict(spec["tones"])

    @classmethod
    def get(cls, name: str) -> "ToneZone":
        """Zone by code ('cn', 'us', 'gb', 'de', 'etsi'); KeyError lists the known ones."""
        key = name.lower()
        if key not in ZONES:
            raise KeyError(f"unknown tone zone {name!r}; known: {', '.join(sorted(ZONES))}")
        return cls(key, ZONES[key])

    @staticmethod
    def names() -> list[str]:
        """Codes of all known zones."""
        return sorted(ZONES)

    def tone_names(self) -> list[str]:
        """Names of the tones this zone defines."""
        return sorted(self.specs)

    def tone(self, name: str, level: float | None = None) -> Tone:
        """Tone object for 'dial', 'busy', 'ringback', 'congestion', 'callwaiting', 'sit' (or fax_cng/fax_ced)."""
        spec = self.specs.get(name) or COMMON_TONES.get(name)
        if spec is None:
            raise KeyError(f"zone {self.name!r} has no tone {name!r}; known: {', '.join(self.tone_names())}")
        return Tone(name, spec["steps"], level=spec.get("level", -10) if level is None else level,
                    levels=None if level is not None else spec.get("levels"), once=spec.get("once", False))


class ToneGenerator:
    """Plays looping tones on many channels at once; generate(n) -> int16 (channels, n)."""

    def __init__(self, channels: int) -> None:
        self.channels = int(channels)
        self._keys: dict[tuple[Any, ...], int] = {}          # tone key -> slot
        self._cycles = [np.zeros(RATE, dtype=np.int16)]  # slot 0: silence (1 s, so blocks rarely need a modulo)
        self._table = self._cycles[0]
        self._offsets = np.zeros(1, dtype=np.int64)
        self._lengths = np.full(1, RATE, dtype=np.int64)
        self._once = np.zeros(1, dtype=bool)
        self.slot = np.zeros(self.channels, dtype=np.int64)
        self.pos = np.zeros(self.channels, dtype=np.int64)

    def _register(self, tone: Tone) -> int:
        k = tone.key()
        if k not in self._keys:
            self._keys[k] = len(self._cycles)
            self._cycles.append(tone.cycle())
            lens = np.array([len(c) for c in self._cycles], dtype=np.int64)
            self._lengths = lens
            self._offsets = np.concatenate([[0], np.cumsum(lens)[:-1]])
            self._table = np.concatenate(self._cycles)
            self._once = np.append(self._once, tone.once)
        return self._keys[k]

    def start(self, ch: int, tone: Tone) -> None:
        """Start (or restart from the beginning of its cycle) `tone` on channel `ch`."""
        if not 0 <= ch < self.channels:
            raise IndexError(f"channel {ch} out of range 0..{self.channels - 1}")
        if not isinstance(tone, Tone):
            raise TypeError(f"expected a Tone, got {type(tone).__name__}")
        self.slot[ch] = self._register(tone)
        self.pos[ch] = 0

    def stop(self, ch: int) -> None:
        """Silence channel `ch`."""
        self.slot[ch] = 0
        self.pos[ch] = 0

    def playing(self, ch: int) -> bool:
        """True while channel `ch` has a tone running."""
        return bool(self.slot[ch])

    def generate(self, n: int) -> NDArray[np.int16]:
        """Next n samples of every channel, int16 (channels, n)."""
        slot = self.slot
        length = self._lengths[slot][:, None]
        p = self.pos[:, None] + np.arange(n)[None, :]
        if n <= length.min():
            # at most one wrap per block: a subtraction is much cheaper than a modulo
            idx = p - length * (p >= length)
        else:
            idx = p % length
        idx += self._offsets[slot][:, None]
        out = np.take(self._table, idx)
        once = self._once[slot]
        if once.any():
            done = once[:, None] & (p >= length)
            out[done] = 0
            finished = once & (self.pos + n >= self._lengths[slot])
            self.slot[finished] = 0
            self.pos[finished] = 0
            self.pos[~finished] += n
            self.pos %= self._lengths[self.slot]
        else:
            self.pos = (self.pos + n) % self._lengths[slot]
        return out
