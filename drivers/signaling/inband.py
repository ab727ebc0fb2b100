"""In-band signaling handlers for analog ports: they hold a channel's audio for a
short phase (caller ID, dialing, call progress) and use the DSP blocks of dsp/.

Each handler is per channel and runs only during its phase, so the per-tick
hot path stays vectorised in the media engine.
"""
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.board import InbandHandler
from trunkline.dsp.callerid import CallerIDGenerator, CallerIDReceiver
from trunkline.dsp.cpa import CallProgressDetector
from trunkline.dsp.dtmf import DTMFGenerator
from trunkline.dsp.level import dbm0_to_power


class CallerIDListener(InbandHandler):
    """Decode caller ID heard between the first and second ring: DTMF (A/D...C) or FSK (V.23/Bell 202)."""

    def __init__(self, done: Callable[[dict[str, Any]], None]) -> None:
        self.done = done
        self.fsk = [CallerIDReceiver("v23"), CallerIDReceiver("bell202")]
        self.digits = ""
        self.started = False
        self.finished = False
        self.heard = False

    def digit(self, d: str) -> None:
        """A DTMF digit the card's detector heard on this line (the engine detects for all channels)."""
        if self.finished:
            return
        if d in "AD" and not self.started:
            self.started, self.digits = True, ""
            self.fsk = []            # DTMF caller ID under way: stop demodulating FSK
        elif d == "C" and self.started:
            self._finish({"number": self.digits, "standard": "dtmf"})
        elif self.started and d in "0123456789":
            self.digits += d

    QUIET = dbm0_to_power(-45.0)   # mean square of -45 dBm0

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Feed one block of line audio (FSK caller ID); silent line before the burst is skipped."""
        if self.finished or not self.fsk:
            return
        if not self.heard:
            if float(np.mean(samples.astype(np.float32) ** 2)) < self.QUIET:
                return
            self.heard = True
        for rx in self.fsk:
            rx.rx(samples)
            if rx.result:
                self._finish(dict(rx.result))
                return

    def _finish(self, info: dict[str, Any]) -> None:
        self.finished = True
        self.done(info)


class CallerIDSender(InbandHandler):
    """Send caller ID to a station between the first and second ring (FSK V.23 by default)."""

    def __init__(self, number: str, name: str = "", standard: str = "v23") -> None:
        self.audio = CallerIDGenerator().encode(number, name=name or None, standard=standard)
        self.pos = 0

    def tx(self, n: int) -> NDArray[np.int16]:
        """Next n samples of the caller ID burst, then silence."""
        out = np.zeros(n, dtype=np.int16)
        chunk = self.audio[self.pos:self.pos + n]
        out[:len(chunk)] = chunk
        self.pos += n
        return out


class DigitDialer(InbandHandler):
    """Dial a number by DTMF on a seized line, then report done()."""

    def __init__(self, digits: str, done: Callable[[], None], on_ms: float = 80, off_ms: float = 80) -> None:
        self.gen = DTMFGenerator(1, on_ms=on_ms, off_ms=off_ms)
        self.gen.put(0, digits)
        self.done = done
        self.reported = False

    def tx(self, n: int) -> NDArray[np.int16]:
        """The next n samples of the dialing."""
        busy = self.gen.busy(0)
        block = self.gen.generate(n)[0]
        if not busy and not self.reported:
            self.reported = True
            self.done()
        return block


class ToneWatcher(InbandHandler):
    """Watch a dialed line for ringback, busy, congestion or SIT and report them once each."""

    def __init__(self, zone: str, report: Callable[[str], None]) -> None:
        self.det = CallProgressDetector(1, zone=zone)
        self.report = report
        self.seen: set[str] = set()

    def rx(self, samples: NDArray[np.int16]) -> None:
        """Feed one block of line audio."""
        for _, what in self.det.process(samples[None, :]):
            if what not in self.seen:
                self.seen.add(what)
                self.report(what)
