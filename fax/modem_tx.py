"""The fax modems' common transmitter: a data bit queue, then a symbol source (each modem's training,
data and trailer) -> root raised cosine shaping -> carrier -> int16 at 8 kHz."""
from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trunkline.dsp.level import dbm0_to_rms

from .modem_dsp import FS, Bits, ComplexArray, rrc

__all__ = ["BitQueue", "bytes_to_bits", "ModemTxBase"]


class BitQueue:
    """FIFO of data bits (uint8 0/1) for a transmitter."""

    def __init__(self) -> None:
        self.chunks: list[Bits] = []
        self.pos = 0
        self.count = 0

    def put(self, bits: ArrayLike) -> None:
        """Queue bits (a 1-D array of 0/1); ValueError for anything else."""
        arr = np.asarray(bits, dtype=np.uint8)
        if arr.ndim != 1:
            raise ValueError("bits must be a 1-D array of 0/1")
        if len(arr) and arr.max() > 1:
            raise ValueError("bits must be 0 or 1")
        if len(arr):
            self.chunks.append(arr)
            self.count += len(arr)

    def get(self, n: int) -> Bits:
        """Up to n bits (fewer if the queue runs dry)."""
        out = []
        got = 0
        while got < n and self.chunks:
            c = self.chunks[0]
            take = min(n - got, len(c) - self.pos)
            out.append(c[self.pos:self.pos + take])
            self.pos += take
            got += take
            if self.pos >= len(c):
                self.chunks.pop(0)
                self.pos = 0
        self.count -= got
        return np.concatenate(out) if out else np.zeros(0, dtype=np.uint8)


def bytes_to_bits(data: bytes | bytearray | memoryview) -> Bits:
    """Octets -> bits, each octet least significant bit first."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("send_bytes wants bytes")
    a = np.frombuffer(bytes(data), dtype=np.uint8)
    return np.unpackbits(a, bitorder="little")


@functools.lru_cache(maxsize=64)
def _shaping(alpha: float, sps_up: int, span: int, mean_power: float,
             level_dbm0: float) -> tuple[NDArray[np.float64], int, float]:
    """(the RRC shaping filter as polyphase taps [phase, tap], read-only; taps per phase; the gain to level_dbm0):
    computed once per modem kind and level (a session makes a transmitter for every burst)."""
    h = rrc(alpha, sps_up, span)
    taps = int(math.ceil(len(h) / sps_up))
    hp = np.zeros(taps * sps_up)
    hp[:len(h)] = h
    poly = hp.reshape(taps, sps_up).T.copy()
    poly.flags.writeable = False
    p = mean_power * np.sum(h * h) / sps_up / 2.0
    return poly, taps, dbm0_to_rms(level_dbm0) / math.sqrt(p)


class ModemTxBase:
    """Common transmitter: a symbol source (subclass `_symbols(n)`) -> RRC shaping -> carrier -> int16.

    Subclasses set: baud, carrier (Hz), alpha, up (interpolation so that FS*up/baud is an integer)
    and mean_power (mean |symbol|^2 of the data constellation)."""

    baud = 2400
    carrier = 1800
    alpha = 0.25
    up = 3
    mean_power = 1.0
    span = 10

    training: ComplexArray       # the symbols sent before the data (the modems that use _step_past_training)

    def __init__(self, level_dbm0: float = -12.0) -> None:
        self.queue = BitQueue()
        self.finished = False
        self.step = 0                            # symbols produced so far
        self.trailer_left: int | None = None     # trailer symbols still to send, once the data has drained
        self.done = False
        self.sps_up = FS * self.up // self.baud
        self.poly, self.ntaps, self.gain = _shaping(self.alpha, self.sps_up, self.span, self.mean_power,
                                                    float(level_dbm0))
        self.sym: ComplexArray = np.zeros(self.ntaps, dtype=complex)  # history: self.sym[i] is symbol sym_base + i
        self.sym_base = -self.ntaps
        self.m = 0  # next output sample index
        self.last_symbol: int | None = None  # index of the last non-silent symbol, once the trailer is queued

    def send_bits(self, bits: ArrayLike) -> None:
        """Queue data bits (0/1 array) for transmission after the training."""
        if self.finished:
            raise RuntimeError("finish() was called: no more data can be queued")
        self.queue.put(bits)

    def send_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Queue octets (each sent least significant bit first)."""
        self.send_bits(bytes_to_bits(data))

    def finish(self) -> None:
        """No more data: the modem sends its trailer once the queue has drained."""
        self.finished = True

    def _step_past_training(self) -> tuple[int, complex | None]:
        """Advance one symbol: (its index counted from the end of `self.training`, the training symbol
        while the training lasts, else None)."""
        s = self.step
        self.step += 1
        t = len(self.training)
        return s - t, (complex(self.training[s]) if s < t else None)

    def _payload_bits(self, s: int, n: int, ones: int, trailer: int) -> Bits:
        """n bits for payload symbol `s` (counted after the training): `ones` symbols of ones, the queued
        data, then `trailer` symbols of ones once the data has drained."""
        if s < ones:
            return np.ones(n, dtype=np.uint8)
        if self.trailer_left is None and not (self.finished and self.queue.count == 0):
            return self._data_bits(n)
        if self.trailer_left is None:
            self.trailer_left = trailer
        self.trailer_left -= 1
        return np.ones(n, dtype=np.uint8)

    def _data_bits(self, n: int) -> Bits:
        """n bits for the data phase: queued data, or ones on underrun / after the data."""
        b = self.queue.get(n)
        if len(b) < n:
            b = np.concatenate([b, np.ones(n - len(b), dtype=np.uint8)])
        return b

    def tx(self, n: int) -> NDArray[np.int16]:
        """n int16 samples of line signal: training, data, trailer, then zeros."""
        if n < 0:
            raise ValueError("n must be >= 0")
        m = np.arange(self.m, self.m + n)
        j = m * self.up
        k0 = j // self.sps_up
        ph = j % self.sps_up
        need = int(k0[-1]) if n else self.sym_base
        have = self.sym_base + len(self.sym) - 1
        if need > have:
            new = self._symbols(need - have)
            self.sym = np.concatenate([self.sym, new])
        idx = (k0 - self.sym_base)[:, None] - np.arange(self.ntaps)[None, :]
        y = np.sum(self.sym[idx] * self.poly[ph], axis=1)
        lo = np.exp(2j * np.pi * self.carrier * (m % FS) / FS)
        out = np.real(y * lo) * self.gain
        # keep only the history the filter needs
        keep = self.ntaps + 2
        if len(self.sym) > keep:
            drop = len(self.sym) - keep
            self.sym = self.sym[drop:]
            self.sym_base += drop
        self.m += n
        if self.last_symbol is not None and n:
            end_sample = int(math.ceil((self.last_symbol + self.ntaps) * self.sps_up / self.up))
            if self.m >= end_sample:
                out[max(0, end_sample - (self.m - n)):] = 0.0
                self.done = True
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)

    def _symbols(self, n: int) -> ComplexArray:
        """The next n symbols (complex): training, then data, then trailer, then silence."""
        out = np.zeros(n, dtype=complex)
        for i in range(n):
            if self.last_symbol is not None:
                break
            out[i] = self._next_symbol()
            if self._trailer_sent():
                self.last_symbol = self.sym_base + len(self.sym) + i
        return out

    # -- what each modem provides ----------------------------------------------------------------
    def _next_symbol(self) -> complex:
        """The next symbol of the training, data or trailer."""
        raise NotImplementedError

    def _trailer_sent(self) -> bool:
        """True once the last trailer symbol has been produced."""
        raise NotImplementedError
