"""Two ACD instances sharing one PostgreSQL: one agent pool, never two calls for one agent (FOR UPDATE SKIP LOCKED)."""
import random
import threading
import time

import pytest
from sqlalchemy import create_engine, func, select

from pg_fixture import pg_server  # noqa: F401  (session fixture)
from trunkline.acd.core import ACDCore
from trunkline.acd.models import AcdEntry, create_tables
from trunkline.acd.queues import QueueConfig
from trunkline.db import make_session_factory


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

        def run(core, name):
            try:
                barrier.wait()
                got[name] = core.dispatch()
            except Exception as exc:          # surfaced below
                errors.append(exc)
        ts = [threading.Thread(target=run, args=(c, n)) for c, n in ((a, "a"), (b, "b"))]
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
    # both servers won rounds: the loser of a race skipped the locked rows instead of double-booking
    assert any(x > 0 for x, _ in split) and any(y > 0 for _, y in split)
