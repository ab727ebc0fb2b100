"""Server-Sent Events: the one way the web admin answers with a `text/event-stream` (live pages, CTI)."""
from __future__ import annotations

from collections.abc import Iterator

from flask import Response, stream_with_context

KEEPALIVE = ": keepalive\n\n"


def retry(ms: int) -> str:
    """The field telling EventSource how long to wait before it reconnects."""
    return f"retry: {ms}\n\n"


def message(data: str, event: str | None = None, event_id: int | None = None) -> str:
    """One SSE message: optional id and event type, then the (single-line) data."""
    head = (f"id: {event_id}\n" if event_id is not None else "") + (f"event: {event}\n" if event else "")
    return f"{head}data: {data}\n\n"


def event_stream(messages: Iterator[str]) -> Response:
    """Stream `messages` (request context kept) as an uncached, unbuffered event stream."""
    resp = Response(stream_with_context(messages), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp
