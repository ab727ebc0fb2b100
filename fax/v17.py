"""ITU V.17 fax modem: 7200/9600/12000/14400 bit/s trellis-coded QAM at 2400 baud, carrier 1800 Hz,
long and short training; the receiver decodes the 8-state trellis code with a Viterbi decoder."""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .modem_dsp import Bits, ComplexArray, Scrambler1823
from .modem_rx import ModemRxBase
from .modem_tx import ModemTxBase

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


def constellation(bit_rate: int) -> ComplexArray:
    """Complex points indexed by the 7..4-bit symbol (Q6..Q3, Y2, Y1, Y0)."""
    base = _BASE[bit_rate]
    pts = np.zeros(4 * len(base), dtype=complex)
    for g in range(len(base) // 2):
        p0 = complex(*base[2 * g])
        p1 = complex(*base[2 * g + 1])
        for low, p in ((0, p0), (7, 1j * p0), (4, -p0), (3, -1j * p0),
                       (1, p1), (6, 1j * p1), (5, -p1), (2, -1j * p1)):
            pts[8 * g + low] = p
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


def training(short: bool) -> tuple[ComplexArray, int]:
    """(training symbols after ABAB: CDBA [+ bridge], scrambler state at the start of the ones)."""
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
    return np.array(out), scr.reg


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
        self.mean_power = float(np.mean(np.abs(self.points) ** 2))
        super().__init__(level_dbm0)
        syms, reg = training(short_train)
        abab = np.array([ABCD[i % 2] for i in range(SEG_ABAB)])
        self.training = np.concatenate([abab, syms])
        self.scr = Scrambler1823(reg)
        self.diff = 0 if short_train else 1
        self.conv = 0

    def _next_symbol(self) -> complex:
        s, training = self._step_past_training()
        if training is not None:
            return training
        n = self.bits_per_symbol
        if self.trailer_left is not None and self.trailer_left <= TRAILER_SILENCE:
            self.trailer_left -= 1
            return 0j
        bits = self._payload_bits(s, n, SEG_ONES, TRAILER_ONES + TRAILER_SILENCE)
        line = self.scr.scramble(int(b) for b in bits)
        q = 0
        for i, b in enumerate(line):
            q |= b << i
        self.diff = (self.diff + (q & 3)) & 3
        self.conv = int(NEXT_STATE[self.conv, self.diff])
        idx = ((q << 1) & 0x78) | (self.diff << 1) | ((self.conv >> 2) & 1)
        return self.points[idx]

    def _trailer_sent(self) -> bool:
        return self.trailer_left is not None and self.trailer_left <= 0


#: add-compare-select: (metrics, branch metric per subset, point per subset) -> (metrics, predecessors, points)
_Acs = Callable[[list[float], list[float], list[int]], tuple[list[float], list[int], list[int]]]
_ACS: dict[tuple[tuple[tuple[int, int], ...], ...], _Acs] = {}


def _acs_function(preds: Sequence[Sequence[tuple[int, int]]]) -> _Acs:
    """Add-compare-select for one symbol of this trellis as straight-line Python (no inner loops):
    f(metric[8], branch metric per subset[8], point per subset[8]) -> (new metric, best predecessor,
    decided point) per state; metrics normalised to a minimum of 0, ties keep the first predecessor."""
    key = tuple(tuple(row) for row in preds)
    f = _ACS.get(key)
    if f is None:
        lines = ["def acs(m, b, p):"]
        for n, row in enumerate(key):
            (s0, c0), rest = row[0], row[1:]
            lines.append(f"    a = m[{s0}] + b[{c0}]; s = {s0}; c = {c0}")
            for sk, ck in rest:
                lines.append(f"    t = m[{sk}] + b[{ck}]")
                lines.append(f"    if t < a: a = t; s = {sk}; c = {ck}")
            lines.append(f"    n{n} = a; s{n} = s; q{n} = p[c]")
        lines.append("    mn = min(" + ", ".join(f"n{n}" for n in range(len(key))) + ")")
        lines.append("    return ([" + ", ".join(f"n{n} - mn" for n in range(len(key))) + "], ["
                     + ", ".join(f"s{n}" for n in range(len(key))) + "], ["
                     + ", ".join(f"q{n}" for n in range(len(key))) + "])")
        ns: dict[str, _Acs] = {}
        exec("\n".join(lines), ns)  # noqa: S102 - code generated from the trellis table above, no input
        f = _ACS[key] = ns["acs"]
    return f


class Viterbi:
    """Viterbi decoder for the V.17 8-state trellis code over one constellation."""

    DEPTH = 24
    CHUNK = 8

    def __init__(self, points: ComplexArray) -> None:
        self.points = points
        m = len(points)
        self.subsets = np.array([[i for i in range(m) if (i & 7) == c] for c in range(8)])
        preds: list[list[tuple[int, int]]] = [[] for _ in range(8)]
        for s in range(8):
            for y in range(4):
                n = int(NEXT_STATE[s, y])
                c = (y << 1) | ((n >> 2) & 1)
                preds[n].append((s, c))
        self.pred_s = np.array([[p[0] for p in row] for row in preds])
        self.pred_c = np.array([[p[1] for p in row] for row in preds])
        self.preds = [list(row) for row in preds]
        self.r8 = np.arange(8)
        self.psub = points[self.subsets]  # points of each subset, (8, m/8)
        self.reset()

    def reset(self) -> None:
        """Start a new reception from state 0."""
        self.metric = np.full(8, 1e3)
        self.metric[0] = 0.0
        self.prev: list[list[int]] = []
        self.pt: list[list[int]] = []

    def push(self, z: complex) -> tuple[int, list[int]]:
        """Add one received symbol: (index of the nearest point, decided point indices now final)."""
        r8 = self.r8
        d = self.points - z
        d2 = d.real * d.real + d.imag * d.imag
        sub = d2[self.subsets]
        best = sub.argmin(axis=1)
        bm = sub[r8, best]
        bpt = self.subsets[r8, best]
        cand = self.metric[self.pred_s] + bm[self.pred_c]
        k = cand.argmin(axis=1)
        m = cand[r8, k]
        self.metric = m - m.min()
        self.prev.append(self.pred_s[r8, k].tolist())
        self.pt.append(bpt[self.pred_c[r8, k]].tolist())
        near = int(bpt[bm.argmin()])
        if len(self.prev) < self.DEPTH + self.CHUNK:
            return near, []
        return near, self._trace(self.CHUNK)

    def push_block(self, zs: ArrayLike) -> list[int]:
        """Add many received symbols at once; returns the point indices that became final."""
        za = np.asarray(zs)
        if len(za) == 0:
            return []
        d = np.abs(self.psub[None, :, :] - za[:, None, None])
        best = d.argmin(axis=2)
        bm = np.take_along_axis(d, best[:, :, None], axis=2)[:, :, 0]
        bm = (bm * bm).tolist()
        bpt = np.take_along_axis(np.broadcast_to(self.subsets, (len(za),) + self.subsets.shape),
                                 best[:, :, None], axis=2)[:, :, 0].tolist()
        metric = self.metric.tolist()
        acs = _acs_function(self.preds)
        out: list[int] = []
        for b, p in zip(bm, bpt):
            metric, prev, pt = acs(metric, b, p)
            self.prev.append(prev)
            self.pt.append(pt)
            if len(self.prev) >= self.DEPTH + self.CHUNK:
                self.metric = np.array(metric)
                out.extend(self._trace(self.CHUNK))
        self.metric = np.array(metric)
        return out

    def _trace(self, n: int) -> list[int]:
        s = int(self.metric.argmin())
        path = []
        prev, pt = self.prev, self.pt
        for t in range(len(prev) - 1, -1, -1):
            if t < n:
                path.append(pt[t][s])
            s = prev[t][s]
        del prev[:n]
        del pt[:n]
        return path[::-1]

    def flush(self) -> list[int]:
        """Decide every symbol still held; returns the list of point indices."""
        if not self.prev:
            return []
        return self._trace(len(self.prev))


@functools.lru_cache(maxsize=None)
def _slicer_grid(bit_rate: int) -> list[list[int]]:
    """Nearest constellation point on a 0.25-unit grid over -11..+11 (89 x 89 nested lists, read-only)."""
    axis = np.arange(89) / 4.0 - 11.0
    zz = axis[:, None] + 1j * axis[None, :]
    return np.argmin(np.abs(zz[:, :, None] - constellation(bit_rate)[None, None, :]), axis=2).tolist()


class V17Rx(ModemRxBase):
    """V.17 receiver at 7200-14400 bit/s; recognises long and short training by itself."""

    baud = 2400
    carrier = 1800
    alpha = 0.25
    max_train_symbols = 900
    block_data: bool | str = "hybrid"  # per-symbol carrier loop keeps 14400 bit/s working down to ~25 dB SNR

    def __init__(self, bit_rate: int = 14400) -> None:
        _check(bit_rate)
        self.bit_rate = bit_rate
        self.bits_per_symbol = BITS_PER_SYMBOL[bit_rate]
        self.points = constellation(bit_rate)
        self.alt_points = (ABCD[0], ABCD[1])
        self.label_points = ABCD
        self.long_syms, self.long_reg = training(False)
        self.short_syms, self.short_reg = training(True)
        self.train_syms = self.long_syms
        self.train_labels = np.array([int(np.argmin(np.abs(ABCD - s))) for s in self.long_syms[:64]])
        self.rotations = (1 + 0j, 1j, -1 + 0j, -1j)
        self.ones_bits = SEG_ONES * self.bits_per_symbol
        self.viterbi = Viterbi(self.points)
        self.spacing = float(np.min(np.abs(self.points[1:] - self.points[0])))
        self._grid = _slicer_grid(bit_rate)
        self._pts = [complex(p) for p in self.points]
        super().__init__()

    def on_aligned(self) -> None:
        """Training pattern found: long or short training is decided at the end of the short CDBA segment."""
        self.mode: str | None = None
        self.pending: list[complex] = []

    def train_target(self, pos: int, z: complex) -> complex | None:
        """The expected training symbol at pos; None once data starts (after a short or a long training)."""
        if self.mode is None and pos >= SEG_CDBA_SHORT:
            exp = self.long_syms[pos]
            if abs(z - exp) < 0.35 * self.spacing + 0.15 * abs(exp):
                self.pending.append(z)
                if len(self.pending) >= 8:
                    self.mode = "long"
                    self.pending = []
                return exp
            self.mode = "short"
            return None
        if self.mode == "short":
            return None
        if pos < len(self.long_syms):
            return self.long_syms[pos]
        return None

    def replay(self) -> list[complex]:
        """The symbols of a short training's data phase already equalised."""
        out, self.pending = self.pending, []
        return out

    def start_data(self) -> None:
        """Descrambler and differential decoder for the training that was received."""
        reg = self.short_reg if self.mode == "short" else self.long_reg
        self.scr = Scrambler1823(reg)
        self.expect = Scrambler1823(reg).scramble([1] * self.bits_per_symbol)
        self.y_prev: int | None = None
        self.viterbi.reset()

    def _bits(self, idx: int) -> list[int]:
        y = (idx >> 1) & 3
        if self.y_prev is None:
            q_low = self.expect[0] | (self.expect[1] << 1)
            self.y_prev = (y - q_low) & 3
        q_low = (y - self.y_prev) & 3
        self.y_prev = y
        q = ((idx >> 3) << 2) | q_low
        return [(q >> i) & 1 for i in range(self.bits_per_symbol)]

    def data_symbol(self, z: complex) -> tuple[complex, Bits | None]:
        """The nearest point (for the loops) and the line bits the Viterbi decoder has made final."""
        near, done = self.viterbi.push(z)
        line = None
        if done:
            bits: list[int] = []
            for idx in done:
                bits.extend(self._bits(idx))
            line = np.array(bits, dtype=np.uint8)
        return self.points[near], line

    def descramble(self, line: Bits) -> Bits:
        """Data bits from line bits (1 + x^-18 + x^-23)."""
        return self.scr.descramble(line)

    def _nearest_fast(self, z: complex) -> int:
        """Index of the nearest point from a 0.25-unit lookup grid (for the tracking loops only)."""
        i = int((z.real + 11.0) * 4.0 + 0.5)
        j = int((z.imag + 11.0) * 4.0 + 0.5)
        i = 0 if i < 0 else (88 if i > 88 else i)
        j = 0 if j < 0 else (88 if j > 88 else j)
        return self._grid[i][j]

    def _data_hybrid(self, grid, gridc, nrms):
        """V.17 data mode over a block: equaliser fixed in the block (block LMS at its end), carrier loop
        per symbol on grid-slicer decisions, then the Viterbi decoder over the block's symbols."""
        eq = self.eq
        n = len(grid)
        y = (grid @ eq.w).tolist()
        errs = np.zeros(n, dtype=complex)
        zs = np.zeros(n, dtype=complex)
        phase, freq = eq.phase, eq.freq
        kp, ki = self.kp_data, self.ki_data
        cos, sin = math.cos, math.sin
        pts = self._pts
        for i in range(n):
            rot = complex(cos(phase), -sin(phase))
            z = y[i] * rot
            zs[i] = z
            pt = pts[self._nearest_fast(z)]
            err = pt - z
            errs[i] = err * rot.conjugate()
            mag = pt.real * pt.real + pt.imag * pt.imag
            pe = (z.imag * pt.real - z.real * pt.imag) / mag
            pe = 0.5 if pe > 0.5 else (-0.5 if pe < -0.5 else pe)
            freq += ki * pe
            phase += freq + kp * pe
        eq.w += (self.mu_data / (float(np.mean(nrms)) + 1e-9)) * (errs @ gridc)
        eq.phase, eq.freq = phase, freq
        eq.rot = complex(math.cos(-phase), math.sin(-phase))
        line: list[int] = []
        for idx in self.viterbi.push_block(zs):
            line.extend(self._bits(idx))
        if line:
            self._line.append(np.array(line, dtype=np.uint8))

    def flush(self) -> Bits:
        """The bits of the symbols the Viterbi decoder still holds."""
        line: list[int] = []
        for idx in self.viterbi.flush():
            line.extend(self._bits(idx))
        return np.array(line, dtype=np.uint8)
