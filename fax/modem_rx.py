"""The fax modems' common receiver state machine: carrier detect, lock on the alternating training
segment, equaliser training on the known pattern, then data mode (each modem decides symbols and bits).
V.29 and V.27ter run it here; the V.17 receiver runs the same state machine in C (fax/kernel/faxrx.c)."""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trunkline.dsp.level import dbm0_to_power

from .modem_dsp import FS, Bits, ComplexArray, Equaliser, FrontEnd, int16_samples, nearest

__all__ = ["ModemRxBase", "SEARCH", "ACQ", "TRAIN", "KNOWN", "DATA"]

SEARCH, ACQ, TRAIN, KNOWN, DATA = range(5)


class ModemRxBase:
    """Receiver skeleton shared by the fax modems.

    Sequence: in-band power detect -> symbol timing (Oerder-Meyr) and carrier/gain lock on the
    alternating segment -> decision-directed equaliser training while the known post-alternation
    training pattern is searched for (also resolving the rotation ambiguity) -> data-aided
    training on the known symbols -> data mode (subclass decides symbols and bits), with a check
    that the scrambled ones preceding the data are received as ones.

    Subclasses set carrier, baud, alpha, alt_points, train_syms, label_points, rotations,
    ones_bits, and implement start_data(), data_symbol(z) -> (point, bits), flush() -> bits."""

    carrier = 1800   # Hz, until _reset_state: then whether a carrier is detected (True/False)
    baud = 2400
    alpha = 0.25
    half_taps = 8
    on_dbm0 = -40.0
    off_dbm0 = -45.0
    settle_symbols = 6
    window_symbols = 24
    align_len = 24
    mu_train = 0.05
    mu_data = 0.01
    kp_train, ki_train = 0.08, 0.003
    kp_data, ki_data = 0.03, 0.0005
    max_train_symbols = 600
    min_line_ratio = 0.05
    block_data = True  # data mode per block (True) or per symbol (False)

    # set by each modem
    alt_points: tuple[complex, complex]      # the two points of the alternating segment
    label_points: ComplexArray               # the points the training uses
    train_syms: ComplexArray                 # known training symbols after the alternation
    train_labels: NDArray[np.int64]          # their indexes in label_points
    rotations: tuple[complex, ...]           # rotations the training pattern is searched under
    ones_bits: int                           # scrambled ones received before the data

    # reception state (see _reset_state)
    trained: bool
    signal_lost: bool
    state: int
    _out: list[Bits]
    _ones: list[Bits]
    _line: list[Bits]
    _ones_ok: bool
    _need_quiet: bool
    t_next: float | None
    acq_start: float | None
    hist: list[complex]
    sym_count: int
    tm: complex
    rel_off: float
    pos: int

    def __init__(self) -> None:
        self.fe = FrontEnd(self.carrier, self.baud, self.alpha)
        self.eq = Equaliser(self.half_taps)
        self.sps = FS / self.baud
        self.on_lin = 2.0 * dbm0_to_power(self.on_dbm0)     # squared envelope: a sine of peak A reads A**2
        self.off_lin = 2.0 * dbm0_to_power(self.off_dbm0)
        self.offsets = (np.arange(self.eq.ntaps) - self.half_taps) * self.sps / 2.0
        self._reset_state()

    # -- public API ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current reception and wait for the next training."""
        self._reset_state()

    @property
    def busy(self) -> bool:
        """Trained and receiving: image data on the line."""
        return bool(self.trained and self.carrier)

    def take_bits(self) -> Bits:
        """Data bits (uint8 0/1) received since the last call; only after training succeeded."""
        if not self._out:
            return np.zeros(0, dtype=np.uint8)
        out = np.concatenate(self._out).astype(np.uint8)
        self._out = []
        return out

    def rx(self, samples: ArrayLike) -> None:
        """Feed received int16 audio (any length)."""
        x = int16_samples(samples)
        if len(x) == 0:
            return
        start = self.fe.end
        _, p = self.fe.push(x)
        i = 0
        n = len(p)
        while i < n:
            if not self.carrier:
                if self._need_quiet:
                    q = np.nonzero(p[i:] < self.on_lin * 0.3)[0]
                    if len(q) == 0:
                        break
                    i += int(q[0])
                    self._need_quiet = False
                hit = np.nonzero(p[i:] > self.on_lin)[0]
                if len(hit) == 0:
                    break
                i += int(hit[0])
                self.carrier = True
                self._carrier_on(start + i)
            else:
                hit = np.nonzero(p[i:] < (self.rel_off if self.state in (TRAIN, KNOWN, DATA) else self.off_lin))[0]
                if len(hit) == 0:
                    self._process(self.fe.end)
                    break
                i += int(hit[0])
                self._process(start + i)
                self.carrier = False
                self._need_quiet = True
                self._carrier_off()
        self._trim()

    # -- internals ---------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.trained = False
        self._ones_ok = False
        self.carrier = False
        self.signal_lost = False
        self.state = SEARCH
        self._out = []
        self._ones = []
        self.t_next = None
        self.acq_start = None
        self.hist = []
        self.sym_count = 0
        self.tm = 0j
        self.rel_off = self.off_lin
        self._need_quiet = False
        self._line = []
        self.pos = 0

    def _carrier_on(self, n_on: int) -> None:
        if self.state == SEARCH:
            self.state = ACQ
            self.acq_start = n_on + self.settle_symbols * self.sps

    def _carrier_off(self) -> None:
        if self.state == DATA:
            self._line.append(self.flush())
            self._drain()
            if self.trained:
                self.signal_lost = True
        self.state = SEARCH
        self.t_next = None

    def _trim(self) -> None:
        if self.t_next is not None:
            keep = self.t_next - self.half_taps * self.sps - 2 * FrontEnd.INTERP
        elif self.acq_start is not None and self.state == ACQ:
            keep = self.acq_start - 2 * FrontEnd.INTERP
        else:
            keep = self.fe.end - 4 * FrontEnd.INTERP
        self.fe.trim(int(keep))

    def _lock(self):
        """Try to lock timing, carrier and gain on the alternating segment; True on success."""
        fe = self.fe
        w = self.window_symbols
        a = int(self.acq_start)
        b = int(a + w * self.sps)
        c = fe.timing_phasor(a, b)
        energy = float(np.sum(np.abs(fe.buf[max(0, a - fe.base):max(0, b - fe.base)]) ** 2)) + 1e-9
        self.last_line_ratio = abs(c) / energy
        if abs(c) < self.min_line_ratio * energy:
            return False  # no symbol-rate line: not an alternating training segment
        centre = fe.centre_from_phasor(c)
        # first symbol centre at or after a + some margin
        base = a + self.half_taps * self.sps / 2 + FrontEnd.INTERP
        t0 = base + ((centre - base) % self.sps)
        times = t0 + np.arange(w - self.half_taps) * self.sps
        if times[-1] + self.half_taps * self.sps / 2 + FrontEnd.INTERP >= fe.end:
            return False
        r = fe.sample(times)
        k = np.arange(len(r))
        p0, p1 = self.alt_points
        f = np.sum(r[2:] * np.conj(r[:-2]))
        omega = np.angle(f) / 2.0
        u = r * np.exp(-1j * omega * k)
        best = None
        for par in (0, 1):
            pts = np.where((k + par) % 2 == 0, p0, p1)
            g = np.sum(u * np.conj(pts)) / np.sum(np.abs(pts) ** 2)
            res = np.sum(np.abs(u - g * pts) ** 2) / (np.sum(np.abs(u) ** 2) + 1e-12)
            if best is None or res < best[0]:
                best = (res, par, g)
        res, par, g = best
        if res > 0.15 or abs(g) == 0:
            return False
        n = len(r)
        self.eq.init(1.0 / abs(g), np.angle(g) + omega * n, omega)
        self.alt_parity = (n + par) % 2  # parity of the next symbol index (0 -> p0)
        self.t_next = times[-1] + self.sps
        self.hist = []
        self.sym_count = 0
        self.tm = c
        # a new training has begun: `trained` now reports this one
        self.trained = False
        self._ones_ok = False
        self._ones = []
        # carrier off when the in-band power falls 20 dB under what we locked on (or under off_dbm0)
        seg = self.fe.pwr[max(0, a - self.fe.base):max(0, b - self.fe.base)]
        if len(seg):
            self.rel_off = max(self.off_lin, float(np.median(seg)) * 0.01)
        return True

    def _process(self, limit):
        """Run the symbol loop over samples up to absolute index `limit`."""
        if self.state == SEARCH:
            return
        if self.state == ACQ:
            need = self.acq_start + self.window_symbols * self.sps + self.half_taps * self.sps + 2 * FrontEnd.INTERP
            while self.state == ACQ and need <= min(limit, self.fe.end):
                if self._lock():
                    self.state = TRAIN
                else:
                    self.acq_start += 4 * self.sps
                    need += 4 * self.sps
            if self.state == ACQ:
                return
        look = self.half_taps * self.sps / 2 + FrontEnd.INTERP / 2 + 1
        lim = min(limit, self.fe.end) - look
        if self.t_next >= lim:
            return
        # slow timing tracking from the symbol-rate line of |x|^2
        a = int(self.t_next - self.sps)
        self._track_timing(a, int(lim))
        nsym = int((lim - self.t_next) // self.sps) + 1
        half = self.sps / 2.0
        nh = 2 * nsym - 1 + 2 * self.half_taps
        hs = self.fe.sample(self.t_next - self.half_taps * half + np.arange(nh) * half)
        grid = np.lib.stride_tricks.sliding_window_view(hs, self.eq.ntaps)[::2]
        gridc = np.conj(grid)
        nrms = np.sum((grid * gridc).real, axis=1).tolist()
        self.t_next = self.t_next + nsym * self.sps
        self._line = []
        if self.state == DATA and self.block_data:
            self._data_block(grid, gridc, nrms)
        else:
            for i in range(nsym):
                if self.state in (SEARCH, ACQ):
                    break
                self._symbol(grid[i], gridc[i], nrms[i])
        self._drain()

    def _track_timing(self, a, b):
        if b <= a:
            return
        c = self.fe.timing_phasor(a, b)
        lam = 0.995 ** ((b - a) / self.sps)
        self.tm = self.tm * lam + c
        centre = self.fe.centre_from_phasor(self.tm)
        e = (centre - self.t_next + self.sps / 2) % self.sps - self.sps / 2
        self.t_next += 0.05 * e

    def _data_block(self, grid, gridc, nrms):
        """Data mode over a whole block at once: equaliser and carrier fixed inside the block,
        block LMS and a fitted phase/frequency correction at its end (both adapt slowly in data mode)."""
        eq = self.eq
        n = len(grid)
        k = np.arange(n)
        ph = eq.phase + eq.freq * (k + 1)
        rot = np.exp(-1j * ph)
        z = (grid @ eq.w) * rot
        pts, line = self.data_block(z)
        if line is not None and len(line):
            self._line.append(line)
        err = pts - z
        grad = (err * np.conj(rot)) @ gridc
        eq.w += (self.mu_data / (float(np.mean(nrms)) + 1e-9)) * grad
        mag = pts.real * pts.real + pts.imag * pts.imag
        pe = np.clip((z.imag * pts.real - z.real * pts.imag) / np.maximum(mag, 1e-9), -0.5, 0.5)
        if n >= 4:
            kc = k - k.mean()
            b = float(np.dot(kc, pe) / np.dot(kc, kc))
            a = float(pe.mean()) + b * (n - 1 - k.mean())
        else:
            b, a = 0.0, float(pe.mean()) if n else 0.0
        eq.freq += 0.5 * b
        eq.phase = float(ph[-1]) + 0.5 * a if n else eq.phase
        eq.rot = complex(math.cos(-eq.phase), math.sin(-eq.phase))

    def data_block(self, z: ComplexArray) -> tuple[ComplexArray, Bits | None]:
        """Data-mode decisions for an array of symbols: (decided points array, line bits or None)."""
        pts = np.zeros(len(z), dtype=complex)
        lines = []
        for i, zz in enumerate(z):
            pt, line = self.data_symbol(complex(zz))
            pts[i] = pt
            if line is not None:
                lines.append(line)
        return pts, (np.concatenate(lines) if lines else None)

    def _drain(self) -> None:
        """Descramble the line bits gathered in this block and hand them on."""
        if self._line:
            line = np.concatenate(self._line).astype(np.uint8)
            self._line = []
            if self.state == DATA:
                self._emit(self.descramble(line))

    def _emit(self, data: Bits | None) -> None:
        if data is None or len(data) == 0:
            return
        bits = np.asarray(data, dtype=np.uint8)
        if not self._ones_ok:
            need = self.ones_bits - sum(len(x) for x in self._ones)
            self._ones.append(bits[:need])
            rest = bits[need:]
            if sum(len(x) for x in self._ones) >= self.ones_bits:
                ones = np.concatenate(self._ones)
                skip = self.ones_skip
                if np.all(ones[skip:] == 1):
                    self._ones_ok = True
                    self.trained = True
                    self.signal_lost = False
                else:
                    self._fail()
                    return
            if len(rest) and self._ones_ok:
                self._out.append(rest)
        else:
            self._out.append(bits)

    def _fail(self) -> None:
        """Training failed: look for a new training from here on (or wait for the next carrier)."""
        if self.carrier and self.t_next is not None:
            self.state = ACQ
            self.acq_start = self.t_next
        else:
            self.state = SEARCH
        self.t_next = None
        self._ones = []
        self._line = []

    def _symbol(self, x, xc, nrm):
        eq = self.eq
        z = eq.output(x, xc, nrm)
        self.sym_count += 1
        if self.state == TRAIN:
            pts = self.label_points
            tgt = pts[nearest(pts, z)]
            eq.update(z, tgt, self.mu_train, self.kp_train, self.ki_train)
            self.hist.append(z)
            if len(self.hist) >= self.align_len:
                win = np.array(self.hist[-self.align_len:])
                exp = self.train_labels[:self.align_len]
                for rot in self.rotations:
                    d = np.abs((win * rot)[:, None] - pts[None, :])
                    lab = np.argmin(d, axis=1)
                    if np.count_nonzero(lab != exp) <= 1:
                        eq.w *= rot
                        self.pos = self.align_len
                        self.state = KNOWN
                        self.hist = []
                        return
                if len(self.hist) > 4 * self.align_len:
                    del self.hist[:-self.align_len]
            if self.sym_count > self.max_train_symbols:
                self._fail()
            return
        if self.state == KNOWN:
            tgt = self.train_target(self.pos, z)
            if tgt is not None:
                self.pos += 1
                eq.update(z, tgt, self.mu_train, self.kp_train, self.ki_train)
                return
            self.state = DATA
            self.start_data()
        if self.state == DATA:
            pt, line = self.data_symbol(z)
            eq.update(z, pt, self.mu_data, self.kp_data, self.ki_data)
            if line is not None:
                self._line.append(line)

    # -- hooks with defaults ---------------------------------------------------------------------
    ones_skip = 0

    def train_target(self, pos: int, z: complex) -> complex | None:
        """Known training symbol at position pos after the alternation, or None when data mode starts."""
        if pos < len(self.train_syms):
            return self.train_syms[pos]   # a numpy complex128, itself a complex
        return None

    # -- what each modem provides ------------------------------------------------------------------
    def start_data(self) -> None:
        """Training is over: set up descrambling and differential decoding for the data."""
        raise NotImplementedError

    def data_symbol(self, z: complex) -> tuple[complex, Bits | None]:
        """Decide one data symbol: (the decided point, its line bits or None while they are held back)."""
        raise NotImplementedError

    def descramble(self, line: Bits) -> Bits:
        """Data bits from line bits."""
        raise NotImplementedError

    def flush(self) -> Bits:
        """Line bits still held back when the carrier drops (V.17 Viterbi)."""
        raise NotImplementedError
