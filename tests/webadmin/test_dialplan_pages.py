"""Typed admin pages for outbound routes, dial rules and caps (#15/#16): admin-only, field errors for a bad
pattern, the running dial plan reloaded on save; agent PINs saved through the forms are stored hashed."""
from web_fixtures import csrf_of, login, make_app

from trunkline.acd.models import AcdAgent
from trunkline.data import db
from trunkline.data.pins import check_pin, is_hashed
from trunkline.ivr.dialplan import DialPlan
from trunkline.media.dialguard import DialOrigin, DialRefused

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _client(app, user):
    c = app.test_client()
    login(c, user)
    return c, csrf_of(c.get("/").get_data(as_text=True))


def test_dial_plan_pages_admin_only_validated_and_live(tmp_path):
    app, hub = make_app(tmp_path)
    hub.dialplan = plan = DialPlan(hub.session_factory).reload()
    c, tok = _client(app, "admin")
    h = {"X-CSRF-Token": tok}
    r = c.post("/api/config/outbound_routes", json={"op": "create", "values": {
        "name": "mobile", "pattern": "_1[3-9]X(", "priority": 10, "trunk": "pri", "strip": 0}}, headers=h)
    assert r.status_code == 400 and set(r.get_json()["errors"]) == {"pattern"}
    r = c.post("/api/config/outbound_routes", json={"op": "create", "values": {
        "name": "mobile", "pattern": "_1[3-9]XXXXXXXXX", "priority": 10, "trunk": "pri", "strip": 0,
        "prefix": "9", "caller_id": "4008001234", "enabled": True}}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert plan("13912345678", "", None, DialOrigin("agent", "1")) == ("913912345678", "4008001234", "pri")
    r = c.post("/config/table/dial_rules", data={"op": "create", "name": "campaign-abroad", "role": "campaign",
                                                  "dest_class": "international", "action": "allow",
                                                  "priority": "10", "enabled": "on", "csrf_token": tok})
    assert r.status_code == 302
    assert [ru.name for ru in plan.rules] == ["campaign-abroad"]
    page = c.get("/config/table/dial_rules", headers=ZH).get_data(as_text=True)
    assert "拨号规则" in page and "国际" in page and "允许" in page
    r = c.post("/api/config/dial_caps", json={"op": "create", "values": {
        "role": "agent", "account": "", "per_hour": 1, "per_day": 2}}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert plan.cap_of(DialOrigin("agent", "7")) == (1, 2)
    plan("13912345678", "", None, DialOrigin("agent", "7"))
    try:
        plan("13912345678", "", None, DialOrigin("agent", "7"))
        raise AssertionError("the cap did not hold")
    except DialRefused as exc:
        assert "1 calls per hour" in exc.reason
    # a supervisor may neither read nor change the rules that restrict them
    s, stok = _client(app, "super")
    assert s.get("/api/config/dial_rules").status_code == 403
    assert s.post("/api/config/dial_rules", json={"op": "delete", "key": ["campaign-abroad"]},
                  headers={"X-CSRF-Token": stok}).status_code == 403
    assert s.post("/config/table/dial_caps", data={"op": "delete", "csrf_token": stok}).status_code == 403


def test_agent_pin_stored_hashed(tmp_path):
    app, hub = make_app(tmp_path)
    c, tok = _client(app, "admin")
    r = c.post("/api/config/agents", json={"op": "create", "values": {"id": "1001", "name": "李明", "pin": "2468"}},
               headers={"X-CSRF-Token": tok})
    assert r.status_code == 200, r.get_json()
    with db.session_scope(hub.session_factory) as s:
        stored = s.get(AcdAgent, "1001").pin
    assert stored != "2468" and is_hashed(stored) and check_pin("2468", stored) and not check_pin("2469", stored)
