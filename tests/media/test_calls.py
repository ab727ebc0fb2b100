"""Scripted callers through the simulator in virtual time: the demo hotline, hang-up mid-prompt,
bridged audio (sample-accurate after G.711), recording, outbound PRI calls, stations."""
import asyncio

import numpy as np
import pytest
import soundfile as sf
from simharness import Rig

from trunkline.dsp import g711
from trunkline.ivr.demo import ensure_demo_prompts, hotline
from trunkline.media import ChannelError, Hangup, Timeout


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("prompts"))
    ensure_demo_prompts(d)
    return d


def roundtrip(x):
    """What survives A-law coding."""
    return g711.alaw_decode(g711.alaw_encode(np.asarray(x, dtype=np.int16)))


def find(haystack, needle):
    """Offset where needle occurs exactly in haystack, or -1."""
    n = len(needle)
    for off in range(len(haystack) - n + 1):
        if haystack[off] == needle[0] and np.array_equal(haystack[off:off + n], needle):
            return off
    return -1


@pytest.mark.parametrize("board", ["sim", "dahdi"])   # dahdi: the dahdi:// backend on the emulated /dev/dahdi
def test_demo_hotline_menu_and_digits(prompts, tmp_path, board):
    rig = Rig("fxo=2", [prompts], board=board)
    seen = {}

    async def flow(call):
        call.vars["recordings_dir"] = str(tmp_path)
        try:
            await hotline(call)
        finally:
            seen.update(call.vars, caller=call.caller_id)
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("95588", from_="13800000000")
        await phone.wait_answer(timeout=15)
        await phone.sleep(1.0)
        await phone.send_dtmf("1")
        await phone.sleep(1.0)
        await phone.send_dtmf("123456#")
        heard = await phone.listen(1.0)
        await phone.wait_hangup(timeout=60)
        return phone, heard
    phone, heard = rig.run(scenario)
    assert seen["caller"] == "13800000000"          # DTMF caller ID read between rings
    assert seen["choice"] == "1" and seen["account"] == "123456"
    assert phone.hungup and np.abs(heard).max() > 1000   # the read-back was audible
    assert rig.engine.calls == {} and not rig.engine.players.active.any()


def test_menu_retries_then_timeout(prompts):
    rig = Rig("fxo=1", [prompts])
    result = {}

    async def flow(call):
        await call.answer()
        try:
            await call.menu("menu", choices="12", timeout=2, retries=2, invalid="invalid")
        except Timeout:
            result["timeout"] = rig.engine.now
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("1", from_="")
        await phone.wait_answer()
        t0 = rig.card.now
        await phone.sleep(0.5)
        await phone.send_dtmf("9")            # invalid: replays
        await phone.wait_hangup(timeout=60)
        return t0
    t0 = rig.run(scenario)
    assert "timeout" in result and result["timeout"] > t0 + 4   # two tries, 2 s wait each at least


def test_hangup_mid_prompt_releases_channel(prompts):
    rig = Rig("fxo=1", [prompts])
    outcome = []

    async def flow(call):
        await call.answer()
        try:
            await call.play("menu", "menu", "menu", barge_in=False)
            outcome.append("finished")
        except Hangup:
            outcome.append("hangup")
            raise
    rig.engine.route(flow)

    async def scenario():
        for _ in range(2):                        # the port is reusable afterwards
            phone = rig.sim.call("1", from_="")
            await phone.wait_answer()
            await phone.sleep(1.5)
            await phone.hangup()
            await rig.sim.sleep(9.0)
        return True
    rig.run(scenario)
    assert outcome == ["hangup", "hangup"]
    eng = rig.engine
    assert eng.calls == {} and not eng.players.active.any() and eng.recorders.active == {}
    # the play list's pool space came back: nothing left above the cached named clips, no free fragments
    named_end = max((start + max(length, 1) for start, length in eng.pool.named.values()), default=0)
    assert eng.pool.top == named_end and eng.pool.free == [] and eng.players.anonymous == {}
    assert all(row["state"] == "idle" for row in eng.status())


