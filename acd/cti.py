"""CTI event documents (JSON) and their streams: one per agent, one for supervisors.

Every document is a dict with at least ``type``, ``time`` (ACD clock, s) and
``id`` (monotonic per database). Documents are stored in acd_cti_events so a
web admin on any server sharing the database can stream them (SSE) and
resume with Last-Event-ID; in-process subscribers get them at once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AcdCtiEvent

log = logging.getLogger("trunkline.acd")

# type -> (description, fields beyond type/time/id)
DOCUMENTS = {
    "call.offered": ("a queued call is ringing the agent: the screen pop",
                     ["agent", "call_id", "entry", "queue", "caller_id", "called", "data", "wait", "priority",
                      "position_at_entry", "transferred_from"]),
    "call.answered": ("the agent answered; caller and agent are connected",
                      ["agent", "call_id", "entry", "queue", "caller_id", "called", "data", "wait"]),
    "call.missed": ("the agent did not answer in time (ring no answer) or was busy",
                    ["agent", "call_id", "entry", "queue", "ring_time", "reason"]),
    "call.ended": ("the connected call ended",
                   ["agent", "call_id", "entry", "queue", "talk_time", "ended_by", "recording"]),
    "call.transferred": ("the agent transferred the call (blind/attended, to agent or queue); data moves with it",
                         ["agent", "call_id", "entry", "queue", "kind", "target", "data"]),
    "agent.state": ("an agent's state changed",
                    ["agent", "state", "reason", "previous"]),
    "queue.joined": ("a caller joined a queue", ["call_id", "entry", "queue", "caller_id", "position", "ewt",
                                                "priority"]),
    "queue.left": ("a caller left a queue without reaching an agent",
                   ["call_id", "entry", "queue", "reason", "wait", "position"]),
    "queue.announce": ("position / estimated wait announced to a waiting caller",
                       ["call_id", "entry", "queue", "position", "ewt"]),
    "supervisor.monitor": ("a supervisor started listen/whisper/barge on an agent's call",
                           ["agent", "supervisor", "mode", "call_id"]),
}

SUPERVISOR: str | None = None          # subscription key for the supervisor stream (sees every document)


def make_doc(type_: str, time: float, **fields: Any) -> dict[str, Any]:
    """Build one CTI document; raises ValueError for an unknown type."""
    if type_ not in DOCUMENTS:
        raise ValueError(f"unknown CTI document type {type_!r}")
    doc = {"type": type_, "time": round(float(time), 3)}
    doc.update(fields)
    return doc


class CtiHub:
    """Publishes CTI documents to the database and to in-process subscribers (thread-safe)."""

    def __init__(self) -> None:
        self._subs: list[tuple[str | None, Callable[[dict[str, Any]], None]]] = []   # (agent or None, callback)
        self._lock = threading.Lock()
        self.changed = threading.Condition()

    def subscribe(self, callback: Callable[[dict[str, Any]], None],
                  agent: str | None = SUPERVISOR) -> Callable[[], None]:
        """callback(doc) for every document of `agent` (None: all documents); returns an unsubscribe function."""
        item = (agent, callback)
        with self._lock:
            self._subs.append(item)

        def unsubscribe() -> None:
            with self._lock:
                if item in self._subs:
                    self._subs.remove(item)
        return unsubscribe

    def store(self, session: Session, doc: dict[str, Any]) -> AcdCtiEvent:
        """Add `doc` to `session`; the row id becomes doc["id"] once committed (see `assign_ids`)."""
        row = AcdCtiEvent(time=doc["time"], agent=doc.get("agent"), type=doc["type"], doc=dict(doc))
        session.add(row)
        return row

    @staticmethod
    def assign_ids(pairs: Iterable[tuple[AcdCtiEvent, dict[str, Any]]]) -> list[dict[str, Any]]:
        """After commit: copy each stored row's id into its document; returns the documents."""
        out = []
        for row, doc in pairs:
            doc["id"] = row.id
            out.append(doc)
        return out

    def deliver(self, docs: Iterable[dict[str, Any]]) -> None:
        """Hand committed documents to in-process subscribers and wake waiting streams."""
        with self._lock:
            subs = list(self._subs)
        for doc in docs:
            for agent, cb in subs:
                if agent is SUPERVISOR or agent == doc.get("agent"):
                    try:
                        cb(doc)
                    except Exception:     # a broken subscriber must not break the ACD (nor the others)
                        log.exception("CTI subscriber %r failed on %s", cb, doc.get("type"))
        with self.changed:
            self.changed.notify_all()


def read_events(session: Session, after_id: int = 0, agent: str | None = SUPERVISOR,
                limit: int = 500) -> list[dict[str, Any]]:
    """Stored documents after `after_id` for `agent` (None: all), oldest first."""
    q = select(AcdCtiEvent).where(AcdCtiEvent.id > after_id).order_by(AcdCtiEvent.id).limit(limit)
    if agent is not SUPERVISOR:
        q = q.where(AcdCtiEvent.agent == agent)
    out = []
    for r in session.scalars(q):
        d = dict(r.doc or {})
        d["id"] = r.id
        out.append(d)
    return out
