"""Staff schedules (班次): who should be signed in when, and schedule adherence.

A shift (`acd_shifts`) covers the members of one queue (`group`) or one agent, from `start` to `end` local
time (an `end` at or before `start` ends the next day) on its weekdays, minus its breaks. With a calendar,
a holiday of the calendar cancels the shift that starts that day and a make-up working day (调休) adds it,
whatever the weekday. All times are local wall-clock times in the configured zone.

Adherence of an agent who has at least one shift:
  working  adherent when signed in and not in not-ready (ready, ringing, on a call or in wrap-up)
  break    adherent unless ready for calls (a call still running or its wrap-up is fine)
  off      adherent when signed out
Agents without any shift are listed as "unscheduled" and never flagged.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.ivr import calendar as _calendar
from trunkline.ivr.calendar import Calendar, CalendarError

from . import agents as st
from .models import AcdAgent, AcdMember, AcdShift

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKING, BREAK, OFF, UNSCHEDULED = "working", "break", "off", "unscheduled"
_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
DAY_MIN = 24 * 60


class ShiftError(ValueError):
    """A shift definition is malformed (time, weekday or break outside the shift)."""


def parse_hhmm(text: str, what: str = "time") -> int:
    """'HH:MM' (00:00..23:59) -> minutes after midnight; ShiftError otherwise."""
    m = _HHMM.fullmatch(str(text).strip())
    if m is None:
        raise ShiftError(f"{what}: {str(text)[:20]!r} is not a time HH:MM")
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_weekdays(text: str) -> frozenset[int]:
    """'mon,tue,...' or ranges 'mon-fri' (also 'sat-sun', 'fri-mon' wraps) -> weekday numbers (Monday = 0)."""
    out: set[int] = set()
    for part in str(text).lower().replace(" ", "").split(","):
        if not part:
            continue
        ends = part.split("-")
        if len(ends) > 2 or any(e[:3] not in DAYS or len(e) < 3 for e in ends):
            raise ShiftError(f"weekdays: {part[:20]!r} is not a day mon..sun or a range like mon-fri")
        a, b = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        out.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    if not out:
        raise ShiftError("weekdays: name at least one day (mon..sun)")
    return frozenset(out)


@dataclass(frozen=True)
class Shift:
    """A parsed shift: minutes after local midnight; breaks as offsets (min) from the shift's start."""
    name: str
    start: int
    length: int
    weekdays: frozenset[int]
    breaks: tuple[tuple[int, int], ...] = ()
    group: str = ""
    agent: str = ""
    calendar: str = ""

    @classmethod
    def parse(cls, name: str, start: str, end: str, weekdays: str, breaks: str = "", group: str = "",
              agent: str = "", calendar: str = "") -> Shift:
        """Build and check a shift from its stored text fields; ShiftError names the bad part."""
        a, b = parse_hhmm(start, "start"), parse_hhmm(end, "end")
        length = (b - a) % DAY_MIN or DAY_MIN
        spans = []
        for part in [p.strip() for p in str(breaks or "").split(",") if p.strip()]:
            ends = part.split("-")
            if len(ends) != 2:
                raise ShiftError(f"breaks: {part[:20]!r} is not a range HH:MM-HH:MM")
            x = (parse_hhmm(ends[0], "break") - a) % DAY_MIN
            y = (parse_hhmm(ends[1], "break") - a) % DAY_MIN or DAY_MIN
            if not 0 < x < y < length:
                raise ShiftError(f"breaks: {part} does not lie inside the shift {start}-{end}")
            spans.append((x, y))
        spans.sort()
        if any(spans[i][1] > spans[i + 1][0] for i in range(len(spans) - 1)):
            raise ShiftError("breaks: two breaks overlap")
        if bool(group) == bool(agent):
            raise ShiftError("a shift is for a queue's agents or for one agent (exactly one of them)")
        return cls(name, a, length, parse_weekdays(weekdays), tuple(spans), group, agent, calendar)

    @classmethod
    def from_row(cls, row: AcdShift) -> Shift:
        """The shift a stored row describes (ShiftError when the row is malformed)."""
        return cls.parse(row.name, row.start, row.end, row.weekdays, row.breaks, row.group or "",
                         row.agent or "", row.calendar or "")

    def works_on(self, day: dt.date, cal: Calendar | None = None) -> bool:
        """True when the shift starts on local date `day` (calendar: 调休 workday yes, holiday no)."""
        if cal is not None:
            if day in cal.workdays:
                return True
            if day in cal.holidays:
                return False
        return day.weekday() in self.weekdays

    def status_at(self, local: dt.datetime, cal: Calendar | None = None) -> tuple[str, dt.datetime | None]:
        """(working|break|off, local time the status ends or None when off) at naive local time `local`."""
        for back in (0, 1):
            day = local.date() - dt.timedelta(days=back)
            begin = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=self.start)
            offset = (local - begin).total_seconds() / 60.0
            if not 0 <= offset < self.length or not self.works_on(day, cal):
                continue
            for x, y in self.breaks:
                if x <= offset < y:
                    return BREAK, begin + dt.timedelta(minutes=y)
            nxt = min([x for x, _ in self.breaks if x > offset] + [self.length])
            return WORKING, begin + dt.timedelta(minutes=nxt)
        return OFF, None


@dataclass
class Scheduled:
    """One agent's scheduled status now: status, the shift that sets it, until when (local)."""
    status: str = OFF
    shift: str = ""
    until: dt.datetime | None = None


