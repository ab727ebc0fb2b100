"""Two Trunkline servers (two engines + card simulators + ACDs) sharing one PostgreSQL run one ACD."""
import random

from sqlalchemy import create_engine

from pg_fixture import pg_server  # noqa: F401
from test_acd_engine import Rig, run
from trunkline.db import make_session_factory


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
        st_b = b.sim.station(0)
        await st_b.wait_ring(10)
        st_b.offhook()
        await b.sim.sleep(0.5)
        seen["status"] = {r["id"]: (r["state"], r["caller_id"]) for r in a.acd.agents_status()}
        await ca.hangup()
        await cb.hangup()
        await a.sim.sleep(2.0)
        await b.sim.sleep(2.0)
        await a.stop()
        await b.stop()

    run(main())
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
