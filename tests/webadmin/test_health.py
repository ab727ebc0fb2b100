"""Operator endpoints: /healthz (JSON, no login, 503 when the database or the engine is down) and /metrics
(Prometheus text, no login, loopback only by default); no other route opens without a login."""
import asyncio
import mmap
import os
import re
import resource
import threading

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError
from web_fixtures import login, make_app

from trunkline.data import db
from trunkline.data.spool import DurableWriter
from trunkline.webadmin.health import metrics_allowed

SAMPLE = re.compile(r'^(trunkline_[a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


@pytest.fixture
def running_engine(make_rig):
    """A real engine ticking in real time in a thread (like `trunkline run`) on 6 channels; stopped after."""
    rig = make_rig("fxo=4&fxs=2")
    eng = rig.engine
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_until_complete, args=(eng.run(realtime=True),), daemon=True)
    t.start()
    for _ in range(200):
        if eng.running and eng.tick_stats.ticks >= 3:
            break
        threading.Event().wait(0.02)
    yield eng
    loop.call_soon_threadsafe(eng.stop)
    t.join(5)
    loop.close()


def _broken_factory():
    raise OperationalError("SELECT 1", {}, Exception("password=hunter2 host=db.internal"))


def test_healthz_ok_without_login(tmp_path, running_engine):
    app, hub = make_app(tmp_path, engine=running_engine)
    writer = hub.writer = DurableWriter(db.make_engine(f"sqlite:///{tmp_path}/web.db"), str(tmp_path / "spool.jsonl"))
    r = app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/json"
    assert "Set-Cookie" not in r.headers                     # no session made
    body = r.get_json()
    assert body["status"] == "ok" and "reasons" not in body
    assert body["engine"]["running"] is True
    assert body["engine"]["channels"] == 6
    assert body["engine"]["calls_active"] == 0
    assert body["engine"]["ticks"] >= 3 and body["engine"]["ticks_late"] >= 0
    assert body["database"] == {"reachable": True}
    assert body["spool"] == {"pending": 0, "file_pending": False}
    writer.engine.dispose()


def test_healthz_503_when_database_down_without_leaking(tmp_path, running_engine):
    app, hub = make_app(tmp_path, engine=running_engine)
    app.config["SESSION_FACTORY"] = hub.session_factory = _broken_factory
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["status"] == "unavailable"
    assert body["database"] == {"reachable": False}
    assert any("database" in reason for reason in body["reasons"])
    text = r.get_data(as_text=True)
    assert "hunter2" not in text and "db.internal" not in text and "sqlite" not in text


def test_healthz_503_when_engine_stopped_or_missing(tmp_path, make_rig):
    app, _ = make_app(tmp_path, engine=make_rig("fxo=2").engine)      # built, never run
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.get_json()["reasons"] == ["media engine is not running"]
    (tmp_path / "bare").mkdir()
    app2, _ = make_app(tmp_path / "bare")                                # a web admin without an engine
    r = app2.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["reasons"] == ["no media engine"]


def _parse(text):
    """Prometheus text format 0.0.4: {name: {"help", "type", "samples": [(labels, value)]}}."""
    fams, current = {}, None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            name, help_ = line[7:].split(" ", 1)
            current = fams.setdefault(name, {"samples": []})
            current["help"] = help_
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert kind in ("gauge", "counter") and name in fams
            fams[name]["type"] = kind
        else:
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            assert m.group(1) == name, f"{m.group(1)} outside its family"
            labels = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            current["samples"].append((labels, float(m.group(4))))
    return fams


def test_metrics_prometheus_text_reflects_the_engine(tmp_path, running_engine):
    app, _ = make_app(tmp_path, engine=running_engine)
    r = app.test_client().get("/metrics")                    # the test client's address is 127.0.0.1
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = _parse(r.get_data(as_text=True))
    assert all(n.startswith("trunkline_") for n in fams)
    assert all(f.get("help") and f.get("type") for f in fams.values())
    assert fams["trunkline_channels"]["samples"] == [({}, 6.0)]
    assert fams["trunkline_engine_running"]["samples"] == [({}, 1.0)]
    assert fams["trunkline_database_up"]["samples"] == [({}, 1.0)]
    assert fams["trunkline_ticks_total"]["samples"][0][1] >= 3
    assert fams["trunkline_ticks_late_total"]["type"] == "counter"
    assert "trunkline_tick_worst_seconds" in fams
    assert fams["trunkline_heap_trims_total"]["type"] == "counter"           # media/heaptrim.py
    assert fams["trunkline_heap_trim_seconds_total"]["samples"][0][1] >= 0
    assert {lab["outcome"] for lab, _ in fams["trunkline_calls_total"]["samples"]} == \
        {"offered", "answered", "completed", "failed", "congested"}
    r6 = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "::1"})
    assert r6.status_code == 200


def _gauge(app, name):
    fams = _parse(app.test_client().get("/metrics").get_data(as_text=True))
    return fams["trunkline_" + name]["samples"][0][1]


