"""Exports and query arguments: CSV cells never run as spreadsheet formulas; bad arguments give a clear 400."""
import csv
import datetime as dt
import io

import pytest
from web_fixtures import login, make_app

from trunkline.acd.queue_log import log_event
from trunkline.data import db
from trunkline.data.models import Cdr
from trunkline.webadmin.rows import export_cell

T = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
EVIL = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+9)*cmd|' /C calc'!A0",
        "\t=1+2", "\r=1+2", "=HYPERLINK(\"http://evil.example\",\"x\")"]


@pytest.fixture
def app(tmp_path):
    app, hub = make_app(tmp_path)
    with db.session_scope(hub.session_factory) as s:
        for i, v in enumerate(EVIL):
            s.add(Cdr(call_id=f"e{i}", start=T + dt.timedelta(minutes=i), caller=v, called=v, queue=v, agent=v,
                      outcome="answered", wait=5.0, talk=60.0, wrapup=1.0, ivr_path=v))
            t = (T + dt.timedelta(minutes=i)).timestamp()       # queue and agent names reach the report via
            log_event(s, t, "ENTERQUEUE", f"e{i}", v, "NONE", "", v)             # the queue_log
            log_event(s, t + 5, "CONNECT", f"e{i}", v, v, 5, v, 1)
    return app


def _client(app, user="admin"):
    c = app.test_client()
    login(c, user)
    return c


def _formula_cells(text):
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row if cell[:1] in ("=", "+", "-", "@", "\t",
                                                                                         "\r", "\n")]


def test_cdr_csv_neutralises_formulas(app):
    r = _client(app).get("/cdrs.csv")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert _formula_cells(text) == []
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert sorted(x["caller"] for x in rows) == sorted("'" + v for v in EVIL)
    assert {x["ivr_path"] for x in rows} == {"'" + v for v in EVIL}
    assert rows[0]["talk"] == "60.0"


def test_report_csv_neutralises_formulas(app):
    r = _client(app, "viewer").get("/reports.csv?from=2026-11-20&to=2026-11-21")
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and _formula_cells(text) == []
    names = {(x["kind"], x["name"]) for x in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert {("queue", "'" + v) for v in EVIL} <= names and {("agent", "'" + v) for v in EVIL} <= names


@pytest.mark.parametrize("url,word", [
    ("/cdrs?limit=abc", "limit"), ("/cdrs?limit=-1", "limit"), ("/cdrs?limit=1e9", "limit"),
    ("/cdrs?to=9999-12-31", "out of range"), ("/cdrs.csv?to=9999-12-31", "out of range"),
    ("/cdrs?from=yesterday", "not a date"), ("/cdrs.csv?from=2026-13-01", "not a date"),
    ("/reports?sl=abc", "sl"), ("/reports?sl=nan", "sl"), ("/reports?sl=-5", "sl"), ("/reports.csv?sl=abc", "sl"),
    ("/reports?to=9999-12-31", "out of range"), ("/reports.csv?to=9999-12-31", "out of range"),
    ("/reports?from=2026-02-30", "not a date"), ("/cti/supervisor/events?seconds=abc", "seconds"),
])
def test_bad_query_arguments_are_a_clear_400(app, url, word):
    r = _client(app).get(url)
    assert r.status_code == 400 and word in r.get_data(as_text=True), (url, r.status_code)


def test_good_query_arguments_still_work(app):
    c = _client(app)
    assert c.get("/cdrs?limit=5&from=2026-11-20&to=2026-11-20").status_code == 200
    assert c.get("/cdrs?limit=").status_code == 200
    assert c.get("/reports?sl=30&from=2026-11-20&to=9999-12-30").status_code == 200


def test_international_numbers_export_unchanged():
    assert export_cell("+8613800138000") == "+8613800138000" and export_cell("-5") == "-5"
    assert export_cell("+86 138") == "'+86 138" and export_cell("+1+cmd|' /C calc'!A0").startswith("'")
