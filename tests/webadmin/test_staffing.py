"""The Erlang C staffing page end to end on a known day of traffic written to the queue log (Asia/Shanghai):
calls per half hour and AHT observed through webadmin.figures, the proposal per interval equal to an
independent exact Erlang C search, the agents the staff shifts have working beside it, the assumptions shown
(in Chinese too), the CSV export with BOM, and clear 400s for bad inputs."""
import csv
import datetime as dt
import io
import math
from fractions import Fraction
from zoneinfo import ZoneInfo

from web_fixtures import login, make_app

from trunkline.acd.models import AcdAgent, AcdMember, AcdQueue, AcdShift
from trunkline.acd.queue_log import log_event
from trunkline.data.db import session_scope

SH = ZoneInfo("Asia/Shanghai")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
#: local start of a half hour -> (queue, calls, talk seconds each)
TRAFFIC = {"09:00": ("billing", 100, 180.0), "10:30": ("billing", 40, 240.0), "09:30": ("sales", 30, 100.0)}


def exact_agents(calls, aht, sl=0.8, t=20.0, interval=1800.0):
    """Least N with 1 - C(N, A) e^{-(N-A) t/AHT} >= sl, C from factorials in rational arithmetic."""
    a = Fraction(calls * aht / interval).limit_denominator(10 ** 6)
    n = math.floor(a) + 1
    while True:
        top = a ** n / math.factorial(n) * n / (n - a)
        c = float(top / (sum(a ** k / math.factorial(k) for k in range(n)) + top))
        if 1 - c * math.exp(-(n - float(a)) * t / aht) >= sl:
            return n
        n += 1


def _site(tmp_path):
    app, hub = make_app(tmp_path)
    with session_scope(hub.session_factory) as s:
        s.add(AcdQueue(name="billing", strategy="ring-all", options={}))
        s.add_all([AcdAgent(id="1001"), AcdAgent(id="1002"), AcdAgent(id="2001")])
        s.flush()
        s.add_all([AcdMember(queue="billing", agent="1001"), AcdMember(queue="billing", agent="1002")])
        s.add(AcdShift(name="morning", group="billing", agent="", weekdays="mon-sun", start="09:00", end="10:00",
                       breaks="09:40-09:50", calendar="", enabled=1))
        s.add(AcdShift(name="other", group="", agent="2001", weekdays="mon-sun", start="09:00", end="10:00",
                       breaks="", calendar="", enabled=1))
        for start, (queue, calls, talk) in TRAFFIC.items():
            t0 = dt.datetime.fromisoformat(f"2026-09-30 {start}").replace(tzinfo=SH).timestamp()
            for i in range(calls):
                t, cid = t0 + i * 1700.0 / calls, f"{queue}-{start}-{i}"
                log_event(s, t, "ENTERQUEUE", cid, queue, "NONE", "", "1", "13800138000")
                log_event(s, t + 5, "CONNECT", cid, queue, "1001", "5", cid, "2")
                log_event(s, t + 5 + talk, "COMPLETECALLER", cid, queue, "1001", "5", str(talk), "1")
        # the day before: calls nobody answered (no AHT to observe)
        t0 = dt.datetime(2026, 9, 29, 9, 0, tzinfo=SH).timestamp()
        for i in range(5):
            log_event(s, t0 + i, "ENTERQUEUE", f"x{i}", "billing", "NONE", "", "1", "139")
            log_event(s, t0 + i + 30, "ABANDON", f"x{i}", "billing", "NONE", "1", "1", "30")
    c = app.test_client()
    login(c, "viewer")
    return c


def test_staffing_page_and_csv_on_a_known_day(tmp_path):
    c = _site(tmp_path)
    q = "day=2026-09-30&queue=billing&sl=80&sl_seconds=20&max_occupancy=100&shrinkage=30"
    html = c.get(f"/reports/staffing?{q}").get_data(as_text=True)
    assert 'id="staffing-assumptions"' in html and "Patience is ignored" in html and "Erlang C" in html
    assert 'data-interval="09:00"' in html and 'data-interval="10:30"' in html
    assert 'data-interval="09:30"' not in html                        # sales traffic is not billing's
    r = c.get(f"/reports/staffing.csv?{q}")
    assert r.status_code == 200 and r.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert rows[0] == ["interval", "calls", "aht", "traffic", "agents", "scheduled", "service_level", "asa",
                       "occupancy", "on_shift", "gap"]
    by = {row[0]: row for row in rows[1:49]}
    assert len(by) == 48 and by["00:00"][1] == "0"
    aht = (100 * 180 + 40 * 240) / 140                                  # the day's AHT (talk, no wrap-up)
    for start, calls in (("09:00", 100), ("10:30", 40)):
        row = by[start]
        assert int(row[1]) == calls and float(row[2]) == round(aht, 1)
        n = exact_agents(calls, aht)
        assert int(row[4]) == n and int(row[5]) == math.ceil(n / 0.7), (start, row)
        assert float(row[6]) >= 80.0
    # the staff shifts beside the proposal: billing's two agents work 09:00-10:00 with a break 09:40-09:50
    assert (by["09:00"][9:], by["09:30"][9], by["10:30"][9]) == (["2", str(2 - exact_agents(100, aht))], "0", "0")
    assert ["day", "2026-09-30", "zone", "Asia/Shanghai", "queue", "billing"] == rows[50][:6]
    # the textbook case through the page: 100 calls, AHT 180 s given, 80/20 -> 14 agents
    r = c.get("/reports/staffing.csv?day=2026-09-30&queue=billing&aht=180&max_occupancy=100&shrinkage=0")
    nine = next(row for row in csv.reader(io.StringIO(r.data.decode("utf-8-sig"))) if row[0] == "09:00")
    assert nine[1:6] == ["100", "180.0", "10.0", "14", "14"] and nine[6] == "88.8"
    zh = c.get(f"/reports/staffing?{q}", headers=ZH).get_data(as_text=True)
    assert "人员配置计算" in zh and "忽略" in zh


def test_bad_inputs_are_clear_400s(tmp_path):
    c = _site(tmp_path)
    assert c.get("/reports/staffing?day=2026-09-30&sl=abc").status_code == 400
    assert c.get("/reports/staffing?day=2026-09-30&shrinkage=95").status_code == 400
    assert c.get("/reports/staffing?day=not-a-day").status_code == 400
    r = c.get("/reports/staffing?day=2026-09-29&queue=billing")
    assert r.status_code == 400 and "handle time" in r.get_data(as_text=True)
    r = c.get("/reports/staffing?day=2026-09-29&queue=billing&aht=200")
    assert r.status_code == 200 and 'data-interval="09:00"' in r.get_data(as_text=True)
    assert c.get("/reports/staffing?day=2026-09-28").status_code == 200       # a day without calls
