"""A small synchronous event bus: channel/call/queue events to subscribers (web admin, CTI, CDR)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("trunkline.bus")

#: an event: a dict with at least "type"
Event = dict[str, Any]


class EventBus:
    """Publish dict events to every subscriber; a failing subscriber is logged, never breaks the engine."""

    def __init__(self) -> None:
        self._subs: list[Callable[[Event], object]] = []

    def subscribe(self, callback: Callable[[Event], object]) -> Callable[[], None]:
        """Register callback(event: dict); returns an unsubscribe function."""
        self._subs.append(callback)

        def unsubscribe() -> None:
            if callback in self._subs:
                self._subs.remove(callback)
        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver one event (a dict with at least 'type') to all subscribers."""
        for cb in list(self._subs):
            try:
                cb(event)
            except Exception:   # a subscriber's bug must not stop calls
                log.exception("event subscriber failed on %s", event.get("type"))
