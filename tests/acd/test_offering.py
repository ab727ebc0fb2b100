"""ACD agents reached by dialling out, end to end through the card simulator in virtual time.

External-number agents (an agent with `number`, no station port) are rung with
engine.make_call over a simulated trunk: analog FXO (the CO collects the DTMF
digits) or an ISDN PRI span. Callback entries (the caller pressed the callback
key) are dialled back the same way once an agent answers. The far party of each
dialled number is a hw_sim Destination; what each side hears is measured on the
audio the far-end parties actually receive (tones and DTMF).
"""
import numpy as np
from acd_rig import Rig, hear, print_matrix, run

from trunkline.dsp.dtmf import DTMFDetector
from trunkline.media.cdr import cdr_row

AGENT_NO = "88001"


def digits_in(audio):
    det = DTMFDetector(1)
    return "".join(d for _, d in det.process(np.asarray(audio, dtype=np.int16)[None, :]))


def states(rig):
    return {a["id"]: a["state"] for a in rig.acd.agents_status()}


def events(rig):
    return [(x.event, x.agent) for x in rig.log() if x.event not in ("AGENTLOGIN",)]


def cdr_hook(rig):
    """CDR rows as the server's CdrRecorder would write them: at the moment each call ends."""
    rows = []
    rig.engine.on_call_end(lambda c: rows.append(cdr_row(c)))
    return rows


async def agent_dtmf_to_caller(ph, party):
    """The external agent presses keys; returns what the caller's side decoded."""
    ph.start_capture()
    ph.take_captured()
    await party.send_dtmf("73#")
    await ph.sleep(0.3)
    return digits_in(ph.take_captured())


async def caller_dtmf_to_agent(ph, party):
    party.start_capture()
    party.take_captured()
    await ph.send_dtmf("159")
    await ph.sleep(0.3)
    return digits_in(party.take_captured())


# ---------------------------------------------------------------- external-number agents

def test_external_agent_dialled_on_analog_trunk_two_way_audio():
    rig = Rig("acd-ext-analog", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "300", "number": AGENT_NO, "queues": ["q"]}], fxs=0)
    rig.sim.add_destination(AGENT_NO, kind="answer", answer_after=3.0)
    rig.route("q", data={"meter": "4711"})
    cdrs = cdr_hook(rig)
    out = {}

    async def main():
        await rig.start("300")
        ph = await rig.caller("13800138000")
        att = await rig.sim.wait_dialled(AGENT_NO, timeout=20)
        out["ringing_state"] = states(rig)["300"]
        party = att.party
        await party.wait_answer(20)
        await rig.sim.sleep(0.5)
        out["state_up"] = states(rig)["300"]
        out["m"] = await hear({"caller": ph, "agent": party})
        out["to_caller"] = await agent_dtmf_to_caller(ph, party)
        out["to_agent"] = await caller_dtmf_to_agent(ph, party)
        await party.hangup()                     # the external agent hangs up: the caller is released too
        await ph.wait_hangup(15)
        await rig.sim.sleep(1.0)
        out["state_after"] = states(rig)["300"]
        out["calls_left"] = len(rig.engine.calls)
        out["att"] = att
        await rig.stop()

    run(main())
    print_matrix("caller <-> external agent (analog)", out["m"])
    m, att = out["m"], out["att"]
    assert att.trunk == "analog" and att.kind == "answer" and att.number == AGENT_NO
    assert out["ringing_state"] == "ringing" and out["state_up"] == "busy"
    assert m["agent"]["caller"] > 1000 and m["caller"]["agent"] > 1000
    assert out["to_caller"] == "73#" and out["to_agent"] == "159", (out["to_caller"], out["to_agent"])
    assert out["state_after"] == "available" and out["calls_left"] == 0
    r = rig.results[0]
    assert r.outcome == "completed" and r.agent == "300" and r.ended_by == "agent"
    assert events(rig) == [("ENTERQUEUE", "NONE"), ("CONNECT", "300"), ("COMPLETEAGENT", "300")]
    pop = rig.docs_of("call.offered", "300")[0]
    assert pop["caller_id"] == "13800138000" and pop["data"]["meter"] == "4711"
    agent_cdr = [c for c in cdrs if c["direction"] == "out"]
    assert len(agent_cdr) == 1 and agent_cdr[0]["called"] == AGENT_NO and agent_cdr[0]["trunk"] == "analog"


