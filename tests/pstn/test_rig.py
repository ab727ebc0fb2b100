"""SimRig.run / pstn.drive: the engine and the work run side by side, and neither can leave the other hanging."""
import pytest

from trunkline.pstn import SimError


class BrokenTap:
    """A media tap whose tick raises after `after` blocks (a bug in a per-session processor)."""

    def __init__(self, after):
        self.after, self.n = after, 0

    def rx(self, samples):
        self.n += 1
        if self.n > self.after:
            raise RuntimeError("tap bug")

    def tx(self, n):
        return [0] * n


def test_a_tick_that_raises_ends_the_run_with_its_error_instead_of_hanging(make_rig):
    rig = make_rig("fxo=2")
    rig.engine.taps[0] = BrokenTap(after=10)

    async def scenario():
        await rig.sim.sleep(60.0)              # media time: it never passes once the engine has died
        return "finished"

    with pytest.raises(RuntimeError, match="tap bug"):
        rig.run(scenario, limit=120.0)
    assert rig.engine.ticks == 10


def test_work_that_outlasts_the_limit_is_cancelled_with_a_clear_error(make_rig):
    rig = make_rig("fxo=2")
    cancelled = []

    async def scenario():
        try:
            await rig.sim.sleep(60.0)
        finally:
            cancelled.append(True)

    with pytest.raises(SimError, match="engine stopped at 2.00 s"):
        rig.run(scenario, limit=2.0)
    assert cancelled == [True]


def test_the_work_s_result_comes_back_and_the_engine_stops(make_rig):
    rig = make_rig("fxo=2")

    async def scenario():
        await rig.sim.sleep(1.0)
        return 42

    assert rig.run(scenario) == 42
    assert not rig.engine.running
