"""The ACD through the real media engine and card simulator, in virtual time.

Callers come in on analog trunks (hw_sim Phone), agents and supervisors are
FXS stations (hw_sim Station). Who hears whom is measured on the audio each
far-end party actually receives: every party sends its own tone and the
Goertzel energy at each frequency says which parties are audible.
"""
import asyncio
import os

import numpy as np
import pytest
import soundfile as sf
from acd_rig import FREQ, BrowserParty, Rig, connect_caller, hear, level, print_matrix, run, tone

from trunkline.app import schema


@pytest.mark.parametrize("board", ["sim", "dahdi"])   # dahdi: the dahdi:// backend on the emulated /dev/dahdi
def test_call_reaches_agent_with_screen_pop_two_way_audio_and_recording(tmp_path, board):
    rig = Rig(f"acd-e2e-basic-{board}", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}], tmp=tmp_path, board=board)
    rig.route("q", data={"meter": "4711"})

    async def main():
        await rig.start("100")
        ph, st = await connect_caller(rig)
        m = await hear({"caller": ph, "agent": st})
        print_matrix("caller <-> agent", m)
        await ph.hangup()
        await rig.sim.sleep(2.0)
        await rig.stop()
        return m

    m = run(main())
    assert m["agent"]["caller"] > 1000 and m["caller"]["agent"] > 1000
    pop = rig.docs_of("call.offered", "100")[0]
    assert pop["caller_id"] == "13800138000" and pop["data"]["meter"] == "4711" and pop["queue"] == "q"
    assert rig.docs_of("call.answered", "100") and rig.docs_of("call.ended", "100")
    r = rig.results[0]
    assert r.outcome == "completed" and r.agent == "100" and r.ended_by == "caller"
    assert [x.event for x in rig.log() if x.event != "AGENTLOGIN"] == ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"]
    audio, rate = sf.read(r.recording, dtype="int16")
    print("recording", r.recording, audio.shape, rate)
    assert rate == 8000 and audio.ndim == 2 and audio.shape[1] == 2 and audio.shape[0] > 8000
    # two tracks: the caller's tone on one, the agent's on the other
    a0, a1 = audio[:, 0], audio[:, 1]
    assert level(a0, FREQ["caller"]) > 5 * level(a0, FREQ["agent"])
    assert level(a1, FREQ["agent"]) > 5 * level(a1, FREQ["caller"])


def test_listen_whisper_barge_audio_paths():
    rig = Rig("acd-e2e-monitor", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}])
    rig.route("q")
    mats = {}

    async def main():
        await rig.start("100")
        ph, st = await connect_caller(rig)
        sup_station = rig.sim.station(1)

        async def pick_up():
            await sup_station.wait_ring(10)
            sup_station.offhook()
        picker = asyncio.ensure_future(pick_up())
        sup = await rig.acd.start_monitor("100", "listen", supervisor_port=1, supervisor="boss")
        await picker
        await rig.sim.sleep(0.3)
        parties = {"caller": ph, "agent": st, "sup": sup_station}
        mats["listen"] = await hear(parties)
        rig.acd.set_monitor_mode("100", sup, "whisper")
        await rig.sim.sleep(0.1)
        mats["whisper"] = await hear(parties)
        rig.acd.set_monitor_mode("100", sup, "barge")
        await rig.sim.sleep(0.1)
        mats["barge"] = await hear(parties)
        await ph.hangup()
        await rig.sim.sleep(2.0)
        await rig.stop()

    run(main())
    expect = {   # (listener, speaker) -> audible?
        "listen": {("caller", "agent"): 1, ("agent", "caller"): 1, ("sup", "caller"): 1, ("sup", "agent"): 1,
                   ("caller", "sup"): 0, ("agent", "sup"): 0},
        "whisper": {("caller", "agent"): 1, ("agent", "caller"): 1, ("sup", "caller"): 1, ("sup", "agent"): 1,
                    ("caller", "sup"): 0, ("agent", "sup"): 1},
        "barge": {("caller", "agent"): 1, ("agent", "caller"): 1, ("sup", "caller"): 1, ("sup", "agent"): 1,
                  ("caller", "sup"): 1, ("agent", "sup"): 1},
    }
    for mode, m in mats.items():
        print_matrix(mode, m)
        for (lis, spk), audible in expect[mode].items():
            v = m[lis][spk]
            if audible:
                assert v > 800, (mode, lis, spk, v)
            else:
                assert v < 30, (mode, lis, spk, v)
    assert rig.docs_of("supervisor.monitor", "100")[0]["mode"] == "listen"


