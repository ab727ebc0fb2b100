"""ISUP message and parameter coding (ITU-T Q.763, with the China national parameters).

A message is CIC (2 octets, 12 bits), message type, mandatory fixed part, pointers to the
mandatory variable parameters and to the optional part, then optional parameters (name,
length, value) closed by an end-of-optional-parameters octet. `decode` never raises: a bad
message comes back with `error` set (Q.764 2.10.5 says what to do with it).
"""
from dataclasses import dataclass, field

# message types (Q.763 table 4)
IAM, SAM, INR, INF, COT, ACM, CON, ANM = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09
REL, SUS, RES, RLC, CCR, RSC, BLO, UBL, BLA, UBA = 0x0C, 0x0D, 0x0E, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
GRS, CGB, CGU, CGBA, CGUA, LPA, GRA, CQM, CQR, CPG, UCIC = (0x17, 0x18, 0x19, 0x1A, 0x1B, 0x24, 0x29, 0x2A, 0x2B,
                                                             0x2C, 0x2E)
NAMES = {IAM: "IAM", SAM: "SAM", INR: "INR", INF: "INF", COT: "COT", ACM: "ACM", CON: "CON", ANM: "ANM",
         REL: "REL", SUS: "SUS", RES: "RES", RLC: "RLC", CCR: "CCR", RSC: "RSC", BLO: "BLO", UBL: "UBL",
         BLA: "BLA", UBA: "UBA", GRS: "GRS", CGB: "CGB", CGU: "CGU", CGBA: "CGBA", CGUA: "CGUA", LPA: "LPA",
         GRA: "GRA", CQM: "CQM", CQR: "CQR", CPG: "CPG", UCIC: "UCIC"}

# parameter names (Q.763 table 5)
P_TMR, P_CALLED, P_SUBSEQUENT, P_NOC, P_FCI, P_CPC, P_CALLING = 0x02, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0A
P_INR_IND, P_INF_IND, P_COT_IND, P_BCI, P_CAUSE, P_CGSMT, P_RANGE = 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x15, 0x16
P_SUSRES, P_EVENT, P_OBCI, P_CONNECTED = 0x22, 0x24, 0x29, 0x21

#: per message type: (fixed parameters with their lengths, mandatory variable parameters, optional part?)
FORMATS: dict[int, tuple[tuple[tuple[int, int], ...], tuple[int, ...], bool]] = {
    IAM: (((P_NOC, 1), (P_FCI, 2), (P_CPC, 1), (P_TMR, 1)), (P_CALLED,), True),
    SAM: ((), (P_SUBSEQUENT,), True),
    INR: (((P_INR_IND, 2),), (), True),
    INF: (((P_INF_IND, 2),), (), True),
    COT: (((P_COT_IND, 1),), (), False),
    ACM: (((P_BCI, 2),), (), True),
    CON: (((P_BCI, 2),), (), True),
    ANM: ((), (), True),
    CPG: (((P_EVENT, 1),), (), True),
    REL: ((), (P_CAUSE,), True),
    RLC: ((), (), True),
    SUS: (((P_SUSRES, 1),), (), True),
    RES: (((P_SUSRES, 1),), (), True),
    GRS: ((), (P_RANGE,), False),
    GRA: ((), (P_RANGE,), False),
    CQM: ((), (P_RANGE,), False),
    CGB: (((P_CGSMT, 1),), (P_RANGE,), False),
    CGU: (((P_CGSMT, 1),), (P_RANGE,), False),
    CGBA: (((P_CGSMT, 1),), (P_RANGE,), False),
    CGUA: (((P_CGSMT, 1),), (P_RANGE,), False),
}
for _t in (CCR, RSC, BLO, UBL, BLA, UBA, LPA, UCIC):
    FORMATS[_t] = ((), (), False)

# nature of address indicators
NAI_SUBSCRIBER, NAI_UNKNOWN, NAI_NATIONAL, NAI_INTERNATIONAL = 1, 2, 3, 4
# calling party's category
CPC_ORDINARY, CPC_PAYPHONE, CPC_OPERATOR = 0x0A, 0x0F, 0x09
# address presentation restricted indicator / screening
PRES_ALLOWED, PRES_RESTRICTED, PRES_UNAVAILABLE = 0, 1, 2
SCREEN_USER_NOT_VERIFIED, SCREEN_USER_PASSED, SCREEN_USER_FAILED, SCREEN_NETWORK = 0, 1, 2, 3
# event information (CPG)
EVENT_ALERTING, EVENT_PROGRESS, EVENT_INBAND = 1, 2, 3

DIGITS = "0123456789ABCDEF"
BCD = {c: i for i, c in enumerate("0123456789ABCDEF")} | {"*": 0xB, "#": 0xC}


class ISUPError(ValueError):
    """A message that cannot be coded (bad digits, missing parameter)."""


