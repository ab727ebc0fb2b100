"""What a queued call reports: how enqueue() ended (QueueResult) and its CDR fields (call.cdr)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trunkline.media import Call, Engine


@dataclass
class QueueResult:
    """How enqueue() ended: outcome completed|abandoned|timeout|empty|voicemail|callback|overflow|hangup."""
    outcome: str
    queue: str
    entry: int
    agent: str | None = None
    wait: float = 0.0
    talk: float = 0.0
    ended_by: str | None = None
    overflow: dict[str, Any] | None = None
    recording: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rejoin:
    """A JoinResult-like handle for a caller moved to a new entry (transfer, callback)."""
    entry: int
    position: int
    ewt: float = 0.0
    priority: int = 0
    empty: bool = False


#: what comes after one stretch of a queued call: None (the call is done) or (queue name, entry handle)
Next = tuple[str, Any] | None


def set_cdr(call: Call, queue: str, agent: str | None, outcome: str, wait: float, talk: float,
            recording: str | None) -> None:
    """Fill the call's typed record (media.record.CallRecord, read by the CDR writer): queue, agent,
    outcome, wait and talk s, recording path."""
    rec = call.cdr
    rec.queue, rec.agent, rec.outcome = queue, agent, outcome
    rec.wait, rec.talk, rec.recording = round(wait, 3), round(talk, 3), recording


class CdrTracker:
    """Keeps what the CDR needs of a queued call current: the CDR is written the moment the call ends
    (engine end hook), which is often before enqueue() returns and sets the final fields."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._calls: dict[str, dict[str, Any]] = {}      # call id -> CDR state of a queued call

    def track(self, call: Call, **state: Any) -> None:
        """Update the CDR state of `call` (queue, agent, outcome, wait_base, answered, recording)."""
        t = self._calls.get(call.id)
        if t is None:
            t = self._calls[call.id] = {"agent": None, "answered": None, "recording": None}
            call.on_hangup(self._hangup)
        t.update(state)

    def forget(self, call: Call) -> None:
        """The call left the ACD: stop tracking it."""
        self._calls.pop(call.id, None)

    @staticmethod
    def finish(call: Call, r: QueueResult) -> None:
        """Set the CDR fields of a finished QueueResult."""
        set_cdr(call, r.queue, r.agent, r.outcome, r.wait, r.talk, r.recording)

    def _hangup(self, call: Call) -> None:
        t = self._calls.get(call.id)
        if not t or "queue" not in t:
            return
        now = self.engine.now
        up = t["answered"]
        set_cdr(call, t["queue"], t["agent"], t["outcome"], (up if up is not None else now) - t["wait_base"],
                now - up if up is not None else 0.0, t["recording"])
