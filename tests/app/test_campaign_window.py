"""A campaign's calling window (#17): a campaign created in the web admin names a calendar; started at media
time 0 it dials at once inside the window and waits for the window to open outside it (in the calendar's
time zone, holidays and make-up days included), through the server's own wiring in virtual time."""
import asyncio
import datetime as dt

from web_fixtures import csrf_of, login
from wiring_rig import WiredServer

from trunkline.ivr import calendar
from trunkline.ivr.calendar import Calendar
from trunkline.ivr.campaign import Campaign


async def human(party):
    await party.sleep(1.0)
    await party.hangup()


def window():
    # 09:00-18:00 Shanghai on weekdays; 2026-10-01 National Day closed; Saturday 2026-10-10 a make-up day
    return Calendar("office", {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                    holidays={"2026-10-01": "国庆节"}, workdays={"2026-10-10": None}, timezone="Asia/Shanghai")


def form(tok, name, calendar_name):
    return {"name": name, "flow": "hotline", "caller_id": "95588", "numbers": "13900000001\n",
            "max_channels": "1", "calls_per_second": "1", "max_attempts": "1", "retry_delay": "30",
            "amd": "", "start": "now", "calendar": calendar_name, "csrf_token": tok}


def run_campaign_from_web(make_rig, tmp_path, when):
    """Create a campaign through the web form at wall time `when` with the engine at media time 0;
    returns (media time of the first dial or None, the running Campaign)."""
    srv = WiredServer(make_rig, tmp_path, query="e1=1", when=when)
    calendar.save(srv.factory, window())
    srv.sim.add_destination("13900000001", kind="answer", answer_after=0.5, script=human)
    client = srv.app.test_client()
    login(client, "admin")
    out = {}

    async def script():
        srv.campaign_manager.loop = asyncio.get_running_loop()
        tok = csrf_of(client.get("/campaigns").get_data(as_text=True))
        assert srv.engine.now < 0.1                      # the campaign starts at media time ~0
        r = await asyncio.to_thread(client.post, "/campaigns", data=form(tok, "remind", "office"))
        assert r.status_code == 201, r.get_data(as_text=True)[:3000]
        out["camp"] = srv.campaigns["remind"]
        for _ in range(200):
            if srv.sim.dialled:
                break
            await srv.sim.sleep(1.0)
        out["first"] = srv.sim.dialled[0].at if srv.sim.dialled else None
        srv.campaign_manager.stop_all()

    srv.run(script, until=400)
    return out["first"], out["camp"]


def test_web_campaign_at_t0_inside_window_dials_at_once(make_rig, tmp_path):
    first, camp = run_campaign_from_web(make_rig, tmp_path, "2026-10-10 10:00")   # 调休 Saturday, open
    assert isinstance(camp, Campaign) and camp.calendar is not None and camp.calendar.name == "office"
    assert first is not None and first < 5.0, first


def test_web_campaign_at_t0_outside_window_waits_for_it(make_rig, tmp_path):
    first, camp = run_campaign_from_web(make_rig, tmp_path, "2026-10-12 08:59:30")   # Monday before opening
    print("first dial at media time", first)
    assert first is not None and 29.0 <= first <= 33.0, first        # opens at 09:00: 30 s later
    assert camp.wall_time().astimezone(dt.timezone(dt.timedelta(hours=8))).hour == 9
