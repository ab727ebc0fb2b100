"""The live channel table of an engine, as the admin's channel page and /api/live/channels show it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trunkline.media.engine import Engine


def channel_rows(engine: Engine) -> list[dict[str, Any]]:
    """One dict per busy bearer channel (every bearer channel on boards of at most 1,000 channels), with
    the call's state, parties, start and duration (s), the span's alarms and the signaling's summary."""
    rows: list[dict[str, Any]] = []
    now = engine.now
    show_idle = engine.channels <= 1000
    for sig in engine.signaling:
        sig_status = sig.status()            # {} for stacks without signaling state to show
        per_channel = sig_status.get("channels")
        for ch in sig.span.bearer_channels:
            call = engine.calls.get(ch)
            if call is None and not show_idle:
                continue
            rows.append({
                "channel": ch, "span": sig.span.index, "kind": sig.span.kind, "trunk": sig.trunk,
                "state": call.state if call else "idle",
                "caller": call.caller_id if call else "", "called": call.called if call else "",
                "since": call.created_at if call else None,
                "duration": round(now - call.created_at, 1) if call else 0.0,
                "call_id": call.id if call else None,
                "alarms": sig.span.alarms,
            })
            if sig_status:
                rows[-1]["signaling"] = sig_status.get("summary", "")
                rows[-1].update(per_channel.get(ch, {}) if per_channel else {})
    return rows
