"""The server's one service context (#17): calendars, lookup sources and queues an admin creates are used by
flows and accepted by the flow editor at once; a missing one is an error on its line, never a 500."""
import datetime as dt

from web_fixtures import csrf_of, login
from wiring_rig import WiredServer, heard

from trunkline.acd.models import AcdQueue
from trunkline.data.db import session_scope
from trunkline.ivr import calendar
from trunkline.ivr.calendar import Calendar
from trunkline.ivr.models import IvrLookupSource

FLOW = """\
name: main
language: zh
nodes:
  hours: {type: branch, on: time, calendar: office, open: look, closed: closed, holiday: holiday}
  look:
    type: lookup
    source: balance
    params: {caller: "${caller_id}"}
    store: {amount: balance}
    fallback: failed
    on_error: done
    next: said
  said: {type: say, what: money, value: "${amount}", before: open, after: bye, next: done}
  closed: {type: play, prompt: closed, next: done}
  holiday: {type: play, prompt: holiday, next: done}
  agents:
    type: queue
    queue: support
    next: done
  done: {type: hangup}
"""


def office():
    # 2026-10-10 is a Saturday and a make-up working day (调休) after National Day; 10-01 is a holiday
    return Calendar("office", {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                    holidays={"2026-10-01": "国庆节"}, workdays={"2026-10-10": None})


def post_flow(client, text):
    tok = csrf_of(client.get("/config/flows/edit").get_data(as_text=True))
    return client.post("/config/flows/edit", data={"name": "main", "source": text, "csrf_token": tok})


def test_flow_uses_admin_calendar_with_make_up_day_and_lookup(make_rig, tmp_path):
    srv = WiredServer(make_rig, tmp_path, when="2026-10-10 10:00")
    client = srv.app.test_client()
    login(client, "admin")
    # nothing configured yet: every missing name is an error on its line (422), not a 500
    r = post_flow(client, FLOW)
    page = r.get_data(as_text=True)
    assert r.status_code == 422, page[:2000]
    assert "no calendar named &#39;office&#39;" in page and "(line 4)" in page
    assert "no lookup source named &#39;balance&#39;" in page
    assert "no queue named &#39;support&#39;" in page and "(line 18)" in page
    r = post_flow(client, FLOW + "  extra: {type: play, prompt: nosuch, next: done}\n")
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "prompt &#39;nosuch&#39; not found" in page and "(line 21)" in page
    # the admin creates them (same tables the web admin edits); no restart
    calendar.save(srv.factory, office())
    with session_scope(srv.factory) as s:
        s.add(IvrLookupSource(name="balance", kind="sql",
                              query="SELECT '12.50' AS balance WHERE :caller = '13800000000'"))
        s.add(AcdQueue(name="support", strategy="longest-idle", options={}))
    r = post_flow(client, FLOW)
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert srv.registry.current("main").version == 1

    async def one(caller, seconds):
        phone = srv.sim.call("95588", from_=caller)
        await phone.wait_answer(timeout=20)
        phone.start_capture()
        got = heard(await phone.listen(seconds))
        await phone.wait_hangup(10)
        return got

    async def script():
        got = [await one("13800000000", 6.0), await one("13900000000", 2.0)]
        srv.when = dt.datetime(2026, 10, 1, 10, 0, tzinfo=srv.when.tzinfo)   # National Day: holiday
        got.append(await one("13800000000", 2.0))
        srv.when = dt.datetime(2026, 10, 11, 10, 0, tzinfo=srv.when.tzinfo)  # an ordinary Sunday: closed
        got.append(await one("13800000000", 2.0))
        return got

    # the router's default flow is the demo hotline: route 95588 to the admin's flow as the server would
    srv.engine.route(srv.registry.handler("main"))
    known, unknown, holiday, sunday = srv.run(script)
    assert known[0] == "open" and known[-1] == "bye", known        # Saturday 10:00 open: make-up day (调休)
    assert unknown == ["failed"], unknown                         # the lookup found nothing for this caller
    assert holiday == ["holiday"] and sunday == ["closed"], (holiday, sunday)
