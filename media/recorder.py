"""Recording at density: one vectorised capture per tick for all recordings, files written off the tick.

Every recording holds a slot. Each tick `capture` copies the G.711 codes received and
sent on all recording channels into one shared buffer shaped (slots, ticks, 2, block)
with two fancy-indexed copies, and checks every recording's end conditions (maximum
length, silence after voice) as array operations; Python runs per recording only when
one starts, stops or fails. When the buffer is full (about a second of audio) it goes
to the writer thread whole, with the starts and stops that happened in it, and the
tick goes on in a free buffer. The writer (media/recbatch.py, the file work in C) stages
each recording's audio and appends it in large writes (32 KiB: 2 s of two-track G.711);
every `commit_batches` batches (4 s at the default one-second batches) and on sync() it
writes out everything staged and rewrites every grown file's header, so a killed process
leaves each file readable up to that point (`flushed_samples`; repair_wav on restart
recovers what was appended after it). Files are mono or two-track (received, sent),
G.711 WAV, 16-bit linear WAV (media/recwriter.py) or FLAC. An I/O error (disk full) ends
that recording with a logged error; the tick never waits for the disk.
"""
from __future__ import annotations

import heapq
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.constants import RATE
from trunkline.dsp.g711 import ALAW, MixedLawCodec
from trunkline.dsp.level import dbm0_to_power
from trunkline.media.anonmem import anon_array, give_back, mapping_of
from trunkline.media.recbatch import STAGE_BYTES, BatchWriter
from trunkline.media.recwriter import Batch, Sink, open_sink
from trunkline.media.tick_kernel import capture as kernel_capture

log = logging.getLogger("trunkline.recorder")

#: int16 audio of the engine's channels, shaped (channels, block)
Audio = NDArray[np.int16]
#: G.711 codes of the engine's channels, shaped (channels, block)
Codes = NDArray[np.uint8]
#: no maximum length
_NEVER = np.iinfo(np.int64).max
#: shared buffer size the batch length is fitted to (bytes): a full second (16 KB per two-track file and write)
#: up to 16,384 slots; each file write costs ~12 us plus ~0.6 ns a byte, so halving the batch (8 KB writes)
#: costs ~40 % more writer CPU per byte
BUFFER_BYTES = 256 << 20


class Recording:
    """One recording in progress; `result` is filled when the writer has closed the file."""

    def __init__(self, channel: int, path: str, two_track: bool, max_samples: int | None,
                 silence_samples: int | None, silence_level: float) -> None:
        self.channel = channel
        self.path = path
        self.two_track = two_track
        self.max_samples = max_samples
        self.silence_samples = silence_samples
        self.silence_level = silence_level   # mean square below which a block is silent
        self.slot = -1                       # the bank's slot while active
        self._bank: RecorderBank | None = None
        self._samples = 0
        self._files: BatchWriter | None = None   # the writer's per-slot arrays while it holds this recording
        self._wslot = -1
        self._written = 0
        self._flushed = 0
        self.silent_run = 0
        self.heard_voice = False
        self.stop_reason: str | None = None
        self.error: str | None = None
        self.file: Sink | None = None
        self.on_closed: Callable[[Recording], object] | None = None   # callback(recording), engine thread
        self.tag = ""                        # "" = the channel's foreground recording; else a named background one
        self.closed_event = threading.Event()  # set by the writer once the file is closed

    @property
    def samples(self) -> int:
        """Samples recorded so far."""
        bank = self._bank
        return int(bank._count[self.slot]) if bank is not None and self.slot >= 0 else self._samples

    @samples.setter
    def samples(self, value: int) -> None:
        if self._bank is not None and self.slot >= 0:
            self._bank._count[self.slot] = value
        self._samples = value

    def _held(self) -> tuple[BatchWriter, int] | None:
        """The writer's arrays and slot while it holds this recording's WAV file (read from any thread)."""
        files, slot = self._files, self._wslot
        if files is None or slot < 0 or slot >= len(files.fd) or files.fd[slot] < 0:
            return None
        return files, slot

    @property
    def written_samples(self) -> int:
        """Samples appended to the file so far (the writer's count; staged ones not yet)."""
        held = self._held()
        return held[0].written(held[1]) if held is not None else self._written

    @property
    def flushed_samples(self) -> int:
        """Samples in the file as of the last header update (readable after a crash)."""
        held = self._held()
        return held[0].flushed(held[1]) if held is not None else self._flushed

    @property
    def seconds(self) -> float:
        """Recorded duration in seconds."""
        return self.samples / RATE


