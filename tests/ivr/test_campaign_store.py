"""Campaigns created from the web admin and kept in the database: form validation and access rules, a
campaign made through the form whose calls go out over the simulated E1 PRI to scripted far ends (virtual
time) with outcomes in the database and on the pages, and a restart mid-campaign that resumes on the same
database with every number dialled exactly once (twice only where the retry policy says so)."""
import io

import pytest
from amd_samples import MACHINE, synth
from pg_fixture import pg_server  # noqa: F401  (fixture)
from simharness import Rig
from sqlalchemy import select
from web_fixtures import csrf_of, login, make_app

from trunkline.app import schema
from trunkline.data import db
from trunkline.data.db import session_scope
from trunkline.data.models import AuditLog
from trunkline.ivr.campaign_store import CampaignManager, parse_numbers
from trunkline.ivr.flows import FlowRegistry, Services
from trunkline.ivr.models import IvrCampaign


def registry_with(factory, seen):
    """A flow registry with one Python flow 'survey' that notes the call variables it ran with."""
    reg = FlowRegistry(Services(session_factory=factory))

    async def survey(call):
        seen[call.vars["campaign_number"]] = dict(call.vars)
        await call.wait(1.0)
    reg.register("survey", survey)
    return reg


def client(app, user="admin"):
    c = app.test_client()
    login(c, user)
    return c


def form(**kw):
    d = {"name": "reminders", "flow": "survey", "caller_id": "95588", "numbers": "13800000001\n",
         "max_channels": "4", "calls_per_second": "2", "max_attempts": "2", "retry_delay": "30", "amd": "1",
         "start": "now"}
    d.update(kw)
    return d


def stored(factory, name):
    with session_scope(factory) as s:
        camp = s.scalar(select(IvrCampaign).where(IvrCampaign.name == name))
        if camp is None:
            return None, {}
        return camp.state, {n.number: (n.state, n.outcome, n.attempts, [h["outcome"] for h in n.history])
                            for n in camp.numbers}


async def human(party):
    await party.sleep(0.3)
    for i in range(0, len(HELLO), 1600):
        if party.ended:
            return
        await party.play(HELLO[i:i + 1600])
    await party.listen(8.0)
    await party.hangup()


async def machine(party):
    for i in range(0, len(GREETING), 1600):
        if party.ended:
            return
        await party.play(GREETING[i:i + 1600])


HELLO = synth("en", "Hello?", 160)
GREETING = synth("en", MACHINE["en"][0], 160)


def test_parse_numbers_keeps_good_lines_and_reports_bad_ones():
    rows, errors = parse_numbers("13800000001, Li, 120\n\n# comment\n138-0000-0002\nhello\n13800000001\n+8613800000003")
    assert rows == [{"number": "13800000001", "col2": "Li", "col3": "120"}, {"number": "13800000002"},
                    {"number": "+8613800000003"}]
    assert errors == ["line 5: 'hello' is not a phone number", "line 6: 13800000001 repeats line 1"]
    rows, errors = parse_numbers("name,number,amount\nLi,13800000001,120\nWang,,5\nZhao,13800000003,7,extra\n",
                                 "file line")
    assert rows == [{"number": "13800000001", "name": "Li", "amount": "120"}]
    assert errors == ["file line 3: no number", "file line 4: 4 columns, the header has 3"]


