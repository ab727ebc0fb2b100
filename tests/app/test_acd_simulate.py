"""One hour of ACD traffic in virtual time over the real ACDCore: service level, ASA, abandons, EWT error."""
import time

import pytest

from trunkline.acd.ewt import erlang_c, erlang_c_wait, service_level
from trunkline.app.acd_simulate import simulate


def test_erlang_c_textbook_values():
    # A = 2 Erlangs on 3 agents: C = 4/9 (worked example in every queueing text)
    assert abs(erlang_c(3, 2.0) - 4 / 9) < 1e-12
    # 10 agents, 8 Erlangs: C(10, 8) = 0.409 (Erlang C tables)
    assert abs(erlang_c(10, 8.0) - 0.4092) < 5e-4
    assert erlang_c(5, 5.0) == 1.0 and erlang_c_wait(5, 5 / 100, 100) == float("inf")
    # SL = 1 - C exp(-(N-A) t / h)
    assert abs(service_level(3, 2 / 100, 100, 0) - (1 - 4 / 9)) < 1e-12


def test_one_hour_300_calls_10_agents():
    t0 = time.process_time()
    r = simulate(calls=300, agents=10, duration=3600.0, aht=95.0, wrapup=5.0, patience=180.0, seed=1)
    cpu = time.process_time() - t0
    print()
    print(r.line())
    print(f"Erlang C predicted mean wait {r.erlang_c_predicted_wait:.1f}s vs simulated {r.mean_wait_all:.1f}s; "
          f"CPU {cpu:.1f}s for {r.duration:.0f}s of traffic")
    assert r.answered + r.abandoned == 300
    assert 0.0 < r.abandon_rate < 0.25
    assert 0.4 < r.service_level <= 1.0
    assert 0 < r.asa < 60
    assert 0.5 < r.occupancy < 0.95
    # the blended EWT must beat the naive unconditional Erlang C mean and the plain model
    assert r.ewt_mae < r.ewt_mae_erlang
    assert r.ewt_mae <= r.ewt_mae_model + 0.5
    assert r.ewt_mae < 15.0
    assert cpu < 40.0


@pytest.mark.slow
def test_smaller_simulation_through_the_real_engine():
    import asyncio

    from trunkline.app.acd_simulate import simulate_engine
    t0 = time.monotonic()
    r = asyncio.run(asyncio.wait_for(simulate_engine(calls=30, agents=3, duration=600.0, aht=40.0), 300))
    wall = time.monotonic() - t0
    print(f"\nengine simulation: {r} in {wall:.1f}s wall")
    assert r["offered"] == 30 and r["failed"] == 0
    assert r["answered"] + r["abandoned"] == 30
    assert r["answered"] >= 20
    assert sum(r["outcomes"].values()) == 30
    assert r["virtual_seconds"] > 500
