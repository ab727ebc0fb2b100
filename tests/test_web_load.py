"""Web admin responsiveness: p95 latency of the live pages over real HTTP (waitress) while live SSE
streams are open and the engine is busy. Two loads: the real media engine on a 1,000-channel simulated
board ticking flat out in virtual time with calls up, and 1,000 calls up in the channel table with
bus events churning (a test-fixture engine, to load the web side with 1,000 live rows)."""
import http.cookiejar
import re
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
from web_fixtures import USERS, FixtureEngine, make_app
from web_sim import SimServer

from trunkline.webadmin import serve

PAGES = ["/api/live/channels", "/api/live/agents", "/api/live/queues", "/live/channels", "/live/wallboard"]


def _opener(base, user="admin"):
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = op.open(base + "/login").read().decode()
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    op.open(base + "/login", urllib.parse.urlencode({"username": user, "password": USERS[user],
                                                     "csrf_token": tok}).encode()).read()
    return op


def _sse_readers(base, n, stop):
    """n browsers' worth of open SSE streams, read continuously; returns per-stream message counters."""
    counts = [0] * n

    def run(i):
        op = _opener(base, "viewer")
        while not stop.is_set():
            try:
                with op.open(base + "/live/stream/channels", timeout=10) as r:
                    while not stop.is_set():
                        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(4096)
                        if not chunk:
                            break
                        counts[i] += chunk.count(b"\n\n")  # SSE messages (events and keepalives)
            except Exception:
                time.sleep(0.1)
    for i in range(n):
        threading.Thread(target=run, args=(i,), daemon=True).start()
    return counts


def _measure(base, rounds):
    op = _opener(base)
    lat = {p: [] for p in PAGES}
    for _ in range(rounds):
        for p in PAGES:
            t = time.perf_counter()
            with op.open(base + p, timeout=10) as r:
                body = r.read()
                assert r.status == 200 and body
            lat[p].append(time.perf_counter() - t)
    return lat


def _report(title, lat):
    allv = np.array([v for vs in lat.values() for v in vs]) * 1e3
    print(f"\n{title}")
    for p, vs in lat.items():
        a = np.array(vs) * 1e3
        print(f"  {p:22s} n={len(a):3d} median {np.median(a):6.1f} ms  p95 {np.percentile(a, 95):6.1f} ms  "
              f"max {a.max():6.1f} ms")
    p95 = float(np.percentile(allv, 95))
    print(f"  all pages p95 {p95:.1f} ms")
    return p95


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
    counts = _sse_readers(base, 4, stop)
    try:
        time.sleep(1.0)
        lat = _measure(base, 30)
    finally:
        stop.set()
        stopper.stop()
    p95 = _report("1,000 live calls, 200 bus events/s, 4 SSE streams open:", lat)
    print(f"  SSE messages per stream: {counts}")
    assert all(c >= 5 for c in counts), f"SSE streams starved: {counts}"
    assert p95 < 200.0


@pytest.mark.slow
def test_p95_while_the_real_engine_runs_1000_channels(tmp_path):
    sim = SimServer(channels=1000, realtime=False)
    fut = sim.place(60, hold=3600.0, caller_id=False)
    app, hub = make_app(tmp_path, engine=sim.engine, LIVE_STREAM_SECONDS=30.0)
    stopper = serve(app, port=0, threads=24)
    base = f"http://127.0.0.1:{stopper.port}"
    stop = threading.Event()
    counts = _sse_readers(base, 4, stop)
    try:
        t0 = sim.engine.now
        w0 = time.monotonic()
        lat = _measure(base, 30)
        speed = (sim.engine.now - t0) / (time.monotonic() - w0)
        busy = sum(1 for r in sim.engine.status() if r["state"] != "idle")
    finally:
        stop.set()
        stopper.stop()
        sim.close()
        fut.cancel()
    p95 = _report(f"real engine, 1,000 channels, virtual time at {speed:.2f}x real time, {busy} calls up "
                  f"({sim.answered} answered), 4 SSE streams open:", lat)
    assert speed > 0  # the engine kept ticking while the web admin served
    print(f"  SSE messages per stream: {counts}")
    assert all(c >= 3 for c in counts), f"SSE streams starved: {counts}"
    assert p95 < 200.0
