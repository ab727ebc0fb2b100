"""Caller ID (CLIP / CLASS) generation and reception: FSK (Bell 202 or V.23, SDMF or MDMF) and DTMF.

    from trunkline.dsp.callerid import CallerIDGenerator, CallerIDReceiver, CallerIDBank
    audio = CallerIDGenerator.encode("13800138000", name="ZHANG SAN", when=datetime.now(),
                                     standard="v23", fmt="mdmf")         # int16 at 8 kHz
    rx = CallerIDReceiver("v23"); rx.rx(audio); rx.result
    # -> {'number': '13800138000', 'name': 'ZHANG SAN', 'datetime': datetime(...), 'reason': None,
    #     'standard': 'v23', 'format': 'mdmf'}

FSK messages (Telcordia GR-30 / ETSI EN 300 659-3 layout): channel seizure (300 alternating bits),
mark signal (180 mark bits), message type, length, body, two's complement checksum, mark postamble.
SDMF (type 0x04): MMDDHHMM then the number, or 'O' (unavailable) / 'P' (private) instead of it.
MDMF (type 0x80): parameters 0x01 date-time MMDDHHMM, 0x02 number, 0x04 reason number absent
('O'/'P'), 0x07 name, 0x08 reason name absent. The date has no year: the receiver uses `year`
(default: the current year). Levels are dBm0 (see level.py).

DTMF caller ID (ETSI EN 300 659-1 annex B / China practice): `start` digit ('A' or 'D'),
the number, then 'C'. No number: 'B' + '00' (unavailable) or '10' (private) + 'C'.
Digits are 70 ms on / 70 ms off by default. Reception uses trunkline.dsp.dtmf.DTMFDetector.

`reason` values: None (number present), "unavailable" ('O' / '00'), "private" ('P' / '10').
"""
import datetime as _dt
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .constants import RATE
from .dtmf import DTMFDetector
from .fsk import FSKModulator, FSKReceiver, async_bits
from .level import dbm0_to_amplitude

STANDARDS = ("bell202", "v23", "dtmf")
FORMATS = ("sdmf", "mdmf")
SDMF_CALLERID = 0x04
MDMF_CALLERID = 0x80
P_DATETIME, P_NUMBER, P_NUMBER_ABSENT, P_NAME, P_NAME_ABSENT = 0x01, 0x02, 0x04, 0x07, 0x08
REASON_CODES = {"unavailable": "O", "private": "P"}
REASON_NAMES = {"O": "unavailable", "P": "private"}
DTMF_REASON_CODES = {"unavailable": "00", "private": "10"}
DTMF_REASON_NAMES = {"00": "unavailable", "10": "private"}
#: a received caller ID: number, name, datetime, reason, standard, format (and name_reason, start)
CallerIDResult = dict[str, Any]

DTMF_FREQS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}


def checksum(data: Iterable[int]) -> int:
    """Two's complement of the modulo-256 sum of `data`."""
    return (-sum(data)) & 0xFF


