"""ACD state machine over SQLite: strategies on crafted agent states, skills widening, VIP, no-answer, logs."""
import random

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import StaticPool

from trunkline.acd import agents as st
from trunkline.acd.core import ACDCore, ACDError
from trunkline.acd.models import AcdQueueLog, create_tables
from trunkline.acd.queue_log import format_line
from trunkline.acd.queues import QueueConfig, QueueConfigError
from trunkline.data.db import make_session_factory


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def acd():
    eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    create_tables(eng)
    clock = Clock()
    core = ACDCore(make_session_factory(eng), instance="a", clock=clock, rng=random.Random(7))
    core.clk = clock
    return core


def setup_queue(acd, strategy, n=4, **opts):
    acd.define_queue(QueueConfig(name="q", strategy=strategy, **opts))
    for i in range(n):
        acd.define_agent({"id": f"a{i}", "number": f"20{i}"})
        acd.add_member("q", f"a{i}")
        acd.login(f"a{i}")


def events(acd, event=None):
    with acd.sf() as s:
        q = select(AcdQueueLog).order_by(AcdQueueLog.id)
        if event:
            q = q.where(AcdQueueLog.event == event)
        return list(s.scalars(q))


def offer_one(acd, caller="555"):
    acd.clk.t += 1
    acd.join("q", f"c{acd.clk.t}", caller)
    offers = acd.dispatch()
    assert len(offers) == 1
    return offers[0]


def take(acd, offer, talk=10.0):
    """Agent answers and talks `talk` s."""
    assert acd.answered(offer.entry, offer.agents[0])
    acd.clk.t += talk
    acd.complete(offer.entry)


def test_longest_idle_picks_agent_idle_longest(acd):
    setup_queue(acd, "longest-idle")
    # make a2 idle the longest: the others take a call each after a2 is idle
    for a in ("a0", "a1", "a3"):
        acd.clk.t += 1
        acd.set_break(a)
        acd.ready(a)
        acd.clk.t += 1
    o = offer_one(acd)
    print("longest-idle picked", o.agents)
    assert o.agents == ["a2"]


def test_round_robin_remembers_last_agent(acd):
    setup_queue(acd, "round-robin")
    picked = []
    for _ in range(6):
        o = offer_one(acd)
        picked.append(o.agents[0])
        take(acd, o, talk=1)
    print("round-robin", picked)
    assert picked == ["a0", "a1", "a2", "a3", "a0", "a1"]
    # memory survives an agent being away: a2 on break, next after a1 is a3
    acd.set_break("a2")
    assert offer_one(acd).agents == ["a3"]


def give(acd, agent, talk):
    """Route one call to `agent` only (others briefly on break) and talk `talk` seconds."""
    others = [b for b in ("a0", "a1", "a2", "a3") if b != agent]
    for b in others:
        acd.set_break(b)
    acd.clk.t += 1
    acd.join("q", "x")
    o = acd.dispatch()[0]
    assert o.agents == [agent]
    take(acd, o, talk=talk)
    for b in others:
        acd.ready(b)


def test_fewest_calls_and_least_talk_time(acd):
    setup_queue(acd, "fewest-calls")
    for agent, calls, talk in (("a0", 3, 10), ("a1", 1, 200), ("a2", 2, 10), ("a3", 4, 10)):
        for _ in range(calls):
            give(acd, agent, talk)
    o = offer_one(acd)
    print("fewest-calls picked", o.agents, "(calls 3,1,2,4)")
    assert o.agents == ["a1"]
    acd.missed(o.entry, "a1", reason="cancel")
    acd.leave(o.entry, "abandon")
    acd.define_queue(QueueConfig(name="q", strategy="least-talk-time"))
    o = offer_one(acd)
    print("least-talk-time picked", o.agents, "(talk 30,200,20,40 s)")
    assert o.agents == ["a2"]


def test_top_down_and_ring_all(acd):
    setup_queue(acd, "top-down")
    acd.set_break("a0")
    assert offer_one(acd).agents == ["a1"]
    acd.define_queue(QueueConfig(name="q", strategy="ring-all"))
    o = offer_one(acd)
    assert o.ring_all and sorted(o.agents) == ["a2", "a3"]
    assert acd.answered(o.entry, "a3")
    assert acd.agent_state("a2")[0] == st.AVAILABLE     # the losing ringer is released
    assert acd.agent_state("a3")[0] == st.BUSY


def picks(acd, n=120):
    """Who is offered each of `n` callers in turn (each offer cancelled, each caller gone): agent -> count."""
    counts = {f"a{i}": 0 for i in range(4)}
    for _ in range(n):
        o = offer_one(acd)
        counts[o.agents[0]] += 1
        acd.missed(o.entry, o.agents[0], reason="cancel")
        acd.leave(o.entry, "abandon")
    return counts


