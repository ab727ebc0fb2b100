"""V.21 channel 2 FSK modem (300 bit/s, mark 1650 Hz = 1, space 1850 Hz = 0) for T.30 control frames.

8 kHz int16 audio. The transmitter is continuous-phase FSK; the receiver (in C, fax/kernel/v21rx.c) is a
non-coherent quadrature correlator over one bit period with a transition-tracking bit clock.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trunkline.dsp.constants import RATE
from trunkline.dsp.level import dbm0_to_amplitude
from trunkline.fax._faxbank import ffi, lib

from .hdlc import HDLCDecoder

__all__ = ["V21Tx", "V21Rx", "run_v21", "run_v21_tx", "dbm0_to_amplitude", "RATE", "BAUD"]

BAUD = 300
MARK_HZ = 1650.0
SPACE_HZ = 1850.0
_SPB = RATE / BAUD  # samples per bit, 26.667
CHUNK = 512  # FB_RXCHUNK: samples per receiver per kernel call


class V21Tx:
    """V.21 ch2 transmitter: queue bits with send_bits(), pull audio with tx(n); the carrier stops when
    the queue empties. The modulator runs in the C kernel (fb_v21_tx); a fax bank runs all its sessions'
    V.21 transmitters in one kernel call per tick (run_v21_tx)."""

    def __init__(self, level_dbm0: float = -13.0):
        self.amp = dbm0_to_amplitude(level_dbm0)
        s: Any = ffi.new("fb_v21tx_t *")
        s.amp = self.amp
        s.done = 1
        self.s = s
        self._bits = np.zeros(0, dtype=np.uint8)

    @property
    def done(self) -> bool:
        """True when every queued bit has been sent."""
        return bool(self.s.done)

    def send_bits(self, bits: ArrayLike) -> None:
        """Queue bits (0/1) for transmission."""
        s = self.s
        new = np.asarray(bits, dtype=np.uint8)
        if new.ndim != 1:
            raise ValueError("bits must be a 1-D array of 0/1")
        whole = int(s.pos) // 80
        self._bits = np.ascontiguousarray(np.concatenate([self._bits[whole:int(s.nbits)], new]) & 1)
        s.bits = ffi.from_buffer("uint8_t[]", self._bits)
        s.pos -= 80 * whole
        s.nbits = len(self._bits)
        s.done = 0 if len(self._bits) else 1

    def tx(self, n: int) -> NDArray[np.int16]:
        """Next n samples (int16); zeros after the last bit."""
        out = np.empty(int(n), dtype=np.int16)
        lib.fb_v21_tx(ffi.new("fb_v21tx_t *[]", [self.s]), 1, ffi.from_buffer("int16_t[]", out), int(n), ffi.NULL)
        return out


def run_v21_tx(transmitters: list[V21Tx], n: int) -> NDArray[np.int16]:
    """n samples from each of many V.21 transmitters in one kernel call: int16 (len(transmitters), n)."""
    out = np.empty((len(transmitters), n), dtype=np.int16)
    if transmitters:
        lib.fb_v21_tx(ffi.new("fb_v21tx_t *[]", [t.s for t in transmitters]), len(transmitters),
                      ffi.from_buffer("int16_t[]", out), n, ffi.NULL)
    return out


class V21Rx:
    """V.21 ch2 receiver: rx(samples) demodulates; take_bits() returns bits received while carrier was present.
    The demodulator runs in the C kernel (fax/kernel/v21rx.c); a fax bank runs all its sessions' receivers in
    one kernel call per tick (run_v21). With an HDLC decoder attached (attach_hdlc), the bits go straight
    into it in the kernel and take_frames() gives the frames."""

    def __init__(self, on_dbm0: float = -43.0, off_dbm0: float = -48.0):
        ref = dbm0_to_amplitude(0.0) ** 2 / 2.0
        r: Any = ffi.new("fb_v21rx_t *")
        r.on = ref * 10 ** (on_dbm0 / 10.0)
        r.off = ref * 10 ** (off_dbm0 / 10.0)
        self.r = r
        self._hdlc: HDLCDecoder | None = None
        self._held: list[NDArray[np.uint8]] = []            # output of a long rx(), taken chunk by chunk
        self._held_frames: list[tuple[bytes, bool]] = []
        lib.fb_v21_reset(r)

    def reset(self) -> None:
        """Drop all state (carrier, clock, pending bits); an attached HDLC decoder keeps its own."""
        lib.fb_v21_reset(self.r)
        self._held = []
        self._held_frames = []

    @property
    def carrier(self) -> bool:
        """True while a V.21 carrier is detected."""
        return bool(self.r.carrier)

    @property
    def signal_lost(self) -> bool:
        """Set when the carrier drops (until reset)."""
        return bool(self.r.signal_lost)

    def attach_hdlc(self, decoder: HDLCDecoder) -> None:
        """Deframe in the kernel: demodulated bits go to `decoder` (take_frames), not to take_bits."""
        self._hdlc = decoder
        self._hstate = decoder.state   # kept alive while the kernel points at it
        self.r.hdlc = self._hstate

    def rx(self, samples: ArrayLike) -> None:
        """Demodulate a block of int16 samples (any length)."""
        x = np.asarray(samples)
        if x.dtype != np.int16:
            x = np.clip(np.asarray(x, dtype=np.float64), -32768, 32767).astype(np.int16)
        for a in range(0, len(x), CHUNK):   # the kernel's output buffers hold one chunk's bits and frames
            run_v21([self], x[None, a:a + CHUNK])
            if self._hdlc is not None:
                frames = self.take_frames()      # takes the held frames too
                self._held_frames = frames
            elif self.r.nbits:
                bits = self.take_bits()          # takes the held bits too
                self._held = [bits]

    def take_bits(self) -> NDArray[np.uint8]:
        """Bits demodulated since the last call (uint8 0/1)."""
        n = int(self.r.nbits)
        out = np.frombuffer(ffi.buffer(self.r.bits, n), dtype=np.uint8).copy()
        self.r.nbits = 0
        if self._held:
            out = np.concatenate(self._held + [out])
            self._held = []
        return out

    def take_frames(self) -> list[tuple[bytes, bool]]:
        """Frames the attached HDLC decoder completed since the last call: (data without FCS, crc_ok)."""
        nf = int(self.r.nframes)
        held, self._held_frames = self._held_frames, []
        if not nf or self._hdlc is None:
            return held
        raw = ffi.buffer(self.r.frames, int(self.r.fused))[:]
        lens = list(self.r.flen[0:nf])
        self.r.nframes = 0
        self.r.fused = 0
        return held + self._hdlc.check_frames(raw, lens)


def run_v21(receivers: list[V21Rx], audio: NDArray[np.int16]) -> None:
    """Feed each receiver its row of audio (len(receivers), n) int16, all of them in one kernel call per chunk."""
    x = np.ascontiguousarray(audio, dtype=np.int16)
    if not receivers or x.shape[1] == 0:
        return
    ptrs = ffi.new("fb_v21rx_t *[]", [v.r for v in receivers])
    for a in range(0, x.shape[1], CHUNK):
        part = np.ascontiguousarray(x[:, a:a + CHUNK])
        lib.fb_v21_run(ptrs, len(receivers), ffi.from_buffer("int16_t[]", part), part.shape[1], part.shape[1], ffi.NULL)