@dataclass
class Number:
    """A called/calling/subsequent number with its indicators (Q.763 3.9/3.10)."""
    digits: str = ""
    nai: int = NAI_NATIONAL
    npi: int = 1
    presentation: int = PRES_ALLOWED
    screening: int = SCREEN_NETWORK
    inn: int = 0            # called: internal network number indicator (0 routing to INN allowed)
    ni: int = 0             # calling: number incomplete indicator
    complete: bool = False  # called/subsequent: ends with ST (end of pulsing)


def encode_digits(digits: str, st: bool = False) -> tuple[int, bytes]:
    """(odd indicator, BCD octets) for a digit string; ST (0xF) appended when `st`."""
    try:
        nibbles = [BCD[c] for c in digits.upper()]
    except KeyError as exc:
        raise ISUPError(f"bad digit {exc.args[0]!r} in {digits!r}") from None
    if st:
        nibbles.append(0xF)
    odd = len(nibbles) & 1
    if odd:
        nibbles.append(0)
    return odd, bytes(nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2))


def decode_digits(odd: int, data: bytes) -> tuple[str, bool]:
    """(digits, ST seen) from BCD octets."""
    nibbles = []
    for b in data:
        nibbles += [b & 0xF, b >> 4]
    if odd and nibbles:
        nibbles.pop()
    st = False
    if nibbles and nibbles[-1] == 0xF:
        nibbles.pop()
        st = True
    return "".join({0xB: "*", 0xC: "#"}.get(n, DIGITS[n]) for n in nibbles), st


def encode_called(n: Number) -> bytes:
    """Called party number parameter value."""
    odd, bcd = encode_digits(n.digits, n.complete)
    return bytes([odd << 7 | (n.nai & 0x7F), (n.inn & 1) << 7 | (n.npi & 7) << 4]) + bcd


def decode_called(v: bytes) -> Number:
    """Called party number (or subsequent number when one octet shorter is not used)."""
    if len(v) < 2:
        raise ISUPError("called party number too short")
    digits, st = decode_digits(v[0] >> 7, v[2:])
    return Number(digits, v[0] & 0x7F, (v[1] >> 4) & 7, inn=v[1] >> 7, complete=st)


def encode_calling(n: Number) -> bytes:
    """Calling party number parameter value."""
    if n.presentation == PRES_UNAVAILABLE:
        return bytes([0, PRES_UNAVAILABLE << 2])
    odd, bcd = encode_digits(n.digits)
    return bytes([odd << 7 | (n.nai & 0x7F),
                  (n.ni & 1) << 7 | (n.npi & 7) << 4 | (n.presentation & 3) << 2 | (n.screening & 3)]) + bcd


def decode_calling(v: bytes) -> Number:
    """Calling party number parameter."""
    if len(v) < 2:
        raise ISUPError("calling party number too short")
    digits, _ = decode_digits(v[0] >> 7, v[2:])
    return Number(digits, v[0] & 0x7F, (v[1] >> 4) & 7, presentation=(v[1] >> 2) & 3, screening=v[1] & 3,
                  ni=v[1] >> 7)


def encode_subsequent(n: Number) -> bytes:
    """Subsequent number (SAM): odd/even octet then digits."""
    odd, bcd = encode_digits(n.digits, n.complete)
    return bytes([odd << 7]) + bcd


def decode_subsequent(v: bytes) -> Number:
    """Subsequent number."""
    if not v:
        raise ISUPError("empty subsequent number")
    digits, st = decode_digits(v[0] >> 7, v[1:])
    return Number(digits, complete=st)


def encode_cause(cause: int, location: int = 0) -> bytes:
    """Cause indicators: ITU coding standard, location, cause value (Q.850)."""
    return bytes([0x80 | (location & 0xF), 0x80 | (cause & 0x7F)])


def decode_cause(v: bytes) -> int:
    """Q.850 cause value from cause indicators."""
    if len(v) < 2:
        raise ISUPError("cause indicators too short")
    i = 1
    if not v[0] & 0x80:          # extension octet 1a (recommendation) present
        i = 2
    if len(v) <= i:
        raise ISUPError("cause indicators without a cause value")
    return v[i] & 0x7F


def encode_range(range_: int, status: bytes | None = None) -> bytes:
    """Range and status: range = number of circuits - 1, status bits one per circuit."""
    return bytes([range_ & 0xFF]) + (status or b"")


