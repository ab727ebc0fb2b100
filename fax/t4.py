"""T.4 (MH 1-D, MR 2-D) and T.6 (MMR) fax image coding: encode and decode, line by line.

Images are numpy uint8 arrays shaped (rows, width) with 1 = black, 0 = white. Coded data is a numpy
uint8 array of bits in transmission order (the first bit of each code first).

The coding runs in C (fax/kernel/t4codec.c, the decoder t4decode.c, issue #21); these classes hold its state
and buffers.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._t4codec import ffi, lib
from .t4_limits import FILL_ZEROS_KEPT, MAX_PAGE_ROWS, max_line_bits

__all__ = ["T4Encoder", "T4Decoder", "encode_page", "encode_page_bytes", "decode_page", "T4Error", "T4PageTooLong",
           "EOL_BITS", "WIDTHS", "bits_to_bytes_msb", "bytes_to_bits_msb", "bits_to_bytes_lsb", "bytes_to_bits_lsb",
           "reverse_bits", "check_page"]

WIDTHS = (1728, 2048, 2432)
MAX_WIDTH = 1 << 15  # pixels a line: far beyond any fax width, keeps the C scratch buffers small

EOL = "000000000001"
EOL_BITS = np.array([int(c) for c in EOL], dtype=np.uint8)

_CODINGS = {"mh": 0, "mr": 1, "mmr": 2}
_DONE, _MORE, _TOO_LONG, _CORRUPT = 0, 1, 2, 3
_ROWS_A_CALL = 1024  # decoded rows returned by one C call (the decoder is called again while there are more)

lib.t4c_init()


class T4Error(ValueError):
    """Coded fax data that cannot be decoded."""


class T4PageTooLong(T4Error):
    """A page with more rows than the decoder accepts (t4_limits.MAX_PAGE_ROWS): the page is refused."""


def _check(width: int, coding: str) -> None:
    if coding not in _CODINGS:
        raise ValueError(f"unknown coding {coding!r}")
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"line width {width} out of range (1..{MAX_WIDTH} pixels)")


def _ptr(ctype: str, arr: np.ndarray) -> Any:
    return ffi.from_buffer(ctype, arr)


class T4Encoder:
    """Streaming encoder: encode_line(row) returns the bits for one scan line, finish() the page end.

    coding: "mh" (T.4 1-D), "mr" (T.4 2-D, k lines per 1-D line) or "mmr" (T.6).
    min_bits: minimum bits per coded line (min scan line time x bit rate), filled with zeros before EOL.
    Every MH/MR line is preceded by its EOL (so a page starts with one); rtc=False leaves out the
    6-EOL end of page (TIFF G3); byte_align_eol pads so that each EOL ends on an octet boundary.
    encode_lines(img) and page_bytes(img) code many rows in one call (the fast path for whole pages).
    """

    def __init__(self, width: int = 1728, coding: str = "mh", k: int = 2, min_bits: int = 0,
                 rtc: bool = True, byte_align_eol: bool = False):
        _check(width, coding)
        if coding == "mr" and k < 1:
            raise ValueError(f"MR needs k >= 1 (got {k})")
        self._width, self._coding = width, coding
        self.k = k
        self.min_bits = min_bits
        self.rtc = rtc
        self.byte_align_eol = byte_align_eol
        self._s = ffi.new("t4e_state_t *")
        self._s.width = width
        self._s.coding = _CODINGS[coding]
        self._ref = np.zeros(2 * width + 8, np.int32)
        self._cur = np.zeros(2 * width + 8, np.int32)

    @property
    def width(self) -> int:
        """Pixels a line (fixed: the C state and its buffers are sized by it)."""
        return self._width

    @property
    def coding(self) -> str:
        """"mh", "mr" or "mmr" (fixed)."""
        return self._coding

    def _code(self, img: NDArray[np.uint8], finish: bool, lsb: bool) -> tuple[NDArray[np.uint8], int]:
        """Packed octets and their bit count for img's rows (and the page end)."""
        s = self._s
        s.k, s.min_bits, s.rtc, s.byte_align_eol = self.k, max(0, self.min_bits), self.rtc, self.byte_align_eol
        img = np.ascontiguousarray(img, dtype=np.uint8)
        rows = img.shape[0]
        out = np.empty(int(lib.t4e_bound(s, rows)), np.uint8)
        nbits = lib.t4e_encode(s, _ptr("int32_t[]", self._ref), _ptr("int32_t[]", self._cur),
                               _ptr("uint8_t[]", img), rows, int(finish), _ptr("uint8_t[]", out), len(out),
                               int(lsb))
        if nbits < 0:
            raise AssertionError("T.4 encoder output bound exceeded")
        return out[:(nbits + 7) // 8], int(nbits)

    def _bits(self, img: NDArray[np.uint8], finish: bool) -> NDArray[np.uint8]:
        packed, nbits = self._code(img, finish, lsb=False)
        return np.unpackbits(packed, count=nbits)

    def _rows(self, img: ArrayLike) -> NDArray[np.uint8]:
        img = np.asarray(img, dtype=np.uint8)
        if img.ndim != 2 or img.shape[1] != self.width:
            raise ValueError(f"lines have {img.shape[1:]} pixels, expected {self.width}")
        return img

    def encode_line(self, row: ArrayLike) -> np.ndarray:
        """Coded bits for one scan line (including its preceding EOL for MH/MR)."""
        row = np.asarray(row, dtype=np.uint8)
        if row.shape != (self.width,):
            raise ValueError(f"line has {row.shape} pixels, expected {self.width}")
        return self._bits(row.reshape(1, -1), finish=False)

    def encode_lines(self, img: ArrayLike) -> np.ndarray:
        """Coded bits for the rows of img (rows, width), as encode_line of each row concatenated."""
        return self._bits(self._rows(img), finish=False)

    def finish(self) -> np.ndarray:
        """End-of-page bits: RTC (6 EOLs) for MH/MR, EOFB for MMR."""
        return self._bits(np.zeros((0, self.width), np.uint8), finish=True)

    def page_bytes(self, img: ArrayLike, lsb: bool = True) -> bytes:
        """The rows of img and the page end as octets (first bit in the LSB as sent on the line and in ECM
        frames, or MSB for TIFF FillOrder 1), zero padded."""
        packed, _ = self._code(self._rows(img), finish=True, lsb=lsb)
        return packed.tobytes()


def encode_page(img: ArrayLike, coding: str = "mh", k: int = 2, min_bits: int = 0) -> np.ndarray:
    """Whole page (rows, width) 1=black to coded bits, with RTC/EOFB."""
    img = np.asarray(img, dtype=np.uint8)
    enc = T4Encoder(img.shape[1], coding, k, min_bits)
    return enc._bits(enc._rows(img), finish=True)


def encode_page_bytes(img: ArrayLike, coding: str = "mh", k: int = 2, min_bits: int = 0, lsb: bool = True) -> bytes:
    """Whole page (rows, width) 1=black to coded octets with RTC/EOFB (LSB first unless lsb=False)."""
    img = np.asarray(img, dtype=np.uint8)
    return T4Encoder(img.shape[1], coding, k, min_bits).page_bytes(img, lsb)


_LINE_ERRORS = {
    1: "line data ends inside a run", 2: "invalid {colour} run code at bit {pos}", 3: "line too long ({val} > {w})",
    4: "line data ends inside a 2-D line", 5: "invalid 2-D mode code at bit {pos}",
    6: "pass mode past the end of the line", 7: "horizontal mode past the end of the line ({val} > {w})",
    8: "2-D extension (uncompressed mode) not supported", 9: "vertical mode out of range at bit {pos}",
    10: "too many changing elements in a line", 11: "trailing data after a complete line",
}


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
        _check(width, coding)
        self._width, self._coding, self._max_rows = width, coding, max_rows
        s = self._s = ffi.new("t4d_state_t *")
        s.width, s.coding, s.max_rows = width, _CODINGS[coding], max_rows
        s.max_line, s.fill_kept, s.mmr_tried = max_line_bits(width), FILL_ZEROS_KEPT, -1
        self._ref = np.zeros(2 * width + 8, np.int32)
        self._cur = np.zeros(2 * width + 8, np.int32)
        self._last = np.zeros(width, np.uint8)
        self._nrows = ffi.new("int *")
        self._buf = np.zeros(0, dtype=np.uint8)

    @property
    def width(self) -> int:
        """Pixels a line (fixed: the C state and its buffers are sized by it)."""
        return self._width

    @property
    def coding(self) -> str:
        """"mh", "mr" or "mmr" (fixed)."""
        return self._coding

    @property
    def max_rows(self) -> int:
        """Rows a page may have (fixed)."""
        return self._max_rows

    @property
    def page_ended(self) -> bool:
        """True once RTC (MH/MR) or EOFB (MMR) arrived."""
        return bool(self._s.page_ended)

    @property
    def too_long(self) -> bool:
        """True once the page went past max_rows rows."""
        return bool(self._s.too_long)

    @property
    def rows(self) -> int:
        """Rows decoded so far (bad ones included)."""
        return int(self._s.rows)

    @property
    def bad_rows(self) -> int:
        """Rows that could not be decoded and were replaced by the previous row."""
        return int(self._s.bad_rows)

    @property
    def bits_scanned(self) -> int:
        """Bits examined (the EOL search of MH/MR looks at each bit once)."""
        return int(self._s.bits_scanned)

    @property
    def _seen_eol(self) -> bool:
        return bool(self._s.seen_eol)

    @_seen_eol.setter
    def _seen_eol(self, value: bool) -> None:
        """True lets MH/MR data before the first EOL count as a line (TIFF G3 strips need not start with one)."""
        self._s.seen_eol = int(value)

    @property
    def buffered_bits(self) -> int:
        """Received bits held until their line is complete."""
        return len(self._buf)

    def feed(self, bits: ArrayLike) -> list[np.ndarray]:
        """Add coded bits; return newly completed rows (each uint8, 1=black)."""
        return [row for chunk in self._feed_chunks(bits) for row in chunk]

    def finish(self) -> list[np.ndarray]:
        """Flush at the end of the page data (carrier drop); returns any last rows."""
        return [row for chunk in self._finish_chunks() for row in chunk]

    def decode_all(self, bits: ArrayLike) -> NDArray[np.uint8]:
        """feed(bits) then finish() (the rest of a page at once), the rows as one (rows, width) uint8 image."""
        chunks = self._feed_chunks(bits)
        chunks += self._finish_chunks()
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.width), np.uint8)

    def _feed_chunks(self, bits: ArrayLike) -> list[NDArray[np.uint8]]:
        if self.page_ended and not self.too_long:
            return []
        if not self.too_long:
            self._buf = np.concatenate([self._buf, np.asarray(bits, dtype=np.uint8).reshape(-1)])
        return self._decode(final=False)

    def _finish_chunks(self) -> list[NDArray[np.uint8]]:
        return [] if self.page_ended and not self.too_long else self._decode(final=True)

    def _decode(self, final: bool) -> list[NDArray[np.uint8]]:
        """Decode what the buffer holds: the new rows as (rows, width) arrays, one per C call."""
        if self.too_long:
            raise T4PageTooLong(f"page too long: more than {self.max_rows} rows")
        out: list[NDArray[np.uint8]] = []
        s = self._s
        while True:
            buf = self._buf
            n = len(buf)
            per_row = 12 if self.coding != "mmr" else 1
            cap = max(4, min(_ROWS_A_CALL, n // per_row + 4, self.max_rows - self.rows + 4))
            rows = np.empty((cap, self.width), np.uint8)
            rc = lib.t4d_feed(s, _ptr("int32_t[]", self._ref), _ptr("int32_t[]", self._cur),
                              _ptr("uint8_t[]", self._last), _ptr("uint8_t[]", buf), n, int(final),
                              _ptr("uint8_t[]", rows), cap, self._nrows)
            got = int(self._nrows[0])
            if got:
                if got < cap:   # give the unused rows back (in place: realloc shrinks the block)
                    rows.resize((got, self.width), refcheck=False)
                out.append(rows)
            self._buf = buf[s.keep_start:s.keep_end]
            if rc == _MORE:
                continue
            if rc == _TOO_LONG:
                raise T4PageTooLong(f"page too long: more than {self.max_rows} rows")
            if rc == _CORRUPT:
                raise T4Error(f"MMR data corrupt after {self.rows} rows: {self._line_error()}")
            return out

    def _line_error(self) -> str:
        s = self._s
        return _LINE_ERRORS.get(s.err, "error {err}").format(colour="black" if s.err_val else "white",
                                                              pos=s.err_pos, val=s.err_val, w=self.width,
                                                              err=s.err)

    @staticmethod
    def _eol_positions(buf: np.ndarray) -> list[int]:
        """Start indices of the bit after each EOL (>=11 zeros then a one)."""
        ones = np.nonzero(buf)[0]
        if len(ones) == 0:
            return []
        prev = np.concatenate([[-1], ones[:-1]])
        return (ones[ones - prev - 1 >= 11] + 1).tolist()


def check_page(data: bytes, width: int = 1728, coding: str = "mr", max_rows: int = MAX_PAGE_ROWS) -> int:
    """Rows of a whole MH/MR page (octets MSB first) when it decodes cleanly (every line good, RTC, at most
    max_rows rows: what T4Decoder.decode_all would find), without decoding its image; -1 otherwise (MMR too)."""
    _check(width, coding)
    scratch = np.empty(2 * (2 * width + 8), np.int32)
    return int(lib.t4d_check(ffi.from_buffer("uint8_t[]", data), len(data), width, _CODINGS[coding], max_rows,
                             _ptr("int32_t[]", scratch), _ptr("int32_t[]", scratch[2 * width + 8:])))


def decode_page(bits: ArrayLike, width: int = 1728, coding: str = "mh") -> np.ndarray:
    """Whole page of coded bits to an image (rows, width), 1=black."""
    dec = T4Decoder(width, coding)
    rows = dec.feed(bits)
    rows += dec.finish()
    return np.array(rows, dtype=np.uint8).reshape(-1, width)


_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def reverse_bits(data: bytes) -> bytes:
    """Octets with their bit order reversed (LSB-first line order <-> MSB-first TIFF FillOrder 1)."""
    return bytes(data).translate(_REVERSED)


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
