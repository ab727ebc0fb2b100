"""Two ACD instances sharing one PostgreSQL: one agent pool, never two calls for one agent (FOR UPDATE SKIP LOCKED);
two Trunkline servers (engines + card simulators + ACDs) on one database run one ACD."""
import random
import threading
import time

import pytest
from acd_rig import Rig
from acd_rig import run as run_async
from pg_fixture import pg_server  # noqa: F401  (session fixture)
from sqlalchemy import create_engine, func, select

from trunkline.acd.core import ACDCore
from trunkline.acd.models import AcdEntry, create_tables
from trunkline.acd.queues import QueueConfig
from trunkline.data.db import make_session_factory


@pytest.fixture
def pair(pg_server):  # noqa: F811
    url = pg_server.create_database(f"acd_{random.randrange(10**9)}")
    clock = [1000.0]
    engines = [create_engine(url, pool_size=4), create_engine(url, pool_size=4)]
    create_tables(engines[0])
    a = ACDCore(make_session_factory(engines[0]), instance="srv-a", clock=lambda: clock[0], rng=random.Random(1))
    b = ACDCore(make_session_factory(engines[1]), instance="srv-b", clock=lambda: clock[0], rng=random.Random(2))
    a.define_queue(QueueConfig(name="sales", strategy="longest-idle"))
    for i in range(6):
        a.define_agent({"id": f"ag{i}", "number": f"70{i}"})
        a.add_member("sales", f"ag{i}")
        b.login(f"ag{i}")
    yield a, b, clock
    for e in engines:
        e.dispose()


def test_head_of_queue_across_servers(pair):
    a, b, clock = pair
    for i in range(5):
        a.set_break(f"ag{i}")
    ea = a.join("sales", "call-on-a", "111").entry
    clock[0] += 1
    eb = b.join("sales", "call-on-b", "222").entry
    assert b.position(eb) == 2                 # positions span both servers
    offers = b.dispatch()                      # B dispatches: the older caller on A gets the agent
    assert [(o.entry, o.instance, o.agents) for o in offers] == [(ea, "srv-a", ["ag5"])]
    assert [o.entry for o in a.offers_for()] == [ea]    # A picks up the offer made by B
    assert b.offers_for() == []


def test_two_servers_racing_never_double_book(pair):
    a, b, clock = pair
    rounds = 12
    offers_by_round = []
    errors = []
    for r in range(rounds):
        for core, tag in ((a, "a"), (b, "b")):
            for k in range(4):
                core.join("sales", f"{tag}-{r}-{k}", f"{r}{k}")
        clock[0] += 1
        barrier = threading.Barrier(2)
        got = {}

        def run(core, name, barrier, got):
            try:
                barrier.wait()
                got[name] = core.dispatch()
            except Exception as exc:          # surfaced below
                errors.append(exc)
        ts = [threading.Thread(target=run, args=(c, n, barrier, got)) for c, n in ((a, "a"), (b, "b"))]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        took = time.monotonic() - t0
        assert not errors, errors
        agents = [ag for n in ("a", "b") for o in got[n] for ag in o.agents]
        offers_by_round.append((len(got["a"]), len(got["b"]), took))
        assert len(agents) == len(set(agents)) == 6, (r, got)
        # everyone answers, talks, hangs up; callers left over stay queued for the next round
        for n, core in (("a", a), ("b", b)):
            for o in got[n]:
                assert core.answered(o.entry, o.agents[0])
        clock[0] += 30
        for n, core in (("a", a), ("b", b)):
            for o in got[n]:
                core.complete(o.entry)
    with a.sf() as s:
        connected_twice = s.execute(select(AcdEntry.agent, func.count()).where(AcdEntry.answered_at.is_not(None))
                                    .group_by(AcdEntry.agent, AcdEntry.answered_at)
                                    .having(func.count() > 1)).all()
        served = s.scalar(select(func.count()).select_from(AcdEntry).where(AcdEntry.outcome == "completed"))
    split = [(x, y) for x, y, _ in offers_by_round]
    print(f"\n{rounds} racing rounds, offers per round (srv-a, srv-b): {split}")
    print(f"max dispatch round {max(t for *_, t in offers_by_round) * 1000:.0f} ms; calls served {served}")
    assert connected_twice == []
    assert served == rounds * 6
    # every round one pass matched every free agent; the other found the dispatch lock taken (or ran
    # after it and found nothing left): a split pass would leave agents idle with callers waiting
    assert all((x == 0) != (y == 0) for x, y in split)


