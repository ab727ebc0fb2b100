"""Time conventions: stored times are timezone-aware UTC datetimes; media time is float seconds
from the board clock (`engine.now`), placed on the wall clock through an epoch."""
from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now, as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.timezone.utc)


def from_epoch(seconds: float) -> dt.datetime:
    """A Unix time (s) as a timezone-aware UTC datetime."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def as_utc(value: dt.datetime) -> dt.datetime:
    """`value` as aware UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
