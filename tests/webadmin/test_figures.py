"""One definition of the contact-centre figures (webadmin.figures over the queue_log): a known day driven through
the real ACDCore and checked against a hand count; the same figures on /reports, its CSV/XLSX and the wallboard;
a simulated hour (trunkline.app.acd_simulate) agrees with the simulator's own count."""
import csv
import datetime as dt
import io
import random
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool
from web_fixtures import login, make_app

from trunkline.acd.core import ACDCore
from trunkline.acd.models import create_tables
from trunkline.acd.queues import QueueConfig
from trunkline.app.acd_simulate import simulate
from trunkline.data import db
from trunkline.webadmin import figures, live

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 20)
BASE = dt.datetime(2026, 11, 20, 8, 0, tzinfo=SH).timestamp()      # 08:00 local = 00:00 UTC


def build_known_day(factory):
    """The scripted day (seconds after 08:00 Asia/Shanghai); hand counts in the test below."""
    core = ACDCore(factory, instance="t", clock=lambda: BASE, rng=random.Random(1))
    core.define_queue(QueueConfig(name="billing", wrapup=10.0, ring_timeout=15.0, reject_delay=5.0))
    core.define_queue(QueueConfig(name="sales", wrapup=0.0))
    for a in ("1001", "1002"):
        core.define_agent({"id": a, "number": "8" + a})
    core.add_member("billing", "1001")
    core.add_member("billing", "1002")
    core.add_member("sales", "1002")

    def t(x):
        return BASE + x

    def offer(now, agent):
        offers = core.dispatch(now=t(now))
        assert [o.agents for o in offers] == [[agent]], offers
        return offers[0].entry

    core.login("1001", now=t(0))
    core.login("1002", now=t(0))
    core.set_break("1002", "lunch", now=t(0))
    c1 = core.join("billing", "c1", caller_id="13800000001", now=t(100)).entry
    assert offer(100, "1001") == c1
    assert core.answered(c1, "1001", now=t(105))                       # wait 5
    core.complete(c1, now=t(165), by="caller")                         # talk 60, wrap-up 10
    core.tick(now=t(175))
    c2 = core.join("billing", "c2", caller_id="13800000002", now=t(200)).entry
    offer(200, "1001")
    core.missed(c2, "1001", now=t(230))                                # RINGNOANSWER, 5 s reject delay
    offer(240, "1001")
    assert core.answered(c2, "1001", now=t(245))                       # wait 45 (outside SL 20)
    core.complete(c2, now=t(365), by="agent")                          # talk 120
    core.tick(now=t(375))
    c3 = core.join("billing", "c3", now=t(300)).entry
    core.leave(c3, "abandon", now=t(303))                              # short abandon (3 s)
    c4 = core.join("billing", "c4", now=t(400)).entry
    core.leave(c4, "abandon", now=t(430))                              # abandon after 30 s
    core.ready("1002", now=t(1000))                                    # 1002 on break 0..1000
    core.set_break("1001", "training", now=t(3000))                    # 1001 on break 3000..4000
    c5 = core.join("billing", "c5", now=t(3600)).entry                 # 09:00 local
    offer(3600, "1002")
    assert core.answered(c5, "1002", now=t(3610))                      # wait 10
    c5b = core.transfer(c5, "blind", queue="sales", now=t(3700))       # talk 90, new leg in sales
    core.tick(now=t(3720))                                             # billing wrap-up 10 s over
    assert offer(3720, "1002") == c5b
    assert core.answered(c5b, "1002", now=t(3742))                     # wait 42 in sales
    core.complete(c5b, now=t(3802), by="caller")                       # talk 60, sales wrap-up 0
    core.ready("1001", now=t(4000))
    core.logout("1002", now=t(4050))
    c6 = core.join("sales", "c6", now=t(4100)).entry
    core.leave(c6, "empty", now=t(4101))                               # nobody signed in to sales
    core.logout("1001", now=t(5000))
    return core


BILLING = {"offered": 5, "answered": 3, "abandoned": 2, "short_abandoned": 1, "exited": 0, "transferred": 1,
           "service_level": 50.0,                       # c1, c5 within 20 s of (3 + 2 - 1)
           "asa": 20.0,                                 # (5 + 45 + 10) / 3
           "aht": 100.0,                                # (60 + 120 + 90 + 3 * 10) / 3
           "avg_talk": 90.0, "abandon_rate": 40.0, "max_wait": 45.0}
SALES = {"offered": 2, "answered": 1, "abandoned": 0, "short_abandoned": 0, "exited": 1, "transferred": 0,
         "service_level": 0.0, "asa": 42.0, "aht": 60.0, "avg_talk": 60.0, "abandon_rate": 0.0, "max_wait": 42.0}