def test_metrics_carry_the_process_memory_descriptors_and_cpu(tmp_path):
    """What an operator watches for a leak, checked against the kernel's own accounting (getrusage) and
    against memory and descriptors this test takes and gives back."""
    app, _ = make_app(tmp_path)
    rss0, fds0 = _gauge(app, "process_resident_memory_bytes"), _gauge(app, "process_open_fds")
    held = mmap.mmap(-1, 48 << 20, flags=mmap.MAP_PRIVATE)    # 48 MiB of fresh pages (not the heap's old ones)
    np.frombuffer(held, np.uint8)[:] = 1                       # every page touched
    files = [open(os.devnull) for _ in range(5)]               # closed below
    try:
        assert _gauge(app, "process_resident_memory_bytes") - rss0 > 40 * 1024 * 1024
        assert _gauge(app, "process_open_fds") == fds0 + 5
        usage = resource.getrusage(resource.RUSAGE_SELF)
        peak = _gauge(app, "process_peak_resident_memory_bytes")
        assert abs(peak - usage.ru_maxrss * 1024) <= 4 * 1024 * 1024, (peak, usage.ru_maxrss)
        assert _gauge(app, "process_cpu_seconds_total") >= usage.ru_utime + usage.ru_stime - 0.05
    finally:
        for f in files:
            f.close()
        held.close()
    assert _gauge(app, "process_open_fds") == fds0


def test_metrics_refused_from_other_addresses(tmp_path):
    app, _ = make_app(tmp_path)
    c = app.test_client()
    r = c.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 403 and "trunkline_" not in r.get_data(as_text=True)
    app.config["METRICS_ALLOW"] = "10.0.0.0/8"
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert c.get("/metrics").status_code == 403               # loopback no longer listed
    app.config["METRICS_ALLOW"] = ""
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403


def test_metrics_allowed():
    assert metrics_allowed("127.0.0.1", "127.0.0.1/32 ::1/128")
    assert metrics_allowed("::ffff:127.0.0.1", "127.0.0.1/32")
    assert metrics_allowed("::1", "127.0.0.1/32, ::1/128")
    assert not metrics_allowed("127.0.0.2", "127.0.0.1/32")
    assert not metrics_allowed("", "0.0.0.0/0")
    assert not metrics_allowed("10.0.0.1", "")


def test_no_other_route_opens_without_login(tmp_path):
    """Every GET route without arguments still needs a login: only login, static and the health endpoints don't."""
    app, _ = make_app(tmp_path)
    c = app.test_client()
    public = {"auth.login", "health.healthz", "health.metrics"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint in public:
            continue
        r = c.get(rule.rule)
        assert r.status_code in (302, 401), f"{rule.rule} answered {r.status_code} without login"
        if r.status_code == 302:
            assert "/login" in r.headers["Location"]
        checked += 1
    assert checked > 10
    assert c.get("/healthz").status_code in (200, 503)
    assert c.post("/healthz").status_code in (400, 401, 405)   # CSRF first


def test_healthz_says_when_the_dahdi_device_is_gone_and_the_engine_keeps_running(tmp_path, make_rig):
    """dahdi:// on the emulated /dev/dahdi, engine ticking in real time: the card vanishes; the engine keeps
    ticking and /healthz answers 503 naming the board's state."""
    rig = make_rig("fxo=2", board="dahdi")
    eng = rig.engine
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_until_complete, args=(eng.run(realtime=True),), daemon=True)
    t.start()
    try:
        app, _ = make_app(tmp_path, engine=eng)
        for _ in range(200):
            if eng.running and eng.tick_stats.ticks >= 3:
                break
            threading.Event().wait(0.02)
        body = app.test_client().get("/healthz").get_json()
        assert body["board"]["backend"] == "dahdi" and body["board"]["status"] == "ok"
        rig.emulated_dahdi.set_present(False)
        ticks = eng.tick_stats.ticks
        threading.Event().wait(0.5)
        r = app.test_client().get("/healthz")
        body = r.get_json()
        assert r.status_code == 503 and body["engine"]["running"] and eng.tick_stats.ticks > ticks + 5
        assert body["board"]["removed"] is True
        assert any(x.startswith("board: DAHDI device removed") for x in body["reasons"])
    finally:
        loop.call_soon_threadsafe(eng.stop)
        t.join(5)
        loop.close()

def test_overload_state_in_metrics_healthz_and_the_channels_page(tmp_path, running_engine):
    """The overload guard's state, the tick load, late ticks, worst tick and the writer alarm reach /metrics,
    /healthz and the admin's channel page (the live snapshot and its labels)."""
    app, hub = make_app(tmp_path, engine=running_engine)
    writer = hub.writer = DurableWriter(db.make_engine(f"sqlite:///{tmp_path}/web.db"), str(tmp_path / "spool.jsonl"))
    guard = running_engine.overload
    guard.overloaded, guard.rejected = True, 7          # as if the tick load had crossed the limit
    writer.alarm = "spool unwritable (disk full)"
    fams = _parse(app.test_client().get("/metrics").get_data(as_text=True))
    assert fams["trunkline_overloaded"]["samples"] == [({}, 1.0)]
    assert fams["trunkline_calls_rejected_overload_total"]["samples"] == [({}, 7.0)]
    assert fams["trunkline_overload_limit"]["samples"] == [({}, 0.8)]
    assert 0.0 <= fams["trunkline_tick_load"]["samples"][0][1] < 5.0
    assert fams["trunkline_writer_alarm"]["samples"] == [({}, 1.0)]
    body = app.test_client().get("/healthz").get_json()
    assert body["engine"]["overloaded"] is True and body["engine"]["accepting_calls"] is False
    c = app.test_client()
    login(c, "admin")
    snap = c.get("/api/live/channels").get_json()["engine"]
    assert snap["overloaded"] is True and snap["rejected_overload"] == 7 and snap["ticks"] >= 3
    assert snap["ticks_late"] >= 0 and snap["tick_worst_ms"] > 0 and snap["writer_alarm"].startswith("spool")
    page = c.get("/live/channels").get_data(as_text=True)
    assert 'id="engine-health"' in page and "Late ticks" in page and "OVERLOAD" in page
    guard.overloaded = False
    writer.engine.dispose()
