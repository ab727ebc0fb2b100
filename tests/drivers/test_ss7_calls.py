"""China No.7 (SS7/ISUP) calls through the simulator in virtual time: the driver's SS7Signaling under
the media engine (the same `Call` API as PRI and R2) against the simulated switch's SS7 side
(pstn/ss7_far.py), MTP2 frames on timeslot 16 of each E1, CIC = 32 * E1 position + timeslot."""
import pytest

from trunkline.drivers.signaling.ss7 import SS7Signaling
from trunkline.media.errors import ChannelError
from trunkline.pstn.rig import SimRig
from trunkline.pstn.ss7_far import SS7FarEnd

OPTIONS = {"opc": "10-20-30", "dpc": "40-50-60", "pc_format": "china24", "cic_base": 0, "signaling_slot": 16}


@pytest.fixture
def ss7_rig(make_rig):
    """Two E1s, the switch's SS7 far end, and an engine running China No.7 on both spans."""
    return make_rig.for_trunk("ss7", channels=60, signaling_options=OPTIONS)


def far(rig: SimRig) -> SS7FarEnd:
    end = rig.sim.trunks["ss7"]
    assert isinstance(end, SS7FarEnd)
    return end


def sig(rig: SimRig, span: int = 0) -> SS7Signaling:
    s = rig.engine.signaling[span]
    assert isinstance(s, SS7Signaling)
    return s


def test_inbound_call_through_the_call_api(ss7_rig):
    rig = ss7_rig
    seen = {}
    events = []
    rig.engine.bus.subscribe(events.append)

    async def flow(call):
        seen.update(caller=call.caller_id, called=call.called, category=call.category, cic=call.vars.get("cic"),
                    trunk=call.trunk)
        await call.answer()
        await call.wait(1.0)
        await call.hangup()

    rig.engine.route(flow)

    async def go():
        while not far(rig).point.isup.free_cics():        # link aligned, circuits reset (GRS/GRA)
            await rig.sim.sleep(0.2)
        phone = rig.sim.call("95588", from_="13812345678", trunk="ss7")
        await phone.wait_answer(timeout=10)
        await phone.wait_hangup(timeout=10)
        await rig.sim.sleep(0.5)
        return phone

    phone = rig.run(go)
    assert seen["caller"] == "13812345678" and seen["called"] == "95588"
    assert seen["category"] == "ordinary" and seen["trunk"] == "ss7"
    cic = seen["cic"]
    assert sig(rig, cic // 32).cic_to_board[cic] == phone.channel
    assert phone.cause == 16
    assert far(rig).point.isup.circuits[cic].status == "idle"
    kinds = {e.get("type") for e in events}
    assert "span_up" in kinds and "ss7_link" in kinds and "ss7_circuit" in kinds
    rows = rig.engine.status()
    assert all("cic" in r and r["cic_state"] == "idle" for r in rows)
    assert "route available" in rows[0]["signaling"] and "10-20-30 > 40-50-60" in rows[0]["signaling"]


def test_outbound_call_answered_then_cleared(ss7_rig):
    rig = ss7_rig
    rig.sim.add_destination("88001", "answer", answer_after=1.0)

    async def go():
        while not sig(rig).point.up:
            await rig.sim.sleep(0.2)
        await rig.sim.sleep(1.5)                  # circuits reset (GRS/GRA) after the link came up
        call = await rig.engine.make_call("88001", caller_id="95588", trunk="ss7", timeout=20)
        attempt = await rig.sim.wait_dialled("88001")
        party = attempt.party
        assert call.state == "up" and party.answered and party.caller == "95588"
        await call.hangup()
        await party.wait_hangup(timeout=5)
        await rig.sim.sleep(0.5)
        return call, party

    call, party = rig.run(go)
    assert party.ended and party.hungup
    assert far(rig).calls == {}


@pytest.mark.parametrize("kind,cause", [("busy", 17), ("unallocated", 1), ("congestion", 34)])
def test_outbound_refusals_give_their_causes(ss7_rig, kind, cause):
    rig = ss7_rig
    rig.sim.add_destination("66001", kind)

    async def go():
        while not sig(rig).point.up:
            await rig.sim.sleep(0.2)
        await rig.sim.sleep(1.5)
        with pytest.raises(ChannelError) as err:
            await rig.engine.make_call("66001", caller_id="8001", trunk="ss7", timeout=20)
        await rig.sim.sleep(0.5)
        return err.value

    exc = rig.run(go)
    assert exc.cause == cause
    assert all(st == "idle" for st in sig(rig).point.status()["cics"].values())


def test_configuration_errors_are_clear(make_rig):
    with pytest.raises(ValueError, match="timeslot 5"):
        make_rig.for_trunk("ss7", channels=30, signaling_options={**OPTIONS, "signaling_slot": 5})
    with pytest.raises(ValueError, match="out of range"):
        make_rig.for_trunk("ss7", channels=30, signaling_options={**OPTIONS, "opc": "300-1-1"})


def test_e1_alarm_mid_call_clears_the_call_then_the_link_realigns(ss7_rig):
    rig = ss7_rig
    ended = {}

    async def flow(call):
        await call.answer()
        try:
            await call.wait(3600.0)
        finally:
            ended["state"] = call.state

    rig.engine.route(flow)

    async def go():
        while not far(rig).point.isup.free_cics():
            await rig.sim.sleep(0.2)
        phone = rig.sim.call("95588", from_="13812345678", trunk="ss7")
        await phone.wait_answer(timeout=10)
        span = sig(rig, phone.channel // 31).span.index
        rig.card.far_set_alarm(span, 1)                  # red alarm on the E1 carrying the call
        await phone.wait_hangup(timeout=100)             # cleared once the alarm persists (T_ALARM_CLEAR, 90 s)
        await rig.sim.sleep(1.0)
        assert not sig(rig).point.mtp3.links[sig(rig, span).slc].state == "available"
        rig.card.far_set_alarm(span, 0)
        for _ in range(100):
            await rig.sim.sleep(0.2)
            if sig(rig, span).point.mtp3.links[sig(rig, span).slc].state == "available" and \
                    far(rig).point.isup.free_cics():
                break
        again = rig.sim.call("95588", from_="13812345679", trunk="ss7")   # new calls carried
        await again.wait_answer(timeout=10)
        await again.hangup()
        await rig.sim.sleep(0.5)
        return phone

    phone = rig.run(go)
    assert phone.cause in (38, 41) and "state" in ended
