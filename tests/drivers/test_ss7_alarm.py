"""Span alarms on SS7 (China No.7) bearer spans, as on PRI (T309) and R2: an answered call survives a short loss of
signal; when the loss persists T_ALARM_CLEAR (90 s) its circuit is hardware-blocked and the call cleared with the CDR
ending at the alarm; calls being set up are cleared at once. Two E1s: the signaling link of the other span stays up."""
from trunkline.drivers.signaling.ss7 import T_ALARM_CLEAR, SS7Signaling
from trunkline.media.cdr import cdr_row

OPTIONS = {"opc": "10-20-30", "dpc": "40-50-60", "pc_format": "china24", "cic_base": 0, "signaling_slot": 16}
LOS = 1          # red alarm / loss of signal (hw_sim alarm bits)


def ss7_rig(make_rig, ended, answer=True):
    rig = make_rig.for_trunk("ss7", channels=60, signaling_options=OPTIONS)

    async def flow(call):
        if answer:
            await call.answer()
        await call.wait(3600)

    rig.engine.route(flow)
    rig.engine.on_call_end(ended.append)
    return rig


async def ready(rig):
    sig = rig.engine.signaling[0]
    assert isinstance(sig, SS7Signaling)
    for _ in range(200):
        if sig.point.up and rig.sim.trunks["ss7"].point.isup.free_cics():
            break
        await rig.sim.sleep(0.2)
    await rig.sim.sleep(1.5)                  # circuits reset (GRS/GRA) after the link came up


def test_persistent_los_clears_the_call_after_the_alarm_time_and_the_cdr_ends_at_the_alarm(make_rig):
    assert T_ALARM_CLEAR == 90.0
    ended = []
    rig = ss7_rig(make_rig, ended)
    eng, sim = rig.engine, rig.sim
    out = {}

    async def scenario():
        await ready(rig)
        phone = sim.call("95588", from_="13900000001", trunk="ss7")
        await phone.wait_answer(timeout=15)
        await sim.sleep(10.0)
        out["alarm_at"] = eng.now
        rig.card.far_set_alarm(phone.channel // 31, LOS)
        fired = []
        eng.call_later(1.0, lambda: fired.append(eng.now))    # the engine's timers run during the alarm
        await sim.sleep(60.0)
        out["fired"], out["up_at_60"] = fired, list(eng.calls)
        await sim.sleep(35.0)
        out["up_at_95"] = list(eng.calls)
        out["phone_cause"] = phone.cause

    rig.run(scenario, limit=200)
    assert out["fired"] and out["up_at_60"] and not out["up_at_95"]
    (call,) = ended
    assert call.cause == 41                               # hardware blocking: temporary failure (REL to the far end)
    assert out["phone_cause"] is not None
    assert abs(call.ended_at - out["alarm_at"]) <= 0.1    # the CDR ends at the alarm, not 90 s later
    row = cdr_row(call, epoch=0.0)
    assert abs(row["billsec"] - 10.0) <= 0.3 and row["end"].timestamp() == call.ended_at


def test_short_los_leaves_the_ss7_call_up_and_its_circuit_unblocked(make_rig):
    ended = []
    rig = ss7_rig(make_rig, ended)
    eng, sim = rig.engine, rig.sim
    out = {}

    async def scenario():
        await ready(rig)
        phone = sim.call("95588", from_="13900000002", trunk="ss7")
        await phone.wait_answer(timeout=15)
        span = phone.channel // 31
        rig.card.far_set_alarm(span, LOS)
        await sim.sleep(5.0)
        rig.card.far_set_alarm(span, 0)
        await sim.sleep(100.0)                           # past the alarm time of the outage
        out["up"] = [c.state for c in eng.calls.values()]
        out["blocked"] = sorted(eng.signaling[span]._hw_blocked)
        await phone.hangup()
        await sim.sleep(2.0)

    rig.run(scenario, limit=200)
    assert out["up"] == ["up"] and out["blocked"] == []
    (call,) = ended
    assert call.cause != 41 and call.ended_at > 100


def test_call_being_set_up_is_cleared_at_once(make_rig):
    ended = []
    rig = ss7_rig(make_rig, ended, answer=False)
    eng, sim = rig.engine, rig.sim
    out = {}

    async def scenario():
        await ready(rig)
        phone = sim.call("95588", from_="13900000003", trunk="ss7")
        for _ in range(100):
            await sim.sleep(0.1)
            if eng.calls:
                break
        out["offered"] = [c.state for c in eng.calls.values()]
        out["alarm_at"] = eng.now
        rig.card.far_set_alarm(phone.channel // 31, LOS)
        await sim.sleep(1.0)
        out["left"] = list(eng.calls)

    rig.run(scenario, limit=60)
    assert out["offered"] and not out["left"]
    (call,) = ended
    assert call.ended_at - out["alarm_at"] < 0.2
