"""A small synchronous event bus: channel/call/queue events to subscribers (web admin, CTI, CDR)."""
import logging

log = logging.getLogger("trunkline.bus")


class EventBus:
    """Publish dict events to every subscriber; a failing subscriber is logged, never breaks the engine."""

    def __init__(self):
        self._subs = []

    def subscribe(self, callback):
        """Register callback(event: dict); returns an unsubscribe function."""
        self._subs.append(callback)
        return lambda: self._subs.remove(callback) if callback in self._subs else None

    def publish(self, event):
        """Deliver one event (a dict with at least 'type') to all subscribers."""
        for cb in list(self._subs):
            try:
                cb(event)
            except Exception:   # a subscriber's bug must not stop calls
                log.exception("event subscriber failed on %s", event.get("type"))
