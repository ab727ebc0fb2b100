"""Web admin messaging: SMS page + send form end to end through the real SmsService on the pty GSM modem
simulator, campaigns page pause/resume/stop on a real Campaign, the agent's send-memo button, access rules."""

import pytest
from acd_rig import billing_core
from chrome import login_form, start_chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select
from web_fixtures import csrf_of, login, make_app

from trunkline.acd.models import create_tables
from trunkline.data.db import session_scope
from trunkline.data.models import AuditLog, Sms, User
from trunkline.drivers.serial.sms_service import SmsService
from trunkline.ivr.campaign import Campaign
from trunkline.pstn.gsm_modem import GsmModemSim
from trunkline.webadmin import serve


@pytest.fixture
def modem():
    m = GsmModemSim().start()
    yield m
    m.close()


@pytest.fixture
def app_hub(tmp_path):
    return make_app(tmp_path)


def client(app, user="admin"):
    c = app.test_client()
    login(c, user)
    return c


def token(c, path="/sms"):
    return csrf_of(c.get(path).get_data(as_text=True))


def sms_rows(factory):
    with session_scope(factory) as s:
        return [(r.direction, r.number, r.text, r.status) for r in s.scalars(select(Sms).order_by(Sms.id))]


def audits(factory, action):
    with session_scope(factory) as s:
        return [(a.username, a.target, a.detail) for a in s.scalars(select(AuditLog).where(AuditLog.action == action))]


def test_send_form_queues_and_modem_submits_and_incoming_shows(app_hub, modem):
    app, hub = app_hub
    svc = SmsService(hub.session_factory, modem.path, modem_timeout=2)
    hub.sms = svc
    try:
        c = client(app, "super")
        r = c.post("/sms", data={"number": "+8613800138000", "text": "您的账单已出，请按时缴费",
                                 "csrf_token": token(c)})
        assert r.status_code == 302
        page = c.get(r.headers["Location"]).get_data(as_text=True)
        assert "queued." in page and "您的账单已出，请按时缴费" in page
        assert sms_rows(hub.session_factory) == [("out", "+8613800138000", "您的账单已出，请按时缴费", "queued")]
        assert modem.submitted == []
        res = svc.pump(poll_timeout=0.3)
        assert res["sent"] == 1
        assert [(s.number, s.text) for s in modem.submitted] == [("+8613800138000", "您的账单已出，请按时缴费")]
        # the simulator's status report arrives: the row is delivered, the page says so
        st = sms_rows(hub.session_factory)[0][3]
        assert st in ("sent", "delivered")
        # an incoming message from the network shows on the page after the service pumps
        modem.deliver("+4917099999999", "Call me back please")
        for _ in range(10):
            if svc.pump(poll_timeout=0.3)["received"]:
                break
        page = c.get("/sms?direction=in").get_data(as_text=True)
        assert "+4917099999999" in page and "Call me back please" in page and "incoming" in page
        assert "您的账单已出" not in page        # filtered to incoming
        assert audits(hub.session_factory, "sms_send")[0][:2] == ("super", "+8613800138000")
    finally:
        svc.close()


def test_send_errors_are_clear_and_store_nothing(app_hub, modem):
    app, hub = app_hub
    c = client(app)
    r = c.post("/sms", data={"number": "+8613800138000", "text": "hello", "csrf_token": token(c)})
    assert r.status_code == 503 and "No SMS service is configured" in r.get_data(as_text=True)
    hub.sms = SmsService(hub.session_factory, modem.path, modem_timeout=2)
    r = c.post("/sms", data={"number": "+86-138 abc", "text": "hello", "csrf_token": token(c)})
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and "bad phone number" in body and 'value="+86-138 abc"' in body
    r = c.post("/sms", data={"number": "+8613800138000", "text": "   ", "csrf_token": token(c)})
    assert r.status_code == 400 and "empty" in r.get_data(as_text=True)
    assert sms_rows(hub.session_factory) == []


def test_sms_access_rules(app_hub, modem):
    app, hub = app_hub
    hub.sms = SmsService(hub.session_factory, modem.path, modem_timeout=2)
    v = client(app, "viewer")
    page = v.get("/sms")
    assert page.status_code == 200 and 'id="sms-send"' not in page.get_data(as_text=True)
    r = v.post("/sms", data={"number": "+8613800138000", "text": "x", "csrf_token": token(v)})
    assert r.status_code == 403
    assert client(app, "agent").get("/sms").status_code == 403
    a = client(app)
    r = a.post("/sms", data={"number": "+8613800138000", "text": "x"})          # no CSRF token
    assert r.status_code == 400
    assert sms_rows(hub.session_factory) == []
    assert app.test_client().get("/sms").status_code == 302                     # not logged in -> login


