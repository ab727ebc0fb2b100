"""Span alarms on a PRI (G.775 loss of signal, Q.931 5.8.8): timers keep running during the alarm; a call up when
the alarm stays on is cleared after T309 (90 s) and its CDR ends when the bearer was lost; a short alarm leaves
the call up."""
import asyncio

from alarm_calls import LOS, up_call

from trunkline.media.cdr import cdr_row


def test_persistent_los_clears_the_bearer_after_t309_and_the_cdr_ends_at_the_alarm(make_rig):
    rig = make_rig.for_trunk("pri", channels=30)
    eng, sim = rig.engine, rig.sim
    ended = []
    up_call(rig, ended)
    out = {}

    async def scenario():
        await sim.sleep(2.0)
        phone = sim.call("95588", from_="13900000001", trunk="pri")
        await phone.wait_answer(timeout=10)
        await sim.sleep(10.0)
        out["alarm_at"] = eng.now
        rig.card.far_set_alarm(0, LOS)
        await sim.sleep(60.0)
        out["up_at_60"] = list(eng.calls)             # T309 is 90 s: still up
        await sim.sleep(35.0)
        out["up_at_95"] = list(eng.calls)

    rig.run(scenario, limit=200)
    assert out["up_at_60"] and not out["up_at_95"]
    (call,) = ended
    assert call.cause == 41                            # temporary failure (T309 expiry)
    assert abs(call.ended_at - out["alarm_at"]) <= 0.1   # the CDR ends at the alarm, not 90 s later
    row = cdr_row(call, epoch=0.0)
    assert abs(row["billsec"] - 10.0) <= 0.2
    assert row["end"].timestamp() == call.ended_at


def test_short_los_leaves_the_call_up(make_rig):
    rig = make_rig.for_trunk("pri", channels=30)
    eng, sim = rig.engine, rig.sim
    ended = []
    up_call(rig, ended)
    out = {}

    async def scenario():
        await sim.sleep(2.0)
        phone = sim.call("95588", from_="13900000002", trunk="pri")
        await phone.wait_answer(timeout=10)
        rig.card.far_set_alarm(0, LOS)
        await sim.sleep(5.0)
        rig.card.far_set_alarm(0, 0)
        await sim.sleep(100.0)                           # past T309 of the outage
        out["up"] = [c.state for c in eng.calls.values()]
        out["phone"] = phone.state
        await phone.hangup()
        await sim.sleep(1.0)

    rig.run(scenario, limit=200)
    assert out["up"] == ["up"] and out["phone"] == "up"
    (call,) = ended
    assert call.cause == 16 and call.ended_at > 100


def test_timers_run_during_the_alarm(make_rig):
    """A call being set up when the alarm comes is cleared at once; the engine's own timers keep firing."""
    rig = make_rig.for_trunk("pri", channels=30)
    eng, sim = rig.engine, rig.sim
    fired = []

    async def scenario():
        await sim.sleep(2.0)
        rig.card.far_set_alarm(0, LOS)
        eng.call_later(1.0, lambda: fired.append(eng.now))
        await asyncio.sleep(0)
        await sim.sleep(2.0)
        assert rig.engine.signaling[0].alarm_since is not None

    rig.run(scenario, limit=60)
    assert fired
