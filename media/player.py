"""Vectorised playback: every clip lives in one int16 pool; each tick gathers one block
for all playing channels in a single numpy indexing step."""
from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trunkline.dsp.tones import Tone
from trunkline.media.anonmem import anon_map, give_back
from trunkline.media.prompts import PromptLibrary
from trunkline.media.tick_kernel import play

#: a clip in the pool: (start, length) in samples
Clip = tuple[int, int]
#: what play() and start_audio() take: prompt names or file paths, int16 arrays (8 kHz), dsp tones
PlayItem = str | Tone | ArrayLike


class ClipPool:
    """One growable int16 array holding every clip; clips are (start, length) ranges.

    Named clips (prompts, tones) stay cached; anonymous clips (play lists, generated
    audio) are released when their playback ends, and their space is reused.
    """

    #: samples per channel an engine's pool reserves (anonymous play lists up to this long on every channel at once)
    RESERVE_SECONDS = 30.0
    #: most samples reserved up front (128 MiB of address space); past it the pool grows on demand
    MAX_RESERVE = 64 * 1024 * 1024
    #: free pages above the top given back to the system at once (bytes; 64 KiB: a madvise per some 4 s of freed audio)
    TRIM_BYTES = 64 * 1024

    def __init__(self, capacity: int = 8000 * 60) -> None:
        self._map = anon_map(max(capacity, 1) * 2)        # anonymous, zeroed: resident only as written
        self.data: NDArray[np.int16] = np.frombuffer(self._map, dtype=np.int16)
        self.top = 0
        self.high = 0                  # samples below which pages may be resident (written since last trim)
        self.free: list[Clip] = []     # list of (start, length) free ranges
        self.named: dict[Hashable, Clip] = {}   # key -> (start, length)

    @classmethod
    def for_channels(cls, channels: int, rate: int = 8000) -> "ClipPool":
        """A pool reserving RESERVE_SECONDS of `rate` Hz audio per channel plus 60 s of prompts, up front: the
        zeroed anonymous map is only address space until written, and the pages above the top are given back
        when the tail is released (_trim), so resident memory follows the clips really held; the array is never
        copied to a doubled one (whose old pages stayed resident in the heap) when a busy moment holds more
        play lists than ever before (the soak's steps after thousands of calls)."""
        want = int(rate * (cls.RESERVE_SECONDS * max(channels, 1) + 60))
        return cls(min(want, cls.MAX_RESERVE))

    def get(self, key: Hashable) -> Clip | None:
        """(start, length) of a cached named clip, or None."""
        return self.named.get(key)

    def add(self, samples: ArrayLike, key: Hashable | None = None) -> Clip:
        """Store int16 samples; with a key the clip is cached for reuse. Returns (start, length)."""
        if key is not None and key in self.named:
            return self.named[key]
        audio = np.asarray(samples, dtype=np.int16).ravel()
        n = max(len(audio), 1)
        start = self._alloc(n)
        self.data[start:start + len(audio)] = audio
        if len(audio) < n:
            self.data[start:start + n] = 0
        clip = (start, len(audio))
        if key is not None:
            self.named[key] = clip
        return clip

    def release(self, clip: Clip) -> None:
        """Return an anonymous clip's space to the pool, merged with free neighbours (and given back to the
        top when it is the last range), so that clips of every size over any number of calls reuse the same
        space: the free list stays sorted by start and never holds two adjacent ranges."""
        start, length = clip
        if length <= 0 or clip in self.named.values():
            return
        end = start + max(length, 1)
        free = self.free
        i = bisect.bisect_left(free, (start, 0))
        if i < len(free) and free[i][0] == end:           # merge with the range just after
            end += free.pop(i)[1]
        if i > 0 and free[i - 1][0] + free[i - 1][1] == start:   # and with the range just before
            start = free.pop(i - 1)[0]
            i -= 1
        if end == self.top:
            self.top = start                              # the pool's tail is free again
            self._trim()
        else:
            free.insert(i, (start, end - start))

    def _trim(self) -> None:
        """Give the pages above the top back to the system (madvise DONTNEED: they read as zeros again), once
        at least TRIM_BYTES lie there: the pool's resident memory follows the clips held now, not the busiest
        moment ever seen (a high-water mark that rose in steps over a long soak)."""
        if (self.high - self.top) * 2 >= self.TRIM_BYTES:
            give_back(self._map, self.top * 2, self.high * 2)           # the whole pages above the top
            self.high = self.top

    def _alloc(self, n: int) -> int:
        for i, (start, length) in enumerate(self.free):
            if length >= n:
                if length == n:
                    self.free.pop(i)
                else:
                    self.free[i] = (start + n, length - n)
                return start
        if self.top + n > len(self.data):
            size = max(len(self.data) * 2, self.top + n)
            grown = anon_map(size * 2)
            data = np.frombuffer(grown, dtype=np.int16)
            data[:self.top] = self.data[:self.top]
            self._map, self.data = grown, data    # the old map is unmapped once no view of it is left
        start = self.top
        self.top += n
        self.high = max(self.high, self.top)
        return start


