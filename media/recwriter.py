"""The recording writer: files behind RecorderBank, written off the tick in large batches.

The tick gathers every recording's G.711 codes (received and sent) into one shared
buffer shaped (slots, ticks, 2, block); the writer thread takes a full buffer and
media/recbatch.py appends each recording's stretch to its file (WAV files in C, staged
into large writes); every few batches it rewrites each file's 44-byte WAV header, so
that a process killed with SIGKILL leaves every file readable up to the last header update.
WAV files hold G.711 as it was on the line ("G711", the channel's law) or 16-bit linear
("WAV"); FLAC goes through soundfile.
A write error (disk full) fails that recording only: logged, reported to the engine.
"""
from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from trunkline.dsp.constants import RATE
from trunkline.dsp.g711 import ALAW, ALAW_DECODE, ULAW_DECODE

if TYPE_CHECKING:
    from trunkline.media.recorder import Recording

#: WAVE format tags
PCM, WAVE_ALAW, WAVE_ULAW = 1, 6, 7
#: largest data chunk a RIFF file can describe (bytes)
MAX_DATA = 0xFFFFFFFF - 36


def wav_header(channels: int, tag: int, data_bytes: int) -> bytes:
    """The 44-byte RIFF/WAVE header of an 8 kHz file: `tag` PCM (16-bit) or G.711 (8-bit), data size in bytes."""
    width = 2 if tag == PCM else 1
    data_bytes = min(data_bytes, MAX_DATA)
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, tag, channels,
                       RATE, RATE * channels * width, channels * width, 8 * width, b"data", data_bytes)


class Sink:
    """An open recording file: append(codes) takes G.711 codes shaped (samples, tracks)."""

    def append(self, codes: NDArray[np.uint8]) -> None:
        """Append samples (uint8 G.711 codes, (n, tracks))."""
        raise NotImplementedError

    def commit(self) -> None:
        """Make what was appended readable after a crash (header update)."""

    def close(self) -> None:
        """Finish and close the file."""


class WavSink(Sink):
    """A WAV file written with raw file descriptors: G.711 as received, or decoded to 16-bit linear."""

    def __init__(self, path: str, tracks: int, law: str, linear: bool) -> None:
        self.tracks = tracks
        self.tag = PCM if linear else (WAVE_ALAW if law == ALAW else WAVE_ULAW)
        #: bytes per sample frame, and tracks | format << 4 for the C writer (media/kernel/recwrite.h)
        self.frame_bytes = tracks * (2 if linear else 1)
        self.mode = tracks | ((2 if linear else 0) + (0 if law == ALAW else 1)) << 4
        self.table = (ALAW_DECODE if law == ALAW else ULAW_DECODE) if linear else None
        self.data_bytes = 0
        self.committed = 0
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self._write_all(wav_header(tracks, self.tag, 0))
        except OSError:
            os.close(self.fd)
            raise

    def _write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            n = os.write(self.fd, view)
            if n <= 0:
                raise OSError(errno.ENOSPC, "no space left on device")
            view = view[n:]

    def append(self, codes: NDArray[np.uint8]) -> None:
        """Append (n, tracks) codes as one write."""
        data = codes if self.table is None else self.table[codes]
        raw = np.ascontiguousarray(data)
        self._write_all(raw.data)
        self.data_bytes += raw.nbytes

    def commit(self) -> None:
        """Rewrite the header with the data written so far (one pwrite)."""
        if self.committed != self.data_bytes:
            os.pwrite(self.fd, wav_header(self.tracks, self.tag, self.data_bytes), 0)
            self.committed = self.data_bytes

    def close(self) -> None:
        """Final header, then close."""
        try:
            self.commit()
        finally:
            os.close(self.fd)


class SoundFileSink(Sink):
    """FLAC (or any soundfile format) through libsndfile, decoded to 16-bit linear."""

    def __init__(self, path: str, tracks: int, law: str, fmt: str) -> None:
        self.table = ALAW_DECODE if law == ALAW else ULAW_DECODE
        self.file = sf.SoundFile(path, "w", samplerate=RATE, channels=tracks, format=fmt, subtype="PCM_16")

    def append(self, codes: NDArray[np.uint8]) -> None:
        """Decode and write (n, tracks) codes."""
        self.file.write(self.table[codes] if codes.shape[1] > 1 else self.table[codes[:, 0]])

    def commit(self) -> None:
        """Flush libsndfile's buffers and header."""
        self.file.flush()

    def close(self) -> None:
        """Close the file."""
        self.file.close()


def open_sink(path: str, tracks: int, law: str, fmt: str | None) -> Sink:
    """The file behind a recording: fmt "G711" (WAV, the channel's law), "WAV" (16-bit linear) or "FLAC";
    None picks by the extension (.flac FLAC, else linear WAV). Raises OSError/RuntimeError on failure."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    kind = (fmt or ("FLAC" if path.lower().endswith(".flac") else "WAV")).upper()
    if kind in ("G711", "WAV-G711"):
        return WavSink(path, tracks, law, linear=False)
    if kind == "WAV":
        return WavSink(path, tracks, law, linear=True)
    return SoundFileSink(path, tracks, law, kind)


#: one batch: the shared buffer (None when it was dropped), ticks filled, slot -> recording at the
#: batch's start, and the starts/stops in it as (tick, slot, recording, "start"|"stop")
Batch = tuple["NDArray[np.uint8] | None", int, "list[Recording | None]", "list[tuple[int, int, Recording, str]]"]


#: fail(recording, exc): how the writer reports a recording whose file failed
FailFn = Callable[["Recording", BaseException], None]