def test_announcements_at_interval_then_overflow_at_max_wait():
    beep = tone(900, 0.5)
    rig = Rig("acd-e2e-announce",
              {"q": {"strategy": "top-down", "moh": "", "announce_interval": 20, "max_wait": 70,
                     "overflow": {"action": "queue", "target": "q2"}},
               "q2": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}, {"id": "200", "station_port": 1, "queues": ["q2"]}],
              announcer=lambda cfg, pos, ewt: [beep])
    rig.route("q")

    async def main():
        await rig.start("100")
        rig.acd.set_break("100", "lunch")
        rig.acd.login("200")
        ph = await rig.caller("555")
        t0 = rig.card.now
        ph.start_capture()
        st2 = rig.sim.station(1)
        await st2.wait_ring(90)
        t_ring = rig.card.now - t0
        heard = ph.take_captured()
        st2.offhook()
        await rig.sim.sleep(1)
        await ph.hangup()
        await rig.sim.sleep(2)
        await rig.stop()
        return t_ring, heard

    t_ring, heard = run(main())
    ann = rig.docs_of("queue.announce")
    times = [d["time"] - ann[0]["time"] for d in ann]
    print("announcements at (s after first):", times, "overflow ring after", round(t_ring, 2))
    assert len(ann) == 3 and all(abs(a - b) < 0.1 for a, b in zip(times, [0, 20, 40]))
    # the caller really heard the announcement tone three times, 0.5 s each
    n = min(len(heard), 72 * 8000) // 800 * 800
    frames = heard[:n].reshape(-1, 800)
    on = np.array([level(f, 900) > 1000 for f in frames])
    starts = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    print("announcement tone starts at (s):", [s / 10 for s in starts])
    assert len(starts) == 3 and np.allclose(np.diff(starts) / 10, 20, atol=0.2)
    ex = rig.log("EXITWITHTIMEOUT")
    assert len(ex) == 1 and ex[0].queue == "q" and 69 <= int(ex[0].data3) <= 71
    assert 70 <= t_ring <= 72
    assert rig.log("ENTERQUEUE")[-1].queue == "q2" and rig.log("CONNECT")[-1].agent == "200"


def test_abandon_logged_and_no_answer_puts_agent_on_break():
    rig = Rig("acd-e2e-noanswer",
              {"q": {"strategy": "top-down", "moh": "", "ring_timeout": 5, "max_no_answer": 2, "reject_delay": 1}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}])
    rig.route("q")

    async def main():
        await rig.start("100")
        ph = await rig.caller("777")
        st = rig.sim.station(0)
        await st.wait_ring(10)         # never answered
        await rig.sim.sleep(16)
        state = rig.acd.agent_state("100")
        await ph.hangup()
        await rig.sim.sleep(2)
        await rig.stop()
        return state, st.rings

    state, rings = run(main())
    print("agent state after two unanswered offers:", state, "station ring bursts:", rings)
    assert state == ("break", "no-answer")
    assert len(rig.log("RINGNOANSWER")) == 2 and rig.log("PAUSE")[-1].data1 == "no-answer"
    ab = rig.log("ABANDON")
    assert len(ab) == 1 and 16 <= int(ab[0].data3) <= 18
    assert rig.results[0].outcome == "abandoned"


def test_blind_transfer_to_agent_carries_data_and_pops_screen():
    rig = Rig("acd-e2e-transfer", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}, {"id": "200", "station_port": 1}])
    rig.route("q", data={"meter": "99"})

    async def main():
        await rig.start("100", "200")
        ph, st = await connect_caller(rig, port=0)
        rig.acd.transfer("100", "blind", to_agent="200")
        st2 = await rig.pick_up(1)
        m = await hear({"caller": ph, "agent2": st2})
        await ph.hangup()
        await rig.sim.sleep(2)
        await rig.stop()
        return m

    m = run(main())
    print_matrix("after transfer", m)
    assert m["agent2"]["caller"] > 1000 and m["caller"]["agent2"] > 1000
    pop = rig.docs_of("call.offered", "200")[0]
    assert pop["data"]["meter"] == "99" and pop["data"]["transferred_from"]["agent"] == "100"
    assert pop["caller_id"] == rig.docs_of("call.offered", "100")[0]["caller_id"]
    assert rig.log("TRANSFER")[0].data1 == "agent:200"