def test_two_calls_bridged_sample_accurate(prompts):
    rig = Rig("fxo=2", [prompts])
    first = []

    async def flow(call):
        await call.answer()
        if not first:
            first.append(call)
            await call.wait_hangup()
        else:
            await call.bridge(first[0])
            await call.wait_hangup()
    rig.engine.route(flow)
    rng = np.random.default_rng(7)
    # a signal without DTMF-like content: slow random walk, well inside the range
    signal = np.cumsum(rng.integers(-400, 400, 8000)).clip(-20000, 20000).astype(np.int16)

    async def scenario():
        a = rig.sim.call("1", from_="")
        await a.wait_answer()
        b = rig.sim.call("2", from_="")
        await b.wait_answer()
        await b.sleep(0.2)
        b.start_capture()
        b.take_captured()
        await a.play(signal)
        await b.sleep(0.2)
        heard_b = b.take_captured()
        a.start_capture()
        a.take_captured()
        await b.play(signal[::-1].copy())
        await a.sleep(0.2)
        heard_a = a.take_captured()
        await a.hangup()
        await b.hangup()
        return heard_a, heard_b
    heard_a, heard_b = rig.run(scenario)
    assert find(heard_b, roundtrip(signal)) >= 0, "B must hear exactly what A sent (after G.711)"
    assert find(heard_a, roundtrip(signal[::-1])) >= 0, "A must hear exactly what B sent"


def test_recording_contains_what_the_caller_sent(prompts, tmp_path):
    rig = Rig("fxo=1", [prompts])
    path = str(tmp_path / "rec.wav")
    result = {}

    async def flow(call):
        await call.answer()
        result["rec"] = await call.record(path, max_seconds=3.0, beep=False)
    rig.engine.route(flow)
    rng = np.random.default_rng(3)
    signal = np.cumsum(rng.integers(-300, 300, 12000)).clip(-20000, 20000).astype(np.int16)

    async def scenario():
        phone = rig.sim.call("1", from_="")
        await phone.wait_answer()
        await phone.play(signal)
        await phone.wait_hangup(timeout=10)
    rig.run(scenario)
    rec = result["rec"]
    assert rec.reason == "max" and abs(rec.seconds - 3.0) < 0.05
    data, rate = sf.read(path, dtype="int16")
    assert rate == 8000 and len(data) == 24000
    assert find(data, roundtrip(signal)[:8000]) >= 0


def test_recording_two_track_and_io_error(prompts, tmp_path):
    rig = Rig("fxo=1", [prompts])
    good = str(tmp_path / "two.wav")
    bad = str(tmp_path / "no-such-dir-file" / "x" / "\0bad.wav")
    result = {}

    async def flow(call):
        await call.answer()
        result["bad"] = await call.record(bad, max_seconds=0.5, beep=False)
        call.start_audio(np.full(800, 5000, dtype=np.int16), loop=True)
        result["good"] = await call.record(good, max_seconds=1.0, beep=False, two_track=True)
        call.stop_audio()
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("1", from_="")
        await phone.wait_answer()
        await phone.play(np.full(16000, 3000, dtype=np.int16))
        await phone.wait_hangup(timeout=10)
    rig.run(scenario)
    assert result["bad"].error and "bad.wav" in bad        # I/O error ends the recording, not the call
    data, _ = sf.read(good, dtype="int16")
    assert data.shape == (8000, 2)
    assert abs(int(np.median(data[:, 0])) - 3000) < 100    # caller track
    assert abs(int(np.median(data[:, 1])) - 5000) < 100    # what we sent


