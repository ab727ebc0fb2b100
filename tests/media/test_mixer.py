"""Conferences of calls (media/mixer.py): who hears whom (whisper), members leaving when they hang up."""
import numpy as np


def test_conference_who_hears_whom(make_rig):
    """Supervisor whisper: the agent hears the supervisor, the caller does not. When the supervisor hangs
    up they leave the conference by themselves, and caller and agent keep hearing each other."""
    rig = make_rig("fxo=3")
    calls = []
    state = {}

    async def flow(call):
        await call.answer()
        calls.append(call)
        if len(calls) == 3:
            conf = rig.engine.conference()
            caller, agent, sup = calls
            conf.add(caller)
            conf.add(agent)
            conf.add(sup, speak_to=[agent])
            state["conf"] = conf
            state["hears"] = [conf.hears(agent, sup), conf.hears(caller, sup), conf.hears(sup, caller),
                              conf.hears(caller, agent)]
        await call.wait_hangup()
    rig.engine.route(flow)

    async def scenario():
        phones = []
        for i in range(3):
            p = rig.sim.call(str(i), from_="")
            await p.wait_answer()
            phones.append(p)
        await rig.sim.sleep(0.2)
        for p in phones:
            p.start_capture()
            p.take_captured()
        tone = np.full(1600, 4000, dtype=np.int16)
        await phones[2].play(tone)               # the supervisor speaks
        heard = [p.take_captured() for p in phones]
        await phones[2].hangup()                 # the supervisor leaves
        await rig.sim.sleep(0.5)
        state["left"] = sorted(state["conf"].calls)
        phones[1].take_captured()
        await phones[0].play(tone)               # the caller speaks
        heard.append(phones[1].take_captured())
        for p in phones[:2]:
            await p.hangup()
        return heard
    heard = rig.run(scenario)
    caller, agent, sup, agent_after = (int(np.abs(h.astype(int)).max()) for h in heard)
    assert agent >= 3900 and caller < 100 and sup < 100
    assert state["hears"] == [True, False, True, True]
    assert state["left"] == sorted(c.channel for c in calls[:2])
    assert agent_after >= 3900
