"""ITU V.29 fax modem: 9600 bit/s (16 points) and 7200 bit/s (8 points), 2400 baud QAM, carrier 1700 Hz."""
from __future__ import annotations

import numpy as np

from .modem_dsp import Bits, ComplexArray, Scrambler1823
from .modem_rx import ModemRxBase
from .modem_tx import ModemTxBase

STEPS = (1, 0, 2, 3, 6, 7, 5, 4)  # phase change in 45 degree steps per tribit (first bit most significant)
INV_STEPS = {s: i for i, s in enumerate(STEPS)}
INV_ARRAY = np.array([INV_STEPS[d] for d in range(8)])


def _ring(even_amp: float, odd_amp: float) -> ComplexArray:
    return np.array([(even_amp if s % 2 == 0 else odd_amp) * np.exp(1j * np.pi / 4 * s) for s in range(8)])


# Index = 8 * amplitude bit + absolute phase (45 degree steps): ITU V.29 figure 2 / table 2
CONSTELLATION = np.concatenate([_ring(3.0, np.sqrt(2.0)), _ring(5.0, 3.0 * np.sqrt(2.0))])
CONSTELLATION = np.round(CONSTELLATION.real, 9) + 1j * np.round(CONSTELLATION.imag, 9)

# Training points per rate: (A, B) of segment 2 and (C, D) of segment 3
TRAIN_POINTS = {
    9600: ((3 - 3j), (-3 + 0j), (3 + 0j), (-3 + 3j)),
    7200: ((1 - 1j), (-3 + 0j), (3 + 0j), (-1 + 1j)),
}
SEG_SILENCE = 48
SEG_ABAB = 128
SEG_CDCD = 384
SEG_ONES = 48
TRAILER = 32


def _check(bit_rate: int) -> None:
    if bit_rate not in (9600, 7200):
        raise ValueError(f"V.29 bit rate must be 7200 or 9600, not {bit_rate}")


def cdcd_symbols(bit_rate: int) -> ComplexArray:
    """The 384 segment-3 symbols (C/D chosen by the 1 + x^-6 + x^-7 training scrambler, initial state 0101010)."""
    a, b, c, d = TRAIN_POINTS[bit_rate]
    reg = 0x2A
    out = []
    for _ in range(SEG_CDCD):
        bit = reg & 1
        reg >>= 1
        reg |= ((bit ^ reg) & 1) << 6
        out.append(d if bit else c)
    return np.array(out)


def alt_symbols(bit_rate: int) -> ComplexArray:
    """The 128 segment-2 symbols, starting with B."""
    a, b, c, d = TRAIN_POINTS[bit_rate]
    return np.array([b if i % 2 == 0 else a for i in range(SEG_ABAB)])


class V29Tx(ModemTxBase):
    """V.29 transmitter: silence, ABAB, CDCD, scrambled ones, data, 32 symbols of ones."""

    baud = 2400
    carrier = 1700
    alpha = 0.25
    up = 3

    def __init__(self, bit_rate: int = 9600, level_dbm0: float = -12.0) -> None:
        _check(bit_rate)
        self.bit_rate = bit_rate
        self.bits_per_symbol = 4 if bit_rate == 9600 else 3
        pts = CONSTELLATION if bit_rate == 9600 else CONSTELLATION[:8]
        self.mean_power = float(np.mean(np.abs(pts) ** 2))
        super().__init__(level_dbm0)
        self.training = np.concatenate([np.zeros(SEG_SILENCE, complex), alt_symbols(bit_rate), cdcd_symbols(bit_rate)])
        self.scr = Scrambler1823(0)
        self.state = 0

    def _next_symbol(self) -> complex:
        s, training = self._step_past_training()
        if training is not None:
            return training
        n = self.bits_per_symbol
        bits = self._payload_bits(s, n, SEG_ONES, TRAILER)
        line = self.scr.scramble(int(b) for b in bits)
        amp = 0
        if n == 4:
            amp = line[0]
            line = line[1:]
        v = (line[0] << 2) | (line[1] << 1) | line[2]
        self.state = (self.state + STEPS[v]) & 7
        return CONSTELLATION[8 * amp + self.state]

    def _trailer_sent(self) -> bool:
        return self.trailer_left is not None and self.trailer_left <= 0


class V29Rx(ModemRxBase):
    """V.29 receiver at 7200 or 9600 bit/s."""

    baud = 2400
    carrier = 1700
    alpha = 0.25

    def __init__(self, bit_rate: int = 9600) -> None:
        _check(bit_rate)
        self.bit_rate = bit_rate
        self.bits_per_symbol = 4 if bit_rate == 9600 else 3
        a, b, c, d = TRAIN_POINTS[bit_rate]
        self.alt_points = (a, b)
        self.label_points = np.array([a, b, c, d])
        self.train_syms = cdcd_symbols(bit_rate)
        self.train_labels = np.array([2 if s == c else 3 for s in self.train_syms])
        self.rotations = (1 + 0j,)
        self.ones_bits = SEG_ONES * self.bits_per_symbol
        self.points = CONSTELLATION if bit_rate == 9600 else CONSTELLATION[:8]
        super().__init__()

    def start_data(self) -> None:
        """Descrambler and differential decoder for the data."""
        self.scr = Scrambler1823(0)
        self.prev = 0

    def data_symbol(self, z: complex) -> tuple[complex, Bits | None]:
        """The nearest point and its line bits (amplitude bit, then the phase change tribit)."""
        d = self.points - z
        i = int(np.argmin(d.real * d.real + d.imag * d.imag))
        st = i & 7
        v = INV_STEPS[(st - self.prev) & 7]
        self.prev = st
        line = [(v >> 2) & 1, (v >> 1) & 1, v & 1]
        if self.bits_per_symbol == 4:
            line = [i >> 3] + line
        return self.points[i], np.array(line, dtype=np.uint8)

    def data_block(self, z: ComplexArray) -> tuple[ComplexArray, Bits | None]:
        """data_symbol over a block of symbols at once."""
        d = self.points[None, :] - z[:, None]
        idx = np.argmin(d.real * d.real + d.imag * d.imag, axis=1)
        st = idx & 7
        prev = np.concatenate([[self.prev], st[:-1]])
        v = INV_ARRAY[(st - prev) & 7]
        self.prev = int(st[-1]) if len(st) else self.prev
        cols = [(v >> 2) & 1, (v >> 1) & 1, v & 1]
        if self.bits_per_symbol == 4:
            cols = [idx >> 3] + cols
        return self.points[idx], np.stack(cols, axis=1).ravel().astype(np.uint8)

    def descramble(self, line: Bits) -> Bits:
        """Data bits from line bits (1 + x^-18 + x^-23)."""
        return self.scr.descramble(line)

    def flush(self) -> Bits:
        """Nothing is held back: no bits."""
        return np.zeros(0, dtype=np.uint8)
