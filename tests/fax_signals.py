"""Fax test helpers shared by tests/fax: whole modem bursts from our modems and from spandsp's (peers),
bit error counts, and line impairments (whole-signal `impair`, streaming `Line` with `FreqShift`)."""
import numpy as np
from peers.spandsp_modems import SpandspRx, SpandspTx
from scipy.signal import hilbert

from trunkline.dsp.constants import BLOCK
from trunkline.fax.modems import make_rx, make_tx

CASES = [("v27ter", 2400), ("v27ter", 4800), ("v29", 7200), ("v29", 9600),
         ("v17", 7200), ("v17", 9600), ("v17", 12000), ("v17", 14400)]


def our_tx_signal(name, rate, bits, level=-12.0, short_train=False):
    """Our transmitter's whole burst, with 100 ms of silence before and 500 ms after."""
    tx = make_tx(name, rate, short_train=short_train, level_dbm0=level)
    tx.send_bits(bits)
    tx.finish()
    out = [np.zeros(800, np.int16)]
    for _ in range(3000):
        out.append(tx.tx(BLOCK))
        if tx.done:
            break
    assert tx.done, "transmitter never finished"
    out.append(np.zeros(4000, np.int16))
    return np.concatenate(out)


def spandsp_tx_signal(name, rate, bits, level=-12.0, short_train=False):
    tx = SpandspTx(name, rate, bits, level_dbm0=level, short_train=short_train)
    sig = np.concatenate([np.zeros(800, np.int16), tx.all(BLOCK), np.zeros(4000, np.int16)])
    tx.close()
    return sig


def our_rx(name, rate, sig, rx=None):
    """Feed a signal block by block to our receiver; (trained, signal_lost, bits)."""
    rx = rx or make_rx(name, rate)
    got = []
    for i in range(0, len(sig), BLOCK):
        rx.rx(sig[i:i + BLOCK])
        got.append(rx.take_bits())
    return rx.trained, rx.signal_lost, np.concatenate(got)


def spandsp_rx(name, rate, sig):
    rx = SpandspRx(name, rate)
    rx.rx(sig, BLOCK)
    ok, bits = rx.trained, rx.data_bits()
    rx.close()
    return ok, bits


def errors(sent, got):
    """Bit errors over the sent data (missing bits count as errors)."""
    n = min(len(sent), len(got))
    return int(np.count_nonzero(sent[:n] != got[:n])) + (len(sent) - n)


def impair(sig, noise_snr_db=None, offset_hz=0.0, seed=7):
    """Add white noise at `noise_snr_db` under the burst's power and/or shift every frequency by offset_hz."""
    x = sig.astype(np.float64)
    if offset_hz:
        n = np.arange(len(x))
        x = np.real(hilbert(x) * np.exp(2j * np.pi * offset_hz * n / 8000.0))
    if noise_snr_db is not None:
        active = np.abs(sig) > 0
        p = np.mean(x[active] ** 2)
        rng = np.random.default_rng(seed)
        x = x + rng.normal(0.0, np.sqrt(p / 10 ** (noise_snr_db / 10)), len(x))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def random_bits(n=3000, seed=1):
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)


class FreqShift:
    """Streaming frequency shifter (Hilbert FIR, 127 taps) for carrier-offset impairments."""

    def __init__(self, hz):
        n = 127
        k = np.arange(n) - (n - 1) // 2
        h = np.zeros(n)
        odd = k % 2 != 0
        h[odd] = 2 / (np.pi * k[odd])
        self.h = h * np.hamming(n)
        self.hist = np.zeros(n - 1)
        self.hz = hz
        self.t = 0
        self.d = (n - 1) // 2

    def __call__(self, x):
        xx = np.concatenate([self.hist, x])
        q = np.convolve(xx, self.h, mode="valid")
        i = xx[len(xx) - len(x) - self.d: len(xx) - self.d]
        self.hist = xx[-(len(self.h) - 1):]
        t = self.t + np.arange(len(x))
        self.t += len(x)
        ph = 2 * np.pi * self.hz * t / 8000
        return i * np.cos(ph) - q * np.sin(ph)


class Line:
    """One direction of the line: gain (dB), white noise at a fixed level (dBm0), frequency offset (Hz).

    gated=True adds the noise only while the far end transmits (a 30 dB SNR on the signal): spandsp
    listens before it talks and never hears its V.21 carrier drop under continuous -42 dBm0 noise.
    """

    def __init__(self, gain_db=0.0, noise_dbm0=None, offset_hz=0.0, seed=0, gated=False):
        self.gated = gated
        self.g = 10 ** (gain_db / 20)
        self.noise = None if noise_dbm0 is None else 32767 * 10 ** ((noise_dbm0 - 3.14) / 20) / np.sqrt(2)
        self.shift = FreqShift(offset_hz) if offset_hz else None
        self.rng = np.random.default_rng(seed)

    def __call__(self, x):
        y = x.astype(np.float64) * self.g
        if self.shift:
            y = self.shift(y)
        if self.noise is not None and (not self.gated or np.abs(x).max() > 30):
            y = y + self.rng.normal(0, self.noise, len(y))
        return np.clip(np.round(y), -32768, 32767).astype(np.int16)
