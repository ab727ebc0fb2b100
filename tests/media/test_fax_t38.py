"""Fax on SIP calls through the SIP wiring `trunkline run`/`simulate --trunk sip` use (SimRig with a SIP span
and the simulator's SIP far end, virtual time over loopback):
- call.send_fax on a SIP call re-INVITEs to T.38; the far end accepts; libspandsp's t38_terminal on the far
  end's UDPTL socket receives the pages (compared pixel for pixel); mid-fax the far end refreshes the session
  (RFC 4028: a re-INVITE with its image SDP and an UPDATE) and the fax goes on; after it the call is
  re-INVITEd back to audio;
- call.receive_fax when the far end switches the call to T.38 itself (its re-INVITE is accepted);
- a far end that refuses T.38 (488): the fax runs as audio fax (G.711) on the same call against spandsp's
  audio terminal, and the fallback is published on the bus."""
import asyncio
import random
import socket

import numpy as np
import pytest
from peers.spandsp_fax import SpandspFax
from peers.spandsp_t38 import SpandspT38

from trunkline.drivers.signaling import sip_t38
from trunkline.fax.convert import synth_document
from trunkline.fax.tiff import read_tiff, write_tiff
from trunkline.pstn import SimRig


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    d = tmp_path_factory.mktemp("t38sip")
    pages = synth_document(2, width=1728, fine=False, rows=120, seed=9)
    path = str(d / "send.tif")
    write_tiff(path, pages, "g4")
    return path, pages


def _same(got, sent):
    assert len(got) == len(sent)
    for g, s in zip(got, sent):
        assert np.array_equal(g.image, s.image), f"{int((g.image != s.image).sum())} pixels differ"


async def pump_t38(rig, far, ch, peer, until, on_tick=None):
    """Drive spandsp's T.38 terminal on the far end's UDPTL socket of channel `ch` until `until()`."""
    last = rig.engine.now
    for _ in range(4000):
        await rig.sim.sleep(0.02)
        port = far.sig.t38_port(ch)
        n = int(round((rig.engine.now - last) * 8000))
        last = rig.engine.now
        if port is not None:
            for seq, ifp in port.recv():
                peer.put_ifp(ifp, seq)
        peer.advance(n)
        sent = peer.take_ifps()
        if port is not None:
            for ifp in sent:
                port.send(ifp)
        if on_tick is not None:
            on_tick()
        if until():
            return True
    return False


def test_send_fax_on_a_sip_call_switches_to_t38_and_survives_session_refreshes(document, tmp_path):
    path, pages = document
    rig = SimRig("sim://t38-send?fxs=1&sip=2", trunk="sip")
    far = rig.sip_far
    results = {}

    async def flow(call):
        await call.answer()
        sig = rig.engine._sig_of_channel[call.channel]
        codec_during = set()
        task = asyncio.ensure_future(call.send_fax(path, ident="TRUNKLINE"))
        while not task.done():
            await rig.sim.sleep(0.1)
            port = sig.t38_port(call.channel)
            if port is not None:
                results["malformed"], results["foreign"] = port.rx.malformed, port.foreign
                codec_during.update(r.get("codec") for r in rig.engine.signaling_status() if r.get("kind") == "call")
        res = task.result()
        results["ours_t38_after"] = rig.engine._sig_of_channel[call.channel].t38_port(call.channel)
        results["codec_during"] = codec_during
        results["fax"] = res
        await rig.sim.sleep(1.0)
        await call.hangup()
    rig.engine.route(flow)
    rx_path = str(tmp_path / "far_rx.tif")
    peer = SpandspT38(True, receive=rx_path)      # the far end placed the call: the T.30 calling side
    refreshed = []

    async def scenario():
        phone = rig.sim.call("95588", trunk="sip")
        assert await phone.wait_answer(timeout=10)
        ch = phone.channel
        leg = far.sig.legs[ch]

        def refresh():
            port = far.sig.t38_port(ch)
            if port is None or refreshed or port.rx.received < 200:
                return
            # RFC 4028 refreshes from the far end while pages flow: a re-INVITE with its image SDP, an UPDATE
            far.sig.ua.dialog_request(leg.dialog, "INVITE", lambda r: refreshed.append(("INVITE", r)),
                                      body=sip_t38.body(far.sig, leg))
            far.sig.ua.dialog_request(leg.dialog, "UPDATE", lambda r: refreshed.append(("UPDATE", r)),
                                      headers=[("Session-Expires", "90;refresher=uac")])
            refreshed.append(("sent", port.rx.received))
            # and malformed UDPTL datagrams at our live UDPTL socket: dropped, never out of the stack
            ours = far.sig.t38[ch].remote
            rng = random.Random(8)
            for _ in range(100):                         # from the far end's own socket (the latched source)
                port.sock.sendto(rng.randbytes(rng.randint(0, 80)), (ours.ip, ours.port))
            stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(20):                          # and from a foreign port
                stray.sendto(rng.randbytes(40), (ours.ip, ours.port))
            stray.close()
        ok = await pump_t38(rig, far, ch, peer, lambda: "fax" in results and peer.phase_e is not None, refresh)
        assert ok, "the T.38 fax did not finish"
        results["far_t38_after"] = far.sig.t38_port(ch)
        results["far_pt_after"] = far.sig.legs[ch].remote_sdp.audio_pt
        await phone.wait_hangup(timeout=5)
        return ch
    rig.run(scenario, limit=200)
    far.close()
    res = results["fax"]
    st = peer.stats()
    print(f"\nT.38 on SIP: ours {res} | spandsp {peer.code_text()} {st} | refreshes {[r[0] for r in refreshed]}")
    assert res.ok and res.pages == 2 and res.bit_rate == 14400, res
    assert peer.phase_e == 0 and st["pages_rx"] == 2
    assert peer.remote_ident().strip() == "TRUNKLINE"
    _same(read_tiff(rx_path), pages)
    answers = {m: r for m, r in refreshed if m != "sent"}
    assert answers["INVITE"].status == 200 and b"m=image" in answers["INVITE"].body, "refresh not answered in T.38"
    assert answers["UPDATE"].status == 200
    assert results["malformed"] > 50 and results["foreign"] == 20
    assert "T.38" in results["codec_during"]          # the live SIP calls page shows the call in T.38
    # back to audio after the fax (our re-INVITE with G.711), before the hang-up
    assert results["ours_t38_after"] is None and results["far_t38_after"] is None
    assert results["far_pt_after"] in (0, 8)
    peer.close()


