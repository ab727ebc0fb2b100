"""Inbound routes: which flow a call runs, from its called number (DID, exact or a pattern), trunk type and
span, and the time of day (a business-hours calendar: open -> the flow, closed or holiday -> the
after-hours flow); each route may also set the call's recording policy.

Routes live in ``ivr_inbound_routes``. `InboundRoutes` reads the table at each call setup (one small
SELECT) and recompiles its patterns only when a row changed, so a route saved in the web admin serves the
next call without a restart. Patterns follow the usual PBX notation: a leading ``_``, then ``X`` (0-9),
``Z`` (1-9), ``N`` (2-9), ``[1-5,7]`` (a set or range), ``.`` (one or more of anything), ``!`` (zero or
more) and literal digits ``0-9 * # +``; anything else is an exact number.
"""
from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .calendar import Calendar
from .models import IvrInboundRoute

log = logging.getLogger(__name__)

#: recording policies: record nothing, the IVR part (answer to queue entry), the agent part (bridge to its
#: end, caller and agent on two tracks), the whole call (answer to hang-up, two tracks)
RECORD_POLICIES = ("none", "ivr", "agent", "whole")
#: trunk types a route can name ("" = any)
TRUNKS = ("analog", "pri", "r2", "ss7", "sip", "station", "gsm")
EXACT = re.compile(r"\+?[0-9*#]{1,32}")
_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}


class RouteError(ValueError):
    """A route's number pattern (or another field) is malformed."""


def compile_number(number: str) -> re.Pattern[str] | None:
    """The regular expression of a route's number: None for "" (any number); RouteError when malformed."""
    number = number.strip()
    if not number:
        return None
    if not number.startswith("_"):
        if not EXACT.fullmatch(number):
            raise RouteError(f"{number!r} is not a number: use digits, * # and a leading +, or a pattern "
                             f"starting with _")
        return re.compile(re.escape(number))
    body, out, i = number[1:], [], 0
    if not body or len(body) > 64:
        raise RouteError(f"pattern {number!r} needs 1 to 64 characters after the _")
    while i < len(body):
        ch = body[i].upper()
        if ch in _CLASSES:
            out.append(_CLASSES[ch])
        elif ch in "0123456789*#+":
            out.append(re.escape(ch))
        elif ch == "[":
            end = body.find("]", i)
            inner = body[i + 1:end] if end > i else ""
            if end < 0 or not inner or not re.fullmatch(r"[0-9](-[0-9])?(,?[0-9](-[0-9])?)*", inner):
                raise RouteError(f"pattern {number!r}: a set is [digits], ranges like [1-5], e.g. [1-57]")
            for a, b in re.findall(r"([0-9])-([0-9])", inner):
                if a > b:
                    raise RouteError(f"pattern {number!r}: range {a}-{b} runs backwards")
            out.append("[" + inner.replace(",", "") + "]")
            i = end
        else:
            raise RouteError(f"pattern {number!r}: {body[i]!r} is not allowed (digits * # +, X Z N, [..], . !)")
        i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class Route:
    """One enabled route, compiled."""
    name: str
    priority: int
    number: str
    trunk: str
    span: int | None
    calendar: str
    flow: str
    after_hours_flow: str
    record: str
    pattern: re.Pattern[str] | None

    def matches(self, called: str, trunk: str, span: int | None) -> bool:
        """True when a call to `called` on `trunk` / `span` takes this route."""
        if self.trunk and self.trunk != trunk:
            return False
        if self.span is not None and self.span != span:
            return False
        return self.pattern is None or self.pattern.fullmatch(called or "") is not None

    def order(self) -> tuple[int, int, int, str]:
        """Sort key: priority, then exact numbers, then longer patterns, then name."""
        exact = 0 if self.number and not self.number.startswith("_") else 1 if self.number else 2
        return (self.priority, exact, -len(self.number), self.name)


@dataclass(frozen=True)
class Decision:
    """What a call runs: the flow, the route that chose it (None: the default), whether the route's
    calendar was closed (after hours), and the route's recording policy ("" = not set by the route)."""
    flow: str
    route: str | None = None
    after_hours: bool = False
    record: str = ""


class InboundRoutes:
    """The inbound routes of ``ivr_inbound_routes``, re-read at each call (recompiled on change)."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory
        self._sig: tuple[object, ...] | None = None
        self._routes: list[Route] = []

    def routes(self) -> list[Route]:
        """The enabled routes in matching order (a row with a bad pattern is skipped and logged)."""
        with self.session_factory() as s:
            rows = list(s.scalars(select(IvrInboundRoute).where(IvrInboundRoute.enabled != 0)))
            sig = tuple(sorted((r.name, r.priority, r.number, r.trunk, r.span, r.calendar, r.flow,
                                r.after_hours_flow, r.record) for r in rows))
            if sig == self._sig:
                return self._routes
            out = []
            for r in rows:
                try:
                    pattern = compile_number(r.number or "")
                except RouteError as e:
                    log.error("inbound route %s skipped: %s", r.name, e)
                    continue
                out.append(Route(r.name, int(r.priority or 0), r.number or "", r.trunk or "", r.span,
                                 r.calendar or "", r.flow or "", r.after_hours_flow or "",
                                 r.record if r.record in RECORD_POLICIES else "", pattern))
        out.sort(key=Route.order)
        self._sig, self._routes = sig, out
        log.info("inbound routes loaded: %s", ", ".join(r.name for r in out) or "(none)")
        return out

    def match(self, called: str, trunk: str, span: int | None) -> Route | None:
        """The first route a call takes, or None."""
        return next((r for r in self.routes() if r.matches(called, trunk, span)), None)

    def decide(self, called: str, trunk: str, span: int | None, now: _dt.datetime,
               calendars: Mapping[str, Calendar], default: str) -> Decision:
        """The flow for a call at wall-clock `now`; `default` when no route matches. A route whose calendar
        is missing counts as open (logged), so a deleted calendar never drops calls."""
        route = self.match(called, trunk, span)
        if route is None:
            return Decision(default)
        after = False
        if route.calendar:
            try:
                after = not calendars[route.calendar].is_open(now)
            except KeyError:
                log.error("inbound route %s: no calendar named %r; treated as open", route.name, route.calendar)
        flow = route.after_hours_flow if after and route.after_hours_flow else route.flow
        return Decision(flow or default, route.name, after, route.record)