def test_station_feature_codes_login_break_ready_logout():
    rig = Rig("acd-e2e-features", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "300", "number": "9", "queues": ["q"]}])

    async def dial(port, code):
        st = rig.sim.station(port)
        st.offhook()
        await rig.sim.sleep(0.5)
        await st.send_dtmf(code)
        await rig.sim.sleep(1.0)
        st.onhook()
        await rig.sim.sleep(1.0)

    async def main():
        await rig.start()
        seen = []
        await dial(2, "*1300#")
        seen.append(rig.acd.agent_state("300"))
        await dial(2, "*3lunch#".replace("lunch", "12"))
        seen.append(rig.acd.agent_state("300"))
        await dial(2, "*4#")
        seen.append(rig.acd.agent_state("300"))
        await dial(2, "*2#")
        seen.append(rig.acd.agent_state("300"))
        await rig.stop()
        return seen

    seen = run(main())
    print("states after *1300#, *312#, *4#, *2#:", seen)
    assert seen == [("available", ""), ("break", "12"), ("available", ""), ("logged_out", "")]
    st = [a for a in rig.acd.agents_status() if a["id"] == "300"][0]
    assert st["station_port"] == 2


def test_attended_transfer_consults_then_connects():
    rig = Rig("acd-e2e-attended", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}, {"id": "200", "station_port": 1}])
    rig.route("q", data={"ticket": "T-5"})
    mats = {}

    async def main():
        await rig.start("100", "200")
        ph, st = await connect_caller(rig, port=0)
        rig.acd.transfer("100", "attended", to_agent="200")
        st2 = await rig.pick_up(1)
        mats["consult"] = await hear({"caller": ph, "agent": st, "agent2": st2})
        st.onhook()                       # the first agent hangs up: transfer completes
        await rig.sim.sleep(1.0)
        mats["after"] = await hear({"caller": ph, "agent2": st2})
        await ph.hangup()
        await rig.sim.sleep(2)
        await rig.stop()

    run(main())
    for k, m in mats.items():
        print_matrix(k, m)
    c = mats["consult"]
    assert c["agent"]["agent2"] > 1000 and c["agent2"]["agent"] > 1000
    assert c["caller"]["agent"] < 30 and c["caller"]["agent2"] < 30 and c["agent2"]["caller"] < 30
    a = mats["after"]
    assert a["caller"]["agent2"] > 1000 and a["agent2"]["caller"] > 1000
    assert rig.docs_of("call.offered", "200")[0]["data"]["ticket"] == "T-5"
    assert rig.log("TRANSFER")[0].data2 == "attended"


def test_three_way_conference_and_web_hangup_command():
    rig = Rig("acd-e2e-3way", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}])
    rig.route("q")

    async def main():
        await rig.start("100")
        ph, st = await connect_caller(rig, port=0)
        st3 = rig.sim.station(2)

        async def pick():
            await st3.wait_ring(10)
            st3.offhook()
        p = asyncio.ensure_future(pick())
        await rig.acd.conference_in("100", port=2)
        await p
        await rig.sim.sleep(0.3)
        m = await hear({"caller": ph, "agent": st, "sup": st3})
        # the agent's "hang up" button: checked and carried out at once
        assert (await rig.acd.execute("100", "hangup"))["ok"]
        await rig.sim.sleep(2.0)
        ended = ph.ended
        await rig.stop()
        return m, ended

    m, ended = run(main())
    print_matrix("three-way", m)
    for lis in ("caller", "agent", "sup"):
        for spk in ("caller", "agent", "sup"):
            if lis != spk:
                assert m[lis][spk] > 800, (lis, spk)
    assert ended
    assert rig.log("COMPLETEAGENT") and rig.results[0].ended_by == "agent"


def test_voicemail_key_and_callback_key_keep_place(tmp_path):
    got = {}

    async def voicemail(call, box):
        got["box"] = box
        got["rec"] = await call.record(str(tmp_path / "vm.wav"), max_seconds=2.0, beep=True)

    rig = Rig("acd-e2e-keys", {"q": {"strategy": "top-down", "moh": "", "voicemail_key": "1", "callback_key": "2",
                                     "voicemail_box": "sales-vm"}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}], voicemail=voicemail)
    rig.route("q")

    async def main():
        await rig.start("100")
        rig.acd.set_break("100")
        ph = await rig.caller("601")
        await rig.sim.sleep(2)
        await ph.send_dtmf("1")
        await rig.sim.sleep(4)
        cb = await rig.caller("602")
        await rig.sim.sleep(2)
        await cb.send_dtmf("2")             # callback: the call ends, the place is kept
        await cb.wait_hangup(10)
        later = await rig.caller("603")
        await rig.sim.sleep(2)
        rig.acd.ready("100")
        st = rig.sim.station(0)
        await st.wait_ring(10)               # the callback entry comes first, ahead of 603
        first_pop = rig.docs_of("call.offered", "100")[0]
        st.offhook()
        await rig.sim.sleep(2)
        await later.hangup()
        await rig.sim.sleep(2)
        await rig.stop()
        return first_pop

    first_pop = run(main())
    assert got["box"] == "sales-vm" and os.path.exists(tmp_path / "vm.wav")
    k = rig.log("EXITWITHKEY")
    assert len(k) == 1 and k[0].data1 == "1"
    assert rig.log("CALLBACK")[0].data1 == "602"
    assert first_pop["caller_id"] == "602"
    outcomes = [r.outcome for r in rig.results]
    print("enqueue outcomes:", outcomes, "callback pop:", first_pop["caller_id"])
    assert outcomes[:2] == ["voicemail", "callback"]