def test_receive_fax_when_the_far_end_switches_the_call_to_t38(document, tmp_path):
    path, pages = document
    rig = SimRig("sim://t38-recv?fxs=1&sip=2", trunk="sip")
    far = rig.sip_far
    results = {}
    rx_path = str(tmp_path / "ours_rx.tif")

    async def flow(call):
        await call.answer()
        await rig.sim.sleep(1.0)                     # the far end's T.38 re-INVITE arrives meanwhile
        results["fax"] = await call.receive_fax(rx_path, ident="TRUNKLINE", ecm=True)
        await call.hangup()
    rig.engine.route(flow)
    peer = SpandspT38(True, send=path, ecm=True)
    switched = []

    async def scenario():
        phone = rig.sim.call("95588", trunk="sip")
        assert await phone.wait_answer(timeout=10)
        far.sig.t38_switch(phone.channel, switched.append)
        ok = await pump_t38(rig, far, phone.channel, peer, lambda: "fax" in results and peer.phase_e is not None)
        assert ok, f"the T.38 fax did not finish: {switched} {results} {peer.code_text()} {peer.stats()}"
        await phone.wait_hangup(timeout=5)
    rig.run(scenario, limit=200)
    far.close()
    res = results["fax"]
    print(f"\nT.38 from the far end's switch: ours {res} | spandsp {peer.code_text()} {peer.stats()}")
    assert switched == ["t38"]
    assert res.ok and res.pages == 2 and res.ecm and res.remote_ident == "SPANDSP T38", res
    assert peer.phase_e == 0
    _same(read_tiff(rx_path), pages)
    peer.close()


def test_t38_refused_with_488_falls_back_to_audio_fax_on_the_same_call(document, tmp_path):
    path, pages = document
    rig = SimRig("sim://t38-488?fxs=1&sip=2", trunk="sip")
    far = rig.sip_far
    far.sig.settings.t38 = False                     # the far end answers a T.38 re-INVITE with 488
    results, events = {}, []
    rig.engine.bus.subscribe(events.append)

    async def flow(call):
        await call.answer()
        results["fax"] = await call.send_fax(path, ident="TRUNKLINE")
        await call.hangup()
    rig.engine.route(flow)
    rx_path = str(tmp_path / "far_audio_rx.tif")
    peer = SpandspFax(True, receive=rx_path)

    async def scenario():
        phone = rig.sim.call("95588", trunk="sip")
        assert await phone.wait_answer(timeout=10)
        phone.start_capture()
        for _ in range(6000):
            await rig.sim.sleep(0.02)
            heard = phone.take_captured()
            if len(heard):
                peer.rx(heard)
                phone.play_nowait(peer.tx(len(heard)))
            assert far.sig.t38_port(phone.channel) is None
            if "fax" in results and peer.phase_e is not None:
                break
        await phone.wait_hangup(timeout=5)
    rig.run(scenario, limit=300)
    far.close()
    res = results["fax"]
    st = peer.stats()
    print(f"\nT.38 refused -> audio fax: ours {res} | spandsp {peer.code_text()} {st}")
    assert res.ok and res.pages == 2, res
    assert peer.phase_e == 0 and st["pages_rx"] == 2
    _same(read_tiff(rx_path), pages)
    fallback = [e for e in events if e.get("type") == "fax_t38_fallback"]
    assert len(fallback) == 1 and fallback[0]["status"].startswith("488"), fallback
    peer.close()


