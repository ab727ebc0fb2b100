"""Span alarm history: watch the alarm bits of every span of the running board and record each alarm raised
or cleared (red / blue / yellow) with its wall-clock time, in the database and on the event bus."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trunkline.data.alarm_models import SpanAlarmEvent
from trunkline.data.db import session_scope

if TYPE_CHECKING:
    from trunkline.media.engine import Engine

log = logging.getLogger("trunkline.alarms")

#: alarm bit -> name (drivers/board.py Span.alarms)
ALARMS = ((1, "red"), (2, "blue"), (4, "yellow"))


def alarm_names(bits: int) -> list[str]:
    """The alarms set in span alarm bits, e.g. 5 -> ["red", "yellow"]."""
    return [name for bit, name in ALARMS if bits & bit]


class AlarmWatch:
    """Reads every span's alarm bits each `interval` s of media time; a change is recorded as raised/cleared
    events (kept in memory, written to the database through `session_factory`, published on the bus)."""

    def __init__(self, engine: Engine, session_factory: Callable[[], Session] | None,
                 interval: float = 1.0, keep: int = 500) -> None:
        self.engine = engine
        self.session_factory = session_factory
        self.interval = float(interval)
        self.spans = [sp.index for sp in engine.board.spans]
        self.bits = np.zeros(len(self.spans), dtype=np.int64)       # last bits read, per span
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)     # newest last
        self._pending: list[SpanAlarmEvent] = []

    def read(self) -> np.ndarray:
        """The alarm bits of every span now."""
        spans = self.engine.board.spans
        return np.fromiter((sp.alarms for sp in spans), dtype=np.int64, count=len(spans))

    def check(self) -> list[dict[str, Any]]:
        """Compare the spans' bits with the last reading; returns (and records) the events of what changed."""
        now_bits = self.read()
        changed = np.flatnonzero(now_bits != self.bits)
        events: list[dict[str, Any]] = []
        at = dt.datetime.now(dt.timezone.utc)
        for i in changed:
            old, new = int(self.bits[i]), int(now_bits[i])
            for bit, name in ALARMS:
                if (old ^ new) & bit:
                    events.append({"type": "span_alarm", "span": self.spans[i], "alarm": name,
                                   "event": "raised" if new & bit else "cleared", "bits": new, "at": at})
        self.bits = now_bits
        for ev in events:
            log.warning("span %d: %s alarm %s", ev["span"], ev["alarm"], ev["event"])
            self.recent.append(ev)
            self._pending.append(SpanAlarmEvent(at=at, board=self.engine.board.url[:255], span=ev["span"],
                                                alarm=ev["alarm"], event=ev["event"], bits=ev["bits"]))
            bus = self.engine.bus
            if bus is not None:
                bus.publish({k: v for k, v in ev.items() if k != "at"} | {"time": self.engine.now})
        return events

    def flush(self) -> int:
        """Write the events not yet stored; returns how many were written (kept for the next try on error)."""
        if not self._pending or self.session_factory is None:
            return 0
        rows, self._pending = self._pending, []
        try:
            with session_scope(self.session_factory) as s:
                s.add_all(rows)
        except SQLAlchemyError as exc:
            log.error("span alarm history not stored (%d events kept for the next try): %s", len(rows), exc)
            self._pending = rows + self._pending
            return 0
        return len(rows)

    async def run(self) -> None:
        """Check every `interval` s of media time until cancelled; database writes off the engine loop."""
        loop = asyncio.get_running_loop()
        while True:
            if self.check():
                await loop.run_in_executor(None, self.flush)
            await self.engine.sleep(self.interval)