def test_campaign_pause_resume_stop_through_the_page(app_hub):
    app, hub = app_hub
    camp = Campaign(None, "reminders", [{"number": "13800000001", "name": "Li"}, "13800000002", "13800000003"],
                    dnc=["13800000003"])
    camp.state = "running"            # as Campaign.run() sets it; the dialling loop itself is not needed here
    camp.contacts[2].state, camp.contacts[2].outcome = "done", "dnc"
    hub.campaigns = {"reminders": camp}
    c = client(app, "super")
    page = c.get("/campaigns").get_data(as_text=True)
    assert 'data-campaign="reminders"' in page and "campaigns.js" in page
    live = c.get("/api/campaigns").get_json()
    assert live["reminders"]["state"] == "running" and live["reminders"]["total"] == 3
    assert live["reminders"]["done"] == 1 and live["reminders"]["dnc"] == 1 and live["reminders"]["pending"] == 2
    tok = token(c, "/campaigns")
    r = c.post("/campaigns/reminders/pause", data={"csrf_token": tok})
    assert r.status_code == 302 and camp.state == "paused"
    assert c.get("/api/campaigns").get_json()["reminders"]["state"] == "paused"
    # pausing a paused campaign is refused with a reason, not silently accepted
    r = c.post("/campaigns/reminders/pause", headers={"X-CSRF-Token": tok, "Accept": "application/json"})
    assert r.status_code == 409 and "applies to a running campaign" in r.get_json()["error"]
    r = c.post("/campaigns/reminders/resume", data={"csrf_token": tok})
    assert camp.state == "running"
    r = c.post("/campaigns/reminders/stop", data={"csrf_token": tok}, follow_redirects=True)
    assert camp.state == "stopped" and "running -&gt; stopped" in r.get_data(as_text=True)
    r = c.post("/campaigns/reminders/resume", data={"csrf_token": tok}, follow_redirects=True)
    assert camp.state == "stopped" and "resume applies to a paused campaign" in r.get_data(as_text=True)
    assert c.post("/campaigns/nosuch/pause", data={"csrf_token": tok}).status_code == 404
    assert [(u, t, d) for u, t, d in audits(hub.session_factory, "campaign_pause")] == \
        [("super", "reminders", "running -> paused")]
    assert audits(hub.session_factory, "campaign_stop")[0][2] == "running -> stopped"


def test_campaign_control_refused_for_viewer_and_without_csrf(app_hub):
    app, hub = app_hub
    camp = Campaign(None, "survey", ["13800000001"])
    camp.state = "running"
    hub.campaigns = {"survey": camp}
    v = client(app, "viewer")
    page = v.get("/campaigns").get_data(as_text=True)
    assert 'data-campaign="survey"' in page and "/campaigns/survey/stop" not in page   # sees, no buttons
    assert v.post("/campaigns/survey/stop", data={"csrf_token": token(v, "/campaigns")}).status_code == 403
    a = client(app)
    assert a.post("/campaigns/survey/stop").status_code == 400                    # no CSRF token
    assert camp.state == "running"
    idle = Campaign(None, "later", ["13800000009"])
    hub.campaigns["later"] = idle
    r = a.post("/campaigns/later/stop", headers={"X-CSRF-Token": token(a, "/campaigns"), "Accept": "application/json"})
    assert r.status_code == 409 and "has not started" in r.get_json()["error"] and idle.state == "idle"
    assert client(app, "agent").get("/api/campaigns").status_code == 403


