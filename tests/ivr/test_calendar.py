"""Business-hours calendars: weekly hours, holidays, make-up working days, time zones, DB round trip."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import trunkline.ivr.models  # noqa: F401  (registers the ivr_ tables)
from trunkline.data.db import Base, make_engine, make_session_factory
from trunkline.ivr import calendar as cal_mod
from trunkline.ivr.calendar import Calendar, CalendarError

WEEKLY = {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "tue": [["09:00", "18:00"]],
          "wed": [["09:00", "18:00"]], "thu": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]],
          "sat": [["10:00", "14:00"]]}
# 2026-10-01..03 National Day holidays; Sunday 2026-10-11 a make-up working day
HOLIDAYS = {"2026-10-01": "国庆节", "2026-10-02": "国庆节",
            "2026-10-03": {"name": "国庆节", "hours": [["10:00", "12:00"]]}}
WORKDAYS = {"2026-10-11": None}


@pytest.fixture
def office():
    return Calendar("office", WEEKLY, HOLIDAYS, WORKDAYS, "Asia/Shanghai")


@pytest.mark.parametrize("when,state", [
    ("2026-09-28 08:59", "closed"), ("2026-09-28 09:00", "open"), ("2026-09-28 12:30", "closed"),
    ("2026-09-28 17:59", "open"), ("2026-09-28 18:00", "closed"), ("2026-09-26 11:00", "open"),   # Saturday
    ("2026-09-27 11:00", "closed"),                                                             # Sunday
    ("2026-10-01 10:00", "holiday"), ("2026-10-02 23:00", "holiday"),
    ("2026-10-03 11:00", "open"), ("2026-10-03 13:00", "holiday"),                              # partly open
    ("2026-10-11 10:00", "open"), ("2026-10-11 18:30", "closed"),                               # make-up Sunday
])
def test_states(office, when, state):
    assert office.state(dt.datetime.fromisoformat(when)) == state


def test_aware_times_are_converted_to_the_calendar_zone(office):
    # 01:30 UTC on Monday = 09:30 in Shanghai
    assert office.is_open(dt.datetime(2026, 9, 28, 1, 30, tzinfo=dt.timezone.utc))
    # 09:30 in Berlin (CEST, UTC+2) = 15:30 in Shanghai: open; 12:30 Berlin = 18:30 Shanghai: closed
    assert office.is_open(dt.datetime(2026, 9, 28, 9, 30, tzinfo=ZoneInfo("Europe/Berlin")))
    assert not office.is_open(dt.datetime(2026, 9, 28, 12, 30, tzinfo=ZoneInfo("Europe/Berlin")))
    assert office.holiday_name(dt.datetime(2026, 10, 1, 12)) == "国庆节"


def test_next_open(office):
    assert office.next_open(dt.datetime(2026, 9, 30, 19, 0)) == dt.datetime(2026, 10, 3, 10, 0)
    assert office.next_open(dt.datetime(2026, 9, 28, 12, 30)) == dt.datetime(2026, 9, 28, 13, 0)


def test_bad_definitions_are_rejected():
    with pytest.raises(CalendarError, match="weekday"):
        Calendar("x", {"funday": [["09:00", "10:00"]]})
    with pytest.raises(CalendarError, match="ends before"):
        Calendar("x", {"mon": [["18:00", "09:00"]]})
    with pytest.raises(CalendarError, match="not a time"):
        Calendar("x", {"mon": [["9am", "10:00"]]})
    with pytest.raises(CalendarError, match="time zone"):
        Calendar("x", {}, timezone="Mars/Olympus")
    with pytest.raises(CalendarError, match="not a date"):
        Calendar("x", {}, holidays={"10/01/2026": "x"})


def test_db_round_trip(office, tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/c.db")
    Base.metadata.create_all(eng)
    sf = make_session_factory(eng)
    cal_mod.save(sf, office)
    cal_mod.save(sf, office)          # replace, no duplicate rows
    back = cal_mod.load(sf, "office")
    assert back.to_dict() == office.to_dict()
    with pytest.raises(KeyError):
        cal_mod.load(sf, "nope")
