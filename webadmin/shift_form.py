"""The typed form of staff shifts (班次, /config/table/shifts and /api/config/shifts): registered in
webadmin.forms with a whole-shift check (times, weekdays, breaks inside the shift, a queue or an agent)."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.acd.models import AcdShift
from trunkline.acd.schedules import Shift, ShiftError, parse_hhmm, parse_weekdays
from trunkline.ivr.models import IvrCalendar

from .forms import CHECKS, FORMS, NAME, Field, _agents, _queues

TITLE = _l("Staff shifts")
#: the columns listed on the configuration index (webadmin.config.TABLES)
COLUMNS = ["name", "group", "agent", "weekdays", "start", "end", "breaks", "calendar", "enabled"]


def _calendars(s: Session) -> list[str]:
    return [""] + list(s.scalars(select(IvrCalendar.name).order_by(IvrCalendar.name)))


FIELDS = [
    Field("name", _l("Shift name"), required=True, pattern=NAME, key_field=True),
    Field("group", _l("Agent group (queue)"), "select", choices=lambda s: [""] + _queues(s), default=""),
    Field("agent", _l("Or one agent"), "select", choices=lambda s: [""] + _agents(s), default=""),
    Field("weekdays", _l("Weekdays (mon..sun, e.g. mon-fri or mon,wed,fri)"), required=True, default="mon-fri"),
    Field("start", _l("Start (HH:MM, local time)"), required=True, default="09:00"),
    Field("end", _l("End (HH:MM; at or before the start = next day)"), required=True, default="18:00"),
    Field("breaks", _l("Breaks (HH:MM-HH:MM, comma separated)"), default="12:00-13:00"),
    Field("calendar", _l("Calendar (holidays off, make-up workdays on)"), "select", choices=_calendars,
          default=""),
    Field("enabled", _l("Enabled"), "bool", default=True),
]


def check(values: dict[str, Any], s: Session, errors: dict[str, str]) -> None:
    """The whole shift: times, weekdays, breaks inside the shift and not overlapping, a queue or an agent
    (run only on a form whose fields all passed their own checks)."""
    if errors:
        return
    for key in ("start", "end"):
        try:
            parse_hhmm(values[key])
        except ShiftError:
            errors[key] = _("Enter a time HH:MM (00:00 to 23:59).")
    try:
        parse_weekdays(values["weekdays"])
    except ShiftError:
        errors["weekdays"] = _("Name days mon..sun separated by commas, or a range such as mon-fri.")
    if bool(values.get("group")) == bool(values.get("agent")):
        errors["group"] = _("Choose an agent group or one agent (exactly one of them).")
    if errors:
        return
    try:
        Shift.parse(values["name"], values["start"], values["end"], values["weekdays"], values.get("breaks", ""),
                    values.get("group", ""), values.get("agent", ""), values.get("calendar", ""))
    except ShiftError:
        errors["breaks"] = _("Breaks are ranges HH:MM-HH:MM inside the shift that do not overlap.")


FORMS["shifts"] = (AcdShift, FIELDS)
CHECKS["shifts"] = check