def build_message(number: str | None = None, name: str | None = None, when: _dt.datetime | None = None,
                  fmt: str = "mdmf", reason: str | None = None) -> bytes:
    """Caller ID message bytes (type, length, body, checksum) for SDMF or MDMF."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if reason is not None and reason not in REASON_CODES:
        raise ValueError(f"reason must be None or one of {tuple(REASON_CODES)}, got {reason!r}")
    if number is not None and not str(number).isprintable():
        raise ValueError("number must be printable ASCII")
    stamp = (when or _dt.datetime.now()).strftime("%m%d%H%M").encode()
    num = None if number is None else str(number).encode("ascii")
    absent = REASON_CODES[reason or "unavailable"].encode()     # stands in for a missing number
    if fmt == "sdmf":
        if name is not None:
            raise ValueError("SDMF carries no name; use fmt='mdmf'")
        body = stamp + (num if num is not None else absent)
        mtype = SDMF_CALLERID
    else:
        body = bytes([P_DATETIME, len(stamp)]) + stamp
        if num is not None:
            body += bytes([P_NUMBER, len(num)]) + num
        else:
            body += bytes([P_NUMBER_ABSENT, 1]) + absent
        if name is not None:
            nm = str(name).encode("latin-1")
            body += bytes([P_NAME, len(nm)]) + nm
        mtype = MDMF_CALLERID
    if len(body) > 255:
        raise ValueError("caller ID message longer than 255 bytes")
    msg = bytes([mtype, len(body)]) + body
    return msg + bytes([checksum(msg)])


def parse_message(msg: bytes, year: int | None = None) -> CallerIDResult | None:
    """Decode message bytes (type, length, body[, checksum]) into the result dict; None if not caller ID."""
    if len(msg) < 2 or msg[0] not in (SDMF_CALLERID, MDMF_CALLERID):
        return None
    body = bytes(msg[2:2 + msg[1]])
    res: CallerIDResult = {"number": None, "name": None, "datetime": None, "reason": None}
    stamp = None
    if msg[0] == SDMF_CALLERID:
        res["format"] = "sdmf"
        stamp, rest = body[:8], body[8:].decode("latin-1")
        if rest in REASON_NAMES:
            res["reason"] = REASON_NAMES[rest]
        else:
            res["number"] = rest
    else:
        res["format"] = "mdmf"
        i = 0
        while i + 2 <= len(body):
            t, n = body[i], body[i + 1]
            v = body[i + 2:i + 2 + n]
            i += 2 + n
            if t == P_DATETIME:
                stamp = v
            elif t == P_NUMBER:
                res["number"] = v.decode("latin-1")
            elif t == P_NUMBER_ABSENT:
                res["reason"] = REASON_NAMES.get(v.decode("latin-1"), v.decode("latin-1"))
            elif t == P_NAME:
                res["name"] = v.decode("latin-1")
            elif t == P_NAME_ABSENT and res["name"] is None:
                res["name_reason"] = REASON_NAMES.get(v.decode("latin-1"), v.decode("latin-1"))
    if stamp and len(stamp) == 8 and stamp.isdigit():
        try:
            mo, dd, hh, mi = (int(stamp[k:k + 2]) for k in (0, 2, 4, 6))
            res["datetime"] = _dt.datetime(year or _dt.datetime.now().year, mo, dd, hh, mi)
        except ValueError:
            res["datetime"] = None
    return res


def _dtmf_audio(digits: str, on_ms: float, off_ms: float, level: float) -> NDArray[np.int16]:
    amp = float(dbm0_to_amplitude(level))
    on, off = int(on_ms * RATE / 1000), int(off_ms * RATE / 1000)
    t = np.arange(on) / RATE
    parts = [np.zeros(off)]
    for d in digits:
        lo, hi = DTMF_FREQS[d]
        parts.append(amp * (np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t)))
        parts.append(np.zeros(off))
    return np.round(np.concatenate(parts)).astype(np.int16)


class CallerIDGenerator:
    """Makes caller ID audio to send to an analog line between rings (or after polarity reversal)."""

    @staticmethod
    def encode(number: str | None, name: str | None = None, when: _dt.datetime | None = None,
               standard: str = "bell202", fmt: str = "mdmf", reason: str | None = None, level: float | None = None,
               start: str = "A", on_ms: float = 70, off_ms: float = 70) -> NDArray[np.int16]:
        """int16 samples (8 kHz) of a caller ID burst; level in dBm0 (FSK default -14, DTMF -7 per tone)."""
        if standard not in STANDARDS:
            raise ValueError(f"standard must be one of {STANDARDS}, got {standard!r}")
        if standard == "dtmf":
            if name is not None:
                raise ValueError("DTMF caller ID carries no name")
            if number is not None:
                num = str(number)
                bad = [c for c in num if c not in "0123456789*#"]
                if bad:
                    raise ValueError(f"DTMF caller ID number may hold 0-9 * # only, got {bad}")
                if start not in ("A", "D"):
                    raise ValueError(f"DTMF start digit must be 'A' or 'D', got {start!r}")
                digits = start + num + "C"
            else:
                reason = reason or "unavailable"
                if reason not in DTMF_REASON_CODES:
                    raise ValueError(f"reason must be one of {tuple(DTMF_REASON_CODES)}, got {reason!r}")
                digits = "B" + DTMF_REASON_CODES[reason] + "C"
            return _dtmf_audio(digits, on_ms, off_ms, -7.0 if level is None else level)
        msg = build_message(number, name, when, fmt, reason)
        bits = [k & 1 for k in range(300)] + [1] * 180 + async_bits(msg) + [1] * 10
        return FSKModulator(standard, -14.0 if level is None else level).modulate(bits)


class CallerIDBank:
    """Caller ID receivers for many analog ports: process(block) -> [(ch, result dict)]."""

    def __init__(self, channels: int, standard: str = "bell202", year: int | None = None) -> None:
        if standard not in STANDARDS:
            raise ValueError(f"standard must be one of {STANDARDS}, got {standard!r}")
        self.channels = int(channels)
        self.standard = standard
        self.year = year
        if standard == "dtmf":
            self.dtmf = DTMFDetector(self.channels)
            self.digits = [""] * self.channels
        else:
            self.fsk = FSKReceiver(self.channels, standard)
            self.buf = [bytearray() for _ in range(self.channels)]

    def grow(self, channels: int) -> None:
        """Take more ports (FSK standards; new ports start fresh)."""
        if self.standard == "dtmf":
            raise ValueError("a DTMF caller ID bank has a fixed number of ports")
        extra = int(channels) - self.channels
        if extra > 0:
            self.fsk.grow(channels)
            self.buf.extend(bytearray() for _ in range(extra))
            self.channels = int(channels)

    def reset(self, ch: int) -> None:
        """Forget a partial message on one port."""
        if self.standard == "dtmf":
            self.dtmf.reset(ch)
            self.digits[ch] = ""
        else:
            self.fsk.reset(ch)
            self.buf[ch] = bytearray()

    def process(self, block: NDArray[np.int16]) -> list[tuple[int, CallerIDResult]]:
        """Feed int16 (channels, n); returns [(ch, result)] for every complete, checksum-valid message."""
        out: list[tuple[int, CallerIDResult]] = []
        if self.standard == "dtmf":
            for ch, dg in self.dtmf.process(block):
                r = self._dtmf_digit(ch, dg)
                if r is not None:
                    out.append((ch, r))
            return out
        for ch, v in self.fsk.process(block):
            b = self.buf[ch]
            if isinstance(v, str):           # "mark" or "lost": a message starts afresh
                b.clear()
                continue
            b.append(v)
            if len(b) >= 2 and len(b) == b[1] + 3:
                if sum(b) & 0xFF == 0 and b[0] in (SDMF_CALLERID, MDMF_CALLERID):
                    r = parse_message(bytes(b), self.year)
                    if r is not None:
                        r["standard"] = self.standard
                        out.append((ch, r))
                b.clear()
            elif len(b) > 260:
                b.clear()
        return out

    def _dtmf_digit(self, ch: int, dg: str) -> CallerIDResult | None:
        s = self.digits[ch]
        if not s:
            if dg in "ABD":
                self.digits[ch] = dg
            return None
        if dg != "C":
            self.digits[ch] = s + dg
            return None
        self.digits[ch] = ""
        res: CallerIDResult = {"number": None, "name": None, "datetime": None, "reason": None, "standard": "dtmf",
                               "format": None}
        if s[0] == "B":
            res["reason"] = DTMF_REASON_NAMES.get(s[1:], s[1:])
        else:
            res["number"] = s[1:]
            res["start"] = s[0]
        return res


class CallerIDReceiver:
    """Caller ID receiver for one port: rx(samples) int16 1-D; .result is the last message dict or None."""

    def __init__(self, standard: str = "bell202", year: int | None = None) -> None:
        self.bank = CallerIDBank(1, standard, year)
        self.result: CallerIDResult | None = None

    def rx(self, samples: NDArray[np.int16]) -> CallerIDResult | None:
        """Feed int16 samples (any length); returns the result once a message has been received."""
        a = np.asarray(samples, dtype=np.int16).reshape(1, -1)
        for _, r in self.bank.process(a):
            self.result = r
        return self.result

    def reset(self) -> None:
        """Clear state and the last result."""
        self.bank.reset(0)
        self.result = None
