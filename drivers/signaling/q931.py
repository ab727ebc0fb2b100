"""Q.931 messages and information elements for ISDN PRI (encode and decode).

A message is: protocol discriminator 0x08, call reference (2 octets on PRI,
flag bit 0x80 in the first octet set by the side that did not allocate the
reference), message type, then information elements. `decode_message` never
raises: structural problems come back as `Q931Message.error` (message to be
ignored, Q.931 5.8.1-5.8.3) and IE problems as `ie_errors` [(ie_id, cause)],
so the call state machine can answer per Q.931 5.8.
"""
from dataclasses import dataclass, field

PD_Q931 = 0x08

# message types
ALERTING = 0x01
CALL_PROCEEDING = 0x02
PROGRESS = 0x03
SETUP = 0x05
CONNECT = 0x07
SETUP_ACKNOWLEDGE = 0x0D
CONNECT_ACKNOWLEDGE = 0x0F
DISCONNECT = 0x45
RESTART = 0x46
RELEASE = 0x4D
RESTART_ACKNOWLEDGE = 0x4E
RELEASE_COMPLETE = 0x5A
FACILITY = 0x62
NOTIFY = 0x6E
STATUS_ENQUIRY = 0x75
INFORMATION = 0x7B
STATUS = 0x7D
MESSAGE_NAMES = {
    ALERTING: "ALERTING", CALL_PROCEEDING: "CALL PROCEEDING", PROGRESS: "PROGRESS", SETUP: "SETUP",
    CONNECT: "CONNECT", SETUP_ACKNOWLEDGE: "SETUP ACKNOWLEDGE", CONNECT_ACKNOWLEDGE: "CONNECT ACKNOWLEDGE",
    DISCONNECT: "DISCONNECT", RESTART: "RESTART", RELEASE: "RELEASE", RESTART_ACKNOWLEDGE: "RESTART ACKNOWLEDGE",
    RELEASE_COMPLETE: "RELEASE COMPLETE", FACILITY: "FACILITY", NOTIFY: "NOTIFY",
    STATUS_ENQUIRY: "STATUS ENQUIRY", INFORMATION: "INFORMATION", STATUS: "STATUS",
}

# information element identifiers (codeset 0)
IE_BEARER = 0x04
IE_CAUSE = 0x08
IE_CALL_STATE = 0x14
IE_FACILITY = 0x1C
IE_CHANNEL_ID = 0x18
IE_PROGRESS = 0x1E
IE_NSF = 0x20
IE_NOTIFY = 0x27
IE_DISPLAY = 0x28
IE_DATETIME = 0x29
IE_KEYPAD = 0x2C
IE_SIGNAL = 0x34
IE_CONNECTED_NUMBER = 0x4C
IE_CALLING = 0x6C
IE_CALLING_SUB = 0x6D
IE_CALLED = 0x70
IE_CALLED_SUB = 0x71
IE_REDIRECTING = 0x74
IE_RESTART_IND = 0x79
IE_LLC = 0x7C
IE_HLC = 0x7D
IE_USER_USER = 0x7E
IE_SENDING_COMPLETE = 0xA1
KNOWN_IES = {IE_BEARER, IE_CAUSE, IE_CALL_STATE, IE_FACILITY, IE_CHANNEL_ID, IE_PROGRESS, IE_NSF, IE_NOTIFY,
             IE_DISPLAY, IE_DATETIME, IE_KEYPAD, IE_SIGNAL, IE_CONNECTED_NUMBER, IE_CALLING, IE_CALLING_SUB,
             IE_CALLED, IE_CALLED_SUB, IE_REDIRECTING, IE_RESTART_IND, IE_LLC, IE_HLC, IE_USER_USER}

# restart classes
RESTART_CHANNELS = 0
RESTART_INTERFACE = 6
RESTART_ALL = 7

# switch types
EUROISDN_E1 = "euroisdn_e1"
NI2 = "ni2"

