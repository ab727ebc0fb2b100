"""Span alarms on China No.1 (R2) lines, as on PRI (test_pri_alarm.py): timers keep running during the alarm;
a call up when the alarm persists is cleared after T_ALARM_CLEAR (90 s, the T309 of PRI) and its CDR ends when
the bearer was lost; a short alarm leaves the call up; a call being set up is cleared at once."""
from alarm_calls import LOS, up_call

from trunkline.drivers.signaling.r2_core import T_ALARM_CLEAR
from trunkline.media.cdr import cdr_row


def test_persistent_los_clears_the_call_after_the_alarm_time_and_the_cdr_ends_at_the_alarm(make_rig):
    assert T_ALARM_CLEAR == 90.0
    rig = make_rig.for_trunk("r2", channels=30)
    eng, sim = rig.engine, rig.sim
    ended = []
    up_call(rig, ended)
    out = {}

    async def scenario():
        await sim.sleep(1.0)
        phone = sim.call("95588", from_="13900000001", trunk="r2")
        await phone.wait_answer(timeout=15)
        await sim.sleep(10.0)
        out["alarm_at"] = eng.now
        rig.card.far_set_alarm(0, LOS)
        fired = []
        eng.call_later(1.0, lambda: fired.append(eng.now))    # the engine's timers run during the alarm
        await sim.sleep(60.0)
        out["fired"] = fired
        out["up_at_60"] = list(eng.calls)
        await sim.sleep(35.0)
        out["up_at_95"] = list(eng.calls)

    rig.run(scenario, limit=200)
    assert out["fired"] and out["up_at_60"] and not out["up_at_95"]
    (call,) = ended
    assert call.cause == 38                               # network out of order
    assert abs(call.ended_at - out["alarm_at"]) <= 0.1    # the CDR ends at the alarm, not 90 s later
    row = cdr_row(call, epoch=0.0)
    assert abs(row["billsec"] - 10.0) <= 0.3 and row["end"].timestamp() == call.ended_at


def test_short_los_leaves_the_r2_call_up(make_rig):
    rig = make_rig.for_trunk("r2", channels=30)
    eng, sim = rig.engine, rig.sim
    ended = []
    up_call(rig, ended)
    out = {}

    async def scenario():
        await sim.sleep(1.0)
        phone = sim.call("95588", from_="13900000002", trunk="r2")
        await phone.wait_answer(timeout=15)
        rig.card.far_set_alarm(0, LOS)
        await sim.sleep(5.0)
        rig.card.far_set_alarm(0, 0)
        await sim.sleep(100.0)                           # past the alarm time of the outage
        out["up"] = [c.state for c in eng.calls.values()]
        await phone.hangup()
        await sim.sleep(2.0)

    rig.run(scenario, limit=200)
    assert out["up"] == ["up"]
    (call,) = ended
    assert call.cause != 38 and call.ended_at > 100


def test_call_being_set_up_is_cleared_at_once(make_rig):
    rig = make_rig.for_trunk("r2", channels=30)
    eng, sim = rig.engine, rig.sim
    ended = []
    eng.on_call_end(ended.append)
    out = {}

    async def ring_forever(call):
        await call.wait(3600)                            # never answers: the call stays offered

    eng.route(ring_forever)

    async def scenario():
        await sim.sleep(1.0)
        sim.call("95588", from_="13900000003", trunk="r2")
        for _ in range(100):
            await sim.sleep(0.1)
            if eng.calls:
                break
        out["offered"] = [c.state for c in eng.calls.values()]
        out["alarm_at"] = eng.now
        rig.card.far_set_alarm(0, LOS)
        await sim.sleep(1.0)
        out["left"] = list(eng.calls)

    rig.run(scenario, limit=60)
    assert out["offered"] and not out["left"]
    (call,) = ended
    assert call.cause == 38 and call.ended_at - out["alarm_at"] < 0.2
