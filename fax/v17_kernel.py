"""The V.17 modem's per-symbol recursions in C (fax/kernel/faxbank.c): the transmitter's symbol source
and shaping, the receiver's data-mode carrier loop, slicer and trellis decoder. One state per modem;
the fax bank hands the states of many sessions to one kernel call per tick."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.fax._faxbank import ffi, lib

from .modem_dsp import FS, Bits, ComplexArray

__all__ = ["TxKernel", "RxKernel", "run_tx", "ffi", "lib"]

MAXTAPS = 16
MAXPHASE = 10
LOMAX = 80


def _interleaved(z: ComplexArray) -> NDArray[np.float64]:
    return np.ascontiguousarray(np.asarray(z, dtype=np.complex128)).view(np.float64).copy()


class TxKernel:
    """The C state of one V.17 transmitter (training symbols, scrambler, trellis encoder, RRC, carrier)."""

    def __init__(self, poly: NDArray[np.float64], up: int, gain: float, carrier: float,
                 training: ComplexArray, points: ComplexArray, bits_per_symbol: int, scrambler: int,
                 diff: int) -> None:
        phases, taps = poly.shape
        if taps > MAXTAPS or phases > MAXPHASE:
            raise ValueError(f"shaping filter {phases}x{taps} exceeds the kernel's {MAXPHASE}x{MAXTAPS}")
        period = FS // math.gcd(int(carrier), FS)
        if period > LOMAX:
            raise ValueError(f"carrier {carrier} Hz repeats every {period} samples (kernel table {LOMAX})")
        s: Any = ffi.new("fb_tx_t *")
        self.s = s
        s.ntaps, s.sps_up, s.up = taps, phases, up
        padded = np.zeros((MAXPHASE, MAXTAPS))
        padded[:phases, :taps] = poly
        ffi.memmove(s.poly, padded.ravel().tobytes(), padded.nbytes)
        s.gain = gain
        k = np.arange(period)
        lo = np.exp(2j * np.pi * carrier * k / FS)
        s.lo_period = period
        ffi.memmove(s.lo_re, np.ascontiguousarray(lo.real).tobytes(), 8 * period)
        ffi.memmove(s.lo_im, np.ascontiguousarray(lo.imag).tobytes(), 8 * period)
        s.last_symbol = -1
        s.trailer_left = -1
        self._train = _interleaved(training)
        self._points = _interleaved(points)
        s.train = ffi.from_buffer("double[]", self._train)
        s.ntrain = len(training)
        s.points = ffi.from_buffer("double[]", self._points)
        s.bps = bits_per_symbol
        s.scr = scrambler
        s.diff = diff
        self._bits = np.zeros(0, dtype=np.uint8)
        s.bits = ffi.from_buffer("uint8_t[]", self._bits)

    def put(self, bits: NDArray[np.uint8]) -> None:
        """Queue data bits (0/1) behind those not yet sent."""
        s = self.s
        rest = self._bits[int(s.bitpos):]
        self._bits = np.ascontiguousarray(np.concatenate([rest, bits]).astype(np.uint8))
        s.bits = ffi.from_buffer("uint8_t[]", self._bits)
        s.nbits = len(self._bits)
        s.bitpos = 0

    def tx(self, n: int) -> NDArray[np.int16]:
        """n int16 samples of this transmitter alone."""
        out = np.empty(n, dtype=np.int16)
        lib.fb_v17_tx(ffi.new("fb_tx_t *[]", [self.s]), 1, ffi.from_buffer("int16_t[]", out), n)
        return out


def run_tx(kernels: list[TxKernel], n: int) -> NDArray[np.int16]:
    """n samples from each of many transmitters in one kernel call: int16 (len(kernels), n)."""
    out = np.empty((len(kernels), n), dtype=np.int16)
    if kernels:
        lib.fb_v17_tx(ffi.new("fb_tx_t *[]", [k.s for k in kernels]), len(kernels),
                      ffi.from_buffer("int16_t[]", out), n)
    return out


class RxKernel:
    """The C state of one V.17 receiver's data mode: carrier loop, grid slicer, trellis decoder, bit mapping."""

    def __init__(self, points: ComplexArray, grid: list[list[int]], bits_per_symbol: int,
                 kp: float, ki: float) -> None:
        r: Any = ffi.new("fb_v17rx_t *")
        self.r = r
        self._points = _interleaved(points)
        self._grid = np.ascontiguousarray(np.asarray(grid, dtype=np.int16).ravel())
        r.points = ffi.from_buffer("double[]", self._points)
        r.npoints = len(points)
        r.grid = ffi.from_buffer("int16_t[]", self._grid)
        r.bps = bits_per_symbol
        r.kp, r.ki = kp, ki
        self._buf = np.zeros(64 * 8, dtype=np.uint8)
        self._pbuf = ffi.from_buffer("uint8_t[]", self._buf)
        self._nb = ffi.new("int *")
        lib.fb_v17_reset(r)

    def reset(self, q0: int) -> None:
        """A new reception: trellis from state 0; q0 = the low two line bits of the first symbol of ones."""
        lib.fb_v17_reset(self.r)
        self.r.q0 = q0

    def push(self, z: complex) -> tuple[int, Bits | None]:
        """One symbol: (nearest point index, line bits made final or None)."""
        near = lib.fb_v17_push(self.r, z.real, z.imag, self._pbuf, self._nb)
        n = self._nb[0]
        return near, (self._buf[:n].copy() if n else None)

    def flush(self) -> Bits:
        """Line bits of every symbol still held."""
        n = lib.fb_v17_flush(self.r, self._pbuf)
        return self._buf[:n].copy()

    def block(self, y: ComplexArray, phase: float, freq: float) -> tuple[ComplexArray, Bits, float, float]:
        """Data mode over a block of equaliser outputs y: (errors rotated back, line bits, phase, freq)."""
        m = len(y)
        r = self.r
        r.phase, r.freq = phase, freq
        yy = np.ascontiguousarray(y, dtype=np.complex128)
        errs = np.empty(m, dtype=np.complex128)
        bits = np.empty(m * 6 + 64 * 8, dtype=np.uint8)
        nb = ffi.new("int[1]")
        lib.fb_v17_rx(ffi.new("fb_v17rx_t *[]", [r]), 1, ffi.from_buffer("double[]", yy),
                      ffi.new("int[]", [m]), m, ffi.from_buffer("double[]", errs),
                      ffi.from_buffer("uint8_t[]", bits), nb, len(bits), 0)
        return errs, bits[:nb[0]], float(r.phase), float(r.freq)