def test_create_form_refuses_bad_input_wrong_role_and_missing_csrf(tmp_path):
    app, hub = make_app(tmp_path)
    factory = hub.session_factory
    mgr = CampaignManager(None, factory, registry_with(factory, {}), {})
    hub.campaigns, hub.campaign_manager = mgr.campaigns, mgr
    a = client(app, "admin")
    page = a.get("/campaigns").get_data(as_text=True)
    assert 'id="campaign-create"' in page and '<option value="survey"' in page
    tok = csrf_of(page)
    # no valid number: every bad line is listed, nothing is stored
    r = a.post("/campaigns", data=form(numbers="abc\n12\n", csrf_token=tok))
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "No valid numbers to dial. 2 line(s) were refused." in html
    assert "line 1: &#39;abc&#39; is not a phone number" in html and "line 2: &#39;12&#39;" in html
    # unknown flow; bad name; bad pacing; bad caller ID
    r = a.post("/campaigns", data=form(flow="nosuch", csrf_token=tok))
    assert r.status_code == 400 and "Unknown flow &#39;nosuch&#39;; choose one of: survey" in r.get_data(as_text=True)
    r = a.post("/campaigns", data=form(name="bad name!", csrf_token=tok))
    assert r.status_code == 400 and "The name must be" in r.get_data(as_text=True)
    r = a.post("/campaigns", data=form(calls_per_second="0", csrf_token=tok))
    assert r.status_code == 400 and "Calls per second" in r.get_data(as_text=True)
    r = a.post("/campaigns", data=form(caller_id="95588x", csrf_token=tok))
    assert r.status_code == 400 and "must be digits only" in r.get_data(as_text=True)
    # the form keeps what was typed after an error
    assert 'value="95588x"' in r.get_data(as_text=True)
    # duplicate name (one already stored, e.g. from before a restart)
    with session_scope(factory) as s:
        s.add(IvrCampaign(name="reminders", flow="survey", state="done"))
    r = a.post("/campaigns", data=form(csrf_token=tok))
    assert r.status_code == 409 and "A campaign named &#39;reminders&#39; already exists." in r.get_data(as_text=True)
    # no engine running: a valid form is refused with a reason, nothing stored
    r = a.post("/campaigns", data=form(name="other", csrf_token=tok))
    assert r.status_code == 400 and "engine is not running" in r.get_data(as_text=True)
    assert stored(factory, "other") == (None, {})
    # roles: a supervisor (may pause/stop) and a viewer may not create; no form shown to them
    for user in ("super", "viewer"):
        c = client(app, user)
        p = c.get("/campaigns").get_data(as_text=True)
        assert 'id="campaign-create"' not in p
        assert c.post("/campaigns", data=form(name="x" + user, csrf_token=csrf_of(p))).status_code == 403
    assert client(app, "agent").post("/campaigns", data=form(name="y")).status_code in (400, 403)
    # no CSRF token
    assert a.post("/campaigns", data=form(name="nocsrf")).status_code == 400
    assert a.post("/campaigns", data=form(name="badcsrf", csrf_token="x" * 40)).status_code == 400
    with session_scope(factory) as s:
        names = set(s.scalars(select(IvrCampaign.name)))
        refused = s.scalars(select(AuditLog.action).where(AuditLog.action.in_(("campaign_refused", "denied",
                                                                                "csrf_refused")))).all()
    assert names == {"reminders"}
    assert refused.count("campaign_refused") == 7 and refused.count("denied") >= 2 and "csrf_refused" in refused


