"""Browser phones as station ports (drivers/backends/browser.py) on the engine, in virtual time, without WebRTC:
the engine rings the port, the page's off-hook answers it, audio crosses the FIFOs both ways, on-hook clears."""
import asyncio

import numpy as np
import pytest
from acd_rig import level, tone

from trunkline.drivers.backends.browser import MAX_BUFFERED, BrowserPhones
from trunkline.drivers.board import open_board
from trunkline.pstn import SimRig


def test_softphone_ports_follow_the_card_stations():
    rig = SimRig.with_query("fxo=1&fxs=2", browser_phones=3)
    try:
        phones = rig.board.phones
        assert isinstance(phones, BrowserPhones)
        assert rig.engine.station_count == 5
        assert [p.port for p in phones.phones] == [2, 3, 4]
        assert [rig.engine.stations[p.port] for p in phones.phones] == [p.channel for p in phones.phones]
        assert phones.claim("a").port == 2 and phones.claim("a").port == 2 and phones.claim("b").port == 3
        phones.claim("c")
        assert phones.claim("d") is None                                  # all taken: refused, not shared
        phones.release("a")
        assert phones.claim("d").port == 2
    finally:
        rig.close()
    with pytest.raises(ValueError):
        BrowserPhones(open_board("sim://softphone-bad?fxs=1").backend, 0)


def test_softphone_fifo_is_bounded():
    rig = SimRig.with_query("fxo=1&fxs=1", browser_phones=1)
    try:
        p = rig.board.phones.phones[0]
        for _ in range(100):
            p.push_from_browser(np.ones(160, dtype=np.int16))
            p.push_to_browser(np.ones(160, dtype=np.int16))
        assert p._from_n <= MAX_BUFFERED and p._to_n <= MAX_BUFFERED
        assert len(p.take_from_browser(160)) == 160
    finally:
        rig.close()


def test_softphone_station_call_audio_both_ways():
    rig = SimRig.with_query("fxo=1&fxs=1", browser_phones=1)
    phones = rig.board.phones
    phone = phones.phones[0]
    phone.attached = True
    out = {}

    async def flow(call):
        await call.answer()
        agent = await rig.engine.ring_station(phone.port, caller_id=call.caller_id, timeout=10)
        out["agent"] = agent
        await call.bridge(agent)
        await call.wait_hangup()

    async def scenario():
        rig.engine.route(flow)
        ph = rig.sim.call("5000", from_="13800138000")
        await ph.wait_answer(10)
        while not phone.ringing:
            await rig.sim.sleep(0.05)
        phones.set_hook(phone, True)                                       # the page's Answer
        await rig.sim.sleep(0.3)
        assert "agent" in out
        ph.play_nowait(tone(1000, 2.0))
        phone.reset_audio()
        ph.start_capture()
        ph.take_captured()
        heard = []
        for _ in range(50):                                                # 1 s of 20 ms browser frames
            phone.push_from_browser(tone(600, 0.02))
            await rig.sim.sleep(0.02)
            heard.append(phone.take_to_browser(160))
        got = ph.take_captured()
        page = np.concatenate(heard)
        assert level(page, 1000) > 1000 and level(page, 600) < 100        # the caller's tone reaches the browser
        assert level(got, 600) > 1000 and level(got, 1000) < 200          # the browser's audio reaches the caller
        phones.set_hook(phone, False)                                      # the page's Hang up
        await rig.sim.sleep(0.3)
        assert rig.engine.station_call(phone.port) is None
        await asyncio.sleep(0)
    rig.run(scenario, limit=60)
