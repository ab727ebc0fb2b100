"""Staff shifts in the web admin and schedule adherence on the supervisor console: the typed shift form
(field errors in Chinese, a queue or an agent, breaks inside the shift), the console's own adherence section
and its JSON (the supervisor's groups only; scheduled vs signed in vs ready, out of adherence flagged), and
the "who should be signed in now" API. Shifts are placed around the wall clock the web admin reads, in its
local zone (Asia/Shanghai), so the test holds at any hour (overnight shifts included)."""
import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from web_fixtures import csrf_of, login, make_app

from trunkline.acd.core import ACDCore
from trunkline.acd.models import AcdShift
from trunkline.acd.queues import QueueConfig
from trunkline.data.db import session_scope
from trunkline.data.models import User

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


BASE = [dt.datetime.now(ZoneInfo("Asia/Shanghai"))]


def hhmm(minutes_from_now):
    """Local HH:MM that many minutes from the test's start (one base: no minute turns over between calls)."""
    return (BASE[0] + dt.timedelta(minutes=minutes_from_now)).strftime("%H:%M")


def _site(tmp_path):
    app, hub = make_app(tmp_path)
    core = ACDCore(hub.session_factory, instance="t", clock=time.time)
    for q in ("billing", "sales", "support"):
        core.define_queue(QueueConfig(name=q))
    for a in ("1001", "1002", "1003", "2001"):
        core.define_agent({"id": a, "name": f"Agent {a}", "number": "5"})
    for a, q in (("1001", "billing"), ("1002", "billing"), ("1003", "billing"), ("2001", "sales"),
                 ("1001", "support"), ("1002", "support")):
        core.add_member(q, a)
    with session_scope(hub.session_factory) as s:
        s.scalars(select(User).where(User.username == "super")).one().queues = "billing"
    return app, hub, core


def test_shift_form_validates_and_saves(tmp_path):
    app, hub, _ = _site(tmp_path)
    c = app.test_client()
    login(c, "admin")
    page = c.get("/config/table/shifts").get_data(as_text=True)
    assert '<select name="group">' in page and 'name="breaks"' in page and 'value="12:00-13:00"' in page
    tok = csrf_of(page)
    bad = {"op": "create", "name": "day", "group": "billing", "agent": "1001", "weekdays": "mon-funday",
           "start": "9am", "end": "18:00", "breaks": "", "calendar": "", "enabled": "1", "csrf_token": tok}
    r = c.post("/config/table/shifts", data=bad, headers=ZH)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'id="error-start"' in html and 'id="error-weekdays"' in html
    assert "请输入时间 HH:MM" in html and "二者只选其一" in html
    r = c.post("/config/table/shifts", data=dict(bad, agent="", weekdays="mon-fri", start="09:00",
                                                 breaks="19:00-19:30"), headers=ZH)
    assert r.status_code == 400 and "休息时段须为班次内" in r.get_data(as_text=True)
    r = c.post("/config/table/shifts", data=dict(bad, agent="", weekdays="mon-fri", start="09:00",
                                                 breaks="12:00-13:00"))
    assert r.status_code == 302
    r = c.post("/api/config/shifts", json={"op": "create", "values": {
        "name": "night", "agent": "1003", "weekdays": "fri", "start": "22:00", "end": "06:00", "enabled": True}},
        headers={"X-CSRF-Token": tok})
    assert r.status_code == 200, r.get_data(as_text=True)
    with session_scope(hub.session_factory) as s:
        rows = {r.name: (r.group, r.agent, r.weekdays, r.start, r.end, r.breaks, r.enabled)
                for r in s.scalars(select(AcdShift))}
    assert rows == {"day": ("billing", "", "mon-fri", "09:00", "18:00", "12:00-13:00", 1),
                    "night": ("", "1003", "fri", "22:00", "06:00", "", 1)}
    assert "排班（班次）" in c.get("/config", headers=ZH).get_data(as_text=True)


def test_console_shows_adherence_of_my_groups(tmp_path):
    app, hub, core = _site(tmp_path)
    BASE[0] = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    with session_scope(hub.session_factory) as s:
        # support (1001, 1002) works around now (every day); 1002 also has a break now in a shift of its own
        s.add(AcdShift(name="now", group="support", agent="", weekdays="mon-sun", start=hhmm(-60),
                       end=hhmm(120), breaks="", calendar="", enabled=1))
        s.add(AcdShift(name="later", group="", agent="1003", weekdays="mon-sun", start=hhmm(180),
                       end=hhmm(240), breaks="", calendar="", enabled=1))
        s.add(AcdShift(name="sales", group="sales", agent="", weekdays="mon-sun", start=hhmm(-60),
                       end=hhmm(120), breaks="", calendar="", enabled=1))
    with session_scope(hub.session_factory) as s:
        s.add(AcdShift(name="lunch", group="", agent="1002", weekdays="mon-sun", start=hhmm(-30),
                       end=hhmm(60), breaks=f"{hhmm(-10)}-{hhmm(20)}", calendar="", enabled=1))
    core.login("1001")                  # working, ready: adherent
    core.login("1003")                  # off now (shift later), signed in: out of adherence
    # 1002: scheduled (working in "now", break in "lunch": working wins) but signed out: out of adherence
    sup = app.test_client()
    login(sup, "super")
    page = sup.get("/supervisor", headers=ZH).get_data(as_text=True)
    assert 'id="adherence"' in page and "adherence.js" in page and "排班遵守度" in page
    assert 'id="agents"' in page                                     # the console's own grid is still there
    d = sup.get("/supervisor/adherence").get_json()
    rows = {r["agent"]: r for r in d["agents"]}
    assert set(rows) == {"1001", "1002", "1003"}                     # billing only, not 2001 (sales)
    assert (rows["1001"]["scheduled"], rows["1001"]["ready"], rows["1001"]["adherent"]) == ("working", True, True)
    assert (rows["1002"]["scheduled"], rows["1002"]["signed_in"], rows["1002"]["adherent"]) == ("working", False,
                                                                                                False)
    assert (rows["1003"]["scheduled"], rows["1003"]["signed_in"], rows["1003"]["adherent"]) == ("off", True, False)
    assert rows["1001"]["until"] == hhmm(120) and d["out_of_adherence"] == 2 and d["problems"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", d["time"])
    assert sup.get("/api/acd/scheduled").get_json()["agents"] == ["1001", "1002", "2001"]
    viewer = app.test_client()
    login(viewer, "viewer")
    assert viewer.get("/supervisor/adherence").status_code == 403
    js = app.test_client().get("/static/adherence.js")
    assert js.status_code == 200 and b"out-of-adherence" in js.data
