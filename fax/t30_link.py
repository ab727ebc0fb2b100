"""The core a T.30 session's phases share: audio in and out, V.21 control frames (HDLC), the image
modem, the T.30 timers and the outcome.

The phases are generators run one step per received block: `yield` waits for the next block of audio,
`yield from link.recv_frames(T4)` waits for a command or response. Times are counted in samples of
received audio (8000 per second).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.constants import RATE
from trunkline.dsp.level import dbm0_to_amplitude
from trunkline.fax._faxbank import ffi, lib

from . import hdlc
from .modem_tx import ModemTxBase
from .modems import ModemRx, ModemTx, make_rx, make_tx
from .result import FaxResult
from .t30_frames import frame_text, make_frame
from .v17 import V17Rx, V17Tx
from .v21 import V21Rx, V21Tx

__all__ = ["T30Link", "T30Failure", "Step", "RATE", "T1", "T2", "T4", "T5", "GAP", "FOREVER", "CadencedTone"]

T1 = 35 * RATE  # waiting for the other terminal to be identified
T2 = 6 * RATE  # waiting for a command
T4 = 3 * RATE  # waiting for a response
T5 = 60 * RATE  # receiver not ready
GAP = 600  # 75 ms between the end of a received signal and our transmission
#: sleep_until of a phase waiting only for an event (a transmitter done, a receiver's output)
FOREVER = 1 << 62

_log = logging.getLogger("trunkline.fax.t30")

R = TypeVar("R")
#: a phase of the procedure: a generator advanced once per received block, returning R at its end
Step = Generator[None, None, R]


class T30Failure(Exception):
    """The procedure failed (timer expired, remote refused or disconnected): the session sends DCN."""


class _Source(Protocol):
    def tx(self, n: int) -> NDArray[np.int16]: ...


class CadencedTone:
    """Cadenced sine (CNG, CED): on/off in samples, repeated; `total` samples in all when given. Made by the C
    kernel (fb_tone_tx); a fax bank makes all its sessions' tones in one call per tick."""

    def __init__(self, freq: float, level_dbm0: float, on: int, off: int, total: int | None = None) -> None:
        if on < 0 or off < 0 or (off and on + off <= 0):
            raise ValueError("tone cadence must be on >= 0, off >= 0 samples")
        self.freq, self.amp, self.on, self.off = freq, dbm0_to_amplitude(level_dbm0), on, off
        self.total = total
        s: Any = ffi.new("fb_tone_t *")
        s.amp, s.freq, s.on, s.off = self.amp, float(freq), on, off
        s.total = -1 if total is None else total
        self.s = s

    @property
    def done(self) -> bool:
        """True once `total` samples have been made."""
        return bool(self.s.done)

    @property
    def pos(self) -> int:
        """Samples made so far."""
        return int(self.s.pos)

    def tx(self, n: int) -> NDArray[np.int16]:
        """The next n samples."""
        out = np.empty(int(n), dtype=np.int16)
        lib.fb_tone_tx(ffi.new("fb_tone_t *[]", [self.s]), 1, ffi.from_buffer("int16_t[]", out), int(n), ffi.NULL)
        return out


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
        # A fax bank may skip stepping the session until `now` reaches sleep_until, unless an event comes
        # first: a V.21 frame received, the transmitter done, the V.17 receiver's bits or state changed.
        # None: step every block. Set by the waiting primitives just before they yield; cleared by every step.
        self.sleep_until: int | None = None
        self.bank_fed = False   # a bank runs the V.21 and V.17 demodulators (rx() takes only their output)

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
        """The V.21 receiver if it is to hear this block: idle while image data is on the line, received or sent by
        us (half duplex: the far end is silent then, and a frame heard while we transmit is dropped anyway; saves
        its cost), reset when it comes back."""
        hs = self.hsrx
        if (hs is not None and hs.busy) or isinstance(self.src, ModemTxBase):
            self._v21_skipped = True
            return None
        if self._v21_skipped:
            self.v21rx.reset()
            self._v21_skipped = False
        return self.v21rx

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Demodulate received samples (V.21 frames, image modem) and count their time. In a fax bank
        (bank_fed) the bank's kernels run the V.21 and V.17 demodulators: only their output is taken here."""
        v21 = self.v21rx
        bank = self.bank_fed
        if not bank:
            listening = self.v21_listening()
            if listening is not None:
                listening.rx(samples)
        for fr, ok in v21.take_frames():
            if ok and not self._transmitting and len(fr) >= 3 and fr[0] == 0xFF:
                self.frames.append(fr)
                self.note(f"rx {frame_text(fr)}")
        if self.hsrx is not None and not (bank and isinstance(self.hsrx, V17Rx)):
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
            self.sleep_until = end
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
            self.sleep_until = FOREVER
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
            self.sleep_until = end if self.now < end else None
            yield

    def send_hs(self, bits: NDArray[np.uint8] | hdlc.PackedBits, short_train: bool = False) -> Step[None]:
        """Send bits (0/1 octets, or packed) on the image modem (hs_name at hs_rate), training first, 75 ms after
        the last signal."""
        yield from self.wait(GAP)
        t: ModemTx = make_tx(self.hs_name, self.hs_rate, short_train=short_train)
        if isinstance(bits, hdlc.PackedBits):
            if isinstance(t, V17Tx):
                t.send_packed(bits)
            else:
                t.send_bits(bits.unpacked())
        else:
            t.send_bits(np.asarray(bits, dtype=np.uint8))
        t.finish()
        self.src = t
        self._transmitting = True
        while not t.done:
            self.sleep_until = FOREVER
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