def test_outbound_pri_call_answered_busy_and_unallocated(prompts):
    rig = Rig("e1=1", [prompts])
    rig.sim.add_destination("555", kind="answer", answer_after=3.0)
    rig.sim.add_destination("666", kind="busy")
    rig.sim.add_destination("777", kind="unallocated")
    out = {}

    async def scenario():
        await rig.engine.sleep(1.0)                # D-channel establishment
        t0 = rig.engine.now
        call = await rig.engine.make_call("555", caller_id="9001")
        out["answer_delay"] = rig.engine.now - t0
        await call.hangup()
        for number in ("666", "777"):
            try:
                await rig.engine.make_call(number)
            except ChannelError as exc:
                out[number] = exc.cause
        rig.sim.add_destination("888", kind="noanswer")
        try:
            await rig.engine.make_call("888", timeout=5)
        except Timeout:
            out["888"] = "timeout"
    rig.run(scenario)
    assert 2.9 < out["answer_delay"] < 3.5
    assert out["666"] == 17 and out["777"] == 1 and out["888"] == "timeout"


@pytest.mark.parametrize("board", ["sim", "dahdi"])   # dahdi: the dahdi:// backend on the emulated /dev/dahdi
def test_inbound_pri_call_numbers_and_clear(prompts, board):
    rig = Rig("e1=1", [prompts], board=board)
    got = {}

    async def flow(call):
        got.update(caller=call.caller_id, called=call.called, trunk=call.trunk)
        await call.answer()
        await call.play("goodbye", barge_in=False)
        await call.hangup()
    rig.engine.route(flow)

    async def scenario():
        await rig.sim.sleep(1.0)
        phone = rig.sim.call("95588", from_="13912345678", trunk="pri")
        await phone.wait_answer()
        heard = await phone.listen(0.5)
        await phone.wait_hangup()
        return phone, heard
    phone, heard = rig.run(scenario)
    assert got == {"caller": "13912345678", "called": "95588", "trunk": "pri"}
    assert phone.cause == 16 and np.abs(heard).max() > 500


@pytest.mark.parametrize("board", ["sim", "dahdi"])   # dahdi: the dahdi:// backend on the emulated /dev/dahdi
def test_station_ring_answer_flash_and_conference_whisper(prompts, board):
    rig = Rig("fxo=2&fxs=2", [prompts], board=board)
    events = []

    async def flow(call):
        await call.answer()
        agent = await rig.engine.ring_station(0, caller_id=call.caller_id, timeout=20)
        agent.on_flash(lambda c: events.append("flash"))
        await call.bridge(agent)
        await agent.wait_hangup()
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("1", from_="")
        await phone.wait_answer()
        st = rig.sim.station(0)
        await st.wait_ring(timeout=10)
        st.offhook()
        await st.sleep(0.5)
        tone = (np.sin(np.arange(4000) * 2 * np.pi * 440 / 8000) * 6000).astype(np.int16)
        phone.start_capture()
        phone.take_captured()
        await st.play(tone)
        heard = phone.take_captured()
        await st.flash()
        await st.sleep(0.5)
        st.onhook()
        await phone.wait_hangup(timeout=5)
        return heard
    heard = rig.run(scenario)
    assert events == ["flash"]
    assert np.abs(heard).max() > 3000          # caller heard the agent


def test_outbound_analog_dtmf_dialing_answer_and_busy(prompts):
    """Trunkline seizes an FXO line, dials by DTMF; the CO routes the number, answers with a battery
    reversal (or plays busy tone, which our call progress detector hears)."""
    rig = Rig("fxo=2", [prompts])
    heard_by_party = {}

    async def party_script(party):
        heard_by_party["audio"] = await party.listen(0.4)
    rig.sim.add_destination("8001", kind="answer", answer_after=3.0, script=party_script)
    rig.sim.add_destination("8002", kind="busy")
    out = {}

    async def scenario():
        t0 = rig.engine.now
        call = await rig.engine.make_call("8001", trunk="analog", timeout=30)
        out["answered_after"] = rig.engine.now - t0
        out["number"] = rig.sim.seizures[call.channel].digits
        await call.play(np.full(4000, 6000, dtype=np.int16), barge_in=False)
        await call.hangup()
        try:
            await rig.engine.make_call("8002", trunk="analog", timeout=30)
        except ChannelError as exc:
            out["busy"] = exc.cause
    rig.run(scenario)
    assert out["number"] == "8001"
    assert 3.0 < out["answered_after"] < 8.0
    assert out["busy"] == 17
    assert np.abs(heard_by_party["audio"]).max() > 5000     # the party heard us after answer


