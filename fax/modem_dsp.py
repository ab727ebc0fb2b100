"""Shared DSP for the fax high-speed modems (V.27ter, V.29, V.17): levels, scramblers, pulse shaping,
and the receive front end (demodulation, symbol timing, adaptive T/2 equaliser with carrier recovery).
The transmitter is in modem_tx, the receiver state machine in modem_rx. Audio is 8 kHz int16; symbols
are complex numbers in each modem's constellation units."""
import functools
import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter

from trunkline.dsp.constants import RATE as FS

#: bits (0/1), one per element
Bits = NDArray[np.uint8]
#: complex baseband samples or symbols
ComplexArray = NDArray[np.complex128]
#: real-valued samples (filter taps, power)
FloatArray = NDArray[np.float64]


@functools.lru_cache(maxsize=16)
def rrc(alpha: float, sps: float, span: int) -> FloatArray:
    """Root raised cosine taps, `sps` samples per symbol (may be fractional), +-span/2 symbols, unit peak energy;
    computed once per shape (every modem of a bank shares it), read-only."""
    half = int(math.ceil(span * sps / 2.0))
    t = np.arange(-half, half + 1) / sps
    h = np.zeros(len(t))
    for i, x in enumerate(t):
        if abs(x) < 1e-9:
            h[i] = 1.0 - alpha + 4.0 * alpha / math.pi
        elif alpha > 0 and abs(abs(x) - 1.0 / (4.0 * alpha)) < 1e-9:
            h[i] = alpha / math.sqrt(2.0) * ((1 + 2 / math.pi) * math.sin(math.pi / (4 * alpha))
                                             + (1 - 2 / math.pi) * math.cos(math.pi / (4 * alpha)))
        else:
            h[i] = (math.sin(math.pi * x * (1 - alpha)) + 4 * alpha * x * math.cos(math.pi * x * (1 + alpha))) / (
                math.pi * x * (1 - (4 * alpha * x) ** 2))
    # taper the truncated ends a little
    h *= np.kaiser(len(h), 3.0)
    h.flags.writeable = False
    return h


# ----------------------------------------------------------------------------------------------
# Scramblers
# ----------------------------------------------------------------------------------------------

class Scrambler1823:
    """Self-synchronising scrambler/descrambler 1 + x^-18 + x^-23 (V.29, V.17); bits are 0/1."""

    def __init__(self, reg: int = 0) -> None:
        self.reg = reg

    def scramble(self, bits: Iterable[int]) -> list[int]:
        """Scramble a sequence of bits (iterable of 0/1) -> list of line bits."""
        reg = self.reg
        out = []
        for b in bits:
            o = (b ^ (reg >> 17) ^ (reg >> 22)) & 1
            reg = ((reg << 1) | o) & 0x7FFFFF
            out.append(o)
        self.reg = reg
        return out

    def descramble(self, bits: ArrayLike) -> Bits:
        """Descramble line bits (uint8 array) -> data bits (uint8 array); vectorised."""
        line = np.asarray(bits, dtype=np.uint8)
        if len(line) == 0:
            return line
        hist = np.array([(self.reg >> (22 - i)) & 1 for i in range(23)], dtype=np.uint8)  # oldest first
        x = np.concatenate([hist, line])
        n = len(line)
        out = line ^ x[23 - 18:23 - 18 + n] ^ x[0:n]
        tail = x[-23:]
        reg = 0
        for b in tail:
            reg = (reg << 1) | int(b)
        self.reg = reg
        return out


