"""Heap trim: give the heap pages that malloc has freed back to the system now and then, between ticks.

glibc's malloc keeps freed memory resident in its arenas (a busy hour leaves the process at its high-water
mark, and fragmentation makes the resident set creep over days of calls even when no object leaks: issue #16's
soak measured ~130 KiB of RSS per 1,000 calls with flat malloc figures). `malloc_trim(0)` returns every whole
free page of every arena to the kernel (madvise), so the resident set follows what is really held.

A trim walks the free chunks, so its cost grows with the heap (about 0.03 ms on a 40 MB engine heap after
a trim, milliseconds after a burst of frees). It runs on the engine loop right after a tick, never inside one:
- at most once every `interval_s` of board time (media time; the same in real and virtual time);
- in real time only when `realtime_trims` is set (off by default: a trim's cost grows with the heap and is not
  bounded; on a large fragmented heap one took 0.39 s in a test process, a stall that made overload control refuse
  a call), and then only when the tick just finished left room for it: the last tick's processing time plus
  the expected trim time (the last trim's) stays under `slack_share` of the block time; otherwise it waits
  for a tick that does. Each tick put off shrinks the expectation by 10 %, so one slow trim (after a burst
  of frees) never stops trimming for good: within about a second a later tick trims again.

Its count and cost are kept (`trims`, `worst_s`, `busy_s`) so the cost on the loop is visible in /metrics.
Where the C library has no malloc_trim (not glibc) the trimmer is off (`available` False).
"""
from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter


def _libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim(pad) -> 1 when memory was released, or None when this C library has none."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    fn = getattr(libc, "malloc_trim", None)
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_MALLOC_TRIM = _libc_malloc_trim()


def trim_heap() -> bool:
    """Give every whole free page of malloc's arenas back to the system now; False without glibc."""
    return _MALLOC_TRIM is not None and bool(_MALLOC_TRIM(0))


@dataclass(frozen=True)
class HeapTrimStats:
    """A snapshot of the heap trimmer."""
    trims: int = 0           # trims done
    skipped: int = 0         # due trims put off to a later tick for lack of slack (real time)
    worst_s: float = 0.0     # slowest trim, s
    busy_s: float = 0.0      # sum of trim times, s
    available: bool = False  # the C library has malloc_trim


class HeapTrim:
    """Calls malloc_trim(0) between ticks at most every `interval_s` of board time, when the tick has slack."""

    __slots__ = ("interval_s", "slack_share", "block_s", "realtime_trims", "trims", "skipped", "worst_s", "busy_s",
                 "_last", "_expect_s", "_trim")

    def __init__(self, block_s: float, interval_s: float = 5.0, slack_share: float = 0.5,
                 trim: Callable[[int], int] | None = _MALLOC_TRIM, realtime_trims: bool = False) -> None:
        self.block_s = block_s
        self.realtime_trims = realtime_trims
        self.interval_s = interval_s
        self.slack_share = slack_share
        self.trims = 0
        self.skipped = 0
        self.worst_s = 0.0
        self.busy_s = 0.0
        self._last = 0.0         # board time of the last trim, s
        self._expect_s = 0.0     # expected cost of the next trim, s
        self._trim = trim

    @property
    def available(self) -> bool:
        """True when this C library can trim (glibc)."""
        return self._trim is not None

    def after_tick(self, now_s: float, last_tick_s: float, realtime: bool) -> bool:
        """Trim now if one is due at board time `now_s` (s) and the last tick (s) left room; True if it did."""
        if now_s - self._last < self.interval_s or self._trim is None or self.interval_s <= 0:
            return False
        if realtime and not self.realtime_trims:
            return False
        if realtime and last_tick_s + self._expect_s >= self.slack_share * self.block_s:
            self.skipped += 1
            self._expect_s *= 0.9
            return False
        t = perf_counter()
        self._trim(0)
        took = perf_counter() - t
        self.trims += 1
        self.busy_s += took
        self._expect_s = took
        if took > self.worst_s:
            self.worst_s = took
        self._last = now_s
        return True

    def snapshot(self) -> HeapTrimStats:
        """The counters now."""
        return HeapTrimStats(self.trims, self.skipped, self.worst_s, self.busy_s, self.available)
