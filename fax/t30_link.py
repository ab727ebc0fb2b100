"""The core a T.30 session's phases share: audio in and out, V.21 control frames (HDLC), the image
modem, the T.30 timers and the outcome.

The phases are generators run one step per received block: `yield` waits for the next block of audio,
`yield from link.recv_frames(T4)` waits for a command or response. Times are counted in samples of
received audio (8000 per second).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.constants import RATE
from trunkline.dsp.level import dbm0_to_amplitude

from . import hdlc
from .modems import ModemRx, ModemTx, make_rx, make_tx
from .result import FaxResult
from .t30_frames import frame_text, make_frame
from .v21 import V21Rx, V21Tx

__all__ = ["T30Link", "T30Failure", "Step", "RATE", "T1", "T2", "T4", "T5", "GAP", "CadencedTone"]

T1 = 35 * RATE  # waiting for the other terminal to be identified
T2 = 6 * RATE  # waiting for a command
T4 = 3 * RATE  # waiting for a response
T5 = 60 * RATE  # receiver not ready
GAP = 600  # 75 ms between the end of a received signal and our transmission

_log = logging.getLogger("trunkline.fax.t30")

R = TypeVar("R")
#: a phase of the procedure: a generator advanced once per received block, returning R at its end
Step = Generator[None, None, R]


class T30Failure(Exception):
    """The procedure failed (timer expired, remote refused or disconnected): the session sends DCN."""


class _Source(Protocol):
    def tx(self, n: int) -> NDArray[np.int16]: ...


class CadencedTone:
    """Cadenced sine (CNG, CED): on/off in samples, repeated; `total` samples in all when given."""

    def __init__(self, freq: float, level_dbm0: float, on: int, off: int, total: int | None = None) -> None:
        self.freq, self.amp, self.on, self.off = freq, dbm0_to_amplitude(level_dbm0), on, off
        self.pos = 0
        self.total = total
        self.done = False

    def tx(self, n: int) -> NDArray[np.int16]:
        """The next n samples."""
        t = self.pos + np.arange(n)
        period = self.on + self.off
        gate = (t % period) < self.on if self.off else np.ones(n, bool)
        if self.total is not None:
            gate &= t < self.total
            if self.pos + n >= self.total:
                self.done = True
        self.pos += n
        return np.where(gate, self.amp * np.sin(2 * np.pi * self.freq * t / RATE), 0).astype(np.int16)


class T30Link:
    """One terminal's side of the line: what it sends (tone, V.21 frames, image modem, silence), the frames
    and image data it receives, the image modem in use, and the outcome so far (`out`)."""

    def __init__(self, calling: bool, modems: Sequence[str], ecm: bool, ident: str,
                 log: Callable[[str], object] | None = None) -> None:
        self.calling = calling
        self.modems = tuple(m for m in modems if m in ("v27ter", "v29", "v17"))
        if not self.modems:
            raise ValueError("no usable modems given (v27ter, v29, v17)")
        self.ecm = ecm
        self.ident = ident
        self.log = log
        self.now = 0
        self.v21rx = V21Rx()
        self.hdlc_rx = hdlc.HDLCDecoder()
        self.v21rx.attach_hdlc(self.hdlc_rx)    # V.21 bits are deframed in the kernel
        self.src: _Source | None = None
        self._transmitting = False
        self.frames: list[bytes] = []          # complete control frames received, not yet consumed
        self.hsrx: ModemRx | None = None
        self.hs_name = ""
        self.hs_rate = 0
        self.dis_received = 0                  # the X bit of our commands: 1 once a DIS was received
        self.out = FaxResult(reason="")
        self._v21_skipped = False

    # ------------------------------------------------------------------ audio plumbing
    def tx(self, n: int) -> NDArray[np.int16]:
        """Next n int16 samples to send."""
        s = self.src
        if s is None:
            self._transmitting = False
            return np.zeros(n, dtype=np.int16)
        out = np.asarray(s.tx(n), dtype=np.int16)
        if len(out) < n:
            out = np.concatenate([out, np.zeros(n - len(out), np.int16)])
        return out

    def v21_listening(self) -> V21Rx | None:
        """The V.21 receiver if it is to hear this block: idle while image data is on the line (saves its cost),
        reset when it comes back."""
        hs = self.hsrx
        if hs is not None and hs.busy:
            self._v21_skipped = True
            return None
        if self._v21_skipped:
            self.v21rx.reset()
            self._v21_skipped = False
        return self.v21rx

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Demodulate received samples (V.21 frames, image modem) and count their time. A fax bank may have
        run the demodulators of this block already (V21Rx.fed, V17Rx.prefeed): only their output is taken."""
        v21 = self.v21rx
        if not v21.fed:
            listening = self.v21_listening()
            if listening is not None:
                listening.rx(samples)
        for fr, ok in v21.take_frames():
            if ok and not self._transmitting and len(fr) >= 3 and fr[0] == 0xFF:
                self.frames.append(fr)
                self.note(f"rx {frame_text(fr)}")
        if self.hsrx is not None:
            self.hsrx.rx(samples)
        self.now += len(samples)

    def note(self, msg: str) -> None:
        """A line for the session log (the `log` callable) and the debug log."""
        text = f"{self.now / RATE:8.3f} {'caller' if self.calling else 'answer'} {msg}"
        if self.log:
            self.log(text)
        _log.debug("%s", text)

    # ------------------------------------------------------------------ primitives
    def wait(self, samples: int) -> Step[None]:
        """Let `samples` of received audio pass."""
        end = self.now + samples
        while self.now < end:
            yield

    def frame(self, name: str, fif: bytes = b"", final: bool = True) -> bytes:
        """Our frame `name` with the X bit set once a DIS was received."""
        return make_frame(name, fif, final, self.dis_received)

    def send_frames(self, frames: Sequence[bytes], preamble_s: float = 1.0) -> Step[None]:
        """Send frames on V.21 (with a preamble of flags); received frames are dropped meanwhile."""
        for fr in frames:
            self.note(f"tx {frame_text(fr)}")
        bits = hdlc.HDLCEncoder().encode(list(frames), preamble_flags=max(1, int(preamble_s * 300 / 8)),
                                         between_flags=1, closing_flags=2)
        t = V21Tx()
        t.send_bits(bits)
        self.src = t
        self._transmitting = True
        while not t.done:
            yield
        self.src = None
        yield from self.wait(160)
        self._transmitting = False
        self.frames.clear()

    def recv_frames(self, timeout: int) -> Step[list[bytes] | None]:
        """Wait for a complete frame sequence (up to one with the final bit); None on timeout."""
        end = self.now + timeout
        got = []
        while True:
            while self.frames:
                fr = self.frames.pop(0)
                got.append(fr)
                if fr[1] == 0x13:
                    return got
            if self.now >= end and not self.v21rx.carrier:
                return got or None
            if self.now >= end + 3 * RATE:
                return got or None
            yield

    def send_hs(self, bits: NDArray[np.uint8], short_train: bool = False) -> Step[None]:
        """Send bits on the image modem (hs_name at hs_rate), training first, 75 ms after the last signal."""
        yield from self.wait(GAP)
        t: ModemTx = make_tx(self.hs_name, self.hs_rate, short_train=short_train)
        t.send_bits(np.asarray(bits, dtype=np.uint8))
        t.finish()
        self.src = t
        self._transmitting = True
        while not t.done:
            yield
        self.src = None
        self._transmitting = False

    def start_hs_rx(self) -> ModemRx:
        """Listen on the image modem (hs_name at hs_rate) from now on; returns its receiver."""
        self.hsrx = make_rx(self.hs_name, self.hs_rate)
        return self.hsrx

    def stop_hs_rx(self) -> None:
        """Stop listening on the image modem."""
        self.hsrx = None
