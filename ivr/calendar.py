"""Business-hours calendars: weekly opening hours, dated holidays and make-up working days."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from trunkline.data.db import session_scope

from .models import IvrCalendar, IvrCalendarDay

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

OPEN, CLOSED, HOLIDAY = "open", "closed", "holiday"


class CalendarError(ValueError):
    """A calendar definition is malformed (bad day name, time or range)."""


TimeRange = tuple[_dt.time, _dt.time]


def _parse_time(s: Any, where: str) -> _dt.time:
    if isinstance(s, _dt.time):
        return s
    if s in ("24:00", "24:00:00"):
        return _dt.time.max
    try:
        return _dt.time.fromisoformat(str(s))
    except ValueError:
        raise CalendarError(f"{where}: {s!r} is not a time HH:MM") from None


def _parse_ranges(ranges: Any, where: str) -> list[TimeRange]:
    out: list[TimeRange] = []
    if ranges is None:
        return out
    if not isinstance(ranges, (list, tuple)):
        raise CalendarError(f"{where}: hours must be a list of [start, end] pairs")
    for r in ranges:
        if isinstance(r, str) and "-" in r:
            r = r.split("-", 1)
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise CalendarError(f"{where}: {r!r} is not a [start, end] pair")
        a, b = _parse_time(r[0], where), _parse_time(r[1], where)
        if not a < b:
            raise CalendarError(f"{where}: range {r[0]}-{r[1]} ends before it starts")
        out.append((a, b))
    return sorted(out)


def _parse_date(d: Any, where: str) -> _dt.date:
    if isinstance(d, _dt.datetime):
        return d.date()
    if isinstance(d, _dt.date):
        return d
    try:
        return _dt.date.fromisoformat(str(d))
    except ValueError:
        raise CalendarError(f"{where}: {d!r} is not a date YYYY-MM-DD") from None


class Calendar:
    """Opening hours in a time zone; holidays close a date, make-up workdays open one."""

    def __init__(self, name: str, weekly: Mapping[Any, Any] | None, holidays: Mapping[Any, Any] | None = None,
                 workdays: Mapping[Any, Any] | None = None, timezone: str = "Asia/Shanghai") -> None:
        self.name = name
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(f"calendar {name!r}: unknown time zone {timezone!r}") from None
        self.timezone = timezone
        self.weekly: dict[int, list[TimeRange]] = {}
        for key, ranges in (weekly or {}).items():
            day = key if isinstance(key, int) else (DAY_NAMES.index(str(key)[:3].lower())
                                                    if str(key)[:3].lower() in DAY_NAMES else None)
            if day is None or not 0 <= day <= 6:
                raise CalendarError(f"calendar {name!r}: unknown weekday {key!r}")
            self.weekly[day] = _parse_ranges(ranges, f"calendar {name!r} {DAY_NAMES[day]}")
        # holidays: {date: name} or {date: {"name":..., "hours": [...]}} (hours = partly open)
        self.holidays: dict[_dt.date, tuple[str, list[TimeRange]]] = {}
        for d, spec in (holidays or {}).items():
            date = _parse_date(d, f"calendar {name!r} holiday")
            if isinstance(spec, dict):
                self.holidays[date] = (spec.get("name", ""), _parse_ranges(spec.get("hours"), f"holiday {date}"))
            else:
                self.holidays[date] = (str(spec or ""), [])
        # workdays: {date: None (standard workday hours) or [...ranges]}
        self.workdays: dict[_dt.date, list[TimeRange]] = {}
        for d, ranges in (workdays or {}).items():
            date = _parse_date(d, f"calendar {name!r} workday")
            self.workdays[date] = (_parse_ranges(ranges, f"workday {date}") if ranges else self.standard_hours())

    def standard_hours(self) -> list[TimeRange]:
        """Hours of the first weekday Monday..Friday that has any (used for make-up workdays)."""
        for day in range(5):
            if self.weekly.get(day):
                return list(self.weekly[day])
        return []

    def local(self, when: _dt.datetime) -> _dt.datetime:
        """`when` (aware, or naive = already local) as a naive local datetime in the calendar's zone."""
        if when.tzinfo is not None:
            return when.astimezone(self.tz).replace(tzinfo=None)
        return when

    def hours_on(self, date: _dt.date) -> tuple[list[TimeRange], str | None]:
        """The opening ranges that apply on a date, and the holiday name if it is one."""
        if date in self.workdays:
            return self.workdays[date], None
        if date in self.holidays:
            hname, hours = self.holidays[date]
            return hours, hname
        return self.weekly.get(date.weekday(), []), None

    def state(self, when: _dt.datetime) -> str:
        """"open", "closed" or "holiday" at a datetime."""
        t = self.local(when)
        ranges, holiday = self.hours_on(t.date())
        now = t.time()
        if any(a <= now < b or (b == _dt.time.max and now >= a) for a, b in ranges):
            return OPEN
        return HOLIDAY if holiday is not None else CLOSED

    def is_open(self, when: _dt.datetime) -> bool:
        """True when the calendar is open at a datetime."""
        return self.state(when) == OPEN

    def holiday_name(self, when: _dt.datetime) -> str | None:
        """Name of the holiday on that date, or None."""
        t = self.local(when)
        _, holiday = self.hours_on(t.date())
        return holiday

    def next_open(self, when: _dt.datetime, horizon_days: int = 366) -> _dt.datetime | None:
        """The next local datetime at or after `when` when the calendar opens, or None within the horizon."""
        t = self.local(when)
        for i in range(horizon_days + 1):
            date = t.date() + _dt.timedelta(days=i)
            ranges, _ = self.hours_on(date)
            for a, b in ranges:
                start = _dt.datetime.combine(date, a)
                end = _dt.datetime.combine(date, b)
                if i == 0 and end <= t:
                    continue
                return max(start, t) if i == 0 else start
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able definition (the web admin and the DB store this)."""
        def fmt(rs: list[TimeRange]) -> list[list[str]]:
            return [[a.strftime("%H:%M"), "24:00" if b == _dt.time.max else b.strftime("%H:%M")] for a, b in rs]

        return {
            "name": self.name, "timezone": self.timezone,
            "weekly": {DAY_NAMES[d]: fmt(rs) for d, rs in sorted(self.weekly.items())},
            "holidays": {d.isoformat(): {"name": n, "hours": fmt(h)} for d, (n, h) in sorted(self.holidays.items())},
            "workdays": {d.isoformat(): fmt(h) for d, h in sorted(self.workdays.items())},
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Calendar:
        """Build a calendar from `to_dict()` output (or a YAML mapping of the same shape)."""
        if not isinstance(spec, dict) or "name" not in spec:
            raise CalendarError("calendar definition needs a mapping with a 'name'")
        return cls(spec["name"], spec.get("weekly", {}), spec.get("holidays"), spec.get("workdays"),
                   spec.get("timezone", "Asia/Shanghai"))


def save(session_factory: Callable[[], Session], cal: Calendar) -> None:
    """Store (insert or replace) a calendar and its dated days in the ivr_ tables."""
    d = cal.to_dict()
    with session_scope(session_factory) as s:
        row = s.query(IvrCalendar).filter_by(name=cal.name).one_or_none()
        if row is None:
            row = IvrCalendar(name=cal.name)
            s.add(row)
        row.timezone, row.weekly = cal.timezone, d["weekly"]
        row.days.clear()
        s.flush()
        for day, h in d["holidays"].items():
            row.days.append(IvrCalendarDay(day=_dt.date.fromisoformat(day), kind="holiday", name=h["name"],
                                           hours=h["hours"] or None))
        for day, hours in d["workdays"].items():
            row.days.append(IvrCalendarDay(day=_dt.date.fromisoformat(day), kind="workday", hours=hours))


def load(session_factory: Callable[[], Session], name: str) -> Calendar:
    """Load a calendar by name from the database; KeyError when it does not exist."""
    with session_factory() as s:
        row = s.query(IvrCalendar).filter_by(name=name).one_or_none()
        if row is None:
            raise KeyError(f"no calendar named {name!r}")
        holidays = {d.day: {"name": d.name, "hours": d.hours} for d in row.days if d.kind == "holiday"}
        workdays = {d.day: d.hours for d in row.days if d.kind == "workday"}
        return Calendar(row.name, row.weekly, holidays, workdays, row.timezone)