def test_far_end_switching_to_t38_during_an_audio_fax_gets_a_t38_session(document, tmp_path):
    path, pages = document
    rig = SimRig("sim://t38-mid?fxs=1&sip=2", trunk="sip")
    far = rig.sip_far
    far.sig.settings.t38 = False                     # refuses our T.38 re-INVITE: the fax starts as audio ...
    results = {}

    async def flow(call):
        await call.answer()
        results["fax"] = await call.send_fax(path, ident="TRUNKLINE")
        await call.hangup()
    rig.engine.route(flow)
    audio_peer = SpandspFax(True, receive=str(tmp_path / "unused.tif"))
    rx_path = str(tmp_path / "far_rx.tif")
    peer = SpandspT38(True, receive=rx_path)
    switched = []

    async def scenario():
        phone = rig.sim.call("95588", trunk="sip")
        assert await phone.wait_answer(timeout=10)
        phone.start_capture()
        heard_audio = 0
        for _ in range(150):                         # 3 s of audio fax (CED and the start of DIS)
            await rig.sim.sleep(0.02)
            heard = phone.take_captured()
            heard_audio += int(np.abs(heard).max(initial=0) > 1000)
            if len(heard):
                audio_peer.rx(heard)
                phone.play_nowait(audio_peer.tx(len(heard)))
        assert heard_audio > 50, "no audio fax signal before the switch"
        far.sig.settings.t38 = True                  # ... then the far end (a gateway) switches to T.38 itself
        far.sig.t38_switch(phone.channel, switched.append)
        ok = await pump_t38(rig, far, phone.channel, peer, lambda: "fax" in results and peer.phase_e is not None)
        assert ok, f"the T.38 fax did not finish: {switched} {results} {peer.code_text()}"
        await phone.wait_hangup(timeout=5)
    rig.run(scenario, limit=200)
    far.close()
    res = results["fax"]
    print(f"\naudio fax switched to T.38 by the far end: ours {res} | spandsp {peer.code_text()} {peer.stats()}")
    assert switched == ["t38"]
    assert res.ok and res.pages == 2, res
    assert peer.phase_e == 0 and peer.stats()["pages_rx"] == 2
    _same(read_tiff(rx_path), pages)
    audio_peer.close()
    peer.close()


def test_tones_trigger_starts_as_audio_and_switches_when_the_far_end_is_heard(document, tmp_path):
    path, pages = document
    rig = SimRig("sim://t38-tones?fxs=1&sip=2", trunk="sip")
    rig.board.sip_parts[0][0].settings.t38_trigger = "tones"     # sip_t38_trigger = "tones"
    far = rig.sip_far
    results = {}

    async def flow(call):
        await call.answer()
        results["fax"] = await call.send_fax(path, ident="TRUNKLINE")
        await call.hangup()
    rig.engine.route(flow)
    audio_peer = SpandspFax(True, receive=str(tmp_path / "unused.tif"))
    rx_path = str(tmp_path / "far_rx.tif")
    peer = SpandspT38(True, receive=rx_path)

    async def scenario():
        phone = rig.sim.call("95588", trunk="sip")
        assert await phone.wait_answer(timeout=10)
        phone.start_capture()
        audio_s = 0.0
        while far.sig.t38_port(phone.channel) is None and audio_s < 30:
            await rig.sim.sleep(0.02)
            audio_s += 0.02
            heard = phone.take_captured()
            if len(heard):
                audio_peer.rx(heard)
                phone.play_nowait(audio_peer.tx(len(heard)))
        results["audio_s"] = audio_s
        assert far.sig.t38_port(phone.channel) is not None, "no T.38 re-INVITE after the far end's V.21"
        ok = await pump_t38(rig, far, phone.channel, peer, lambda: "fax" in results and peer.phase_e is not None)
        assert ok, f"the T.38 fax did not finish: {results} {peer.code_text()}"
        await phone.wait_hangup(timeout=5)
    rig.run(scenario, limit=200)
    far.close()
    res = results["fax"]
    print(f"\ntones trigger: audio for {results['audio_s']:.1f} s, then T.38: ours {res} | spandsp {peer.code_text()}")
    assert results["audio_s"] > 2.0                  # our CED and DIS went out as audio first
    assert res.ok and res.pages == 2, res
    assert peer.phase_e == 0 and peer.stats()["pages_rx"] == 2
    _same(read_tiff(rx_path), pages)
    audio_peer.close()
    peer.close()
