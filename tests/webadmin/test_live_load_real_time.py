"""Web admin p95 while the real engine carries 1,000 simulated calls in real time.

The calls are brought up in virtual time (fast), then the board is switched to real-time
pacing, so the web admin is measured against an engine doing a real-time job: 1,000
answered calls on a 1,000-channel simulated board, 4 SSE streams open."""
import time

import pytest
from web_load import load_real_engine, report
from web_sim import SimServer


@pytest.mark.slow
def test_p95_with_1000_real_calls_up_in_real_time(tmp_path):
    sim = SimServer(channels=1000, realtime=False)
    fut = sim.place(1000, hold=3600.0, caller_id=False)
    deadline = time.monotonic() + 240
    while sim.answered < 1000 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sim.answered == 1000, f"only {sim.answered} calls answered"
    sim.engine.board.set_realtime(True)
    lat, speed, busy, counts = load_real_engine(tmp_path, sim, fut)
    p95 = report(f"real engine in real time ({speed:.2f}x), {busy} calls up, 4 SSE streams open:", lat)
    print(f"  SSE messages per stream: {counts}")
    assert all(c >= 3 for c in counts), f"SSE streams starved: {counts}"
    assert busy == 1000
    assert speed > 0.9, "the engine must keep real time while the web admin serves"
    assert p95 < 200.0
