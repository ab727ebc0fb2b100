"""A card and a SIP span on one board and one engine: a caller on an E1 (ISDN PRI) reaches an agent on
SIP, bridged, audio measured both ways, in virtual time (the simulator's SIP far end on loopback)."""
import numpy as np
from peers.sip_peers import tone_power

from trunkline.pstn import SimRig
from trunkline.pstn.sip_far import SipFarEnd


def tone(freq, seconds=2.0):
    t = np.arange(int(seconds * 8000)) / 8000
    return (6000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_e1_caller_bridged_to_a_sip_agent():
    rig = SimRig("sim://composite-e1-sip?e1=1&sip=4", trunk="pri")
    engine = rig.engine
    assert engine.channels == 31 + 4 and [s.kind for s in rig.board.spans] == ["e1", "sip"]
    far = SipFarEnd(rig.sim, (rig.board.sip_parts[0][0].transports.host, rig.board.sip_parts[0][0].transports.port))
    rig.sim.trunks["sip"] = far
    agent_uri = f"sip:agent@127.0.0.1:{far.board.sip_parts[0][0].transports.port}"
    legs = {}

    async def flow(call):
        await call.answer()
        agent = await engine.make_call(agent_uri, caller_id=call.caller_id, timeout=10)
        legs["agent"] = agent
        await call.bridge(agent)
        await call.wait_hangup()
        await agent.hangup()

    engine.route(flow)

    async def scenario():
        await rig.sim.sleep(2.0)                          # the D-channel comes up
        phone = rig.sim.call("95588", from_="13800000001", trunk="pri")
        await phone.wait_answer()
        attempt = await rig.sim.wait_dialled("agent", timeout=10)
        party = attempt.party
        await rig.sim.sleep(3.0)                          # the agent answers after 2 s
        assert party.answered and legs["agent"].trunk == "sip"
        phone.start_capture()
        party.start_capture()
        phone.play_nowait(tone(700))
        party.play_nowait(tone(1300))
        await rig.sim.sleep(2.0)
        to_agent, to_caller = party.take_captured(), phone.take_captured()
        assert tone_power(to_agent[4000:], 700) > 0.6, "the SIP agent did not hear the E1 caller"
        assert tone_power(to_caller[4000:], 1300) > 0.6, "the E1 caller did not hear the SIP agent"
        await phone.hangup()
        await party.wait_hangup(timeout=5)
        assert legs["agent"].hungup
    rig.run(scenario, limit=60)
    far.close()