def test_random_and_weighted_random_distribution(acd):
    setup_queue(acd, "weighted-random")
    for i, w in enumerate((1, 0, 3, 6)):
        acd.add_member("q", f"a{i}", weight=w)
    counts = picks(acd)
    print("weighted-random 120 picks (weights 1,0,3,6):", counts)
    assert counts["a1"] == 0
    assert 2 <= counts["a0"] <= 25 and 20 <= counts["a2"] <= 53 and 52 <= counts["a3"] <= 92
    acd.define_queue(QueueConfig(name="q", strategy="random"))
    counts = picks(acd)
    print("random 120 picks:", counts)
    assert all(14 <= c <= 46 for c in counts.values())


def test_penalty_tiers_lowest_first_and_widening(acd):
    setup_queue(acd, "longest-idle", penalty_rules=[[0, 0], [30, 5]])
    acd.add_member("q", "a0", penalty=0)
    acd.add_member("q", "a1", penalty=2)
    acd.add_member("q", "a2", penalty=2)
    acd.add_member("q", "a3", penalty=9)
    acd.set_break("a0")
    e = acd.join("q", "c1").entry
    assert acd.dispatch() == []                 # only penalty 0 allowed at first, a0 on break
    acd.clk.t += 29.9
    assert acd.dispatch() == []
    acd.clk.t += 0.2
    o = acd.dispatch()
    assert o and o[0].entry == e and o[0].agents[0] in ("a1", "a2")    # tier 2 after 30 s, never tier 9


def test_skills_best_match_and_widening(acd):
    acd.define_queue(QueueConfig(name="q", strategy="skills-based", skill_rules=[[20, 3], [60, "any"]]))
    skills = {"s1": {"spanish": 9, "billing": 4}, "s2": {"spanish": 6, "billing": 9},
              "s3": {"billing": 10}, "s4": {"spanish": 3}}
    for aid, sk in skills.items():
        acd.define_agent({"id": aid, "number": "1", "skills": sk})
        acd.add_member("q", aid)
        acd.login(aid)
    acd.join("q", "c1", data={"skills": {"spanish": 5, "billing": 3}})
    o = acd.dispatch()[0]
    print("best match for spanish>=5,billing>=3:", o.agents)
    assert o.agents == ["s2"]                  # 6+9=15 beats 9+4=13
    # now only s3 / s4 free: spanish>=7 required
    acd.set_break("s1")
    acd.join("q", "c2", data={"skills": {"spanish": 7}})
    assert acd.dispatch() == []
    acd.clk.t += 20
    assert acd.dispatch() == []                # relaxed to 4: s4 has 3, s3 none
    acd.clk.t += 40
    o = acd.dispatch()[0]
    print("after 60 s any agent:", o.agents)
    assert o.agents == ["s4"]                  # "any": best score is s4 (3) over s3 (0)


def test_vip_overtakes_and_priority_order(acd):
    setup_queue(acd, "longest-idle", n=1, vip_numbers=["999"], vip_priority=10)
    acd.set_break("a0")
    r1 = acd.join("q", "c1", "111")
    acd.clk.t += 1
    r2 = acd.join("q", "c2", "222", priority=3)
    acd.clk.t += 1
    r3 = acd.join("q", "c3", "999")
    acd.clk.t += 1
    r4 = acd.join("q", "c4", "444", data={"vip": True})
    assert (r1.position, r2.position, r3.position, r4.position) == (1, 1, 1, 2)
    assert [acd.position(r.entry) for r in (r3, r4, r2, r1)] == [1, 2, 3, 4]
    acd.ready("a0")
    assert acd.dispatch()[0].entry == r3.entry


def test_no_answer_puts_agent_on_break_and_reject_delay(acd):
    setup_queue(acd, "top-down", n=2, max_no_answer=2, reject_delay=5)
    e = acd.join("q", "c1").entry
    o = acd.dispatch()[0]
    assert o.agents == ["a0"]
    acd.clk.t += 15
    acd.missed(e, "a0")
    o = acd.dispatch()[0]                    # a0 paused for the reject delay -> a1
    assert o.agents == ["a1"]
    acd.missed(e, "a1", reason="busy")
    acd.clk.t += 5
    o = acd.dispatch()[0]
    assert o.agents == ["a0"]
    acd.missed(e, "a0")
    assert acd.agent_state("a0") == (st.BREAK, "no-answer")
    logs = [format_line(r) for r in events(acd)]
    print("\n".join(logs))
    assert sum(1 for r in events(acd, "RINGNOANSWER")) == 3
    assert events(acd, "PAUSE")[-1].data1 == "no-answer"


