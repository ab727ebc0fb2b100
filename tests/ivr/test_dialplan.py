"""The outbound dial plan (#16 toll fraud, #15 outbound routes): classes, rules per role, caps, routes with
digit manipulation, refusal with a CDR and alerts; end to end an agent's three-way call to 0090012345678 is
refused at once while an allowed number goes out on the route's trunk with the route's digits."""
import time

import pytest
from acd_rig import Rig, connect_caller, run
from sqlalchemy import select

import trunkline.acd.models  # noqa: F401
import trunkline.ivr.dialplan_models  # noqa: F401
from trunkline.acd.service import Refused
from trunkline.data.db import Base, make_engine, make_session_factory, session_scope
from trunkline.data.models import AuditLog, ErrorLog
from trunkline.ivr.dialplan import DialPlan, classify, compile_pattern, install, normalise
from trunkline.ivr.dialplan_models import DialCap, DialRule, OutboundRoute
from trunkline.media.dialguard import DialOrigin, DialRefused, current_origin, dialing_as

AGENT = DialOrigin("agent", "1001")


class Rows:
    def __init__(self):
        self.rows = []

    def write_cdr(self, **row):
        self.rows.append(row)


@pytest.fixture
def sf(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/dp.db")
    Base.metadata.create_all(eng)
    return make_session_factory(eng)


def test_classes_of_chinese_numbers():
    cases = {"0090012345678": "international", "+441234567890": "international", "110": "emergency",
             "13800138000": "mobile", "+8613800138000": "mobile", "01012345678": "national",
             "+861012345678": "national", "88001234": "local", "95588": "service", "10086": "service",
             "4001234567": "service", "8001": "internal", "12590123456": "premium", "1681234": "premium",
             "1795100441234567890": "premium", "12345678901234": "other"}
    got = {n: classify(normalise(n)) for n in cases}
    assert got == cases
    assert normalise("sip:138-0013-8000@host") == "13800138000"


def test_patterns():
    assert compile_pattern("_1[3-9]XXXXXXXXX").fullmatch("13912345678")
    assert not compile_pattern("_1[3-9]XXXXXXXXX").fullmatch("12912345678")
    assert compile_pattern("_00.").fullmatch("0044123") and not compile_pattern("_00.").fullmatch("00")
    assert compile_pattern("_9!").fullmatch("9") and compile_pattern("95588").fullmatch("95588")
    for bad in ("", "_1(2)", "abc", "_.1", "_[a-z]", "x" * 70):
        with pytest.raises(ValueError):
            compile_pattern(bad)


def test_defaults_refuse_international_and_premium_with_cdr_and_alert(sf):
    rows = Rows()
    plan = DialPlan(sf, rows).reload()
    for n in ("0090012345678", "12590123456", "+12125551234"):
        with pytest.raises(DialRefused) as e:
            plan(n, "95588", None, AGENT)
        assert e.value.cause == 52 and "may not dial" in e.value.reason
    assert plan("13800138000", "95588", None, AGENT) == ("13800138000", "95588", None)
    assert plan("8001", "", "pri", AGENT) == ("8001", "", "pri")
    assert [(r["called"], r["outcome"], r["hangup_cause"], r["agent"]) for r in rows.rows] == [
        ("0090012345678", "refused", 52, "1001"), ("12590123456", "refused", 52, "1001"),
        ("+12125551234", "refused", 52, "1001")]
    plan.alerts.flush()
    with sf() as s:
        alerts = s.scalars(select(AuditLog).where(AuditLog.action == "dial_alert")).all()
        assert {a.target for a in alerts} == {"0090012345678", "12590123456", "0012125551234"}
        assert all(a.username == "1001" for a in alerts)
        assert s.scalars(select(ErrorLog).where(ErrorLog.source == "dialplan")).first() is not None


def test_rules_per_role_caps_and_routes(sf):
    with session_scope(sf) as s:
        s.add(DialRule(name="campaign-intl", role="campaign", dest_class="international", action="allow",
                       priority=10, enabled=True))
        s.add(DialRule(name="no-10086", role="*", pattern="10086", action="deny", priority=5, enabled=True))
        s.add(DialCap(role="agent", account="", per_hour=3, per_day=5))
        s.add(OutboundRoute(name="mobile", pattern="_1[3-9]XXXXXXXXX", priority=10, trunk="pri", strip=0,
                            prefix="9", caller_id="4008001234", enabled=True))
        s.add(OutboundRoute(name="intl", pattern="_00.", priority=20, trunk="sip", strip=2, prefix="+",
                            caller_id="", enabled=True))
        s.add(OutboundRoute(name="short", pattern="_XXXX", priority=90, trunk="", strip=0, prefix="",
                            caller_id="", enabled=True))
    now = [0.0]
    plan = DialPlan(sf, Rows(), clock=lambda: now[0]).reload()
    assert plan("13912345678", "95588", None, AGENT) == ("913912345678", "4008001234", "pri")
    assert plan("+8613912345678", "", None, AGENT)[0] == "913912345678"
    camp = DialOrigin("campaign", "survey")
    assert plan("0044123456789", "95588", None, camp) == ("+44123456789", "95588", "sip")
    with pytest.raises(DialRefused):
        plan("0044123456789", "95588", None, AGENT)          # only campaigns may call abroad
    with pytest.raises(DialRefused, match="dial rule no-10086"):
        plan("10086", "", None, camp)
    # caps: 3 per hour per agent account (two dials above), another agent has its own count
    plan("8001", "", None, AGENT)
    with pytest.raises(DialRefused, match="3 calls per hour"):
        plan("8001", "", None, AGENT)
    plan("8001", "", None, DialOrigin("agent", "1002"))
    now[0] += 3601
    plan("8001", "", None, AGENT)
    plan("8001", "", None, AGENT)
    with pytest.raises(DialRefused, match="5 calls per day"):
        plan("8001", "", None, AGENT)
    # routes configured but none matches a national number: no route (cause 3)
    with pytest.raises(DialRefused) as e:
        plan("01012345678", "", None, DialOrigin("flow", "x"))
    assert e.value.cause == 3


def test_origin_follows_the_task():
    assert current_origin() == DialOrigin("system", "")
    with dialing_as("agent", 1001) as o:
        assert current_origin() == o == DialOrigin("agent", "1001")
    assert current_origin().role == "system"


def test_agent_cannot_make_the_server_dial_abroad_but_allowed_numbers_use_the_route(tmp_path):
    """The shipped server's dial plan (install(), as `trunkline run` wires it) under a real ACD: the agent's
    three-way call to 0090012345678 is refused at once (Refused -> 409 on the workbench) with a CDR;
    a mobile number goes out on the PRI span with the route's prefix and caller ID."""
    eng = make_engine(f"sqlite:///{tmp_path}/acd.db")
    Base.metadata.create_all(eng)
    sf = make_session_factory(eng)
    with session_scope(sf) as s:
        s.add(OutboundRoute(name="mobile", pattern="_1[3-9]XXXXXXXXX", priority=10, trunk="pri", strip=0,
                            prefix="9", caller_id="4008001234", enabled=True))
        s.add(OutboundRoute(name="rest", pattern="_X.", priority=99, trunk="", strip=0, prefix="",
                            caller_id="", enabled=True))
    rig = Rig("dialplan-3way", {"q": {"strategy": "top-down", "moh": ""}},
              [{"id": "100", "station_port": 0, "queues": ["q"]}], e1=1, session_factory=sf)
    rows = Rows()
    plan = install(rig.engine, sf, rows, server="t")
    rig.route("q")
    rig.sim.add_destination("913912345678", kind="answer", answer_after=0.5)
    out = {}

    async def main():
        await rig.start("100")
        ph, st = await connect_caller(rig, port=0)
        t0, w0 = rig.engine.now, time.monotonic()
        try:
            await rig.acd.execute("100", "conference", {"number": "0090012345678"})
        except Refused as exc:
            out["refused"] = str(exc)
        out["took"] = (rig.engine.now - t0, time.monotonic() - w0)
        out["dialled_abroad"] = rig.sim.dialled_to("0090012345678") + rig.sim.dialled_to("90090012345678")
        try:                                   # a supervisor listening in from a premium number: refused too
            await rig.acd.execute("100", "monitor", {"mode": "listen", "number": "12590123456",
                                                     "supervisor": "sup1"})
        except Refused as exc:
            out["monitor_refused"] = str(exc)
        res = await rig.acd.execute("100", "conference", {"number": "13912345678"})
        out["ok"] = res["ok"]
        att = await rig.sim.wait_dialled("913912345678", timeout=10)
        out["trunk"] = att.trunk
        out["caller_up"] = not ph.ended
        await rig.stop()

    run(main())
    assert "dial plan refuses" in out["refused"] and "international" in out["refused"]
    assert out["took"][0] < 0.1 and out["took"][1] < 2.0          # refused at once, nothing rang
    assert out["dialled_abroad"] == []
    assert "dial plan refuses" in out["monitor_refused"] and "supervisor may not dial premium" in out["monitor_refused"]
    assert out["ok"] and out["trunk"] == "pri" and out["caller_up"]
    assert [(r["called"], r["outcome"], r["hangup_cause"], r["agent"]) for r in rows.rows] == [
        ("0090012345678", "refused", 52, "100"), ("12590123456", "refused", 52, "sup1")]
    assert plan.stats["refused"] == 2 and plan.stats["allowed"] >= 1
