"""Overload control: above a configured tick load, new calls get congestion while calls in progress keep
their media.

The **tick load** is the share of the deadline (one block, 20 ms) the engine's own tick work takes
(media/tickwatch.py: tick processing time, the board's wait excluded), smoothed over `window_s` (an
exponentially weighted mean, O(1) per tick). At load 1.0 the engine needs the whole block time and the next
extra call makes real cards slip (lost or repeated blocks on every call).

- The guard **enters overload** when the smoothed load reaches `max_load`, or when the loop stays starved:
  every tick for `lag_window_s` of board time reached the board `max_lag_s` or more after its deadline (the
  loop does not catch up, whatever the cause). One stall the loop catches up from -- the process descheduled
  on a busy host, a GC pause -- is counted by the tick watch but refuses no call: at a low load the ticks
  after it run back to back and the lag is gone within a few blocks.
- While overloaded, `admit()` is False: the engine refuses new inbound calls with Q.850 cause 42
  (switching equipment congestion; a SIP trunk answers 503) and outbound dials with ChannelError cause 42.
  Calls already up are never touched: their audio keeps its deadline because no new work is added.
- It **leaves overload** after at least `hold_s` in it, once the load is below `resume_load` and the last
  tick was on time (hysteresis: no flapping around the threshold).

Only real time counts: in virtual time there are no deadlines (the board runs as fast as the CPU allows), so
the load is measured but the guard never refuses a call. `max_load` 0 turns overload control off.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TickSource(Protocol):
    """What the guard reads from media.tickwatch.TickWatch after every tick."""

    realtime: bool
    last_tick_s: float
    lag_s: float


@dataclass(frozen=True)
class OverloadState:
    """A snapshot of the guard: load (share of the block time), whether new calls are refused, counters."""
    overloaded: bool = False
    load: float = 0.0           # smoothed tick processing time / block time
    max_load: float = 0.8       # threshold (0 = overload control off)
    rejected: int = 0           # new calls refused with cause 42 since start
    episodes: int = 0           # times the guard entered overload
    since: float | None = None  # board time (s) the current overload began, None when not overloaded


class OverloadGuard:
    """Decides from the tick watch whether the engine may take a new call (see the module docstring)."""

    __slots__ = ("block_s", "max_load", "resume_load", "max_lag_s", "hold_s", "load", "overloaded",
                 "rejected", "episodes", "since", "lag_window_s", "_alpha", "_lag_from")

    def __init__(self, block_s: float, max_load: float = 0.8, resume_load: float | None = None,
                 window_s: float = 0.5, hold_s: float = 2.0, max_lag_s: float = 0.25,
                 lag_window_s: float = 0.5) -> None:
        if max_load < 0 or (resume_load is not None and not 0 <= resume_load <= max_load):
            raise ValueError("overload: need 0 <= resume_load <= max_load")
        self.block_s = block_s
        self.max_load = max_load
        self.resume_load = 0.75 * max_load if resume_load is None else resume_load
        self.max_lag_s = max_lag_s
        self.hold_s = hold_s
        self.load = 0.0
        self.overloaded = False
        self.rejected = 0
        self.episodes = 0
        self.since: float | None = None
        self.lag_window_s = lag_window_s
        self._alpha = min(1.0, block_s / window_s)
        self._lag_from: float | None = None     # board time the current run of ticks >= max_lag_s late began

    def configure(self, max_load: float, resume_load: float | None = None) -> None:
        """Set the threshold (share of the block time; 0 = off) and the level to resume at (default 3/4 of it)."""
        if max_load < 0 or (resume_load is not None and not 0 <= resume_load <= max_load):
            raise ValueError("overload: need 0 <= resume_load <= max_load")
        self.max_load = max_load
        self.resume_load = 0.75 * max_load if resume_load is None else resume_load
        if max_load == 0:
            self.overloaded, self.since = False, None

    def update(self, watch: TickSource, now: float) -> bool:
        """Take the tick just measured (board time `now`, s); True when the overload state changed."""
        self.load += self._alpha * (watch.last_tick_s / self.block_s - self.load)
        if not watch.realtime or self.max_load <= 0:
            if self.overloaded:
                self.overloaded, self.since = False, None
                return True
            return False
        if watch.lag_s < self.max_lag_s:
            self._lag_from = None
        elif self._lag_from is None:
            self._lag_from = now
        if not self.overloaded:
            starved = self._lag_from is not None and now - self._lag_from >= self.lag_window_s
            if self.load >= self.max_load or starved:
                self.overloaded, self.since = True, now
                self.episodes += 1
                return True
            return False
        since = self.since if self.since is not None else now
        if now - since >= self.hold_s and self.load < self.resume_load and watch.lag_s == 0.0:
            self.overloaded, self.since = False, None
            return True
        return False

    def admit(self) -> bool:
        """True when a new call may start; False (and counted as rejected) while overloaded."""
        if self.overloaded:
            self.rejected += 1
            return False
        return True

    def snapshot(self) -> OverloadState:
        """The guard now, as an immutable OverloadState."""
        return OverloadState(self.overloaded, self.load, self.max_load, self.rejected, self.episodes, self.since)