def test_two_engines_one_acd_on_postgres(pg_server):  # noqa: F811
    url = pg_server.create_database(f"acd2_{random.randrange(10**9)}")
    dbs = [create_engine(url, pool_size=3), create_engine(url, pool_size=3)]
    q = {"q": {"strategy": "longest-idle", "moh": ""}}
    # each server's agents sit on its own FXS stations (host = server name)
    a = Rig("srv-a", q, [{"id": "A0", "station_port": 0, "host": "srv-a", "queues": ["q"]}],
            session_factory=make_session_factory(dbs[0]))
    b = Rig("srv-b", q, [{"id": "B0", "station_port": 0, "host": "srv-b", "queues": ["q"]}],
            session_factory=make_session_factory(dbs[1]))
    a.route("q")
    b.route("q")
    seen = {}

    async def main():
        await a.start()
        await b.start()
        a.acd.login("A0")
        b.acd.login("B0")
        a.acd.set_break("B0", "meeting")          # agent state is shared: server A changes B's agent
        assert b.acd.agent_state("B0") == ("break", "meeting")
        cb = b.sim.call("5000", from_="200")        # older caller, on server B
        await cb.wait_answer(30)
        await b.sim.sleep(1.0)
        ca = a.sim.call("5000", from_="100")        # newer caller, on server A
        await ca.wait_answer(30)
        st_a = a.sim.station(0)
        await st_a.wait_ring(10)                    # A0 can only be rung by server A: A's caller gets it
        seen["waiting_seen_by_a"] = a.acd.queues_status()[0]["waiting"]
        seen["pos_of_b_caller"] = [e for e in b.docs_of("queue.joined")][0]["position"]
        seen["pos_of_a_caller"] = [e for e in a.docs_of("queue.joined")][0]["position"]
        st_a.offhook()
        await a.sim.sleep(0.5)
        b.acd.ready("B0")
        await b.pick_up(0)
        seen["status"] = {r["id"]: (r["state"], r["caller_id"]) for r in a.acd.agents_status()}
        await ca.hangup()
        await cb.hangup()
        await a.sim.sleep(2.0)
        await b.sim.sleep(2.0)
        await a.stop()
        await b.stop()

    run_async(main())
    for d in dbs:
        d.dispose()
    print("\nseen:", seen)
    assert seen["pos_of_b_caller"] == 1 and seen["pos_of_a_caller"] == 2     # one queue across both servers
    assert seen["waiting_seen_by_a"] == 2
    assert seen["status"] == {"A0": ("busy", "100"), "B0": ("busy", "200")}
    assert [r.outcome for r in a.results] == ["completed"] and [r.outcome for r in b.results] == ["completed"]
    # both servers write one queue_log
    events = [(x.queue, x.event) for x in a.log() if x.event in ("ENTERQUEUE", "CONNECT", "COMPLETECALLER")]
    assert events.count(("q", "CONNECT")) == 2 and events.count(("q", "COMPLETECALLER")) == 2


def test_dispatch_waits_out_another_instances_pass(pair):
    """While one instance holds the dispatch lock (mid-pass), the other's pass returns at once with
    no offers and touches nothing; once the lock is released it matches every free agent."""
    from sqlalchemy import text

    from trunkline.acd.core import DISPATCH_LOCK
    a, b, clock = pair
    for k in range(8):
        a.join("sales", f"c{k}", f"{k}")
    clock[0] += 1
    with a.sf() as s:                         # stands in for srv-a's dispatch transaction
        assert s.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": DISPATCH_LOCK})
        assert b.dispatch() == []
        s.rollback()                          # transaction over: lock released
    offers = b.dispatch()
    assert sorted(ag for o in offers for ag in o.agents) == [f"ag{i}" for i in range(6)]
    assert [o.instance for o in offers] == ["srv-a"] * 6
    assert a.dispatch() == []                 # nothing left to match
