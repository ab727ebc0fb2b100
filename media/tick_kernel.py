"""The engine's per-sample tick work in C (media/kernel/tick.c): one call per stage for all channels.

G.711 decode and encode with each channel's law (the tables of dsp.g711), clipping the
mix to int16, two-party bridges, players and the recording capture each run as one C
loop over the rows that need them; Python never loops over channels on the tick.
Results are those of the numpy expressions they replace (same tables, same arithmetic).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.dtmf import DTMFDetector
from trunkline.dsp.g711 import ALAW_DECODE, ALAW_ENCODE, ULAW, ULAW_DECODE, ULAW_ENCODE
from trunkline.media._tick import ffi, lib

_DEC = np.ascontiguousarray(np.concatenate([ALAW_DECODE, ULAW_DECODE]).astype(np.int16))
#: A-law's code is constant over aligned runs of 16 linear values: its 4 KB table (index (x + 32768) >> 4) stays in L1
_ALAW_SHIFT = 4
_ALAW_COMPACT = np.asarray(ALAW_ENCODE, dtype=np.uint8)[::1 << _ALAW_SHIFT]
if not np.array_equal(np.repeat(_ALAW_COMPACT, 1 << _ALAW_SHIFT), np.asarray(ALAW_ENCODE, dtype=np.uint8)):
    raise RuntimeError("the A-law encode table is not constant over runs of 16: the compact table would differ")
_ENC = np.ascontiguousarray(np.concatenate([_ALAW_COMPACT, ULAW_ENCODE]).astype(np.uint8))


_DTYPES = {"uint8_t *": np.uint8, "int16_t *": np.int16, "int32_t *": np.int32, "int64_t *": np.int64,
           "int8_t *": np.int8, "float *": np.float32, "double *": np.float64}


def _ptr(kind: str, a: np.ndarray) -> object:
    """A cffi pointer to a C-contiguous array's data; its dtype must be the C type's (never reinterpreted)."""
    if not a.flags.c_contiguous or a.dtype != _DTYPES[kind]:
        raise ValueError(f"tick kernel arrays must be C-contiguous {kind[:-2]}, got {a.dtype}")
    return ffi.from_buffer(kind, a, require_writable=False)


def _check_rows(rows: NDArray[np.int64], limit: int) -> None:
    """Rows the C loops index must lie in [0, limit): an IndexError here, never a read out of bounds."""
    if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= limit):
        raise IndexError(f"channel rows out of range 0..{limit - 1}")


def _rows(rows: NDArray[np.integer]) -> NDArray[np.int64]:
    return np.ascontiguousarray(rows, dtype=np.int64)


class TickKernel:
    """G.711 for a board's channels (law per channel): decode(codes) and encode(acc), int16 and uint8 arrays."""

    def __init__(self, laws: Sequence[str], block: int) -> None:
        ulaw = np.array([law == ULAW for law in laws], dtype=bool)
        self.channels = len(laws)
        self.block = block
        self._dec_off = np.where(ulaw, 256, 0).astype(np.int32)
        self._enc_off = np.where(ulaw, len(_ALAW_COMPACT), 0).astype(np.int32)
        self._enc_shift = np.where(ulaw, 0, _ALAW_SHIFT).astype(np.int32)

    def decode(self, codes: NDArray[np.uint8]) -> NDArray[np.int16]:
        """All channels' G.711 codes (channels, block) to a new int16 array."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[0] != self.channels:
            raise ValueError(f"codes must be shaped ({self.channels}, n), got {codes.shape}")
        out = np.empty(codes.shape, dtype=np.int16)
        lib.tk_decode(_ptr("uint8_t *", codes), codes.shape[0], codes.shape[1], _ptr("int16_t *", _DEC),
                      _ptr("int32_t *", self._dec_off), _ptr("int16_t *", out))
        return out

    def encode(self, acc: NDArray[np.int32]) -> tuple[NDArray[np.int16], NDArray[np.uint8]]:
        """The int32 mix (channels, block), clipped to int16, and its G.711 codes: new arrays (out, codes)."""
        if acc.ndim != 2 or acc.shape[0] != self.channels:
            raise ValueError(f"acc must be shaped ({self.channels}, n), got {acc.shape}")
        out = np.empty(acc.shape, dtype=np.int16)
        codes = np.empty(acc.shape, dtype=np.uint8)
        lib.tk_encode(_ptr("int32_t *", acc), acc.shape[0], acc.shape[1], _ptr("uint8_t *", _ENC),
                      _ptr("int32_t *", self._enc_off), _ptr("int32_t *", self._enc_shift), _ptr("int16_t *", out),
                      _ptr("uint8_t *", codes))
        return out, codes


def gather_add(acc: NDArray[np.int32], src: NDArray[np.int16], dst: NDArray[np.int64],
               frm: NDArray[np.int64]) -> None:
    """acc[dst[i]] += src[frm[i]] for every i (rows of block samples; dst rows distinct)."""
    dst, frm = _rows(dst), _rows(frm)
    src = np.ascontiguousarray(src, dtype=np.int16)
    if len(dst) != len(frm) or src.shape[1:] != acc.shape[1:]:
        raise ValueError("gather_add: dst/frm lengths or block sizes differ")
    _check_rows(dst, acc.shape[0])
    _check_rows(frm, src.shape[0])
    lib.tk_gather_add(_ptr("int32_t *", acc), _ptr("int16_t *", src), _ptr("int64_t *", dst),
                      _ptr("int64_t *", frm), len(dst), acc.shape[1])


def play(acc: NDArray[np.int32], data: NDArray[np.int16], rows: NDArray[np.int64], start: NDArray[np.int64],
         pos: NDArray[np.int64], length: NDArray[np.int64], loop: NDArray[np.bool_]) -> None:
    """Add one block of each row's clip (pool data[start:start+length] from pos, wrapping when loop) into acc;
    start/pos/length/loop are indexed by channel (whole-board arrays)."""
    rows = _rows(rows)
    _check_rows(rows, min(acc.shape[0], len(start), len(pos), len(length), len(loop)))
    lib.tk_play(_ptr("int32_t *", acc), _ptr("int16_t *", data), _ptr("int64_t *", rows), len(rows),
                _ptr("int64_t *", start), _ptr("int64_t *", pos), _ptr("int64_t *", length),
                _ptr("uint8_t *", loop.view(np.uint8)), acc.shape[1])


def capture(buf: NDArray[np.uint8], slots: int, t: int, ch: NDArray[np.int64], codes_in: NDArray[np.uint8],
            codes_out: NDArray[np.uint8]) -> None:
    """buf[s, t, 0] = codes_in[ch[s]] and buf[s, t, 1] = codes_out[ch[s]] for s < slots; buf (cap, ticks, 2, block)."""
    codes_in = np.ascontiguousarray(codes_in, dtype=np.uint8)
    codes_out = np.ascontiguousarray(codes_out, dtype=np.uint8)
    ch = _rows(ch[:slots])
    if codes_in.shape != codes_out.shape or codes_in.shape[1] != buf.shape[3] or not 0 <= slots <= buf.shape[0] \
            or not 0 <= t < buf.shape[1]:
        raise ValueError("capture: buffer, codes or tick out of shape")
    _check_rows(ch, codes_in.shape[0])
    lib.tk_capture(_ptr("uint8_t *", buf), slots, buf.shape[1], t, buf.shape[3], _ptr("int64_t *", ch),
                   _ptr("uint8_t *", codes_in), _ptr("uint8_t *", codes_out))


def interleave(buf: NDArray[np.uint8], slot: int, a: int, b: int) -> NDArray[np.uint8]:
    """Ticks [a, b) of `slot` in buf (cap, ticks, 2, block) as (samples, 2) codes: (received, sent) pairs."""
    block = buf.shape[3]
    if not (0 <= slot < buf.shape[0] and 0 <= a <= b <= buf.shape[1]):
        raise IndexError("interleave: slot or ticks out of the buffer")
    out = np.empty(((b - a) * block, 2), dtype=np.uint8)
    lib.tk_interleave(_ptr("uint8_t *", buf), buf.shape[1], block, slot, a, b, _ptr("uint8_t *", out))
    return out


def dtmf_stage1(frames: NDArray[np.int16], nw: int, win: int, decim: int, basis: NDArray[np.float32], thr: float,
                frac: float, min_energy: float, out: NDArray[np.int8], tail: NDArray[np.int16]) -> int:
    """DTMF stage 1 (a dsp.dtmf.Stage1) in C: for each of the nw windows of win samples at the start of every row of
    frames, out[row * nw + w] = the candidate digit 0..15 or -1, and tail (rows, hop) = each row's last hop samples
    of those windows; returns how many candidates."""
    if frames.ndim != 2 or frames.dtype != np.int16:
        raise ValueError("dtmf_stage1: frames must be int16 (rows, n)")
    frames = np.ascontiguousarray(frames)        # a copy only when the caller cut a tail off the rows
    n1 = win // decim
    if not (0 < n1 <= 256 and win % decim == 0 and nw * win <= frames.shape[1]):
        raise ValueError(f"dtmf_stage1: {nw} windows of {win} samples (decimation {decim}) do not fit")
    if basis.shape != (n1, 16) or out.shape != (frames.shape[0] * nw,):
        raise ValueError("dtmf_stage1: basis must be (win / decim, 16) and out (rows * nw,)")
    if tail.ndim != 2 or tail.shape[0] != frames.shape[0] or tail.shape[1] > nw * win:
        raise ValueError("dtmf_stage1: tail must be (rows, hop) with hop <= the windows' samples")
    return int(lib.tk_dtmf_stage1(_ptr("int16_t *", frames), frames.shape[0], frames.shape[1], nw, win, decim,
                                  _ptr("float *", basis), thr, frac, min_energy, _ptr("int8_t *", out),
                                  _ptr("int16_t *", tail), tail.shape[1]))


def rec_write(buf: NDArray[np.uint8] | None, n_ticks: int, slots: NDArray[np.int64], a: NDArray[np.int64],
              b: NDArray[np.int64], fd: NDArray[np.int32], mode: NDArray[np.int32], stage: NDArray[np.uint8],
              stage_len: NDArray[np.int64], data_bytes: NDArray[np.int64], err: NDArray[np.int32],
              force: bool) -> int:
    """The recording writer's appends (media/kernel/recwrite.h tk_rec_write): ticks [a[i], b[i]) of slots[i] of buf
    (slots, ticks, 2, block) staged in stage row slots[i] and written to fd when full (or at the end with force);
    per-slot arrays fd, mode, stage_len, data_bytes, err; returns the failures (err[slot] = errno)."""
    slots, a, b = _rows(slots), _rows(a), _rows(b)
    cap = stage.shape[0]
    if not (len(slots) == len(a) == len(b)) or not (len(fd) == len(mode) == len(stage_len) == len(data_bytes)
                                                   == len(err) == cap):
        raise ValueError("rec_write: segment or per-slot array lengths differ")
    _check_rows(slots, cap)
    if buf is None:                              # flush only: no stretch may read the buffer
        if np.any(b > a):
            raise ValueError("rec_write: stretches need a buffer")
        buf = np.zeros((1, 1, 2, 1), np.uint8)
    elif len(slots) and (int(slots[b > a].max(initial=-1)) >= buf.shape[0] or int(a.min()) < 0
                         or int(b.max()) > min(n_ticks, buf.shape[1])):
        raise IndexError("rec_write: slot or ticks out of the buffer")
    if stage.shape[1] < 4 * buf.shape[3]:
        raise ValueError("rec_write: a stage row must hold at least one tick")
    return int(lib.tk_rec_write(_ptr("uint8_t *", buf), buf.shape[1], buf.shape[3], len(slots),
                                _ptr("int64_t *", slots), _ptr("int64_t *", a), _ptr("int64_t *", b),
                                _ptr("int32_t *", fd), _ptr("int32_t *", mode), _ptr("int16_t *", _DEC),
                                _ptr("uint8_t *", stage), stage.shape[1], _ptr("int64_t *", stage_len),
                                _ptr("int64_t *", data_bytes), _ptr("int32_t *", err), int(force)))


def rec_headers(slots: NDArray[np.int64], fd: NDArray[np.int32], mode: NDArray[np.int32],
                data_bytes: NDArray[np.int64], committed: NDArray[np.int64], err: NDArray[np.int32]) -> int:
    """Rewrite the WAV header of every slot in slots whose committed size differs from data_bytes (one pwrite each,
    media/kernel/recwrite.h tk_rec_headers); returns the failures (err[slot] = errno)."""
    slots = _rows(slots)
    if not (len(fd) == len(mode) == len(data_bytes) == len(committed) == len(err)):
        raise ValueError("rec_headers: per-slot array lengths differ")
    _check_rows(slots, len(fd))
    return int(lib.tk_rec_headers(len(slots), _ptr("int64_t *", slots), _ptr("int32_t *", fd),
                                  _ptr("int32_t *", mode), _ptr("int64_t *", data_bytes),
                                  _ptr("int64_t *", committed), _ptr("int32_t *", err)))


def dtmf_stage2(frames: NDArray[np.int16], nw: int, win: int, prev: NDArray[np.int16], gi: NDArray[np.int64],
                r: NDArray[np.int64], k: NDArray[np.int64], hann: NDArray[np.float32], rot: NDArray[np.complex64],
                hz_per_rad: float, ftol: NDArray[np.float32], twist: float, rtwist: float) \
        -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """DTMF stage 2 (a dsp.dtmf.Stage2) in C for the candidate windows gi (row * nw + window) of frames (rows, n)
    int16, with prev (rows, hop) each row's half window before; returns (ok (n,), deviations (n, 2) in Hz)."""
    if frames.ndim != 2 or frames.dtype != np.int16 or prev.dtype != np.int16 or prev.shape[0] != frames.shape[0]:
        raise ValueError("dtmf_stage2: frames and prev must be int16 (rows, n) and (rows, hop)")
    frames, prev = np.ascontiguousarray(frames), np.ascontiguousarray(prev)
    gi, r, k = _rows(gi), _rows(r), _rows(k)
    hop = prev.shape[1]
    if not (0 < win <= 512 and win % 8 == 0 and 0 < hop <= win and nw * win <= frames.shape[1]
            and hann.shape == (win, 16) and rot.shape == (8,) and ftol.shape == (8,) and len(gi) == len(r) == len(k)):
        raise ValueError("dtmf_stage2: window, bases or index sizes do not fit")
    _check_rows(gi, frames.shape[0] * nw)
    if len(r) and (int(r.min()) < 0 or int(r.max()) > 3 or int(k.min()) < 4 or int(k.max()) > 7):
        raise ValueError("dtmf_stage2: row tones must be 0..3 and column tones 4..7")
    hann = np.ascontiguousarray(hann, dtype=np.float32)
    rot_f = np.ascontiguousarray(rot.astype(np.complex64).view(np.float32))
    ftol = np.ascontiguousarray(ftol, dtype=np.float32)
    ok = np.empty(len(gi), np.uint8)
    dev = np.empty((len(gi), 2), np.float32)
    lib.tk_dtmf_stage2(_ptr("int16_t *", frames), frames.shape[1], nw, win, _ptr("int16_t *", prev), hop, len(gi),
                       _ptr("int64_t *", gi), _ptr("int64_t *", r), _ptr("int64_t *", k), _ptr("float *", hann),
                       _ptr("float *", rot_f), hz_per_rad, _ptr("float *", ftol), twist, rtwist,
                       _ptr("uint8_t *", ok), _ptr("float *", dev))
    return ok.view(np.bool_), dev


