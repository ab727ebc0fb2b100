"""T.38 IFP packets (ITU-T T.38 clause 7, ASN.1 PER as real implementations send it): indicators (CNG, CED,
V.21 preamble, modem training) and data (V.21 HDLC, V.27ter/V.29/V.17 image data) with their fields
(HDLC data, FCS OK/BAD, signal end, T.4 non-ECM data). Octets of HDLC and image data are carried with the
first bit on the line in the most significant bit. Decoding is bounded and raises IfpError only."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Ifp", "IfpError", "encode", "decode", "IND", "DATA", "FIELD", "training_indicator", "data_type_of",
           "bitrev"]

#: T.30 indicators (Type-of-msg t30-indicator), numbered as in T.38
IND = {"no-signal": 0, "cng": 1, "ced": 2, "v21-preamble": 3, "v27-2400": 4, "v27-4800": 5, "v29-7200": 6,
       "v29-9600": 7, "v17-7200-short": 8, "v17-7200-long": 9, "v17-9600-short": 10, "v17-9600-long": 11,
       "v17-12000-short": 12, "v17-12000-long": 13, "v17-14400-short": 14, "v17-14400-long": 15}
#: data types (Type-of-msg t30-data)
DATA = {"v21": 0, "v27-2400": 1, "v27-4800": 2, "v29-7200": 3, "v29-9600": 4, "v17-7200": 5, "v17-9600": 6,
        "v17-12000": 7, "v17-14400": 8}
#: field types (Data-Field field-type)
FIELD = {"hdlc-data": 0, "hdlc-sig-end": 1, "hdlc-fcs-ok": 2, "hdlc-fcs-bad": 3, "hdlc-fcs-ok-sig-end": 4,
         "hdlc-fcs-bad-sig-end": 5, "t4-non-ecm-data": 6, "t4-non-ecm-sig-end": 7}
MAX_FIELDS = 64          # fields in one IFP we accept (real packets carry 1-3)
_MODEM_NAME = {"v27ter": "v27", "v29": "v29", "v17": "v17"}
_REV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


class IfpError(ValueError):
    """An IFP packet that is malformed or uses a type we do not know."""


@dataclass
class Ifp:
    """One IFP packet: an indicator (`indicator` set) or data of `data_type` with (field type, octets) fields."""
    indicator: int | None = None
    data_type: int | None = None
    fields: list[tuple[int, bytes]] = field(default_factory=list)


def bitrev(data: bytes) -> bytes:
    """Each octet with its bit order reversed (T.30 frame octets <-> T.38 line order)."""
    return data.translate(_REV)


def training_indicator(modem: str, rate: int, short: bool = False) -> int:
    """The indicator announcing `modem` ('v27ter', 'v29', 'v17') training at `rate` bit/s."""
    base = _MODEM_NAME.get(modem)
    if base == "v17":
        return IND[f"v17-{rate}-{'short' if short else 'long'}"]
    if base is None or f"{base}-{rate}" not in IND:
        raise IfpError(f"no T.38 indicator for {modem} {rate}")
    return IND[f"{base}-{rate}"]


def data_type_of(modem: str, rate: int) -> int:
    """The data type of image data on `modem` at `rate` bit/s."""
    key = f"{_MODEM_NAME.get(modem, modem)}-{rate}"
    if key not in DATA:
        raise IfpError(f"no T.38 data type for {modem} {rate}")
    return DATA[key]


def encode(p: Ifp, version: int = 0) -> bytes:
    """The IFP octets of `p` (T.38 version 0..3 field coding)."""
    if p.indicator is not None:
        if not 0 <= p.indicator <= 15:
            raise IfpError(f"indicator {p.indicator} out of range")
        return bytes([p.indicator << 1])
    dt = p.data_type if p.data_type is not None else 0
    if not 0 <= dt <= 8:
        raise IfpError(f"data type {dt} out of range")
    if len(p.fields) > 127:
        raise IfpError("too many fields")
    present = 0x80 if p.fields else 0
    out = bytearray([present | 0x40 | (dt << 1)])
    if not p.fields:
        return bytes(out)
    out.append(len(p.fields))
    half = False            # version 0: a field without data leaves the low half of its octet to the next
    for ft, data in p.fields:
        if not 0 <= ft <= 7:
            raise IfpError(f"field type {ft} out of range")
        has = 1 if data else 0
        if version != 0:
            out.append((has << 7) | (ft << 3))
        elif half:
            out[-1] |= (has << 3) | ft
            half = False
        else:
            out.append((has << 7) | (ft << 4))
            half = not has
        if data:
            if len(data) > 65535:
                raise IfpError("field too long")
            out += (len(data) - 1).to_bytes(2, "big")
            out += data
    return bytes(out)


def decode(buf: bytes, version: int = 0) -> Ifp:
    """Parse IFP octets; IfpError on anything malformed (work bounded by len(buf))."""
    n = len(buf)
    if n < 1:
        raise IfpError("empty IFP packet")
    b0 = buf[0]
    data_present, is_data, ext = b0 >> 7, (b0 >> 6) & 1, (b0 >> 5) & 1
    if ext:
        raise IfpError("extended (V.8/V.34/V.33) types are not supported")
    if not is_data:
        if data_present or n != 1:
            raise IfpError("indicator with a data field")
        return Ifp(indicator=(b0 >> 1) & 0xF)
    dt = (b0 >> 1) & 0xF
    if dt > 8:
        raise IfpError(f"unknown data type {dt}")
    if not data_present:
        if n != 1:
            raise IfpError("trailing octets after a data packet without fields")
        return Ifp(data_type=dt)
    if n < 2:
        raise IfpError("truncated field count")
    count, ptr = buf[1], 2
    if count & 0x80 or count > MAX_FIELDS:
        raise IfpError(f"too many fields ({count})")
    fields: list[tuple[int, bytes]] = []
    other_half = False
    for _ in range(count):
        if ptr >= n:
            raise IfpError("truncated field")
        b = buf[ptr]
        if version == 0:
            if other_half:
                has, ft = (b >> 3) & 1, b & 7
                ptr += 1
                other_half = False
            else:
                has, ft = b >> 7, (b >> 4) & 7
                if has:
                    ptr += 1
                else:
                    other_half = True
        else:
            if b & 0x40:
                raise IfpError("extended field types are not supported")
            has, ft = b >> 7, (b >> 3) & 7
            ptr += 1
        data = b""
        if has:
            if ptr + 2 > n:
                raise IfpError("truncated field length")
            length = ((buf[ptr] << 8) | buf[ptr + 1]) + 1
            ptr += 2
            if ptr + length > n:
                raise IfpError("field data beyond the packet")
            data = bytes(buf[ptr:ptr + length])
            ptr += length
        fields.append((ft, data))
    if other_half:
        ptr += 1
    if ptr != n:
        raise IfpError(f"packet length {n}, fields end at {ptr}")
    return Ifp(data_type=dt, fields=fields)
