"""Recording off the tick path: the tick hands one array of all recording channels to a
writer thread through a bounded queue; files are written with soundfile (WAV/FLAC),
mono or two-track. An I/O error ends that recording with a logged error, not the call."""
from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from trunkline.dsp.constants import RATE
from trunkline.dsp.level import dbm0_to_power

log = logging.getLogger("trunkline.recorder")

#: int16 audio of the recording channels, shaped (recordings, block)
Audio = NDArray[np.int16]
#: one tick handed to the writer: the recordings, their received audio, what we sent (two-track only)
_Block = tuple[list["Recording"], Audio, "Audio | None"]


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
        self.samples = 0
        self.silent_run = 0
        self.heard_voice = False
        self.stop_reason: str | None = None
        self.error: str | None = None
        self.file: sf.SoundFile | None = None
        self.on_closed: Callable[[Recording], object] | None = None   # callback(recording), engine thread
        self.closed_event = threading.Event()  # set by the writer once the file is closed

    @property
    def seconds(self) -> float:
        """Recorded duration in seconds."""
        return self.samples / RATE


class RecorderBank:
    """All recordings of an engine; `capture` is the only per-tick call."""

    def __init__(self, channels: int, block: int, max_queue: int = 256) -> None:
        self.block = block
        self.active: dict[int, Recording] = {}   # channel -> Recording
        self._rows = np.zeros(0, dtype=np.int64)
        self._recs: list[Recording] = []
        self._two = np.zeros(0, dtype=bool)
        self._queue: queue.Queue[tuple[str, Any, Any]] = queue.Queue(maxsize=max_queue)
        self._batch: list[_Block] = []       # this half second's blocks, handed over in one piece
        self.batch_ticks = 25
        self._closed: queue.SimpleQueue[Recording] = queue.SimpleQueue()   # closed by the writer, for the engine
        self.dropped_blocks = 0
        # virtual time: stop() waits (bounded) for the writer to close the file, so a flow's next step
        # happens at the same media time however busy the machine is; real time never waits
        self.synchronous = False
        self._thread = threading.Thread(target=self._writer, name="trunkline-recorder", daemon=True)
        self._thread.start()

    def start(self, ch: int, path: str, two_track: bool = False, max_seconds: float | None = 60.0,
              silence_seconds: float | None = None, silence_dbm0: float = -45.0,
              on_closed: Callable[[Recording], object] | None = None, fmt: str | None = None) -> Recording:
        """Begin recording a channel into path (WAV or FLAC by extension); returns the Recording."""
        if ch in self.active:
            self.stop(ch, "restarted")
        silence_ms = None if silence_seconds is None else int(silence_seconds * RATE)
        level = dbm0_to_power(silence_dbm0)     # mean square of a signal at silence_dbm0
        rec = Recording(ch, path, two_track, int(max_seconds * RATE) if max_seconds else None, silence_ms, level)
        rec.on_closed = on_closed
        self.active[ch] = rec
        self._queue_put(("open", rec, fmt))
        self._rebuild()
        return rec

    def stop(self, ch: int, reason: str = "stopped") -> Recording | None:
        """Stop recording a channel; the file is closed by the writer thread."""
        rec = self.active.pop(ch, None)
        if rec is None:
            return None
        self._flush()
        rec.stop_reason = rec.stop_reason or reason
        self._rebuild()
        self._queue.put(("close", rec, None))   # never dropped: may block briefly only if the disk stalls
        if self.synchronous:
            rec.closed_event.wait(timeout=10.0)
        return rec

    def _flush(self) -> None:
        """Hand the blocks gathered so far to the writer thread."""
        if self._batch:
            batch, self._batch = self._batch, []
            self._queue_put(("data", None, batch))

    def _rebuild(self) -> None:
        self._recs = list(self.active.values())
        self._rows = np.array([r.channel for r in self._recs], dtype=np.int64)
        self._two = np.array([r.two_track for r in self._recs], dtype=bool)

    def _queue_put(self, item: tuple[str, Any, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped_blocks += 1
            if item[0] == "open":
                self._queue.put(item)

    def capture(self, audio_in: Audio, audio_out: Audio) -> list[tuple[int, str]]:
        """Hand this tick's audio of all recording channels to the writer; returns recordings to stop."""
        rows = self._rows
        if rows.size == 0:
            return []
        rx = audio_in[rows].copy()
        tx = audio_out[rows].copy() if self._two.any() else None
        self._batch.append((self._recs, rx, tx))
        if len(self._batch) >= self.batch_ticks:
            self._flush()
        # vectorised end conditions: max length, silence after voice
        energy = np.mean(rx.astype(np.float32) ** 2, axis=1)
        finished = []
        for i, rec in enumerate(self._recs):
            rec.samples += self.block
            if rec.silence_samples is not None:
                if energy[i] < rec.silence_level:
                    rec.silent_run += self.block
                else:
                    rec.silent_run = 0
                    rec.heard_voice = True
                if rec.heard_voice and rec.silent_run >= rec.silence_samples:
                    finished.append((rec.channel, "silence"))
                    continue
            if rec.max_samples is not None and rec.samples >= rec.max_samples:
                finished.append((rec.channel, "max"))
        return finished

    def closed(self) -> list[Recording]:
        """Recordings the writer has closed since the last call (run on the engine thread)."""
        out = []
        while True:
            try:
                out.append(self._closed.get_nowait())
            except queue.Empty:
                return out

    def _writer(self) -> None:
        while True:
            kind, rec, payload = self._queue.get()
            if kind == "open":
                self._open(rec, payload)
            elif kind == "data":
                self._write_batch(payload)
            elif kind == "close":
                if rec.file is not None:
                    try:
                        rec.file.close()
                    except Exception as exc:   # one bad file ends its recording (logged), never the writer
                        self._fail(rec, exc)
                    rec.file = None
                self._closed.put(rec)
                rec.closed_event.set()
            elif kind == "quit":
                return

    def _write_batch(self, batch: list[_Block]) -> None:
        """Write a batch of ticks: each recording's blocks joined, then one write per file."""
        parts: dict[int, tuple[Recording, list[Audio], list[Audio]]] = {}
        for recs, rx, tx in batch:
            for i, r in enumerate(recs):
                entry = parts.setdefault(id(r), (r, [], []))
                entry[1].append(rx[i])
                if r.two_track:
                    assert tx is not None, "two-track recordings hand over what we sent"
                    entry[2].append(tx[i])
        for r, rxs, txs in parts.values():
            if r.file is None or r.error:
                continue
            try:
                if r.two_track:
                    r.file.write(np.stack([np.concatenate(rxs), np.concatenate(txs)], axis=1))
                else:
                    r.file.write(np.concatenate(rxs))
            except Exception as exc:   # disk full, I/O error: this recording ends (logged), the others go on
                self._fail(r, exc)

    def _open(self, rec: Recording, fmt: str | None) -> None:
        try:
            d = os.path.dirname(os.path.abspath(rec.path))
            os.makedirs(d, exist_ok=True)
            fmt = fmt or ("FLAC" if rec.path.lower().endswith(".flac") else "WAV")
            subtype = "PCM_16"
            rec.file = sf.SoundFile(rec.path, "w", samplerate=RATE, channels=2 if rec.two_track else 1,
                                    format=fmt, subtype=subtype)
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

    def close(self) -> None:
        """Stop everything and let the writer finish."""
        for ch in list(self.active):
            self.stop(ch, "shutdown")
        self._queue.put(("quit", None, None))
        self._thread.join(timeout=5)