def test_queue_events_recordings_and_cdr_record_reach_the_core_tables(tmp_path):
    from trunkline.data import db
    from trunkline.data.models import QueueEvent, Recording
    from trunkline.data.spool import DurableWriter
    eng = schema.migrate(f"sqlite:///{tmp_path}/tl.db")
    factory = db.make_session_factory(eng)
    writer = DurableWriter(eng, str(tmp_path / "spool.jsonl"))
    writer.start()
    rig = Rig("acd-e2e-records", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}], tmp=tmp_path / "rec", session_factory=factory,
              writer=writer)
    calls = []

    async def flow(call):
        await call.answer()
        calls.append(call)
        rig.results.append(await rig.acd.enqueue(call, "q"))
    rig.engine.route(flow)

    async def main():
        await rig.start("100")
        ph, st = await connect_caller(rig)
        await rig.sim.sleep(3.0)
        st.onhook()                          # the agent ends the call this time
        await rig.sim.sleep(2.0)
        await rig.stop()

    run(main())
    writer.flush()
    writer.stop()
    with factory() as s:
        evs = [(e.event, e.agent, e.queue) for e in s.query(QueueEvent).order_by(QueueEvent.at, QueueEvent.id)]
        recs = [(r.call_id, r.agent, r.queue, r.two_track, round(r.seconds)) for r in s.query(Recording)]
    print("queue_events:", evs, "\nrecordings:", recs, "\ncall record:", calls[0].cdr)
    assert [e[0] for e in evs] == ["AGENTLOGIN", "ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
    assert evs[2] == ("CONNECT", "100", "q")
    assert len(recs) == 1 and recs[0][:4] == (calls[0].id, "100", "q", True) and 3 <= recs[0][4] <= 5
    rec = calls[0].cdr
    assert rec.queue == "q" and rec.agent == "100" and rec.outcome == "completed" and rec.recording


def test_no_agents_logged_in_overflows_at_join_and_when_all_leave():
    rig = Rig("acd-e2e-empty",
              {"q": {"strategy": "top-down", "moh": "", "on_empty": {"action": "queue", "target": "q2"}},
               "q2": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}, {"id": "200", "station_port": 1, "queues": ["q2"]}])
    rig.route("q")

    async def main():
        await rig.start("200")
        rig.acd.set_break("200")
        ph = rig.sim.call("5000", from_="801")     # nobody logged in to q: straight to q2
        await ph.wait_answer(30)
        await rig.sim.sleep(2)
        rig.acd.login("100")
        rig.acd.set_break("100")
        ph2 = rig.sim.call("5000", from_="802")    # joins q (100 logged in, on break) ...
        await ph2.wait_answer(30)
        await rig.sim.sleep(3)
        rig.acd.logout("100")                      # ... and leaves when the last member logs out
        await rig.sim.sleep(2)
        waiting = {r["name"]: r["waiting"] for r in rig.acd.queues_status()}
        await ph.hangup()
        await ph2.hangup()
        await rig.sim.sleep(2)
        await rig.stop()
        return waiting

    waiting = run(main())
    ex = rig.log("EXITEMPTY")
    print("waiting per queue:", waiting, "EXITEMPTY:", [(e.callid, e.queue) for e in ex])
    assert waiting == {"q": 0, "q2": 2}
    assert len(ex) == 2 and all(e.queue == "q" for e in ex)


