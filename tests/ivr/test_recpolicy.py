"""Recording policy (#17) through the server's wiring and the simulator, in virtual time: per inbound route
none / IVR part / agent part / whole call, the queue's default (whole call) for a route that sets none, an
IVR-only call recorded by its route and not kept without one. The files are measured: the IVR part holds the
prompt and not the agent, the agent part holds the caller on track 0 and the agent on track 1 and no prompt,
the whole call both; durations match the stretches of the call; `recordings` rows carry the policy and part
and link to the call (call_id); the CDR row says the policy that applied."""
import asyncio
import os

import numpy as np
import soundfile as sf
from acd_rig import level, tone
from sqlalchemy import select
from web_fixtures import login
from wiring_rig import WiredServer

from trunkline.acd.models import AcdAgent, AcdMember, AcdQueue
from trunkline.data.db import session_scope
from trunkline.data.models import Cdr, Recording
from trunkline.ivr.models import IvrInboundRoute
from trunkline.media.cdr import cdr_row

PROMPT, CALLER, AGENT = 500.0, 2000.0, 2600.0       # the "open" prompt's tone, the caller's, the agent's

FLOWS = ["""\
name: main
language: zh
nodes:
  a: {type: play, prompt: open, next: b}
  b: {type: play, prompt: open, next: c}
  c: {type: play, prompt: open, next: q}
  q: {type: queue, queue: support, next: bye}
  bye: {type: hangup}
""", """\
name: info
language: zh
nodes:
  a: {type: play, prompt: open, next: b}
  b: {type: play, prompt: open, next: bye}
  bye: {type: hangup}
""", """\
name: infoivr
language: zh
recording: ivr
nodes:
  a: {type: play, prompt: open, next: bye}
  bye: {type: hangup}
"""]

ROUTES = {"1001": ("main", "none"), "1002": ("main", "ivr"), "1003": ("main", "agent"), "1004": ("main", ""),
          "1005": ("info", "ivr"), "1006": ("info", ""), "1007": ("infoivr", "")}


def test_each_policy_records_its_part_of_the_call(make_rig, tmp_path):
    srv = WiredServer(make_rig, tmp_path, query="e1=1&fxs=2")
    with session_scope(srv.factory) as s:
        s.add(AcdQueue(name="support", strategy="top-down", options={"moh": ""}))
        s.add(AcdAgent(id="100", name="Li", station_port=0))
        s.add(AcdMember(queue="support", agent="100"))
        for number, (flow, record) in ROUTES.items():
            s.add(IvrInboundRoute(name=f"r{number}", number=number, flow=flow, record=record))
    for text in FLOWS:
        srv.registry.load_yaml(text)
    ended = {}
    srv.engine.on_call_end(lambda call: ended.setdefault(call.called, call) if call.direction == "in" else None)
    marks = {}

    async def one(number):
        phone = srv.sim.call(number, from_="13800000000", trunk="pri")
        await phone.wait_answer(timeout=20)
        t0 = srv.engine.now
        phone.play_nowait(tone(CALLER, 12.0))
        if ROUTES[number][0].startswith("info"):
            await phone.wait_hangup(10)
            marks[number] = (t0, None, srv.engine.now)
            return
        st = srv.sim.station(0)
        await st.wait_ring(20)
        t_ring = srv.engine.now
        await srv.sim.sleep(1.0)
        st.offhook()
        await srv.sim.sleep(0.3)
        t_talk = srv.engine.now
        st.play_nowait(tone(AGENT, 3.0))
        await srv.sim.sleep(2.5)
        await phone.hangup()
        t_end = srv.engine.now
        await srv.sim.sleep(0.5)
        st.onhook()
        await srv.sim.sleep(1.0)
        marks[number] = (t0, (t_ring, t_talk), t_end)

    async def script():
        await srv.sim.sleep(3.0)
        srv.acd.login("100")
        for number in ROUTES:
            await one(number)

    srv.run(script)
    with session_scope(srv.factory) as s:
        rows = {}
        for r in s.scalars(select(Recording)):
            rows.setdefault(r.call_id, []).append((r.part, r.policy, r.path, r.seconds, r.two_track, r.agent))
    files = {}
    for number, call in ended.items():
        got = rows.get(call.id, [])
        assert cdr_row(call)["recording_policy"] == call.cdr.recording_policy
        files[number] = {p: (path, secs, agent) for p, _pol, path, secs, two, agent in got}
        assert all(two for *_, two, _a in got)
        print(number, call.cdr.recording_policy, [(p, round(sec, 2), a) for p, _pol, _path, sec, _two, a in got],
              marks[number])
    policy = {n: ended[n].cdr.recording_policy for n in ROUTES}
    assert policy == {"1001": "none", "1002": "ivr", "1003": "agent", "1004": "whole", "1005": "ivr",
                      "1006": "none", "1007": "ivr"}, policy       # 1007: the flow's own `recording: ivr`
    assert files["1001"] == {} and files["1006"] == {}
    assert set(files["1002"]) == {"ivr"} and set(files["1003"]) == {"agent"} and set(files["1004"]) == {"whole"}
    assert set(files["1005"]) == {"ivr"} and set(files["1007"]) == {"ivr"}
    # nothing left behind by the dropped provisional recordings (1001, 1003, 1006)
    kept = {os.path.basename(p) for f in files.values() for p, _s, _a in f.values()}
    on_disk = set(os.listdir(srv.cfg.recordings_dir))
    assert {f for f in on_disk if f.endswith(".wav") and not f.startswith("vm")} == kept, (on_disk, kept)

    def tracks(path):
        audio, rate = sf.read(path, dtype="int16")
        assert rate == 8000 and audio.ndim == 2 and audio.shape[1] == 2
        return audio[:, 0], audio[:, 1]

    # the policy is visible to the admin: on the CDR list (stored CDR rows) and on the call's recordings
    with session_scope(srv.factory) as s:
        for call in ended.values():
            s.add(Cdr(**cdr_row(call)))
    client = srv.app.test_client()
    login(client, "admin")
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    page = client.get("/cdrs", headers=zh).get_data(as_text=True)
    assert page.count("不录音") == 2 and "IVR 部分" in page and "坐席通话部分" in page and "整个通话" in page
    page = client.get(f"/recordings?call_id={ended['1003'].id}", headers=zh).get_data(as_text=True)
    assert "坐席通话部分" in page and page.count("<audio") == 1
    with session_scope(srv.factory) as s:
        assert s.scalars(select(Cdr.recording_policy).where(Cdr.call_id == ended["1004"].id)).one() == "whole"
    # IVR part: answer to queue entry (three 0.4 s prompts), the prompt heard, no agent
    path, secs, agent = files["1002"]["ivr"]
    rx, tx = tracks(path)
    assert 1.0 <= secs <= 2.0 and abs(len(rx) / 8000 - secs) < 0.05 and agent is None
    assert level(tx, PROMPT) > 1000 and level(tx, AGENT) < 50 and level(rx, CALLER) > 1000
    # agent part: bridge to hang-up, caller on track 0, agent on track 1, no prompt
    path, secs, agent = files["1003"]["agent"]
    rx, tx = tracks(path)
    t0, (t_ring, t_talk), t_end = marks["1003"]
    assert abs(secs - (t_end - t_talk)) < 0.8 and agent == "100", (secs, t_end - t_talk)
    assert level(rx, CALLER) > 1000 and level(rx, AGENT) < 50
    assert level(tx, AGENT) > 1000 and level(tx, PROMPT) < 50
    # whole call (the queue's default): answer to hang-up, the prompt and the agent both on track 1
    path, secs, agent = files["1004"]["whole"]
    rx, tx = tracks(path)
    t0, _, t_end = marks["1004"]
    assert abs(secs - (t_end - t0)) < 0.5 and agent == "100", (secs, t_end - t0)
    assert level(tx[:12000], PROMPT) > 1000 and level(tx[-12000:], AGENT) > 1000 and level(rx, CALLER) > 1000
    # an IVR-only call recorded because its route says so: the two prompts, until the flow hangs up
    path, secs, _ = files["1005"]["ivr"]
    rx, tx = tracks(path)
    assert 0.7 <= secs <= 1.5 and level(tx, PROMPT) > 1000
    assert np.max(np.abs(tx)) > 1000