def test_external_agent_dialled_on_pri_span_two_way_audio():
    rig = Rig("acd-ext-pri", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "300", "number": AGENT_NO, "queues": ["q"]}], fxs=0, fxo=0, e1=1)
    rig.sim.add_destination(AGENT_NO, kind="answer", answer_after=2.0)
    rig.route("q")
    out = {}

    async def main():
        await rig.start()
        await rig.sim.sleep(1.0)                 # D-channel establishment
        rig.acd.login("300")
        ph = rig.sim.call("5000", from_="13900001111", trunk="pri")
        await ph.wait_answer(10)
        att = await rig.sim.wait_dialled(AGENT_NO, timeout=10)
        await att.party.wait_answer(10)
        await rig.sim.sleep(0.3)
        out["m"] = await hear({"caller": ph, "agent": att.party})
        out["to_caller"] = await agent_dtmf_to_caller(ph, att.party)
        await ph.hangup()                        # the caller hangs up: the ACD clears the agent's call
        await att.party.wait_hangup(10)
        await rig.sim.sleep(0.5)
        out["att"] = att
        out["state_after"] = states(rig)["300"]
        await rig.stop()

    run(main())
    print_matrix("caller <-> external agent (PRI)", out["m"])
    m, att = out["m"], out["att"]
    assert att.trunk == "pri" and att.party.caller == "13900001111"    # the caller's number presented
    assert m["agent"]["caller"] > 1000 and m["caller"]["agent"] > 1000
    assert out["to_caller"] == "73#"
    assert out["state_after"] == "available"
    assert events(rig) == [("ENTERQUEUE", "NONE"), ("CONNECT", "300"), ("COMPLETECALLER", "300")]


# external agent 300 first in the queue, station agent 100 after it
EXT_AND_STATION = [{"id": "300", "number": AGENT_NO, "queues": ["q"]},
                   {"id": "100", "station_port": 0, "queues": ["q"]}]


def test_external_agent_no_answer_rings_next_agent():
    rig = Rig("acd-ext-noanswer",
              {"q": {"strategy": "top-down", "moh": "", "ring_timeout": 12, "reject_delay": 30}},
              EXT_AND_STATION)
    rig.sim.add_destination(AGENT_NO, kind="noanswer")
    rig.route("q")
    out = {}

    async def main():
        await rig.start("300", "100")
        ph = await rig.caller("555")
        t0 = rig.card.now
        att = await rig.sim.wait_dialled(AGENT_NO, timeout=20)
        st = rig.sim.station(0)
        await st.wait_ring(30)
        out["next_ring_after"] = rig.card.now - t0
        out["ext_party_cleared"] = att.party.hungup           # the ACD gave up on the external line
        out["lines_busy"] = sorted(c.trunk for c in rig.engine.calls.values())
        out["state_300"] = rig.acd.agent_state("300")
        st.offhook()
        await rig.sim.sleep(0.5)
        out["m"] = await hear({"caller": ph, "agent": st})
        await ph.hangup()
        await rig.sim.sleep(2.0)
        out["dialled"] = len(rig.sim.dialled_to(AGENT_NO))
        await rig.stop()

    run(main())
    print("next agent rang after", round(out["next_ring_after"], 1), "s; lines in use then:", out["lines_busy"])
    assert out["ext_party_cleared"]
    assert out["lines_busy"] == ["analog", "station"]     # the caller + the ringing station, no dangling dial-out
    assert 12 <= out["next_ring_after"] <= 16
    assert out["state_300"] == ("available", "")          # one miss: reject_delay, not a break
    assert out["dialled"] == 1                            # not dialled again within reject_delay
    assert out["m"]["caller"]["agent"] > 1000 and out["m"]["agent"]["caller"] > 1000
    rna = rig.log("RINGNOANSWER")
    assert len(rna) == 1 and rna[0].agent == "300" and 11500 <= int(rna[0].data1) <= 12500
    assert rig.log("CONNECT")[0].agent == "100"
    missed = rig.docs_of("call.missed", "300")
    assert len(missed) == 1 and missed[0]["reason"] == "noanswer"


