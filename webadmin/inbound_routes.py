"""The inbound routes page (/config/table/inbound_routes) and its JSON API (/api/config/inbound_routes): a
typed form over ``ivr_inbound_routes`` (called number or pattern, trunk, span, calendar -> flow and
after-hours flow, recording policy), registered with webadmin.forms; the flows and calendars offered are
the ones that exist, and a number pattern is checked the way the router compiles it. The running router
reads the table at each call, so a saved route serves the next call."""
from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.ivr.models import IvrCalendar, IvrFlow, IvrInboundRoute
from trunkline.ivr.routes import RECORD_POLICIES, TRUNKS, RouteError, compile_number

from .forms import CHECKS, FORMS, NAME, Field


def flow_names(s: Session) -> list[str]:
    """Flows a route may name: those the running server has loaded (else the stored ones)."""
    hub = current_app.config.get("HUB") if has_app_context() else None
    registry = getattr(hub, "flows", None)
    if registry is not None:
        return sorted(registry.names())
    return sorted(set(s.scalars(select(IvrFlow.name))))


def _calendars(s: Session) -> list[str]:
    return ["", *s.scalars(select(IvrCalendar.name).order_by(IvrCalendar.name))]


FIELDS = [
    Field("name", _l("Name"), required=True, pattern=NAME, key_field=True),
    Field("priority", _l("Priority (lower first)"), "int", 0, 10000, required=True, default=100),
    Field("number", _l("Called number (exact, or a pattern such as _9558X.; empty = any)")),
    Field("trunk", _l("Trunk type (empty = any)"), "select", choices=lambda s: ["", *TRUNKS]),
    Field("span", _l("Span (empty = any)"), "int", 0, 4095),
    Field("calendar", _l("Business hours calendar (empty = always open)"), "select", choices=_calendars),
    Field("flow", _l("Flow"), "select", required=True, choices=flow_names),
    Field("after_hours_flow", _l("After-hours flow (empty = the same flow)"), "select",
          choices=lambda s: ["", *flow_names(s)]),
    Field("record", _l("Recording (empty = the flow's or the queue's)"), "select",
          choices=lambda s: ["", *RECORD_POLICIES]),
    Field("enabled", _l("Enabled"), "bool", default=True),
]

#: the generic page list entry (webadmin.config.TABLES): model, title, columns
TABLE: tuple[Any, Any, list[str]] = (IvrInboundRoute, _l("Inbound routes"), [f.key for f in FIELDS])


def check_route(values: dict[str, Any], s: Session, errors: dict[str, str]) -> None:
    """The router's own checks: the number compiles; an after-hours flow needs a calendar."""
    try:
        if "number" in values:
            compile_number(str(values["number"] or ""))
    except RouteError:
        errors["number"] = _("Not a number or pattern: use digits, * # and a leading +, or _ then digits, "
                             "X (0-9), Z (1-9), N (2-9), [1-5], . (one or more) or ! (zero or more).")
    if values.get("after_hours_flow") and "calendar" in values and not values["calendar"]:
        errors["calendar"] = _("An after-hours flow needs a business hours calendar.")


FORMS["inbound_routes"] = (IvrInboundRoute, FIELDS)
CHECKS["inbound_routes"] = check_route
