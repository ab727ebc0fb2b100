"""DTMF detection and generation, vectorised across channels (int16 (channels, samples), 8 kHz).

Detector (``DTMFDetector``)
---------------------------
Audio is cut into 10 ms analysis windows (80 samples at 8 kHz) on a grid that carries across
``process`` calls, whatever block size the caller uses.

Stage 1, every channel, every window, at half the sample rate: every other sample (4 kHz at
8 kHz, still above twice the highest DTMF tone) goes through one float32 matrix product against
cos/sin bases at the eight DTMF frequencies, giving the eight tone powers, and the window energy.
A window is a *candidate* when the strongest row tone and the strongest column tone are both
above ``threshold`` dBm0 and together hold at least ``MIN_TONE_FRACTION`` of the window's energy
(a tone pair and little else). Whatever folds onto a DTMF frequency from above 2 kHz can make a
candidate here, never a digit: stage 2 looks at the full-rate signal.

Stage 2, candidates only (rare outside key presses): the window and the window shifted back
by half a window are projected on Hann-weighted bases. The phase advance of each tone over
that half-window hop measures its frequency to a few Hz (deviation beyond ``FREQ_TOLERANCE``
of nominal is rejected), and the Hann powers give the twist (normal ``twist`` dB, reverse
``reverse_twist`` dB).

Decision, per channel as small state arrays: a key press is reported once the same digit is
seen in ``MIN_ON_WINDOWS`` consecutive windows (a 40 ms tone always covers three whole
windows, a 20 ms tone never does), and the digit ends only after ``MIN_OFF_WINDOWS`` windows
without it (a 40 ms pause always contains three whole windows, a 10 ms drop-out never
spoils more than two), so a drop-out of up to 10 ms never reports the digit twice.

Generator (``DTMFGenerator``)
-----------------------------
Per-channel digit queues, level (dBm0 per tone) and on/off timing (ms); ``generate(n)`` makes
one int16 block for all channels, per-channel Python only when a digit starts.

Levels follow spandsp's telephony.h convention: a full-scale sine is +3.14 dBm0 (see level.py).
"""
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .constants import RATE
from .level import dbm0_to_amplitude

DIGITS = "123A456B789C*0#D"
ROW_FREQS = (697.0, 770.0, 852.0, 941.0)
COL_FREQS = (1209.0, 1336.0, 1477.0, 1633.0)
FREQS = ROW_FREQS + COL_FREQS
_DIGIT_INDEX = {d: i for i, d in enumerate(DIGITS)}
_DIGIT_CHARS = np.array(list(DIGITS))
_LITTLE_ENDIAN = sys.byteorder == "little"

# Detector tuning (see module docstring); levels per tone in dBm0, twists in dB.
THRESHOLD_DBM0 = -36.0
TWIST_DB = 10.0
REVERSE_TWIST_DB = 6.0
MIN_TONE_FRACTION = 0.70
FREQ_TOLERANCE = 0.025
FREQ_SPREAD_HZ = 16.0
MIN_ON_WINDOWS = 3
MIN_OFF_WINDOWS = 3
LOUD_COMPACT = 0.6          # gather the loud windows first when fewer than this share are loud
WHOLE_DECIDE = 4096         # up to this many channels the decision runs on all channels, not a gathered subset
CHUNK_CHANNELS = 2048       # channels per matrix product: keeps the work arrays in L2 cache

#: stage 1 done elsewhere (the media engine's C kernel): stage1(frames, nw, win, decim, basis (win/decim, 16), thr,
#: frac, min_energy, out, tail) fills out (channels * nw,) int8 with each window's candidate digit or -1 and tail
#: (channels, hop) with each row's last hop samples of the windows, returns how many candidates
Stage1 = Callable[[NDArray[np.int16], int, int, int, NDArray[np.float32], float, float, float, NDArray[np.int8],
                   NDArray[np.int16]], int]
#: stage 2 done elsewhere: stage2(frames, nw, win, prev, gi, r, k, hann (win, 16), rot (8,) complex64, hz_per_rad,
#: ftol (8,), twist, reverse twist) -> (ok, deviations (n, 2) Hz) of the candidate windows gi, as _verify computes them
Stage2 = Callable[..., tuple[NDArray[np.bool_], NDArray[np.float32]]]
#: decisions done elsewhere: decide(cand (c, nw), dev (c, nw, 2), cur, last, run, miss, h1, h2, min_on, min_off,
#: spread) updates the state in place as _decide does and returns (channels, digit indices, idle)
Decide = Callable[..., tuple[NDArray[np.int64], NDArray[np.int8], bool]]