def test_external_agent_busy_caller_waits_then_served_by_another_agent():
    rig = Rig("acd-ext-busy",
              {"q": {"strategy": "top-down", "moh": "", "ring_timeout": 20, "busy_delay": 40}},
              EXT_AND_STATION)
    rig.sim.add_destination(AGENT_NO, kind="busy")
    rig.route("q")
    out = {}

    async def main():
        await rig.start("300", "100")
        rig.acd.set_break("100")
        ph = await rig.caller("556")
        att = await rig.sim.wait_dialled(AGENT_NO, timeout=20)
        t_busy = rig.card.now
        while not rig.log("RINGNOANSWER") and rig.card.now - t_busy < 10:
            await rig.sim.sleep(0.2)
        out["busy_seen_after"] = rig.card.now - t_busy
        await rig.sim.sleep(15.0)                # caller keeps waiting; 300 not rung again within busy_delay
        out["waiting"] = {r["name"]: r["waiting"] for r in rig.acd.queues_status()}
        out["caller_up"] = not ph.ended
        out["dialled_while_waiting"] = len(rig.sim.dialled_to(AGENT_NO))
        out["lines"] = sorted(c.trunk for c in rig.engine.calls.values())
        rig.acd.ready("100")
        st = await rig.pick_up(0)
        out["m"] = await hear({"caller": ph, "agent": st})
        await ph.hangup()
        await rig.sim.sleep(2.0)
        out["att"] = att
        await rig.stop()

    run(main())
    print("busy noticed after", round(out["busy_seen_after"], 1), "s; waiting:", out["waiting"])
    assert out["att"].kind == "busy" and out["att"].party is None
    assert out["busy_seen_after"] < 5
    assert out["caller_up"] and out["waiting"]["q"] == 1
    assert out["dialled_while_waiting"] == 1
    assert out["lines"] == ["analog"]                     # the busy dial-out line was released
    assert out["m"]["caller"]["agent"] > 1000 and out["m"]["agent"]["caller"] > 1000
    missed = rig.docs_of("call.missed", "300")
    assert len(missed) == 1 and missed[0]["reason"] == "busy"
    assert [r.agent for r in rig.log("RINGNOANSWER")] == ["300"]
    assert rig.log("CONNECT")[0].agent == "100"
    assert rig.results[0].outcome == "completed" and rig.results[0].agent == "100"


# ---------------------------------------------------------------- callback dial-back

def _callback_rig(name, number_kind, queue_opts=None, **dest):
    rig = Rig(name, {"q": {"strategy": "top-down", "moh": "", "callback_key": "2", **(queue_opts or {})}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}])
    rig.sim.add_destination("602", kind=number_kind, **dest)
    rig.route("q")
    return rig


async def _request_callback(rig):
    rig.acd.login("100")
    rig.acd.set_break("100")
    cb = await rig.caller("602")
    await rig.sim.sleep(2)
    await cb.send_dtmf("2")
    await cb.wait_hangup(10)
    await rig.sim.sleep(8)                       # the analog port's guard time before the line is reused
    rig.acd.ready("100")
    st = rig.sim.station(0)
    await st.wait_ring(10)
    st.offhook()
    return st


def test_callback_dials_caller_back_and_bridges_agent():
    rig = _callback_rig("acd-cb-ok", "answer", answer_after=3.0)
    cdrs = cdr_hook(rig)
    out = {}

    async def main():
        await rig.start()
        st = await _request_callback(rig)
        att = await rig.sim.wait_dialled("602", timeout=15)
        party = att.party
        await party.wait_answer(15)
        await rig.sim.sleep(0.5)
        out["state_up"] = states(rig)["100"]
        out["m"] = await hear({"caller": party, "agent": st})
        out["to_agent"] = await caller_dtmf_to_agent(party, st)
        await rig.sim.sleep(1.0)
        st.onhook()                              # the agent ends the callback: the dialled-back caller is cleared
        await party.wait_hangup(10)
        await rig.sim.sleep(1.0)
        out["state_after"] = states(rig)["100"]
        out["calls_left"] = len(rig.engine.calls)
        out["att"] = att
        await rig.stop()

    run(main())
    print_matrix("agent <-> dialled-back caller", out["m"])
    m = out["m"]
    assert out["att"].trunk == "analog"
    assert out["state_up"] == "busy"
    assert m["agent"]["caller"] > 1000 and m["caller"]["agent"] > 1000
    assert out["to_agent"] == "159"
    assert out["state_after"] == "available" and out["calls_left"] == 0
    ev = [e for e in events(rig) if e[0] not in ("PAUSE", "UNPAUSE")]
    print("queue_log:", ev)
    assert ev == [("ENTERQUEUE", "NONE"), ("CALLBACK", "NONE"), ("CONNECT", "100"), ("COMPLETEAGENT", "100")]
    assert rig.results[0].outcome == "callback"
    entry = rig.acd.core.entry(rig.results[0].entry)
    assert entry["outcome"] == "completed" and entry["agent"] == "100" and entry["callback_number"] == "602"
    ended = rig.docs_of("call.ended", "100")
    assert len(ended) == 1 and ended[0]["ended_by"] == "agent"
    # CDRs: the original call ended with outcome callback, the dial-back call carries the queue and agent
    first = [c for c in cdrs if c["direction"] == "in" and c["trunk"] == "analog"][0]
    back = [c for c in cdrs if c["direction"] == "out" and c["called"] == "602"]
    print("CDR in:", first["outcome"], first["queue"], "| CDR dial-back:", back)
    assert first["queue"] == "q" and first["outcome"] == "callback"
    assert len(back) == 1 and back[0]["queue"] == "q" and back[0]["agent"] == "100"
    assert back[0]["outcome"] == "completed" and back[0]["talk"] >= 3


