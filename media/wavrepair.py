"""Repair of WAV files left open by a crash (kill -9, power loss): RIFF and data sizes from the file length.

A WAV writer puts the final sizes into the header when it closes the file. A process killed while writing
leaves a header that says 0 (or an earlier length) while the samples written so far are on disk. `repair_wav`
walks the RIFF chunks, and when the last chunk is `data` and the sizes disagree with the file, sets the
`data` size to the whole sample frames present (a partly written last frame is cut off) and the RIFF size to
match. Only the header (and a partial trailing frame) is touched; the samples are never rewritten.
"""
from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator

log = logging.getLogger("trunkline.recorder")

#: how far into a file the `data` chunk may start (fmt, fact, LIST... before it)
MAX_HEADER = 64 * 1024


def _chunks(head: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(chunk id, offset of its size field, declared size) of the chunks in `head` after 'RIFF....WAVE'."""
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        yield cid, pos + 4, size
        if cid == b"data":
            return
        pos += 8 + size + (size & 1)


def repair_wav(path: str) -> bool:
    """Fix the RIFF/data sizes of a WAV file from its length; True when the file was changed.

    Files that are not RIFF/WAVE, or whose `fmt ` or `data` chunk cannot be found in the first MAX_HEADER
    bytes, are left alone (False)."""
    with open(path, "r+b") as f:
        head = f.read(MAX_HEADER)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        length = os.fstat(f.fileno()).st_size
        align = 0
        for cid, at, size in _chunks(head):
            if cid == b"fmt " and size >= 16 and at + 4 + 16 <= len(head):
                align = struct.unpack_from("<H", head, at + 4 + 12)[0]     # block align: bytes per frame
            elif cid == b"data":
                if align <= 0:
                    return False
                start = at + 4
                if struct.unpack_from("<I", head, 4)[0] == length - 8 and start + size <= length:
                    return False               # a closed file (chunks after `data`, like LIST, are fine)
                data = max(0, length - start) // align * align
                end = start + data
                riff = end - 8
                if end < length:
                    f.truncate(end)            # a partly written last frame
                f.seek(4)
                f.write(struct.pack("<I", riff))
                f.seek(at)
                f.write(struct.pack("<I", data))
                f.flush()
                os.fsync(f.fileno())
                return True
        return False


def repair_tree(root: str, since: float = 0.0) -> list[str]:
    """Repair every .wav file under `root` modified at or after `since` (epoch s); the paths repaired."""
    fixed = []
    for base, _dirs, files in os.walk(root):
        for name in files:
            if not name.lower().endswith(".wav"):
                continue
            path = os.path.join(base, name)
            try:
                if os.stat(path).st_mtime >= since and repair_wav(path):
                    fixed.append(path)
            except OSError as exc:     # unreadable or vanished: logged, the others are still repaired
                log.warning("WAV repair of %s failed: %s", path, exc)
    return fixed
