"""China No.1 (MFC/R2) calls through the simulator in virtual time: the driver's R2Signaling under
the media engine against the simulated switch (pstn/r2_far.py). The register signals our driver
puts on the line are decoded independently by spandsp's r2_mf_rx and compared with the sequence
the China No.1 tables prescribe."""
import asyncio

import numpy as np
import pytest
from peers.spandsp_r2mf import R2Rx

from trunkline.media.errors import ChannelError
from trunkline.pstn.r2_far import R2FarEnd
from trunkline.pstn.rig import SimRig
from trunkline.pstn.switch import SimError


@pytest.fixture
def r2_rig(make_rig):
    """A one-E1 card, its switch with the R2 far end, and an engine running China No.1 on it."""
    return make_rig.for_trunk("r2", channels=30)


def far(rig: SimRig) -> R2FarEnd:
    """The switch's China No.1 far end."""
    end = rig.sim.trunks["r2"]
    assert isinstance(end, R2FarEnd)
    return end


def sig(rig: SimRig):
    """The driver's R2Signaling on the span."""
    return rig.engine.signaling[0]


def bearer(rig: SimRig) -> list[int]:
    """The E1 span's bearer timeslots (board channels)."""
    return rig.card.spans[0].bearer


def register_signals(pcm, forward):
    """Non-zero R2 signals spandsp hears in int16 audio, in order."""
    rx = R2Rx(forward=forward)
    return [s for _, s in rx.run(pcm, step=40) if s]


@pytest.mark.parametrize("board", ["sim", "dahdi"])   # dahdi: CAS bits through the emulated /dev/dahdi
def test_inbound_call_dnis_ani_category(make_rig, board):
    rig = make_rig.for_trunk("r2", channels=30, board=board)
    seen = {}

    async def flow(call):
        seen.update(caller=call.caller_id, called=call.called, category=call.category, vars=dict(call.vars))
        await call.answer()
        await call.wait(1.0)
        await call.hangup()

    rig.engine.route(flow)
    ch = bearer(rig)[-1]                     # the switch seizes from the highest timeslot down
    rig.card.far_capture(ch, True)

    async def go():
        phone = rig.sim.call("95588", from_="13812345678", trunk="r2")
        assert phone.channel == ch
        await phone.wait_answer(timeout=10)
        await phone.wait_hangup(timeout=10)
        return phone

    phone = rig.run(go)
    assert seen["caller"] == "13812345678" and seen["called"] == "95588"
    assert seen["category"] == "subscriber" and seen["vars"]["kd"] == 3 and seen["vars"]["ka"] == 1
    assert phone.cause == 16
    heard = rig.card.far_capture_take(ch)
    got = register_signals(heard, forward=False)
    # A1 after each of the 5 digits, A6 on end of address (I-15), A1 after KA and the 11 ANI digits,
    # A3 on end of ANI (I-15), B1 (free, charge) on KD
    want = [1] * 5 + [6] + [1] * 12 + [3] + [1]
    print("\nbackward signals our driver sent, decoded by spandsp:", got, "\nChina No.1 sequence:            ", want)
    assert got == want


def test_outbound_call_answered_and_forward_sequence(r2_rig):
    rig = r2_rig
    ch = bearer(rig)[0]                      # the driver seizes the lowest free timeslot
    rig.card.far_capture(ch, True)

    async def go():
        call = await rig.engine.make_call("12345", caller_id="8001", trunk="r2", timeout=20)
        assert call.state == "up" and call.channel == ch
        party = far(rig).calls[ch]
        assert party.answered and party.caller == "8001" and party.number == "12345"
        heard = rig.card.far_capture_take(ch)
        await call.hangup()
        await rig.sim.sleep(0.3)
        return party, heard

    party, heard = rig.run(go)
    assert party.ended and party.hungup
    got = register_signals(heard, forward=True)
    # digits 1-5, I-15 end of address, KA=1 on A6, ANI 8 0 0 1 (0 = signal 10), I-15, KD=3 on A3
    want = [1, 2, 3, 4, 5, 15, 1, 8, 10, 10, 1, 15, 3]
    print("\nforward signals our driver sent, decoded by spandsp:", got, "\nChina No.1 sequence:           ", want)
    assert got == want
    assert rig.card.far_get_cas(ch) == 0x9 and rig.card.card_get_cas(ch) == 0x9


