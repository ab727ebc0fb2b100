"""MFC/R2 multifrequency tones (ITU-T Q.441): two-out-of-six signals 1..15, forward and backward groups.

Used by the China No.1 signalling for compelled register signalling. API:

    from trunkline.dsp.r2mf import R2MFDetector, R2MFGenerator

    gen = R2MFGenerator(channels, forward=True, level=-11.0)   # dBm0 per frequency
    gen.set(ch, 5)              # start signal 5 on channel ch; it stays on (compelled) ...
    gen.set(ch, 0)              # ... until set to 0 (silence)
    gen.pulse(ch, 3, 150)       # or send signal 3 for 150 ms, then silence (pulsed backward signals)
    out = gen.generate(160)     # int16 (channels, 160)

    det = R2MFDetector(channels, forward=True)   # forward=True listens for 1380..1980 Hz
    events = det.process(block) # int16 (channels, n), any n; returns [(ch, signal), ...] in time order
    det.current                 # ndarray (channels,) of the signal now present, 0 = none
    det.reset(ch)

Each event is a change of the signal present on a channel: (ch, s) with s in 1..15 when signal s
is recognised, (ch, 0) when it ends. A direct change from one signal to another gives (ch, new).

Frequencies (Hz), index 0..5: forward 1380, 1500, 1620, 1740, 1860, 1980;
backward 1140, 1020, 900, 780, 660, 540. Signal numbering (Q.441 table 1):
1=f0+f1, 2=f0+f2, 3=f1+f2, 4=f0+f3, 5=f1+f3, 6=f2+f3, 7=f0+f4, 8=f1+f4, 9=f2+f4, 10=f3+f4,
11=f0+f5, 12=f1+f5, 13=f2+f5, 14=f3+f5, 15=f4+f5.

Detection: 133-sample (16.6 ms) DFT frames every 40 samples (5 ms); a frame shows signal (i, j)
when f_i and f_j are the two strongest, each within [-35, -5] dBm0 (Q.441 receive range), their
difference is at most 7 dB (twist), every other R2 frequency is at least 20 dB below the weaker,
and the pair carries at least 80% of the frame power (speech and noise fail this). A signal is
recognised on the first frame that passes (the 20 dB rule rejects frames straddling two
signals) and released after 2 quiet frames (10 ms), or after 5 frames without a valid signal
but with energy (so a direct change from one signal to another is reported as one change).
Measured recognition latency: at most 20 ms from tone start (spandsp: 17 ms); release 10-15 ms.
See dsp/README_tones.md.
"""
import numpy as np
from numpy.typing import NDArray

from .constants import RATE
from .goertzel import Framer, ToneBank
from .level import dbm0_to_amplitude

FORWARD_FREQS = (1380.0, 1500.0, 1620.0, 1740.0, 1860.0, 1980.0)
BACKWARD_FREQS = (1140.0, 1020.0, 900.0, 780.0, 660.0, 540.0)

# signal number -> (low index, high index) into the frequency tuple
SIGNAL_PAIRS: dict[int, tuple[int, int]] = {}
_n = 1
for _hi in range(1, 6):
    for _lo in range(_hi):
        SIGNAL_PAIRS[_n] = (_lo, _hi)
        _n += 1
del _n, _hi, _lo
_PAIR_SIGNAL = np.zeros((6, 6), dtype=np.int8)
for _s, (_a, _b) in SIGNAL_PAIRS.items():
    _PAIR_SIGNAL[_a, _b] = _PAIR_SIGNAL[_b, _a] = _s

WIN = 133
HOP = 40
MIN_DBM0 = -35.0
MAX_DBM0 = -5.0
MAX_TWIST_DB = 7.0
MIN_OTHERS_DB = 20.0
MIN_PURITY = 0.80
ON_FRAMES = 1
_PERIOD = 400  # samples: 8000 / gcd(8000, all R2 frequencies)
OFF_FRAMES = 2
HOLD_FRAMES = 5  # frames without a valid signal but with tone energy (a change of signal) before release


def frequencies(forward: bool = True) -> tuple[float, ...]:
    """The six frequencies (Hz) of the forward or backward group, index 0..5."""
    return FORWARD_FREQS if forward else BACKWARD_FREQS


def signal_frequencies(signal: int, forward: bool = True) -> tuple[float, float]:
    """(f_low_index_freq, f_high_index_freq) in Hz for signal 1..15."""
    if signal not in SIGNAL_PAIRS:
        raise ValueError(f"R2 signal must be 1..15, got {signal!r}")
    a, b = SIGNAL_PAIRS[signal]
    f = frequencies(forward)
    return f[a], f[b]