class ScramblerV27:
    """V.27ter scrambler/descrambler 1 + x^-6 + x^-7 with the repeated-pattern guard (ITU V.27ter 2.5)."""

    def __init__(self, reg: int = 0x3C) -> None:
        self.reg = reg
        self.count = 0

    def scramble_bit(self, b: int) -> int:
        """One data bit in -> one line bit out."""
        reg = self.reg
        o = (b ^ (reg >> 5) ^ (reg >> 6)) & 1
        if self.count >= 33:
            o ^= 1
            self.count = 0
        elif ((reg >> 7) ^ o) & ((reg >> 8) ^ o) & ((reg >> 11) ^ o) & 1:
            self.count = 0
        else:
            self.count += 1
        self.reg = ((reg << 1) | o) & 0xFFF
        return o

    def descramble_bit(self, b: int) -> int:
        """One line bit in -> one data bit out."""
        reg = self.reg
        o = (b ^ (reg >> 5) ^ (reg >> 6)) & 1
        if self.count >= 33:
            o ^= 1
            self.count = 0
        elif ((reg >> 7) ^ b) & ((reg >> 8) ^ b) & ((reg >> 11) ^ b) & 1:
            self.count = 0
        else:
            self.count += 1
        self.reg = ((reg << 1) | b) & 0xFFF
        return o


# ----------------------------------------------------------------------------------------------
# Receive side
# ----------------------------------------------------------------------------------------------

def _interp_weights(frac: FloatArray, ntaps: int = 12) -> FloatArray:
    """Windowed-sinc fractional-delay weights for fractions `frac` (array) -> (len(frac), ntaps)."""
    half = ntaps // 2
    n = np.arange(-half + 1, half + 1)[None, :]  # sample offsets relative to floor(t)
    d = n - frac[:, None]
    w = np.sinc(d) * (0.42 + 0.5 * np.cos(np.pi * d / half) + 0.08 * np.cos(2 * np.pi * d / half))
    w /= np.sum(w, axis=1, keepdims=True)
    return w


_PHASES = 256
_TABLE: FloatArray | None = None


