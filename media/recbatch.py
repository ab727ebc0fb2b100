"""The recording writer's batch work: every recording's stretch of a batch into its file in one C call.

RecorderBank's writer thread hands each batch (the shared buffer shaped (slots, ticks, 2, block), the
ticks filled, the recordings at its start and the starts/stops in it) to `BatchWriter.write`. The
writer keeps per-slot arrays (file descriptor, format, bytes written, header size) and one staging row
per slot of STAGE_BYTES: `tk_rec_write` (media/kernel/recwrite.c) interleaves each slot's ticks into its
row and appends the row to the file when it is full, so a two-track G.711 file gets one 32 KiB write
every 2 s (a linear one every 1 s) instead of one 16 KB write a second, with no Python per file.
The rows live in an anonymous mapping and a row's pages go back to the system when its recording ends
(madvise DONTNEED), so the stage holds memory only for the recordings in progress, not for the most
there ever were.
`commit` writes out every staged row, then rewrites the 44-byte header of every file that grew
(`tk_rec_headers`, one pwrite each): after a SIGKILL a file is readable up to its last commit, as before.
Python runs per recording only when one starts, stops or fails, and for FLAC (libsndfile) files.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from trunkline.media.anonmem import anon_array, give_back, mapping_of
from trunkline.media.recwriter import Batch, FailFn, WavSink
from trunkline.media.tick_kernel import interleave, rec_headers, rec_write

if TYPE_CHECKING:
    from trunkline.media.recorder import Recording

#: staging row per slot (bytes, 8 pages): 2 s of two-track G.711 (1 s of two-track 16-bit linear) per write
STAGE_BYTES = 32768



class BatchWriter:
    """The files of a RecorderBank's recordings, written batch by batch (writer thread only)."""

    def __init__(self, fail: FailFn, stage_bytes: int = STAGE_BYTES) -> None:
        self.fail = fail
        self.stage_bytes = stage_bytes
        self.cap = 0
        self.recs: list[Recording | None] = []          # slot -> the recording the writer holds there
        self.fd = np.full(0, -1, np.int32)              # slot -> WAV file descriptor (-1: none, or not a WAV)
        self.mode = np.zeros(0, np.int32)               # slot -> tracks | format << 4 (recwrite.h)
        self.stage = anon_array((0, stage_bytes), np.uint8)
        self.stage_len = np.zeros(0, np.int64)
        self.data_bytes = np.zeros(0, np.int64)         # bytes of samples in the file
        self.committed = np.zeros(0, np.int64)          # data bytes the header states
        self.err = np.zeros(0, np.int32)                # errno of a failed write (the slot is then skipped)
        self.frame = np.ones(0, np.int64)               # bytes per sample frame
        self.other: set[int] = set()                    # slots whose file is not a WAV (FLAC: libsndfile)

    # ------------------------------------------------------------ per-slot state
    def _ensure(self, cap: int) -> None:
        if cap <= self.cap:
            return
        cap = max(cap, 2 * self.cap)                    # doubling: a burst of new slots reallocates O(log) times
        self.flush()                                    # staged rows go out before the stage is reallocated
        extra = cap - self.cap
        self.recs.extend([None] * extra)
        self.fd = np.concatenate([self.fd, np.full(extra, -1, np.int32)])
        for name in ("mode", "err"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(extra, np.int32)]))
        for name in ("stage_len", "data_bytes", "committed"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(extra, np.int64)]))
        self.frame = np.concatenate([self.frame, np.ones(extra, np.int64)])
        self.stage = anon_array((cap, self.stage_bytes), np.uint8)
        self.cap = cap

    def _attach(self, slot: int, rec: Recording) -> None:
        self.recs[slot] = rec
        rec._files, rec._wslot = self, slot
        self.fd[slot] = -1
        self.err[slot] = 0
        self.stage_len[slot] = 0
        sink = rec.file
        if isinstance(sink, WavSink) and not rec.error:
            self.fd[slot] = sink.fd
            self.mode[slot] = sink.mode
            self.data_bytes[slot] = sink.data_bytes
            self.committed[slot] = sink.committed
            self.frame[slot] = sink.frame_bytes
        elif sink is not None:
            self.other.add(slot)

    def _detach(self, slot: int) -> None:
        """Stage out, then hand the slot's counts back to the recording and its file object."""
        rec = self.recs[slot]
        if rec is None:
            return
        if self.fd[slot] >= 0:
            self._run(None, 0, np.array([slot]), np.zeros(1, np.int64), np.zeros(1, np.int64), True)
        self._save(slot, rec)
        rec._files, rec._wslot = None, -1
        self.recs[slot] = None
        self.fd[slot] = -1
        self.other.discard(slot)
        give_back(mapping_of(self.stage), slot * self.stage_bytes, (slot + 1) * self.stage_bytes)   # the row's pages

    def _save(self, slot: int, rec: Recording) -> None:
        sink = rec.file
        if isinstance(sink, WavSink) and self.fd[slot] >= 0:
            sink.data_bytes, sink.committed = int(self.data_bytes[slot]), int(self.committed[slot])
            rec._written = sink.data_bytes // sink.frame_bytes
            rec._flushed = sink.committed // sink.frame_bytes

    def written(self, slot: int) -> int:
        """Sample frames in the slot's file (not counting staged ones)."""
        return int(self.data_bytes[slot] // self.frame[slot])

    def flushed(self, slot: int) -> int:
        """Sample frames the slot's header states (readable after a crash)."""
        return int(self.committed[slot] // self.frame[slot])

    # ------------------------------------------------------------ batches
    def _run(self, buf: NDArray[np.uint8] | None, n: int, slots: NDArray[np.int64], a: NDArray[np.int64],
             b: NDArray[np.int64], force: bool) -> None:
        if rec_write(buf, n, slots, a, b, self.fd, self.mode, self.stage, self.stage_len, self.data_bytes,
                     self.err, force):
            self._failed(slots)

    def _failed(self, slots: NDArray[np.int64]) -> None:
        """Recordings whose write failed (disk full): each ends with its error; the others go on."""
        for slot in slots[self.err[slots] != 0].tolist():
            rec = self.recs[slot]
            if rec is None or self.fd[slot] < 0:
                continue
            code = int(self.err[slot])
            self._save(slot, rec)
            self.fd[slot] = -1                           # closed by fail(): never written again
            self.fail(rec, OSError(code, os.strerror(code)))

    def write(self, batch: Batch) -> list[Recording]:
        """Append every recording's stretch of the batch (staged; full rows written); returns the recordings
        that stopped in it, their files closed (final header)."""
        buf, n, start, events = batch
        self._ensure(max(len(start), 0 if buf is None else buf.shape[0]))   # the batch's slots, new ones included
        if buf is None:
            n = 0                                        # a dropped batch: nothing to write, events still count
        first: dict[int, int] = {}                       # slot -> tick its recording started in this batch
        stopped: list[Recording] = []
        for t, slot, rec, kind in events:                # starts and stops in order (rare: per recording)
            self._ensure(slot + 1)
            if kind == "start":
                self._attach(slot, rec)
                first[slot] = t
                continue
            if self.recs[slot] is rec:
                a = min(first.get(slot, 0), n)
                self._stretch(buf, n, slot, a, min(t, n))
                self._detach(slot)
                self._close(rec)
            stopped.append(rec)
        if n:
            live = np.flatnonzero(self.fd >= 0)
            a_all = np.zeros(self.cap, np.int64)
            for slot, t in first.items():
                a_all[slot] = t
            if live.size:
                self._run(buf, n, live, a_all[live], np.full(live.size, n, np.int64), False)
            for slot in sorted(self.other):
                self._other(buf, n, slot, int(a_all[slot]), n)
        return stopped

    def _stretch(self, buf: NDArray[np.uint8] | None, n: int, slot: int, a: int, b: int) -> None:
        """One slot's ticks [a, b) (a recording that stops in the batch)."""
        if buf is None or b <= a:
            return
        if self.fd[slot] >= 0:
            self._run(buf, n, np.array([slot]), np.array([a]), np.array([b]), False)
        elif slot in self.other:
            self._other(buf, n, slot, a, b)

    def _other(self, buf: NDArray[np.uint8] | None, n: int, slot: int, a: int, b: int) -> None:
        """A non-WAV file (FLAC through libsndfile): its stretch decoded and written in Python."""
        rec = self.recs[slot]
        if buf is None or rec is None or rec.file is None or rec.error or b <= a:
            return
        codes = interleave(buf, slot, a, b) if rec.two_track else buf[slot, a:b, 0, :].reshape(-1, 1)
        try:
            rec.file.append(codes)
        except Exception as exc:   # disk full, I/O error: this recording ends (logged), the others go on
            self.other.discard(slot)
            self.fail(rec, exc)
            return
        rec._written += codes.shape[0]

    def flush(self) -> None:
        """Write out every staged row."""
        live = np.flatnonzero(self.fd >= 0)
        if live.size:
            zero = np.zeros(live.size, np.int64)
            self._run(None, 0, live, zero, zero, True)

    def commit(self) -> None:
        """Staged rows out, then every grown file's header: readable up to here after a crash."""
        self.flush()
        live = np.flatnonzero(self.fd >= 0)
        if live.size and rec_headers(live, self.fd, self.mode, self.data_bytes, self.committed, self.err):
            self._failed(live)
        for slot in sorted(self.other):
            rec = self.recs[slot]
            if rec is not None and rec.file is not None:
                try:
                    rec.file.commit()
                    rec._flushed = rec._written
                except Exception as exc:   # as above: one file's failure is that recording's only
                    self.other.discard(slot)
                    self.fail(rec, exc)

    def _close(self, rec: Recording) -> None:
        if rec.file is None:
            return
        try:
            rec.file.close()
            rec._flushed = rec._written                  # the final header states everything written
        except Exception as exc:   # one bad file ends its recording (logged), never the writer
            self.fail(rec, exc)
        rec.file = None

