"""1200 bit/s FSK for caller ID: Bell 202 (mark 1200 / space 2200 Hz) and V.23 (mark 1300 / space 2100 Hz).

FSKModulator: bits or async bytes -> int16, phase continuous, level in dBm0.
FSKReceiver(channels, mode): vectorised demodulator for (channels, n) int16 blocks; the
mark/space correlation and carrier detect run over all channels as numpy arrays; the
asynchronous (start/8 data/stop) character framing runs per channel only where a carrier is
present, once per character. It returns bytes per channel and flags runs of >= 10 mark
bits (the "mark signal" that precedes a caller ID message), which callerid.py uses to frame messages.
"""
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.signal import butter, sosfilt

from .constants import RATE
from .level import dbm0_to_amplitude

MODES = {
    "bell202": {"mark": 1200.0, "space": 2200.0, "baud": 1200.0},
    "v23": {"mark": 1300.0, "space": 2100.0, "baud": 1200.0},
}
CARRIER_MIN_DBM0 = -48.0


def _mode(mode: str) -> dict[str, float]:
    if mode not in MODES:
        raise ValueError(f"unknown FSK mode {mode!r}; known: {', '.join(MODES)}")
    return MODES[mode]


def async_bits(data: bytes | Iterable[int], stop_bits: int = 1) -> list[int]:
    """Bits (0/1 list) of bytes framed as start bit, 8 data bits LSB first, stop bit(s)."""
    out: list[int] = []
    for byte in bytes(data):
        out.append(0)
        out.extend((byte >> k) & 1 for k in range(8))
        out.extend([1] * stop_bits)
    return out


class FSKModulator:
    """Phase-continuous FSK modulator; modulate(bits) -> int16 samples (8 kHz)."""

    def __init__(self, mode: str = "bell202", level: float = -14.0) -> None:
        """level: transmit level in dBm0."""
        m = _mode(mode)
        self.mark, self.space, self.baud = m["mark"], m["space"], m["baud"]
        self.amp = float(dbm0_to_amplitude(level))
        self.phase = 0.0
        self.frac = 0.0  # fractional sample position of the bit clock

    def modulate(self, bits: Sequence[int]) -> NDArray[np.int16]:
        """int16 samples for a sequence of bits (1 = mark)."""
        spb = RATE / self.baud
        freqs = []
        for b in bits:
            self.frac += spb
            n = int(self.frac)
            self.frac -= n
            freqs.append(np.full(n, self.mark if b else self.space))
        if not freqs:
            return np.zeros(0, dtype=np.int16)
        f = np.concatenate(freqs)
        ph = self.phase + np.cumsum(2 * np.pi * f / RATE)
        x = self.amp * np.sin(ph - 2 * np.pi * f / RATE)
        self.phase = float(ph[-1] % (2 * np.pi))
        return np.round(x).astype(np.int16)


