"""Shared DSP for the fax high-speed modems (V.27ter, V.29, V.17): scramblers, pulse shaping,
the transmit modulator, and the receive front end (carrier detect, demodulation, timing recovery,
adaptive T/2 equaliser, carrier recovery). Audio is 8 kHz int16; symbols are complex numbers in
each modem's constellation units."""
import math

import numpy as np
from scipy.signal import lfilter

from trunkline.dsp.constants import RATE as FS
from trunkline.dsp.level import dbm0_to_power, dbm0_to_rms


def rrc(alpha, sps, span):
    """Root raised cosine taps, `sps` samples per symbol (may be fractional), +-span/2 symbols, unit peak energy."""
    half = int(math.ceil(span * sps / 2.0))
    t = np.arange(-half, half + 1) / sps
    h = np.zeros(len(t))
    for i, x in enumerate(t):
        if abs(x) < 1e-9:
            h[i] = 1.0 - alpha + 4.0 * alpha / math.pi
        elif alpha > 0 and abs(abs(x) - 1.0 / (4.0 * alpha)) < 1e-9:
            h[i] = alpha / math.sqrt(2.0) * ((1 + 2 / math.pi) * math.sin(math.pi / (4 * alpha))
                                             + (1 - 2 / math.pi) * math.cos(math.pi / (4 * alpha)))
        else:
            h[i] = (math.sin(math.pi * x * (1 - alpha)) + 4 * alpha * x * math.cos(math.pi * x * (1 + alpha))) / (
                math.pi * x * (1 - (4 * alpha * x) ** 2))
    # taper the truncated ends a little
    h *= np.kaiser(len(h), 3.0)
    return h


# ----------------------------------------------------------------------------------------------
# Scramblers
# ----------------------------------------------------------------------------------------------

class Scrambler1823:
    """Self-synchronising scrambler/descrambler 1 + x^-18 + x^-23 (V.29, V.17); bits are 0/1."""

    def __init__(self, reg=0):
        self.reg = reg

    def scramble(self, bits):
        """Scramble a sequence of bits (iterable of 0/1) -> list of line bits."""
        reg = self.reg
        out = []
        for b in bits:
            o = (b ^ (reg >> 17) ^ (reg >> 22)) & 1
            reg = ((reg << 1) | o) & 0x7FFFFF
            out.append(o)
        self.reg = reg
        return out

    def descramble(self, bits):
        """Descramble line bits (uint8 array) -> data bits (uint8 array); vectorised."""
        bits = np.asarray(bits, dtype=np.uint8)
        if len(bits) == 0:
            return bits
        hist = np.array([(self.reg >> (22 - i)) & 1 for i in range(23)], dtype=np.uint8)  # oldest first
        x = np.concatenate([hist, bits])
        n = len(bits)
        out = bits ^ x[23 - 18:23 - 18 + n] ^ x[0:n]
        tail = x[-23:]
        reg = 0
        for b in tail:
            reg = (reg << 1) | int(b)
        self.reg = reg
        return out


class ScramblerV27:
    """V.27ter scrambler/descrambler 1 + x^-6 + x^-7 with the repeated-pattern guard (ITU V.27ter 2.5)."""

    def __init__(self, reg=0x3C):
        self.reg = reg
        self.count = 0

    def scramble_bit(self, b):
        """One data bit in -> one line bit out."""
        reg = self.reg
        o = (b ^ (reg >> 5) ^ (reg >> 6)) & 1
        if self.count >= 33:
            o ^= 1
            self.count = 0
        elif ((reg >> 7) ^ o) & ((reg >> 8) ^ o) & ((reg >> 11) ^ o) & 1:
            self.count = 0
        else:
            self.count += 1
        self.reg = ((reg << 1) | o) & 0xFFF
        return o

    def descramble_bit(self, b):
        """One line bit in -> one data bit out."""
        reg = self.reg
        o = (b ^ (reg >> 5) ^ (reg >> 6)) & 1
        if self.count >= 33:
            o ^= 1
            self.count = 0
        elif ((reg >> 7) ^ b) & ((reg >> 8) ^ b) & ((reg >> 11) ^ b) & 1:
            self.count = 0
        else:
            self.count += 1
        self.reg = ((reg << 1) | b) & 0xFFF
        return o


# ----------------------------------------------------------------------------------------------
# Transmit side
# ----------------------------------------------------------------------------------------------

