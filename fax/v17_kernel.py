"""The V.17 modem in C (fax/kernel/faxbank.c, faxrx.c): the transmitter's symbol source and shaping, and
the whole receiver (front end, timing, training, carrier loop, slicer, trellis decoder). One state per
modem; the fax bank hands the states of many sessions to one kernel call per tick."""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.fax._faxbank import ffi, lib

from .modem_dsp import FS, Bits, ComplexArray, FrontEnd, interp_table, rrc

__all__ = ["TxKernel", "RxKernel", "run_tx", "run_rx", "ffi", "lib"]

TXNT = 12       # FB_TXNT: symbols per output sample of the transmitter's table
TXPERIOD = 400  # the longest table period (samples) accepted
TXBPMAX = 256   # FB_TXBPMAX: the longest period of the block path
_PAD = 8        # octets readable past the last packed data bit (the transmitter loads 8 at a time)
RXH = 64        # FB_RXH: matched filter taps
RXLO = 80       # FB_RXLO: carrier table period (samples)
RXTP = 16       # FB_RXTP: timing phasor table period (samples)
CHUNK = 512     # FB_RXCHUNK: samples per receiver per kernel call
ITW = 16        # FB_ITW: floats a row of the interpolation weights
BAUD = 2400
CARRIER = 1800
SEG_ONES = 48   # symbols of scrambled ones before the data


def _interleaved(z: ComplexArray) -> NDArray[np.float64]:
    return np.ascontiguousarray(np.asarray(z, dtype=np.complex128)).view(np.float64).copy()


@functools.lru_cache(maxsize=1)
def _itab_float() -> NDArray[np.float32]:
    """The receiver's interpolation weights in float, each phase's row padded with zeros to ITW (shared, read-only)."""
    w = interp_table(FrontEnd.INTERP)
    out = np.zeros((w.shape[0], ITW), np.float32)
    out[:, :w.shape[1]] = w
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=32)
def _shared(raw: bytes) -> NDArray[np.float64]:
    """One read-only copy of a table (interleaved re, im) for every modem that uses it: a bank's sessions
    then read the same cache lines (a copy per modem missed the cache in the symbol loops)."""
    arr = np.frombuffer(raw, dtype=np.float64).copy()
    arr.flags.writeable = False
    return arr


_BY_ID: dict[int, tuple[ComplexArray, NDArray[np.float64]]] = {}


def _interleaved_shared(z: ComplexArray) -> NDArray[np.float64]:
    """_interleaved(z), one copy per distinct table; a read-only table (the modems' cached constellations and
    training) is looked up by identity, without copying and hashing it again."""
    if not z.flags.writeable:
        hit = _BY_ID.get(id(z))
        if hit is not None and hit[0] is z:
            return hit[1]
        out = _shared(_interleaved(z).tobytes())
        if len(_BY_ID) < 64:
            _BY_ID[id(z)] = (z, out)   # holds z: its id is not reused
        return out
    return _shared(_interleaved(z).tobytes())


def tx_table(poly: NDArray[np.float64], up: int, gain: float, carrier: float, period: int) -> NDArray[np.float64]:
    """The transmitter's shaping, carrier and gain in one table (period, 2 * TXNT): row m % period holds, for
    the symbols k0 - TXNT + 1 .. k0 (k0 = m * up // phases), the (re, im) coefficients of output sample m =
    gain * Re(sum of poly[phase, tap] * symbol * carrier(m))."""
    phases, taps = poly.shape
    m = np.arange(period)
    ph = (m * up) % phases
    lo = np.exp(2j * np.pi * carrier * m / FS)
    tab = np.zeros((period, TXNT, 2))
    for i in range(taps):            # tap i weighs symbol k0 - i, stored at TXNT - 1 - i
        c = gain * poly[ph, i] * lo
        tab[:, TXNT - 1 - i, 0] = c.real
        tab[:, TXNT - 1 - i, 1] = -c.imag
    return tab.reshape(period, 2 * TXNT)


def tx_block_table(tab: NDArray[np.float64], up: int, phases: int) -> NDArray[np.float32] | None:
    """tx_table's rows for a whole period at once (float32, column-major: (2 * (K + TXNT - 1), period) with
    K = period * up // phases symbols a period), or None when the period does not suit the kernel's block path
    (not a multiple of 8 samples, longer than FB_TXBPMAX, or not a whole number of symbols)."""
    period = tab.shape[0]
    if period % 8 or period > TXBPMAX or (period * up) % phases:
        return None
    k = period * up // phases
    out = np.zeros((2 * (k + TXNT - 1), period), dtype=np.float32)
    for i in range(period):
        off = 2 * ((i * up) // phases)
        out[off:off + 2 * TXNT, i] = tab[i]
    return np.ascontiguousarray(out)


@functools.lru_cache(maxsize=32)
def _tx_block_shared(poly: bytes, phases: int, taps: int, up: int, gain: float, carrier: float,
                     period: int) -> NDArray[np.float32] | None:
    """tx_block_table of the shared tx_table (one read-only copy per distinct shaping, gain and carrier)."""
    tab = _tx_table_shared(poly, phases, taps, up, gain, carrier, period).reshape(period, 2 * TXNT)
    out = tx_block_table(tab, up, phases)
    if out is not None:
        out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=32)
