"""The dahdi:// backend on the emulated /dev/dahdi (the LD_PRELOAD shim over the card simulator): discovery,
clean errors, PRI against libpri over an HDLCFCS D-channel, alarms mid-call, bad FCS, a vanished device."""
import time

import numpy as np
import pytest
from peers.libpri import PRI_NETWORK, PRI_SWITCH_EUROISDN_E1, LibPRI

from trunkline.drivers.backends.dahdi import DahdiError
from trunkline.drivers.board import open_board
from trunkline.drivers.signaling import base
from trunkline.drivers.signaling.pri import PRISignaling
from trunkline.drivers.signaling.r2_core import T_ALARM_CLEAR
from trunkline.hw_sim import forget_card, open_card
from trunkline.hw_sim.dahdi_emu import EmulatedDahdi
from trunkline.media import Hangup


@pytest.fixture
def card_emu():
    made = []

    def make(query, signaling="pri", **kw):
        forget_card("dahdi_t")
        card = open_card(f"sim://dahdi_t?{query}")
        emu = EmulatedDahdi(card, signaling, **kw)
        made.append((card, emu))
        return card, emu
    yield make
    for _, emu in made:
        emu.close()
    forget_card("dahdi_t")


def test_no_dahdi_is_a_clear_error():
    with pytest.raises(DahdiError, match="DAHDI is not loaded"):
        open_board("dahdi://")


def test_discovery_channel_in_use_and_unconfigured_span(card_emu):
    card, _ = card_emu("e1=2&fxo=2&fxs=1", unconfigured_spans=(1,))
    board = open_board("dahdi://")
    try:
        assert [(s.kind, len(s.bearer_channels), s.dchannel) for s in board.spans] == \
            [("e1", 30, 15), ("fxo", 2, None), ("fxs", 1, None)]
        assert board.spans[1].channels == [62, 63] and board.kinds[62] == "fxo" and board.kinds[64] == "fxs"
        assert board.channels == card.channels and board.laws[0] == "alaw"
        with pytest.raises(DahdiError, match="channel 1 is in use"):
            open_board("dahdi://1")
    finally:
        board.close()
    with pytest.raises(DahdiError, match="span 2 has no configured channels"):
        open_board("dahdi://2")
    with pytest.raises(DahdiError, match="span 9 does not exist"):
        open_board("dahdi://9")


def test_pri_call_against_libpri_over_the_emulated_dchannel(card_emu):
    """libpri (network, EuroISDN) on the far end of the emulated card's D-channel; our PRISignaling reads
    and writes HDLCFCS frames through /dev/dahdi: SETUP -> INCOMING, answer -> ANSWER, hangup 16."""
    card, _ = card_emu("e1=1")
    card.set_realtime(True)                # libpri's timers run on the wall clock
    board = open_board("dahdi://")
    board.set_realtime(True)
    span = board.spans[0]
    dch = span.dchannel
    peer = LibPRI(PRI_NETWORK, PRI_SWITCH_EUROISDN_E1)
    events = []
    sig = PRISignaling(span, events.append)

    def step(until, limit=10.0):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            board.write(board.read())
            board.tick()
            for ev in board.events():
                sig.handle_line_event(ev)
            sig.poll(board.now)
            while (f := card.far_recv_frame(dch)) is not None:
                peer.send(f)
            peer.run()
            for f in peer.recv_frames():
                card.far_send_frame(dch, f)
            if until():
                return True
        return False
    try:
        assert step(lambda: sig.stack.up and any(e["e"] == "DCHAN_UP" for e in peer.events))
        c = peer.call("5551234", "0301234567", 20)
        assert step(lambda: any(e.kind == base.INCOMING for e in events))
        inc = [e for e in events if e.kind == base.INCOMING][0]
        assert inc.channel == span.bearer_channels[18] and inc.called == "5551234"
        sig.answer(inc.channel)
        assert step(lambda: any(e["e"] == "ANSWER" for e in peer.events))
        peer.lib.pri_hangup(peer.pri, c, 16)
        assert step(lambda: any(e.kind == base.HANGUP for e in events))
        assert [e.cause for e in events if e.kind == base.HANGUP] == [16]
        assert board.backend.counters["frames_rx"] > 3 and board.backend.counters["frames_tx"] > 3
    finally:
        peer.close()
        board.close()


def _answering_rig(make_rig, query="e1=1"):
    rig = make_rig(query, trunk="pri", board="dahdi")
    ended = []

    async def flow(call):
        await call.answer()
        try:
            await call.wait(300)        # longer than Q.931 T309 (90 s): an alarm clears the call first
        except Hangup:
            ended.append(rig.engine.now)
    rig.engine.route(flow)
    return rig, ended


def test_red_alarm_mid_call_clears_calls_then_new_calls_are_carried(make_rig):
    rig, ended = _answering_rig(make_rig)
    out = {}

    async def scenario():
        await rig.sim.sleep(1.0)
        phone = rig.sim.call("95588", from_="13900000001", trunk="pri")
        await phone.wait_answer(timeout=10)
        await rig.sim.sleep(1.0)
        rig.card.far_set_alarm(0, 1)             # red alarm: loss of signal on the span
        await rig.sim.sleep(1.0)
        out["up_after_1s"] = len(rig.engine.calls)   # Q.931 5.8.8: an active call waits T309 (90 s) ...
        await rig.sim.sleep(91.0)
        out["calls_in_alarm"] = len(rig.engine.calls)   # ... then its bearer is cleared
        out["alarms"] = rig.board.spans[0].alarms
        rig.card.far_set_alarm(0, 0)
        await rig.sim.sleep(3.0)
        phone2 = rig.sim.call("95588", from_="13900000002", trunk="pri")
        await phone2.wait_answer(timeout=10)
        out["second"] = True
        await phone2.hangup()
    rig.run(scenario)
    assert out == {"up_after_1s": 1, "calls_in_alarm": 0, "alarms": 1, "second": True} and len(ended) >= 1


