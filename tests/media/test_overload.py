"""Overload control: above the configured tick load new calls get congestion (cause 42); calls already up
keep clean audio and the tick keeps its deadline."""
import asyncio
import time

import numpy as np
import pytest

from trunkline.media.errors import ChannelError
from trunkline.media.overload import OverloadGuard
from trunkline.pstn import SimError

BURN_S = 0.0015          # CPU each answered call costs per tick (a deliberately expensive media stage)


class BurnTap:
    """A media tap that costs BURN_S of processing per tick and adds no audio (expensive per-call media)."""

    def rx(self, samples):
        end = time.perf_counter() + BURN_S
        while time.perf_counter() < end:
            pass

    def tx(self, n):
        return np.zeros(n, dtype=np.int16)


class Watch:
    """A stand-in tick watch: the guard reads realtime, last_tick_s and lag_s."""

    def __init__(self, realtime=True):
        self.realtime, self.last_tick_s, self.lag_s = realtime, 0.0, 0.0


def feed(guard, watch, work_s, seconds, start):
    """Ticks of `work_s` processing for `seconds` from board time `start`; the board time at the end."""
    t = start
    for _ in range(int(round(seconds / 0.02))):
        watch.last_tick_s = work_s
        t += 0.02
        guard.update(watch, t)
    return t


def test_guard_enters_above_the_limit_and_leaves_with_hysteresis():
    """Load 0.9 of the block (limit 0.8) refuses calls; it stays refused at 0.7 (above resume 0.6) and for the
    hold time; it admits again below 0.6; virtual time never refuses; one tick 0.3 s late refuses nothing;
    ticks late by 0.25 s or more for 0.5 s of board time refuse."""
    g, w = OverloadGuard(0.02, max_load=0.8, hold_s=2.0), Watch()
    t = feed(g, w, 0.010, 2.0, 0.0)
    assert g.admit() and not g.overloaded and g.load == pytest.approx(0.5, abs=0.02)
    t = feed(g, w, 0.018, 2.0, t)
    assert g.overloaded and not g.admit() and g.snapshot().rejected == 1 and g.episodes == 1
    t = feed(g, w, 0.014, 3.0, t)                 # 0.7: under the limit, above the resume level
    assert g.overloaded
    t = feed(g, w, 0.008, 3.0, t)
    assert not g.overloaded and g.admit() and g.snapshot().since is None
    w.lag_s = 0.3                                 # one stall, caught up from at once: no refusal
    g.update(w, t + 0.02)
    w.lag_s = 0.0
    t = feed(g, w, 0.002, 0.1, t + 0.02)
    assert not g.overloaded and g.admit() and g.episodes == 1
    w.lag_s = 0.3                                 # late on every tick for 0.5 s of board time: starved
    t = feed(g, w, 0.002, 0.46, t)                # 23 ticks: 0.44 s since the first late one
    assert not g.overloaded
    t = feed(g, w, 0.002, 0.08, t)
    assert g.overloaded and g.episodes == 2
    v = OverloadGuard(0.02, max_load=0.5)
    feed(v, Watch(realtime=False), 0.040, 2.0, 0.0)
    assert v.load > 1.5 and not v.overloaded and v.admit()
    off = OverloadGuard(0.02, max_load=0.0)
    feed(off, Watch(), 0.040, 2.0, 0.0)
    assert off.admit()
    with pytest.raises(ValueError):
        OverloadGuard(0.02, max_load=0.5, resume_load=0.7)


def test_over_capacity_new_calls_get_congestion_and_calls_up_keep_clean_audio(make_rig):
    """Real time on a PRI span: every answered call costs 1.5 ms per tick (7.5 % of the block); the limit is
    set 45 % above the idle load (room for about 6 calls) and 16 calls are offered, more than the whole block
    time. New calls are refused with cause 42 once the limit is reached; the calls admitted fit in the block
    time; the calls already up stay up and hear their tone without a gap or a level dip."""
    rig = make_rig.for_trunk("pri", channels=30)
    eng, sim = rig.engine, rig.sim

    async def flow(call):
        await call.answer()
        eng.attach_tap(call, BurnTap())
        await call.play(eng.tone("dial"))          # 450 Hz, loops until the call ends

    eng.route(flow)
    out = {}

    async def scenario():
        await sim.sleep(2.0)                         # the D-channel comes up in virtual time
        rig.board.set_realtime(True)
        await sim.sleep(1.0)
        for _ in range(50):             # the switch to real time may start late: let that first lag pass
            if not eng.overload_state.overloaded:
                break
            await sim.sleep(0.1)
        out["idle_load"] = eng.overload.load         # this machine's own load now (a shared machine is slower)
        eng.overload.configure(out["idle_load"] + 0.45)
        phones = []
        for i in range(16):
            phones.append(sim.call("95588", from_=f"139{i:08d}", trunk="pri"))
            await sim.sleep(0.2)
        await sim.sleep(0.5)
        up, refused = [], []
        for p in phones:
            try:
                await p.wait_answer(timeout=1.0)
                up.append(p)
            except SimError:
                refused.append(p)
        out["up"], out["refused"] = up, refused
        out["overloaded"] = eng.overload_state.overloaded
        heard = await asyncio.gather(*(p.listen(1.5) for p in up))
        out["heard"] = heard
        out["still_up"] = [p.state for p in up]
        with pytest.raises(ChannelError) as exc:
            eng.dial("0123", trunk="pri")            # outbound too: refused while overloaded
        out["dial_cause"] = exc.value.cause
        rig.board.set_realtime(False)
        for p in up:
            await p.hangup()
        await sim.sleep(0.5)

    rig.run(scenario, limit=60)
    up, refused = out["up"], out["refused"]
    assert out["overloaded"]
    assert 3 <= len(up) <= 10, (len(up), out["idle_load"])
    assert len(up) * BURN_S < 0.02 < 16 * BURN_S          # what was admitted fits the block; all 16 would not
    assert len(refused) == 16 - len(up) >= 4
    assert all(p.cause == 42 for p in refused), [p.cause for p in refused]
    assert eng.stats["congested"] == len(refused) and eng.overload_state.rejected >= len(refused)
    assert out["dial_cause"] == 42
    assert out["still_up"] == ["up"] * len(up)
    for audio in out["heard"]:
        assert len(audio) >= int(1.4 * 8000)
        blocks = audio[: len(audio) // 160 * 160].astype(np.float64).reshape(-1, 160)
        rms = np.sqrt((blocks ** 2).mean(axis=1))
        assert rms.min() > 0.7 * np.median(rms) > 0, "a gap or a dip in a call that was already up"
        spec = np.abs(np.fft.rfft(audio[:8000].astype(np.float64)))
        assert abs(int(np.argmax(spec)) - 450) <= 2     # the tone the call was playing (1 Hz bins)