def _tx_table_shared(poly: bytes, phases: int, taps: int, up: int, gain: float, carrier: float,
                     period: int) -> NDArray[np.float64]:
    """tx_table, one read-only copy per distinct shaping, gain and carrier (every transmitter of a bank shares it)."""
    p = np.frombuffer(poly, dtype=np.float64).reshape(phases, taps)
    return _shared(tx_table(p, up, gain, carrier, period).tobytes())


class TxKernel:
    """The C state of one V.17 transmitter (training symbols, scrambler, trellis encoder, RRC, carrier)."""

    def __init__(self, poly: NDArray[np.float64], up: int, gain: float, carrier: float,
                 training: ComplexArray, points: ComplexArray, bits_per_symbol: int, scrambler: int,
                 diff: int) -> None:
        phases, taps = poly.shape
        if taps > TXNT:
            raise ValueError(f"shaping filter of {taps} taps exceeds the kernel's {TXNT}")
        if not 1 <= up <= phases:
            raise ValueError(f"interpolation {up} must be 1..{phases} (at most one symbol per output sample)")
        period = math.lcm(phases // math.gcd(up, phases), FS // math.gcd(int(carrier), FS))
        if period > TXPERIOD:
            raise ValueError(f"shaping and carrier repeat every {period} samples (kernel table {TXPERIOD})")
        s: Any = ffi.new("fb_tx_t *")
        self.s = s
        s.ntaps, s.sps_up, s.up = taps, phases, up
        self._ctab = _tx_table_shared(poly.tobytes(), phases, taps, up, gain, carrier, period)
        s.ctab = ffi.from_buffer("double[]", self._ctab)
        s.ctab_period = period
        self._btab = _tx_block_shared(poly.tobytes(), phases, taps, up, gain, carrier, period)
        if self._btab is not None:
            s.btab = ffi.from_buffer("float[]", self._btab)
            s.bcols = self._btab.shape[0]
        s.sbase = -TXNT
        s.last_symbol = -1
        s.trailer_left = -1
        self._train = _interleaved_shared(training)
        self._points = _interleaved_shared(points)
        s.train = ffi.from_buffer("double[]", self._train)
        s.ntrain = len(training)
        s.points = ffi.from_buffer("double[]", self._points)
        s.bps = bits_per_symbol
        s.scr = scrambler
        s.diff = diff
        self._bits = np.zeros(_PAD, dtype=np.uint8)   # the data bits packed (the kernel reads 8 octets at a time)
        s.bits = ffi.from_buffer("uint8_t[]", self._bits)

    def put(self, bits: NDArray[np.uint8]) -> None:
        """Queue data bits (0/1) behind those not yet sent."""
        bits = np.asarray(bits, dtype=np.uint8)
        self.put_packed(np.packbits(bits, bitorder="little"), len(bits))

    def put_packed(self, data: NDArray[np.uint8], nbits: int) -> None:
        """Queue nbits data bits given packed (bit i in bit i % 8 of data[i // 8]) behind those not yet sent."""
        s = self.s
        pos, end = int(s.bitpos), int(s.nbits)
        if nbits > 8 * len(data):
            raise ValueError(f"{nbits} bits do not fit in {len(data)} octets")
        nbytes = (nbits + 7) // 8
        if pos >= end:   # nothing pending (the usual case: a modem is given all its bits at once)
            if data.dtype == np.uint8 and data.ndim == 1 and data.flags.c_contiguous and len(data) >= nbytes + _PAD:
                buf = data   # with its spare octets already (HDLCEncoder.encode_packed): kept, not copied
            else:
                buf = np.zeros(nbytes + _PAD, dtype=np.uint8)
                buf[:nbytes] = data[:nbytes]
            pos = 0
            total = nbits
        else:            # behind the pending bits: unpacked, joined and packed again
            rest = np.unpackbits(self._bits, bitorder="little")[pos:end]
            new = np.unpackbits(np.asarray(data, dtype=np.uint8), bitorder="little")[:nbits]
            joined = np.concatenate([rest, new])
            buf = np.concatenate([np.packbits(joined, bitorder="little"), np.zeros(_PAD, np.uint8)])
            pos = 0
            total = len(joined)
        self._bits = buf
        s.bits = ffi.from_buffer("uint8_t[]", self._bits)
        s.nbits = total
        s.bitpos = pos

    def tx(self, n: int) -> NDArray[np.int16]:
        """n int16 samples of this transmitter alone."""
        out = np.empty(n, dtype=np.int16)
        lib.fb_v17_tx(ffi.new("fb_tx_t *[]", [self.s]), 1, ffi.from_buffer("int16_t[]", out), n, ffi.NULL)
        return out


def run_tx(kernels: list[TxKernel], n: int) -> NDArray[np.int16]:
    """n samples from each of many transmitters in one kernel call: int16 (len(kernels), n)."""
    out = np.empty((len(kernels), n), dtype=np.int16)
    if kernels:
        lib.fb_v17_tx(ffi.new("fb_tx_t *[]", [k.s for k in kernels]), len(kernels),
                      ffi.from_buffer("int16_t[]", out), n, ffi.NULL)
    return out


@functools.lru_cache(maxsize=1)
def _front_tables() -> tuple[list[NDArray[np.float64]], int, int]:
    """The receive front end's read-only tables, made once a process and shared by every receiver (their cache
    lines shared, not one copy per session): matched filter, carrier and timing phasors; their periods in samples."""
    h = rrc(0.25, FS / BAUD, 8)
    h = h / np.sum(h)
    if len(h) > RXH:
        raise ValueError("matched filter too long for the kernel")
    lo_period = FS // math.gcd(CARRIER, FS)
    lo = np.exp(-2j * np.pi * CARRIER * np.arange(lo_period) / FS)
    tp_period = FS // math.gcd(BAUD, FS)
    tp = np.exp(-2j * np.pi * BAUD * np.arange(tp_period) / FS)
    if lo_period > RXLO or tp_period > RXTP:
        raise ValueError("carrier or timing table too long for the kernel")
    tabs = [_shared(np.ascontiguousarray(v, dtype=np.float64).tobytes())
            for v in (h, lo.real, lo.imag, tp.real, tp.imag)]
    return tabs, lo_period, tp_period


class RxKernel:
    """The C state of one whole V.17 receiver (fax/kernel/faxrx.c): front end (mixing, matched filter,
    in-band power), carrier detect, symbol timing, training (ABAB lock, CDBA search, long/short training)
    and data mode (carrier loop, slicer, trellis decoder, descrambler, the check of the scrambled ones)."""

    def __init__(self, points: ComplexArray, grid: NDArray[np.uint8], sgrid: NDArray[np.uint8], bits_per_symbol: int,
                 train: ComplexArray,
                 labels: NDArray[np.int64], regs: tuple[int, int], on_lin: float, off_lin: float) -> None:
        r: Any = ffi.new("fb_rx17_t *")
        self.r = r
        self._tabs, lo_period, tp_period = _front_tables()
        r.nh = len(self._tabs[0])
        r.h, r.lo_re, r.lo_im, r.tp_re, r.tp_im = (ffi.from_buffer("double[]", t) for t in self._tabs)
        r.lo_period, r.tp_period = lo_period, tp_period
        r.sps = FS / BAUD
        r.on_lin, r.off_lin = on_lin, off_lin
        self._itab = _itab_float()
        r.itab = ffi.from_buffer("float[]", self._itab)
        self._train = _interleaved_shared(train)
        r.train = ffi.from_buffer("double[]", self._train)
        r.ntrain = len(train)
        self._labels = np.ascontiguousarray(labels, dtype=np.int8)
        r.labels = ffi.from_buffer("int8_t[]", self._labels)
        r.spacing = float(np.min(np.abs(points[1:] - points[0])))
        r.long_reg, r.short_reg = regs
        r.ones_bits = SEG_ONES * bits_per_symbol
        v = r.vit
        self._points = _interleaved_shared(points)
        self._grid = grid
        v.points = ffi.from_buffer("double[]", self._points)
        if len(points) > 256:
            raise ValueError("the slicer tables index at most 256 points")
        v.npoints = len(points)
        v.grid = ffi.from_buffer("uint8_t[]", self._grid)
        self._sgrid = sgrid
        v.sgrid = ffi.from_buffer("uint8_t[]", sgrid)
        v.bps = bits_per_symbol
        self._inv_mag = _shared((1.0 / np.abs(np.asarray(points, dtype=np.complex128)) ** 2).tobytes())
        v.inv_mag = ffi.from_buffer("double[]", self._inv_mag)
        lib.fb_rx17_reset(r)

    def reset(self) -> None:
        """Forget the reception and its pending bits (the front end keeps running)."""
        lib.fb_rx17_reset(self.r)

    def take(self) -> Bits:
        """Data bits (uint8 0/1) received since the last call."""
        n = int(self.r.nout)
        if not n:
            return np.zeros(0, dtype=np.uint8)
        out = np.frombuffer(ffi.buffer(self.r.out, n), dtype=np.uint8).copy()
        self.r.nout = 0
        return out


def run_rx(kernels: list[RxKernel], audio: NDArray[np.int16]) -> None:
    """Feed each receiver its row of audio (len(kernels), n) int16, every receiver in one kernel call per chunk."""
    x = np.ascontiguousarray(audio, dtype=np.int16)
    if not kernels or x.shape[1] == 0:
        return
    ptrs = ffi.new("fb_rx17_t *[]", [k.r for k in kernels])
    n = x.shape[1]
    for a in range(0, n, CHUNK):
        part = np.ascontiguousarray(x[:, a:a + CHUNK])
        lib.fb_rx17_run(ptrs, len(kernels), ffi.from_buffer("int16_t[]", part), part.shape[1], part.shape[1], ffi.NULL)