@pytest.mark.parametrize("kind,cause", [("busy", 17), ("unallocated", 1), ("congestion", 34)])
def test_outbound_group_b_refusals(kind, cause, r2_rig):
    """B-2 (busy) -> cause 17, B-5 (unallocated number) -> 1, B-4 (congestion) -> 34."""
    rig = r2_rig
    rig.sim.add_destination("66001", kind)

    async def go():
        with pytest.raises(ChannelError) as err:
            await rig.engine.make_call("66001", caller_id="8001", trunk="r2", timeout=20)
        await rig.sim.sleep(0.5)
        return err.value

    exc = rig.run(go)
    assert exc.cause == cause
    ch = bearer(rig)[0]
    assert sig(rig).core.state(ch) == "idle" and far(rig).core.state(ch) == "idle"
    assert rig.card.far_get_cas(ch) == 0x9 and rig.card.card_get_cas(ch) == 0x9


def test_ani_restricted(r2_rig):
    rig = r2_rig
    seen = {}

    async def flow(call):
        seen.update(caller=call.caller_id, vars=dict(call.vars))
        await call.answer()
        await call.hangup()

    rig.engine.route(flow)

    async def go():
        phone = far(rig).place_call("95588", "13800000000", restricted=True)
        await phone.wait_answer(timeout=10)
        await phone.wait_hangup(timeout=10)

    rig.run(go)
    assert seen["caller"] == "" and seen["vars"]["ani_restricted"] is True


def test_clear_back_then_clear_forward(r2_rig):
    """Inbound: we clear first -> clear-back (ab=11) until the switch clears forward, then idle."""
    rig = r2_rig
    trace = []

    async def flow(call):
        await call.answer()
        await call.wait(0.5)
        await call.hangup()

    rig.engine.route(flow)

    async def go():
        rig.sim.destinations.clear()
        phone = rig.sim.call("95588", from_="1380", trunk="r2")
        ch = phone.channel
        await phone.wait_answer(timeout=10)
        trace.append(rig.card.far_get_cas(ch))             # answer: ab=01
        await phone.wait_hangup(timeout=10)
        trace.append(rig.card.far_get_cas(ch))             # clear-back: ab=11 right after clearing
        await rig.sim.sleep(0.2)
        trace.append(rig.card.far_get_cas(ch))             # the switch cleared forward: back to idle
        trace.append(rig.card.card_get_cas(ch))
        return phone

    phone = rig.run(go)
    assert phone.cause == 16
    assert trace[0] == 0x5 and trace[2] == 0x9 and trace[3] == 0x9
    assert trace[1] in (0xD, 0x9)


def test_outbound_far_clear_back_releases_call(r2_rig):
    """Outbound: the far party clears back; the engine sees the hang-up and the driver clears forward."""
    rig = r2_rig

    async def go():
        call = await rig.engine.make_call("12345", caller_id="8001", trunk="r2", timeout=20)
        party = far(rig).calls[call.channel]
        await party.hangup()
        await rig.sim.sleep(0.3)
        return call

    call = rig.run(go)
    assert call.hungup and call.cause == 16
    assert rig.card.far_get_cas(call.channel) == 0x9 and sig(rig).core.state(call.channel) == "idle"


def test_caller_abandons_during_mf(r2_rig):
    rig = r2_rig
    offered = []
    rig.engine.route(lambda call: offered.append(call) or asyncio.sleep(0))

    async def go():
        phone = rig.sim.call("95588", from_="13812345678", trunk="r2")
        ch = phone.channel
        await rig.sim.sleep(0.3)                       # in the middle of the address digits
        assert sig(rig).core.state(ch) == "mf"
        await phone.hangup()
        await rig.sim.sleep(0.5)
        assert sig(rig).core.state(ch) == "idle" and rig.card.far_get_cas(ch) == 0x9
        assert not rig.board.inband_active(ch)
        # the timeslot works again
        answered = []

        async def flow(call):
            answered.append(call.called)
            await call.answer()
            await call.hangup()
        rig.engine.route(flow)
        await asyncio.sleep(0)
        far(rig).rest.clear()
        again = rig.sim.call("95588", from_="1", trunk="r2")
        assert again.channel == ch
        await again.wait_answer(timeout=10)
        await again.wait_hangup(timeout=10)
        return answered

    answered = rig.run(go)
    assert offered == [] and answered == ["95588"]


