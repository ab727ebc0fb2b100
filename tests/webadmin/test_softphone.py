"""The browser softphone's endpoints over HTTP (webadmin/softphone.py): who may use which phone, and bad
input refused with a reason. The media itself (WebRTC in real headless Chromium, audio measured both ways,
the agent's and the supervisor's browser phones on real calls) is tests/webadmin/test_workbench.py."""
import pytest
from web_fixtures import csrf_of, login, make_app

from trunkline.pstn import SimRig


@pytest.fixture
def site(tmp_path):
    rig = SimRig.with_query("fxo=1&fxs=1", name=f"softphone-roles-{id(tmp_path)}", browser_phones=2)
    app, hub = make_app(tmp_path)
    hub.engine = rig.engine
    yield app, hub, rig.board.phones
    hub.engine = None
    rig.close()


def _client(app, user, page):
    c = app.test_client()
    login(c, user)
    tok = csrf_of(c.get(page).get_data(as_text=True))
    return c, {"X-CSRF-Token": tok}


def test_softphone_supervisor_phone_is_for_supervisors_only(site):
    app, hub, phones = site
    sup, h = _client(app, "super", "/supervisor")
    page = sup.get("/supervisor").get_data(as_text=True)
    assert 'id="sup-phone-kind"' in page and '<option value="browser">' in page and 'id="sup-softphone"' in page
    assert 'data-softphone="/supervisor/softphone"' in page and "softphone.js" in page
    assert sup.get("/supervisor/softphone/state").get_json() is None                  # no phone claimed yet
    r = sup.post("/supervisor/softphone/offer", json={"sdp": "hello"}, headers=h)
    assert r.status_code == 400 and "SDP" in r.get_json()["error"]
    assert all(p.owner is None for p in phones.phones)                                # nothing claimed by bad input
    r = sup.post("/supervisor/softphone/hook", json={"offhook": True}, headers=h)
    assert r.status_code == 409 and "this browser" in r.get_json()["error"]
    # a phone the supervisor holds: its state (station port, on a call or not); answer, hang up, give back
    phone = phones.claim("supervisor:super")
    st = sup.get("/supervisor/softphone/state").get_json()
    assert st == {"port": phone.port, "ringing": False, "offhook": False, "attached": False, "in_call": False}
    assert sup.post("/supervisor/softphone/hook", json={"offhook": True}, headers=h).get_json()["offhook"] is True
    assert phone.offhook
    assert sup.post("/supervisor/softphone/release", json={}, headers=h).get_json()["ok"]
    assert phone.owner is None and not phone.offhook
    assert sup.post("/supervisor/softphone/release", json={}, headers={}).status_code in (400, 403)   # CSRF
    # an agent login has no console and no supervisor phone; a viewer neither
    for user, landing in (("agent", "/login"), ("viewer", "/login")):
        c, hh = _client(app, user, landing)
        assert c.get("/supervisor/softphone/state").status_code == 403
        assert c.post("/supervisor/softphone/offer", json={"sdp": "v=0\r\n"}, headers=hh).status_code == 403
        assert c.post("/supervisor/softphone/hook", json={"offhook": True}, headers=hh).status_code == 403


def test_softphone_console_without_browser_phones(tmp_path):
    app, hub = make_app(tmp_path)
    sup, h = _client(app, "super", "/supervisor")
    page = sup.get("/supervisor").get_data(as_text=True)
    assert '<option value="browser">' not in page and 'id="sup-softphone"' not in page
    r = sup.post("/supervisor/softphone/offer", json={"sdp": "v=0\r\n"}, headers=h)
    assert r.status_code == 409 and "no browser phones" in r.get_json()["error"]
