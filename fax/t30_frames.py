"""T.30 control frames as pure functions: frame control fields, DIS/DTC and DCS coding and parsing,
terminal identities, finding frames in a received sequence.

A frame is the HDLC frame without FCS: address 0xFF, control (0x13 final, 0x03 not final), FCF, FIF.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypedDict

__all__ = ["FCF", "NAMES", "FALLBACK", "DisCaps", "DcsSettings", "build_dis", "parse_dis", "build_dcs",
           "parse_dcs", "make_frame", "fcf_of", "find_frame", "ident_fif", "ident_in", "frame_text"]

# Frame control fields (FCF as the first octet after address/control; the X bit is bit 0)
FCF = dict(DIS=0x80, CSI=0x40, NSF=0x20, DTC=0x81, CIG=0x41, NSC=0x21, DCS=0x82, TSI=0x42, NSS=0x22,
           CFR=0x84, FTT=0x44, EOM=0x8E, MPS=0x4E, EOP=0x2E, PPS=0xBE, EOR=0xCE, RR=0x6E, MCF=0x8C,
           RTP=0xCC, RTN=0x4C, PIP=0xAC, PIN=0x2C, PPR=0xBC, RNR=0xEC, ERR=0x1C, DCN=0xFA, CRP=0x1A,
           CTC=0x12, CTR=0xC4, FCD=0x06, RCP=0x86, NULL=0x00)
NAMES = {v: k for k, v in FCF.items()}

# (modem, bit/s, DCS bits 11..14 as (b11, b12, b13, b14)); fastest first
FALLBACK: list[tuple[str, int, tuple[int, int, int, int]]] = [
    ("v17", 14400, (0, 0, 0, 1)), ("v17", 12000, (0, 1, 0, 1)), ("v17", 9600, (1, 0, 0, 1)),
    ("v29", 9600, (1, 0, 0, 0)), ("v17", 7200, (1, 1, 0, 1)), ("v29", 7200, (1, 1, 0, 0)),
    ("v27ter", 4800, (0, 1, 0, 0)), ("v27ter", 2400, (0, 0, 0, 0)),
]

# frames that carry no X bit (DIS/DTC side of the exchange) and keep their FCF as sent
_NO_X = ("DIS", "CSI", "NSF", "DTC", "CIG", "NSC")
_PLAIN_FCF = (0x80, 0x81, 0x40, 0x41, 0x20, 0x21, FCF["FCD"], FCF["RCP"])


class DisCaps(TypedDict):
    """A remote terminal's capabilities from its DIS/DTC."""
    modems: set[str]
    fine: bool
    mr: bool
    widths: set[int]
    scan_ms: int
    ecm: bool
    t6: bool
    can_send: bool
    can_receive: bool
    v27_fallback_only: bool


class DcsSettings(TypedDict):
    """The settings a DCS commands: modem (name, bit/s) or None if unknown, image coding and size."""
    modem: tuple[str, int] | None
    fine: bool
    coding: str
    width: int
    ecm: bool
    frame_size: int
    scan_ms: int


def _bit(fif: bytes, n: int) -> int:
    i = (n - 1) // 8
    return (fif[i] >> ((n - 1) % 8)) & 1 if i < len(fif) else 0


def _set(fif: bytearray, n: int, v: int = 1) -> None:
    i = (n - 1) // 8
    while len(fif) <= i:
        fif.append(0)
    if v:
        fif[i] |= 1 << ((n - 1) % 8)
    else:
        fif[i] &= ~(1 << ((n - 1) % 8)) & 0xFF


# minimum scan line time codes (bits 21,22,23) -> ms, and the DCS code we use for each DIS code
_SCAN_MS = {(0, 0, 0): 20, (0, 0, 1): 40, (0, 1, 0): 10, (1, 0, 0): 5, (0, 1, 1): 10, (1, 1, 0): 20,
            (1, 0, 1): 40, (1, 1, 1): 0}
_SCAN_DCS = {20: (0, 0, 0), 40: (0, 0, 1), 10: (0, 1, 0), 5: (1, 0, 0), 0: (1, 1, 1)}


def build_dis(modems: Iterable[str], can_receive: bool, can_send: bool, ecm: bool, dtc: bool = False) -> bytes:
    """FIF of a DIS (or DTC) for our capabilities."""
    modems = tuple(modems)
    f = bytearray(4)
    _set(f, 9, 1 if can_send else 0)
    _set(f, 10, 1 if can_receive else 0)
    if "v17" in modems:  # V.27ter + V.29 + V.17 (code 1,1,0,1 as spandsp uses it)
        for b in (11, 12, 14):
            _set(f, b)
    else:
        if "v29" in modems:
            _set(f, 11)
        if "v27ter" in modems:
            _set(f, 12)
    _set(f, 15)  # fine resolution
    _set(f, 16)  # 2-D coding
    _set(f, 17, 0)
    _set(f, 18, 1)  # widths 215, 255, 303 mm
    _set(f, 19, 0)
    _set(f, 20, 1)  # unlimited length
    for b in (21, 22, 23):
        _set(f, b)  # 0 ms minimum scan line time
    _set(f, 24)  # extend
    if ecm:
        _set(f, 27)
        _set(f, 31)  # T.6 (needs ECM)
    return bytes(f)