def _failed_callback(kind, name, queue_opts=None):
    rig = _callback_rig(name, kind, queue_opts)
    out = {}

    async def main():
        await rig.start()
        st = await _request_callback(rig)
        att = await rig.sim.wait_dialled("602", timeout=15)
        t0 = rig.card.now
        while states(rig)["100"] == "busy" and rig.card.now - t0 < 60:
            await rig.sim.sleep(0.5)
        out["gave_up_after"] = rig.card.now - t0
        out["state"] = states(rig)["100"]
        out["att"] = att
        out["calls_left"] = len(rig.engine.calls)
        st.onhook()
        await rig.sim.sleep(1.0)
        await rig.stop()

    run(main())
    return rig, out


def test_callback_to_busy_number_completes_as_callback_failed_and_frees_agent():
    rig, out = _failed_callback("busy", "acd-cb-busy")
    print("callback to a busy number given up after", round(out["gave_up_after"], 1), "s")
    assert out["att"].kind == "busy"
    assert out["gave_up_after"] < 6
    assert out["state"] == "available" and out["calls_left"] == 0
    entry = rig.acd.core.entry(rig.results[0].entry)
    assert entry["outcome"] == "callback-failed" and entry["state"] == "done"
    assert rig.log("CONNECT")[0].agent == "100" and rig.log("COMPLETECALLER")[0].agent == "100"


def test_callback_no_answer_completes_as_callback_failed_and_frees_agent():
    rig, out = _failed_callback("noanswer", "acd-cb-noanswer")
    print("callback not answered, given up after", round(out["gave_up_after"], 1), "s")
    assert out["att"].kind == "noanswer" and out["att"].party.hungup     # the ACD stopped ringing the caller
    assert 20 <= out["gave_up_after"] <= 35
    assert out["state"] == "available" and out["calls_left"] == 0
    entry = rig.acd.core.entry(rig.results[0].entry)
    assert entry["outcome"] == "callback-failed" and entry["state"] == "done"


def test_callback_ring_timeout_is_the_queues():
    """callback_ring_timeout (queue option, default 30 s) sets how long the dial-back rings."""
    rig, out = _failed_callback("noanswer", "acd-cb-ringfor", {"callback_ring_timeout": 10})
    print("callback_ring_timeout 10 s: given up after", round(out["gave_up_after"], 1), "s")
    # counted from the dial (the switch records the number ~2.5 s later, once the digits are in)
    assert 6 <= out["gave_up_after"] <= 11
    assert out["state"] == "available" and out["calls_left"] == 0
    assert rig.acd.core.entry(rig.results[0].entry)["outcome"] == "callback-failed"


def test_caller_abandons_while_external_agent_rings_line_is_released():
    rig = Rig("acd-ext-abandon", {"q": {"strategy": "top-down", "moh": "", "ring_timeout": 30}},
              [{"id": "300", "number": AGENT_NO, "queues": ["q"]}], fxs=0)
    rig.sim.add_destination(AGENT_NO, kind="answer", answer_after=20.0)
    rig.route("q")
    cdrs = cdr_hook(rig)
    out = {}

    async def main():
        await rig.start("300")
        ph = await rig.caller("557")
        att = await rig.sim.wait_dialled(AGENT_NO, timeout=20)
        await rig.sim.sleep(2.0)
        await ph.hangup()                        # gives up while the external agent's phone rings
        await rig.sim.sleep(2.0)
        out["party_cleared"] = att.party.hungup
        out["calls"] = sorted(c.trunk for c in rig.engine.calls.values())
        await rig.sim.sleep(20.0)                # past the far end's answer time: nobody is left connected
        out["party_answered"] = att.party.answered
        out["calls_later"] = len(rig.engine.calls)
        out["state"] = states(rig)["300"]
        await rig.stop()

    run(main())
    print("after abandon:", out)
    assert out["party_cleared"] and not out["party_answered"]
    assert out["calls"] == [] and out["calls_later"] == 0
    assert out["state"] == "available"
    assert rig.results[0].outcome == "abandoned" and len(rig.log("ABANDON")) == 1
    # the caller's CDR (written the moment the call ended) says where it waited and how it ended
    (cin,) = [c for c in cdrs if c["direction"] == "in"]
    assert cin["queue"] == "q" and cin["outcome"] == "abandoned" and 2 <= cin["wait"] <= 12
    (cout,) = [c for c in cdrs if c["direction"] == "out"]
    assert cout["called"] == AGENT_NO and cout["answer"] is None