def _local(when: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return when.astimezone(tz).replace(tzinfo=None) if when.tzinfo is not None else when


def load_shifts(s: Session) -> tuple[list[Shift], list[str]]:
    """The enabled shifts that parse, and a problem line for each stored shift that does not."""
    shifts, problems = [], []
    for row in s.scalars(select(AcdShift).where(AcdShift.enabled == 1).order_by(AcdShift.name)):
        try:
            shifts.append(Shift.from_row(row))
        except ShiftError as exc:
            problems.append(f"shift {row.name}: {exc}")
    return shifts, problems


@dataclass
class Roster:
    """The enabled shifts, queue members and calendars loaded once, to ask about many instants."""
    shifts: list[Shift]
    members: dict[str, list[str]]
    calendars: dict[str, Calendar | None]
    problems: list[str]

    @classmethod
    def load(cls, factory: Callable[[], Session], calendars: Mapping[str, Calendar] | None = None) -> Roster:
        """Read shifts, memberships and the shifts' calendars (a missing calendar is a problem, not an error)."""
        with factory() as s:
            shifts, problems = load_shifts(s)
            members: dict[str, list[str]] = {}
            for q, a in s.execute(select(AcdMember.queue, AcdMember.agent)):
                members.setdefault(q, []).append(a)
        cals: dict[str, Calendar | None] = {}
        for name in sorted({sh.calendar for sh in shifts if sh.calendar}):
            try:
                cals[name] = calendars[name] if calendars is not None else _calendar.load(factory, name)
            except (KeyError, CalendarError):
                cals[name] = None
                problems.append(f"calendar {name!r} not found: its shifts follow their weekdays only")
        return cls(shifts, members, cals, problems)

    def at(self, local: dt.datetime) -> dict[str, Scheduled]:
        """Agent -> scheduled status at naive local time `local`; working in one shift beats a break in another."""
        out: dict[str, Scheduled] = {}
        rank = {OFF: 0, BREAK: 1, WORKING: 2}
        for sh in self.shifts:
            status, until = sh.status_at(local, self.calendars.get(sh.calendar) if sh.calendar else None)
            for agent in ([sh.agent] if sh.agent else self.members.get(sh.group, [])):
                cur = out.setdefault(agent, Scheduled())
                if rank[status] > rank[cur.status] or (status == cur.status != OFF and until and cur.until
                                                       and until > cur.until):
                    cur.status, cur.shift, cur.until = status, sh.name, until
        return out


def schedule_at(factory: Callable[[], Session], when: dt.datetime, tz: dt.tzinfo,
                calendars: Mapping[str, Calendar] | None = None) -> tuple[dict[str, Scheduled], list[str]]:
    """({agent covered by an enabled shift: their scheduled status at `when` (aware, or naive local)},
    problems). A shift naming a missing calendar runs on its weekdays only and says so in the problems."""
    roster = Roster.load(factory, calendars)
    return roster.at(_local(when, tz)), roster.problems


def working_per_slot(factory: Callable[[], Session], day: dt.date, agents: Iterable[str] | None = None,
                     slot_minutes: int = 30) -> list[int]:
    """Agents (of `agents`, default all) scheduled to work (not on a break) at the middle of each local
    `slot_minutes` slot of `day`, from 00:00 on."""
    roster = Roster.load(factory)
    wanted = set(agents) if agents is not None else None
    start = dt.datetime.combine(day, dt.time())
    out = []
    for i in range(DAY_MIN // slot_minutes):
        sched = roster.at(start + dt.timedelta(minutes=slot_minutes * i + slot_minutes / 2))
        out.append(sum(1 for a, sc in sched.items() if sc.status == WORKING and (wanted is None or a in wanted)))
    return out


def should_be_signed_in(factory: Callable[[], Session], when: dt.datetime, tz: dt.tzinfo) -> list[str]:
    """The agents who should be signed in at `when` (working or on a scheduled break), sorted."""
    return sorted(a for a, sc in schedule_at(factory, when, tz)[0].items() if sc.status != OFF)


def adherent(scheduled: str, state: str) -> bool:
    """Whether an agent in ACD `state` keeps to their `scheduled` status (see the module doc)."""
    if scheduled == WORKING:
        return state in st.LOGGED_IN and state != st.BREAK
    if scheduled == BREAK:
        return state != st.AVAILABLE
    if scheduled == OFF:
        return state == st.LOGGED_OUT
    return True


def adherence(factory: Callable[[], Session], when: dt.datetime, tz: dt.tzinfo,
              agents: Iterable[str] | None = None) -> dict[str, Any]:
    """Per agent (all, or those in `agents`): scheduled status and shift, signed in, ready, ACD state,
    adherent; plus counts and the schedule's problems. Times shown as local HH:MM."""
    sched, problems = schedule_at(factory, when, tz)
    wanted = set(agents) if agents is not None else None
    with factory() as s:
        rows = list(s.execute(select(AcdAgent.id, AcdAgent.name, AcdAgent.state).order_by(AcdAgent.id)))
    out = []
    for aid, name, state in rows:
        if wanted is not None and aid not in wanted:
            continue
        sc = sched.get(aid)
        status = sc.status if sc is not None else UNSCHEDULED
        out.append({"agent": aid, "name": name or aid, "scheduled": status, "shift": sc.shift if sc else "",
                    "until": sc.until.strftime("%H:%M") if sc is not None and sc.until is not None else "",
                    "state": state, "signed_in": state in st.LOGGED_IN, "ready": state == st.AVAILABLE,
                    "adherent": adherent(status, state)})
    return {"time": _local(when, tz).strftime("%Y-%m-%d %H:%M"), "agents": out,
            "scheduled": sum(1 for r in out if r["scheduled"] in (WORKING, BREAK)),
            "signed_in": sum(1 for r in out if r["signed_in"]), "ready": sum(1 for r in out if r["ready"]),
            "out_of_adherence": sum(1 for r in out if not r["adherent"]), "problems": problems}
