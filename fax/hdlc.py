"""HDLC framing for T.30: flags, bit stuffing, CRC-16 (ITU) and CRC-32 (ITU) frame check sequences.

Bits are numpy uint8 arrays of 0/1 in transmission order; octets go out LSB first.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from trunkline.fax._faxbank import ffi, lib

__all__ = ["crc16", "crc32", "append_crc16", "append_crc32", "check_crc16", "check_crc32",
           "bytes_to_bits", "bits_to_bytes", "frame_bits", "flag_bits", "PackedBits", "HDLCEncoder", "HDLCDecoder"]


class PackedBits(NamedTuple):
    """nbits bits packed eight an octet (bit i in bit i % 8 of data[i // 8]): an eighth of the memory of 0/1 octets,
    for the image modem's long ECM bursts. data may hold spare octets after the last bit (the V.17 kernel reads
    8 octets at a time)."""

    data: NDArray[np.uint8]
    nbits: int

    def unpacked(self) -> NDArray[np.uint8]:
        """The bits as 0/1 octets."""
        return np.unpackbits(self.data, count=self.nbits, bitorder="little")


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """ITU-T CRC-16 (reflected 0x1021) register over data, starting from crc; no final inversion (the C kernel)."""
    b = bytes(data)
    return int(lib.fb_crc16(b, len(b), crc))


def crc32(data: bytes, crc: int = 0xFFFFFFFF) -> int:
    """ITU-T CRC-32 (reflected 0x04C11DB7) register over data, starting from crc; no final inversion (the C kernel)."""
    b = bytes(data)
    return int(lib.fb_crc32(b, len(b), crc))


def append_crc16(data: bytes) -> bytes:
    """data followed by its 2-octet FCS (inverted CRC-16, low octet first)."""
    c = crc16(data) ^ 0xFFFF
    return bytes(data) + bytes((c & 0xFF, c >> 8))


def append_crc32(data: bytes) -> bytes:
    """data followed by its 4-octet FCS (inverted CRC-32, low octet first)."""
    c = crc32(data) ^ 0xFFFFFFFF
    return bytes(data) + c.to_bytes(4, "little")


_GOOD_CRC16 = 0xF0B8       # the CRC-16 register after a frame and its good FCS (no final inversion)
_GOOD_CRC32 = 0xDEBB20E3   # the same for CRC-32


def check_crc16(frame: bytes) -> bool:
    """True when frame (data + 2-octet FCS) has a good CRC-16."""
    return len(frame) >= 2 and crc16(frame) == _GOOD_CRC16


def check_crc32(frame: bytes) -> bool:
    """True when frame (data + 4-octet FCS) has a good CRC-32."""
    return len(frame) >= 4 and crc32(frame) == _GOOD_CRC32


def bytes_to_bits(data: bytes) -> np.ndarray:
    """Octets to bits, LSB of each octet first."""
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8), bitorder="little")


def bits_to_bytes(bits: np.ndarray) -> bytes:
    """Bits (LSB of each octet first) to octets; the length must be a multiple of 8."""
    return np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little").tobytes()


_ACC = 8192  # bits a frame in progress may hold (FB_HDLC_ACC in kernel/faxbank.h)
_FLAG = np.array([0, 1, 1, 1, 1, 1, 1, 0], dtype=np.uint8)


def flag_bits(count: int) -> np.ndarray:
    """count HDLC flags (0x7E) as bits."""
    return np.tile(_FLAG, count)


def _encode(frames: list[bytes], fcs32: bool, pre: int, between: int, closing: int) -> np.ndarray:
    """Flags and frames (FCS appended, bit stuffed) as bits, in one kernel call."""
    if min(pre, between, closing) < 0:
        raise ValueError("flag counts must be >= 0")
    data = b"".join(bytes(f) for f in frames)
    lens = np.array([len(f) for f in frames], dtype=np.int32)
    cap = int(lib.fb_hdlc_encode_cap(len(data), len(frames), pre, between, closing))
    out = np.empty(cap, dtype=np.uint8)
    m = lib.fb_hdlc_encode(data, ffi.from_buffer("int[]", lens), len(frames), int(fcs32), pre, between, closing,
                           ffi.from_buffer("uint8_t[]", out), cap)
    if m < 0:
        raise ValueError("HDLC frames too long for the encoder")
    return out[:m]


def _encode_packed(frames: list[bytes], fcs32: bool, pre: int, between: int, closing: int) -> PackedBits:
    """_encode's bits packed (one kernel call), with 8 spare octets after the last bit."""
    if min(pre, between, closing) < 0:
        raise ValueError("flag counts must be >= 0")
    data = b"".join(frames)
    lens = np.fromiter((len(f) for f in frames), dtype=np.int32, count=len(frames))
    cap = int(lib.fb_hdlc_encode_cap(len(data), len(frames), pre, between, closing)) // 8 + 8
    out = np.empty(cap, dtype=np.uint8)
    m = int(lib.fb_hdlc_encode_packed(data, ffi.from_buffer("int[]", lens), len(frames), int(fcs32), pre, between,
                                      closing, ffi.from_buffer("uint8_t[]", out), cap))
    if m < 0:
        raise ValueError("HDLC frames too long for the encoder")
    return PackedBits(out, m)


def frame_bits(data: bytes, fcs32: bool = False) -> np.ndarray:
    """One frame body: data + FCS, bit stuffed (no flags)."""
    return _encode([data], fcs32, 0, 0, 0)


class HDLCEncoder:
    """Builds a bit stream of flags and frames: preamble flags, frames separated by flags, closing flags."""

    def __init__(self, fcs32: bool = False):
        self.fcs32 = fcs32

    def encode(self, frames: list[bytes], preamble_flags: int = 1, between_flags: int = 1,
               closing_flags: int = 1) -> np.ndarray:
        """Bits for frames with the given number of flags before, between and after (one kernel call)."""
        return _encode(list(frames), self.fcs32, preamble_flags, between_flags, closing_flags)

    def encode_packed(self, frames: list[bytes], preamble_flags: int = 1, between_flags: int = 1,
                      closing_flags: int = 1) -> PackedBits:
        """The bits of encode() packed eight an octet (frames as bytes; one kernel call)."""
        return _encode_packed([bytes(f) for f in frames], self.fcs32, preamble_flags, between_flags, closing_flags)


class HDLCDecoder:
    """Bit-serial HDLC receiver: finds flags, removes stuffing, checks the FCS.

    put_bits() returns a list of (frame_bytes_without_fcs, ok) for every frame closed by a flag.
    Aborts (7+ ones) drop the frame in progress; runts (shorter than FCS + 1 octet) and frames
    that are not a whole number of octets are dropped; over-long frames are discarded.
    """

    def __init__(self, fcs32: bool = False, max_len: int = 400):
        self.fcs32 = fcs32
        self.max_len = max_len
        self.reset()

    def reset(self) -> None:
        """Forget any partial frame and flag synchronisation; zero the counters."""
        fcs_len = 4 if self.fcs32 else 2
        h: Any = ffi.new("fb_hdlc_t *")
        h.limit = (self.max_len + fcs_len + 1) * 8
        if h.limit + 8 > _ACC:
            raise ValueError(f"max_len {self.max_len} exceeds the HDLC kernel's {_ACC // 8 - 16} octets")
        h.min_bits = (fcs_len + 1) * 8
        h.fcs_len = fcs_len     # a demodulator deframing in the kernel gets each frame's FCS check with it
        self._h = h
        self.frames_ok = 0
        self.frames_bad = 0

    @property
    def pending_bits(self) -> int:
        """Bits of the frame in progress (bounded by max_len octets + FCS)."""
        return int(self._h.nacc)

    @property
    def flags_seen(self) -> int:
        """Flags received since the last reset."""
        return int(self._h.flags_seen)

    def put_bits(self, bits: NDArray[np.uint8] | Iterable[int]) -> list[tuple[bytes, bool]]:
        """Feed received bits (0/1); return the frames completed by these bits as (data, crc_ok)."""
        src = np.ascontiguousarray(np.fromiter(bits, dtype=np.uint8) if not isinstance(bits, np.ndarray)
                                   else bits, dtype=np.uint8)
        n = len(src)
        if n == 0:
            return []
        cap = _ACC // 8 + n // 8 + 16
        buf = np.empty(cap, dtype=np.uint8)
        lens = np.empty(n // 8 + 2, dtype=np.int32)
        nf = lib.fb_hdlc_put(self._h, ffi.from_buffer("uint8_t[]", src), n, ffi.from_buffer("uint8_t[]", buf),
                             cap, ffi.from_buffer("int[]", lens), len(lens))
        if nf == 0:
            return []
        return self.check_frames(buf.tobytes(), lens[:nf].tolist())

    @property
    def state(self) -> Any:
        """The kernel's receiver state (fb_hdlc_t *), for a demodulator that deframes in the kernel."""
        return self._h

    def check_frames(self, raw: bytes, lens: list[int], oks: bytes | None = None) -> list[tuple[bytes, bool]]:
        """Frames (FCS included) packed one after the other in raw, lengths in lens -> [(data, crc_ok)]; oks: the
        FCS checks already made in the kernel (one octet 0/1 a frame), else checked here."""
        if self.fcs32:
            crc, init, good, fcs_len = lib.fb_crc32, 0xFFFFFFFF, _GOOD_CRC32, 4
        else:
            crc, init, good, fcs_len = lib.fb_crc16, 0xFFFF, _GOOD_CRC16, 2
        out = []
        pos = 0
        nok = 0
        for i, ln in enumerate(lens):
            end = pos + ln
            if oks is not None:
                ok = bool(oks[i])
            else:
                ok = ln >= fcs_len and crc(raw[pos:end], ln, init) == good
            nok += ok
            out.append((raw[pos:end - fcs_len], ok))
            pos = end
        self.frames_ok += nok
        self.frames_bad += len(lens) - nok
        return out
