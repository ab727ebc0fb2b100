"""T.4 (MH 1-D, MR 2-D) and T.6 (MMR) fax image coding: encode and decode, line by line.

Images are numpy uint8 arrays shaped (rows, width) with 1 = black, 0 = white. Coded data is a numpy
uint8 array of bits in transmission order (the first bit of each code first).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .t4_limits import FILL_ZEROS_KEPT, MAX_PAGE_ROWS, max_line_bits

__all__ = ["T4Encoder", "T4Decoder", "encode_page", "decode_page", "T4Error", "T4PageTooLong", "EOL_BITS", "WIDTHS",
           "bits_to_bytes_msb", "bytes_to_bits_msb", "bits_to_bytes_lsb", "bytes_to_bits_lsb"]

WIDTHS = (1728, 2048, 2432)


class T4Error(ValueError):
    """Coded fax data that cannot be decoded."""


_WHITE_TERM = """00110101 000111 0111 1000 1011 1100 1110 1111 10011 10100 00111 01000 001000 000011 110100 110101
101010 101011 0100111 0001100 0001000 0010111 0000011 0000100 0101000 0101011 0010011 0100100 0011000 00000010
00000011 00011010 00011011 00010010 00010011 00010100 00010101 00010110 00010111 00101000 00101001 00101010
00101011 00101100 00101101 00000100 00000101 00001010 00001011 01010010 01010011 01010100 01010101 00100100
00100101 01011000 01011001 01011010 01011011 01001010 01001011 00110010 00110011 00110100""".split()
_WHITE_MAKEUP = """11011 10010 010111 0110111 00110110 00110111 01100100 01100101 01101000 01100111 011001100
011001101 011010010 011010011 011010100 011010101 011010110 011010111 011011000 011011001 011011010 011011011
010011000 010011001 010011010 011000 010011011""".split()
_BLACK_TERM = """0000110111 010 11 10 011 0011 0010 00011 000101 000100 0000100 0000101 0000111 00000100 00000111
000011000 0000010111 0000011000 0000001000 00001100111 00001101000 00001101100 00000110111 00000101000
00000010111 00000011000 000011001010 000011001011 000011001100 000011001101 000001101000 000001101001
000001101010 000001101011 000011010010 000011010011 000011010100 000011010101 000011010110 000011010111
000001101100 000001101101 000011011010 000011011011 000001010100 000001010101 000001010110 000001010111
000001100100 000001100101 000001010010 000001010011 000000100100 000000110111 000000111000 000000100111
000000101000 000001011000 000001011001 000000101011 000000101100 000001011010 000001100110 000001100111""".split()
_BLACK_MAKEUP = """0000001111 000011001000 000011001001 000001011011 000000110011 000000110100 000000110101
0000001101100 0000001101101 0000001001010 0000001001011 0000001001100 0000001001101 0000001110010
0000001110011 0000001110100 0000001110101 0000001110110 0000001110111 0000001010010 0000001010011
0000001010100 0000001010101 0000001011010 0000001011011 0000001100100 0000001100101""".split()
_EXT_MAKEUP = """00000001000 00000001100 00000001101 000000010010 000000010011 000000010100 000000010101
000000010110 000000010111 000000011100 000000011101 000000011110 000000011111""".split()

EOL = "000000000001"
EOL_BITS = np.array([int(c) for c in EOL], dtype=np.uint8)

# 2-D modes
P, H, V0, VR1, VR2, VR3, VL1, VL2, VL3, EXT = range(10)
_MODE_CODES = {P: "0001", H: "001", V0: "1", VR1: "011", VR2: "000011", VR3: "0000011",
               VL1: "010", VL2: "000010", VL3: "0000010", EXT: "0000001"}
_V_MODE = {0: V0, 1: VR1, 2: VR2, 3: VR3, -1: VL1, -2: VL2, -3: VL3}
_MODE_DELTA = {V0: 0, VR1: 1, VR2: 2, VR3: 3, VL1: -1, VL2: -2, VL3: -3}


def _codes(colour: int) -> dict[int, str]:
    term, makeup = (_WHITE_TERM, _WHITE_MAKEUP) if colour == 0 else (_BLACK_TERM, _BLACK_MAKEUP)
    d = {i: c for i, c in enumerate(term)}
    d.update({64 * (i + 1): c for i, c in enumerate(makeup)})
    d.update({1792 + 64 * i: c for i, c in enumerate(_EXT_MAKEUP)})
    return d


_CODES = (_codes(0), _codes(1))
_W = 13  # lookup width (longest code is 13 bits)


def _lut(mapping: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    val = np.full(1 << _W, -1, dtype=np.int32)
    ln = np.zeros(1 << _W, dtype=np.int32)
    for v, code in mapping.items():
        n = len(code)
        c = int(code, 2) << (_W - n)
        if (val[c:c + (1 << (_W - n))] != -1).any():
            raise AssertionError(f"code table not prefix-free at {code}")
        val[c:c + (1 << (_W - n))] = v
        ln[c:c + (1 << (_W - n))] = n
    return val, ln


_RUN_LUT = tuple(_lut(m) for m in _CODES)
_RUN_VAL = tuple(x[0].tolist() for x in _RUN_LUT)
_RUN_LEN = tuple(x[1].tolist() for x in _RUN_LUT)
_MODE_VAL, _MODE_LEN = (x.tolist() for x in _lut(_MODE_CODES))


def _run_code(run: int, colour: int) -> str:
    codes = _CODES[colour]
    out = []
    while run > 2560:
        out.append(codes[2560])
        run -= 2560
    if run >= 64:
        out.append(codes[run - run % 64])
        run %= 64
    out.append(codes[run])
    return "".join(out)


def _changes(row: np.ndarray) -> list[int]:
    """Changing-element positions of a row (white before the first pixel)."""
    r = row.astype(np.int8)
    d = np.diff(np.concatenate([[0], r]))
    return np.nonzero(d)[0].tolist()


def _encode_1d(row: np.ndarray) -> str:
    width = len(row)
    ch = _changes(row) + [width]
    out = []
    pos = 0
    colour = 0
    for c in ch:
        out.append(_run_code(c - pos, colour))
        pos = c
        colour ^= 1
        if c >= width:
            break
    return "".join(out)


def _encode_2d(row: np.ndarray, ref_changes: list[int]) -> str:
    width = len(row)
    a = _changes(row)
    a.extend((width, width))
    b = ref_changes + [width, width]
    out = []
    a0 = -1
    colour = 0
    ai = 0  # index of a1 candidate in a
    bi = 0
    while True:
        while a[ai] <= a0 and a[ai] < width:
            ai += 1
        a1 = a[ai]
        # b1: first changing element on ref line right of a0 with colour opposite to a0's colour
        # changing element index parity: even index -> becomes black, odd -> becomes white
        start = a0 if a0 >= 0 else -1
        while bi > 0 and b[bi - 1] > start:
            bi -= 1
        while b[bi] <= start and b[bi] < width:
            bi += 1
        if (bi & 1) != colour:
            bi += 1 if b[bi] < width else 0
        b1 = b[bi] if (bi & 1) == colour else width
        b2 = b[bi + 1] if bi + 1 < len(b) and b1 < width else width
        if b2 < a1:
            out.append("0001")
            a0 = b2
            continue
        d = a1 - b1
        if -3 <= d <= 3:
            out.append(_MODE_CODES[_V_MODE[d]])
            a0 = a1
            colour ^= 1
        else:
            a2 = a[ai + 1] if a1 < width else width
            out.append("001")
            out.append(_run_code(a1 - max(a0, 0), colour))
            out.append(_run_code(a2 - a1, colour ^ 1))
            a0 = a2
        if a0 >= width:
            break
    return "".join(out)


def _str_bits(s: str) -> np.ndarray:
    return (np.frombuffer(s.encode(), dtype=np.uint8) - 48).astype(np.uint8)


class T4Encoder:
    """Streaming encoder: encode_line(row) returns the bits for one scan line, finish() the page end.

    coding: "mh" (T.4 1-D), "mr" (T.4 2-D, k lines per 1-D line) or "mmr" (T.6).
    min_bits: minimum bits per coded line (min scan line time x bit rate), filled with zeros before EOL.
    Every MH/MR line is preceded by its EOL (so a page starts with one); rtc=False leaves out the
    6-EOL end of page (TIFF G3); byte_align_eol pads so that each EOL ends on an octet boundary.
    """

    def __init__(self, width: int = 1728, coding: str = "mh", k: int = 2, min_bits: int = 0,
                 rtc: bool = True, byte_align_eol: bool = False):
        if coding not in ("mh", "mr", "mmr"):
            raise ValueError(f"unknown coding {coding!r}")
        self.width = width
        self.coding = coding
        self.k = k
        self.min_bits = min_bits
        self.rtc = rtc
        self.byte_align_eol = byte_align_eol
        self._ref: list[int] = []
        self._line = 0
        self._nbits = 0

    def _eol(self, pending: int) -> str:
        if self.byte_align_eol:
            # EOL ends on an octet boundary
            fill = (-(self._nbits + pending + 12)) % 8
            return "0" * fill + EOL
        return EOL

    def encode_line(self, row: ArrayLike) -> np.ndarray:
        """Coded bits for one scan line (including its preceding EOL for MH/MR)."""
        row = np.asarray(row, dtype=np.uint8)
        if row.shape != (self.width,):
            raise ValueError(f"line has {row.shape} pixels, expected {self.width}")
        if self.coding == "mmr":
            s = _encode_2d(row, self._ref)
        else:
            one_d = self.coding == "mh" or self._line % self.k == 0
            data = _encode_1d(row) if one_d else _encode_2d(row, self._ref)
            if len(data) < self.min_bits:
                data += "0" * (self.min_bits - len(data))
            tag = "" if self.coding == "mh" else ("1" if one_d else "0")
            eol = self._eol(0)
            s = eol + tag + data
        self._ref = _changes(row)
        self._line += 1
        self._nbits += len(s)
        return _str_bits(s)

    def finish(self) -> np.ndarray:
        """End-of-page bits: RTC (6 EOLs) for MH/MR, EOFB for MMR."""
        if self.coding == "mmr":
            s = EOL + EOL
        elif not self.rtc:
            s = ""
        elif self.coding == "mh":
            s = EOL * 6
        else:
            s = (EOL + "1") * 6
        self._nbits += len(s)
        return _str_bits(s)


def encode_page(img: ArrayLike, coding: str = "mh", k: int = 2, min_bits: int = 0) -> np.ndarray:
    """Whole page (rows, width) 1=black to coded bits, with RTC/EOFB."""
    img = np.asarray(img, dtype=np.uint8)
    enc = T4Encoder(img.shape[1], coding, k, min_bits)
    parts = [enc.encode_line(r) for r in img]
    parts.append(enc.finish())
    return np.concatenate(parts)


def _windows(bits: np.ndarray) -> list[int]:
    """Integer value of the 13 bits starting at every position (zero padded)."""
    n = len(bits)
    p = np.concatenate([bits.astype(np.int32), np.zeros(_W, np.int32)])
    w = np.zeros(n + 1, dtype=np.int32)
    for i in range(_W):
        w += p[i:i + n + 1] << (_W - 1 - i)
    return w.tolist()


def _decode_run(win, pos, colour, end):
    """One run length (makeup codes summed) starting at pos; returns (run, newpos)."""
    vals = _RUN_VAL[colour]
    lens = _RUN_LEN[colour]
    total = 0
    while True:
        if pos >= end:
            raise T4Error("line data ends inside a run")
        v = win[pos]
        r = vals[v]
        if r < 0:
            raise T4Error(f"invalid {'black' if colour else 'white'} run code at bit {pos}")
        pos += lens[v]
        total += r
        if r < 64:
            return total, pos


def _decode_1d(win, pos, end, width) -> tuple[list[int], int]:
    changes = []
    x = 0
    colour = 0
    while x < width:
        run, pos = _decode_run(win, pos, colour, end)
        x += run
        if x > width:
            raise T4Error(f"line too long ({x} > {width})")
        changes.append(x)
        colour ^= 1
    if changes and changes[-1] == width:
        changes.pop()
    return changes, pos


def _decode_2d(win, pos, end, width, ref: list[int]) -> tuple[list[int], int]:
    b = ref + [width, width]
    changes: list[int] = []
    a0 = -1
    colour = 0
    bi = 0
    while a0 < width:
        if pos >= end:
            raise T4Error("line data ends inside a 2-D line")
        v = win[pos]
        mode = _MODE_VAL[v]
        if mode < 0:
            raise T4Error(f"invalid 2-D mode code at bit {pos}")
        pos += _MODE_LEN[v]
        start = a0
        while bi > 0 and b[bi - 1] > start:
            bi -= 1
        while b[bi] <= start and b[bi] < width:
            bi += 1
        if (bi & 1) != colour and b[bi] < width:
            bi += 1
        b1 = b[bi] if (bi & 1) == colour else width
        b2 = b[bi + 1] if b1 < width else width
        if mode == P:
            if b2 >= width and b1 >= width:
                raise T4Error("pass mode past the end of the line")
            a0 = b2
        elif mode == H:
            r1, pos = _decode_run(win, pos, colour, end)
            r2, pos = _decode_run(win, pos, colour ^ 1, end)
            a1 = max(a0, 0) + r1
            a2 = a1 + r2
            if a2 > width:
                raise T4Error(f"horizontal mode past the end of the line ({a2} > {width})")
            changes.append(a1)
            changes.append(a2)
            a0 = a2
        elif mode == EXT:
            raise T4Error("2-D extension (uncompressed mode) not supported")
        else:
            a1 = b1 + _MODE_DELTA[mode]
            if a1 < max(a0, 0) or a1 > width or (a1 == a0 and a0 >= 0):
                raise T4Error(f"vertical mode out of range at bit {pos}")
            changes.append(a1)
            a0 = a1
            colour ^= 1
    while changes and changes[-1] >= width:
        changes.pop()
    return changes, pos


def _row_from_changes(changes: list[int], width: int) -> np.ndarray:
    row = np.zeros(width + 1, dtype=np.int8)
    if changes:
        c = np.asarray(changes)
        np.add.at(row, c, 1)
    return (np.cumsum(row)[:width] & 1).astype(np.uint8)


class T4PageTooLong(T4Error):
    """A page with more rows than the decoder accepts (t4_limits.MAX_PAGE_ROWS): the page is refused."""


class T4Decoder:
    """Streaming decoder: feed(bits) returns the complete scan lines decoded so far.

    MH/MR data is split at EOLs, so lines come out as soon as the next EOL arrives; a bad line is
    replaced by a copy of the previous line and counted in bad_rows. MMR (T.6) has no EOLs: lines
    are decoded as far as the data goes. `page_ended` turns True at RTC (6 EOLs) or EOFB.

    Work and memory are bounded by the input (t4_limits): the EOL search looks at each bit once
    (`bits_scanned` counts the bits it examined), fill zeros beyond FILL_ZEROS_KEPT are dropped, and a
    line with more than max_line_bits(width) bits and no EOL is dropped and counted as a bad line, so
    `buffered_bits` stays below that bound plus one feed. More than `max_rows` rows raise T4PageTooLong
    (and so does every later feed).
    """

    def __init__(self, width: int = 1728, coding: str = "mh", max_rows: int = MAX_PAGE_ROWS):
        if coding not in ("mh", "mr", "mmr"):
            raise ValueError(f"unknown coding {coding!r}")
        self.width = width
        self.coding = coding
        self.max_rows = max_rows
        self._max_line = max_line_bits(width)
        self._buf = np.zeros(0, dtype=np.uint8)
        self._scan = 0        # bits of _buf already searched for EOLs
        self._zeros = 0       # zeros just before _buf[_scan] (since the last one or the start of _buf)
        self._resync = False  # an over-long line was dropped: the data up to the next EOL is its tail
        self._mmr_tried = -1  # len(_buf) at the last MMR decoding attempt that needed more data
        self._ref: list[int] = []
        self._eols = 0
        self._seen_eol = False
        self._last: np.ndarray | None = None
        self.page_ended = False
        self.too_long = False
        self.bad_rows = 0
        self.rows = 0
        self.bits_scanned = 0

    @property
    def buffered_bits(self) -> int:
        """Received bits held until their line is complete."""
        return len(self._buf)

    def feed(self, bits: ArrayLike) -> list[np.ndarray]:
        """Add coded bits; return newly completed rows (each uint8, 1=black)."""
        if self.page_ended and not self.too_long:
            return []
        if not self.too_long:
            self._buf = np.concatenate([self._buf, np.asarray(bits, dtype=np.uint8)])
        return self._decode(final=False)

    def finish(self) -> list[np.ndarray]:
        """Flush at the end of the page data (carrier drop); returns any last rows."""
        return [] if self.page_ended and not self.too_long else self._decode(final=True)

    def _decode(self, final: bool) -> list[np.ndarray]:
        if self.too_long:
            raise T4PageTooLong(f"page too long: more than {self.max_rows} rows")
        out: list[np.ndarray] = []
        (self._feed_mmr if self.coding == "mmr" else self._feed_g3)(out, final)
        return out

    def _emit(self, out: list[np.ndarray], row: np.ndarray) -> None:
        if self.rows >= self.max_rows:
            self.too_long = True
            self._buf = np.zeros(0, dtype=np.uint8)
            raise T4PageTooLong(f"page too long: more than {self.max_rows} rows")
        self.rows += 1
        self._last = row
        out.append(row)

    def _bad_line(self) -> np.ndarray:
        self.bad_rows += 1
        return self._last if self._last is not None else np.zeros(self.width, np.uint8)

    def _eol_positions(self, buf):
        """Start indices of the bit after each EOL (>=11 zeros then a one)."""
        ones = np.nonzero(buf)[0]
        if len(ones) == 0:
            return []
        prev = np.concatenate([[-1], ones[:-1]])
        gap = ones - prev - 1
        ok = gap >= 11
        return (ones[ok] + 1).tolist()

    def _new_eols(self, buf: np.ndarray) -> list[int]:
        """EOL ends (as _eol_positions) in the bits not searched yet; each bit is examined once."""
        start = self._scan
        self.bits_scanned += len(buf) - start
        ones = np.nonzero(buf[start:])[0] + start
        if len(ones) == 0:
            self._zeros += len(buf) - start
            return []
        prev = np.concatenate([[start - 1 - self._zeros], ones[:-1]])
        self._zeros = len(buf) - 1 - int(ones[-1])
        return (ones[ones - prev - 1 >= 11] + 1).tolist()

    def _line_1d_or_2d(self, seg: np.ndarray) -> np.ndarray | None:
        if len(seg) == 0:
            return None
        if self.coding == "mr":
            tag = int(seg[0])
            seg = seg[1:]
        else:
            tag = 1
        win = _windows(seg)
        end = len(seg)
        try:
            if tag:
                ch, pos = _decode_1d(win, 0, end, self.width)
            else:
                ch, pos = _decode_2d(win, 0, end, self.width, self._ref)
            if seg[pos:].any():
                raise T4Error("trailing data after a complete line")
        except T4Error:
            return self._bad_line()
        self._ref = ch
        return _row_from_changes(ch, self.width)

    def _feed_g3(self, out, final):
        buf = self._buf
        consumed = 0
        for p in self._new_eols(buf):
            seg = buf[consumed:p - 12]
            if not self._seen_eol:
                self._seen_eol = True  # data before the first EOL is ignored
            elif self._resync:
                self._resync = False  # the tail of a line already dropped as too long
                self._eols = 0
            else:
                if self.coding == "mr":
                    empty = len(seg) <= 1 or not seg[1:].any()
                else:
                    empty = not seg.any()
                if empty:
                    self._eols += 1
                    if self._eols >= 5:  # 6 EOLs in a row (RTC)
                        self.page_ended = True
                        self._buf = np.zeros(0, dtype=np.uint8)
                        return
                else:
                    self._eols = 0
                    row = self._line_1d_or_2d(seg)
                    if row is not None:
                        self._emit(out, row)
            consumed = p
        buf = buf[consumed:]
        if self._zeros > FILL_ZEROS_KEPT:  # fill (or idle) zeros: keep only what the EOL search needs
            buf = buf[:len(buf) - (self._zeros - FILL_ZEROS_KEPT)]
            self._zeros = FILL_ZEROS_KEPT
        data = len(buf) - self._zeros
        if data > self._max_line:  # no EOL within the longest possible line: garbage, not a line
            if self._seen_eol and not final:
                self._emit(out, self._bad_line())
                self._resync = True
            buf = buf[data:]  # the trailing zeros may be the start of an EOL
        self._buf = buf
        self._scan = len(buf)
        if final and self._seen_eol and not self._resync and self._buf.any():
            seg = self._buf
            row = self._line_1d_or_2d(seg)
            if row is not None:
                self._emit(out, row)
            self._buf = np.zeros(0, dtype=np.uint8)
            self._scan = self._zeros = 0

    def _feed_mmr(self, out, final):
        buf = self._buf
        end = len(buf)
        chunk = 2 * self.width + 64
        eofb = end >= 24 and not buf[:11].any() and buf[11] == 1
        if not final and not eofb and (end < chunk or 0 <= self._mmr_tried and end - self._mmr_tried < chunk):
            return  # not sure a whole line is here yet: wait for more (a retry only every `chunk` bits)
        self.bits_scanned += end
        win = _windows(buf)
        pos = 0
        self._mmr_tried = -1
        while True:
            # EOFB: EOL EOL
            if pos + 24 <= end and not buf[pos:pos + 11].any() and buf[pos + 11] == 1:
                self.page_ended = True
                self._buf = np.zeros(0, dtype=np.uint8)
                return
            if not final and end - pos < chunk:
                break  # not sure a whole line is here yet; wait for more
            if pos >= end or not buf[pos:].any():
                break
            try:
                ch, npos = _decode_2d(win, pos, end, self.width, self._ref)
            except T4Error as exc:
                if final or end - pos > self._max_line:  # no valid line is this long
                    raise T4Error(f"MMR data corrupt after {self.rows} rows: {exc}") from None
                self._mmr_tried = end - pos
                break
            self._ref = ch
            self._emit(out, _row_from_changes(ch, self.width))
            pos = npos
        self._buf = buf[pos:]


def decode_page(bits: ArrayLike, width: int = 1728, coding: str = "mh") -> np.ndarray:
    """Whole page of coded bits to an image (rows, width), 1=black."""
    dec = T4Decoder(width, coding)
    rows = dec.feed(bits)
    rows += dec.finish()
    return np.array(rows, dtype=np.uint8).reshape(-1, width)


def bits_to_bytes_msb(bits: ArrayLike) -> bytes:
    """Bits to octets, first bit in the MSB (TIFF FillOrder 1); zero padded."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def bytes_to_bits_msb(data: bytes) -> np.ndarray:
    """Octets to bits, MSB first."""
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))


def bits_to_bytes_lsb(bits: ArrayLike) -> bytes:
    """Bits to octets, first bit in the LSB (as sent over the line / in ECM frames); zero padded."""
    return np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little").tobytes()


def bytes_to_bits_lsb(data: bytes) -> np.ndarray:
    """Octets to bits, LSB first."""
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8), bitorder="little")