def test_seize_ack_timeout(r2_rig):
    """No switch behind the span: no seize acknowledge within 2 s -> the attempt fails (cause 41)."""
    rig = r2_rig
    del rig.sim.trunks["r2"]                          # the span's far end stops answering anything

    async def go():
        t0 = rig.engine.now
        with pytest.raises(ChannelError) as err:
            await rig.engine.make_call("12345", trunk="r2", timeout=20)
        return err.value, rig.engine.now - t0

    exc, took = rig.run(go)
    assert exc.cause == 41 and 1.9 <= took <= 2.5


def test_blocked_timeslot_is_skipped(r2_rig):
    rig = r2_rig
    first = bearer(rig)[0]

    async def go():
        far(rig).core.block(first)                     # the switch blocks timeslot 1 (backward ab=11)
        await rig.sim.sleep(0.1)
        call = await rig.engine.make_call("12345", trunk="r2", timeout=20)
        ch = call.channel
        await call.hangup()
        await rig.sim.sleep(0.2)
        return ch

    ch = rig.run(go)
    assert ch == bearer(rig)[1]


def test_switch_reports_all_busy(r2_rig):
    rig = r2_rig
    far(rig).rest = {ch: 1e9 for ch in bearer(rig)}
    with pytest.raises(SimError):
        rig.run(lambda: _place(rig))


async def _place(rig):
    await asyncio.sleep(0)                            # the engine starts ticking before the call fails
    rig.sim.call("1", trunk="r2")


def test_bad_dial_input(r2_rig):
    rig = r2_rig

    async def go():
        with pytest.raises(ChannelError) as err:
            await rig.engine.make_call("12A45", trunk="r2", timeout=5)
        return err.value

    exc = rig.run(go)
    assert exc.cause == 1
    assert all(sig(rig).core.state(ch) == "idle" for ch in bearer(rig))
    assert np.all([rig.card.card_get_cas(ch) == 0x9 for ch in bearer(rig)])


def test_line_signal_must_persist(r2_rig):
    """A one-tick ABCD glitch (backward idle for 20 ms on an answered call) is not a line signal;
    a lasting clear-back is, and releases the call (recognition time, Q.421 style 20 ms)."""
    rig = r2_rig

    async def go():
        call = await rig.engine.make_call("12345", caller_id="8001", trunk="r2", timeout=20)
        ch = call.channel
        rig.card.far_set_cas(ch, 0x9)                 # backward idle ...
        await rig.sim.sleep(0.02)
        rig.card.far_set_cas(ch, 0x5)                 # ... back to answer one tick later
        await rig.sim.sleep(0.5)
        survived = call.state == "up" and not call.hungup and sig(rig).core.state(ch) == "up"
        t0 = rig.engine.now
        rig.card.far_set_cas(ch, 0xD)                 # clear-back, held
        while not call.hungup and rig.engine.now - t0 < 1.0:
            await rig.sim.sleep(0.02)
        return survived, call, rig.engine.now - t0

    survived, call, took = rig.run(go)
    print(f"\nglitch survived: {survived}; clear-back recognised after {took * 1000:.0f} ms")
    assert survived
    assert call.hungup and call.cause == 16 and 0.02 <= took <= 0.1


def test_we_block_a_timeslot(r2_rig):
    """Our side blocks its highest timeslot (backward ab=11 on an idle line): the switch, which seizes
    from the highest timeslot down, offers the next call on the one below; unblocked, it is used again."""
    rig = r2_rig
    top = bearer(rig)[-1]

    async def go():
        sig(rig).block(top)
        await rig.sim.sleep(0.1)
        blocked_cas = rig.card.far_get_cas(top)           # what the switch receives from us
        first = rig.sim.call("95588", from_="1380", trunk="r2")
        await first.wait_answer(timeout=10)
        await first.hangup()
        await rig.sim.sleep(0.5)
        sig(rig).block(top, on=False)
        await rig.sim.sleep(0.1)
        second = rig.sim.call("95588", from_="1380", trunk="r2")
        await second.wait_answer(timeout=10)
        await second.hangup()
        await rig.sim.sleep(0.5)
        return blocked_cas, first.channel, second.channel

    async def flow(call):
        await call.answer()
        await call.wait(5)

    rig.engine.route(flow)
    blocked_cas, first, second = rig.run(go)
    assert blocked_cas == 0xD
    assert first == bearer(rig)[-2] and second == top
