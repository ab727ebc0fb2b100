"""Signal level (dBm0): the one dBm0 reference of Trunkline, its conversions, meters and voice activity
detection, vectorised across channels.

Level reference (spandsp telephony.h convention, the G.711 overload point): a full-scale sine
(peak 32767) is +3.14 dBm0, so a 0 dBm0 sine has peak ``DBM0_AMPLITUDE`` = 22,826 and RMS
16,140 (int16 units). A signal's level in dBm0 is its mean square relative to that of a
0 dBm0 sine (``DBM0_POWER``), so sines, noise and speech are all on one scale. spandsp's
power_meter reads the same signals within a few hundredths of a dB (tests/dsp/test_level.py).

Every layer that speaks of dBm0 (tone and modem generators, detectors, recorders) converts with
the functions here. A scalar in gives a float out, an array gives an array.
"""
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from .constants import RATE

DBM0_MAX_SINE_POWER = 3.14
DBM0_AMPLITUDE = 32767.0 * 10.0 ** (-DBM0_MAX_SINE_POWER / 20.0)
DBM0_POWER = DBM0_AMPLITUDE ** 2 / 2.0
FLOOR_DBM0 = -120.0
FRAME_10MS = RATE // 100         #: samples in a 10 ms frame

FloatArray = NDArray[np.float64]


@overload
def dbm0_to_amplitude(dbm0: float) -> float: ...
@overload
def dbm0_to_amplitude(dbm0: NDArray[Any]) -> FloatArray: ...
def dbm0_to_amplitude(dbm0: float | NDArray[Any]) -> float | FloatArray:
    """Peak amplitude (int16 units) of a sine at `dbm0` dBm0."""
    return DBM0_AMPLITUDE * 10.0 ** (np.asarray(dbm0, dtype=np.float64) / 20.0)


@overload
def amplitude_to_dbm0(amp: float) -> float: ...
@overload
def amplitude_to_dbm0(amp: NDArray[Any]) -> FloatArray: ...
def amplitude_to_dbm0(amp: float | NDArray[Any]) -> float | FloatArray:
    """Level in dBm0 of a sine with peak amplitude `amp` (int16 units); floors at FLOOR_DBM0."""
    return np.maximum(20.0 * np.log10(np.maximum(np.asarray(amp, np.float64), 1e-12) / DBM0_AMPLITUDE),
                      FLOOR_DBM0)


@overload
def power_to_dbm0(power: float) -> float: ...
@overload
def power_to_dbm0(power: NDArray[Any]) -> FloatArray: ...
def power_to_dbm0(power: float | NDArray[Any]) -> float | FloatArray:
    """Level in dBm0 of a mean square `power` (int16 units squared); floors at FLOOR_DBM0."""
    return np.maximum(10.0 * np.log10(np.maximum(np.asarray(power, np.float64), 1e-30) / DBM0_POWER),
                      FLOOR_DBM0)


@overload
def dbm0_to_power(dbm0: float) -> float: ...
@overload
def dbm0_to_power(dbm0: NDArray[Any]) -> FloatArray: ...
def dbm0_to_power(dbm0: float | NDArray[Any]) -> float | FloatArray:
    """Mean square (int16 units squared) of a signal at `dbm0` dBm0."""
    return DBM0_POWER * 10.0 ** (np.asarray(dbm0, dtype=np.float64) / 10.0)


@overload
def dbm0_to_rms(dbm0: float) -> float: ...
@overload
def dbm0_to_rms(dbm0: NDArray[Any]) -> FloatArray: ...
def dbm0_to_rms(dbm0: float | NDArray[Any]) -> float | FloatArray:
    """RMS value (int16 units) of a signal at `dbm0` dBm0 (a sine's is its peak over sqrt(2))."""
    return np.sqrt(dbm0_to_power(np.asarray(dbm0, dtype=np.float64)))


def frame_levels_dbm0(pcm: NDArray[np.int16], frame: int = FRAME_10MS) -> FloatArray:
    """Level in dBm0 of each complete `frame`-sample frame (10 ms by default) of 1-D int16 audio."""
    n = len(pcm) // frame
    x = np.asarray(pcm[:n * frame], dtype=np.float64).reshape(n, frame)
    return power_to_dbm0(np.einsum("ij,ij->i", x, x) / frame)


def _check_block(block: NDArray[Any], channels: int) -> NDArray[np.int16]:
    block = np.asarray(block)
    if block.dtype != np.int16:
        raise TypeError(f"int16 samples wanted, got {block.dtype}")
    if block.ndim != 2 or block.shape[0] != channels:
        raise ValueError(f"block must be shaped ({channels}, n), got {block.shape}")
    return block


def block_dbm0(block: NDArray[np.int16]) -> FloatArray:
    """Mean level in dBm0 of each row of an int16 (channels, n) block."""
    x = np.asarray(block, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"block must be shaped (channels, n>0), got {x.shape}")
    return power_to_dbm0(np.einsum("ij,ij->i", x, x, dtype=np.float64) / x.shape[1])


