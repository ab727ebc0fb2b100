"""ITU V.27ter fax modem: 4800 bit/s (8-phase DPSK, 1600 baud) and 2400 bit/s (4-phase, 1200 baud), carrier 1800 Hz."""
from __future__ import annotations

import numpy as np

from .modem_dsp import Bits, ComplexArray, ScramblerV27
from .modem_rx import ModemRxBase
from .modem_tx import ModemTxBase

# Phase change (in 45 degree steps) per tribit (first bit most significant) / dibit, ITU V.27ter tables 1 and 2
STEPS_4800 = (1, 0, 2, 3, 6, 7, 5, 4)
STEPS_2400 = (0, 2, 6, 4)
INV_4800 = {s: i for i, s in enumerate(STEPS_4800)}
INV_2400 = {s: i for i, s in enumerate(STEPS_2400)}
INV4800_ARRAY = np.array([INV_4800[d] for d in range(8)])
INV2400_ARRAY = np.array([INV_2400.get(d, 0) for d in range(8)])
POINTS = np.sqrt(2.0) * np.exp(1j * np.pi / 4 * np.arange(8))

SEG_SILENCE = 32      # symbols of no energy before the training (talker echo protection off)
SEG_REVERSALS = 50    # continuous 180 degree reversals
SEG_SCRAMBLED = 1074  # scrambled 0/180 degree changes (equaliser conditioning)
SEG_ONES = 8          # scrambled ones at the data rate
TRAILER = 32          # symbols of scrambled ones after the data


def _params(bit_rate: int) -> tuple[int, int]:
    if bit_rate == 4800:
        return 1600, 3
    if bit_rate == 2400:
        return 1200, 2
    raise ValueError(f"V.27ter bit rate must be 2400 or 4800, not {bit_rate}")


def training(bit_rate: int) -> tuple[list[int], ScramblerV27]:
    """(states of the scrambled conditioning segment, scrambler after it) for one V.27ter training."""
    scr = ScramblerV27(0x3C)
    state = 0
    for _ in range(SEG_REVERSALS):
        state = (state + 4) & 7
    states = []
    for _ in range(SEG_SCRAMBLED):
        b = scr.scramble_bit(1)
        scr.scramble_bit(1)
        scr.scramble_bit(1)
        state = (state + 4 * b) & 7
        states.append(state)
    return states, scr


class V27terTx(ModemTxBase):
    """V.27ter transmitter: silence, reversals, scrambled conditioning, ones, data, 32 symbols of ones."""

    carrier = 1800
    alpha = 0.5
    mean_power = 2.0

    def __init__(self, bit_rate: int = 4800, level_dbm0: float = -12.0) -> None:
        self.baud, self.bits_per_symbol = _params(bit_rate)
        self.up = 1 if bit_rate == 4800 else 3
        self.bit_rate = bit_rate
        super().__init__(level_dbm0)
        self.scr = ScramblerV27(0x3C)
        self.state = 0

    def _next_symbol(self) -> complex:
        s = self.step
        self.step += 1
        if s < SEG_SILENCE:
            return 0j
        s -= SEG_SILENCE
        if s < SEG_REVERSALS:
            self.state = (self.state + 4) & 7
            return POINTS[self.state]
        s -= SEG_REVERSALS
        if s < SEG_SCRAMBLED:
            b = self.scr.scramble_bit(1)
            self.scr.scramble_bit(1)
            self.scr.scramble_bit(1)
            self.state = (self.state + 4 * b) & 7
            return POINTS[self.state]
        s -= SEG_SCRAMBLED
        bits = self._payload_bits(s, self.bits_per_symbol, SEG_ONES, TRAILER)
        v = 0
        for bit in bits:
            v = (v << 1) | self.scr.scramble_bit(int(bit))
        step = STEPS_4800[v] if self.bits_per_symbol == 3 else STEPS_2400[v]
        self.state = (self.state + step) & 7
        return POINTS[self.state]

    def _trailer_sent(self) -> bool:
        return self.trailer_left is not None and self.trailer_left <= 0


class V27terRx(ModemRxBase):
    """V.27ter receiver at 2400 or 4800 bit/s."""

    carrier = 1800
    alpha = 0.5

    def __init__(self, bit_rate: int = 4800) -> None:
        self.baud, self.bits_per_symbol = _params(bit_rate)
        self.bit_rate = bit_rate
        states, self._scr_after = training(bit_rate)
        self.train_states = states
        self.train_syms = POINTS[np.array(states)]
        self.alt_points = (POINTS[4], POINTS[0])
        self.label_points = np.array([POINTS[0], POINTS[4]])
        self.train_labels = np.array([0 if s == 0 else 1 for s in states])
        self.rotations = (1 + 0j, -1 + 0j)
        self.ones_bits = SEG_ONES * self.bits_per_symbol
        self.ones_skip = 0
        if bit_rate == 4800:
            self.data_points = POINTS
            self.kp_data, self.ki_data = 0.03, 0.0005
        else:
            self.data_points = POINTS[0::2]
        super().__init__()

    def start_data(self) -> None:
        """Descrambler (continuing from the training's) and differential decoder for the data."""
        self.scr = ScramblerV27(self._scr_after.reg)
        self.scr.count = self._scr_after.count
        self.prev = self.train_states[-1]

    def data_symbol(self, z: complex) -> tuple[complex, Bits | None]:
        """The nearest point and its line bits (the phase change dibit or tribit)."""
        if self.bits_per_symbol == 3:
            st = int(np.argmin(np.abs(POINTS - z)))
            v = INV_4800[(st - self.prev) & 7]
        else:
            i = int(np.argmin(np.abs(self.data_points - z)))
            st = 2 * i
            v = INV_2400[(st - self.prev) & 7]
        self.prev = st
        n = self.bits_per_symbol
        line = np.array([(v >> (n - 1 - j)) & 1 for j in range(n)], dtype=np.uint8)
        return POINTS[st], line

    def data_block(self, z: ComplexArray) -> tuple[ComplexArray, Bits | None]:
        """data_symbol over a block of symbols at once."""
        pts = self.data_points
        d = pts[None, :] - z[:, None]
        i = np.argmin(d.real * d.real + d.imag * d.imag, axis=1)
        st = i if self.bits_per_symbol == 3 else 2 * i
        prev = np.concatenate([[self.prev], st[:-1]])
        delta = (st - prev) & 7
        if len(st):
            self.prev = int(st[-1])
        n = self.bits_per_symbol
        v = (INV4800_ARRAY if n == 3 else INV2400_ARRAY)[delta]
        cols = [(v >> (n - 1 - j)) & 1 for j in range(n)]
        return POINTS[st], np.stack(cols, axis=1).ravel().astype(np.uint8)

    def descramble(self, line: Bits) -> Bits:
        """Data bits from line bits (1 + x^-6 + x^-7 with the repeated-pattern guard)."""
        d = self.scr.descramble_bit
        return np.array([d(b) for b in line.tolist()], dtype=np.uint8)

    def flush(self) -> Bits:
        """Nothing is held back: no bits."""
        return np.zeros(0, dtype=np.uint8)