OVERALL = {"offered": 7, "answered": 4, "abandoned": 2, "short_abandoned": 1, "exited": 1, "transferred": 1,
           "service_level": 33.3,                       # 2 / (4 + 2 + 1 - 1)
           "asa": 25.5,                                 # (5 + 45 + 10 + 42) / 4
           "aht": 90.0,                                 # (270 + 60 + 30) / 4
           "avg_talk": 82.5, "abandon_rate": 28.6, "max_wait": 45.0}
AGENT_1001 = {"answered": 2, "missed": 1, "transferred": 0, "talk": 180.0, "handle": 200.0, "aht": 100.0,
              "signed_in": 5000.0, "on_break": 1000.0, "occupancy": 5.0}           # 200 / 4000
AGENT_1002 = {"answered": 2, "missed": 0, "transferred": 1, "talk": 150.0, "handle": 160.0, "aht": 80.0,
              "signed_in": 4050.0, "on_break": 1000.0, "occupancy": 5.2}           # 160 / 3050


def test_known_day_every_figure_against_the_hand_count(tmp_path):
    eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    create_tables(eng)
    factory = db.make_session_factory(eng)
    build_known_day(factory)
    a, b = figures.day_bounds(DAY, SH)
    with db.session_scope(factory) as s:
        f = figures.compute(s, a, b, sl_seconds=20.0, tz=SH)
    assert f["queues"]["billing"] == BILLING
    assert f["queues"]["sales"] == SALES
    assert f["overall"] == OVERALL
    assert f["agents"]["1001"] == AGENT_1001
    assert f["agents"]["1002"] == AGENT_1002
    hours = {h: v for h, v in enumerate(f["by_hour"]) if v["offered"]}
    assert hours == {8: {"offered": 4, "answered": 2, "abandoned": 2}, 9: {"offered": 3, "answered": 2, "abandoned": 0}}
    # the day before and after hold nothing; a UTC day would split nothing either (08:00-09:25 local)
    with db.session_scope(factory) as s:
        prev = figures.compute(s, *figures.day_bounds(DAY - dt.timedelta(days=1), SH), tz=SH)
    assert prev["overall"]["offered"] == 0 and prev["agents"] == {}


def _rows(csv_text):
    assert csv_text.startswith("\ufeff"), "CSV for Excel starts with a UTF-8 BOM"
    return {(r["kind"], r["name"]): r for r in csv.DictReader(io.StringIO(csv_text[1:]))}


def test_reports_csv_xlsx_and_wallboard_show_the_same_figures(tmp_path):
    app, hub = make_app(tmp_path, TIMEZONE="Asia/Shanghai")
    build_known_day(hub.session_factory)
    c = app.test_client()
    login(c, "viewer")
    page = c.get("/reports?from=2026-11-20&to=2026-11-20")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "billing" in html and "Asia/Shanghai" in html
    r = c.get("/reports.csv?from=2026-11-20&to=2026-11-20")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = _rows(r.data.decode("utf-8"))
    for k, v in BILLING.items():
        assert float(rows[("queue", "billing")][k]) == v, k
    for k, v in AGENT_1002.items():
        assert float(rows[("agent", "1002")][k]) == v, k
    assert rows[("hour", "08")]["offered"] == "4" and rows[("hour", "09")]["offered"] == "3"
    x = c.get("/reports.xlsx?from=2026-11-20&to=2026-11-20")
    assert x.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(x.data))
    qs = wb[wb.sheetnames[0]]
    header = [cell.value for cell in qs[1]]
    billing = next(r for r in qs.iter_rows(min_row=2, values_only=True) if r[0] == "billing")
    assert billing[header.index("Answered")] == 3 and billing[header.index("ASA s")] == 20.0
    # the wallboard's "today" for the same local day is the same computation
    with app.app_context():
        today = live.today_stats(now=dt.datetime(2026, 11, 20, 23, 0, tzinfo=SH))
    assert today["queues"]["billing"] == BILLING and today["overall"] == OVERALL


def test_simulated_hour_agrees_with_the_simulator_count():
    eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    create_tables(eng)
    factory = db.make_session_factory(eng)
    r = simulate(calls=40, agents=3, duration=900.0, aht=50.0, wrapup=5.0, patience=60.0, no_answer=0.0,
                 seed=4, session_factory=factory)
    with db.session_scope(factory) as s:
        f = figures.compute(s, 0.0, r.duration + 1.0, sl_seconds=r.sl_seconds, short_abandon=0.0, now=r.duration)
    o = f["overall"]
    print(f"\nsimulator: {r.line()}\nfigures:   {o}")
    assert o["offered"] == r.calls and o["answered"] == r.answered and o["abandoned"] == r.abandoned
    assert o["asa"] == pytest.approx(r.asa, abs=0.06)
    assert o["service_level"] == pytest.approx(100 * r.service_level, abs=0.06)
    assert o["abandon_rate"] == pytest.approx(100 * r.abandon_rate, abs=0.06)
    handle = sum(a["handle"] for a in f["agents"].values())
    avail = sum(a["signed_in"] - a["on_break"] for a in f["agents"].values())
    assert handle / avail == pytest.approx(r.occupancy, abs=0.002)
