"""Staff schedules (acd.schedules): shifts of a queue's agents and of one agent with breaks, weekdays,
overnight shifts, a calendar's holiday (off) and 调休 make-up working day (on), all in local time
(Asia/Shanghai, asked in UTC); who should be signed in; adherence against the real ACD agent states."""
import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

import trunkline.ivr.models  # noqa: F401  (the calendar tables)
from trunkline.acd import schedules
from trunkline.acd.core import ACDCore
from trunkline.acd.models import AcdShift
from trunkline.acd.queues import QueueConfig
from trunkline.acd.schedules import BREAK, OFF, UNSCHEDULED, WORKING, Shift, ShiftError
from trunkline.data.db import Base, make_session_factory, session_scope
from trunkline.ivr import calendar

SH = ZoneInfo("Asia/Shanghai")


def at(text):
    """A local Shanghai wall-clock time as an aware UTC datetime (what the server's clock gives)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH).astimezone(dt.timezone.utc)


@pytest.fixture
def site():
    eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(eng)
    factory = make_session_factory(eng)
    core = ACDCore(factory, instance="a", clock=lambda: at("2026-09-30 10:00").timestamp(), rng=random.Random(1))
    core.define_queue(QueueConfig(name="billing"))
    for a in ("1001", "1002", "1003", "1004"):
        core.define_agent({"id": a, "number": "5"})
    core.add_member("billing", "1001")
    core.add_member("billing", "1002")
    calendar.save(factory, calendar.Calendar("office", {"mon": ["09:00-18:00"]},
                                             holidays={"2026-10-01": "国庆节"}, workdays={"2026-10-10": None}))
    with session_scope(factory) as s:
        s.add(AcdShift(name="day", group="billing", agent="", weekdays="mon-fri", start="09:00", end="18:00",
                       breaks="12:00-13:00, 15:30-15:45", calendar="office", enabled=1))
        s.add(AcdShift(name="night", group="", agent="1003", weekdays="fri", start="22:00", end="06:00",
                       breaks="02:00-02:30", calendar="", enabled=1))
        s.add(AcdShift(name="old", group="", agent="1004", weekdays="mon-sun", start="00:00", end="00:00",
                       breaks="", calendar="", enabled=0))
    return factory, core


def status(factory, local):
    sched, problems = schedules.schedule_at(factory, at(local), SH)
    assert problems == []
    return {a: (s.status, s.until.strftime("%H:%M") if s.until else None) for a, s in sched.items()}


def test_shift_times_breaks_holidays_and_make_up_days(site):
    factory, _ = site
    assert status(factory, "2026-09-30 10:00") == {"1001": (WORKING, "12:00"), "1002": (WORKING, "12:00"),
                                                  "1003": (OFF, None)}        # Wednesday morning
    assert status(factory, "2026-09-30 12:30")["1001"] == (BREAK, "13:00")
    assert status(factory, "2026-09-30 15:40")["1001"] == (BREAK, "15:45")
    assert status(factory, "2026-09-30 17:59")["1002"] == (WORKING, "18:00")
    assert status(factory, "2026-09-30 18:00")["1002"] == (OFF, None)           # end is exclusive
    assert status(factory, "2026-09-30 08:59")["1002"] == (OFF, None)
    assert status(factory, "2026-10-01 10:00")["1001"] == (OFF, None)           # 国庆节: holiday of the calendar
    assert status(factory, "2026-10-10 10:00")["1001"] == (WORKING, "12:00")    # Saturday 调休 make-up day
    assert status(factory, "2026-10-11 10:00")["1001"] == (OFF, None)           # an ordinary Sunday
    # the night shift starts on Friday 22:00 and ends Saturday 06:00, with a break at 02:00
    assert status(factory, "2026-10-02 23:00")["1003"] == (WORKING, "02:00")
    assert status(factory, "2026-10-03 02:10")["1003"] == (BREAK, "02:30")
    assert status(factory, "2026-10-03 05:00")["1003"] == (WORKING, "06:00")
    assert status(factory, "2026-10-03 23:00")["1003"] == (OFF, None)           # Saturday night: not its day
    assert status(factory, "2026-10-01 23:00")["1003"] == (OFF, None)           # Thursday night
    assert schedules.should_be_signed_in(factory, at("2026-09-30 12:30"), SH) == ["1001", "1002"]
    assert schedules.should_be_signed_in(factory, at("2026-10-03 02:10"), SH) == ["1003"]


def test_adherence_against_acd_states(site):
    factory, core = site
    core.login("1001")                          # working and ready: adherent
    core.login("1002")
    core.set_break("1002", "lunch")             # working but not ready: out
    core.login("1003")                          # not scheduled now but signed in: out
    core.login("1004")                          # no (enabled) shift: not judged
    rep = schedules.adherence(factory, at("2026-09-30 10:00"), SH)
    rows = {r["agent"]: r for r in rep["agents"]}
    assert {a: (r["scheduled"], r["signed_in"], r["ready"], r["adherent"]) for a, r in rows.items()} == {
        "1001": (WORKING, True, True, True), "1002": (WORKING, True, False, False),
        "1003": (OFF, True, True, False), "1004": (UNSCHEDULED, True, True, True)}
    assert rows["1001"]["shift"] == "day" and rows["1001"]["until"] == "12:00"
    assert (rep["scheduled"], rep["signed_in"], rep["ready"], rep["out_of_adherence"]) == (2, 4, 3, 2)
    assert rep["time"] == "2026-09-30 10:00"
    # at lunch the roles turn: on break is adherent, ready is not
    rep = schedules.adherence(factory, at("2026-09-30 12:30"), SH, agents=["1001", "1002"])
    assert {r["agent"]: r["adherent"] for r in rep["agents"]} == {"1001": False, "1002": True}
    core.logout("1003")
    rep = schedules.adherence(factory, at("2026-09-30 12:30"), SH, agents=["1003"])
    assert rep["agents"][0]["adherent"] and rep["out_of_adherence"] == 0


def test_bad_shifts_are_refused_with_reasons(site):
    factory, _ = site
    with pytest.raises(ShiftError, match="not a time"):
        Shift.parse("x", "9am", "18:00", "mon", group="q")
    with pytest.raises(ShiftError, match="weekdays"):
        Shift.parse("x", "09:00", "18:00", "monday-funday", group="q")
    with pytest.raises(ShiftError, match="inside the shift"):
        Shift.parse("x", "09:00", "18:00", "mon", "08:00-08:30", group="q")
    with pytest.raises(ShiftError, match="overlap"):
        Shift.parse("x", "09:00", "18:00", "mon", "12:00-13:00,12:30-12:45", group="q")
    with pytest.raises(ShiftError, match="exactly one"):
        Shift.parse("x", "09:00", "18:00", "mon", group="q", agent="1001")
    assert Shift.parse("x", "22:00", "06:00", "fri-mon", "23:30-00:15", agent="1").weekdays == {4, 5, 6, 0}
    # a malformed stored row and a missing calendar do not stop the others; both are reported
    with session_scope(factory) as s:
        s.add(AcdShift(name="broken", group="billing", agent="", weekdays="mon", start="25:00", end="18:00",
                       breaks="", calendar="", enabled=1))
        s.get(AcdShift, "night").calendar = "nowhere"
    sched, problems = schedules.schedule_at(factory, at("2026-10-02 23:00"), SH)
    assert sched["1003"].status == WORKING and sched["1001"].status == OFF
    assert any("broken" in p for p in problems) and any("nowhere" in p for p in problems)


def test_working_agents_per_half_hour(site):
    factory, _ = site
    wed = schedules.working_per_slot(factory, dt.date(2026, 9, 30))
    assert len(wed) == 48 and wed[17] == 0 and wed[18] == 2 and wed[24] == 0 and wed[31] == 2 and wed[36] == 0
    assert sum(wed) == 2 * (18 - 2)                          # 9 h less the lunch hour, in half hours
    assert schedules.working_per_slot(factory, dt.date(2026, 9, 30), agents=["1001"])[18] == 1
    sat = schedules.working_per_slot(factory, dt.date(2026, 10, 3))      # Friday's night shift, break at 02:00
    assert sat[:13] == [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0]
    assert schedules.working_per_slot(factory, dt.date(2026, 10, 1)) == [0] * 48   # 国庆节
