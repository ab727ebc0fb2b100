"""Caller ID reception on analog ports: holds a line's audio between the first and second ring.

Runs per line only during that short window and only once the line carries a signal (a quiet
line is skipped); dialling, call-progress watching and caller ID sending run as banks over all
lines of a span (inband_banks.py).
"""
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.board import InbandHandler
from trunkline.dsp.callerid import CallerIDReceiver
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