def test_abandon_timeout_and_complete_logged(acd):
    setup_queue(acd, "top-down", n=1, wrapup=30)
    acd.set_break("a0")
    e1 = acd.join("q", "c1", "111").entry
    acd.clk.t += 12
    acd.leave(e1, "abandon")
    ab = events(acd, "ABANDON")[-1]
    assert (ab.callid, ab.data1, ab.data2, ab.data3) == ("c1", "1", "1", "12")
    assert format_line(ab) == "1012|c1|q|NONE|ABANDON|1|1|12"      # app_queue queue_log text format
    acd.ready("a0")
    e2 = acd.join("q", "c2").entry
    o = acd.dispatch()[0]
    acd.clk.t += 3
    acd.answered(e2, "a0")
    acd.clk.t += 60
    acd.complete(e2, by="agent")
    assert acd.agent_state("a0")[0] == st.WRAPUP
    c = events(acd, "COMPLETEAGENT")[-1]
    assert (c.agent, c.data1, c.data2) == ("a0", "3", "60")
    e3 = acd.join("q", "c3").entry
    assert acd.dispatch() == []              # wrap-up
    acd.clk.t += 30
    assert acd.tick() == ["a0"]
    assert acd.dispatch()[0].entry == e3
    assert [r.event for r in events(acd)][-1] != "ABANDON"
    assert o.agents == ["a0"]


def test_break_and_logout_during_a_call_are_refused_not_kept_for_later(acd):
    setup_queue(acd, "top-down", n=1)
    e = acd.join("q", "c").entry
    acd.dispatch()
    with pytest.raises(ACDError, match="ringing"):
        acd.set_break("a0", "lunch")
    acd.answered(e, "a0")
    for op in (lambda: acd.set_break("a0", "lunch"), lambda: acd.logout("a0"), lambda: acd.ready("a0")):
        with pytest.raises(ACDError, match="on a call"):
            op()
    assert acd.agent_state("a0")[0] == st.BUSY
    acd.complete(e)
    assert acd.agent_state("a0") == (st.AVAILABLE, "")      # nothing asked during the call fires now
    acd.logout("a0")
    assert acd.agent_state("a0")[0] == st.LOGGED_OUT
    assert [r.event for r in events(acd)][-1] == "AGENTLOGOFF"


def test_transfer_carries_data_to_agent_and_queue(acd):
    setup_queue(acd, "top-down", n=3)
    acd.define_queue(QueueConfig(name="q2", strategy="top-down"))
    acd.add_member("q2", "a2")
    e = acd.join("q", "c1", "123", data={"meter": "4711"}).entry
    acd.dispatch()
    acd.answered(e, "a0")
    n = acd.transfer(e, "blind", agent="a1")
    o = acd.dispatch()
    assert o[0].entry == n and o[0].agents == ["a1"] and o[0].data["meter"] == "4711"
    assert o[0].data["transferred_from"]["agent"] == "a0"
    acd.answered(n, "a1")
    n2 = acd.transfer(n, "attended", queue="q2")
    o = acd.dispatch()
    assert o[0].agents == ["a2"] and o[0].queue == "q2" and o[0].data["meter"] == "4711"
    assert len(events(acd, "TRANSFER")) == 2
    assert n2 == o[0].entry


def test_bad_input_is_rejected_clearly(acd):
    with pytest.raises(QueueConfigError, match="unknown strategy"):
        QueueConfig(name="x", strategy="best")
    with pytest.raises(QueueConfigError, match="max_no_answer"):
        QueueConfig(name="x", max_no_answer=0)
    with pytest.raises(QueueConfigError, match="overflow"):
        QueueConfig(name="x", overflow={"action": "queue"})
    with pytest.raises(st.AgentError, match="1..10"):
        acd.define_agent({"id": "z", "number": "1", "skills": {"x": 11}})
    with pytest.raises(st.AgentError, match="station_port or"):
        acd.define_agent({"id": "z"})
    with pytest.raises(ACDError, match="unknown agent"):
        acd.login("nobody")
    with pytest.raises(QueueConfigError, match="unknown queue"):
        acd.join("nope", "c")


def test_recover_closes_entries_of_a_crashed_run(acd):
    setup_queue(acd, "top-down", n=2)
    e1 = acd.join("q", "c1").entry
    e2 = acd.join("q", "c2").entry
    acd.dispatch()
    acd.answered(e1, "a0")                       # a0 busy, a1 ringing for e2
    e3 = acd.join("q", "c3").entry
    acd.request_callback(e3, "555")
    assert acd.recover() == 2
    assert acd.agent_state("a0")[0] == st.AVAILABLE and acd.agent_state("a1")[0] == st.AVAILABLE
    assert acd.entry(e1)["outcome"] == "lost" and acd.entry(e2)["outcome"] == "lost"
    assert acd.entry(e3)["state"] == "waiting"    # the callback keeps its place
