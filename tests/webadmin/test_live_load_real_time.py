"""Web admin p95 while the real engine carries 1,000 simulated calls in real time.

The calls are brought up in virtual time (fast), then the board is switched to real-time
pacing, so the web admin is measured against an engine doing a real-time job: 1,000
answered calls on a 1,000-channel simulated board, 4 SSE streams open."""
import threading
import time

import pytest
from web_fixtures import make_app
from web_load import measure, report, sse_readers
from web_sim import SimServer

from trunkline.webadmin import serve


@pytest.mark.slow
def test_p95_with_1000_real_calls_up_in_real_time(tmp_path):
    sim = SimServer(channels=1000, realtime=False)
    fut = sim.place(1000, hold=3600.0, caller_id=False)
    deadline = time.monotonic() + 240
    while sim.answered < 1000 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sim.answered == 1000, f"only {sim.answered} calls answered"
    sim.engine.board.set_realtime(True)
    app, hub = make_app(tmp_path, engine=sim.engine, LIVE_STREAM_SECONDS=30.0)
    stopper = serve(app, port=0, threads=24)
    base = f"http://127.0.0.1:{stopper.port}"
    stop = threading.Event()
    counts = sse_readers(base, 4, stop)
    try:
        t0, w0 = sim.engine.now, time.monotonic()
        lat = measure(base, 30)
        speed = (sim.engine.now - t0) / (time.monotonic() - w0)
        busy = sum(1 for r in sim.engine.status() if r["state"] != "idle")
    finally:
        stop.set()
        stopper.stop()
        sim.close()
        fut.cancel()
    p95 = report(f"real engine in real time ({speed:.2f}x), {busy} calls up, 4 SSE streams open:", lat)
    print(f"  SSE messages per stream: {counts}")
    assert all(c >= 3 for c in counts), f"SSE streams starved: {counts}"
    assert busy == 1000
    assert speed > 0.9, "the engine must keep real time while the web admin serves"
    assert p95 < 200.0