class R2MFGenerator:
    """Compelled or pulsed R2 MF signals on many channels; generate(n) -> int16 (channels, n)."""

    def __init__(self, channels: int, forward: bool = True, level: float = -11.0, twist_db: float = 0.0) -> None:
        """level: dBm0 of each frequency; twist_db: the higher-index frequency is this many dB louder."""
        self.channels = int(channels)
        self.forward = forward
        self.freqs = np.array(frequencies(forward))
        self.amp_a = float(dbm0_to_amplitude(level))
        self.amp_b = float(dbm0_to_amplitude(level + twist_db))
        self.signal = np.zeros(self.channels, dtype=np.int64)
        self.remaining = np.full(self.channels, -1, dtype=np.int64)  # samples left of a pulse, -1 = until changed
        self.t = np.zeros(self.channels, dtype=np.int64)  # samples since the signal started (phase)
        t = np.arange(_PERIOD) / RATE
        self._table = np.zeros((16, _PERIOD), dtype=np.int16)  # row 0 = silence
        for sig, (a, b) in SIGNAL_PAIRS.items():
            x = self.amp_a * np.sin(2 * np.pi * self.freqs[a] * t) + self.amp_b * np.sin(2 * np.pi * self.freqs[b] * t)
            self._table[sig] = np.round(x).astype(np.int16)

    def set(self, ch: int, signal: int) -> None:
        """Send `signal` 1..15 on `ch` until changed; 0 stops."""
        self._check(ch, signal)
        self.signal[ch] = signal
        self.remaining[ch] = -1
        self.t[ch] = 0

    def pulse(self, ch: int, signal: int, duration_ms: float) -> None:
        """Send `signal` 1..15 on `ch` for `duration_ms` ms, then silence."""
        self.set(ch, signal)
        self.remaining[ch] = int(round(duration_ms * RATE / 1000.0))

    def _check(self, ch: int, signal: int) -> None:
        if not 0 <= ch < self.channels:
            raise IndexError(f"channel {ch} out of range 0..{self.channels - 1}")
        if signal != 0 and signal not in SIGNAL_PAIRS:
            raise ValueError(f"R2 signal must be 0..15, got {signal!r}")

    def generate(self, n: int) -> NDArray[np.int16]:
        """Next n samples for every channel, int16 (channels, n)."""
        ar = np.arange(n)[None, :]
        # every R2 frequency is a multiple of 20 Hz, so each signal repeats exactly every 400 samples
        idx = (self.t[:, None] + ar) % _PERIOD
        on = (self.remaining[:, None] < 0) | (ar < self.remaining[:, None])
        out = self._table[self.signal[:, None], idx]
        out[~on] = 0
        self.t += n
        pulsed = self.remaining >= 0
        self.remaining[pulsed] = np.maximum(self.remaining[pulsed] - n, 0)
        ended = pulsed & (self.remaining == 0)
        self.signal[ended] = 0
        self.remaining[ended] = -1
        return out


class R2MFDetector:
    """Vectorised R2 MF receiver; process(block) -> [(channel, signal 0..15), ...] change events."""

    def __init__(self, channels: int, forward: bool = True) -> None:
        self.channels = int(channels)
        self.forward = forward
        self.framer = Framer(self.channels, WIN, HOP)
        self.bank = ToneBank(frequencies(forward), WIN)
        self.current = np.zeros(self.channels, dtype=np.int64)
        self._cand = np.zeros(self.channels, dtype=np.int64)
        self._count = np.zeros(self.channels, dtype=np.int64)
        self._min_amp = float(dbm0_to_amplitude(MIN_DBM0))
        self._max_amp = float(dbm0_to_amplitude(MAX_DBM0 + 1.0))  # 1 dB margin for estimation error
        self._quiet = np.zeros((self.channels, 0), dtype=bool)   # per frame of the last classify(): no energy
        self.samples = 0  # total samples processed (for event timing)
        self.last_events: list[tuple[int, int, int]] = []  # [(ch, signal, sample_index)] of the last process()

    def reset(self, ch: int) -> None:
        """Clear one channel's state."""
        self.framer.reset(ch)
        self.current[ch] = 0
        self._cand[ch] = 0
        self._count[ch] = 0

    def classify(self, frames: NDArray[np.float32]) -> NDArray[np.int64]:
        """Raw per-frame signal 0..15 for frames (channels, k, WIN)."""
        amp = self.bank.amplitudes(frames)               # (C, k, 6)
        pwr = ToneBank.power(frames)                     # (C, k)
        order = np.argsort(amp, axis=-1)
        i1, i2, i3 = order[..., -1], order[..., -2], order[..., -3]
        a1 = np.take_along_axis(amp, i1[..., None], -1)[..., 0]
        a2 = np.take_along_axis(amp, i2[..., None], -1)[..., 0]
        a3 = np.take_along_axis(amp, i3[..., None], -1)[..., 0]
        ok = (a2 >= self._min_amp) & (a1 <= self._max_amp)
        ok &= a1 <= a2 * 10 ** (MAX_TWIST_DB / 20)
        ok &= a3 <= a2 * 10 ** (-MIN_OTHERS_DB / 20)
        ok &= (a1 * a1 + a2 * a2) / 2 >= MIN_PURITY * pwr
        self._quiet = pwr < self._min_amp ** 2  # less than two tones at the minimum level
        return np.where(ok, _PAIR_SIGNAL[i1, i2], 0).astype(np.int64)

    def process(self, block: NDArray[np.int16]) -> list[tuple[int, int]]:
        """Feed int16 (channels, n); returns change events [(ch, signal)] in time order (0 = signal ended)."""
        frames, ends = self.framer.push(block)
        events: list[tuple[int, int, int]] = []
        if frames.shape[1]:
            raw = self.classify(frames)
            for k in range(raw.shape[1]):
                r = raw[:, k]
                same = r == self._cand
                self._count = np.where(same, self._count + 1, 1)
                self._cand = r
                need = np.where(r == 0, np.where(self._quiet[:, k], OFF_FRAMES, HOLD_FRAMES), ON_FRAMES)
                change = (self._count >= need) & (r != self.current)
                if change.any():
                    for ch in np.nonzero(change)[0]:
                        events.append((int(ch), int(r[ch]), self.samples + int(ends[k])))
                    self.current[change] = r[change]
        self.samples += np.asarray(block).shape[1]
        self.last_events = events
        return [(ch, s) for ch, s, _ in events]