def test_station_rings_with_fsk_caller_id(prompts):
    """An agent's station rings; the FSK (V.23) caller ID sent between the first two rings is read by
    the phone with dsp's receiver, number and name intact."""
    rig = Rig("fxo=1&fxs=1", [prompts])
    got = {}

    async def scenario():
        task = asyncio.ensure_future(rig.engine.ring_station(0, caller_id="13800001111", name="WANG", timeout=20))
        st = rig.sim.station(0)
        await st.wait_ring()
        while st.rings < 2:
            await st.sleep(0.1)
        got["number"], got["name"] = st.caller_id, st.caller_name
        st.offhook()
        call = await task
        got["answered"] = call.state
        st.onhook()
        await call.wait_hangup(timeout=3)
    rig.run(scenario)
    assert got == {"number": "13800001111", "name": "WANG", "answered": "up"}


def test_call_sms_reaches_the_gsm_modem(prompts, tmp_path):
    """A flow texts the caller (call.sms): the SMS goes through the queue and the pty GSM modem."""
    from trunkline.app.schema import load_models, migrate
    from trunkline.data.db import make_session_factory
    from trunkline.drivers.serial.sms_service import SmsService
    from trunkline.pstn.gsm_modem import GsmModemSim
    load_models()
    factory = make_session_factory(migrate(f"sqlite:///{tmp_path}/sms.db"))
    modem = GsmModemSim().start()
    svc = SmsService(factory, modem.path, modem_timeout=2)
    rig = Rig("fxo=1", [prompts])
    rig.engine.sms = svc

    async def flow(call):
        await call.answer()
        call.sms("您的余额为120元")
        await call.hangup()
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("1", from_="13800138000")
        await phone.wait_answer()
        await phone.wait_hangup()
    rig.run(scenario)
    try:
        assert svc.pump(poll_timeout=0.3)["sent"] == 1
        assert [(s.number, s.text) for s in modem.submitted] == [("13800138000", "您的余额为120元")]
    finally:
        svc.close()
        modem.close()


def test_analog_disconnect_supervision_by_busy_tone(prompts):
    """A CO that signals the far end's hang-up only with busy tone (no loop drop): the line is cleared;
    the same caller talking (noise bursts, a steady tone) is not mistaken for busy tone."""
    from trunkline.dsp.tones import ToneZone
    rig = Rig("fxo=2", [prompts])
    ended = {}

    async def flow(call):
        await call.answer()
        try:
            await call.wait(60)
        except Hangup:
            ended[call.caller_id or call.channel] = (rig.engine.now, call.cause)
            raise
    rig.engine.route(flow)
    busy = np.tile(ToneZone.get("cn").tone("busy").cycle(), 20)
    rng = np.random.default_rng(5)
    talk = (rng.normal(0, 3000, 8000 * 6) * np.repeat(rng.random(60) > 0.3, 800)).astype(np.int16)
    steady = (np.sin(np.arange(8000 * 4) * 2 * np.pi * 450 / 8000) * 6000).astype(np.int16)

    async def scenario():
        a = rig.sim.call("1", from_="")
        await a.wait_answer()
        b = rig.sim.call("2", from_="")
        await b.wait_answer()
        b.play_nowait(np.concatenate([talk, steady]))
        t0 = rig.card.now
        a.play_nowait(busy)                    # far end gone: the CO plays busy tone on the line
        await a.wait_hangup(timeout=10)
        await b.sleep(11)
        return t0, b.ended
    t0, b_ended = rig.run(scenario)
    assert len(ended) == 1                     # only the line with busy tone was cleared
    (t_end, cause), = ended.values()
    assert t_end - t0 < 4.0 and cause == 16
    assert not b_ended