# Q.850 causes used by the protocol itself
CAUSE_CHANNEL_UNACCEPTABLE = 6
CAUSE_NORMAL = 16
CAUSE_BUSY = 17
CAUSE_NO_USER_RESPONSE = 18
CAUSE_NO_ANSWER = 19
CAUSE_RESPONSE_TO_STATUS_ENQUIRY = 30
CAUSE_NO_CIRCUIT = 34
CAUSE_NETWORK_OUT_OF_ORDER = 38
CAUSE_TEMPFAIL = 41
CAUSE_CHANNEL_UNAVAILABLE = 44
CAUSE_INVALID_CALL_REFERENCE = 81
CAUSE_MANDATORY_IE_MISSING = 96
CAUSE_MESSAGE_TYPE_NONEXISTENT = 97
CAUSE_WRONG_MESSAGE = 98
CAUSE_IE_NONEXISTENT = 99
CAUSE_INVALID_IE_CONTENTS = 100
CAUSE_WRONG_CALL_STATE = 101
CAUSE_RECOVERY_ON_TIMER = 102

# which IEs a received message must carry (Q.931 clause 3, PRI); the state machine adds context rules
MANDATORY = {
    SETUP: (IE_BEARER,),
    DISCONNECT: (IE_CAUSE,),
    PROGRESS: (IE_PROGRESS,),
    STATUS: (IE_CAUSE, IE_CALL_STATE),
    RESTART: (IE_RESTART_IND,),
    RESTART_ACKNOWLEDGE: (IE_RESTART_IND,),
}


def b_channels(switch: str) -> list[int]:
    """B-channel numbers of a PRI as carried in the channel identification IE."""
    if switch == NI2:
        return list(range(1, 24))
    return [n for n in range(1, 32) if n != 16]


class IEError(ValueError):
    """An information element whose contents cannot be decoded."""


@dataclass
class Number:
    """A party number: digits (IA5), type of number and numbering plan (Q.931 4.5.8/4.5.10)."""
    digits: str = ""
    ton: int = 0            # 0 unknown, 1 international, 2 national, 3 network specific, 4 subscriber
    npi: int = 1            # 0 unknown, 1 ISDN/E.164, 9 private
    presentation: int = 0   # calling only: 0 allowed, 1 restricted, 2 not available
    screening: int = 0      # calling only


@dataclass
class ChannelId:
    """Channel identification for a PRI: B-channel numbers, exclusive flag, or any channel."""
    channels: list[int] = field(default_factory=list)
    exclusive: bool = True
    any_channel: bool = False
    dchannel: bool = False
    interface: int | None = None


@dataclass
class Cause:
    """Cause IE: Q.850 value and location (0 user, 1 private local, 2 public local, ...)."""
    value: int = CAUSE_NORMAL
    location: int = 0
    diagnostic: bytes = b""


@dataclass
class Bearer:
    """Bearer capability: transfer capability (0 speech, 8 digital, 0x10 3.1 kHz), layer 1 (2 mu-law, 3 A-law)."""
    capability: int = 0
    mode_rate: int = 0x10
    layer1: int | None = 3


@dataclass
class Progress:
    """Progress indicator: description (1 not end-to-end ISDN, 2 dest non-ISDN, 8 in-band info) and location."""
    description: int = 8
    location: int = 0


@dataclass
class Q931Message:
    """One Q.931 message; unknown IEs are kept raw in `other`."""
    mtype: int
    cref: int = 0
    flag: int = 0                      # 0: sent by the side that allocated the call reference
    bearer: Bearer | None = None
    channel: ChannelId | None = None
    calling: Number | None = None
    called: Number | None = None
    cause: Cause | None = None
    progress: list[Progress] = field(default_factory=list)
    display: str | None = None
    restart_class: int | None = None
    call_state: int | None = None
    sending_complete: bool = False
    other: list[tuple[int, bytes]] = field(default_factory=list)    # [(ie_id, bytes)] not interpreted
    ie_errors: list[tuple[int, int]] = field(default_factory=list)  # [(ie_id, cause)] found while decoding
    error: str = ""                                    # structural: the message is to be ignored

    @property
    def name(self) -> str:
        """Message type name."""
        return MESSAGE_NAMES.get(self.mtype, f"0x{self.mtype:02x}")

    @property
    def is_global(self) -> bool:
        """True for the global (dummy) call reference 0."""
        return self.cref == 0