class BitQueue:
    """FIFO of data bits (uint8 0/1) for a transmitter."""

    def __init__(self):
        self.chunks = []
        self.pos = 0
        self.count = 0

    def put(self, bits):
        bits = np.asarray(bits, dtype=np.uint8)
        if bits.ndim != 1:
            raise ValueError("bits must be a 1-D array of 0/1")
        if len(bits) and bits.max() > 1:
            raise ValueError("bits must be 0 or 1")
        if len(bits):
            self.chunks.append(bits)
            self.count += len(bits)

    def get(self, n):
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


def bytes_to_bits(data):
    """Octets -> bits, each octet least significant bit first."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("send_bytes wants bytes")
    a = np.frombuffer(bytes(data), dtype=np.uint8)
    return np.unpackbits(a, bitorder="little")


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

    def __init__(self, level_dbm0=-12.0):
        self.queue = BitQueue()
        self.finished = False
        self.done = False
        self.sps_up = FS * self.up // self.baud
        h = rrc(self.alpha, self.sps_up, self.span)
        taps = int(math.ceil(len(h) / self.sps_up))
        hp = np.zeros(taps * self.sps_up)
        hp[:len(h)] = h
        self.poly = hp.reshape(taps, self.sps_up).T.copy()  # [phase, tap]
        self.ntaps = taps
        level = dbm0_to_rms(level_dbm0)
        p = self.mean_power * np.sum(h * h) / self.sps_up / 2.0
        self.gain = level / math.sqrt(p)
        self.sym = np.zeros(taps, dtype=complex)  # symbol history, self.sym[i] is symbol sym_base + i
        self.sym_base = -taps
        self.m = 0  # next output sample index
        self.last_symbol = None  # index of the last non-silent symbol, once the trailer is queued

    def send_bits(self, bits):
        """Queue data bits (0/1 array) for transmission after the training."""
        if self.finished:
            raise RuntimeError("finish() was called: no more data can be queued")
        self.queue.put(bits)

    def send_bytes(self, data):
        """Queue octets (each sent least significant bit first)."""
        self.send_bits(bytes_to_bits(data))

    def finish(self):
        """No more data: the modem sends its trailer once the queue has drained."""
        self.finished = True

    def _data_bits(self, n):
        """n bits for the data phase: queued data, or ones on underrun / after the data."""
        b = self.queue.get(n)
        if len(b) < n:
            b = np.concatenate([b, np.ones(n - len(b), dtype=np.uint8)])
        return b

    def tx(self, n):
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

    def _symbols(self, n):
        """The next n symbols (complex): training, then data, then trailer, then silence."""
        out = np.zeros(n, dtype=complex)
        for i in range(n):
            if self.last_symbol is not None:
                break
            out[i] = self._next_symbol()
            if self._trailer_sent():
                self.last_symbol = self.sym_base + len(self.sym) + i
        return out


# ----------------------------------------------------------------------------------------------
# Receive side
# ----------------------------------------------------------------------------------------------

def _interp_weights(frac, ntaps=12):
    """Windowed-sinc fractional-delay weights for fractions `frac` (array) -> (len(frac), ntaps)."""
    half = ntaps // 2
    n = np.arange(-half + 1, half + 1)[None, :]  # sample offsets relative to floor(t)
    d = n - frac[:, None]
    w = np.sinc(d) * (0.42 + 0.5 * np.cos(np.pi * d / half) + 0.08 * np.cos(2 * np.pi * d / half))
    w /= np.sum(w, axis=1, keepdims=True)
    return w


_PHASES = 256
_TABLE = None


def _interp_table(ntaps):
    global _TABLE
    if _TABLE is None:
        _TABLE = _interp_weights(np.arange(_PHASES + 1) / _PHASES, ntaps)
    return _TABLE


class FrontEnd:
    """Mix to baseband at the nominal carrier, matched RRC filter, in-band power, symbol timing (Oerder-Meyr)."""

    INTERP = 12

    def __init__(self, carrier, baud, alpha):
        self.carrier = carrier
        self.baud = baud
        self.sps = FS / baud
        h = rrc(alpha, self.sps, 8)
        self.h = h / np.sum(h)  # unit DC gain at baseband
        self.zi = np.zeros(len(self.h) - 1, dtype=complex)
        self.delay = (len(self.h) - 1) // 2
        self.n = 0  # absolute index of the next input sample
        self.buf = np.zeros(0, dtype=complex)
        self.base = 0  # absolute index of buf[0]
        self.pzi = np.zeros(1)
        self.pwr = np.zeros(0)
        self.tm = 0j  # smoothed timing phasor

    def push(self, samples):
        """Filter a block of int16 samples into the baseband buffer."""
        x = samples.astype(np.float64)
        m = np.arange(self.n, self.n + len(x))
        lo = np.exp(-2j * np.pi * self.carrier * (m % FS) / FS)
        bb, self.zi = lfilter(self.h, [1.0], x * lo * 2.0, zi=self.zi)
        self.n += len(x)
        p, self.pzi = lfilter([1.0 / 24], [1.0, -(1.0 - 1.0 / 24)], np.abs(bb) ** 2, zi=self.pzi)
        self.buf = np.concatenate([self.buf, bb])
        self.pwr = np.concatenate([self.pwr, p])
        return bb, p

    def trim(self, keep_from):
        """Drop buffered baseband before absolute sample `keep_from`."""
        drop = int(keep_from) - self.base
        if drop > 0:
            drop = min(drop, len(self.buf))
            self.buf = self.buf[drop:]
            self.pwr = self.pwr[drop:]
            self.base += drop

    @property
    def end(self):
        return self.base + len(self.buf)

    def timing_phasor(self, start, stop):
        """Sum of |x|^2 e^{-j w n} over absolute samples [start, stop): its angle locates symbol centres."""
        a = max(start, self.base) - self.base
        b = min(stop, self.end) - self.base
        if b <= a:
            return 0j
        n = np.arange(a + self.base, b + self.base)
        return np.sum(np.abs(self.buf[a:b]) ** 2 * np.exp(-2j * np.pi * self.baud * (n % (FS * 3)) / FS))

    def centre_from_phasor(self, c):
        """Symbol centre time modulo one symbol (samples, in [0, sps)) from a timing phasor."""
        return (-np.angle(c) / (2 * np.pi) * self.sps) % self.sps

    def sample(self, times):
        """Interpolated baseband at absolute fractional sample times (array)."""
        times = np.asarray(times, dtype=np.float64)
        fl = np.floor(times)
        frac = times - fl
        w = _interp_table(self.INTERP)[np.rint(frac * _PHASES).astype(np.int64)]
        half = self.INTERP // 2
        idx = (fl.astype(np.int64) - self.base)[:, None] + np.arange(-half + 1, half + 1)[None, :]
        idx = np.clip(idx, 0, len(self.buf) - 1)
        return np.sum(self.buf[idx] * w, axis=1)


def nearest(points, z):
    """Index of the point in `points` (complex array) nearest to z."""
    d = points - z
    return int(np.argmin(d.real * d.real + d.imag * d.imag))


class Equaliser:
    """Complex T/2 fractionally spaced LMS equaliser with a second-order carrier phase loop."""

    def __init__(self, half_taps=8):
        self.ntaps = 2 * half_taps + 1
        self.centre = half_taps
        self.w = np.zeros(self.ntaps, dtype=complex)
        self.phase = 0.0
        self.freq = 0.0
        self.rot = 1 + 0j

    def init(self, gain, phase, freq):
        """Start from a single centre tap: z = x * gain, with carrier phase and freq (rad/symbol)."""
        self.w[:] = 0
        self.w[self.centre] = gain
        self.phase = phase
        self.freq = freq
        self.rot = complex(math.cos(-phase), math.sin(-phase))

    def output(self, x, xc=None, nrm=None):
        """Equalised, carrier-derotated symbol for the T/2 input vector x (xc = conj(x), nrm = |x|^2)."""
        self.x = x
        self.xc = np.conj(x) if xc is None else xc
        self.nrm = float(np.real(np.vdot(x, x))) if nrm is None else nrm
        return complex(self.w.dot(x)) * self.rot

    def update(self, z, target, mu, kp, ki):
        """Adapt taps toward `target` (derotated domain) and advance the carrier loop."""
        err = target - z
        if mu:
            self.w += ((mu / (self.nrm + 1e-9)) * (err * self.rot.conjugate())) * self.xc
        mag = target.real * target.real + target.imag * target.imag
        if mag > 0:
            pe = (z.imag * target.real - z.real * target.imag) / mag
            if pe > 0.5:
                pe = 0.5
            elif pe < -0.5:
                pe = -0.5
            self.freq += ki * pe
            self.phase += self.freq + kp * pe
        else:
            self.phase += self.freq
        self.rot = complex(math.cos(-self.phase), math.sin(-self.phase))
        return err


# ----------------------------------------------------------------------------------------------
# Generic receiver state machine
# ----------------------------------------------------------------------------------------------

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

    carrier = 1800
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
    block_data = True  # symbols after the lock allowed before the known pattern must appear

    def __init__(self):
        self.fe = FrontEnd(self.carrier, self.baud, self.alpha)
        self.eq = Equaliser(self.half_taps)
        self.sps = FS / self.baud
        self.on_lin = 2.0 * dbm0_to_power(self.on_dbm0)     # squared envelope: a sine of peak A reads A**2
        self.off_lin = 2.0 * dbm0_to_power(self.off_dbm0)
        self.offsets = (np.arange(self.eq.ntaps) - self.half_taps) * self.sps / 2.0
        self._reset_state()

    # -- public API ------------------------------------------------------------------------
    def reset(self):
        """Forget the current reception and wait for the next training."""
        self._reset_state()

    def take_bits(self):
        """Data bits (uint8 0/1) received since the last call; only after training succeeded."""
        if not self._out:
            return np.zeros(0, dtype=np.uint8)
        out = np.concatenate(self._out).astype(np.uint8)
        self._out = []
        return out

    def rx(self, samples):
        """Feed received int16 audio (any length)."""
        samples = np.asarray(samples)
        if samples.ndim != 1:
            raise ValueError("rx wants a 1-D int16 array")
        if samples.dtype != np.int16:
            if not np.issubdtype(samples.dtype, np.integer):
                raise TypeError("rx wants int16 samples")
            samples = samples.astype(np.int16)
        if len(samples) == 0:
            return
        start = self.fe.end
        _, p = self.fe.push(samples)
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
    def _reset_state(self):
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

    def _carrier_on(self, n_on):
        if self.state == SEARCH:
            self.state = ACQ
            self.acq_start = n_on + self.settle_symbols * self.sps

    def _carrier_off(self):
        if self.state == DATA:
            self._line.append(self.flush())
            self._drain()
            if self.trained:
                self.signal_lost = True
        self.state = SEARCH
        self.t_next = None

    def _trim(self):
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
        if self.state == DATA and self.block_data == "hybrid":
            self._data_hybrid(grid, gridc, nrms)
        elif self.state == DATA and self.block_data:
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

    def _data_hybrid(self, grid, gridc, nrms):
        """Data mode with the equaliser fixed inside the block (block LMS at its end) but the carrier
        loop and the decisions symbol by symbol (used by V.17, whose Viterbi is sequential anyway)."""
        eq = self.eq
        n = len(grid)
        y = (grid @ eq.w).tolist()
        errs = np.zeros(n, dtype=complex)
        phase, freq = eq.phase, eq.freq
        kp, ki = self.kp_data, self.ki_data
        cos, sin = math.cos, math.sin
        for i in range(n):
            rot = complex(cos(phase), -sin(phase))
            z = y[i] * rot
            pt, line = self.data_symbol(z)
            if line is not None and len(line):
                self._line.append(line)
            pt = complex(pt)
            err = pt - z
            errs[i] = err * rot.conjugate()
            mag = pt.real * pt.real + pt.imag * pt.imag
            pe = (z.imag * pt.real - z.real * pt.imag) / mag if mag > 0 else 0.0
            pe = 0.5 if pe > 0.5 else (-0.5 if pe < -0.5 else pe)
            freq += ki * pe
            phase += freq + kp * pe
            if self.state != DATA:
                break
        eq.w += (self.mu_data / (float(np.mean(nrms)) + 1e-9)) * (errs @ gridc)
        eq.phase, eq.freq = phase, freq
        eq.rot = complex(math.cos(-phase), math.sin(-phase))

    def data_block(self, z):
        """Data-mode decisions for an array of symbols: (decided points array, line bits or None)."""
        pts = np.zeros(len(z), dtype=complex)
        lines = []
        for i, zz in enumerate(z):
            pt, line = self.data_symbol(complex(zz))
            pts[i] = pt
            if line is not None:
                lines.append(line)
        return pts, (np.concatenate(lines) if lines else None)

    def _drain(self):
        """Descramble the line bits gathered in this block and hand them on."""
        if self._line:
            line = np.concatenate(self._line).astype(np.uint8)
            self._line = []
            if self.state == DATA:
                self._emit(self.descramble(line))

    def _emit(self, bits):
        if bits is None or len(bits) == 0:
            return
        bits = np.asarray(bits, dtype=np.uint8)
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

    def _fail(self):
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
                        self.on_aligned()
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
            for zz in self.replay():
                pt, line = self.data_symbol(zz)
                if line is not None:
                    self._line.append(line)
        if self.state == DATA:
            pt, line = self.data_symbol(z)
            eq.update(z, pt, self.mu_data, self.kp_data, self.ki_data)
            if line is not None:
                self._line.append(line)

    # -- hooks with defaults ---------------------------------------------------------------------
    ones_skip = 0

    def on_aligned(self):
        """Called when the known training pattern has been found."""

    def train_target(self, pos, z):
        """Known training symbol at position pos after the alternation, or None when data mode starts."""
        if pos < len(self.train_syms):
            return self.train_syms[pos]
        return None

    def replay(self):
        """Symbols already equalised that belong to the data phase (V.17 short train)."""
        return ()