def _bases(rate: int, win: int, hann: bool) -> NDArray[np.float32]:
    """(16, win) float32: cos rows then sin rows at the eight DTMF frequencies, optionally Hann-weighted."""
    n = np.arange(win, dtype=np.float64)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * (n + 0.5) / win) if hann else np.ones(win)
    arg = 2.0 * np.pi * np.outer(np.asarray(FREQS), n) / rate
    return np.vstack([np.cos(arg) * w, np.sin(arg) * w]).astype(np.float32)


def _gather_rows(a: NDArray[Any], index: NDArray[np.intp], width: int,
                 out: NDArray[Any] | None = None) -> NDArray[Any]:
    """Rows of `width` samples numbered along each row of the 2-D array `a`, gathered by flat number."""
    try:
        flat = a.view()
        flat.shape = (-1, width)          # a view when rows are contiguous (the usual case)
    except AttributeError:
        flat = a.reshape(-1, width)
    return np.take(flat, index, axis=0, out=out)


_RECORDS: dict[tuple[int, int, int, int], tuple[np.dtype[Any], np.dtype[Any]]] = {}


def _copy_columns(dst: NDArray[Any], src: NDArray[Any], start: int) -> None:
    """dst[:] = src[:, start:start + dst.shape[1]] for 2-D arrays of one dtype; dst C-contiguous."""
    rows, width = dst.shape
    if not src.flags.c_contiguous:
        np.copyto(dst, src[:, start:start + width])
        return
    # one opaque record per row: a 1-D copy of short records beats numpy's row-by-row 2-D copy
    key = (src.dtype.itemsize, src.shape[1], start, width)
    rec = _RECORDS.get(key)
    if rec is None:
        isz = src.dtype.itemsize
        rec = _RECORDS[key] = (np.dtype({"names": ["s"], "formats": [f"V{width * isz}"], "offsets": [start * isz],
                                         "itemsize": src.shape[1] * isz}), np.dtype(f"V{width * isz}"))
    np.copyto(dst.view(rec[1]).reshape(rows), src.view(rec[0]).reshape(rows)["s"])


