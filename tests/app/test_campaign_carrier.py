"""Carrier announcements on a cn campaign (#17): the far end answers with a recorded announcement (空号 with
a SIT in front, 关机), synthesised by espeak-ng at another rate and pitch than the server's templates; the
campaign of the server's wiring records unallocated / poweroff, and a person answering stays human."""
import asyncio

import numpy as np
from carrier_corpus import TEXTS, sit, speak
from wiring_rig import WiredServer


def player(audio):
    async def script(party):
        for i in range(0, len(audio), 1600):
            if party.ended:
                return
            await party.play(audio[i:i + 1600])
        await party.sleep(0.5)
        await party.hangup()
    return script


def test_cn_campaign_records_carrier_announcements(make_rig, tmp_path):
    srv = WiredServer(make_rig, tmp_path, query="e1=1")
    assert srv.campaign_manager.announcements is not None          # cn zone: the classifier is wired in
    empty = np.concatenate([sit(), speak(TEXTS["unallocated"], 150, 65)])
    off = speak(TEXTS["poweroff"], 180, 40)
    hello = speak("喂，你好？", 170, 50)
    srv.sim.add_destination("13900000001", kind="answer", answer_after=0.5, script=player(empty))
    srv.sim.add_destination("13900000002", kind="answer", answer_after=0.5, script=player(off))
    srv.sim.add_destination("13900000003", kind="answer", answer_after=0.5, script=player(hello))

    async def script():
        srv.campaign_manager.loop = asyncio.get_running_loop()
        camp = srv.campaign_manager.create("cn", "hotline", [{"number": f"1390000000{i}"} for i in (1, 2, 3)],
                                           max_channels=3, calls_per_second=5, max_attempts=1)
        for _ in range(120):
            if camp.state == "done":
                break
            await srv.sim.sleep(1.0)
        return camp.report()

    report = srv.run(script, until=300)
    got = {n["number"]: n["outcome"] for n in report["numbers"]}
    print("outcomes:", got)
    assert got == {"13900000001": "unallocated", "13900000002": "poweroff", "13900000003": "human"}