# ---------------------------------------------------------------- IE codecs
def _enc_bearer(b: Bearer, switch: str) -> bytes:
    out = bytes([0x80 | (b.capability & 0x1F), 0x80 | (b.mode_rate & 0x7F)])
    if b.layer1 is not None:
        out += bytes([0xA0 | (b.layer1 & 0x1F)])
    return out


def _dec_bearer(v: bytes) -> Bearer:
    if len(v) < 2:
        raise IEError("bearer capability shorter than 2 octets")
    b = Bearer(capability=v[0] & 0x1F, mode_rate=v[1] & 0x7F, layer1=None)
    i = 2
    if not v[1] & 0x80:                 # octet 4a/4b present
        while i < len(v) and not v[i] & 0x80:
            i += 1
        i += 1
    if b.mode_rate & 0x1F == 0x18 and i < len(v):     # multirate: rate multiplier octet
        i += 1
    if i < len(v) and (v[i] >> 5) & 0x03 == 1:
        b.layer1 = v[i] & 0x1F
    return b


def _enc_channel(c: ChannelId, switch: str) -> bytes:
    sel = 0x03 if c.any_channel else (0x01 if c.channels else 0x00)
    o3 = 0x80 | 0x20 | (0x08 if c.exclusive else 0) | (0x04 if c.dchannel else 0) | sel
    if c.interface is not None:
        o3 |= 0x40
    out = bytes([o3])
    if c.interface is not None:
        out += bytes([0x80 | (c.interface & 0x7F)])
    if c.channels and not c.any_channel:
        out += bytes([0x83])             # ITU coding, channel number follows, B-channel units
        nums = list(c.channels)
        out += bytes([(n & 0x7F) | (0x80 if i == len(nums) - 1 else 0) for i, n in enumerate(nums)])
    return out


def _dec_channel(v: bytes) -> ChannelId:
    if not v:
        raise IEError("empty channel identification")
    o3 = v[0]
    c = ChannelId(exclusive=bool(o3 & 0x08), dchannel=bool(o3 & 0x04))
    if not o3 & 0x20:
        raise IEError("channel identification for a basic rate interface on a PRI")
    sel = o3 & 0x03
    i = 1
    if o3 & 0x40:                       # interface identifier octets (3.1)
        if i >= len(v):
            raise IEError("interface identifier missing")
        c.interface = v[i] & 0x7F
        while i < len(v) and not v[i] & 0x80:
            i += 1
        i += 1
    if sel == 0x03:
        c.any_channel = True
        return c
    if sel == 0x00:
        return c
    if sel != 0x01:
        raise IEError("reserved information channel selection")
    if i >= len(v):
        if c.dchannel:
            return c
        raise IEError("channel number missing")
    o32 = v[i]
    i += 1
    if (o32 >> 5) & 0x03 != 0:
        raise IEError("channel identification not in ITU-T coding")
    if o32 & 0x10:                      # slot map
        bits = v[i:]
        if not bits:
            raise IEError("empty slot map")
        for idx, byte in enumerate(reversed(bits)):   # least significant bit of the last octet = channel 1
            for bit in range(8):
                if byte >> bit & 1:
                    c.channels.append(idx * 8 + bit + 1)
        c.channels.sort()
        return c
    while i < len(v):
        c.channels.append(v[i] & 0x7F)
        if v[i] & 0x80:
            break
        i += 1
    if not c.channels:
        raise IEError("channel number missing")
    return c


def _enc_number(n: Number, calling: bool) -> bytes:
    o3 = ((n.ton & 0x07) << 4) | (n.npi & 0x0F)
    if calling:
        out = bytes([o3, 0x80 | ((n.presentation & 0x03) << 5) | (n.screening & 0x03)])
    else:
        out = bytes([0x80 | o3])
    return out + n.digits.encode("ascii")


