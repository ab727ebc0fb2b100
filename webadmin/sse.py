"""Server-Sent Events: the one way the web admin answers with a `text/event-stream` (live pages, CTI).

Every stream holds one server thread while it is open, so streams are capped: at most SSE_MAX_STREAMS in
total and SSE_MAX_PER_USER per login (default 12 and 4 of the server's 32 threads), leaving threads for
/login and the pages. A stream over the cap gets 503 with Retry-After (EventSource reconnects later); every
stream ends after its lifetime (LIVE_STREAM_SECONDS) and its slot is given back when the response closes.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, stream_with_context

KEEPALIVE = ": keepalive\n\n"


def retry(ms: int) -> str:
    """The field telling EventSource how long to wait before it reconnects."""
    return f"retry: {ms}\n\n"


def message(data: str, event: str | None = None, event_id: int | None = None) -> str:
    """One SSE message: optional id and event type, then the (single-line) data."""
    head = (f"id: {event_id}\n" if event_id is not None else "") + (f"event: {event}\n" if event else "")
    return f"{head}data: {data}\n\n"


class StreamSlots:
    """Counts open streams in total and per user; acquire() refuses above the caps."""

    def __init__(self, total: int, per_user: int) -> None:
        self.total = total
        self.per_user = per_user
        self.open: dict[object, int] = {}
        self.refused = 0
        self._lock = threading.Lock()

    def acquire(self, user: object) -> bool:
        """Take a slot for `user`; False (counted as refused) when a cap is reached."""
        with self._lock:
            if sum(self.open.values()) >= self.total or self.open.get(user, 0) >= self.per_user:
                self.refused += 1
                return False
            self.open[user] = self.open.get(user, 0) + 1
            return True

    def release(self, user: object) -> None:
        """Give `user`'s slot back."""
        with self._lock:
            n = self.open.get(user, 0) - 1
            if n > 0:
                self.open[user] = n
            else:
                self.open.pop(user, None)


def slots(app: Flask) -> StreamSlots:
    """The app's stream slots (made from SSE_MAX_STREAMS and SSE_MAX_PER_USER on first use)."""
    st = app.extensions.get("tl_sse_slots")
    if st is None:
        st = app.extensions["tl_sse_slots"] = StreamSlots(int(app.config.get("SSE_MAX_STREAMS", 12)),
                                                          int(app.config.get("SSE_MAX_PER_USER", 4)))
    return st


def event_stream(messages: Iterator[str]) -> Response:
    """Stream `messages` (request context kept) as an uncached, unbuffered event stream; 503 over the caps."""
    user = getattr(getattr(g, "user", None), "id", None)
    st = slots(current_app)
    if not st.acquire(user):
        busy = Response("too many live streams open; retry later\n", 503, mimetype="text/plain")
        busy.headers["Retry-After"] = "10"
        return busy
    released: list[bool] = []

    def release() -> None:
        if not released:
            released.append(True)
            st.release(user)

    resp = Response(stream_with_context(messages), mimetype="text/event-stream")
    resp.call_on_close(release)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp
