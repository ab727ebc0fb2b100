"""Web admin pages through the Flask test client: CDR search/CSV, reports figures, recordings with
range requests, fax page images, flow editor validation, prompt upload, SSE live stream."""
import csv
import datetime as dt
import io
import json
import subprocess
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from sqlalchemy import select
from web_fixtures import FixtureEngine, csrf_of, login, make_app

from trunkline.acd.queue_log import log_event
from trunkline.data import db
from trunkline.data.db import find_model
from trunkline.data.models import AuditLog, Cdr, Fax, Recording

T = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def app_hub(tmp_path):
    return make_app(tmp_path, engine=FixtureEngine())


def _client(app, user="admin"):
    c = app.test_client()
    login(c, user)
    return c


def _seed_cdrs(f):
    # queue "billing": 4 offered: 3 answered (waits 5, 15, 40; talk 60, 120, 180; wrapup 10 each), 1 abandoned
    rows = [
        dict(call_id="a1", start=T, caller="13800000001", called="95555", queue="billing", agent="1001",
             outcome="answered", wait=5.0, talk=60.0, wrapup=10.0, survey_score=5),
        dict(call_id="a2", start=T + dt.timedelta(minutes=10), caller="13800000002", called="95555", queue="billing",
             agent="1002", outcome="answered", wait=15.0, talk=120.0, wrapup=10.0, survey_score=3),
        dict(call_id="a3", start=T + dt.timedelta(hours=1), caller="13900000003", called="95555", queue="billing",
             agent="1001", outcome="answered", wait=40.0, talk=180.0, wrapup=10.0),
        dict(call_id="a4", start=T + dt.timedelta(hours=1, minutes=5), caller="13900000004", called="95555",
             queue="billing", outcome="abandoned", wait=30.0),
        dict(call_id="o1", start=T + dt.timedelta(days=1), caller="95555", called="02112345678", direction="out",
             outcome="answered"),
    ]
    with db.session_scope(f) as s:
        for r in rows:
            s.add(Cdr(**r))


def test_cdr_search_filters_and_csv(app_hub):
    app, hub = app_hub
    _seed_cdrs(hub.session_factory)
    c = _client(app)
    page = c.get("/cdrs?number=139").get_data(as_text=True)
    assert "13900000003" in page and "13900000004" in page and "13800000001" not in page
    page = c.get("/cdrs?agent=1001").get_data(as_text=True)
    assert page.count("<tr><td>2026") == 2
    page = c.get("/cdrs?from=2026-11-21&to=2026-11-21").get_data(as_text=True)
    assert "02112345678" in page and "13800000001" not in page
    assert c.get("/cdrs?from=yesterday").status_code == 400
    r = c.get("/cdrs.csv?queue=billing&outcome=answered")
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert r.mimetype == "text/csv" and sorted(x["call_id"] for x in rows) == ["a1", "a2", "a3"]
    assert {x["agent"] for x in rows} == {"1001", "1002"} and rows[0]["talk"]


def test_report_surveys_and_call_counts_come_from_the_cdrs(app_hub):
    # queue figures come from the queue_log (tests/webadmin/test_figures.py); the CDRs give the survey scores
    # and the calls per local day (TIMEZONE Asia/Shanghai: 09:00 UTC is 17:00 local, same day)
    app, hub = app_hub
    _seed_cdrs(hub.session_factory)
    c = _client(app, "viewer")
    r = c.get("/reports.csv?from=2026-11-20&to=2026-11-21&sl=20")
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = {(x["kind"], x["name"]): x for x in csv.DictReader(io.StringIO(text[1:]))}
    q = rows[("queue", "billing")]
    assert float(q["survey"]) == 4.0 and q["surveys"] == "2"
    assert rows[("agent", "1001")]["survey"] == "5.0" and rows[("agent", "1002")]["survey"] == "3.0"
    assert rows[("day", "2026-11-20")]["calls"] == "4" and rows[("day", "2026-11-21")]["calls"] == "1"
    page = c.get("/reports?from=2026-11-20&to=2026-11-21").get_data(as_text=True)
    assert page.count("<svg") == 2 and "<rect" in page and "inbound 4, outbound 1" in page


def test_recording_plays_with_range_requests(app_hub, tmp_path):
    app, hub = app_hub
    path = f"{hub.recordings_dir}/r1.wav"
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(16000) / 8000)).astype(np.int16)
    sf.write(path, tone, 8000, subtype="PCM_16")
    size = len(open(path, "rb").read())
    with db.session_scope(hub.session_factory) as s:
        s.add(Recording(id=1, call_id="a1", path=path, seconds=2.0, bytes=size, caller="138"))
        s.add(Recording(id=2, call_id="x", path="/etc/passwd", seconds=0))
    c = _client(app, "super")
    assert 'id="rec-1"' in c.get("/recordings").get_data(as_text=True)
    r = c.get("/recordings/1/audio", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert r.data == open(path, "rb").read()[100:200] and r.mimetype == "audio/wav"
    full = c.get("/recordings/1/audio")
    assert full.status_code == 200 and full.headers["Accept-Ranges"] == "bytes" and len(full.data) == size
    assert c.get("/recordings/2/audio").status_code == 404  # outside the media directories
    assert _client(app, "viewer").get("/recordings/1/audio").status_code == 403
    with db.session_scope(hub.session_factory) as s:
        assert s.scalars(select(AuditLog).where(AuditLog.action == "listen_recording")).first().username == "super"


def test_fax_pages_rendered_as_png(app_hub, tmp_path):
    app, hub = app_hub
    import os
    os.makedirs(hub.fax_dir, exist_ok=True)
    path = f"{hub.fax_dir}/in1.tif"
    pages = []
    for k in range(2):
        im = Image.new("1", (1728, 1100), 1)
        px = im.load()
        for y in range(100 + 400 * k, 200 + 400 * k):  # a black band at a page-specific place
            for x in range(0, 1728, 1):
                px[x, y] = 0
        pages.append(im)
    pages[0].save(path, compression="group4", save_all=True, append_images=pages[1:], dpi=(204, 98))
    # libtiff's own reader agrees on the page count
    info = subprocess.run(["tiffinfo", path], capture_output=True, text=True).stdout
    assert info.count("Image Width: 1728") == 2
    with db.session_scope(hub.session_factory) as s:
        s.add(Fax(id=1, direction="in", number="0211234", remote_ident="+86 21 1234", path=path, pages=2,
                  bit_rate=14400, ok=True))
    c = _client(app, "viewer")
    assert "Page 2" in c.get("/faxes/1").get_data(as_text=True)
    r = c.get("/faxes/1/page/2.png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    png = Image.open(io.BytesIO(r.data))
    w, h = png.size
    assert w == 1000 and abs(h - round(1100 * 204 / 98 * 1000 / 1728)) <= 1  # square pixels
    col = np.asarray(png.convert("L"))[:, 500]
    dark = np.nonzero(col < 128)[0]
    scale = h / 1100
    assert abs(dark.min() - 500 * scale) < 3 and abs(dark.max() - 600 * scale) < 3  # page 2's band
    assert c.get("/faxes/1/page/3.png").status_code == 404


GOOD_FLOW = """\
name: webtest
language: en
prompts:
  hi: {en: Hello}
nodes:
  start: {type: play, prompt: hi, next: bye}
  bye: {type: hangup}
"""


def test_flow_editor_shows_errors_and_saves_only_valid(app_hub):
    app, hub = app_hub
    Flow = find_model("ivr_flows")
    c = _client(app, "super")
    tok = csrf_of(c.get("/config/flows/edit").get_data(as_text=True))
    bad = GOOD_FLOW.replace("next: bye", "next: byee")
    r = c.post("/config/flows/edit", data={"name": "webtest", "source": bad, "csrf_token": tok})
    page = r.get_data(as_text=True)
    print(page[page.find('id="flow-errors"'):][:300])
    assert r.status_code == 422 and "line 6" in page and "byee" in page
    with db.session_scope(hub.session_factory) as s:
        assert s.scalars(select(Flow)).all() == []
    r = c.post("/config/flows/edit", data={"name": "webtest", "source": GOOD_FLOW, "csrf_token": tok})
    assert r.status_code == 200 and "version 1" in r.get_data(as_text=True)
    with db.session_scope(hub.session_factory) as s:
        row = s.scalars(select(Flow)).one()
        assert row.name == "webtest" and row.created_by == "super" and row.source == GOOD_FLOW
    assert "webtest" in c.get("/config/flows").get_data(as_text=True)
    assert "type: hangup" in c.get("/config/flows/edit?name=webtest").get_data(as_text=True)


def test_prompt_upload_converts_to_8k(app_hub, tmp_path):
    app, hub = app_hub
    src = tmp_path / "hello.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "2", str(src), "synth", "0.5", "sine", "300"], check=True)
    c = _client(app)
    tok = csrf_of(c.get("/config/prompts").get_data(as_text=True))
    r = c.post("/config/prompts", data={"name": "greet", "lang": "en", "csrf_token": tok,
                                        "file": (open(src, "rb"), "hello.wav")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    P = find_model("ivr_prompts")
    with db.session_scope(hub.session_factory) as s:
        p = s.scalars(select(P)).one()
        info = sf.info(p.path)
    assert info.samplerate == 8000 and info.channels == 1 and abs(info.duration - 0.5) < 0.01
    r = c.post("/config/prompts", data={"name": "bad", "lang": "en", "csrf_token": tok,
                                        "file": (io.BytesIO(b"not audio"), "x.wav")},
               content_type="multipart/form-data")
    assert r.status_code == 400 and b"cannot read audio" in r.data


def test_sse_stream_pushes_a_new_call(app_hub):
    app, hub = app_hub
    c = _client(app, "viewer")
    r = c.get("/live/stream/channels", buffered=False)
    assert r.mimetype == "text/event-stream"
    it = r.response

    def next_event():
        buf = ""
        while "\n\n" not in buf or not buf.strip().startswith(("event", ":", "retry")):
            buf += next(it).decode()
        return buf

    first = ""
    while "event: channels" not in first:
        first = next_event()
    d = json.loads(first.split("data: ", 1)[1])
    assert d["busy"] == 0 and d["total"] == 4
    hub.engine.call(2, "13800138000", "95555", "call-xyz")
    nxt = ""
    while "event: channels" not in nxt:
        nxt = next_event()
    d = json.loads(nxt.split("data: ", 1)[1])
    ch = [x for x in d["channels"] if x["channel"] == 2][0]
    assert d["busy"] == 1 and ch["caller"] == "13800138000" and ch["call_id"] == "call-xyz" and ch["state"] == "up"
    r.close()


def test_agents_and_wallboard_from_the_acd_tables(app_hub):
    """Without a live ACD object the live pages read the ACD's tables; today's figures (local day of the TIMEZONE
    setting, Asia/Shanghai by default) come from the queue_log through webadmin.figures."""
    app, hub = app_hub
    Q, A, M, E = (find_model(t) for t in ("acd_queues", "acd_agents", "acd_members", "acd_entries"))
    hub.engine.now = 1000.0
    sh = ZoneInfo("Asia/Shanghai")
    t0 = dt.datetime.combine(dt.datetime.now(sh).date(), dt.time(0), tzinfo=sh).timestamp() + 60
    with db.session_scope(hub.session_factory) as s:
        s.add(Q(name="billing", strategy="ring-all", options={"wrapup": 20}))
        s.add_all([A(id="1001", name="Li", state="available", state_since=940.0, calls_taken=7),
                   A(id="1002", name="Wang", state="busy", state_since=990.0, calls_taken=3)])
        s.flush()
        s.add_all([M(queue="billing", agent="1001"), M(queue="billing", agent="1002")])
        s.add_all([E(queue="billing", call_id="w1", state="waiting", queue_since=955.0),
                   E(queue="billing", call_id="w2", state="waiting", queue_since=990.0)])
        log_event(s, t0, "ENTERQUEUE", "t1", "billing", "NONE", "", "138")
        log_event(s, t0 + 10, "CONNECT", "t1", "billing", "1001", 10, "1001", 2)
        log_event(s, t0 + 110, "COMPLETECALLER", "t1", "billing", "1001", 10, 100, 1)
        log_event(s, t0 + 100, "ENTERQUEUE", "t2", "billing", "NONE", "", "139")
        log_event(s, t0 + 150, "ABANDON", "t2", "billing", "NONE", 1, 1, 50)
    c = _client(app, "viewer")
    ag = {a["id"]: a for a in c.get("/api/live/agents").get_json()["agents"]}
    assert ag["1001"]["state"] == "available" and ag["1001"]["in_state"] == 60.0 and ag["1001"]["calls"] == 7
    w = c.get("/api/live/queues").get_json()
    q = w["queues"][0]
    assert (q["name"], q["waiting"], q["longest_wait"], q["available"]) == ("billing", 2, 45.0, 1)
    t = w["today"]
    assert (t["offered"], t["answered"], t["abandoned"]) == (2, 1, 1)
    assert t["aht"] == 120.0 and t["avg_talk"] == 100.0 and t["asa"] == 10.0
    assert (q["offered"], q["answered"], q["service_level"]) == (2, 1, 50.0)
    assert t["service_level"] == 50.0 and t["abandon_rate"] == 50.0 and sum(t["per_hour"]) == 2
