"""Tick deadline watch: how long the engine's ticks take and whether they reach the board in time.

The board is the clock. In real time the board paces the loop with absolute deadlines: block N is due
at origin + N x block time, and `board.tick()` sleeps until the block just handed over is due (it does
not sleep at all when that moment has passed; the loop then catches up without sleeping).

Definitions (all measured with time.perf_counter, O(1) per tick, nothing per channel):

- **tick processing time**: the engine's own work for one tick -- read, DSP, mixing, write, then
  dispatching the tick's events -- without the board's real-time wait in `board.tick()`.
  `worst_tick_s` is the largest seen; `busy_s` their sum (rate(busy_s) = the share of one core the tick uses).
- **lag**: at the moment the loop hands a block to the board (the call of `board.tick()`), how far the
  wall clock is past that block's deadline. The deadline origin is the earliest (wall time - board time)
  seen just after `board.tick()` returned, so scheduler wake-up jitter never makes a tick look late.
  Anything that keeps the loop from its next tick counts: a slow tick, a call flow blocking the asyncio loop,
  a GC pause.
- **late tick**: a tick handed to the board after its deadline (lag > 0). After a long stall the ticks that
  catch up are late too (each reached the board after its own deadline): a 100 ms stall is about 5 late ticks.
  `lag_s` is the lag of the last tick (0 when it was on time), `max_lag_s` the largest.

Lateness is only counted in real time: in virtual time the board runs as fast as the CPU allows and has no
deadlines, so `late`, `lag_s` and `max_lag_s` stay 0 while `ticks`, `worst_tick_s` and `busy_s` are kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Protocol


class ClockedBoard(Protocol):
    """What the watch needs from drivers.board.Board."""

    @property
    def realtime(self) -> bool:
        """True when the board paces ticks to the wall clock."""

    @property
    def now(self) -> float:
        """Board time in seconds."""

    def tick(self) -> None:
        """Advance the board clock one block (waits for the wall clock in real time)."""


@dataclass(frozen=True)
class TickStats:
    """A snapshot of the tick deadline watch (see the module docstring for the definitions)."""
    ticks: int = 0             # ticks run
    late: int = 0              # ticks handed to the board after their deadline (real time only)
    worst_tick_s: float = 0.0  # largest tick processing time, s
    busy_s: float = 0.0        # sum of tick processing times, s
    lag_s: float = 0.0         # how late the last tick reached the board, s (0 = on time)
    max_lag_s: float = 0.0     # largest lag seen, s
    realtime: bool = False     # whether the last tick ran in real time
    block_s: float = 0.02      # the deadline period (the board's block time), s


class TickWatch:
    """Measures every tick: begin() at its start, advance(board) instead of board.tick(), end() after dispatch."""

    __slots__ = ("block_s", "ticks", "late", "worst_tick_s", "busy_s", "lag_s", "max_lag_s", "realtime",
                 "last_tick_s", "_t0", "_work", "_t_resume", "_origin")

    def __init__(self, block_s: float) -> None:
        self.block_s = block_s
        self.ticks = 0
        self.late = 0
        self.worst_tick_s = 0.0
        self.busy_s = 0.0
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self.realtime = False
        self.last_tick_s = 0.0     # processing time of the last tick, s (the overload guard's input)
        self._t0 = 0.0
        self._work = 0.0
        self._t_resume = 0.0
        self._origin: float | None = None

    def resync(self) -> None:
        """Forget the deadline origin (the board's real-time clock was re-anchored: run() start, set_realtime)."""
        self._origin = None

    def begin(self) -> None:
        """A tick starts."""
        self._t0 = perf_counter()

    def advance(self, board: ClockedBoard) -> None:
        """Hand the block to the board (board.tick()), measuring the lag at hand-over and leaving out the wait."""
        rt = board.realtime
        if rt != self.realtime:
            self.realtime = rt
            self._origin = None
            self.lag_s = 0.0
        t = perf_counter()
        self._work = t - self._t0
        if rt:
            origin = self._origin
            if origin is not None:
                lag = t - origin - (board.now + self.block_s)   # past the deadline of the block handed over
                if lag > 0.0:
                    self.late += 1
                    self.lag_s = lag
                    if lag > self.max_lag_s:
                        self.max_lag_s = lag
                else:
                    self.lag_s = 0.0
        board.tick()
        t = self._t_resume = perf_counter()
        if rt:
            seen = t - board.now          # >= the true origin: the board never returns before the deadline
            if self._origin is None or seen < self._origin:
                self._origin = seen

    def end(self) -> None:
        """The tick (and its dispatch) is done."""
        work = self._work + (perf_counter() - self._t_resume)
        self.last_tick_s = work
        self.ticks += 1
        self.busy_s += work
        if work > self.worst_tick_s:
            self.worst_tick_s = work

    def snapshot(self) -> TickStats:
        """The counters now, as an immutable TickStats."""
        return TickStats(self.ticks, self.late, self.worst_tick_s, self.busy_s, self.lag_s, self.max_lag_s,
                         self.realtime, self.block_s)
