"""V.21 channel 2 FSK modem (300 bit/s, mark 1650 Hz = 1, space 1850 Hz = 0) for T.30 control frames.

8 kHz int16 audio. The transmitter is continuous-phase FSK; the receiver is a non-coherent
quadrature correlator over one bit period with a transition-tracking bit clock.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from trunkline.dsp.constants import RATE
from trunkline.dsp.level import dbm0_to_amplitude

__all__ = ["V21Tx", "V21Rx", "dbm0_to_amplitude", "RATE", "BAUD"]

BAUD = 300
MARK_HZ = 1650.0
SPACE_HZ = 1850.0
_SPB = RATE / BAUD  # samples per bit, 26.667


class V21Tx:
    """V.21 ch2 transmitter: queue bits with send_bits(), pull audio with tx(n); the carrier stops when
    the queue empties."""

    def __init__(self, level_dbm0: float = -13.0):
        self.amp = dbm0_to_amplitude(level_dbm0)
        self._bits = np.zeros(0, dtype=np.uint8)
        self._pos = 0.0  # fractional bit position within _bits
        self._phase = 0.0

    @property
    def done(self) -> bool:
        """True when every queued bit has been sent."""
        return self._pos >= len(self._bits)

    def send_bits(self, bits: ArrayLike) -> None:
        """Queue bits (0/1) for transmission."""
        rest = self._bits[int(self._pos):]
        frac = self._pos - int(self._pos)
        self._bits = np.concatenate([rest, np.asarray(bits, dtype=np.uint8)])
        self._pos = frac

    def tx(self, n: int) -> np.ndarray:
        """Next n samples (int16); zeros after the last bit."""
        out = np.zeros(n, dtype=np.int16)
        avail = len(self._bits) - self._pos
        if avail <= 0:
            return out
        m = min(n, int(np.ceil(avail * _SPB - 1e-9)))
        pos = self._pos + np.arange(m) / _SPB
        idx = np.minimum(pos.astype(np.int64), len(self._bits) - 1)
        freq = np.where(self._bits[idx] == 1, MARK_HZ, SPACE_HZ)
        ph = self._phase + np.cumsum(2 * np.pi * freq / RATE)
        out[:m] = np.round(self.amp * np.sin(ph - 2 * np.pi * freq / RATE)).astype(np.int16)
        self._phase = float(ph[-1] % (2 * np.pi))
        self._pos += m / _SPB
        if self._pos >= len(self._bits) - 1e-9:
            self._bits = np.zeros(0, dtype=np.uint8)
            self._pos = 0.0
        return out


_L = 27  # correlator length (about one bit)
_N = np.arange(160)
_E1 = np.exp(-2j * np.pi * MARK_HZ * _N / RATE)
_E2 = np.exp(-2j * np.pi * SPACE_HZ * _N / RATE)


class V21Rx:
    """V.21 ch2 receiver: rx(samples) demodulates; take_bits() returns bits received while carrier was present."""

    def __init__(self, on_dbm0: float = -43.0, off_dbm0: float = -48.0):
        ref = dbm0_to_amplitude(0.0) ** 2 / 2.0
        self._on = ref * 10 ** (on_dbm0 / 10.0)
        self._off = ref * 10 ** (off_dbm0 / 10.0)
        self.reset()

    def reset(self) -> None:
        """Drop all state (carrier, clock, pending bits)."""
        self._hist = np.zeros(_L - 1)
        self._n = 0  # absolute sample counter
        self.carrier = False
        self.signal_lost = False  # set when the carrier drops; cleared by take_bits
        self._t_next: float | None = None
        self._last_d = 0.0
        self._last_bit = 1
        self._bits: list[int] = []
        self._d_tail = np.zeros(0)

    def rx(self, samples: ArrayLike) -> None:
        """Demodulate a block of int16 samples."""
        x = np.asarray(samples, dtype=np.float64)
        n = len(x)
        if n == 0:
            return
        if not self.carrier and float(np.dot(x, x)) < self._off * n and float(np.dot(self._hist, self._hist)) < \
                self._off * len(self._hist):
            # quiet line and no carrier: nothing to demodulate (fast path)
            self._hist = x[-(_L - 1):] if n >= _L - 1 else np.concatenate([self._hist, x])[-(_L - 1):]
            self._last_d = 0.0
            self._n += n
            return
        xx = np.concatenate([self._hist, x])
        k = (self._n - (_L - 1) + np.arange(len(xx))) % 160
        m1 = np.concatenate([[0], np.cumsum(xx * _E1[k])])
        m2 = np.concatenate([[0], np.cumsum(xx * _E2[k])])
        pw = np.concatenate([[0], np.cumsum(xx * xx)])
        s1 = m1[_L:] - m1[:-_L]
        s2 = m2[_L:] - m2[:-_L]
        pwr = (pw[_L:] - pw[:-_L]) / _L
        d = np.abs(s1) ** 2 - np.abs(s2) ** 2
        tone = (np.abs(s1) ** 2 + np.abs(s2) ** 2) * 2 / (_L * _L)  # ~ tone power
        self._hist = xx[-(_L - 1):]
        base = self._n
        # carrier state per sample with hysteresis (only evaluated where it can change)
        carrier = self.carrier
        on_mask = (pwr > self._on) & (tone > 0.4 * pwr)
        off_mask = pwr < self._off
        car = np.empty(n, dtype=bool)
        i = 0
        while i < n:
            if carrier:
                j = int(np.argmax(off_mask[i:])) if off_mask[i:].any() else n - i
                car[i:i + j] = True
                i += j
                if i < n:
                    carrier = False
                    self.signal_lost = True
            else:
                j = int(np.argmax(on_mask[i:])) if on_mask[i:].any() else n - i
                car[i:i + j] = False
                i += j
                if i < n:
                    carrier = True
                    self._t_next = base + i + _SPB / 2
        self.carrier = carrier
        # transitions (sub-sample)
        dd = np.concatenate([[self._last_d], d])
        sg = dd >= 0
        tk = np.nonzero(sg[1:] != sg[:-1])[0]
        a = dd[tk]
        b = dd[tk + 1]
        tr = base - 1 + tk + a / (a - b)
        self._last_d = float(d[-1])
        T = _SPB
        t_next = self._t_next
        bits = self._bits
        ti = 0
        ntr = len(tr)
        end = base + n
        while True:
            if t_next is None:
                # wait for carrier and a transition to lock the clock
                while ti < ntr and not car[min(int(tr[ti]) - base + 1, n - 1)]:
                    ti += 1
                if ti >= ntr:
                    break
                t_next = tr[ti] + T / 2
                ti += 1
                continue
            while ti < ntr and tr[ti] < t_next:
                e = tr[ti] - (t_next - T / 2)
                e = (e + T / 2) % T - T / 2
                t_next += 0.25 * e
                ti += 1
            if t_next >= end:
                break
            si = int(round(t_next)) - base
            if si >= n:
                break
            if si < 0:
                si = 0
            if car[si]:
                bits.append(1 if d[si] >= 0 else 0)
            else:
                t_next = None
                continue
            t_next += T
        self._t_next = t_next
        self._n += n

    def take_bits(self) -> np.ndarray:
        """Bits demodulated since the last call (uint8 0/1)."""
        out = np.array(self._bits, dtype=np.uint8)
        self._bits = []
        return out
