"""The tick deadline watch: late ticks in real time, worst tick processing time, nothing late in virtual time."""
import asyncio
import time

import numpy as np
import pytest

from trunkline.media import tickwatch
from trunkline.media.tickwatch import TickStats, TickWatch


class SlowTap:
    """A media tap that blocks the tick for `delay` s on every `every`-th tick (a deliberately slow stage)."""

    def __init__(self, delay, every):
        self.delay, self.every, self.n = delay, every, 0

    def rx(self, samples):
        self.n += 1
        if self.n % self.every == 0:
            time.sleep(self.delay)

    def tx(self, n):
        return np.zeros(n, dtype=np.int16)


def test_slow_ticks_are_late_in_real_time(make_rig):
    """1 s of real time with a 30 ms stall every 10th tick (deadline 20 ms): the stalled ticks are counted
    late and the worst tick is at least the stall."""
    rig = make_rig("fxo=2")
    eng = rig.engine
    eng.taps[0] = SlowTap(0.030, 10)
    asyncio.run(eng.run(until=1.0, realtime=True))
    st = eng.tick_stats
    assert isinstance(st, TickStats)
    assert st.realtime
    assert st.ticks == eng.ticks == 50
    assert st.block_s == pytest.approx(0.02)
    assert st.worst_tick_s >= 0.030
    assert st.late >= 3                      # 5 stalls of 10 ms past the deadline; a loaded machine adds more
    assert st.max_lag_s >= 0.005
    assert st.busy_s >= 5 * 0.030


def test_virtual_time_counts_ticks_but_never_late(make_rig):
    """Virtual time has no deadlines: a normal run and a run with 30 ms stalls both count 0 late ticks,
    while ticks and the worst processing time are kept."""
    rig = make_rig("fxo=2")
    eng = rig.engine
    asyncio.run(eng.run(until=1.0, realtime=False))
    st = eng.tick_stats
    assert (st.ticks, st.late, st.lag_s, st.max_lag_s, st.realtime) == (50, 0, 0.0, 0.0, False)
    assert 0.0 < st.worst_tick_s < 1.0
    eng.taps[0] = SlowTap(0.030, 10)
    asyncio.run(eng.run(until=2.0, realtime=False))
    st = eng.tick_stats
    assert (st.ticks, st.late) == (100, 0)
    assert st.worst_tick_s >= 0.030


class FakeBoard:
    """A board on a fake clock: tick() advances one 20 ms block and, in real time, sleeps until it is due
    (waking 0.1 ms late, like a real scheduler)."""

    def __init__(self, clock, realtime=True):
        self.clock, self.realtime, self.n = clock, realtime, 0

    @property
    def now(self):
        return self.n * 0.02

    def tick(self):
        self.n += 1
        if self.realtime:
            self.clock[0] = max(self.clock[0], self.n * 0.02 + 0.0001)


def test_late_tick_definition(monkeypatch):
    """Late = handed to the board after its block's deadline; the ticks catching up after a stall are late too;
    the board's own wait is not tick processing time."""
    clock = [0.0]
    monkeypatch.setattr(tickwatch, "perf_counter", lambda: clock[0])
    board = FakeBoard(clock)
    w = TickWatch(0.02)
    lates = []
    for work in (0.005, 0.005, 0.030, 0.005, 0.005, 0.100, 0.001, 0.001, 0.001, 0.001, 0.001, 0.001):
        w.begin()
        clock[0] += work
        before = w.late
        w.advance(board)
        w.end()
        lates.append(w.late - before)
    assert lates == [0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0]   # 100 ms stall: itself + 4 catching up
    st = w.snapshot()
    assert (st.ticks, st.late, st.realtime) == (12, 6, True)
    assert st.worst_tick_s == pytest.approx(0.100)
    assert st.max_lag_s == pytest.approx(0.080)
    assert st.lag_s == 0.0
    assert st.busy_s == pytest.approx(0.156)