class RecorderBank:
    """All recordings of an engine; `capture` is the only per-tick call (cost independent of how many)."""

    def __init__(self, channels: int, block: int, max_queue: int = 256, laws: Sequence[str] | None = None,
                 batch_ticks: int = 50, stage_bytes: int = STAGE_BYTES) -> None:
        self.block = block
        self.laws = list(laws) if laws is not None else [ALAW] * channels
        self._codec = MixedLawCodec(self.laws)
        self.active: dict[int, Recording] = {}   # channel -> its foreground Recording (call.record)
        # (channel, tag) -> background Recording: policy recordings (IVR part, agent part, whole call) run
        # beside the foreground one on the same channel, each in its own slot of the same vectorised capture
        self.tagged: dict[tuple[int, str], Recording] = {}
        self.batch_ticks = batch_ticks           # most ticks per batch (fewer when many recordings)
        self._queue: queue.Queue[tuple[str, Any, Any]] = queue.Queue(maxsize=max_queue)
        self._closed: queue.SimpleQueue[Recording] = queue.SimpleQueue()   # closed by the writer
        self._failed: queue.SimpleQueue[Recording] = queue.SimpleQueue()   # failed in the writer
        self.dropped_blocks = 0
        self.max_buffers = 3
        # virtual time: stop() waits (bounded) for the writer to close the file, so a flow's next step
        # happens at the same media time however busy the machine is; real time never waits
        self.synchronous = False
        # never drop audio: when every buffer is with the writer, the tick waits for one (virtual time,
        # tests); otherwise (real time) the batch is dropped, counted and logged and the tick goes on
        self.lossless = False
        self._cap = 0
        self._hi = 0                               # slots [0, hi) may be in use; hi - 1 is in use
        self._free: list[int] = []                 # free slots below hi (a heap: lowest first; lazy deletion)
        self._free_set: set[int] = set()           # the slots really free below hi (heap entries not here: stale)
        self._slot_rec: list[Recording | None] = []
        self._ch = np.zeros(0, dtype=np.int64)     # slot -> channel (0 for free slots: read, ignored)
        self._count = np.zeros(0, dtype=np.int64)  # slot -> samples recorded
        self._max = np.zeros(0, dtype=np.int64)    # slot -> maximum samples (_NEVER: none)
        self._sil_dirty = True
        self._sil_slots = np.zeros(0, dtype=np.int64)
        self._sil_level = np.zeros(0, dtype=np.float32)
        self._sil_need = np.zeros(0, dtype=np.int64)
        self._sil_run = np.zeros(0, dtype=np.int64)
        self._voice = np.zeros(0, dtype=bool)
        self._sil_recs: list[Recording | None] = []
        self._ticks = batch_ticks
        self._buf: NDArray[np.uint8] | None = None
        self._spare: queue.SimpleQueue[NDArray[np.uint8]] = queue.SimpleQueue()   # buffers back from the writer
        self._buffers = 0
        self._t = 0
        self._start: list[Recording | None] = []
        self._events: list[tuple[int, int, Recording, str]] = []
        self.commit_batches = 4                    # headers rewritten every this many batches (4 s at 1 s batches)
        self._files = BatchWriter(self._fail, stage_bytes)   # writer thread: the files, their staging and counts
        self._batches = 0
        self._thread = threading.Thread(target=self._writer, name="trunkline-recorder", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ start / stop (per recording, on events)
    def start(self, ch: int, path: str, two_track: bool = False, max_seconds: float | None = 60.0,
              silence_seconds: float | None = None, silence_dbm0: float = -45.0,
              on_closed: Callable[[Recording], object] | None = None, fmt: str | None = None,
              tag: str = "") -> Recording:
        """Begin recording a channel into path; fmt "G711" (WAV in the line's law), "WAV" (16-bit linear,
        the default for .wav) or "FLAC" (default for .flac); `tag` "" is the channel's foreground recording,
        another tag a background one beside it (one per tag); returns the Recording."""
        if (ch in self.active) if not tag else ((ch, tag) in self.tagged):
            self.stop(ch, "restarted", tag)
        silence_n = None if silence_seconds is None else int(silence_seconds * RATE)
        level = dbm0_to_power(silence_dbm0)     # mean square of a signal at silence_dbm0
        rec = Recording(ch, path, two_track, int(max_seconds * RATE) if max_seconds else None, silence_n, level)
        rec.on_closed = on_closed
        rec.tag = tag
        if tag:
            self.tagged[(ch, tag)] = rec
        else:
            self.active[ch] = rec
        self._queue.put(("open", rec, (self.laws[ch], fmt)))   # FIFO: opened before its first batch
        slot = self._alloc()
        rec.slot, rec._bank = slot, self
        self._slot_rec[slot] = rec
        self._ch[slot] = ch
        self._count[slot] = 0
        self._max[slot] = rec.max_samples if rec.max_samples is not None else _NEVER
        self._events.append((self._t, slot, rec, "start"))
        if silence_n is not None:
            self._sil_dirty = True
        return rec

    def stop(self, ch: int, reason: str = "stopped", tag: str = "") -> Recording | None:
        """Stop a channel's recording (foreground, or the background one with `tag`); the writer writes
        what is left and closes the file."""
        rec = self.active.pop(ch, None) if not tag else self.tagged.pop((ch, tag), None)
        if rec is None:
            return None
        return self._stop(rec, reason)

    def stop_all(self, ch: int, reason: str = "stopped") -> None:
        """Stop every recording of a channel (foreground and background), e.g. when its call ends."""
        self.stop(ch, reason)
        for key in [k for k in self.tagged if k[0] == ch]:
            self.stop(ch, reason, key[1])

    def _end(self, rec: Recording, reason: str) -> None:
        """Stop `rec` if it is still running (a background one here; a foreground one by its channel)."""
        if rec.tag:
            if self.tagged.get((rec.channel, rec.tag)) is rec:
                self.stop(rec.channel, reason, rec.tag)
        elif self.active.get(rec.channel) is rec:
            self.stop(rec.channel, reason)

    def _stop(self, rec: Recording, reason: str) -> Recording:
        slot = rec.slot
        rec._samples = int(self._count[slot])
        rec.stop_reason = rec.stop_reason or reason
        rec.slot, rec._bank = -1, None
        self._slot_rec[slot] = None
        self._ch[slot] = 0
        self._max[slot] = _NEVER
        self._events.append((self._t, slot, rec, "stop"))
        self._release_slot(slot)
        if rec.silence_samples is not None:
            self._sil_dirty = True
        if self.synchronous:
            self._flush()
            rec.closed_event.wait(timeout=10.0)
        return rec

    def _alloc(self) -> int:
        while self._free:
            slot = heapq.heappop(self._free)
            if slot in self._free_set:
                self._free_set.discard(slot)
                return slot
        if self._hi == self._cap:
            self._grow(max(64, 2 * self._cap))
        self._hi += 1
        return self._hi - 1

    def _release_slot(self, slot: int) -> None:
        """Free `slot`: the top slot lowers hi past every free slot below it (the capture then touches only the
        rows of slots up to the highest in use, and a buffer's rows above it are given back); others wait."""
        if slot != self._hi - 1:
            heapq.heappush(self._free, slot)
            self._free_set.add(slot)
            return
        self._hi -= 1
        while self._hi and self._hi - 1 in self._free_set:
            self._free_set.discard(self._hi - 1)
            self._hi -= 1
        if len(self._free) > 2 * len(self._free_set) + 16:     # stale entries: rebuild (bounded by slots)
            self._free = sorted(self._free_set)

    def _grow(self, cap: int) -> None:
        """More slots: the batch so far goes to the writer, later batches use bigger buffers."""
        self._flush()
        extra = cap - self._cap
        self._slot_rec.extend([None] * extra)
        self._ch = np.concatenate([self._ch, np.zeros(extra, np.int64)])
        self._count = np.concatenate([self._count, np.zeros(extra, np.int64)])
        self._max = np.concatenate([self._max, np.full(extra, _NEVER, np.int64)])
        self._cap = cap
        self._ticks = int(max(5, min(self.batch_ticks, BUFFER_BYTES // (cap * 2 * self.block))))
        self._buf = None
        self._spare = queue.SimpleQueue()       # old, smaller buffers are not reused
        self._buffers = 0

    def _rebuild_silence(self) -> None:
        slots = [r.slot for r in [*self.active.values(), *self.tagged.values()] if r.silence_samples is not None]
        recs = [self._slot_rec[s] for s in slots]
        self._sil_slots = np.array(slots, dtype=np.int64)
        self._sil_level = np.array([r.silence_level for r in recs if r], dtype=np.float32)
        self._sil_need = np.array([r.silence_samples for r in recs if r], dtype=np.int64)
        self._sil_run = np.array([r.silent_run for r in recs if r], dtype=np.int64)
        self._voice = np.array([r.heard_voice for r in recs if r], dtype=bool)
        self._sil_recs = recs
        self._sil_dirty = False

    def _save_silence(self) -> None:
        for i, r in enumerate(self._sil_recs):
            if r is not None:
                r.silent_run, r.heard_voice = int(self._sil_run[i]), bool(self._voice[i])

    # ------------------------------------------------------------ the tick
    def capture(self, audio_in: Audio, audio_out: Audio, codes_in: Codes | None = None,
                codes_out: Codes | None = None) -> list[tuple[int, str]]:
        """Copy this tick's received and sent audio of all recordings into the shared buffer (the G.711
        codes when given, else encoded here); returns (channel, reason) of recordings that must stop."""
        finished: list[tuple[int, str]] = []
        background: list[tuple[Recording, str]] = []     # background recordings to stop (by the bank)
        while not self._failed.empty():
            rec = self._failed.get()
            if rec.tag:
                background.append((rec, "error"))
            elif self.active.get(rec.channel) is rec:
                finished.append((rec.channel, "error"))
        hi = self._hi
        if not self.active and not self.tagged:
            if self._events:
                self._flush()
            return finished
        buf = self._buf
        if buf is None:
            buf = self._buf = self._take_buffer()
        rows = self._ch[:hi]
        t = self._t
        if buf is not None and codes_in is not None and codes_out is not None:   # the engine: one C copy loop
            kernel_capture(buf, hi, t, rows, codes_in, codes_out)
        elif buf is not None:                    # None: the writer is behind, this batch is dropped
            buf[:hi, t, 0] = codes_in[rows] if codes_in is not None else self._codec.encode(audio_in[rows], rows)
            buf[:hi, t, 1] = codes_out[rows] if codes_out is not None else self._codec.encode(audio_out[rows], rows)
        self._t = t + 1
        count = self._count[:hi]
        count += self.block
        for slot in np.flatnonzero(count >= self._max[:hi]).tolist():
            held = self._slot_rec[slot]
            if held is not None and held.tag:
                background.append((held, "max"))
            elif held is not None:
                finished.append((held.channel, "max"))
        if self._sil_dirty:
            self._save_silence()
            self._rebuild_silence()
        if self._sil_slots.size:
            x = audio_in[self._ch[self._sil_slots]].astype(np.float32)
            quiet = np.einsum("ij,ij->i", x, x) / x.shape[1] < self._sil_level
            self._sil_run = np.where(quiet, self._sil_run + self.block, 0)
            self._voice |= ~quiet
            for i in np.flatnonzero(self._voice & (self._sil_run >= self._sil_need)).tolist():
                quiet_rec = self._sil_recs[i]
                if quiet_rec is not None and quiet_rec.tag:
                    background.append((quiet_rec, "silence"))
                elif quiet_rec is not None and (quiet_rec.channel, "max") not in finished:
                    finished.append((quiet_rec.channel, "silence"))
        for rec, why in background:             # rare (max length, silence, disk error): per recording
            self._end(rec, why)
        if self._t >= self._ticks:
            self._flush()
        return finished

    def _take_buffer(self) -> NDArray[np.uint8] | None:
        try:
            return self._spare.get_nowait()
        except queue.Empty:
            if self._buffers >= self.max_buffers:
                if self.lossless or self.synchronous:
                    try:
                        return self._spare.get(timeout=30.0)
                    except queue.Empty:
                        log.error("recording writer stalled for 30 s")
                return None
            self._buffers += 1
            return anon_array((self._cap, self._ticks, 2, self.block), np.uint8)

    def _flush(self) -> None:
        """Hand the batch so far (its buffer, starts and stops) to the writer; never blocks."""
        if not self._events and self._t == 0:
            return
        if self._t == 0:       # starts/stops only (a stop in virtual time): the buffer stays here, no audio moves
            self._queue.put(("data", None, (None, 0, self._start, self._events)))
            self._start = list(self._slot_rec)
            self._events = []
            return
        batch: Batch = (self._buf, self._t, self._start, self._events)
        if self._buf is None:
            self.dropped_blocks += self._t * (len(self.active) + len(self.tagged))
        self._buf = None
        self._t = 0
        self._start = list(self._slot_rec)
        self._events = []
        self._queue.put(("data", None, batch))   # bounded by max_buffers batches with audio in flight
        self._buf = self._take_buffer()
        if self._buf is None and (self.active or self.tagged):
            log.error("recording writer is behind: dropping a batch of %d recordings",
                      len(self.active) + len(self.tagged))

    def closed(self) -> list[Recording]:
        """Recordings the writer has closed since the last call (run on the engine thread)."""
        out = []
        while True:
            try:
                out.append(self._closed.get_nowait())
            except queue.Empty:
                return out

    def sync(self, timeout: float = 10.0) -> None:
        """Hand everything captured so far to the writer and wait until it is in the files."""
        self._flush()
        done = threading.Event()
        self._queue.put(("mark", done, None))
        done.wait(timeout)

    # ------------------------------------------------------------ the writer thread
    def _writer(self) -> None:
        while True:
            kind, rec, payload = self._queue.get()
            try:
                if kind == "open":
                    self._open(rec, *payload)
                elif kind == "data":
                    self._write(payload)
                elif kind == "mark":
                    self._commit()
                elif kind == "quit":
                    return
            except Exception:   # a bug in one batch must not stop every recording for good: logged, next message
                log.exception("recording writer: %s failed", kind)
            finally:
                if kind == "mark":
                    rec.set()

    def _commit(self) -> None:
        self._files.commit()
        self._batches = 0

    def _write(self, batch: Batch) -> None:
        for rec in self._files.write(batch):        # stopped in this batch: the file is closed (final header)
            self._closed.put(rec)
            rec.closed_event.set()
        self._batches += 1
        if self._batches >= self.commit_batches:       # headers: every few batches (one pwrite per file)
            self._commit()
        buf = batch[0]
        if buf is not None and buf.shape[0] == self._cap and buf.shape[1] == self._ticks:
            # rows above the slots in use now go back to the system (the engine does not hold this buffer: a
            # slot above them taken meanwhile is written in the engine's current buffer, not this one)
            give_back(mapping_of(buf), self._hi * buf[0].nbytes, buf.nbytes)
            self._spare.put(buf)

    def _open(self, rec: Recording, law: str, fmt: str | None) -> None:
        try:
            rec.file = open_sink(rec.path, 2 if rec.two_track else 1, law, fmt)
        except Exception as exc:   # bad path, disk full: this recording ends (logged), the call goes on
            self._fail(rec, exc)

    def _fail(self, rec: Recording, exc: BaseException) -> None:
        rec.error = f"{type(exc).__name__}: {exc}"
        log.error("recording %s on channel %d failed: %s", rec.path, rec.channel, rec.error)
        if rec.file is not None:
            try:
                rec.file.close()
            except (OSError, RuntimeError) as close_exc:   # soundfile raises RuntimeError subclasses
                log.warning("closing the failed recording %s: %s", rec.path, close_exc)
            rec.file = None
        self._failed.put(rec)

    def close(self) -> None:
        """Stop everything and let the writer finish."""
        for ch in {*self.active, *(k[0] for k in self.tagged)}:
            self.stop_all(ch, "shutdown")
        self._flush()
        self._queue.put(("quit", None, None))
        self._thread.join(timeout=10)