class PlayerBank:
    """Per-channel players over a ClipPool; `mix` adds one block of every playing channel."""

    def __init__(self, channels: int, block: int, pool: ClipPool) -> None:
        self.block = block
        self.pool = pool
        self.start = np.zeros(channels, dtype=np.int64)
        self.length = np.ones(channels, dtype=np.int64)
        self.pos = np.zeros(channels, dtype=np.int64)
        self.loop = np.zeros(channels, dtype=bool)
        self.active = np.zeros(channels, dtype=bool)
        self._rows = np.zeros(0, dtype=np.int64)
        self._dirty = False
        self.on_done: dict[int, Callable[[int], object]] = {}   # channel -> callback(channel), once a clip ends
        self.anonymous: dict[int, Clip] = {}   # channel -> clip to release at the end

    def play(self, ch: int, clip: Clip, loop: bool = False, on_done: Callable[[int], object] | None = None,
             anonymous: bool = False) -> None:
        """Start playing clip=(start, length) on a channel, replacing what it played."""
        self.stop(ch, notify=False)
        start, length = clip
        self.start[ch], self.length[ch], self.pos[ch] = start, max(length, 1), 0
        self.loop[ch] = loop
        self.active[ch] = length > 0
        if on_done is not None:
            self.on_done[ch] = on_done
        if anonymous:
            self.anonymous[ch] = clip
        self._dirty = True
        if length == 0 and on_done is not None:
            self._finish(ch)

    def stop(self, ch: int, notify: bool = True) -> None:
        """Stop a channel's playback; with notify its done-callback runs."""
        if self.active[ch]:
            self.active[ch] = False
            self._dirty = True
        if notify:
            self._finish(ch)
        else:
            self.on_done.pop(ch, None)
            clip = self.anonymous.pop(ch, None)
            if clip is not None:
                self.pool.release(clip)

    def playing(self, ch: int) -> bool:
        """True while a channel plays."""
        return bool(self.active[ch])

    def _finish(self, ch: int) -> None:
        clip = self.anonymous.pop(ch, None)
        if clip is not None:
            self.pool.release(clip)
        cb = self.on_done.pop(ch, None)
        if cb is not None:
            cb(ch)

    def mix(self, acc: NDArray[np.int32]) -> None:
        """Add one block of every playing channel into acc (int32, (channels, block))."""
        if self._dirty:
            self._rows = np.flatnonzero(self.active)
            self._dirty = False
        rows = self._rows
        if rows.size == 0:
            return
        block = self.block
        # one C loop over the playing rows: the block from pos (wrapping for loops, zeros past a clip's end)
        play(acc, self.pool.data, rows, self.start, self.pos, self.length, self.loop)
        pos = self.pos[rows]
        length = self.length[rows]
        self.pos[rows] = pos + block
        looping = self.loop[rows]
        wrap = looping & (pos + block >= length)
        if wrap.any():
            self.pos[rows[wrap]] %= self.length[rows[wrap]]
        ended = rows[~looping & (self.pos[rows] >= self.length[rows])]
        if ended.size:
            self.active[ended] = False
            self._dirty = True
            for ch in ended.tolist():
                self._finish(ch)


def playlist_clip(pool: ClipPool, prompts: PromptLibrary, zone: str, items: Sequence[PlayItem],
                  language: str | None = None) -> tuple[Clip, bool, bool]:
    """(clip, anonymous, loop) for a play list of prompt names, file paths, arrays and tones: a single prompt
    or tone is cached under its name (a tone loops), anything else becomes one anonymous clip."""
    if len(items) == 1:
        item = items[0]
        if isinstance(item, str):
            key: tuple[object, ...] = ("prompt",) + prompts.key(item, language)
            clip = pool.get(key) or pool.add(prompts.load(item, language), key=key)
            return clip, False, False
        if isinstance(item, Tone):
            key = ("tone", zone, item.name)
            clip = pool.get(key) or pool.add(item.cycle(), key=key)
            return clip, False, True
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(prompts.load(item, language))
        elif isinstance(item, Tone):
            parts.append(item.cycle())
        else:
            parts.append(np.asarray(item, dtype=np.int16).ravel())
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    return pool.add(audio), True, False


class PooledClip:
    """A named clip already in the pool, playable like an array."""

    def __init__(self, pool: ClipPool, key: Hashable) -> None:
        self.pool, self.key = pool, key

    def __array__(self, dtype: np.dtype[Any] | None = None, copy: bool | None = None) -> NDArray[Any]:
        clip = self.pool.get(self.key)
        if clip is None:
            raise KeyError(f"clip {self.key!r} is not in the pool")
        start, length = clip
        return self.pool.data[start:start + length].astype(dtype or np.int16)