def test_bad_fcs_frame_is_dropped_and_counted(make_rig):
    rig, _ = _answering_rig(make_rig)
    out = {}

    async def scenario():
        await rig.sim.sleep(1.0)
        rig.emulated_dahdi.corrupt_next_frame(16)    # the network's next frame arrives damaged
        phone = rig.sim.call("95588", from_="13900000003", trunk="pri")
        await phone.wait_answer(timeout=15)          # Q.921 recovers the lost frame
        out["answered"] = True
        await phone.hangup()
    rig.run(scenario)
    assert out["answered"]
    assert rig.board.health()["counters"]["badfcs"] == 1


def test_dahdi_disappears_engine_keeps_running_and_says_so(make_rig):
    rig, ended = _answering_rig(make_rig, "fxo=2")
    out = {}

    async def scenario():
        phone = rig.sim.call("95588", from_="13900000004")
        await phone.wait_answer(timeout=15)
        rig.emulated_dahdi.set_present(False)
        t = rig.engine.ticks
        await rig.engine.sleep(1.0)
        out["ticks"] = rig.engine.ticks - t
        out["health"] = rig.board.health()
        out["calls"] = len(rig.engine.calls)
    rig.run(scenario)
    assert out["ticks"] >= 49 and out["calls"] == 0 and ended
    assert out["health"]["removed"] and "DAHDI device removed" in out["health"]["status"]


def test_one_io_call_per_tick_and_audio_both_ways(make_rig):
    rig = make_rig("e1=1", trunk="pri", board="dahdi")
    tone = (np.sin(np.arange(1600) * 2 * np.pi * 1000 / 8000) * 8000).astype(np.int16)

    async def scenario():
        rig.card.far_play(0, tone)
        a0, t0 = rig.emulated_dahdi.counters()["advances"], rig.engine.ticks
        await rig.engine.sleep(0.5)
        return rig.emulated_dahdi.counters()["advances"] - a0, rig.engine.ticks - t0
    advances, ticks = rig.run(scenario)
    assert advances == ticks == 25            # the card clock moved once per tick: one wait per tick


def test_echo_canceller_off_for_fax_and_back_on_after(make_rig):
    rig = make_rig("e1=1", trunk="pri", board="dahdi")
    seen = {}

    class FaxStub:
        """Stands in for the T.30 endpoint: notes the channel's echo canceller while the session runs."""
        def __init__(self, *a, **kw):
            self.done, self.result = False, "ok"

        def rx(self, samples):
            seen["during"] = rig.emulated_dahdi.counters(1, seen["ch"] + 1)["ec_taps"]
            self.done = True

        def tx(self, n):
            return np.zeros(n, dtype=np.int16)
    rig.engine.fax_endpoint_factory = FaxStub

    async def flow(call):
        seen["ch"] = call.channel
        await call.answer()
        seen["before"] = rig.emulated_dahdi.counters(1, call.channel + 1)["ec_taps"]
        await rig.engine.run_fax(call, calling=False)
        seen["after"] = rig.emulated_dahdi.counters(1, call.channel + 1)["ec_taps"]
        await call.hangup()
    rig.engine.route(flow)

    async def scenario():
        await rig.sim.sleep(1.0)
        phone = rig.sim.call("88", from_="02188880000", trunk="pri")
        await phone.wait_answer()
        await phone.wait_hangup(timeout=10)
    rig.run(scenario)
    assert (seen["before"], seen["during"], seen["after"]) == (128, 0, 128)


def test_r2_span_red_alarm_clears_calls_then_carries_new_ones(make_rig):
    rig = make_rig.for_trunk("r2", channels=30, board="dahdi")
    ended = []

    async def flow(call):
        await call.answer()
        try:
            await call.wait(300)        # longer than T_ALARM_CLEAR (90 s): the alarm clears the call first
        except Hangup:
            ended.append(call.channel)
    rig.engine.route(flow)
    out = {}

    async def scenario():
        phone = rig.sim.call("95588", from_="13812345670", trunk="r2")
        await phone.wait_answer(timeout=10)
        rig.card.far_set_alarm(0, 1)
        await rig.sim.sleep(0.5)
        out["up_after_alarm"] = len(rig.engine.calls)     # a call up waits out T_ALARM_CLEAR ...
        await rig.sim.sleep(T_ALARM_CLEAR + 1.0)
        out["calls_in_alarm"] = len(rig.engine.calls)     # ... then it is cleared
        rig.card.far_set_alarm(0, 0)
        await rig.sim.sleep(1.0)
        phone2 = rig.sim.call("95588", from_="13812345671", trunk="r2")
        await phone2.wait_answer(timeout=10)
        out["second"] = True
        out["first_channel"] = phone.channel
        await phone2.hangup()
    rig.run(scenario)
    assert out["up_after_alarm"] == 1
    assert out["calls_in_alarm"] == 0 and out["second"] and ended == [out["first_channel"]]