def _dec_number(v: bytes, calling: bool) -> Number:
    if not v:
        raise IEError("empty party number")
    n = Number(ton=(v[0] >> 4) & 0x07, npi=v[0] & 0x0F)
    i = 1
    if not v[0] & 0x80:
        if len(v) < 2:
            raise IEError("party number octet 3a missing")
        n.presentation = (v[1] >> 5) & 0x03
        n.screening = v[1] & 0x03
        i = 2
    digits = v[i:]
    if any(d & 0x80 for d in digits):
        raise IEError("party number digits not IA5")
    n.digits = digits.decode("ascii")
    return n


def _enc_cause(c: Cause, switch: str) -> bytes:
    return bytes([0x80 | (c.location & 0x0F), 0x80 | (c.value & 0x7F)]) + bytes(c.diagnostic)


def _dec_cause(v: bytes) -> Cause:
    if len(v) < 2:
        raise IEError("cause shorter than 2 octets")
    i = 1
    if not v[0] & 0x80:                 # octet 3a (recommendation)
        i = 2
    if i >= len(v):
        raise IEError("cause value missing")
    return Cause(value=v[i] & 0x7F, location=v[0] & 0x0F, diagnostic=bytes(v[i + 1:]))


def _dec_progress(v: bytes) -> Progress:
    if len(v) < 2:
        raise IEError("progress indicator shorter than 2 octets")
    return Progress(description=v[1] & 0x7F, location=v[0] & 0x0F)


def _dec_display(v: bytes) -> str:
    if v and v[0] & 0x80:               # national variants (NI-2) put a display type/charset octet first
        v = v[1:]
    return v.decode("latin-1")


# ---------------------------------------------------------------- messages
def encode_message(m: Q931Message, switch: str = EUROISDN_E1) -> bytes:
    """Encode a Q931Message into octets (the layer 3 part of an I frame)."""
    out = bytearray([PD_Q931, 2, ((m.flag & 1) << 7) | ((m.cref >> 8) & 0x7F), m.cref & 0xFF, m.mtype & 0x7F])
    ies: list[tuple[int, bytes]] = []          # single-octet IEs (0x80 set) carry no value
    if m.bearer is not None:
        ies.append((IE_BEARER, _enc_bearer(m.bearer, switch)))
    if m.cause is not None:
        ies.append((IE_CAUSE, _enc_cause(m.cause, switch)))
    if m.call_state is not None:
        ies.append((IE_CALL_STATE, bytes([m.call_state & 0x3F])))
    if m.channel is not None:
        ies.append((IE_CHANNEL_ID, _enc_channel(m.channel, switch)))
    for p in m.progress:
        ies.append((IE_PROGRESS, bytes([0x80 | (p.location & 0x0F), 0x80 | (p.description & 0x7F)])))
    if m.display is not None:
        ies.append((IE_DISPLAY, m.display.encode("latin-1")[:80]))
    if m.calling is not None:
        ies.append((IE_CALLING, _enc_number(m.calling, True)))
    if m.called is not None:
        ies.append((IE_CALLED, _enc_number(m.called, False)))
    if m.restart_class is not None:
        ies.append((IE_RESTART_IND, bytes([0x80 | (m.restart_class & 0x07)])))
    for ie, val in m.other:
        ies.append((ie, bytes(val)))
    if m.sending_complete:
        ies.append((IE_SENDING_COMPLETE, b""))
    ies.sort(key=lambda t: t[0])
    for ie, val in ies:
        if ie & 0x80:
            out.append(ie)
        else:
            if len(val) > 255:
                raise ValueError(f"IE 0x{ie:02x} longer than 255 octets")
            out += bytes([ie, len(val)]) + val
    return bytes(out)


