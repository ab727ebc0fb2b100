"""In-band signaling handlers for analog ports: they hold a channel's audio for a
short phase (caller ID, dialing, call progress) and use the DSP blocks of dsp/.

Each handler is per channel and runs only during its phase, so the per-tick
hot path stays vectorised in the media engine.
"""
import numpy as np

from trunkline.drivers.board import InbandHandler


class CallerIDListener(InbandHandler):
    """Decode caller ID heard between the first and second ring: DTMF (A/D...C) or FSK (V.23/Bell 202)."""

    def __init__(self, done):
        from trunkline.dsp.callerid import CallerIDReceiver
        self.done = done
        self.fsk = [CallerIDReceiver("v23"), CallerIDReceiver("bell202")]
        self.digits = ""
        self.started = False
        self.finished = False
        self.heard = False

    def digit(self, d):
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

    QUIET = (22767.0 ** 2 / 2) * 10 ** (-45 / 10)   # mean square of -45 dBm0

    def rx(self, samples):
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
            if getattr(rx, "receiving", False):
                self.fsk = [rx]          # this flavour has locked on: drop the other one

    def _finish(self, info):
        self.finished = True
        self.done(info)


class CallerIDSender(InbandHandler):
    """Send caller ID to a station between the first and second ring (FSK V.23 by default)."""

    def __init__(self, number, name="", standard="v23"):
        from trunkline.dsp.callerid import CallerIDGenerator
        self.audio = CallerIDGenerator().encode(number, name=name or None, standard=standard)
        self.pos = 0

    def tx(self, n):
        """Next n samples of the caller ID burst, then silence."""
        out = np.zeros(n, dtype=np.int16)
        chunk = self.audio[self.pos:self.pos + n]
        out[:len(chunk)] = chunk
        self.pos += n
        return out


class DigitDialer(InbandHandler):
    """Dial a number by DTMF on a seized line, then report done()."""

    def __init__(self, digits, done, on_ms=80, off_ms=80):
        from trunkline.dsp.dtmf import DTMFGenerator
        self.gen = DTMFGenerator(1, on_ms=on_ms, off_ms=off_ms)
        self.gen.put(0, digits)
        self.done = done
        self.reported = False

    def tx(self, n):
        """The next n samples of the dialing."""
        busy = self.gen.busy(0)
        block = self.gen.generate(n)[0]
        if not busy and not self.reported:
            self.reported = True
            self.done()
        return block


class ToneWatcher(InbandHandler):
    """Watch a dialed line for ringback, busy, congestion or SIT and report them once each."""

    def __init__(self, zone, report):
        from trunkline.dsp.cpa import CallProgressDetector
        self.det = CallProgressDetector(1, zone=zone)
        self.report = report
        self.seen = set()

    def rx(self, samples):
        """Feed one block of line audio."""
        for _, what in self.det.process(samples[None, :]):
            if what not in self.seen:
                self.seen.add(what)
                self.report(what)