class LevelMeter:
    """Running power meter per channel: one-pole IIR on the squared signal, time constant tau_ms; reads dBm0."""

    def __init__(self, channels: int, tau_ms: float = 4.0, rate: int = RATE) -> None:
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels!r}")
        tau = tau_ms * rate / 1000.0
        if tau < 1.0:
            raise ValueError(f"time constant must be at least one sample, got {tau_ms} ms")
        self.channels = int(channels)
        self.alpha = 1.0 / tau                       # per-sample smoothing, like spandsp's 2**-shift
        self._b = np.array([self.alpha])
        self._a = np.array([1.0, self.alpha - 1.0])
        self.power: FloatArray = np.zeros(self.channels)        # current mean-square reading per channel

    def update(self, block: NDArray[np.int16]) -> FloatArray:
        """Feed int16 (channels, n); return the reading after the block in dBm0 per channel."""
        block = _check_block(block, self.channels)
        if block.shape[1]:
            x = block.astype(np.float64)
            y, _ = lfilter(self._b, self._a, x * x, axis=1, zi=(self.power * (1.0 - self.alpha))[:, None])
            self.power = y[:, -1].copy()
        return self.dbm0

    def trace(self, block: NDArray[np.int16]) -> FloatArray:
        """Feed int16 (channels, n); return the reading after every sample, dBm0, shape (channels, n)."""
        block = _check_block(block, self.channels)
        x = block.astype(np.float64)
        y, _ = lfilter(self._b, self._a, x * x, axis=1, zi=(self.power * (1.0 - self.alpha))[:, None])
        if block.shape[1]:
            self.power = y[:, -1].copy()
        return power_to_dbm0(y)

    @property
    def dbm0(self) -> FloatArray:
        """Current reading per channel in dBm0."""
        return power_to_dbm0(self.power)

    def reset(self, channel: int) -> None:
        """Zero one channel's reading."""
        self.power[int(channel)] = 0.0


class VoiceActivityDetector:
    """Speech/silence per channel on 10 ms frames: energy above an adaptive noise floor, attack and hangover in ms.

    A frame is loud when its level is above `threshold` dBm0 and `snr_db` above the channel's
    noise floor (seeded by the first frame, falls at once to quieter frames, rises
    `floor_rise_db_per_s` otherwise). The channel turns
    active after `attack_ms` of loud frames and back to silence after `hangover_ms` without any.
    `process` returns [(channel, active, offset), ...] for every change in this call, offset
    in samples from the start of the block (time order); `active`, `speech_ms` and
    `silence_ms` give the state per channel.
    """

    def __init__(self, channels: int, rate: int = RATE, threshold: float = -45.0, snr_db: float = 9.0,
                 attack_ms: float = 30, hangover_ms: float = 300, floor_rise_db_per_s: float = 3.0) -> None:
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels!r}")
        if rate % 100:
            raise ValueError(f"rate must be a multiple of 100 Hz, got {rate!r}")
        self.channels = int(channels)
        self.rate = int(rate)
        self.frame = self.rate // 100
        self._thr = dbm0_to_power(threshold)
        self._snr = 10.0 ** (snr_db / 10.0)
        self._attack = max(1, int(round(attack_ms / 10.0)))
        self._hang = max(1, int(round(hangover_ms / 10.0)))
        self._rise = 10.0 ** (floor_rise_db_per_s / 10.0 / 100.0)   # per 10 ms frame
        c = self.channels
        self._tail = np.zeros((c, 0), np.int16)
        self.floor = np.full(c, np.nan)   # noise floor estimate (mean square); first frame seeds it
        self.active = np.zeros(c, bool)
        self._loud_run = np.zeros(c, np.int32)
        self._quiet_run = np.zeros(c, np.int32)
        self._speech_frames = np.zeros(c, np.int64)
        self._silence_frames = np.zeros(c, np.int64)

    @property
    def speech_ms(self) -> NDArray[np.int64]:
        """ms since the current speech run started (0 while silent), per channel."""
        return np.where(self.active, self._speech_frames * 10, 0)

    @property
    def silence_ms(self) -> NDArray[np.int64]:
        """ms since the last loud frame while silent (0 while active), per channel."""
        return np.where(self.active, 0, self._silence_frames * 10)

    def reset(self, channel: int) -> None:
        """Return one channel to silence with a fresh noise floor."""
        ch = int(channel)
        self._tail[ch] = 0
        self.floor[ch] = np.nan
        self.active[ch] = False
        self._loud_run[ch] = self._quiet_run[ch] = 0
        self._speech_frames[ch] = self._silence_frames[ch] = 0

    def process(self, block: NDArray[np.int16]) -> list[tuple[int, bool, int]]:
        """Feed int16 (channels, n); return [(channel, active, offset_samples), ...] state changes in time order."""
        block = _check_block(block, self.channels)
        if self._tail.shape[1]:
            block = np.concatenate([self._tail, block], axis=1)
        lead = self._tail.shape[1]
        nf = block.shape[1] // self.frame
        used = nf * self.frame
        self._tail = block[:, used:].copy()
        if nf == 0:
            return []
        x = block[:, :used].astype(np.float32).reshape(self.channels, nf, self.frame)
        power = np.einsum("cfi,cfi->cf", x, x, dtype=np.float64) / self.frame
        events: list[tuple[int, bool, int]] = []
        for f in range(nf):
            p = power[:, f]
            floor = np.where(np.isnan(self.floor), np.maximum(p, 1e-3), self.floor)
            loud = (p > self._thr) & (p > floor * self._snr)
            # noise floor: follows quieter frames down at once, creeps up slowly all the time
            self.floor = np.where(p < floor, np.maximum(p, 1e-3), floor * self._rise)
            self._loud_run = np.where(loud, self._loud_run + 1, 0)
            self._quiet_run = np.where(loud, 0, self._quiet_run + 1)
            start = ~self.active & (self._loud_run >= self._attack)
            stop = self.active & (self._quiet_run >= self._hang)
            self._speech_frames = np.where(start, self._attack, self._speech_frames + 1)
            self._silence_frames = np.where(stop, self._hang, np.where(loud, 0, self._silence_frames + 1))
            self.active = (self.active | start) & ~stop
            if start.any() or stop.any():
                off = (f + 1) * self.frame - lead
                for ch in np.flatnonzero(start | stop).tolist():
                    events.append((ch, bool(start[ch]), max(off, 0)))
        return events