def decode_message(data: bytes) -> Q931Message:
    """Decode octets into a Q931Message; never raises (problems in `error` and `ie_errors`)."""
    m = Q931Message(mtype=-1)
    try:
        data = bytes(data)
    except (TypeError, ValueError, OverflowError):     # not bytes-like at all
        m.error = "not a byte string"
        return m
    if len(data) < 3:
        m.error = "message too short"
        return m
    if data[0] != PD_Q931:
        m.error = f"protocol discriminator 0x{data[0]:02x}"
        return m
    crlen = data[1] & 0x0F
    if data[1] & 0xF0 or crlen != 2:
        m.error = f"call reference length {data[1]} (PRI uses 2)"
        return m
    if len(data) < 5:
        m.error = "message too short"
        return m
    m.flag = data[2] >> 7
    m.cref = ((data[2] & 0x7F) << 8) | data[3]
    if data[4] & 0x80:
        m.error = "message type with extension bit (escape) not supported"
        return m
    m.mtype = data[4]
    seen: set[int] = set()
    codeset, locked = 0, 0
    i = 5
    while i < len(data):
        ie = data[i]
        if ie & 0x80:                   # single octet IE
            i += 1
            if ie & 0xF0 == 0x90:       # shift
                if ie & 0x08:
                    codeset = ie & 0x07            # non-locking: next IE only
                    continue
                locked = codeset = ie & 0x07
                continue
            if codeset == 0 and ie == IE_SENDING_COMPLETE:
                m.sending_complete = True
            codeset = locked
            continue
        if i + 1 >= len(data):
            m.ie_errors.append((ie, CAUSE_INVALID_IE_CONTENTS))
            break
        ln = data[i + 1]
        val = data[i + 2:i + 2 + ln]
        i += 2 + ln
        cs = codeset
        codeset = locked
        if len(val) < ln:
            m.ie_errors.append((ie, CAUSE_INVALID_IE_CONTENTS))
            break
        if cs != 0:
            m.other.append(((cs << 8) | ie, val))
            continue
        if ie in seen and ie != IE_PROGRESS:
            continue                    # repeated IE: only the first is handled (5.8.6)
        seen.add(ie)
        try:
            if ie == IE_BEARER:
                m.bearer = _dec_bearer(val)
            elif ie == IE_CHANNEL_ID:
                m.channel = _dec_channel(val)
            elif ie == IE_CALLING:
                m.calling = _dec_number(val, True)
            elif ie == IE_CALLED:
                m.called = _dec_number(val, False)
            elif ie == IE_CAUSE:
                m.cause = _dec_cause(val)
            elif ie == IE_PROGRESS:
                m.progress.append(_dec_progress(val))
            elif ie == IE_DISPLAY:
                m.display = _dec_display(val)
            elif ie == IE_RESTART_IND:
                if len(val) != 1 or (val[0] & 0x07) not in (0, 6, 7):
                    raise IEError("bad restart indicator")
                m.restart_class = val[0] & 0x07
            elif ie == IE_CALL_STATE:
                if len(val) != 1:
                    raise IEError("bad call state")
                m.call_state = val[0] & 0x3F
            elif ie in KNOWN_IES:
                m.other.append((ie, val))
            elif ie & 0xF0 == 0:        # comprehension required (Q.931 4.5.1) and unknown
                m.ie_errors.append((ie, CAUSE_MANDATORY_IE_MISSING))
            else:
                m.ie_errors.append((ie, CAUSE_IE_NONEXISTENT))
                m.other.append((ie, val))
        except (IEError, UnicodeDecodeError, IndexError):
            m.ie_errors.append((ie, CAUSE_INVALID_IE_CONTENTS))
            m.other.append((ie, val))
    return m


def missing_mandatory(m: Q931Message) -> list[tuple[int, int]]:
    """IE ids a received message must carry but lacks or carries with bad contents, with the cause to use."""
    present = {IE_BEARER: m.bearer, IE_CAUSE: m.cause, IE_CALL_STATE: m.call_state,
               IE_PROGRESS: m.progress or None, IE_RESTART_IND: m.restart_class}
    bad = {ie for ie, cause in m.ie_errors if cause == CAUSE_INVALID_IE_CONTENTS}
    out = []
    for ie in MANDATORY.get(m.mtype, ()):
        if ie in bad:
            out.append((ie, CAUSE_INVALID_IE_CONTENTS))
        elif present.get(ie) is None:
            out.append((ie, CAUSE_MANDATORY_IE_MISSING))
    for ie, cause in m.ie_errors:
        if cause == CAUSE_MANDATORY_IE_MISSING:      # unknown comprehension-required IE
            out.append((ie, CAUSE_MANDATORY_IE_MISSING))
    return out