class DTMFDetector:
    """DTMF key-press detector for `channels` channels at `rate` Hz (int16 input)."""

    def __init__(self, channels: int, rate: int = RATE, threshold: float = THRESHOLD_DBM0, twist: float = TWIST_DB,
                 reverse_twist: float = REVERSE_TWIST_DB, stage1: Stage1 | None = None, stage2: Stage2 | None = None,
                 decide: Decide | None = None) -> None:
        """stage1, stage2, decide: compiled stages with the numpy ones' arithmetic (float32; None: numpy here)."""
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels!r}")
        if rate % 200 or rate < 4000:
            raise ValueError(f"rate must be a multiple of 200 Hz and >= 4000, got {rate!r}")
        self.channels = int(channels)
        self.rate = int(rate)
        self.win = self.rate // 100          # 10 ms analysis window
        self.hop = self.win // 2             # half window: the phase-difference hop
        # stage 1 looks at every decim-th sample: still above twice the highest DTMF tone, and
        # whatever aliases onto a tone from above is rejected by the full-rate stage 2
        self.decim = max(k for k in (1, 2, 4, 5, 8, 10) if self.rate / k >= 3600 and self.win % k == 0)
        self.n1 = self.win // self.decim
        # (n1, 16): the matrix product is about twice as fast with windows as the long output axis
        self._basis_t = np.ascontiguousarray(_bases(self.rate, self.win, hann=False)[:, ::self.decim].T)
        # (win, 16) Hann-weighted cos and sin interleaved per tone: a row of projections reads as 8 complex
        interleave = np.arange(16).reshape(2, 8).T.ravel()
        self._hann = np.ascontiguousarray(_bases(self.rate, self.win, hann=True)[interleave].T)
        # reused work arrays: stage 1 per window count, stage 2 grown to the largest candidate count
        self._bufs: dict[int, tuple[NDArray[Any], ...]] = {}
        self._s2: tuple[NDArray[Any], ...] | None = None
        self._idle = True          # no digit held or pending anywhere: a block without candidates changes nothing
        self._stage1 = stage1
        self._stage2_fn = stage2
        self._decide_fn = decide
        # powers are |sum x*cos|^2 + |sum x*sin|^2; a tone of amplitude a gives (a*win/2)^2
        amp = float(dbm0_to_amplitude(threshold))
        self._thr = np.float32((amp * self.n1 / 2.0) ** 2)
        # 2*(P_row+P_col)/n1^2 is the pair's mean power; compare with energy/n1
        self._frac = np.float32(MIN_TONE_FRACTION * self.n1 / 2.0)
        self._min_energy = np.float32(self._thr / self.n1)
        self._ones = np.ones((self.n1, 1), np.float32)
        self._pair_sum = np.vstack([np.eye(8), np.eye(8)]).astype(np.float32)     # (16, 8): cos^2 + sin^2
        self._twist_amp = np.float32(10.0 ** (twist / 20.0))          # amplitude ratios
        self._rtwist_amp = np.float32(10.0 ** (reverse_twist / 20.0))
        f = np.asarray(FREQS)
        theta = 2.0 * np.pi * f * self.hop / self.rate                 # expected phase advance per hop
        self._rot = np.exp(1j * theta).astype(np.complex64)
        self._hz_per_rad = np.float32(self.rate / (2.0 * np.pi * self.hop))
        self._ftol = (FREQ_TOLERANCE * f).astype(np.float32)
        c = self.channels
        self._tail = np.zeros((c, 0), np.int16)          # samples not yet making a whole window
        self._prev = np.zeros((c, self.hop), np.int16)    # last half window before the tail
        self._prev_next = np.zeros((c, self.hop), np.int16)
        self._cur = np.full(c, -1, np.int8)    # digit currently held (reported), -1 none
        self._last = np.full(c, -1, np.int8)   # previous window's candidate
        self._run = np.zeros(c, np.int16)      # consecutive windows with the same candidate
        self._miss = np.zeros(c, np.int16)     # consecutive windows without the held digit
        # measured frequency deviations (Hz) of the row and column tone in the two windows before
        self._h1 = np.zeros((c, 2), np.float32)
        self._h2 = np.zeros((c, 2), np.float32)

    def reset(self, channel: int) -> None:
        """Forget all audio and digit state of one channel."""
        ch = self._check_channel(channel)
        self._tail[ch] = 0
        self._prev[ch] = 0
        self._cur[ch] = -1
        self._last[ch] = -1
        self._run[ch] = 0
        self._miss[ch] = 0
        self._h1[ch] = 0
        self._h2[ch] = 0

    def _check_channel(self, channel):
        ch = int(channel)
        if not 0 <= ch < self.channels:
            raise IndexError(f"channel {channel!r} out of range 0..{self.channels - 1}")
        return ch

    def process(self, block: NDArray[np.int16]) -> list[tuple[int, str]]:
        """Feed int16 samples shaped (channels, n); return [(channel, digit), ...] of presses recognised, in time
        order."""
        block = np.asarray(block)
        if block.dtype != np.int16:
            raise TypeError(f"DTMFDetector.process wants int16 samples, got {block.dtype}")
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"block must be shaped ({self.channels}, n), got {block.shape}")
        if block.shape[1] == 0:
            return []
        win = self.win
        if self._tail.shape[1]:
            block = np.concatenate([self._tail, block], axis=1)
        nw = block.shape[1] // win
        used = nw * win
        if nw == 0:
            self._tail = block.copy()
            return []
        frames = block[:, :used] if used < block.shape[1] else block     # exactly nw whole windows
        cand, dev, touched = self._candidates(frames, nw)
        self._tail = block[:, used:].copy()
        return self._decide(cand, dev, nw, touched)

    def _candidates(self, frames, nw):
        """Digit index (0..15) or -1 for every (channel, window), shape (channels, nw), and the
        candidates' row/column frequency deviations in Hz, shape (channels, nw, 2)."""
        if self._stage1 is not None:
            cand, todo, touched = self._stage1_compiled(self._stage1, frames, nw)
        else:
            cand, todo, touched = self._stage1_numpy(frames, nw)
        return self._stage2(frames, nw, cand, todo, touched)

    def _stage1_compiled(self, stage1: Stage1, frames, nw):
        """Stage 1 through `stage1` (the outputs of _stage1_numpy, up to float32 rounding at the gates)."""
        cand = np.empty(self.channels * nw, np.int8)
        hits = stage1(frames, nw, self.win, self.decim, self._basis_t, float(self._thr), float(self._frac),
                        float(self._min_energy), cand, self._prev_next)
        if hits <= 0:
            return cand, [], False
        gi = (cand >= 0).nonzero()[0]
        digit = cand[gi]
        new = self._cur[gi // nw] != digit        # a window carrying the digit already held needs no second look
        if not np.count_nonzero(new):
            return cand, [], True
        digit = digit[new]
        return cand, [(gi[new], digit, digit // 4, digit % 4 + 4)], True

    def _stage1_numpy(self, frames, nw):
        """Stage 1 in numpy: candidates (channels * nw,) int8, the windows stage 2 must verify
        [(window index, digit, row tone, column tone)] and whether any window was a candidate."""
        c, win, hop, d, n1 = self.channels, self.win, self.hop, self.decim, self.n1
        step = min(c, CHUNK_CHANNELS)
        bufs = self._bufs.get(nw)
        if bufs is None:      # reused work arrays: fresh large arrays cost page faults every call
            bufs = self._bufs[nw] = (np.empty((step * nw, n1), np.float32), np.empty((step * nw, 16), np.float32),
                                     np.empty((step * nw, n1), np.float32), np.empty((step, nw * n1), np.int16),
                                     np.empty((step * nw, 8), np.float32))
        cand = np.full(c * nw, -1, np.int8)
        todo = []                                  # (global window index, digit, row tone, column tone)
        touched = False                            # any candidate window at all
        pairs = None
        if d == 2 and _LITTLE_ENDIAN:
            try:            # each int32 of the int16 rows holds a sample pair, the even one in its low half
                pairs = frames.view(np.int32)
            except ValueError:
                pairs = None
        sub = frames[:, ::d] if pairs is None else None
        for c0 in range(0, c, step):       # channel chunks small enough to stay in cache
            m = min(step, c - c0)
            x, y, sq, pbuf = bufs[0][:m * nw], bufs[1][:m * nw], bufs[2][:m * nw], bufs[4]
            if pairs is not None:
                even = bufs[3][:m]
                np.copyto(even, pairs[c0:c0 + m], casting="unsafe")       # int32 -> int16 keeps the low half
                np.copyto(x.reshape(m, nw * n1), even, casting="unsafe")
            else:
                np.copyto(x.reshape(m, nw * n1), sub[c0:c0 + m], casting="unsafe")
            # the last half window of each channel for the next call, copied while these rows are in cache
            _copy_columns(self._prev_next[c0:c0 + m], frames[c0:c0 + m], nw * win - hop)
            np.square(x, out=sq)
            energy = np.matmul(sq, self._ones)[:, 0]     # window energies (a matrix product beats einsum here)
            # a tone above threshold needs window energy above thr/n1 (Cauchy-Schwarz): skip quieter windows
            loud = energy > self._min_energy
            nloud = int(np.count_nonzero(loud))
            if nloud == 0:
                continue
            if nloud < LOUD_COMPACT * loud.size:
                rows = loud.nonzero()[0]
                xs, es, y = x[rows], energy[rows], y[:nloud]
            else:
                rows, xs, es = None, x, energy
            np.matmul(xs, self._basis_t, out=y)          # (windows, 16): cos and sin projections
            np.square(y, out=y)
            p = np.matmul(y, self._pair_sum, out=pbuf[:y.shape[0]])   # tone powers cos^2 + sin^2 (windows, 8)
            row = np.maximum(np.maximum(p[:, 0], p[:, 1]), np.maximum(p[:, 2], p[:, 3]))
            col = np.maximum(np.maximum(p[:, 4], p[:, 5]), np.maximum(p[:, 6], p[:, 7]))
            gate = np.minimum(row, col) > self._thr
            gate &= (row + col) > self._frac * es       # the pair holds most of the window's energy
            hit = gate.nonzero()[0]
            if hit.size:
                pw = p[hit]
                if rows is not None:
                    hit = rows[hit]
                r = pw[:, :4].argmax(axis=1)
                k = pw[:, 4:].argmax(axis=1)
                digit = (r * 4 + k).astype(np.int8)
                touched = True
                gi = hit + c0 * nw
                # a window carrying the digit already held needs no second look
                new = self._cur[gi // nw] != digit
                cand[gi[~new]] = digit[~new]
                if np.count_nonzero(new):
                    todo.append((gi[new], digit[new], r[new], k[new] + 4))
        return cand, todo, touched

    def _stage2(self, frames, nw, cand, todo, touched):
        """Stage 2 on the windows in `todo`: candidates (channels, nw), deviations (channels, nw, 2), touched."""
        c, win, hop = self.channels, self.win, self.hop
        dev = np.zeros((c * nw, 2), np.float32)
        if todo:
            gi, digit, r, k = (np.concatenate(v) for v in zip(*todo)) if len(todo) > 1 else todo[0]
            if self._stage2_fn is not None:
                ok, dv = self._stage2_fn(frames, nw, win, self._prev, gi, r, k, self._hann, self._rot,
                                         float(self._hz_per_rad), self._ftol, float(self._twist_amp),
                                         float(self._rtwist_amp))
                cand[gi] = np.where(ok, digit, -1)
                dev[gi] = dv
                self._prev, self._prev_next = self._prev_next, self._prev
                return cand.reshape(c, nw), dev.reshape(c, nw, 2), touched
            # full-rate samples of each candidate window and of the half window before it
            n = gi.size
            body16, half16, body, early = self._stage2_buffers(n)
            _gather_rows(frames, gi, win, body16)
            ch, w = np.divmod(gi, nw)
            first = (w == 0).nonzero()[0]
            if first.size == n:
                np.take(self._prev, ch, axis=0, out=half16)
            else:
                if first.size:
                    half16[first] = self._prev[ch[first]]
                later = w.nonzero()[0]
                # half windows numbered along the row: window w's first half is 2w, the one before 2w - 1
                half16[later] = _gather_rows(frames, 2 * gi[later] - 1, hop)
            np.copyto(body, body16, casting="unsafe")
            np.copyto(early[:, :hop], half16, casting="unsafe")
            early[:, hop:] = body[:, :hop]
            ok, dv = self._verify(early, body, r, k)
            cand[gi] = np.where(ok, digit, -1)
            dev[gi] = dv
        self._prev, self._prev_next = self._prev_next, self._prev      # last half windows, for the next call
        return cand.reshape(c, nw), dev.reshape(c, nw, 2), touched

    def _stage2_buffers(self, n):
        """Work arrays for n stage-2 windows, reused across calls (fresh large arrays cost page faults)."""
        bufs = self._s2
        if bufs is None or len(bufs[0]) < n:
            cap = max(64, 1 << (n - 1).bit_length())
            bufs = self._s2 = (np.empty((cap, self.win), np.int16), np.empty((cap, self.hop), np.int16),
                               np.empty((cap, self.win), np.float32), np.empty((cap, self.win), np.float32),
                               np.empty((cap, 16), np.float32), np.empty((cap, 16), np.float32))
        return tuple(b[:n] for b in bufs[:4])

    def _verify(self, early, body, r, k):
        """Stage 2 for candidate windows: `body` (n, win) holds each window and `early` (n, win) the
        window half a window earlier; check the row (r) and column (k) tones' frequencies and twist."""
        n = len(body)
        yb = np.matmul(body, self._hann, out=self._s2[4][:n])    # Hann projections of the window,
        ya = np.matmul(early, self._hann, out=self._s2[5][:n])   # and of it half a window earlier
        # complex projections c + js per tone (columns interleave cos, sin); row and column tone of each
        # window side by side: (n, 2) flat indices into the (n, 8) complex projections
        at = np.empty((n, 2), np.intp)
        at[:, 0], at[:, 1] = r, k
        band = at.copy()
        at += 8 * np.arange(n)[:, None]
        zb = yb.view(np.complex64).ravel()[at]
        za = ya.view(np.complex64).ravel()[at]
        # phase advance over the hop, less the nominal advance of the tone: the frequency offset
        zb *= self._rot[band]
        za *= zb.conj()
        dev = np.angle(za)
        dev *= self._hz_per_rad
        ok = np.logical_and.reduce(np.abs(dev) <= self._ftol[band], axis=1)
        amp = np.abs(zb)                   # |rot| = 1: the window's tone amplitudes
        ok &= amp[:, 0] <= amp[:, 1] * self._twist_amp
        ok &= amp[:, 1] <= amp[:, 0] * self._rtwist_amp
        return ok, dev

    def _decide(self, cand, dev, nw, touched):
        """Run the per-channel press/release state over the windows; return events in time order.

        A press needs MIN_ON_WINDOWS consecutive windows of one digit whose measured tone
        frequencies stay within FREQ_SPREAD_HZ of each other (a key's tones are steady,
        speech harmonics glide)."""
        if not touched and self._idle:
            return []
        if self._decide_fn is not None:
            chans, digits, self._idle = self._decide_fn(cand, dev, self._cur, self._last, self._run, self._miss,
                                                        self._h1, self._h2, MIN_ON_WINDOWS, MIN_OFF_WINDOWS,
                                                        FREQ_SPREAD_HZ)
            return list(zip(chans.tolist(), _DIGIT_CHARS[digits].tolist()))
        if self.channels <= WHOLE_DECIDE:
            # few channels: numpy calls cost more than the arithmetic, so update every channel in place
            active = None
            cur, last, run, miss = self._cur, self._last, self._run, self._miss
            ca = cand
        else:
            present_any = cand[:, 0] >= 0
            for w in range(1, nw):
                present_any |= cand[:, w] >= 0
            active = (present_any | (self._cur >= 0) | (self._last >= 0)).nonzero()[0]
            if active.size == 0:
                return []
            cur, last = self._cur[active], self._last[active]
            run, miss = self._run[active], self._miss[active]
            ca = cand[active]
        h1, h2 = self._h1, self._h2             # whole-channel history: swapped, never gathered
        present_all = ca >= 0
        events = []
        for w in range(nw):         # in-place updates: this loop's cost is numpy calls, not arithmetic
            cw, present = ca[:, w], present_all[:, w]
            dw = dev[:, w]
            run *= cw == last                   # same digit as the window before: run + 1, else 1, absent 0
            run += 1
            run *= present
            last = cw
            fire = run >= MIN_ON_WINDOWS
            fire &= cw != cur
            firing = np.count_nonzero(fire) > 0
            if firing:
                f = fire.nonzero()[0]
                chs = f if active is None else active[f]
                a, b, d = h1[chs], h2[chs], dw[chs]
                spread = np.maximum(np.maximum(a, b), d) - np.minimum(np.minimum(a, b), d)
                fire[f] = np.logical_and.reduce(spread <= FREQ_SPREAD_HZ, axis=1)
                firing = np.count_nonzero(fire) > 0
            h1, h2 = h2, dw
            miss += cur >= 0                    # windows without the held digit
            held = cw == cur
            held &= present
            if firing:
                held |= fire
            miss[held] = 0
            np.copyto(cur, -1, where=miss >= MIN_OFF_WINDOWS)
            if firing:
                np.copyto(cur, cw, where=fire)
                hits = fire.nonzero()[0]
                events.extend(zip((hits if active is None else active[hits]).tolist(),
                                  _DIGIT_CHARS[cw[hits]].tolist()))
        self._h1, self._h2 = h1, h2
        if active is None:
            np.copyto(self._last, last)
            self._idle = not np.count_nonzero(np.maximum(cur, last) >= 0)
        else:
            self._cur[active], self._last[active] = cur, last
            self._run[active], self._miss[active] = run, miss
            self._idle = False
        return events


class DTMFGenerator:
    """DTMF sender for `channels` channels at `rate` Hz: per-channel digit queues, level in dBm0 per tone, timing
    in ms."""

    def __init__(self, channels: int, rate: int = RATE, level: float = -10.0, twist: float = 0.0, on_ms: float = 80,
                 off_ms: float = 80) -> None:
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels!r}")
        if rate <= 2 * max(FREQS):
            raise ValueError(f"rate {rate!r} Hz too low for DTMF")
        self.channels = int(channels)
        self.rate = int(rate)
        c = self.channels
        self._queues: list[deque[int]] = [deque() for _ in range(c)]
        self._low_amp = np.zeros(c)
        self._high_amp = np.zeros(c)
        self._on = np.zeros(c, np.int64)
        self._off = np.zeros(c, np.int64)
        self.set_level(None, level, twist)
        self.set_timing(None, on_ms, off_ms)
        self._digit = np.full(c, -1, np.int64)   # digit being sent (index into DIGITS), -1 idle
        self._tone = np.zeros(c, bool)           # True while the tone is on, False in the pause
        self._left = np.zeros(c, np.int64)       # samples left in the current on/off phase
        self._elapsed = np.zeros(c, np.int64)    # samples since the digit's tone started
        self._active = np.zeros(c, bool)
        f = np.asarray(FREQS)
        self._w = 2.0 * np.pi * f / self.rate

    def _rows(self, channel):
        return slice(None) if channel is None else self._check_channel(channel)

    def _check_channel(self, channel):
        ch = int(channel)
        if not 0 <= ch < self.channels:
            raise IndexError(f"channel {channel!r} out of range 0..{self.channels - 1}")
        return ch

    def set_level(self, channel: int | None, level: float, twist: float = 0.0) -> None:
        """Set the low-group tone to `level` dBm0 and the high-group tone to level+twist dBm0 (channel None: all)."""
        if not (-90.0 <= level <= 3.0 and -90.0 <= level + twist <= 3.0):
            raise ValueError(f"tone levels must lie within -90..+3 dBm0, got {level}/{level + twist}")
        rows = self._rows(channel)
        self._low_amp[rows] = dbm0_to_amplitude(level)
        self._high_amp[rows] = dbm0_to_amplitude(level + twist)

    def set_timing(self, channel: int | None, on_ms: float, off_ms: float) -> None:
        """Set tone-on and pause durations in ms for one channel (None: all)."""
        if on_ms <= 0 or off_ms < 0:
            raise ValueError(f"on time must be > 0 ms and off time >= 0 ms, got {on_ms}/{off_ms}")
        rows = self._rows(channel)
        self._on[rows] = int(round(on_ms * self.rate / 1000.0))
        self._off[rows] = int(round(off_ms * self.rate / 1000.0))

    def put(self, channel: int, digits: str) -> None:
        """Queue a string of DTMF digits (0-9 * # A-D) on one channel."""
        ch = self._check_channel(channel)
        digits = str(digits).upper()
        bad = sorted({d for d in digits if d not in _DIGIT_INDEX})
        if bad:
            raise ValueError(f"not DTMF digits: {''.join(bad)!r}")
        self._queues[ch].extend(_DIGIT_INDEX[d] for d in digits)
        if digits and not self._active[ch]:
            self._start_next(ch)

    def busy(self, channel: int) -> bool:
        """True while the channel still has digits queued or being sent (tone or trailing pause)."""
        return bool(self._active[self._check_channel(channel)])

    def clear(self, channel: int) -> None:
        """Drop queued digits and stop sending on one channel at once."""
        ch = self._check_channel(channel)
        self._queues[ch].clear()
        self._active[ch] = False
        self._digit[ch] = -1

    def _start_next(self, ch):
        q = self._queues[ch]
        if q:
            self._digit[ch] = q.popleft()
            self._tone[ch] = True
            self._left[ch] = self._on[ch]
            self._elapsed[ch] = 0
            self._active[ch] = True
        else:
            self._digit[ch] = -1
            self._active[ch] = False

    def generate(self, n: int) -> NDArray[np.int16]:
        """Next n samples for every channel: int16 array (channels, n)."""
        n = int(n)
        if n < 0:
            raise ValueError("n must be >= 0")
        out = np.zeros((self.channels, n), np.float64)
        act = np.flatnonzero(self._active)
        pos = np.zeros(act.size, np.int64)
        t = np.arange(n)[None, :]
        while act.size:
            take = np.minimum(self._left[act], n - pos)
            on = self._tone[act] & (take > 0)
            if on.any():
                a = act[on]
                d = self._digit[a]
                k = t - pos[on][:, None] + self._elapsed[a][:, None]
                mask = (t >= pos[on][:, None]) & (t < (pos[on] + take[on])[:, None])
                wr = self._w[d // 4][:, None]
                wc = self._w[4 + d % 4][:, None]
                sig = self._low_amp[a][:, None] * np.sin(wr * k) + self._high_amp[a][:, None] * np.sin(wc * k)
                out[a] += np.where(mask, sig, 0.0)
                self._elapsed[a] += take[on]
            self._left[act] -= take
            pos += take
            done = self._left[act] == 0
            for i in np.flatnonzero(done).tolist():       # phase changes: per-channel events
                ch = int(act[i])
                if self._tone[ch] and self._off[ch] > 0:
                    self._tone[ch] = False
                    self._left[ch] = self._off[ch]
                else:
                    self._start_next(ch)
            more = (pos < n) & self._active[act]
            act, pos = act[more], pos[more]
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
