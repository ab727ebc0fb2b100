"""Load helpers for the web admin's latency tests: logged-in HTTP openers, page latency rounds, SSE readers."""
import http.client
import http.cookiejar
import re
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
from web_fixtures import USERS, make_app

from trunkline.webadmin import serve

PAGES = ["/api/live/channels", "/api/live/agents", "/api/live/queues", "/live/channels", "/live/wallboard"]


def opener(base, user="admin"):
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = op.open(base + "/login").read().decode()
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    op.open(base + "/login", urllib.parse.urlencode({"username": user, "password": USERS[user],
                                                     "csrf_token": tok}).encode()).read()
    return op


def sse_readers(base, n, stop):
    """n browsers' worth of open SSE streams, read continuously; returns per-stream message counters."""
    counts = [0] * n

    def run(i):
        op = opener(base, "viewer")
        while not stop.is_set():
            try:
                with op.open(base + "/live/stream/channels", timeout=10) as r:
                    while not stop.is_set():
                        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(4096)
                        if not chunk:
                            break
                        counts[i] += chunk.count(b"\n\n")  # SSE messages (events and keepalives)
            except (OSError, http.client.HTTPException):     # stream cut or server busy: reconnect like EventSource
                time.sleep(0.1)
    for i in range(n):
        threading.Thread(target=run, args=(i,), daemon=True).start()
    return counts


def measure(base, rounds):
    op = opener(base)
    lat = {p: [] for p in PAGES}
    for _ in range(rounds):
        for p in PAGES:
            t = time.perf_counter()
            with op.open(base + p, timeout=10) as r:
                body = r.read()
                assert r.status == 200 and body
            lat[p].append(time.perf_counter() - t)
    return lat


def report(title, lat):
    allv = np.array([v for vs in lat.values() for v in vs]) * 1e3
    print(f"\n{title}")
    for p, vs in lat.items():
        a = np.array(vs) * 1e3
        print(f"  {p:22s} n={len(a):3d} median {np.median(a):6.1f} ms  p95 {np.percentile(a, 95):6.1f} ms  "
              f"max {a.max():6.1f} ms")
    p95 = float(np.percentile(allv, 95))
    print(f"  all pages p95 {p95:.1f} ms")
    return p95


def load_real_engine(tmp_path, sim, fut, rounds=30):
    """Serve the web admin over SimServer `sim`'s engine with 4 SSE streams open and measure `rounds` page
    rounds; then stop the web admin, the streams, `sim` and its calls (`fut`). Returns (latencies, engine
    speed in media s per wall s while measured, calls up, SSE messages per stream)."""
    app, _ = make_app(tmp_path, engine=sim.engine, LIVE_STREAM_SECONDS=30.0)
    stopper = serve(app, port=0, threads=24)
    base = f"http://127.0.0.1:{stopper.port}"
    stop = threading.Event()
    counts = sse_readers(base, 4, stop)
    try:
        t0, w0 = sim.engine.now, time.monotonic()
        lat = measure(base, rounds)
        speed = (sim.engine.now - t0) / (time.monotonic() - w0)
        busy = sum(1 for r in sim.engine.status() if r["state"] != "idle")
    finally:
        stop.set()
        stopper.stop()
        sim.close()
        fut.cancel()
    return lat, speed, busy, counts