def parse_dis(fif: bytes) -> DisCaps:
    """Capabilities from a DIS/DTC FIF: modems, fine, 2-D, T.6, ECM, widths, scan time (ms), can send/receive."""
    m = set()
    b11, b12, b13, b14 = (_bit(fif, n) for n in (11, 12, 13, 14))
    if b12:
        m.add("v27ter")
    if b11:
        m.add("v29")
    if b14 and b11 and b12:
        m.add("v17")
    if not (b11 or b12 or b13 or b14):
        m.add("v27ter")  # fall-back mode (2400 only)
    w = (_bit(fif, 17), _bit(fif, 18))
    widths = {1728}
    if w == (0, 1):
        widths |= {2048, 2432}
    elif w == (1, 0):
        widths |= {2048}
    scan = _SCAN_MS.get((_bit(fif, 21), _bit(fif, 22), _bit(fif, 23)), 20)
    ext = _bit(fif, 24)
    return DisCaps(modems=m, fine=bool(_bit(fif, 15)), mr=bool(_bit(fif, 16)), widths=widths, scan_ms=scan,
                   ecm=bool(ext and _bit(fif, 27)), t6=bool(ext and _bit(fif, 27) and _bit(fif, 31)),
                   can_send=bool(_bit(fif, 9)), can_receive=bool(_bit(fif, 10)),
                   v27_fallback_only=not (b11 or b12 or b13 or b14))


def build_dcs(rate_bits: Sequence[int], fine: bool, coding: str, width: int, scan_ms: int, ecm: bool,
              frame64: bool = False) -> bytes:
    """FIF of a DCS."""
    f = bytearray(4)
    _set(f, 10)
    for n, v in zip((11, 12, 13, 14), rate_bits):
        _set(f, n, v)
    _set(f, 15, 1 if fine else 0)
    _set(f, 16, 1 if coding == "mr" else 0)
    wb = {1728: (0, 0), 2432: (0, 1), 2048: (1, 0)}[width]
    _set(f, 17, wb[0])
    _set(f, 18, wb[1])
    _set(f, 19, 0)
    _set(f, 20, 1)
    for n, v in zip((21, 22, 23), _SCAN_DCS[scan_ms]):
        _set(f, n, v)
    _set(f, 24)
    if ecm:
        _set(f, 27)
        _set(f, 28, 1 if frame64 else 0)
        if coding == "mmr":
            _set(f, 31)
    return bytes(f)


def parse_dcs(fif: bytes) -> DcsSettings:
    """Settings from a DCS FIF: modem, bit rate, fine, coding, width, ECM, frame size, scan time."""
    rb = tuple(_bit(fif, n) for n in (11, 12, 13, 14))
    modem = None
    for name, rate, bits in FALLBACK:
        if bits == rb:
            modem = (name, rate)
    ecm = bool(_bit(fif, 24) and _bit(fif, 27))
    if ecm and _bit(fif, 31):
        coding = "mmr"
    else:
        coding = "mr" if _bit(fif, 16) else "mh"
    wb = (_bit(fif, 17), _bit(fif, 18))
    width = {(0, 0): 1728, (0, 1): 2432, (1, 0): 2048}.get(wb, 1728)
    scan = _SCAN_MS.get((_bit(fif, 21), _bit(fif, 22), _bit(fif, 23)), 20)
    return DcsSettings(modem=modem, fine=bool(_bit(fif, 15)), coding=coding, width=width, ecm=ecm,
                       frame_size=64 if (ecm and _bit(fif, 28)) else 256, scan_ms=scan)


def make_frame(name: str, fif: bytes = b"", final: bool = True, x: int = 0) -> bytes:
    """The frame `name` (a key of FCF) with FIF `fif`; `x` is the X bit (1 once we have received a DIS)."""
    f = FCF[name]
    if name not in _NO_X:
        f |= x
    return bytes([0xFF, 0x13 if final else 0x03, f]) + bytes(fif)


def fcf_of(fr: bytes) -> int:
    """A frame's FCF without the X bit (DIS/DTC/CSI/CIG/NSF/NSC, FCD and RCP as they are)."""
    f = fr[2]
    if f in _PLAIN_FCF:
        return f
    return f & 0xFE


def frame_text(fr: bytes) -> str:
    """A frame for the session log: its name and FIF in hex."""
    return f"{NAMES.get(fcf_of(fr), hex(fr[2]))} {fr[3:].hex()}"


def find_frame(frames: Iterable[bytes], fcf: int) -> bytes | None:
    """The first frame with this FCF, or None."""
    for fr in frames:
        if fcf_of(fr) == fcf:
            return fr
    return None


def ident_fif(ident: str) -> bytes:
    """The 20-octet FIF of a TSI/CSI/CIG for a terminal identity (sent last digit first)."""
    return ident[:20].ljust(20).encode("ascii", "replace")[::-1]


def ident_in(frames: Iterable[bytes], fcf: int) -> str:
    """The terminal identity in the frame with this FCF (or FCF | 1) among frames, "" if none."""
    frames = list(frames)
    fr = find_frame(frames, fcf) or find_frame(frames, fcf | 1)
    return fr[3:][::-1].decode("ascii", "replace").strip() if fr is not None and len(fr) > 3 else ""
