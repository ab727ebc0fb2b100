"""The ACD's shared state machine over the database (no audio): agents, queue entries, dispatch.

Every operation is one transaction (store.CoreBase). `ACDCore` is composed of
agent_state.AgentStates (definitions, login/break/ready/wrap-up),
entries.QueueEntries (join, leave, answer, complete, transfer) and
dispatch.Dispatcher (offers with row locking), plus the wallboard status
below. The async service (service.py) and the discrete-event simulation
(trunkline.app.acd_simulate) both drive this same object; times are seconds
on the ACD clock.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from . import agents as st
from .agent_state import AgentStates
from .dispatch import DISPATCH_LOCK, Dispatcher, Offer
from .entries import LEAVE_EVENTS, JoinResult, QueueEntries
from .ewt import estimate
from .models import AcdAgent, AcdEntry, AcdMember, AcdQueue
from .queues import QueueConfigError
from .store import CONNECTED, DONE, IN_QUEUE, OFFERED, WAITING, ACDError

__all__ = ["ACDCore", "ACDError", "CONNECTED", "DISPATCH_LOCK", "DONE", "IN_QUEUE", "JoinResult", "LEAVE_EVENTS",
           "OFFERED", "Offer", "WAITING"]


class ACDCore(AgentStates, QueueEntries, Dispatcher):
    """Shared ACD state in the database; one instance per Trunkline server (`instance` names it)."""

    # ------------------------------------------------------------------ status
    def agents_status(self, now: float | None = None) -> list[dict[str, Any]]:
        """List of dicts per agent: id, name, state, reason, since, where, calls, talk time, queues, caller."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            mq: defaultdict[str, list[str]] = defaultdict(list)
            for m in s.scalars(select(AcdMember).order_by(AcdMember.queue)):
                mq[m.agent].append(m.queue)
            out = []
            for a in s.scalars(select(AcdAgent).order_by(AcdAgent.id)):
                cur = s.get(AcdEntry, a.current_entry) if a.current_entry else None
                out.append({"id": a.id, "name": a.name, "state": a.state, "reason": a.reason,
                            "since": a.state_since, "in_state": round(now - a.state_since, 1),
                            "station_port": a.station_port, "number": a.number, "host": a.host,
                            "calls": a.calls_taken, "talk_time": round(a.talk_time, 1), "queues": mq[a.id],
                            "caller_id": cur.caller_id if cur else None, "queue": cur.queue if cur else None,
                            "call_id": cur.call_id if cur else None, "pending": a.pending})
            return out

    def queues_status(self, now: float | None = None, window: float = 3600.0) -> list[dict[str, Any]]:
        """List of dicts per queue: waiting, longest wait, agents, answered/abandoned/SL/ASA over the window, EWT."""
        now = self.now() if now is None else now
        out = []
        with self.transaction() as s:
            names = [q.name for q in s.scalars(select(AcdQueue).order_by(AcdQueue.name))]
        for name in names:
            try:
                cfg = self.queue_config(name)
            except QueueConfigError as exc:       # a bad stored row: listed with its problem, never raised
                out.append({"name": name, "error": str(exc), "waiting": 0, "longest_wait": 0.0, "agents": 0,
                            "logged_in": 0, "available": 0, "busy": 0, "on_break": 0})
                continue
            with self.transaction() as s:
                waiting = list(s.scalars(select(AcdEntry).where(AcdEntry.queue == name,
                                                                AcdEntry.state.in_(IN_QUEUE))))
                rows = s.execute(select(AcdAgent.state).join(AcdMember, AcdMember.agent == AcdAgent.id)
                                 .where(AcdMember.queue == name)).all()
                ended = list(s.scalars(select(AcdEntry).where(AcdEntry.queue == name,
                                                              AcdEntry.enqueued_at >= now - window)))
                stats = self._stats(s, cfg, now)
            waits = [e.answered_at - e.enqueued_at for e in ended if e.answered_at is not None]   # answered
            abandoned = [e for e in ended if e.outcome in ("abandon", "hangup")]
            in_sl = [w for w in waits if w <= cfg.service_level]
            asa = sum(waits) / len(waits) if waits else 0.0
            closed = len(waits) + len(abandoned)
            est = estimate(stats, len(waiting) + 1)
            out.append({"name": name, "strategy": cfg.strategy, "waiting": len(waiting),
                        "longest_wait": round(max((now - e.queue_since for e in waiting), default=0.0), 1),
                        "agents": len(rows),
                        "logged_in": sum(1 for r in rows if r[0] != st.LOGGED_OUT),
                        "available": sum(1 for r in rows if r[0] == st.AVAILABLE),
                        "busy": sum(1 for r in rows if r[0] in (st.BUSY, st.RINGING)),
                        "on_break": sum(1 for r in rows if r[0] == st.BREAK),
                        "answered": len(waits), "abandoned": len(abandoned),
                        "service_level": round(100.0 * len(in_sl) / closed, 1) if closed else None,
                        "asa": round(asa, 1), "ewt": round(est.blended, 1),
                        "erlang_c_wait": round(est.erlang, 1) if est.erlang != float("inf") else None})
        return out
