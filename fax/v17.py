"""ITU V.17 fax modem: 7200/9600/12000/14400 bit/s trellis-coded QAM at 2400 baud, carrier 1800 Hz,
long and short training; the receiver decodes the 8-state trellis code with a Viterbi decoder."""
from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trunkline.dsp.level import dbm0_to_power
from trunkline.fax._faxbank import ffi

from .hdlc import HDLCDecoder, PackedBits
from .modem_dsp import Bits, ComplexArray, Scrambler1823, int16_samples
from .modem_tx import ModemTxBase
from .v17_kernel import CHUNK, RxKernel, TxKernel, run_rx

# Constellations (ITU V.17 figures 2-5, the same as V.32bis). Each group of 8 points (bits 6..3 fixed)
# is two orbits under 90 degree rotation; listed are the points with low bits 000 and 001, the others
# follow: low bits 111/100/011 = j, -1, -j times the 000 point; 110/101/010 = j, -1, -j times the 001 point.
_BASE = {
    14400: [(-8, -3), (9, 2), (-8, 1), (9, -2), (-4, -3), (5, 2), (-4, 1), (5, -2),
            (4, -3), (-3, 2), (4, 1), (-3, -2), (0, -3), (1, 2), (0, 1), (1, -2),
            (8, -3), (-7, 2), (8, 1), (-7, -2), (-4, -7), (5, 6), (-4, 5), (5, -6),
            (4, -7), (-3, 6), (4, 5), (-3, -6), (0, -7), (1, 6), (0, 5), (1, -6)],
    12000: [(7, 1), (-5, -1), (3, -3), (-1, 3), (7, -7), (-5, 7), (-1, -7), (3, 7),
            (3, 5), (-1, -5), (-1, 1), (3, -1), (-5, 5), (7, -5), (-5, -3), (7, 3)],
    9600: [(-8, 2), (-6, -4), (0, 2), (-6, 4), (0, -6), (2, -4), (8, 2), (2, 4)],
    7200: [(6, -6), (-2, 6), (-2, 2), (6, -2)],
}
BITS_PER_SYMBOL = {14400: 6, 12000: 5, 9600: 4, 7200: 3}


