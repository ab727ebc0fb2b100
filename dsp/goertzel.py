"""Vectorised tone energy over many channels: framing plus a bank of single-bin DFTs (Goertzel).

Levels are dBm0 as defined in dsp/level.py (spandsp's telephony.h convention).

A ``ToneBank`` evaluates, for every channel and every analysis frame, the amplitude of each
listed frequency (one DFT bin each, computed as one matrix product over all channels and
frames, which is what a Goertzel filter computes sample by sample) and the frame power.
A ``Framer`` cuts a stream of ``(channels, n)`` blocks of any n into overlapping frames.
"""
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .constants import RATE


class Framer:
    """Cuts (channels, n) int16 blocks into frames of `win` samples every `hop` samples, state across calls."""

    def __init__(self, channels: int, win: int, hop: int) -> None:
        if win <= 0 or hop <= 0 or hop > win:
            raise ValueError(f"need 0 < hop <= win, got win={win} hop={hop}")
        self.channels, self.win, self.hop = channels, win, hop
        self.reset_all()

    def reset_all(self) -> None:
        """Forget buffered audio on every channel (the first frame ends `hop` samples later)."""
        self.buf = np.zeros((self.channels, self.win - self.hop), dtype=np.float32)

    def reset(self, ch: int) -> None:
        """Zero one channel's history (its framing phase stays aligned with the others)."""
        self.buf[ch] = 0

    def push(self, block: NDArray[np.int16]) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
        """Append a (channels, n) block; returns frames (channels, frames, win) float32 and the
        offsets (samples, relative to the start of `block`) at which each frame ends."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"block must be shaped ({self.channels}, n), got {block.shape}")
        old = self.buf.shape[1]
        data = np.concatenate([self.buf, block.astype(np.float32)], axis=1)
        starts = np.arange(0, data.shape[1] - self.win + 1, self.hop)
        if len(starts):
            # (channels, frames, win) C-contiguous (a fancy index gives a strided layout that later products
            # pay for): one slice copy per frame, a handful per block
            frames = np.empty((self.channels, len(starts), self.win), dtype=data.dtype)
            for k, st in enumerate(starts.tolist()):
                frames[:, k] = data[:, st:st + self.win]
            nxt = starts[-1] + self.hop
        else:
            frames = np.zeros((self.channels, 0, self.win), dtype=np.float32)
            nxt = 0
        self.buf = data[:, nxt:]
        return frames, starts + self.win - old


class ToneBank:
    """Single-bin DFT amplitudes of `freqs` (Hz) over frames of `win` samples: one matmul for all channels."""

    def __init__(self, freqs: Sequence[float], win: int, rate: int = RATE, window: ArrayLike | None = None) -> None:
        self.freqs = np.asarray(freqs, dtype=float)
        self.win = win
        t = np.arange(win)
        w = np.ones(win) if window is None else np.asarray(window, dtype=float)
        self.gain = w.sum() / 2.0  # |X| of a unit-amplitude sine exactly on a bin
        ang = 2 * np.pi * np.outer(t, self.freqs) / rate
        self.basis = np.concatenate([np.cos(ang) * w[:, None], np.sin(ang) * w[:, None]], axis=1).astype(np.float32)
        self.nf = len(self.freqs)

    def amplitudes(self, frames: NDArray[np.float32]) -> NDArray[np.float32]:
        """Peak amplitude estimate (int16 units) per frequency: (..., win) -> (..., len(freqs))."""
        lead = frames.shape[:-1]
        # one 2-D product for all frames of all channels: a stacked (channels, k, win) @ (win, 2f) runs a small
        # product per channel, ~10x slower at hundreds of channels
        y = (np.ascontiguousarray(frames, dtype=np.float32).reshape(-1, self.win) @ self.basis).reshape(
            *lead, 2 * self.nf)
        re, im = y[..., :self.nf], y[..., self.nf:]
        return np.sqrt(re * re + im * im) / self.gain

    @staticmethod
    def power(frames: NDArray[np.float32]) -> NDArray[np.float32]:
        """Mean square of each frame (int16 units squared): (..., win) -> (...)."""
        return np.einsum("...i,...i->...", frames, frames) / frames.shape[-1]


class SlidingToneBank:
    """Framer + ToneBank (rectangular window) in one: amplitudes and powers of frames of `win` samples every
    `hop` samples, `win` a multiple of `hop`, computed from per-hop partial DFTs shared by the win/hop frames
    that overlap them (a frame's DFT is the sum of its sub-blocks' DFTs, each turned by its offset): the
    products cost hop/win of the framed ones. Same frames and end offsets as Framer.push; values equal to
    float32 rounding."""

    def __init__(self, channels: int, freqs: Sequence[float], win: int, hop: int, rate: int = RATE) -> None:
        if hop <= 0 or win % hop:
            raise ValueError(f"win must be a multiple of hop, got win={win} hop={hop}")
        self.channels, self.win, self.hop = channels, win, hop
        self.parts = win // hop
        self.freqs = np.asarray(freqs, dtype=float)
        nf = len(self.freqs)
        ang = 2 * np.pi * np.outer(np.arange(hop), self.freqs) / rate
        self.basis = np.concatenate([np.cos(ang), np.sin(ang)], axis=1).astype(np.float32)    # (hop, 2 nf)
        # sub-block j of a frame starts j*hop samples in: its DFT turns by exp(i w j hop)
        self.turn = np.exp(1j * 2 * np.pi * np.outer(np.arange(self.parts), self.freqs) * hop / rate
                           ).astype(np.complex64)                                          # (parts, nf)
        self.gain = win / 2.0
        self.nf = nf
        self.reset_all()

    def reset_all(self) -> None:
        """Forget every channel's audio (as Framer.reset_all: zeros before the first samples)."""
        c = self.channels
        self.left = np.zeros((c, 0), np.float32)                                # samples short of a hop
        self.ring = np.zeros((c, self.parts - 1, self.nf), np.complex64)         # the last sub-blocks' DFTs
        self.ring_e = np.zeros((c, self.parts - 1), np.float32)                  # and energies

    def reset(self, ch: int) -> None:
        """Zero one channel's history (its framing phase stays aligned with the others)."""
        self.ring[ch] = 0
        self.ring_e[ch] = 0
        self.left[ch] = 0

    def grow(self, channels: int) -> None:
        """Take more channels (zero history for the new ones)."""
        extra = channels - self.channels
        if extra <= 0:
            return
        self.left = np.concatenate([self.left, np.zeros((extra, self.left.shape[1]), np.float32)])
        self.ring = np.concatenate([self.ring, np.zeros((extra, self.parts - 1, self.nf), np.complex64)])
        self.ring_e = np.concatenate([self.ring_e, np.zeros((extra, self.parts - 1), np.float32)])
        self.channels = channels

    def push(self, block: NDArray[np.int16]) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.intp]]:
        """Append a (channels, n) block; returns the new frames' amplitudes (channels, frames, nf) and mean
        squares (channels, frames) as ToneBank.amplitudes/power would give, and where each frame ends
        (samples from the start of `block`, as Framer.push)."""
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"block must be shaped ({self.channels}, n), got {block.shape}")
        old = self.left.shape[1]
        data = block.astype(np.float32) if old == 0 else np.concatenate([self.left, block.astype(np.float32)], 1)
        c, hop, nf = self.channels, self.hop, self.nf
        m = data.shape[1] // hop
        self.left = data[:, m * hop:].copy()
        if m == 0:
            return np.zeros((c, 0, nf), np.float32), np.zeros((c, 0), np.float32), np.zeros(0, np.intp)
        sub = data[:, :m * hop].reshape(c * m, hop)
        y = sub @ self.basis                                                     # (c m, 2 nf)
        s = np.empty((c, m, nf), np.complex64)
        s.real = y[:, :nf].reshape(c, m, nf)
        s.imag = y[:, nf:].reshape(c, m, nf)
        e = np.einsum("ij,ij->i", sub, sub).reshape(c, m)
        alls = np.concatenate([self.ring, s], axis=1)                            # (c, parts - 1 + m, nf)
        alle = np.concatenate([self.ring_e, e], axis=1)
        z = alls[:, 0:m] * self.turn[0]
        pwr = alle[:, 0:m].copy()
        for j in range(1, self.parts):
            z += alls[:, j:j + m] * self.turn[j]
            pwr += alle[:, j:j + m]
        self.ring = alls[:, m:].copy()
        self.ring_e = alle[:, m:].copy()
        amp: NDArray[np.float32] = (np.abs(z) / np.float32(self.gain)).astype(np.float32, copy=False)
        mean: NDArray[np.float32] = (pwr / np.float32(self.win)).astype(np.float32, copy=False)
        ends: NDArray[np.intp] = hop - old + hop * np.arange(m)
        return amp, mean, ends
