"""SMS PDUs (3GPP TS 23.040 / GSM 03.40): SUBMIT, DELIVER, STATUS-REPORT; GSM 7-bit and UCS-2; UDH concatenation.

Everything here works on bytes; `hex` helpers give the upper-case hex strings AT+CMGS / +CMGR carry.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# GSM 03.38 default alphabet, index = septet value
GSM7_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
assert len(GSM7_BASIC) == 128
#: extension table, reached through ESC (0x1B)
GSM7_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
            0x40: "|", 0x65: "€"}
_BASIC_REV = {c: i for i, c in enumerate(GSM7_BASIC) if i != 0x1B}
_EXT_REV = {c: i for i, c in GSM7_EXT.items()}

DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08

SINGLE_LIMIT = {DCS_GSM7: 160, DCS_UCS2: 140}   # septets / octets without a UDH
PART_LIMIT = {DCS_GSM7: 153, DCS_UCS2: 134}     # with a 6-octet concatenation UDH


class PduError(ValueError):
    """A PDU that cannot be parsed or a message that cannot be encoded."""


# ---------------------------------------------------------------- alphabets

def gsm7_encodable(text: str) -> bool:
    """True when every character of `text` is in the GSM 7-bit default alphabet or its extension."""
    return all(c in _BASIC_REV or c in _EXT_REV for c in text)


def gsm7_septets(text: str) -> list[int]:
    """Septet values for `text` (extension characters become ESC + code); raises PduError otherwise."""
    out = []
    for c in text:
        if c in _BASIC_REV:
            out.append(_BASIC_REV[c])
        elif c in _EXT_REV:
            out += [0x1B, _EXT_REV[c]]
        else:
            raise PduError(f"character {c!r} is not in the GSM 7-bit alphabet")
    return out


def gsm7_text(septets: Iterable[int]) -> str:
    """Text for a list of septet values (ESC sequences resolved)."""
    out, esc = [], False
    for s in septets:
        if esc:
            out.append(GSM7_EXT.get(s, GSM7_BASIC[s] if s != 0x1B else " "))
            esc = False
        elif s == 0x1B:
            esc = True
        else:
            out.append(GSM7_BASIC[s])
    return "".join(out)


def pack7(septets: Sequence[int], fill_bits: int = 0) -> bytes:
    """Pack septets into octets, LSB first, after `fill_bits` zero bits (for UDH alignment)."""
    acc, nbits, out = 0, fill_bits, bytearray()
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack7(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Unpack `count` septets from packed octets, skipping `fill_bits` leading bits."""
    acc = int.from_bytes(bytes(data), "little")
    need = fill_bits + 7 * count
    if need > 8 * len(data):
        raise PduError(f"user data too short: {len(data)} octets for {count} septets")
    return [(acc >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


# ---------------------------------------------------------------- addresses, timestamps

def encode_address(number: str) -> bytes:
    """TP address field: digit count, type of address (0x91 international when '+', else 0x81), BCD digits."""
    intl = number.startswith("+")
    digits = number[1:] if intl else number
    if not digits or not all(c in "0123456789*#" for c in digits):
        raise PduError(f"bad phone number {number!r}")
    return bytes([len(digits), 0x91 if intl else 0x81]) + _bcd(digits)


def _bcd(digits: str) -> bytes:
    m = {"*": 0xA, "#": 0xB}
    nib = [m[c] if c in m else int(c) for c in digits]
    if len(nib) % 2:
        nib.append(0xF)
    return bytes(nib[i] | (nib[i + 1] << 4) for i in range(0, len(nib), 2))


def _unbcd(data: bytes, ndigits: int) -> str:
    out = []
    for b in data:
        for n in (b & 0xF, b >> 4):
            out.append("0123456789*#abc"[n] if n < 0xF else "")
    return "".join(out)[:ndigits]


def decode_address(pdu: bytes, i: int) -> tuple[str, int]:
    """Decode a TP address at offset `i`; returns (number, next offset). Alphanumeric senders decoded as 7-bit."""
    ndigits, toa = pdu[i], pdu[i + 1]
    nbytes = (ndigits + 1) // 2
    raw = pdu[i + 2:i + 2 + nbytes]
    if len(raw) < nbytes:
        raise PduError("address runs past the end of the PDU")
    if (toa >> 4) & 0x7 == 0x5:  # alphanumeric
        number = gsm7_text(unpack7(raw, ndigits * 4 // 7))
    else:
        number = _unbcd(raw, ndigits)
        if (toa >> 4) & 0x7 == 0x1:
            number = "+" + number
    return number, i + 2 + nbytes


def decode_smsc(pdu: bytes) -> tuple[str, int]:
    """The SMSC number in front of a TPDU (length in octets); returns (number or '', TPDU offset)."""
    n = pdu[0]
    if n == 0:
        return "", 1
    toa, digits = pdu[1], _unbcd(pdu[2:1 + n], 2 * (n - 1))
    return ("+" if (toa >> 4) & 0x7 == 1 else "") + digits, 1 + n


def encode_timestamp(t: dt.datetime) -> bytes:
    """TP-SCTS: 7 swapped-BCD octets (yy mm dd hh mm ss tz in quarter hours)."""
    off = t.utcoffset() or dt.timedelta(0)
    q = int(off.total_seconds() // 900)
    vals = [t.year % 100, t.month, t.day, t.hour, t.minute, t.second]
    out = bytes(((v % 10) << 4) | (v // 10) for v in vals)
    tz = ((abs(q) % 10) << 4) | (abs(q) // 10) | (0x08 if q < 0 else 0)
    return out + bytes([tz])


def decode_timestamp(b: bytes) -> dt.datetime:
    """Decode a 7-octet TP-SCTS into an aware datetime."""
    v = [(x & 0xF) * 10 + (x >> 4) for x in b[:6]]
    tzb = b[6]
    q = (tzb & 0x7) * 10 + (tzb >> 4)
    if tzb & 0x08:
        q = -q
    try:
        return dt.datetime((2000 if v[0] < 70 else 1900) + v[0], v[1], v[2], v[3], v[4], v[5],
                           tzinfo=dt.timezone(dt.timedelta(minutes=15 * q)))
    except ValueError as exc:
        raise PduError(f"bad timestamp {b.hex()}: {exc}") from None


# ---------------------------------------------------------------- user data

@dataclass
class Concat:
    """Concatenation info from a UDH: reference, total parts, this part's sequence number (1-based)."""
    ref: int
    total: int
    seq: int


def _udh_bytes(concat: Concat | None) -> bytes:
    if concat is None:
        return b""
    if concat.ref > 0xFF:
        ie = bytes([0x08, 4, concat.ref >> 8, concat.ref & 0xFF, concat.total, concat.seq])
    else:
        ie = bytes([0x00, 3, concat.ref, concat.total, concat.seq])
    return bytes([len(ie)]) + ie


def _parse_udh(udh: bytes) -> Concat | None:
    i, concat = 0, None
    while i + 2 <= len(udh):
        iei, ln = udh[i], udh[i + 1]
        body = udh[i + 2:i + 2 + ln]
        if iei == 0x00 and ln == 3:
            concat = Concat(body[0], body[1], body[2])
        elif iei == 0x08 and ln == 4:
            concat = Concat((body[0] << 8) | body[1], body[2], body[3])
        i += 2 + ln
    return concat


def encode_user_data(text: str, dcs: int, concat: Concat | None = None) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) for `text` in alphabet `dcs`, with a concatenation UDH when `concat` is given."""
    udh = _udh_bytes(concat)
    if dcs == DCS_GSM7:
        septets = gsm7_septets(text)
        if not udh:
            return len(septets), pack7(septets)
        hdr_septets = (len(udh) * 8 + 6) // 7
        fill = hdr_septets * 7 - len(udh) * 8
        return hdr_septets + len(septets), udh + pack7(septets, fill)
    if dcs == DCS_UCS2:
        body = text.encode("utf-16-be")
        return len(udh) + len(body), udh + body
    raise PduError(f"unsupported data coding scheme 0x{dcs:02X}")


def alphabet_of(dcs: int) -> int:
    """Map a TP-DCS octet to DCS_GSM7, DCS_8BIT or DCS_UCS2 (general and 0xF0 groups)."""
    if dcs & 0xC0 == 0x00 or dcs & 0xF0 in (0xC0, 0xD0):
        a = (dcs >> 2) & 0x3 if dcs & 0xC0 == 0 else 0
        return {0: DCS_GSM7, 1: DCS_8BIT, 2: DCS_UCS2}.get(a, DCS_8BIT)
    if dcs & 0xF0 == 0xE0:
        return DCS_UCS2
    if dcs & 0xF0 == 0xF0:
        return DCS_8BIT if dcs & 0x04 else DCS_GSM7
    raise PduError(f"unsupported data coding scheme 0x{dcs:02X}")


def decode_user_data(ud: bytes, udl: int, dcs: int, udhi: bool) -> tuple[str, Concat | None]:
    """(text, concat) from TP-UD."""
    alpha = alphabet_of(dcs)
    udh, concat = b"", None
    if udhi:
        if not ud:
            raise PduError("UDHI set but user data empty")
        udh = ud[:1 + ud[0]]
        concat = _parse_udh(udh[1:])
    if alpha == DCS_GSM7:
        hdr_septets = (len(udh) * 8 + 6) // 7 if udh else 0
        fill = hdr_septets * 7 - len(udh) * 8
        septets = unpack7(ud[len(udh):], udl - hdr_septets, fill)
        return gsm7_text(septets), concat
    body = ud[len(udh):udl]
    if alpha == DCS_UCS2:
        if len(body) % 2:
            raise PduError("odd UCS-2 user data length")
        return body.decode("utf-16-be", errors="replace"), concat
    return body.decode("latin-1"), concat


# ---------------------------------------------------------------- splitting

def choose_dcs(text: str) -> int:
    """DCS_GSM7 when the text fits the GSM alphabet, else DCS_UCS2."""
    return DCS_GSM7 if gsm7_encodable(text) else DCS_UCS2


def split_text(text: str, dcs: int) -> list[str]:
    """Split text into segments that each fit one SMS (single, or concatenated parts); never splits an
    extension character or a UTF-16 surrogate pair."""
    def size(c: str) -> int:
        if dcs == DCS_GSM7:
            return 2 if c in _EXT_REV else 1
        return len(c.encode("utf-16-be"))
    total = sum(size(c) for c in text)
    if total <= SINGLE_LIMIT[dcs]:
        return [text]
    limit = PART_LIMIT[dcs]
    parts: list[str] = []
    cur: list[str] = []
    n = 0
    for c in text:
        s = size(c)
        if n + s > limit:
            parts.append("".join(cur))
            cur, n = [], 0
        cur.append(c)
        n += s
    if cur:
        parts.append("".join(cur))
    if len(parts) > 255:
        raise PduError(f"message too long: {len(parts)} parts (max 255)")
    return parts


# ---------------------------------------------------------------- SUBMIT

@dataclass
class Submit:
    """A decoded SMS-SUBMIT."""
    number: str
    text: str
    dcs: int
    mr: int = 0
    status_report: bool = False
    concat: Concat | None = None
    validity: int | None = None


def encode_submit(number: str, text: str, dcs: int | None = None, *, mr: int = 0, status_report: bool = False,
                  concat: Concat | None = None, validity: int | None = 0xAA, smsc: bool = True) -> bytes:
    """One SMS-SUBMIT (with a leading 00 SMSC octet when `smsc`); text must fit a single PDU."""
    dcs = choose_dcs(text) if dcs is None else dcs
    udl, ud = encode_user_data(text, dcs, concat)
    if len(ud) > 140:
        raise PduError(f"user data {len(ud)} octets exceeds 140; split the text first")
    fo = 0x01 | (0x10 if validity is not None else 0) | (0x20 if status_report else 0) | (0x40 if concat else 0)
    out = bytearray(b"\x00" if smsc else b"")
    out += bytes([fo, mr & 0xFF]) + encode_address(number) + bytes([0x00, dcs])
    if validity is not None:
        out.append(validity)
    out.append(udl)
    out += ud
    return bytes(out)


def submit_pdus(number: str, text: str, *, ref: int = 0, status_report: bool = False) -> list[bytes]:
    """All SMS-SUBMIT PDUs (with 00 SMSC octet) for a message, concatenated with reference `ref` when long."""
    dcs = choose_dcs(text)
    parts = split_text(text, dcs)
    if len(parts) == 1:
        return [encode_submit(number, text, dcs, status_report=status_report)]
    return [encode_submit(number, p, dcs, status_report=status_report, concat=Concat(ref & 0xFF, len(parts), i + 1))
            for i, p in enumerate(parts)]


def tpdu_length(pdu: bytes) -> int:
    """The length AT+CMGS wants: octets of the TPDU, excluding the SMSC part."""
    return len(pdu) - 1 - pdu[0]


def decode_submit(pdu: bytes, smsc: bool = True) -> Submit:
    """Decode an SMS-SUBMIT (as the network side sees it)."""
    try:
        i = decode_smsc(pdu)[1] if smsc else 0
        fo = pdu[i]
        if fo & 0x03 != 0x01:
            raise PduError(f"not an SMS-SUBMIT (first octet 0x{fo:02X})")
        mr = pdu[i + 1]
        number, i = decode_address(pdu, i + 2)
        dcs = pdu[i + 1]
        i += 2
        vpf = (fo >> 3) & 0x3
        validity = None
        if vpf == 0x2:
            validity = pdu[i]
            i += 1
        elif vpf in (0x1, 0x3):
            i += 7
        udl = pdu[i]
        text, concat = decode_user_data(pdu[i + 1:], udl, dcs, bool(fo & 0x40))
    except IndexError:
        raise PduError("PDU truncated") from None
    return Submit(number, text, alphabet_of(dcs), mr, bool(fo & 0x20), concat, validity)


# ---------------------------------------------------------------- DELIVER / STATUS-REPORT

@dataclass
class Deliver:
    """A decoded SMS-DELIVER (an incoming message or part)."""
    sender: str
    text: str
    dcs: int
    timestamp: dt.datetime
    smsc: str = ""
    concat: Concat | None = None


@dataclass
class StatusReport:
    """A decoded SMS-STATUS-REPORT: `mr` of the submitted message, `status` (0x00 delivered), times."""
    mr: int
    recipient: str
    status: int
    sc_time: dt.datetime
    discharge_time: dt.datetime
    smsc: str = ""

    @property
    def delivered(self) -> bool:
        """True when TP-ST says the short message was received by the recipient (0x00-0x1F)."""
        return self.status < 0x20


#: a decoded mobile-terminated PDU
Message = Deliver | StatusReport


def encode_deliver(sender: str, text: str, when: dt.datetime, dcs: int | None = None,
                   concat: Concat | None = None, smsc: str = "") -> bytes:
    """One SMS-DELIVER with its SMSC prefix (what +CMGR returns)."""
    dcs = choose_dcs(text) if dcs is None else dcs
    udl, ud = encode_user_data(text, dcs, concat)
    sc = b"\x00" if not smsc else bytes([1 + len(_bcd(smsc.lstrip("+"))), 0x91]) + _bcd(smsc.lstrip("+"))
    fo = 0x04 | (0x40 if concat else 0)
    return sc + bytes([fo]) + encode_address(sender) + bytes([0x00, dcs]) + encode_timestamp(when) + bytes([udl]) + ud


def encode_status_report(mr: int, recipient: str, status: int, sc_time: dt.datetime,
                         discharge_time: dt.datetime) -> bytes:
    """One SMS-STATUS-REPORT with an empty SMSC prefix."""
    return (b"\x00" + bytes([0x06, mr & 0xFF]) + encode_address(recipient) + encode_timestamp(sc_time)
            + encode_timestamp(discharge_time) + bytes([status]))


def decode(pdu: bytes) -> Message:
    """Decode an MT PDU (with SMSC prefix) into a Deliver or a StatusReport."""
    try:
        smsc, i = decode_smsc(pdu)
        fo = pdu[i]
        mti = fo & 0x03
        if mti == 0x00:
            sender, i = decode_address(pdu, i + 1)
            dcs = pdu[i + 1]
            ts = decode_timestamp(pdu[i + 2:i + 9])
            udl = pdu[i + 9]
            text, concat = decode_user_data(pdu[i + 10:], udl, dcs, bool(fo & 0x40))
            return Deliver(sender, text, alphabet_of(dcs), ts, smsc, concat)
        if mti == 0x02:
            mr = pdu[i + 1]
            rcpt, i = decode_address(pdu, i + 2)
            scts = decode_timestamp(pdu[i:i + 7])
            dt_ = decode_timestamp(pdu[i + 7:i + 14])
            return StatusReport(mr, rcpt, pdu[i + 14], scts, dt_, smsc)
    except IndexError:
        raise PduError("PDU truncated") from None
    raise PduError(f"unsupported message type indicator {mti}")


# ---------------------------------------------------------------- reassembly

@dataclass
class Reassembler:
    """Collects concatenated parts by (sender, ref, total) and returns the whole text when complete."""
    pending: dict[tuple[str, int, int], dict[int, str]] = field(default_factory=dict)

    def add(self, sender: str, text: str, concat: Concat | None) -> str | None:
        """Add one part; returns the joined text when all parts are in, else None."""
        if concat is None or concat.total <= 1:
            return text
        key = (sender, concat.ref, concat.total)
        parts = self.pending.setdefault(key, {})
        parts[concat.seq] = text
        if len(parts) == concat.total and all(s in parts for s in range(1, concat.total + 1)):
            del self.pending[key]
            return "".join(parts[s] for s in range(1, concat.total + 1))
        return None


def to_hex(pdu: bytes) -> str:
    """Upper-case hex, as AT commands carry PDUs."""
    return pdu.hex().upper()


def from_hex(s: str) -> bytes:
    """Bytes from a hex PDU string; raises PduError on bad hex."""
    try:
        return bytes.fromhex(s.strip())
    except ValueError:
        raise PduError(f"bad hex PDU {s[:40]!r}") from None