def test_ring_all_first_answer_wins_others_stop_ringing():
    rig = Rig("acd-e2e-ringall", {"q": {"strategy": "ring-all", "moh": ""}},
              [{"id": f"{i}00", "station_port": i, "queues": ["q"]} for i in (1, 2, 3)])
    rig.route("q")

    async def main():
        await rig.start()
        for i in (1, 2, 3):
            rig.acd.login(f"{i}00")
        ph = await rig.caller("901")
        sts = [rig.sim.station(i) for i in (1, 2, 3)]
        for s in sts:
            await s.wait_ring(10)
        sts[1].offhook()
        before = [s.rings for s in sts]
        await rig.sim.sleep(6.0)              # longer than one ring cadence (1 s on, 4 s off)
        rings_after = [s.ringing or s.rings != b for s, b in zip(sts, before)]   # a new ring burst = not cancelled
        states = {a["id"]: a["state"] for a in rig.acd.agents_status()}
        m = await hear({"caller": ph, "agent": sts[1]})
        await ph.hangup()
        await rig.sim.sleep(2)
        await rig.stop()
        return rings_after, states, m

    rings_after, states, m = run(main())
    print("still ringing:", rings_after, "states:", states)
    assert rings_after == [False, False, False]
    assert states == {"100": "available", "200": "busy", "300": "available"}
    assert m["caller"]["agent"] > 1000 and m["agent"]["caller"] > 1000
    assert len(rig.docs_of("call.offered")) == 3 and rig.log("CONNECT")[0].agent == "200"
    assert rig.log("RINGNOANSWER") == []          # losing a ring-all race is not a missed call


def test_web_admin_monitor_request_rings_supervisor_and_listens():
    rig = Rig("acd-e2e-webmon", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}])
    rig.route("q")

    async def main():
        await rig.start("100")
        ph, st = await connect_caller(rig)
        # what webadmin.live.monitor calls from a Flask thread: a request the ACD loop carries out
        loop = asyncio.get_running_loop()
        req_f = loop.run_in_executor(None, lambda: rig.acd.monitor(agent="100", mode="listen",
                                                                   supervisor="boss", station="1"))
        sup = await rig.pick_up(1)            # the request answers once the supervisor is on the call
        req = await req_f
        m = await hear({"caller": ph, "agent": st, "sup": sup})
        await ph.hangup()
        await rig.sim.sleep(2)
        await rig.stop()
        return req, m

    req, m = run(main())
    print_matrix("web listen", m)
    assert req["ok"] and req["state"] == "busy"         # answered once the supervisor was on the call
    assert [c for _, a, c in rig.acd.journal] == ["monitor"]
    assert m["sup"]["caller"] > 800 and m["sup"]["agent"] > 800
    assert m["caller"]["sup"] < 30 and m["agent"]["sup"] < 30


def test_softphone_browser_agent_bridged_recorded_and_monitored(tmp_path):
    """A browser-phone agent is a station to the ACD: offered, bridged, recorded in two tracks, listened to."""
    rig = Rig("acd-softphone", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 1, "queues": ["q"]}], fxs=1, fxo=2, tmp=tmp_path, browser_phones=1)
    rig.route("q")
    phones = rig.board.phones
    phone = phones.phones[0]
    assert phone.port == 1
    mats = {}

    async def main():
        await rig.start("100")
        agent = BrowserParty(rig.sim, phone)
        ph = await rig.caller("13800138000")
        while not phone.ringing:                                       # the ACD offers the call to the browser
            await rig.sim.sleep(0.05)
        phones.set_hook(phone, True)                                   # answered in the page
        await rig.sim.sleep(0.5)
        sup_station = rig.sim.station(0)

        async def pick_up():
            await sup_station.wait_ring(10)
            sup_station.offhook()
        picker = asyncio.ensure_future(pick_up())
        sup = await rig.acd.start_monitor("100", "listen", supervisor_port=0, supervisor="boss")
        await picker
        await rig.sim.sleep(0.3)
        parties = {"caller": ph, "agent": agent, "sup": sup_station}
        mats["listen"] = await hear(parties)
        rig.acd.set_monitor_mode("100", sup, "whisper")
        await rig.sim.sleep(0.1)
        mats["whisper"] = await hear(parties)
        phones.set_hook(phone, False)                                  # the agent hangs up in the page
        await rig.sim.sleep(2.0)
        agent.task.cancel()
        await rig.stop()

    run(main())
    for mode, m in mats.items():
        print_matrix(f"browser agent, {mode}", m)
    m = mats["listen"]
    assert m["caller"]["agent"] > 800 and m["agent"]["caller"] > 800
    assert m["sup"]["caller"] > 800 and m["sup"]["agent"] > 800 and m["caller"]["sup"] < 60 and m["agent"]["sup"] < 60
    m = mats["whisper"]
    assert m["agent"]["sup"] > 800 and m["caller"]["sup"] < 60
    r = rig.results[0]
    audio, rate = sf.read(r.recording, dtype="int16")
    assert rate == 8000 and audio.shape[1] == 2 and audio.shape[0] > 8000
    assert level(audio[:, 1], FREQ["agent"]) > 5 * level(audio[:, 1], FREQ["caller"])