def status_bits(bits: list[int]) -> bytes:
    """Pack one bit per circuit, first circuit in the least significant bit."""
    out = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        if b:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def unpack_status(range_: int, status: bytes) -> list[int]:
    """Bits of a status field for range+1 circuits."""
    return [(status[i // 8] >> (i % 8)) & 1 if i // 8 < len(status) else 0 for i in range(range_ + 1)]


@dataclass
class Message:
    """One ISUP message: type, CIC and parameters by name code (values are raw octets)."""
    type: int
    cic: int
    params: dict[int, bytes] = field(default_factory=dict)
    error: str = ""

    @property
    def name(self) -> str:
        """The message's acronym."""
        return NAMES.get(self.type, f"0x{self.type:02x}")


def encode(msg: Message) -> bytes:
    """Code a message; ISUPError if a mandatory parameter is missing or too long."""
    fmt = FORMATS.get(msg.type)
    if fmt is None:
        raise ISUPError(f"unknown message type {msg.type}")
    fixed, variable, optional = fmt
    out = bytearray([msg.cic & 0xFF, (msg.cic >> 8) & 0x0F, msg.type])
    for code, size in fixed:
        v = msg.params.get(code)
        if v is None or len(v) != size:
            raise ISUPError(f"{msg.name}: fixed parameter 0x{code:02x} missing or not {size} octets")
        out += v
    npointers = len(variable) + (1 if optional else 0)
    parts = bytearray()
    pointers = bytearray()
    for i, code in enumerate(variable):
        v = msg.params.get(code)
        if v is None or len(v) > 255:
            raise ISUPError(f"{msg.name}: mandatory parameter 0x{code:02x} missing or too long")
        pointers.append(npointers - i + len(parts))
        parts += bytes([len(v)]) + v
    opt = bytearray()
    if optional:
        known = {c for c, _ in fixed} | set(variable)
        for code, v in msg.params.items():
            if code not in known:
                if len(v) > 255:
                    raise ISUPError(f"{msg.name}: optional parameter 0x{code:02x} too long")
                opt += bytes([code, len(v)]) + v
        if opt:
            opt.append(0)
            pointers.append(1 + len(parts))
        else:
            pointers.append(0)
    return bytes(out + pointers + parts + opt)


def decode(data: bytes) -> Message:
    """Decode a message; never raises (problems come back in `error`, type/cic when readable)."""
    data = bytes(data)
    if len(data) < 3:
        return Message(-1, -1, error="message shorter than CIC + type")
    msg = Message(data[2], data[0] | (data[1] & 0x0F) << 8)
    fmt = FORMATS.get(msg.type)
    if fmt is None:
        msg.error = f"unrecognised message type 0x{msg.type:02x}"
        return msg
    fixed, variable, optional = fmt
    pos = 3
    try:
        for code, size in fixed:
            if pos + size > len(data):
                raise ISUPError(f"fixed parameter 0x{code:02x} cut short")
            msg.params[code] = data[pos:pos + size]
            pos += size
        base = pos
        for i, code in enumerate(variable):
            ptr = data[base + i]
            at = base + i + ptr
            if ptr == 0 or at >= len(data) or at + 1 + data[at] > len(data):
                raise ISUPError(f"mandatory parameter 0x{code:02x} pointer out of the message")
            msg.params[code] = data[at + 1:at + 1 + data[at]]
        if optional:
            i = len(variable)
            ptr = data[base + i]
            if ptr:
                at = base + i + ptr
                while True:
                    if at >= len(data):
                        raise ISUPError("optional part without end of optional parameters")
                    code = data[at]
                    if code == 0:
                        break
                    if at + 1 >= len(data) or at + 2 + data[at + 1] > len(data):
                        raise ISUPError(f"optional parameter 0x{code:02x} cut short")
                    msg.params.setdefault(code, data[at + 2:at + 2 + data[at + 1]])
                    at += 2 + data[at + 1]
    except (IndexError, ISUPError) as exc:
        msg.error = f"{msg.name}: {exc}"
    return msg


def iam(cic: int, called: Number, calling: Number | None, category: int = CPC_ORDINARY,
        national: bool = True, cot_required: bool = False, isdn: bool = True) -> Message:
    """An IAM with nature of connection, forward call indicators, category, TMR speech, numbers."""
    noc = bytes([(1 if cot_required else 0) << 2])
    fci = bytes([(0 if national else 1) | (1 if isdn else 0) << 5, 0x01 if isdn else 0x00])
    params = {P_NOC: noc, P_FCI: fci, P_CPC: bytes([category]), P_TMR: b"\x00", P_CALLED: encode_called(called)}
    if calling is not None:
        params[P_CALLING] = encode_calling(calling)
    return Message(IAM, cic, params)


def bci(free: bool = True, isdn: bool = True, charge: bool = True) -> bytes:
    """Backward call indicators: charge, called party status (subscriber free), ISUP all the way."""
    return bytes([(0b10 if charge else 0b01) | (0b01 if free else 0) << 2, 0x04 if isdn else 0])


def simple(msg_type: int, cic: int) -> Message:
    """A message with no parameters (BLO, UBL, BLA, UBA, RSC, CCR, LPA, UCIC) or only optional ones."""
    return Message(msg_type, cic)
