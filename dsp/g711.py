"""G.711 A-law and mu-law as lookup tables over whole (channels, samples) arrays."""
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Codes = NDArray[np.uint8]
Samples = NDArray[np.int16]
#: which channels (rows) of the codec a partial array holds
Rows = NDArray[np.integer[Any]] | Sequence[int] | None

ALAW = "alaw"
ULAW = "ulaw"
SILENCE = {ALAW: 0xD5, ULAW: 0xFF}


def _alaw_decode_table() -> Samples:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    mant = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    mag = np.where(seg > 0, (mant + 0x108) << np.maximum(seg - 1, 0), mant + 8)
    return np.where(a & 0x80, mag, -mag).astype(np.int16)


def _ulaw_decode_table() -> Samples:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _segment(m: NDArray[np.int32]) -> NDArray[np.int32]:
    """Segment number of a biased magnitude (bit length of m|0xFF minus 8)."""
    return np.floor(np.log2(m | 0xFF)).astype(np.int32) - 7


def _alaw_encode_table() -> Codes:
    x = np.arange(-32768, 32768, dtype=np.int32)
    mask = np.where(x >= 0, 0xD5, 0x55)
    m = np.where(x >= 0, x, -x - 1)
    seg = _segment(m)
    shift = np.where(seg > 0, seg + 3, 4)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((m >> shift) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _ulaw_encode_table() -> Codes:
    x = np.arange(-32768, 32768, dtype=np.int32)
    mask = np.where(x < 0, 0x7F, 0xFF)
    m = np.where(x < 0, 0x84 - x, 0x84 + x)
    seg = _segment(m)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((m >> np.minimum(seg + 3, 31)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


ALAW_DECODE = _alaw_decode_table()
ULAW_DECODE = _ulaw_decode_table()
ALAW_ENCODE = _alaw_encode_table()
ULAW_ENCODE = _ulaw_encode_table()
_DECODE = {ALAW: ALAW_DECODE, ULAW: ULAW_DECODE}
_ENCODE = {ALAW: ALAW_ENCODE, ULAW: ULAW_ENCODE}


def alaw_decode(codes: Codes) -> Samples:
    """A-law bytes (uint8, any shape) to int16 linear samples."""
    return ALAW_DECODE[codes]


def ulaw_decode(codes: Codes) -> Samples:
    """mu-law bytes (uint8, any shape) to int16 linear samples."""
    return ULAW_DECODE[codes]


def alaw_encode(samples: Samples) -> Codes:
    """int16 linear samples (any shape) to A-law bytes."""
    return ALAW_ENCODE[samples.astype(np.int16, copy=False).view(np.uint16) ^ 0x8000]


def ulaw_encode(samples: Samples) -> Codes:
    """int16 linear samples (any shape) to mu-law bytes."""
    return ULAW_ENCODE[samples.astype(np.int16, copy=False).view(np.uint16) ^ 0x8000]


def decode(codes: Codes, law: str = ALAW) -> Samples:
    """G.711 bytes of the given law to int16 linear samples."""
    return _DECODE[law][codes]


def encode(samples: Samples, law: str = ALAW) -> Codes:
    """int16 linear samples to G.711 bytes of the given law."""
    return _ENCODE[law][samples.astype(np.int16, copy=False).view(np.uint16) ^ 0x8000]


class MixedLawCodec:
    """Decode/encode a (channels, samples) array whose rows use different laws, in one step."""

    def __init__(self, laws: Sequence[str]) -> None:
        ulaw_rows = np.array([law == ULAW for law in laws], dtype=bool)
        # rows offset into one 512-entry decode table / 2x65536 encode table
        self._dec_off = np.where(ulaw_rows, 256, 0).astype(np.int32)[:, None]
        self._enc_off = np.where(ulaw_rows, 65536, 0).astype(np.int32)[:, None]
        self._uniform = ALAW if not ulaw_rows.any() else (ULAW if ulaw_rows.all() else None)
        self._dec = np.concatenate([ALAW_DECODE, ULAW_DECODE])
        self._enc = np.concatenate([ALAW_ENCODE, ULAW_ENCODE])

    def decode(self, codes: Codes, rows: Rows = None) -> Samples:
        """G.711 bytes (channels, n) to int16; rows selects which channels the array holds."""
        if self._uniform is not None:
            return _DECODE[self._uniform][codes]
        off = self._dec_off if rows is None else self._dec_off[rows]
        return self._dec[codes + off]

    def encode(self, samples: Samples, rows: Rows = None) -> Codes:
        """int16 (channels, n) to G.711 bytes; rows selects which channels the array holds."""
        idx = samples.astype(np.int16, copy=False).view(np.uint16) ^ 0x8000
        if self._uniform is not None:
            return _ENCODE[self._uniform][idx]
        off = self._enc_off if rows is None else self._enc_off[rows]
        return self._enc[idx.astype(np.int32) + off]