@functools.lru_cache(maxsize=None)
def constellation(bit_rate: int) -> ComplexArray:
    """Complex points indexed by the 7..4-bit symbol (Q6..Q3, Y2, Y1, Y0); computed once per rate, read-only."""
    base = _BASE[bit_rate]
    pts = np.zeros(4 * len(base), dtype=complex)
    for g in range(len(base) // 2):
        p0 = complex(*base[2 * g])
        p1 = complex(*base[2 * g + 1])
        for low, p in ((0, p0), (7, 1j * p0), (4, -p0), (3, -1j * p0),
                       (1, p1), (6, 1j * p1), (5, -p1), (2, -1j * p1)):
            pts[8 * g + low] = p
    pts.flags.writeable = False
    return pts


# Training points: A, B, C, D (B = jA, C = -A, D = -jA)
ABCD = np.array([-6 - 2j, 2 - 6j, 6 + 2j, -2 + 6j])
CDBA_TO_ABCD = (2, 3, 1, 0)   # scrambled dibit -> training point (segment 2)
DIBIT_TO_STEP = (1, 0, 2, 3)  # bridge segment: dibit -> quarter turns
BRIDGE_WORD = 0x8880
# 8-state trellis encoder: next state for (state, differentially encoded Y2Y1); Y0 is bit 2 of the next state
NEXT_STATE = np.array([[0, 2, 3, 1], [4, 7, 5, 6], [1, 3, 2, 0], [7, 4, 6, 5],
                       [2, 0, 1, 3], [6, 5, 7, 4], [3, 1, 0, 2], [5, 6, 4, 7]])
SEG_ABAB = 256
SEG_CDBA_LONG = 2976
SEG_CDBA_SHORT = 38
SEG_BRIDGE = 64
SEG_ONES = 48
TRAILER_ONES = 32
TRAILER_SILENCE = 48
SCRAMBLER_INIT = 0x2ECDD5


@functools.lru_cache(maxsize=2)
def training(short: bool) -> tuple[ComplexArray, int]:
    """(training symbols after ABAB: CDBA [+ bridge], scrambler state at the start of the ones); computed
    once per kind, read-only."""
    scr = Scrambler1823(SCRAMBLER_INIT)
    out = []
    state = 0
    for _ in range(SEG_CDBA_SHORT if short else SEG_CDBA_LONG):
        b = scr.scramble([1, 1])
        state = CDBA_TO_ABCD[(b[0] << 1) | b[1]]
        out.append(ABCD[state])
    if not short:
        for i in range(SEG_BRIDGE):
            shift = (i & 7) << 1
            b = scr.scramble([(BRIDGE_WORD >> shift) & 1, (BRIDGE_WORD >> (shift + 1)) & 1])
            state = (state + DIBIT_TO_STEP[(b[0] << 1) | b[1]]) & 3
            out.append(ABCD[state])
    syms = np.array(out)
    syms.flags.writeable = False
    return syms, scr.reg


@functools.lru_cache(maxsize=2)
def _tx_training(short: bool) -> tuple[ComplexArray, int]:
    """(every training symbol the transmitter sends: ABAB, then CDBA [+ bridge], scrambler state at the start of
    the ones); computed once per kind, read-only."""
    syms, reg = training(short)
    out = np.concatenate([np.array([ABCD[i % 2] for i in range(SEG_ABAB)]), syms])
    out.flags.writeable = False
    return out, reg


@functools.lru_cache(maxsize=None)
def _mean_power(bit_rate: int) -> float:
    """Mean |point|^2 of the constellation (once per rate)."""
    return float(np.mean(np.abs(constellation(bit_rate)) ** 2))


def _check(bit_rate: int) -> None:
    if bit_rate not in BITS_PER_SYMBOL:
        raise ValueError(f"V.17 bit rate must be 7200, 9600, 12000 or 14400, not {bit_rate}")


class V17Tx(ModemTxBase):
    """V.17 transmitter: ABAB, CDBA (2976 long / 38 short), bridge (long), 48 symbols of ones, data,
    32 symbols of ones and 48 of silence."""

    baud = 2400
    carrier = 1800
    alpha = 0.25
    up = 3

    def __init__(self, bit_rate: int = 14400, short_train: bool = False, level_dbm0: float = -12.0) -> None:
        _check(bit_rate)
        self.bit_rate = bit_rate
        self.bits_per_symbol = BITS_PER_SYMBOL[bit_rate]
        self.points = constellation(bit_rate)
        self.mean_power = _mean_power(bit_rate)
        super().__init__(level_dbm0)
        self.training, reg = _tx_training(short_train)
        self.diff = 0 if short_train else 1
        self.kernel = TxKernel(self.poly, self.up, self.gain, self.carrier, self.training, self.points,
                               self.bits_per_symbol, reg, self.diff)

    @property
    def done(self) -> bool:
        """True once the trailer is out."""
        return bool(self.kernel.s.done) if hasattr(self, "kernel") else False

    @done.setter
    def done(self, value: bool) -> None:
        if value:
            raise AttributeError("a V.17 transmitter is done only when its kernel has sent the trailer")

    def send_bits(self, bits: ArrayLike) -> None:
        """Queue data bits (0/1 array) for transmission after the training."""
        if self.finished:
            raise RuntimeError("finish() was called: no more data can be queued")
        self.queue.put(bits)
        self.kernel.put(self.queue.get(self.queue.count))

    def send_packed(self, bits: PackedBits) -> None:
        """Queue data bits given packed eight an octet (an ECM burst from HDLCEncoder.encode_packed)."""
        if self.finished:
            raise RuntimeError("finish() was called: no more data can be queued")
        self.kernel.put_packed(bits.data, bits.nbits)

    def finish(self) -> None:
        """No more data: the trailer follows once the queued data is out."""
        self.finished = True
        self.kernel.s.finished = 1

    def tx(self, n: int) -> NDArray[np.int16]:
        """n int16 samples of line signal: training, data, trailer, then zeros (the C kernel)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        return self.kernel.tx(int(n))


@functools.lru_cache(maxsize=None)
def _slicer_grid(bit_rate: int) -> NDArray[np.uint8]:
    """Nearest constellation point on a 0.25-unit grid over -11..+11: (89 * 89,) uint8, read-only, one table
    per bit rate shared by every receiver (it stays in cache across a bank's sessions)."""
    axis = np.arange(89) / 4.0 - 11.0
    zz = axis[:, None] + 1j * axis[None, :]
    flat = np.ascontiguousarray(
        np.argmin(np.abs(zz[:, :, None] - constellation(bit_rate)[None, None, :]), axis=2).astype(np.uint8).ravel())
    flat.flags.writeable = False
    return flat


@functools.lru_cache(maxsize=2)
def _train_labels() -> NDArray[np.int64]:
    """The ABCD labels of the first 64 long-training symbols (read-only)."""
    long_syms, _ = training(False)
    labels = np.array([int(np.argmin(np.abs(ABCD - s))) for s in long_syms[:64]])
    labels.flags.writeable = False
    return labels


@functools.lru_cache(maxsize=None)
def _subset_grid(bit_rate: int) -> NDArray[np.uint8]:
    """Nearest point of each of the 8 trellis subsets (indexes = subset mod 8) on the slicer's grid:
    (89 * 89 * 8,) uint8 (63 KB: it stays in cache across a bank's sessions), read-only."""
    axis = np.arange(89) / 4.0 - 11.0
    zz = (axis[:, None] + 1j * axis[None, :]).ravel()
    pts = constellation(bit_rate)
    out = np.zeros((len(zz), 8), dtype=np.uint8)
    for c in range(8):
        idx = np.arange(c, len(pts), 8)
        out[:, c] = idx[np.argmin(np.abs(zz[:, None] - pts[idx][None, :]), axis=1)]
    flat = out.ravel()
    flat.flags.writeable = False
    return flat


class V17Rx:
    """V.17 receiver at 7200-14400 bit/s; recognises long and short training by itself. The whole receiver
    runs in the C kernel (fax/kernel/faxrx.c, the state machine of modem_rx.ModemRxBase); a fax bank feeds
    all its sessions' receivers in one kernel call per tick (fax/bank.py)."""

    baud = 2400
    on_dbm0 = -40.0
    off_dbm0 = -45.0

    def __init__(self, bit_rate: int = 14400) -> None:
        _check(bit_rate)
        self.bit_rate = bit_rate
        self.bits_per_symbol = BITS_PER_SYMBOL[bit_rate]
        self.points = constellation(bit_rate)
        long_syms, long_reg = training(False)
        _, short_reg = training(True)
        self.kernel = RxKernel(self.points, _slicer_grid(bit_rate), _subset_grid(bit_rate), self.bits_per_symbol,
                               long_syms, _train_labels(),
                               (long_reg, short_reg), 2.0 * dbm0_to_power(self.on_dbm0),
                               2.0 * dbm0_to_power(self.off_dbm0))
        self._held: list[Bits] = []     # bits of a long rx() taken out of the kernel chunk by chunk
        self._hdlc: HDLCDecoder | None = None
        self._held_frames: list[tuple[bytes, bool]] = []

    @property
    def trained(self) -> bool:
        """True once the current reception's training (and its scrambled ones) succeeded."""
        return bool(self.kernel.r.trained)

    @property
    def carrier(self) -> bool:
        """True while a carrier is detected."""
        return bool(self.kernel.r.carrier)

    @property
    def signal_lost(self) -> bool:
        """True once a trained reception's carrier dropped (until the next training or reset)."""
        return bool(self.kernel.r.signal_lost)

    @property
    def busy(self) -> bool:
        """Trained and receiving (image data on the line)."""
        return self.trained and self.carrier

    def reset(self) -> None:
        """Forget the current reception and wait for the next training."""
        self.kernel.reset()
        self._held = []
        self._held_frames = []

    def take_bits(self) -> Bits:
        """Data bits (uint8 0/1) received since the last call; only after training succeeded."""
        if not self._held:
            return self.kernel.take()
        out = np.concatenate(self._held + [self.kernel.take()])
        self._held = []
        return out

    def rx(self, samples: ArrayLike) -> None:
        """Feed received int16 audio (any length)."""
        x = int16_samples(samples)
        for a in range(0, len(x), CHUNK):   # the kernel's output buffers hold one chunk's bits and frames
            run_rx([self.kernel], x[None, a:a + CHUNK])
            if self._hdlc is not None:
                self._held_frames = self.take_frames()   # takes the held frames too
                continue
            bits = self.kernel.take()
            if len(bits):
                self._held.append(bits)

    def attach_hdlc(self, decoder: HDLCDecoder) -> None:
        """Deframe in the kernel (ECM): the data bits go to `decoder` (take_frames), not to take_bits."""
        self._hdlc = decoder
        self._hstate = decoder.state   # kept alive while the kernel points at it
        self.kernel.r.hdlc = self._hstate

    def take_frames(self) -> list[tuple[bytes, bool]]:
        """Frames the attached HDLC decoder completed since the last call: (data without FCS, crc_ok)."""
        r = self.kernel.r
        nf = int(r.nframes)
        held, self._held_frames = self._held_frames, []
        if not nf or self._hdlc is None:
            return held
        raw = ffi.buffer(r.frames, int(r.fused))[:]
        lens = list(r.flen[0:nf])
        oks = ffi.buffer(r.fok, nf)[:]   # the kernel checked each frame's FCS
        r.nframes = 0
        r.fused = 0
        return held + self._hdlc.check_frames(raw, lens, oks)
