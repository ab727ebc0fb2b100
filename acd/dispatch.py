"""Dispatch in the ACD core: match waiting callers to available agents and claim them safely.

On PostgreSQL one dispatch pass runs at a time across instances (advisory
lock); it locks the waiting entries and available agents it considers with
``SELECT ... FOR UPDATE SKIP LOCKED`` and claims agents with a conditional
``UPDATE ... WHERE state='available'``, so two ACD instances sharing one
database never hand one agent two calls.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, select, text, update

from . import agents as st
from .models import AcdAgent, AcdEntry, AcdMember, AcdQueue, AcdSkill
from .queues import QueueConfig
from .skills import qualifies, score
from .store import OFFERED, WAITING, CoreBase
from .strategies import ROUND_ROBIN, Candidate, choose

DISPATCH_LOCK = 0x7472756E6B6C   # PostgreSQL advisory lock key: one dispatch pass at a time across instances


@dataclass
class Offer:
    """A dispatch decision: ring `agents` (all at once when ring_all) for entry `entry` owned by `instance`."""
    entry: int
    call_id: str
    instance: str
    queue: str
    agents: list[str]
    ring_all: bool
    ring_timeout: float
    caller_id: str = ""
    called: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    wait: float = 0.0
    callback_number: str | None = None

    @classmethod
    def of(cls, e: AcdEntry, agents: list[str], ring_all: bool, cfg: QueueConfig, wait: float) -> Offer:
        """The offer of entry `e` to `agents` after `wait` seconds in the queue."""
        return cls(entry=e.id, call_id=e.call_id, instance=e.instance, queue=e.queue, agents=agents,
                   ring_all=ring_all, ring_timeout=cfg.ring_timeout, caller_id=e.caller_id, called=e.called,
                   data=dict(e.data or {}), wait=wait, callback_number=e.callback_number)


class Dispatcher(CoreBase):
    """Offers: who rings for which waiting caller."""

    def dispatch(self, now: float | None = None) -> list[Offer]:
        """Match waiting callers (priority, then time in queue) to available agents; returns new Offers."""
        now = self.now() if now is None else now
        offers: list[Offer] = []
        with self.transaction() as s:
            if self._pg(s) and not s.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": DISPATCH_LOCK}):
                # another instance is dispatching right now, for every instance's callers (offers reach
                # the caller's instance through the database); two concurrent passes would split the
                # waiting callers and the free agents between them and leave most of both unmatched
                return offers
            eq = (select(AcdEntry).where(AcdEntry.state == WAITING)
                  .order_by(AcdEntry.priority.desc(), AcdEntry.queue_since, AcdEntry.id))
            entries = list(s.scalars(self._lock(s, eq, skip=True)))
            if not entries:
                return offers
            aq = select(AcdAgent).where(AcdAgent.state == st.AVAILABLE, AcdAgent.pause_until <= now)
            free = {a.id: a for a in s.scalars(self._lock(s, aq, skip=True))}
            if not free:
                return offers
            queues = sorted({e.queue for e in entries})
            members: defaultdict[str, list[AcdMember]] = defaultdict(list)
            for m in s.scalars(select(AcdMember).where(AcdMember.queue.in_(queues))):
                members[m.queue].append(m)
            skills: defaultdict[str, dict[str, int]] = defaultdict(dict)
            for sk in s.scalars(select(AcdSkill).where(AcdSkill.agent.in_(list(free)))):
                skills[sk.agent][sk.skill] = sk.level
            qrows = {q.name: q for q in s.scalars(select(AcdQueue).where(AcdQueue.name.in_(queues)))}
            for e in entries:
                if not free:
                    break
                if e.queue not in qrows:
                    continue
                cfg = self._cfg(s, e.queue)
                cands = self._candidates(e, cfg, members[e.queue], free, skills, now)
                rr = None
                if cfg.strategy == ROUND_ROBIN and qrows[e.queue].rr_last:
                    last = next((m for m in members[e.queue] if m.agent == qrows[e.queue].rr_last), None)
                    rr = (last.position, last.agent) if last else qrows[e.queue].rr_last
                choice = choose(cfg.strategy, cands, rr_last=rr, rng=self.rng)
                if choice is None:
                    continue
                picked = [c.agent for c in (choice.agents if choice.ring_all else choice.agents[:1])]
                claimed = []
                for aid in picked:
                    claim = (update(AcdAgent).where(AcdAgent.id == aid, AcdAgent.state == st.AVAILABLE)
                             .values(state=st.RINGING, current_entry=e.id, state_since=now, reason=""))
                    res = cast(CursorResult[Any], s.execute(claim))
                    free.pop(aid, None)
                    if res.rowcount == 1:
                        claimed.append(aid)
                        self.note(s, "agent.state", now, agent=aid, state=st.RINGING, reason="",
                                  previous=st.AVAILABLE)
                if not claimed:
                    continue
                e.state, e.offered_to, e.offer_at = OFFERED, claimed, now
                if cfg.strategy == ROUND_ROBIN:
                    qrows[e.queue].rr_last = claimed[0]
                wait = now - e.enqueued_at
                for aid in claimed:
                    self.note(s, "call.offered", now, agent=aid, call_id=e.call_id, entry=e.id, queue=e.queue,
                              caller_id=e.caller_id, called=e.called, data=e.data, wait=round(wait, 1),
                              priority=e.priority, position_at_entry=e.position_at_entry,
                              transferred_from=(e.data or {}).get("transferred_from"))
                offers.append(Offer.of(e, claimed, choice.ring_all, cfg, wait))
        return offers

    def _candidates(self, e: AcdEntry, cfg: QueueConfig, members: list[AcdMember], free: dict[str, AcdAgent],
                    skills: dict[str, dict[str, int]], now: float) -> list[Candidate]:
        waited = now - e.queue_since
        if e.target_agent:
            a = free.get(e.target_agent)
            if a is None or not self._reachable(a, e):
                return []
            return [Candidate(agent=a.id, idle_since=a.ready_since)]
        maxp = cfg.max_penalty(waited)
        relax = cfg.skill_relax(waited)
        out = []
        for m in members:
            a = free.get(m.agent)
            if a is None or not self._reachable(a, e):
                continue
            if maxp is not None and m.penalty > maxp:
                continue
            sk = skills.get(a.id, {})
            if not qualifies(sk, e.skills, relax):
                continue
            out.append(Candidate(agent=a.id, penalty=m.penalty, position=m.position, weight=m.weight,
                                 calls=m.calls, talk_time=m.talk_time, idle_since=a.ready_since,
                                 skill_score=score(sk, e.skills)))
        return out

    def _reachable(self, a: AcdAgent, e: AcdEntry) -> bool:
        """Station agents ring from the instance hosting their FXS port, or from a node linked to it over SIP
        (acd.nodes); external numbers from any."""
        if a.station_port is not None and a.host and a.host != e.instance:
            return a.host in self.linked and e.instance in self.linked
        return True

    def offers_for(self, instance: str | None = None, exclude: Collection[int] = ()) -> list[Offer]:
        """Offered entries owned by `instance` (default: this one) not in `exclude` (to pick up remote dispatch)."""
        instance = instance or self.instance
        with self.transaction() as s:
            rows = s.scalars(select(AcdEntry).where(AcdEntry.state == OFFERED, AcdEntry.instance == instance))
            out = []
            for e in rows:
                if e.id in exclude:
                    continue
                cfg = self._cfg(s, e.queue)
                out.append(Offer.of(e, list(e.offered_to or []), cfg.strategy == "ring-all", cfg,
                                    self.now() - e.enqueued_at))
            return out