def interp_table(ntaps: int) -> FloatArray:
    """Fractional-delay weights for 257 phases of a sample (257, ntaps), computed once."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _interp_weights(np.arange(_PHASES + 1) / _PHASES, ntaps)
    return _TABLE


class FrontEnd:
    """Mix to baseband at the nominal carrier, matched RRC filter, in-band power, symbol timing (Oerder-Meyr)."""

    INTERP = 12

    def __init__(self, carrier: float, baud: int, alpha: float) -> None:
        self.carrier = carrier
        self.baud = baud
        self.sps = FS / baud
        h = rrc(alpha, self.sps, 8)
        self.h = h / np.sum(h)  # unit DC gain at baseband
        self.zi = np.zeros(len(self.h) - 1, dtype=complex)
        self.delay = (len(self.h) - 1) // 2
        self.n = 0  # absolute index of the next input sample
        self.buf: ComplexArray = np.zeros(0, dtype=complex)
        self.base = 0  # absolute index of buf[0]
        self.pzi = np.zeros(1)
        self.pwr: FloatArray = np.zeros(0)
        self.tm = 0j  # smoothed timing phasor

    def push(self, samples: NDArray[np.int16]) -> tuple[ComplexArray, FloatArray]:
        """Filter a block of int16 samples into the baseband buffer."""
        x = samples.astype(np.float64)
        m = np.arange(self.n, self.n + len(x))
        lo = np.exp(-2j * np.pi * self.carrier * (m % FS) / FS)
        bb, self.zi = lfilter(self.h, [1.0], x * lo * 2.0, zi=self.zi)
        self.n += len(x)
        p, self.pzi = lfilter([1.0 / 24], [1.0, -(1.0 - 1.0 / 24)], np.abs(bb) ** 2, zi=self.pzi)
        self.buf = np.concatenate([self.buf, bb])
        self.pwr = np.concatenate([self.pwr, p])
        return bb, p

    def trim(self, keep_from: float) -> None:
        """Drop buffered baseband before absolute sample `keep_from`."""
        drop = int(keep_from) - self.base
        if drop > 0:
            drop = min(drop, len(self.buf))
            self.buf = self.buf[drop:]
            self.pwr = self.pwr[drop:]
            self.base += drop

    @property
    def end(self) -> int:
        """Absolute index of the sample after the last buffered one."""
        return self.base + len(self.buf)

    def timing_phasor(self, start: int, stop: int) -> complex:
        """Sum of |x|^2 e^{-j w n} over absolute samples [start, stop): its angle locates symbol centres."""
        a = max(start, self.base) - self.base
        b = min(stop, self.end) - self.base
        if b <= a:
            return 0j
        n = np.arange(a + self.base, b + self.base)
        return complex(np.sum(np.abs(self.buf[a:b]) ** 2 * np.exp(-2j * np.pi * self.baud * (n % (FS * 3)) / FS)))

    def centre_from_phasor(self, c: complex) -> float:
        """Symbol centre time modulo one symbol (samples, in [0, sps)) from a timing phasor."""
        return float((-np.angle(c) / (2 * np.pi) * self.sps) % self.sps)

    def sample(self, times: ArrayLike) -> ComplexArray:
        """Interpolated baseband at absolute fractional sample times (array)."""
        t = np.asarray(times, dtype=np.float64)
        fl = np.floor(t)
        frac = t - fl
        w = interp_table(self.INTERP)[np.rint(frac * _PHASES).astype(np.int64)]
        half = self.INTERP // 2
        idx = (fl.astype(np.int64) - self.base)[:, None] + np.arange(-half + 1, half + 1)[None, :]
        idx = np.clip(idx, 0, len(self.buf) - 1)
        out: ComplexArray = np.sum(self.buf[idx] * w, axis=1)
        return out


def nearest(points: ComplexArray, z: complex) -> int:
    """Index of the point in `points` (complex array) nearest to z."""
    d = points - z
    return int(np.argmin(d.real * d.real + d.imag * d.imag))


class Equaliser:
    """Complex T/2 fractionally spaced LMS equaliser with a second-order carrier phase loop."""

    def __init__(self, half_taps: int = 8) -> None:
        self.ntaps = 2 * half_taps + 1
        self.centre = half_taps
        self.w = np.zeros(self.ntaps, dtype=complex)
        self.phase = 0.0
        self.freq = 0.0
        self.rot = 1 + 0j
        self.x: ComplexArray = np.zeros(self.ntaps, dtype=complex)    # the last input vector
        self.xc: ComplexArray = self.x                                 # its conjugate
        self.nrm = 0.0                                                 # its energy

    def init(self, gain: float, phase: float, freq: float) -> None:
        """Start from a single centre tap: z = x * gain, with carrier phase and freq (rad/symbol)."""
        self.w[:] = 0
        self.w[self.centre] = gain
        self.phase = phase
        self.freq = freq
        self.rot = complex(math.cos(-phase), math.sin(-phase))

    def output(self, x: ComplexArray, xc: ComplexArray | None = None, nrm: float | None = None) -> complex:
        """Equalised, carrier-derotated symbol for the T/2 input vector x (xc = conj(x), nrm = |x|^2)."""
        self.x = x
        self.xc = np.conj(x) if xc is None else xc
        self.nrm = float(np.real(np.vdot(x, x))) if nrm is None else nrm
        return complex(self.w.dot(x)) * self.rot

    def update(self, z: complex, target: complex, mu: float, kp: float, ki: float) -> complex:
        """Adapt taps toward `target` (derotated domain) and advance the carrier loop."""
        err = target - z
        if mu:
            self.w += ((mu / (self.nrm + 1e-9)) * (err * self.rot.conjugate())) * self.xc
        mag = target.real * target.real + target.imag * target.imag
        if mag > 0:
            pe = (z.imag * target.real - z.real * target.imag) / mag
            if pe > 0.5:
                pe = 0.5
            elif pe < -0.5:
                pe = -0.5
            self.freq += ki * pe
            self.phase += self.freq + kp * pe
        else:
            self.phase += self.freq
        self.rot = complex(math.cos(-self.phase), math.sin(-self.phase))
        return err


def int16_samples(samples: ArrayLike) -> NDArray[np.int16]:
    """Received audio for a modem's rx(): a 1-D array of int16 samples (integers converted), else an error."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError("rx wants a 1-D int16 array")
    if x.dtype != np.int16:
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError("rx wants int16 samples")
        x = x.astype(np.int16)
    return x