def dtmf_decide(cand: NDArray[np.int8], dev: NDArray[np.float32], cur: NDArray[np.int8], last: NDArray[np.int8],
                run: NDArray[np.int16], miss: NDArray[np.int16], h1: NDArray[np.float32], h2: NDArray[np.float32],
                min_on: int, min_off: int, spread_max: float) -> tuple[NDArray[np.int64], NDArray[np.int8], bool]:
    """DTMF decisions (a dsp.dtmf.Decide) in C over cand (channels, nw) and dev (channels, nw, 2), updating the
    per-channel state in place; returns the presses (channels, digit indices) in time order and whether idle."""
    c, nw = cand.shape
    if dev.shape != (c, nw, 2) or not (len(cur) == len(last) == len(run) == len(miss) == c) \
            or h1.shape != (c, 2) or h2.shape != (c, 2):
        raise ValueError("dtmf_decide: candidate, deviation or state shapes differ")
    cand, dev = np.ascontiguousarray(cand), np.ascontiguousarray(dev)
    ev_ch = np.empty(c * nw, np.int64)
    ev_digit = np.empty(c * nw, np.int8)
    idle = np.zeros(1, np.int32)
    n = int(lib.tk_dtmf_decide(_ptr("int8_t *", cand), _ptr("float *", dev), c, nw, _ptr("int8_t *", cur),
                               _ptr("int8_t *", last), _ptr("int16_t *", run), _ptr("int16_t *", miss),
                               _ptr("float *", h1), _ptr("float *", h2), min_on, min_off, spread_max,
                               _ptr("int64_t *", ev_ch), _ptr("int8_t *", ev_digit), _ptr("int32_t *", idle)))
    return ev_ch[:n], ev_digit[:n], bool(idle[0])