def test_ring_all_station_wins_external_agent_line_is_released():
    rig = Rig("acd-ext-ringall", {"q": {"strategy": "ring-all", "moh": "", "ring_timeout": 30}},
              EXT_AND_STATION)
    rig.sim.add_destination(AGENT_NO, kind="answer", answer_after=20.0)
    rig.route("q")
    out = {}

    async def main():
        await rig.start("300", "100")
        ph = await rig.caller("558")
        att = await rig.sim.wait_dialled(AGENT_NO, timeout=20)
        st = rig.sim.station(0)
        await st.wait_ring(10)
        st.offhook()
        await rig.sim.sleep(2.0)
        out["party_cleared"] = att.party.hungup
        await rig.sim.sleep(20.0)
        out["party_answered"] = att.party.answered
        out["calls"] = sorted(c.trunk for c in rig.engine.calls.values())
        out["states"] = states(rig)
        out["m"] = await hear({"caller": ph, "agent": st})
        await ph.hangup()
        await rig.sim.sleep(2.0)
        await rig.stop()

    run(main())
    print("ring-all, station answered:", {k: v for k, v in out.items() if k != "m"})
    assert out["party_cleared"] and not out["party_answered"]
    assert out["calls"] == ["analog", "station"]
    assert out["states"] == {"300": "available", "100": "busy"}
    assert out["m"]["caller"]["agent"] > 1000 and out["m"]["agent"]["caller"] > 1000
    assert rig.log("CONNECT")[0].agent == "100" and rig.log("RINGNOANSWER") == []


def test_callback_caller_hangs_up_first_cdr_and_queue_log():
    rig = _callback_rig("acd-cb-callerhup", "answer", answer_after=2.0)
    cdrs = cdr_hook(rig)

    async def main():
        await rig.start()
        st = await _request_callback(rig)
        att = await rig.sim.wait_dialled("602", timeout=15)
        await att.party.wait_answer(15)
        await rig.sim.sleep(3.0)
        await att.party.hangup()                 # the dialled-back caller ends the call
        await rig.sim.sleep(1.0)
        st.onhook()
        await rig.sim.sleep(1.0)
        await rig.stop()

    run(main())
    assert rig.log("COMPLETECALLER")[0].agent == "100"
    back = [c for c in cdrs if c["direction"] == "out" and c["called"] == "602"]
    assert len(back) == 1 and back[0]["queue"] == "q" and back[0]["agent"] == "100"
    assert back[0]["outcome"] == "completed" and 2.5 <= back[0]["talk"] <= 4
    assert states(rig)["100"] == "available"


def test_callback_agent_gives_up_while_caller_is_dialled():
    rig = _callback_rig("acd-cb-agentgone", "answer", answer_after=8.0)
    out = {}

    async def main():
        await rig.start()
        st = await _request_callback(rig)
        att = await rig.sim.wait_dialled("602", timeout=15)
        await rig.sim.sleep(1.0)
        st.onhook()                              # the agent hangs up while the caller's phone rings
        await rig.sim.sleep(12.0)
        out["party"] = (att.party.answered, att.party.hungup)
        out["state"] = states(rig)["100"]
        out["calls"] = len(rig.engine.calls)
        await rig.stop()

    run(main())
    print("agent gave up during dial-back:", out)
    assert out["party"][1]                       # the caller is not left on a line with nobody
    assert out["state"] == "available" and out["calls"] == 0
    entry = rig.acd.core.entry(rig.results[0].entry)
    assert entry["state"] == "done" and entry["outcome"] == "callback-failed"
    assert rig.log("COMPLETEAGENT")[0].agent == "100"
