"""Queue entries in the ACD core: a caller joins, waits (position, EWT), leaves, is answered or missed,
completes, is transferred, asks for a callback; restart recovery closes what a previous run left open."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import agents as st
from .ewt import Estimate, estimate
from .models import AcdAgent, AcdEntry, AcdMember, AcdQueue
from .queue_log import log_event
from .queues import QueueConfig
from .skills import required_from_data
from .store import CONNECTED, DONE, IN_QUEUE, OFFERED, WAITING, ACDError, CoreBase

LEAVE_EVENTS = {"abandon": "ABANDON", "timeout": "EXITWITHTIMEOUT", "empty": "EXITEMPTY",
                "key": "EXITWITHKEY", "overflow": "EXITWITHTIMEOUT", "voicemail": "EXITWITHKEY",
                "hangup": "ABANDON"}


@dataclass
class JoinResult:
    """Outcome of joining a queue: entry id, 1-based position, EWT (s); empty=True if no agent logged in."""
    entry: int
    position: int
    ewt: float
    priority: int
    estimate: Estimate            # the ewt.Estimate at entry (model / observed / blended parts)
    empty: bool = False


def _answered_at(e: AcdEntry) -> float:
    """When a connected entry was answered (a connected entry always was)."""
    if e.answered_at is None:
        raise ACDError(f"queue entry {e.id} is connected but was never answered")
    return e.answered_at


class QueueEntries(CoreBase):
    """Callers' queue entries: waiting -> offered -> connected -> done (or left without an agent)."""

    @staticmethod
    def _priority(cfg: QueueConfig, caller_id: str, data: dict[str, Any], priority: int) -> int:
        p = int(priority or 0)
        if caller_id and str(caller_id) in cfg.vip_numbers:
            p += cfg.vip_priority
        elif data and data.get(cfg.vip_var):
            p += cfg.vip_priority
        return p


    def join(self, queue: str, call_id: str, caller_id: str = "", called: str = "",
             data: dict[str, Any] | None = None, priority: int = 0, now: float | None = None,
             queue_since: float | None = None, target_agent: str | None = None,
             callback_number: str | None = None) -> JoinResult:
        """Put a caller in `queue`; returns JoinResult (empty=True if nobody is logged in to take it)."""
        cfg = self.queue_config(queue)
        now = self.now() if now is None else now
        data = dict(data or {})
        skills = required_from_data(data)
        prio = self._priority(cfg, caller_id, data, priority)
        with self.transaction() as s:
            e = AcdEntry(queue=queue, call_id=str(call_id), instance=self.instance, caller_id=str(caller_id or ""),
                         called=str(called or ""), priority=prio, skills=skills, data=data, state=WAITING,
                         enqueued_at=now, queue_since=now if queue_since is None else queue_since,
                         target_agent=target_agent, callback_number=callback_number)
            s.add(e)
            s.flush()
            pos = self._position(s, e)
            e.position_at_entry = pos
            est = estimate(self._stats(s, cfg, now), pos)
            e.ewt_at_entry = est.blended
            empty = self._logged_in_members(s, queue) == 0 and target_agent is None
            log_event(s, now, "ENTERQUEUE", e.call_id, queue, "NONE", "", e.caller_id)
            self.note(s, "queue.joined", now, call_id=e.call_id, entry=e.id, queue=queue, caller_id=e.caller_id,
                      position=pos, ewt=round(est.blended, 1), priority=prio)
            return JoinResult(entry=e.id, position=pos, ewt=est.blended, priority=prio, empty=empty, estimate=est)


    def position(self, entry_id: int) -> int:
        """1-based position of a waiting caller (priority first, then time in queue)."""
        with self.transaction() as s:
            return self._position(s, self._entry(s, entry_id, lock=False))

    def entry(self, entry_id: int) -> dict[str, Any]:
        """A detached snapshot (dict) of one queue entry."""
        with self.transaction() as s:
            e = self._entry(s, entry_id, lock=False)
            return {c.name: getattr(e, c.name) for c in AcdEntry.__table__.columns}

    def ewt(self, entry_id: int, now: float | None = None) -> tuple[Estimate, int]:
        """Current EWT Estimate (seconds) for a waiting caller."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            e = self._entry(s, entry_id, lock=False)
            cfg = self._cfg(s, e.queue)
            return estimate(self._stats(s, cfg, now), self._position(s, e)), self._position(s, e)

    def queue_ewt(self, queue: str, now: float | None = None) -> Estimate:
        """Estimate (seconds) for a caller joining `queue` now."""
        now = self.now() if now is None else now
        cfg = self.queue_config(queue)
        with self.transaction() as s:
            waiting = s.scalar(select(func.count()).select_from(AcdEntry).where(
                AcdEntry.queue == queue, AcdEntry.state.in_(IN_QUEUE))) or 0
            return estimate(self._stats(s, cfg, now), waiting + 1)


    def leave(self, entry_id: int, reason: str, now: float | None = None, key: str = "") -> bool:
        """A caller leaves the queue without an agent: abandon / timeout / empty / key / voicemail / overflow."""
        if reason not in LEAVE_EVENTS:
            raise ACDError(f"unknown leave reason {reason!r}; one of {', '.join(LEAVE_EVENTS)}")
        now = self.now() if now is None else now
        with self.transaction() as s:
            e = self._entry(s, entry_id)
            if e.state not in IN_QUEUE:
                return False
            pos = self._position(s, e)
            self._release_ringing(s, e, now)
            e.state, e.outcome, e.ended_at = DONE, reason, now
            wait = now - e.enqueued_at
            ev = LEAVE_EVENTS[reason]
            if ev == "EXITWITHKEY":
                log_event(s, now, ev, e.call_id, e.queue, "NONE", key, pos, e.position_at_entry, wait)
            else:
                log_event(s, now, ev, e.call_id, e.queue, "NONE", pos, e.position_at_entry, wait)
            self.note(s, "queue.left", now, call_id=e.call_id, entry=e.id, queue=e.queue, reason=reason,
                      wait=round(wait, 1), position=pos)
            return True

    def request_callback(self, entry_id: int, number: str, now: float | None = None) -> None:
        """The caller asked to be called back at `number`: the entry keeps its place, the call may end."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            e = self._entry(s, entry_id)
            if e.state not in IN_QUEUE:
                raise ACDError(f"entry {entry_id} is not waiting")
            e.callback_number = str(number)
            log_event(s, now, "CALLBACK", e.call_id, e.queue, "NONE", number, self._position(s, e))

    def _release_ringing(self, s: Session, e: AcdEntry, now: float) -> None:
        for aid in list(e.offered_to or []):
            a = s.get(AcdAgent, aid)
            if a is not None and a.state == st.RINGING and a.current_entry == e.id:
                self._after_call_state(s, a, now, default=st.AVAILABLE)
        e.offered_to = []

    def answered(self, entry_id: int, agent: str, now: float | None = None) -> bool:
        """The agent answered: connect. False when the caller is gone (agent is released)."""
        now = self.now() if now is None else now
        agent = str(agent)
        with self.transaction() as s:
            e = self._entry(s, entry_id)
            a = self._agent(s, agent)
            if e.state != OFFERED or agent not in (e.offered_to or []):
                if a.state == st.RINGING and a.current_entry == e.id:
                    self._after_call_state(s, a, now, default=st.AVAILABLE)
                return False
            for other in e.offered_to:
                if other != agent:
                    o = s.get(AcdAgent, other)
                    if o is not None and o.state == st.RINGING and o.current_entry == e.id:
                        self._after_call_state(s, o, now, default=st.AVAILABLE)
            e.state, e.agent, e.answered_at, e.offered_to = CONNECTED, agent, now, [agent]
            a.missed = 0
            self._set_state(s, a, st.BUSY, now)
            a.current_entry = e.id
            hold = now - e.enqueued_at
            log_event(s, now, "CONNECT", e.call_id, e.queue, agent, hold, agent, now - e.offer_at)
            self.note(s, "call.answered", now, agent=agent, call_id=e.call_id, entry=e.id, queue=e.queue,
                      caller_id=e.caller_id, called=e.called, data=e.data, wait=round(hold, 1))
            return True

    def missed(self, entry_id: int, agent: str, now: float | None = None, reason: str = "noanswer") -> None:
        """The agent did not answer (noanswer), was busy, or rejected; the caller goes back to waiting."""
        if reason not in ("noanswer", "busy", "rejected", "cancel"):
            raise ACDError(f"unknown miss reason {reason!r}")
        now = self.now() if now is None else now
        agent = str(agent)
        with self.transaction() as s:
            e = self._entry(s, entry_id)
            a = self._agent(s, agent)
            cfg = self._cfg(s, e.queue)
            if reason != "cancel":
                ring = now - e.offer_at
                log_event(s, now, "RINGNOANSWER", e.call_id, e.queue, agent, int(ring * 1000))
                self.note(s, "call.missed", now, agent=agent, call_id=e.call_id, entry=e.id, queue=e.queue,
                          ring_time=round(ring, 1), reason=reason)
            if a.state == st.RINGING and a.current_entry == e.id:
                if reason == "cancel":
                    self._after_call_state(s, a, now, default=st.AVAILABLE)
                else:
                    a.missed += 1
                    if reason == "noanswer" and a.missed >= cfg.max_no_answer:
                        self._set_state(s, a, st.BREAK, now, "no-answer")
                        log_event(s, now, "PAUSE", "NONE", "NONE", a.id, "no-answer")
                    else:
                        a.pause_until = now + (cfg.busy_delay if reason == "busy" else cfg.reject_delay)
                        self._after_call_state(s, a, now, default=st.AVAILABLE)
            left = [x for x in (e.offered_to or []) if x != agent]
            e.offered_to = left
            if e.state == OFFERED and not left:
                e.state = WAITING

    def complete(self, entry_id: int, now: float | None = None, by: str = "caller",
                 outcome: str = "completed") -> bool:
        """The connected call ended (by 'caller' or 'agent'): stats, wrap-up, COMPLETE* log, call.ended."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            e = self._entry(s, entry_id)
            if e.state != CONNECTED:
                return False
            self._finish(s, e, now, outcome=outcome)
            ev = "COMPLETEAGENT" if by == "agent" else "COMPLETECALLER"
            up = _answered_at(e)
            log_event(s, now, ev, e.call_id, e.queue, e.agent, up - e.enqueued_at, now - up, e.position_at_entry)
            self.note(s, "call.ended", now, agent=e.agent, call_id=e.call_id, entry=e.id, queue=e.queue,
                      talk_time=round(now - up, 1), ended_by=by, recording=e.recording)
            return True

    def _finish(self, s: Session, e: AcdEntry, now: float, outcome: str) -> None:
        cfg = self._cfg(s, e.queue)
        talk = now - _answered_at(e)
        e.state, e.ended_at, e.outcome, e.wrapup = DONE, now, outcome, cfg.wrapup
        a = self._agent(s, e.agent)
        m = s.get(AcdMember, (e.queue, a.id))
        if m is not None:
            m.calls += 1
            m.talk_time += talk
            m.last_call_end = now
        a.calls_taken += 1
        a.talk_time += talk
        if a.current_entry == e.id:
            if cfg.wrapup > 0:
                a.wrap_until = now + cfg.wrapup
                self._set_state(s, a, st.WRAPUP, now)
            else:
                a.ready_since = now
                self._after_call_state(s, a, now, default=st.AVAILABLE)

    def set_recording(self, entry_id: int, path: str) -> None:
        """Remember the recording file of a connected entry."""
        with self.transaction() as s:
            self._entry(s, entry_id).recording = str(path)

    def transfer(self, entry_id: int, kind: str, queue: str | None = None, agent: str | None = None,
                 now: float | None = None) -> int:
        """Agent transfers the connected caller (kind 'blind'/'attended') to a queue or one agent.

        The current leg completes (TRANSFER logged, agent wraps up); a new entry
        carries the call data (plus transferred_from) and waits for the target.
        Returns the new entry id.
        """
        if kind not in ("blind", "attended"):
            raise ACDError(f"transfer kind must be blind or attended, got {kind!r}")
        if (queue is None) == (agent is None):
            raise ACDError("transfer needs exactly one target: queue or agent")
        now = self.now() if now is None else now
        with self.transaction() as s:
            e = self._entry(s, entry_id)
            if e.state != CONNECTED:
                raise ACDError(f"entry {entry_id} is not connected to an agent")
            target_q = queue or e.queue
            if s.get(AcdQueue, target_q) is None:
                raise ACDError(f"unknown queue {target_q!r}")
            if agent is not None:
                t = s.get(AcdAgent, str(agent))
                if t is None:
                    raise ACDError(f"unknown agent {agent!r}")
                if t.state == st.LOGGED_OUT:
                    raise ACDError(f"agent {agent} is logged out")
            self._finish(s, e, now, outcome="transferred")
            target = f"agent:{agent}" if agent is not None else f"queue:{queue}"
            up = _answered_at(e)
            log_event(s, now, "TRANSFER", e.call_id, e.queue, e.agent, target, kind,
                      up - e.enqueued_at, now - up, e.position_at_entry)
            data = dict(e.data or {})
            data["transferred_from"] = {"agent": e.agent, "queue": e.queue, "kind": kind}
            self.note(s, "call.transferred", now, agent=e.agent, call_id=e.call_id, entry=e.id, queue=e.queue,
                      kind=kind, target=target, data=data)
            n = AcdEntry(queue=target_q, call_id=e.call_id, instance=e.instance, caller_id=e.caller_id,
                         called=e.called, priority=e.priority, skills=e.skills if queue is None else
                         required_from_data(data), data=data, state=WAITING, enqueued_at=now, queue_since=now,
                         target_agent=str(agent) if agent is not None else None)
            s.add(n)
            s.flush()
            n.position_at_entry = self._position(s, n)
            log_event(s, now, "ENTERQUEUE", n.call_id, target_q, "NONE", "", n.caller_id)
            return n.id

    def logged_in_count(self, queue: str) -> int:
        """Members of `queue` logged in (any state but logged out)."""
        with self.transaction() as s:
            return self._logged_in_members(s, queue)

    def recover(self, now: float | None = None) -> int:
        """After a restart: close this instance's entries left open (outcome 'lost') and free their agents."""
        now = self.now() if now is None else now
        closed = 0
        with self.transaction() as s:
            q = select(AcdEntry).where(AcdEntry.instance == self.instance,
                                       AcdEntry.state.in_((WAITING, OFFERED, CONNECTED)))
            for e in s.scalars(self._lock(s, q)):
                if e.callback_number and e.state == WAITING:
                    continue                      # a callback keeps its place across restarts
                for aid in set((e.offered_to or []) + ([e.agent] if e.agent else [])):
                    a = s.get(AcdAgent, aid)
                    if a is not None and a.current_entry == e.id and a.state in (st.RINGING, st.BUSY):
                        a.ready_since = now
                        self._after_call_state(s, a, now, default=st.AVAILABLE)
                e.state, e.outcome, e.ended_at = DONE, "lost", now
                closed += 1
        return closed