#: the engine's DTMF kernels, handed to dsp.dtmf.DTMFDetector (dsp stays a leaf)
DTMF_KERNELS = {"stage1": dtmf_stage1, "stage2": dtmf_stage2, "decide": dtmf_decide}


def amd_frames(slots: NDArray[np.int64], levels: NDArray[np.float64], params: NDArray[np.float64],
               state: NDArray[np.float64], words: NDArray[np.int64], heard: NDArray[np.bool_],
               has_floor: NDArray[np.bool_], verdict: NDArray[np.int8]) -> None:
    """ivr.amd_bank.AMDBank's per-frame state machine in C (media/kernel/amd.h) for the listed slots over their
    frame levels (len(slots), frames) dBm0; params (8, cap) and state (6, cap) float64 rows in amd.h's order and the
    per-slot words, heard, has_floor, verdict are updated in place."""
    slots = _rows(slots)
    levels = np.ascontiguousarray(levels, dtype=np.float64)
    cap = params.shape[1] if params.ndim == 2 else -1
    if levels.ndim != 2 or levels.shape[0] != len(slots) or params.shape != (8, cap) or state.shape != (6, cap) \
            or not (len(words) == len(heard) == len(has_floor) == len(verdict) == cap):
        raise ValueError("amd_frames: level, parameter or state shapes differ")
    if heard.dtype != np.bool_ or has_floor.dtype != np.bool_:
        raise ValueError("amd_frames: heard and has_floor must be bool arrays")
    _check_rows(slots, cap)
    lib.tk_amd_frames(len(slots), _ptr("int64_t *", slots), levels.shape[1], _ptr("double *", levels), cap,
                      _ptr("double *", params), _ptr("double *", state), _ptr("int64_t *", words),
                      _ptr("uint8_t *", heard.view(np.uint8)), _ptr("uint8_t *", has_floor.view(np.uint8)),
                      _ptr("int8_t *", verdict))


def dtmf_detector(channels: int) -> DTMFDetector:
    """A DTMF detector over `channels` channels whose three stages run in C (stage 1, stage 2, decisions)."""
    return DTMFDetector(channels, stage1=dtmf_stage1, stage2=dtmf_stage2, decide=dtmf_decide)