def test_campaign_records_when_its_setting_says_so(make_rig, tmp_path):
    """Two campaigns: "whole call" records the answered call (the flow's prompt and the called party's voice on
    two tracks), "record nothing" (the default) does not; the web page offers the setting."""
    srv = WiredServer(make_rig, tmp_path, query="e1=1")
    srv.registry.load_yaml(FLOWS[1])

    async def person(party):
        party.play_nowait(tone(CALLER, 3.0))
        await party.sleep(3.0)

    for number in ("13900000001", "13900000002"):
        srv.sim.add_destination(number, kind="answer", answer_after=0.5, script=person)
    ended = {}
    srv.engine.on_call_end(lambda call: ended.setdefault(call.called, call))
    client = srv.app.test_client()
    login(client, "admin")

    page = client.get("/campaigns", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<select name="recording">' in page and "整个通话" in page

    async def script():
        srv.campaign_manager.loop = asyncio.get_running_loop()
        await srv.sim.sleep(3.0)
        for name, number, recording in (("rec", "13900000001", "whole"), ("norec", "13900000002", None)):
            kw = {"recording": recording} if recording else {}
            srv.campaign_manager.create(name, "info", [{"number": number}], caller_id="95588", max_channels=1,
                                        max_attempts=1, amd=False, **kw)
        for _ in range(30):
            if len(ended) == 2:
                break
            await srv.sim.sleep(1.0)
        srv.campaign_manager.stop_all()

    srv.run(script, until=120)
    assert set(ended) == {"13900000001", "13900000002"}, ended
    rec, norec = ended["13900000001"], ended["13900000002"]
    assert rec.cdr.recording_policy == "whole" and norec.cdr.recording_policy == "none"
    with session_scope(srv.factory) as s:
        rows = {r.call_id: (r.part, r.policy, r.path, r.seconds) for r in s.scalars(select(Recording))}
    assert norec.id not in rows and rows[rec.id][:2] == ("whole", "whole"), rows
    audio, _ = sf.read(rows[rec.id][2], dtype="int16")
    print("campaign recording", rows[rec.id], audio.shape)
    assert 0.7 <= rows[rec.id][3] <= 1.6
    assert level(audio[:, 1], PROMPT) > 1000 and level(audio[:, 0], CALLER) > 1000
