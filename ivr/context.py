"""Live views of the admin's configuration for flows: calendars and lookup sources read from the database
on use, so what an admin creates in the web admin serves the next call (and the next validation) at once."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import calendar as _calendar
from .calendar import Calendar
from .lookup import HttpLookup, Lookup, SqlLookup
from .models import IvrCalendar, IvrLookupSource


class DbCalendars(Mapping[str, Calendar]):
    """name -> Calendar, loaded from ``ivr_calendars`` / ``ivr_calendar_days`` on every access."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def __getitem__(self, name: str) -> Calendar:
        return _calendar.load(self.session_factory, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in set(self)

    def __iter__(self) -> Iterator[str]:
        with self.session_factory() as s:
            return iter(list(s.scalars(select(IvrCalendar.name).order_by(IvrCalendar.name))))

    def __len__(self) -> int:
        return len(list(iter(self)))


def lookup_from_row(row: IvrLookupSource, session_factory: Callable[[], Session]) -> Lookup:
    """The Lookup a stored source describes; ValueError for an unknown kind."""
    if row.kind == "sql":
        return SqlLookup(row.name, row.query, session_factory, timeout=float(row.timeout))
    if row.kind == "http":
        return HttpLookup(row.name, row.query, timeout=float(row.timeout), field=row.field or None)
    raise ValueError(f"lookup source {row.name!r}: kind must be sql or http, not {row.kind!r}")


class DbLookups(Mapping[str, Lookup]):
    """name -> Lookup over the enabled rows of ``ivr_lookup_sources`` (read on every access); sources
    added in code (`extra`) are served too."""

    def __init__(self, session_factory: Callable[[], Session], extra: Mapping[str, Lookup] | None = None) -> None:
        self.session_factory = session_factory
        self.extra: dict[str, Lookup] = dict(extra or {})

    def __getitem__(self, name: str) -> Lookup:
        if name in self.extra:
            return self.extra[name]
        with self.session_factory() as s:
            row = s.scalars(select(IvrLookupSource).where(IvrLookupSource.name == name,
                                                          IvrLookupSource.enabled.is_(True))).first()
            if row is None:
                raise KeyError(name)
            return lookup_from_row(row, self.session_factory)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in set(self)

    def __iter__(self) -> Iterator[str]:
        with self.session_factory() as s:
            names = set(s.scalars(select(IvrLookupSource.name).where(IvrLookupSource.enabled.is_(True))))
        return iter(sorted(names | set(self.extra)))

    def __len__(self) -> int:
        return len(list(iter(self)))


class LiveNames:
    """A collection of names computed on each use (queue names from the ACD's table, for validation)."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self._names = names

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())
