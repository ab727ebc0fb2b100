"""Inbound routes (#15) through the server's wiring and the simulator, in virtual time: a call to a DID runs
its flow, after hours (the route's calendar, local time zone, the clock advancing with media time) the
after-hours flow, a pattern route matches, an unknown number gets the default flow, the shipped demo route
95588 -> hotline is in the database, and a route saved on the typed web admin page (validated: the flow must
exist, the pattern must compile; errors in Chinese) serves the next call without a restart."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from web_fixtures import csrf_of, login
from wiring_rig import WiredServer, heard

from trunkline.data.db import make_session_factory, session_scope
from trunkline.ivr import calendar
from trunkline.ivr.calendar import Calendar
from trunkline.ivr.models import IvrInboundRoute
from trunkline.ivr.routes import InboundRoutes, RouteError, compile_number

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def play_flow(name, prompt):
    return (f"name: {name}\nlanguage: zh\nnodes:\n  p: {{type: play, prompt: {prompt}, next: bye}}\n"
            "  bye: {type: hangup}\n")


def test_numbers_and_patterns_compile_as_the_router_matches_them():
    assert compile_number("") is None
    assert compile_number("95588").fullmatch("95588") and not compile_number("95588").fullmatch("955881")
    p = compile_number("_400[1-3]X.")
    assert p.fullmatch("40025123") and p.fullmatch("400391") and not p.fullmatch("40049") and not p.fullmatch("40021")
    assert compile_number("_NXX!").fullmatch("200") and not compile_number("_NXX!").fullmatch("100")
    for bad in ("95a88", "_", "_9[5-", "_9[5-1]", "_9?"):
        with pytest.raises(RouteError):
            compile_number(bad)


def test_trunk_and_span_narrow_a_route(tmp_path):
    from trunkline.app.schema import migrate
    factory = make_session_factory(migrate(f"sqlite:///{tmp_path}/r.db"))
    with session_scope(factory) as s:
        s.add(IvrInboundRoute(name="pri-777", number="777", trunk="pri", span=1, flow="pri", priority=10))
        s.add(IvrInboundRoute(name="any-7xx", number="_7XX", flow="any", priority=10))
    routes = InboundRoutes(factory)
    assert routes.match("95588", "analog", 0).name == "demo-95588"      # shipped by the migration
    assert routes.match("777", "pri", 1).name == "pri-777"               # exact before pattern
    assert routes.match("777", "pri", 2).name == "any-7xx" and routes.match("777", "sip", 1).name == "any-7xx"
    assert routes.match("7777", "pri", 1) is None


def test_did_after_hours_pattern_default_and_a_route_saved_on_the_page(make_rig, tmp_path):
    srv = WiredServer(make_rig, tmp_path, query="e1=1")          # an ISDN PRI: calls carry their DID
    tz = ZoneInfo("Asia/Shanghai")
    base = dt.datetime(2026, 11, 30, 17, 59, 50, tzinfo=tz)           # a Monday, 10 s before closing
    srv.registry.services.clock = lambda: base + dt.timedelta(seconds=srv.engine.now)   # virtual time
    calendar.save(srv.factory, Calendar("office", {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu",
                                                                                      "fri")}))
    for name, prompt in (("day", "open"), ("night", "closed"), ("vip", "holiday"), ("other", "bye")):
        srv.registry.load_yaml(play_flow(name, prompt))
    with session_scope(srv.factory) as s:
        s.add(IvrInboundRoute(name="stale", number="888", flow="deleted"))
    seen = []

    async def hotline(call):                      # the default flow, recognisable by its tone
        seen.append(call.vars.get("inbound_route"))
        await call.answer()
        await call.play(srv.registry.services.prompts.path("failed", "zh"))
    srv.registry.register("hotline", hotline)

    client = srv.app.test_client()
    login(client, "admin")
    tok = csrf_of(client.get("/config/table/inbound_routes").get_data(as_text=True))
    page = client.get("/config/table/inbound_routes", headers=ZH).get_data(as_text=True)
    assert "呼入路由" in page and "demo-95588" in page and '<select name="flow">' in page
    form = {"op": "create", "name": "sales", "priority": "100", "number": "4008001", "calendar": "office",
            "flow": "day", "after_hours_flow": "night", "enabled": "1", "csrf_token": tok}
    r = client.post("/config/table/inbound_routes", headers=ZH,
                    data=dict(form, number="4008a01", flow="nosuch", after_hours_flow=""))
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'id="error-number"' in html and 'id="error-flow"' in html
    assert "不是有效的号码或模式" in html and "请从列出的值中选择" in html
    assert client.post("/config/table/inbound_routes", data=form).status_code == 302
    r = client.post("/api/config/inbound_routes", headers={"X-CSRF-Token": tok},
                    json={"op": "create", "values": {"name": "vip", "priority": 50, "number": "_6XX", "flow": "vip",
                                                     "enabled": True}})
    assert r.status_code == 200, r.get_json()

    async def one(number, seconds=1.5):
        phone = srv.sim.call(number, from_="13800000000", trunk="pri")
        await phone.wait_answer(timeout=20)
        phone.start_capture()
        got = heard(await phone.listen(seconds))
        await phone.hangup()
        await srv.sim.sleep(0.5)
        return got

    async def script():
        await srv.sim.sleep(3.0)                          # the PRI D-channel comes up
        got = {"open": await one("4008001")}              # ~17:59:54 local: open
        await srv.sim.sleep(max(0.0, 12.0 - srv.engine.now))
        got["after"] = await one("4008001")               # after 18:00:00 local: the after-hours flow
        got["pattern"] = await one("612")
        got["unknown"] = await one("12345")
        got["demo"] = await one("95588")
        got["stale"] = await one("888")                   # a stored route naming a flow not loaded: default
        # the admin points the route at another flow: the next call takes it, no restart
        r = client.post("/config/table/inbound_routes", data=dict(form, op="update", key="sales", flow="other",
                                                                after_hours_flow="", calendar=""))
        assert r.status_code == 302
        got["changed"] = await one("4008001")
        return got

    got = srv.run(script)
    print(got, seen)
    assert got["open"] == ["open"] and got["after"] == ["closed"], got
    assert got["pattern"] == ["holiday"] and got["unknown"] == ["failed"] and got["demo"] == ["failed"], got
    assert got["changed"] == ["bye"] and got["stale"] == ["failed"], got
    assert seen == [None, "demo-95588", "stale"]  # unknown: the default; 95588: the shipped demo route