def test_web_created_campaign_dials_the_simulated_trunk_and_outcomes_land_in_db_and_page(tmp_path):
    rig = Rig("e1=1", [])
    app, hub = make_app(tmp_path, engine=rig.engine)
    factory = hub.session_factory
    seen = {}
    mgr = CampaignManager(rig.engine, factory, registry_with(factory, seen), {}, trunk="pri", ring_timeout=8.0)
    hub.campaigns, hub.campaign_manager, hub.flows = mgr.campaigns, mgr, mgr.registry
    humans = [f"1390000{i:04d}" for i in range(1, 6)]
    for n in humans:
        rig.sim.add_destination(n, kind="answer", answer_after=1.0, script=human)
    rig.sim.add_destination("13900000010", kind="answer", answer_after=1.0, script=machine)
    rig.sim.add_destination("13900000011", kind="busy")
    rig.sim.add_destination("13900000012", kind="unallocated")
    rig.sim.add_destination("13900000013", kind="noanswer")
    text = ("13900000001,Li,120\n13900000002,Wang,80\nnot-a-number\n13900000010,Machine,0\n"
            "13900000011,Busy,0\n13900000012,Gone,0\n13900000013,Away,0\n13900000001,dup,1\n")
    upload = "number,name,amount\n13900000003,Zhao,7\n13900000004,Qian,8\n13900000005,Sun,9\n13900000002,again,1\n"
    out = {}

    async def scenario():
        await rig.engine.sleep(0.5)
        a = client(app, "admin")
        tok = csrf_of(a.get("/campaigns").get_data(as_text=True))
        r = a.post("/campaigns", data=form(numbers=text, csrf_token=tok, max_channels="3",
                                           csv=(io.BytesIO(upload.encode()), "list.csv")),
                   content_type="multipart/form-data")
        out["create"] = (r.status_code, r.get_data(as_text=True))
        camp = mgr.campaigns.get("reminders")
        t0 = rig.engine.now
        while camp is not None and camp.state != "done" and rig.engine.now - t0 < 400:
            await rig.engine.sleep(1.0)
        await rig.engine.sleep(0.5)
        out["t"] = rig.engine.now - t0
        out["page"] = a.get("/campaigns").get_data(as_text=True)
        out["api"] = a.get("/api/campaigns").get_json()
        out["numbers"] = a.get("/campaigns/reminders").get_data(as_text=True)
        return camp

    camp = rig.run(scenario, limit=600.0)
    print(f"\ncampaign finished after {out.get('t', 0):.0f} s media time:",
          {k: v for k, v in camp.progress().items() if v})
    status, html = out["create"]
    assert status == 201, html
    assert "Campaign reminders created with 9 numbers. 3 line(s) were skipped" in html
    assert "line 3: &#39;not-a-number&#39; is not a phone number" in html
    assert "line 8: 13900000001 repeats line 1" in html and "file: 13900000002 is also in the text box" in html
    assert camp is not None and camp.state == "done", (out.get("t"), camp and camp.progress())
    expect = {n: "human" for n in humans}
    expect.update({"13900000010": "machine", "13900000011": "busy", "13900000012": "unallocated",
                   "13900000013": "noanswer"})
    state, rows = stored(factory, "reminders")
    assert state == "done"
    assert {n: r[1] for n, r in rows.items()} == expect
    assert all(r[0] == "done" for r in rows.values())
    # retries as configured (2 attempts for busy / no answer), one attempt for the rest; the switch agrees
    assert rows["13900000011"][2:] == (2, ["busy", "busy"]) and rows["13900000013"][2:] == (2, ["noanswer"] * 2)
    assert all(rows[n][2] == 1 for n in expect if n not in ("13900000011", "13900000013"))
    dialled = [d.number for d in rig.sim.dialled]
    assert sorted(dialled) == sorted(n for n in expect for _ in range(rows[n][2]))
    # the flow ran for the people only, with the row's columns as call variables
    assert set(seen) == set(humans)
    assert seen["13900000001"]["col2"] == "Li" and seen["13900000004"]["name"] == "Qian"
    assert seen["13900000004"]["amount"] == "8" and seen["13900000001"]["campaign"] == "reminders"
    # on the pages
    p = out["api"]["reminders"]
    assert (p["state"], p["total"], p["done"], p["human"], p["machine"], p["busy"]) == ("done", 9, 9, 5, 1, 1)
    assert 'data-campaign="reminders"' in out["page"]
    nums = out["numbers"]
    assert '<tr data-number="13900000012">' in nums and '<td data-key="outcome">unallocated</td>' in nums
    assert nums.count('<td data-key="outcome">human</td>') == 5
    with session_scope(factory) as s:
        assert s.scalar(select(AuditLog.detail).where(AuditLog.action == "campaign_create")).startswith(
            "flow survey, 9 numbers, 3 lines refused, started")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_restart_mid_campaign_resumes_on_the_same_database_each_number_dialled_once(tmp_path, backend, request):
    url = f"sqlite:///{tmp_path}/srv.db" if backend == "sqlite" else \
        request.getfixturevalue("pg_server").create_database("tl_campaign_restart")
    engine = schema.migrate(url)
    factory = db.make_session_factory(engine)
    numbers = [f"1370000{i:04d}" for i in range(12)]
    busy = numbers[0]

    def far_ends(rig):
        for n in numbers[1:]:
            rig.sim.add_destination(n, kind="answer", answer_after=1.0, script=human)
        rig.sim.add_destination(busy, kind="busy")

    # first server: create (paused, as from the form), resume, stop it once 5 numbers are done
    rig1 = Rig("e1=1", [])
    far_ends(rig1)
    seen1 = {}
    mgr1 = CampaignManager(rig1.engine, factory, registry_with(factory, seen1), {}, trunk="pri", ring_timeout=8.0)
    mid = {}

    async def first():
        await mgr1.restore()                      # nothing stored yet
        rows, _ = parse_numbers("\n".join(numbers))
        camp = mgr1.create("survey-nov", "survey", rows, caller_id="95588", max_channels=2, calls_per_second=1,
                           max_attempts=2, retry_after=60.0, paused=True)
        await rig1.engine.sleep(3.0)
        assert camp.dials == 0 and stored(factory, "survey-nov")[0] == "paused"
        camp.resume()
        while sum(1 for c in camp.contacts if c.state == "done") < 5:
            await rig1.engine.sleep(0.1)
        mid["db"] = stored(factory, "survey-nov")
        mid["progress"] = camp.progress()
        mgr1.stop_all()                            # the server shuts down: calls in progress are cut
    rig1.run(first, limit=300.0)
    dialled1 = [d.number for d in rig1.sim.dialled]
    state, rows = mid["db"]
    assert state == "running"
    assert rows[busy][:3] == ("pending", None, 1)          # busy once, its retry is due in 60 s
    cut = {n for n, r in rows.items() if r[0] == "dialing"}
    assert mid["progress"]["active"] == len(cut) >= 1
    assert stored(factory, "survey-nov")[0] == "running"    # the stop did not end the campaign in the DB

    # second server on the same database: the campaign comes back and finishes the rest
    rig2 = Rig("e1=1", [])
    far_ends(rig2)
    seen2 = {}
    campaigns2 = {}
    mgr2 = CampaignManager(rig2.engine, factory, registry_with(factory, seen2), campaigns2, trunk="pri",
                           ring_timeout=8.0)

    async def second():
        names = await mgr2.restore()
        mid["t2"] = rig2.engine.now
        camp = campaigns2["survey-nov"]
        t0 = rig2.engine.now
        while camp.state != "done" and rig2.engine.now - t0 < 300:
            await rig2.engine.sleep(1.0)
        return names, camp
    names, camp = rig2.run(second, limit=600.0)
    dialled2 = [d.number for d in rig2.sim.dialled]
    print(f"\nfirst server dialled {len(dialled1)}, cut {sorted(cut)}; second dialled {len(dialled2)}: {dialled2}")
    assert names == ["survey-nov"] and camp.state == "done"
    state, final = stored(factory, "survey-nov")
    assert state == "done"
    # no number dialled twice except the busy one whose retry policy says so (2 attempts)
    assert sorted(dialled1 + dialled2) == sorted(numbers + [busy])
    assert not set(dialled1) - {busy} & set(dialled2)
    assert dialled2.count(busy) == 1 and dialled1.count(busy) == 1
    assert final[busy] == ("done", "busy", 2, ["busy", "busy"])
    for n in cut:
        assert final[n] == ("done", "interrupted", 1, ["interrupted"])
    for n in numbers[1:]:
        if n not in cut:
            assert final[n] == ("done", "human", 1, ["human"]), (n, final[n])
    assert set(seen1) | set(seen2) >= set(numbers[1:]) - cut
    assert not set(seen1) & set(seen2)
    # the busy retry was not dialled at once after the restart: it kept its wall-clock retry time (60 s after
    # the first attempt; little wall time passed in between, so nearly all of it was still to wait)
    retry = next(d for d in rig2.sim.dialled if d.number == busy)
    assert retry.at - mid["t2"] >= 45.0, retry
    assert camp.progress()["done"] == 12 and camp.progress()["interrupted"] == len(cut)
    engine.dispose()


def test_parse_numbers_folds_chinese_prefixes():
    """#17: +86 / 0086 / leading-0 forms of one number are one number (reported as a repeat)."""
    rows, errors = parse_numbers("13800000001\n+8613800000001\n008613800000001\n013800000001\n010-62345678\n"
                                 "+86 10 6234 5678\n")
    assert [r["number"] for r in rows] == ["13800000001", "010-62345678".replace("-", "")]
    assert len(errors) == 4 and all("repeats line" in e for e in errors)