def test_agent_send_memo_to_caller_of_current_then_last_call(app_hub, modem):
    app, hub = app_hub
    sf = hub.session_factory
    c = client(app, "agent")
    with session_scope(sf) as s:
        s.scalars(select(User).where(User.username == "agent")).one().agent_id = "1001"
    create_tables(sf.kw["bind"])
    clock = [100.0]
    core = billing_core(sf, clock)
    page = c.get("/cti/agent/1001", follow_redirects=True).get_data(as_text=True)   # the agent's workbench
    assert 'id="memo-send"' in page and "/cti/agent/1001/memo" in page
    tok = csrf_of(page)
    url = "/cti/agent/1001/memo"
    r = c.post(url, json={"text": "x"}, headers={"X-CSRF-Token": tok})
    assert r.status_code == 409 and "no current or last call" in r.get_json()["error"]
    e = core.join("billing", "call-1", "13800138000", called="4008001234").entry
    clock[0] += 3
    assert core.dispatch()[0].agents == ["1001"]
    core.answered(e, "1001")
    r = c.post(url, json={"text": "x"}, headers={"X-CSRF-Token": tok})
    assert r.status_code == 503 and "No SMS service" in r.get_json()["error"]
    svc = SmsService(sf, modem.path, modem_timeout=2)
    hub.sms = svc
    try:
        assert c.post(url, json={"text": "memo"}).status_code == 400                # no CSRF token
        r = c.post(url, json={"text": "工单号 4711，明天回访"}, headers={"X-CSRF-Token": tok})
        assert r.status_code == 200 and r.get_json()["number"] == "13800138000"
        assert r.get_json()["call_id"] == "call-1"
        clock[0] += 60
        core.complete(e)                                          # the call ends: the memo goes to the last caller
        r = c.post(url, json={"text": "second memo"}, headers={"X-CSRF-Token": tok})
        assert r.status_code == 200 and r.get_json()["number"] == "13800138000"
        # another agent's memo endpoint is not reachable by this agent login
        assert c.post("/cti/agent/1002/memo", json={"text": "x"}, headers={"X-CSRF-Token": tok}).status_code == 403
        assert svc.pump(poll_timeout=0.3)["sent"] == 2
        assert [(s.number, s.text) for s in modem.submitted] == [("13800138000", "工单号 4711，明天回访"),
                                                                 ("13800138000", "second memo")]
        assert [a[1] for a in audits(sf, "sms_memo")] == ["13800138000", "13800138000"]
    finally:
        svc.close()


def test_browser_campaign_counters_refresh_and_memo_button(tmp_path, modem):
    """Headless Chromium under the web admin's CSP: campaigns.js updates the counters without a reload, the
    Pause button pauses, and the agent page's Send memo button queues an SMS to the caller."""
    app, hub = make_app(tmp_path)
    sf = hub.session_factory
    camp = Campaign(None, "survey", ["13800000001", "13800000002"])
    camp.state = "running"
    hub.campaigns = {"survey": camp}
    hub.sms = svc = SmsService(sf, modem.path, modem_timeout=2)
    create_tables(sf.kw["bind"])
    core = billing_core(sf, [100.0], agents=("1001",))
    e = core.join("billing", "call-9", "13911112222").entry
    core.dispatch()
    core.answered(e, "1001")
    stopper = serve(app, host="127.0.0.1", port=0, threads=8)
    base = f"http://127.0.0.1:{stopper.port}"
    b = start_chrome()
    try:
        login_form(b, base, "super")
        WebDriverWait(b, 10).until(lambda d: "/supervisor" in d.current_url)     # a supervisor's landing page
        assert "Campaigns" in b.find_element(By.TAG_NAME, "nav").text
        b.get(base + "/campaigns")
        cell = 'tr[data-campaign="survey"] td[data-key="{}"]'
        assert b.find_element(By.CSS_SELECTOR, cell.format("done")).text == "0"
        camp.contacts[0].state, camp.contacts[0].outcome = "done", "human"     # the dialer moves on
        WebDriverWait(b, 8).until(lambda d: d.find_element(By.CSS_SELECTOR, cell.format("done")).text == "1")
        assert b.find_element(By.CSS_SELECTOR, cell.format("human")).text == "1"
        b.find_element(By.XPATH, '//tr[@data-campaign="survey"]//button[text()="Pause"]').click()
        WebDriverWait(b, 8).until(lambda d: "running -> paused" in d.find_element(By.ID, "form-ok").text)
        assert camp.state == "paused"
        b.get(base + "/cti/agent/1001")
        b.find_element(By.ID, "memo-text").send_keys("Your ticket is 4711")
        b.find_element(By.ID, "memo-send").click()
        WebDriverWait(b, 8).until(lambda d: "13911112222" in d.find_element(By.ID, "msg").text)
        assert sms_rows(sf) == [("out", "13911112222", "Your ticket is 4711", "queued")]
    finally:
        b.quit()
        stopper.stop()
        svc.close()
