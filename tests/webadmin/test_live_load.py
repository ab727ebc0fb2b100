"""Web admin responsiveness: p95 latency of the live pages over real HTTP (waitress) while live SSE
streams are open and the engine is busy. Two loads: the real media engine on a 1,000-channel simulated
board ticking flat out in virtual time with calls up, and 1,000 calls up in the channel table with
bus events churning (a test-fixture engine, to load the web side with 1,000 live rows)."""
import threading
import time

import pytest
from web_fixtures import FixtureEngine, make_app
from web_load import load_real_engine, measure, report, sse_readers
from web_sim import SimServer

from trunkline.webadmin import serve


@pytest.mark.slow
def test_p95_with_1000_live_calls_and_churn(tmp_path):
    eng = FixtureEngine(channels=1000)
    for ch in range(1, 1001):
        eng.call(ch, f"1380000{ch:04d}", "95555", f"c{ch}")
    app, hub = make_app(tmp_path, engine=eng, LIVE_STREAM_SECONDS=30.0)
    stopper = serve(app, port=0, threads=24)
    base = f"http://127.0.0.1:{stopper.port}"
    stop = threading.Event()

    def churn():  # 100 call ends + 100 new calls per second on the bus
        k = 0
        while not stop.is_set():
            ch = 1 + k % 1000
            eng.hangup(ch)
            eng.call(ch, f"1390000{k % 10000:04d}", "95555", f"n{k}")
            k += 1
            time.sleep(0.01)
    threading.Thread(target=churn, daemon=True).start()
    counts = sse_readers(base, 4, stop)
    try:
        time.sleep(1.0)
        lat = measure(base, 30)
    finally:
        stop.set()
        stopper.stop()
    p95 = report("1,000 live calls, 200 bus events/s, 4 SSE streams open:", lat)
    print(f"  SSE messages per stream: {counts}")
    assert all(c >= 5 for c in counts), f"SSE streams starved: {counts}"
    assert p95 < 200.0


@pytest.mark.slow
def test_p95_while_the_real_engine_runs_1000_channels(tmp_path):
    sim = SimServer(channels=1000, realtime=False)
    fut = sim.place(60, hold=3600.0, caller_id=False)
    lat, speed, busy, counts = load_real_engine(tmp_path, sim, fut)
    p95 = report(f"real engine, 1,000 channels, virtual time at {speed:.2f}x real time, {busy} calls up "
                  f"({sim.answered} answered), 4 SSE streams open:", lat)
    assert speed > 0  # the engine kept ticking while the web admin served
    print(f"  SSE messages per stream: {counts}")
    assert all(c >= 3 for c in counts), f"SSE streams starved: {counts}"
    assert p95 < 200.0