class FSKReceiver:
    """Vectorised FSK demodulator + async framing; process(block) -> [(ch, byte | 'mark' | 'lost')] in order."""

    def __init__(self, channels: int, mode: str = "bell202") -> None:
        m = _mode(mode)
        self.channels = int(channels)
        self.spb = RATE / m["baud"]
        self.L = int(round(self.spb))
        self.wm = 2 * np.pi * m["mark"] / RATE
        self.ws = 2 * np.pi * m["space"] / RATE
        self.hist = np.zeros((self.channels, self.L), dtype=np.float32)
        # band-pass around the FSK band (mark - 600 Hz .. space + 600 Hz) to shed out-of-band noise
        self.sos = butter(4, [m["mark"] - 600.0, m["space"] + 600.0], btype="bandpass", fs=RATE, output="sos")
        self.zi = np.zeros((self.sos.shape[0], self.channels, 2))
        self.t0 = 0  # absolute sample index of the next input sample
        self.min_pow = float(dbm0_to_amplitude(CARRIER_MIN_DBM0)) ** 2 / 2
        # per-channel framing state (plain Python, touched only for channels with carrier)
        self.bits = [np.zeros(0) for _ in range(self.channels)]  # soft decisions (> 0 = mark)
        self.pos = [0] * self.channels        # next index in bits[ch] to hunt a start bit from
        # index (in bits[ch]) of the last stop bit middle
        self.last_stop: list[int | None] = [None] * self.channels
        self.carrier = np.zeros(self.channels, dtype=bool)
        self._was_active = np.zeros(self.channels, dtype=bool)

    def grow(self, channels: int) -> None:
        """Take more channels (new ones start fresh); existing channels keep their state."""
        extra = int(channels) - self.channels
        if extra <= 0:
            return
        self.hist = np.concatenate([self.hist, np.zeros((extra, self.L), np.float32)])
        self.zi = np.concatenate([self.zi, np.zeros((self.zi.shape[0], extra, 2))], axis=1)
        self.bits.extend(np.zeros(0) for _ in range(extra))
        self.pos.extend([0] * extra)
        self.last_stop.extend([None] * extra)
        self.carrier = np.concatenate([self.carrier, np.zeros(extra, bool)])
        self._was_active = np.concatenate([self._was_active, np.zeros(extra, bool)])
        self.channels = int(channels)

    def reset(self, ch: int) -> None:
        """Forget one channel's state."""
        self.hist[ch] = 0
        self.zi[:, ch] = 0
        self.bits[ch] = np.zeros(0)
        self.pos[ch] = 0
        self.last_stop[ch] = None
        self.carrier[ch] = False

    def demodulate(self, block: NDArray[np.int16]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Soft decisions in [-1, 1] (> 0 = mark) and carrier flags, both (channels, n), for an int16 block."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"block must be shaped ({self.channels}, n), got {block.shape}")
        n = block.shape[1]
        L = self.L
        dec = np.ones((self.channels, n))
        carrier = np.zeros((self.channels, n), dtype=bool)
        # only lines with some energy (or a carrier running) are demodulated; quiet lines cost one mean
        blk = block.astype(np.float32)
        loud = np.mean(blk * blk, axis=1) >= self.min_pow / 4
        rows = np.nonzero(loud | self.carrier | self._was_active)[0]
        quiet = np.setdiff1d(np.arange(self.channels), rows)
        if len(quiet):
            self.zi[:, quiet] = 0
            self.hist[quiet] = 0
        self._was_active = loud
        t = np.arange(self.t0 - L, self.t0 + n)
        self.t0 += n
        if not len(rows):
            return dec, carrier
        y, zi = sosfilt(self.sos, blk[rows], axis=1, zi=self.zi[:, rows])
        self.zi[:, rows] = zi
        x = np.concatenate([self.hist[rows], y.astype(np.float32)], axis=1)
        # one pass: x*cos/sin at mark and space, and x^2; moving sums over one bit via one cumsum
        ph_m = (self.wm * t) % (2 * np.pi)
        ph_s = (self.ws * t) % (2 * np.pi)
        basis = np.stack([np.cos(ph_m), np.sin(ph_m), np.cos(ph_s), np.sin(ph_s)], axis=1).astype(np.float32)
        prod = np.empty((5,) + x.shape, dtype=np.float64)
        np.multiply(x[None], basis.T[:, None, :], out=prod[:4])
        np.multiply(x, x, out=prod[4])
        cs = np.cumsum(prod, axis=2)
        w = cs[:, :, L:] - cs[:, :, :-L]
        em = w[0] ** 2 + w[1] ** 2
        es = w[2] ** 2 + w[3] ** 2
        dec[rows] = (em - es) / (em + es + 1e-9)
        carrier[rows] = w[4] / L >= self.min_pow
        self.hist[rows] = x[:, -L:]
        return dec, carrier

    def process(self, block: NDArray[np.int16]) -> list[tuple[int, int | str]]:
        """Feed int16 (channels, n). Returns events [(ch, value)]: value is a received byte (int),
        'mark' after >= 10 bits of continuous mark, or 'lost' when the carrier drops."""
        dec, carrier = self.demodulate(block)
        events: list[tuple[int, int | str]] = []
        active = np.nonzero(carrier.any(axis=1) | self.carrier)[0]
        for ch in active:
            c = carrier[ch]
            d = np.where(c, dec[ch], 1.0)  # no carrier reads as mark, so no false start bits
            events.extend((int(ch), v) for v in self._frame(int(ch), d))
            if self.carrier[ch] and not c[-1]:
                events.append((int(ch), "lost"))
                self.bits[ch] = np.zeros(0)
                self.pos[ch] = 0
                self.last_stop[ch] = None
            self.carrier[ch] = bool(c[-1])
        return events

    def _frame(self, ch: int, d: NDArray[np.float64]) -> list[int | str]:
        soft = np.concatenate([self.bits[ch], d])
        b = soft > 0
        spb = self.spb
        pos = max(self.pos[ch], 1)
        out: list[int | str] = []
        offs = np.round((np.arange(10) + 0.5) * spb).astype(int)
        edges = np.flatnonzero(b[:-1] & ~b[1:]) + 1
        keep_from: int | None = None
        for i in edges.tolist():
            if i < pos:
                continue
            if i + offs[-1] + 2 >= len(b):
                keep_from = i - 1
                break
            # each bit: mean of the soft decisions at its centre and one sample either side
            sv = soft[i + offs] + soft[i + offs - 1] + soft[i + offs + 1]
            v = sv > 0
            if v[0] or not v[9] or soft[i + 1:i + 6].mean() > -0.2:
                pos = i + 1  # framing error: hunt again
                continue
            ls = self.last_stop[ch]
            if ls is None or i - ls > 10 * spb:
                out.append("mark")
            out.append(int(np.dot(v[1:9].astype(int), 1 << np.arange(8))))
            stop = i + int(offs[9])
            self.last_stop[ch] = stop
            pos = stop
        if keep_from is None:
            keep_from = max(len(b) - 1, 0)
            pos = max(pos, keep_from)
        # drop consumed samples, keep indices relative
        ls = self.last_stop[ch]
        if ls is not None:
            ls -= keep_from
            self.last_stop[ch] = None if ls < -20 * spb else ls
        self.bits[ch] = soft[keep_from:]
        self.pos[ch] = max(pos - keep_from, 1)
        return out
