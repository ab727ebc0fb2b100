"""The ACD's shared state machine over the database (no audio): agents, queue entries, dispatch.

Every operation is one transaction. On PostgreSQL, dispatch locks the waiting
entries and available agents it considers with ``SELECT ... FOR UPDATE SKIP
LOCKED`` and claims agents with a conditional ``UPDATE ... WHERE
state='available'``, so two ACD instances sharing one database never hand
one agent two calls. The async service (service.py) and the discrete-event
simulation (simulate.py) both drive this same object; times are seconds on
the ACD clock.
"""
import random
import time as _time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import func, select, text, update

from . import agents as st
from .agents import AgentSpec
from .cti import CtiHub, make_doc
from .ewt import QueueStats, estimate
from .models import AcdAgent, AcdEntry, AcdMember, AcdQueue, AcdSkill
from .queue_log import log_event
from .queues import QueueConfig, QueueConfigError
from .skills import qualifies, required_from_data, score
from .strategies import ROUND_ROBIN, Candidate, choose

WAITING = "waiting"
OFFERED = "offered"
CONNECTED = "connected"
DONE = "done"
IN_QUEUE = (WAITING, OFFERED)

LEAVE_EVENTS = {"abandon": "ABANDON", "timeout": "EXITWITHTIMEOUT", "empty": "EXITEMPTY",
                "key": "EXITWITHKEY", "overflow": "EXITWITHTIMEOUT", "voicemail": "EXITWITHKEY",
                "hangup": "ABANDON"}


DISPATCH_LOCK = 0x7472756E6B6C   # PostgreSQL advisory lock key: one dispatch pass at a time across instances


class ACDError(RuntimeError):
    """An ACD operation cannot be done (unknown queue/agent, wrong state); message says why."""


@dataclass
class Offer:
    """A dispatch decision: ring `agents` (all at once when ring_all) for entry `entry` owned by `instance`."""
    entry: int
    call_id: str
    instance: str
    queue: str
    agents: list
    ring_all: bool
    ring_timeout: float
    caller_id: str = ""
    called: str = ""
    data: dict = field(default_factory=dict)
    wait: float = 0.0
    callback_number: str | None = None


@dataclass
class JoinResult:
    """Outcome of joining a queue: entry id, 1-based position, EWT (s); empty=True if no agent logged in."""
    entry: int
    position: int
    ewt: float
    priority: int
    empty: bool = False
    estimate: object = None          # the ewt.Estimate at entry (model / observed / blended parts)


class ACDCore:
    """Shared ACD state in the database; one instance per Trunkline server (`instance` names it)."""

    def __init__(self, session_factory, instance="acd", clock=None, rng=None, hub=None, writer=None):
        self.sf = session_factory
        self.writer = writer          # optional trunkline.data.spool.DurableWriter: mirrors queue_log to queue_events
        self.instance = instance
        self.clock = clock or _time.time
        self.rng = rng or random.Random()
        self.hub = hub or CtiHub()
        self._qcache = {}

    # ------------------------------------------------------------------ plumbing
    def now(self):
        """ACD clock in seconds."""
        return float(self.clock())

    @contextmanager
    def _tx(self):
        s = self.sf()
        s.info["cti"] = []
        s.info["qlog"] = []
        try:
            yield s
            s.commit()
        except Exception:
            s.info["cti"] = []
            s.rollback()
            raise
        finally:
            docs = s.info.pop("cti", [])
            qlog = s.info.pop("qlog", [])
            s.close()
        if docs:
            self.hub.deliver(self.hub.assign_ids(docs))
        if qlog and self.writer is not None:
            self._mirror(qlog)

    def _mirror(self, rows):
        """Hand committed queue_log rows to the durable writer as trunkline.data.models.QueueEvent rows."""
        import datetime as dt
        for r in rows:
            data = [d for d in (r.data1, r.data2, r.data3, r.data4, r.data5)]
            while data and data[-1] == "":
                data.pop()
            self.writer.write_queue_event(
                uuid=f"acd-{r.id}", at=dt.datetime.fromtimestamp(r.time, dt.timezone.utc), queue=r.queue,
                call_id=r.callid, agent=r.agent if r.agent != "NONE" else "", event=r.event, data={"data": data})

    def _pg(self, s):
        return s.get_bind().dialect.name == "postgresql"

    def _lock(self, s, q, skip=False):
        if self._pg(s):
            return q.with_for_update(skip_locked=skip)
        return q

    def _cti(self, s, type_, now, **fields):
        doc = make_doc(type_, now, **fields)
        s.info["cti"].append((self.hub.store(s, doc), doc))
        return doc

    def _agent(self, s, agent_id, lock=True):
        q = select(AcdAgent).where(AcdAgent.id == str(agent_id))
        a = s.scalars(self._lock(s, q) if lock else q).first()
        if a is None:
            raise ACDError(f"unknown agent {agent_id!r}")
        return a

    def _entry(self, s, entry_id, lock=True):
        q = select(AcdEntry).where(AcdEntry.id == int(entry_id))
        e = s.scalars(self._lock(s, q) if lock else q).first()
        if e is None:
            raise ACDError(f"unknown queue entry {entry_id!r}")
        return e

    def _set_state(self, s, a, state, now, reason=""):
        prev = a.state
        a.state = state
        a.reason = reason
        a.state_since = now
        if state == st.AVAILABLE:
            a.current_entry = None
        if prev != state or reason:
            self._cti(s, "agent.state", now, agent=a.id, state=state, reason=reason, previous=prev)

    # ------------------------------------------------------------------ configuration
    def define_queue(self, cfg):
        """Create or update a queue from a QueueConfig or dict (validated); returns the QueueConfig."""
        if isinstance(cfg, dict):
            cfg = QueueConfig(**cfg)
        with self._tx() as s:
            row = s.get(AcdQueue, cfg.name)
            if row is None:
                row = AcdQueue(name=cfg.name)
                s.add(row)
            row.strategy = cfg.strategy
            row.options = cfg.to_options()
        self._qcache[cfg.name] = cfg
        return cfg

    def queue_config(self, name, reload=False):
        """The QueueConfig of queue `name` (cached; reload=True re-reads the database)."""
        if reload or name not in self._qcache:
            with self._tx() as s:
                row = s.get(AcdQueue, name)
                if row is None:
                    raise QueueConfigError(f"unknown queue {name!r}")
                self._qcache[name] = QueueConfig.from_row(row)
        return self._qcache[name]

    def _cfg(self, s, name):
        if name not in self._qcache:
            row = s.get(AcdQueue, name)
            if row is None:
                raise QueueConfigError(f"unknown queue {name!r}")
            self._qcache[name] = QueueConfig.from_row(row)
        return self._qcache[name]

    def reload_queues(self):
        """Forget cached queue configs (after the web admin edited them)."""
        self._qcache.clear()

    def define_agent(self, spec):
        """Create or update an agent (AgentSpec or dict) and its skills; state is kept."""
        if isinstance(spec, dict):
            spec = AgentSpec(**spec)
        with self._tx() as s:
            a = s.get(AcdAgent, spec.id)
            if a is None:
                a = AcdAgent(id=spec.id, state=st.LOGGED_OUT, state_since=self.now())
                s.add(a)
            a.name = spec.name or spec.id
            a.station_port = spec.station_port
            a.number = spec.number
            a.host = spec.host
            a.pin = spec.pin
            for sk in s.scalars(select(AcdSkill).where(AcdSkill.agent == spec.id)):
                s.delete(sk)
            s.flush()
            for name, lv in spec.skills.items():
                s.add(AcdSkill(agent=spec.id, skill=name, level=lv))
        return spec

    def add_member(self, queue, agent, penalty=0, position=None, weight=1.0):
        """Put `agent` in `queue` with a penalty (tier), top-down position and weight."""
        if not isinstance(penalty, int) or penalty < 0:
            raise QueueConfigError(f"penalty must be an integer >= 0, got {penalty!r}")
        if weight < 0:
            raise QueueConfigError(f"weight must be >= 0, got {weight!r}")
        with self._tx() as s:
            if s.get(AcdQueue, queue) is None:
                raise QueueConfigError(f"unknown queue {queue!r}")
            if s.get(AcdAgent, str(agent)) is None:
                raise ACDError(f"unknown agent {agent!r}")
            m = s.get(AcdMember, (queue, str(agent)))
            if position is None:
                position = (s.scalar(select(func.max(AcdMember.position)).where(AcdMember.queue == queue)) or 0) + 1
            if m is None:
                m = AcdMember(queue=queue, agent=str(agent))
                s.add(m)
            m.penalty, m.position, m.weight = penalty, position, float(weight)

    def remove_member(self, queue, agent):
        """Take `agent` out of `queue`."""
        with self._tx() as s:
            m = s.get(AcdMember, (queue, str(agent)))
            if m is not None:
                s.delete(m)

    # ------------------------------------------------------------------ agent state
    def login(self, agent, now=None, channel=""):
        """Log an agent in (Available). Logging in twice is harmless."""
        now = self.now() if now is None else now
        with self._tx() as s:
            a = self._agent(s, agent)
            if a.state != st.LOGGED_OUT:
                return a.state
            a.login_at = now
            a.ready_since = now
            a.missed = 0
            a.pause_until = 0.0
            a.pending = ""
            self._set_state(s, a, st.AVAILABLE, now)
            log_event(s, now, "AGENTLOGIN", "NONE", "NONE", a.id, channel or self.instance)
            return a.state

    def logout(self, agent, now=None):
        """Log an agent out; during a call the logout happens when the call ends."""
        now = self.now() if now is None else now
        with self._tx() as s:
            a = self._agent(s, agent)
            if a.state == st.LOGGED_OUT:
                return a.state
            if a.state in (st.BUSY, st.RINGING):
                a.pending = "logout"
                return a.state
            log_event(s, now, "AGENTLOGOFF", "NONE", "NONE", a.id, self.instance, now - a.login_at)
            self._set_state(s, a, st.LOGGED_OUT, now)
            return a.state

    def set_break(self, agent, reason="break", now=None):
        """Put an agent on break with a reason code (after the current call if busy)."""
        now = self.now() if now is None else now
        reason = str(reason or "break")
        with self._tx() as s:
            a = self._agent(s, agent)
            if a.state == st.LOGGED_OUT:
                raise ACDError(f"agent {a.id} is logged out")
            if a.state in (st.BUSY, st.RINGING):
                a.pending = f"break:{reason}"
                return a.state
            self._set_state(s, a, st.BREAK, now, reason)
            log_event(s, now, "PAUSE", "NONE", "NONE", a.id, reason)
            return a.state

    def ready(self, agent, now=None):
        """Make an agent Available (ends break or wrap-up early)."""
        now = self.now() if now is None else now
        with self._tx() as s:
            a = self._agent(s, agent)
            if a.state == st.LOGGED_OUT:
                raise ACDError(f"agent {a.id} is logged out; log in first")
            if a.state in (st.BUSY, st.RINGING):
                a.pending = ""
                return a.state
            if a.state == st.BREAK:
                log_event(s, now, "UNPAUSE", "NONE", "NONE", a.id, a.reason)
            if a.state != st.AVAILABLE:
                a.ready_since = now
            a.missed = 0
            a.pause_until = 0.0
            self._set_state(s, a, st.AVAILABLE, now)
            return a.state

    def wrapup(self, agent, seconds, now=None):
        """Put an idle agent in wrap-up for `seconds` (agent asked for more time)."""
        now = self.now() if now is None else now
        with self._tx() as s:
            a = self._agent(s, agent)
            if a.state not in (st.AVAILABLE, st.WRAPUP, st.BREAK):
                raise ACDError(f"agent {a.id} is {a.state}; wrap-up only when idle")
            a.wrap_until = now + float(seconds)
            self._set_state(s, a, st.WRAPUP, now)
            return a.state

    def agent_state(self, agent):
        """(state, reason) of an agent."""
        with self._tx() as s:
            a = self._agent(s, agent, lock=False)
            return a.state, a.reason

    def tick(self, now=None):
        """Timers: end wrap-ups that are due; returns the agents made Available."""
        now = self.now() if now is None else now
        done = []
        with self._tx() as s:
            q = select(AcdAgent).where(AcdAgent.state == st.WRAPUP, AcdAgent.wrap_until <= now)
            for a in s.scalars(self._lock(s, q, skip=True)):
                a.ready_since = a.wrap_until
                self._after_call_state(s, a, now, default=st.AVAILABLE)
                done.append(a.id)
        return done

    def _after_call_state(self, s, a, now, default):
        """Apply a pending break/logout, else `default`."""
        pending, a.pending = a.pending, ""
        if pending == "logout":
            log_event(s, now, "AGENTLOGOFF", "NONE", "NONE", a.id, self.instance, now - a.login_at)
            self._set_state(s, a, st.LOGGED_OUT, now)
        elif pending.startswith("break:"):
            reason = pending[6:]
            self._set_state(s, a, st.BREAK, now, reason)
            log_event(s, now, "PAUSE", "NONE", "NONE", a.id, reason)
        else:
            self._set_state(s, a, default, now)

    # ------------------------------------------------------------------ callers
    def _priority(self, cfg, caller_id, data, priority):
        p = int(priority or 0)
        if caller_id and str(caller_id) in cfg.vip_numbers:
            p += cfg.vip_priority
        elif data and data.get(cfg.vip_var):
            p += cfg.vip_priority
        return p

    def _logged_in_members(self, s, queue):
        q = (select(func.count()).select_from(AcdMember).join(AcdAgent, AcdAgent.id == AcdMember.agent)
             .where(AcdMember.queue == queue, AcdAgent.state != st.LOGGED_OUT))
        return s.scalar(q) or 0

    def join(self, queue, call_id, caller_id="", called="", data=None, priority=0, now=None,
             queue_since=None, target_agent=None, callback_number=None):
        """Put a caller in `queue`; returns JoinResult (empty=True if nobody is logged in to take it)."""
        cfg = self.queue_config(queue)
        now = self.now() if now is None else now
        data = dict(data or {})
        skills = required_from_data(data)
        prio = self._priority(cfg, caller_id, data, priority)
        with self._tx() as s:
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
            self._cti(s, "queue.joined", now, call_id=e.call_id, entry=e.id, queue=queue, caller_id=e.caller_id,
                      position=pos, ewt=round(est.blended, 1), priority=prio)
            return JoinResult(entry=e.id, position=pos, ewt=est.blended, priority=prio, empty=empty, estimate=est)

    def _position(self, s, e):
        q = (select(func.count()).select_from(AcdEntry)
             .where(AcdEntry.queue == e.queue, AcdEntry.state.in_(IN_QUEUE), AcdEntry.id != e.id)
             .where((AcdEntry.priority > e.priority)
                    | ((AcdEntry.priority == e.priority) & (AcdEntry.queue_since < e.queue_since))
                    | ((AcdEntry.priority == e.priority) & (AcdEntry.queue_since == e.queue_since)
                       & (AcdEntry.id < e.id))))
        return (s.scalar(q) or 0) + 1

    def position(self, entry_id):
        """1-based position of a waiting caller (priority first, then time in queue)."""
        with self._tx() as s:
            return self._position(s, self._entry(s, entry_id, lock=False))

    def entry(self, entry_id):
        """A detached snapshot (dict) of one queue entry."""
        with self._tx() as s:
            e = self._entry(s, entry_id, lock=False)
            return {c.name: getattr(e, c.name) for c in AcdEntry.__table__.columns}

    def ewt(self, entry_id, now=None):
        """Current EWT Estimate (seconds) for a waiting caller."""
        now = self.now() if now is None else now
        with self._tx() as s:
            e = self._entry(s, entry_id, lock=False)
            cfg = self._cfg(s, e.queue)
            return estimate(self._stats(s, cfg, now), self._position(s, e)), self._position(s, e)

    def queue_ewt(self, queue, now=None):
        """Estimate (seconds) for a caller joining `queue` now."""
        now = self.now() if now is None else now
        cfg = self.queue_config(queue)
        with self._tx() as s:
            waiting = s.scalar(select(func.count()).select_from(AcdEntry).where(
                AcdEntry.queue == queue, AcdEntry.state.in_(IN_QUEUE))) or 0
            return estimate(self._stats(s, cfg, now), waiting + 1)

    def _stats(self, s, cfg, now, window=3600.0, recent=900.0, recent_n=30):
        q = cfg.name
        start = now - window
        first = s.scalar(select(func.min(AcdEntry.enqueued_at)).where(AcdEntry.queue == q)) or now
        span = max(60.0, min(window, now - first))
        arrivals = s.scalar(select(func.count()).select_from(AcdEntry).where(
            AcdEntry.queue == q, AcdEntry.enqueued_at >= start)) or 0
        ht = s.execute(select(func.count(), func.sum(AcdEntry.ended_at - AcdEntry.answered_at + AcdEntry.wrapup))
                       .where(AcdEntry.queue == q, AcdEntry.answered_at.is_not(None),
                              AcdEntry.ended_at.is_not(None), AcdEntry.ended_at >= start)).one()
        aht = (ht[1] / ht[0]) if ht[0] else cfg.default_aht
        rows = s.execute(select(AcdAgent.state, AcdAgent.pause_until).join(
            AcdMember, AcdMember.agent == AcdAgent.id).where(AcdMember.queue == q)).all()
        staffed = sum(1 for r in rows if r[0] in st.STAFFED)
        free = sum(1 for r in rows if r[0] == st.AVAILABLE and r[1] <= now)
        obs = s.execute(select(AcdEntry.answered_at - AcdEntry.enqueued_at, AcdEntry.position_at_entry)
                        .where(AcdEntry.queue == q, AcdEntry.answered_at.is_not(None),
                               AcdEntry.answered_at >= now - recent)
                        .order_by(AcdEntry.answered_at.desc()).limit(recent_n)).all()
        return QueueStats(arrivals=arrivals, window=span, aht=max(1.0, aht), staffed=staffed, free=free,
                          obs_wait=float(sum(r[0] for r in obs)), obs_positions=float(sum(r[1] for r in obs)),
                          obs_count=len(obs))

    def leave(self, entry_id, reason, now=None, key=""):
        """A caller leaves the queue without an agent: abandon / timeout / empty / key / voicemail / overflow."""
        if reason not in LEAVE_EVENTS:
            raise ACDError(f"unknown leave reason {reason!r}; one of {', '.join(LEAVE_EVENTS)}")
        now = self.now() if now is None else now
        with self._tx() as s:
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
            self._cti(s, "queue.left", now, call_id=e.call_id, entry=e.id, queue=e.queue, reason=reason,
                      wait=round(wait, 1), position=pos)
            return True

    def request_callback(self, entry_id, number, now=None):
        """The caller asked to be called back at `number`: the entry keeps its place, the call may end."""
        now = self.now() if now is None else now
        with self._tx() as s:
            e = self._entry(s, entry_id)
            if e.state not in IN_QUEUE:
                raise ACDError(f"entry {entry_id} is not waiting")
            e.callback_number = str(number)
            log_event(s, now, "CALLBACK", e.call_id, e.queue, "NONE", number, self._position(s, e))

    def _release_ringing(self, s, e, now):
        for aid in list(e.offered_to or []):
            a = s.get(AcdAgent, aid)
            if a is not None and a.state == st.RINGING and a.current_entry == e.id:
                self._after_call_state(s, a, now, default=st.AVAILABLE)
        e.offered_to = []

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, now=None):
        """Match waiting callers (priority, then time in queue) to available agents; returns new Offers."""
        now = self.now() if now is None else now
        offers = []
        with self._tx() as s:
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
            members = defaultdict(list)
            for m in s.scalars(select(AcdMember).where(AcdMember.queue.in_(queues))):
                members[m.queue].append(m)
            skills = defaultdict(dict)
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
                    res = s.execute(update(AcdAgent).where(AcdAgent.id == aid, AcdAgent.state == st.AVAILABLE)
                                    .values(state=st.RINGING, current_entry=e.id, state_since=now, reason=""))
                    free.pop(aid, None)
                    if res.rowcount == 1:
                        claimed.append(aid)
                        self._cti(s, "agent.state", now, agent=aid, state=st.RINGING, reason="",
                                  previous=st.AVAILABLE)
                if not claimed:
                    continue
                e.state, e.offered_to, e.offer_at = OFFERED, claimed, now
                if cfg.strategy == ROUND_ROBIN:
                    qrows[e.queue].rr_last = claimed[0]
                wait = now - e.enqueued_at
                for aid in claimed:
                    self._cti(s, "call.offered", now, agent=aid, call_id=e.call_id, entry=e.id, queue=e.queue,
                              caller_id=e.caller_id, called=e.called, data=e.data, wait=round(wait, 1),
                              priority=e.priority, position_at_entry=e.position_at_entry,
                              transferred_from=(e.data or {}).get("transferred_from"))
                offers.append(Offer(entry=e.id, call_id=e.call_id, instance=e.instance, queue=e.queue,
                                    agents=claimed, ring_all=choice.ring_all, ring_timeout=cfg.ring_timeout,
                                    caller_id=e.caller_id, called=e.called, data=dict(e.data or {}), wait=wait,
                                    callback_number=e.callback_number))
        return offers

    def _candidates(self, e, cfg, members, free, skills, now):
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

    @staticmethod
    def _reachable(a, e):
        """Station agents ring only from the instance hosting their FXS port; external numbers from any."""
        if a.station_port is not None and a.host and a.host != e.instance:
            return False
        return True

    def offers_for(self, instance=None, exclude=()):
        """Offered entries owned by `instance` (default: this one) not in `exclude` (to pick up remote dispatch)."""
        instance = instance or self.instance
        with self._tx() as s:
            rows = s.scalars(select(AcdEntry).where(AcdEntry.state == OFFERED, AcdEntry.instance == instance))
            out = []
            for e in rows:
                if e.id in exclude:
                    continue
                cfg = self._cfg(s, e.queue)
                out.append(Offer(entry=e.id, call_id=e.call_id, instance=e.instance, queue=e.queue,
                                 agents=list(e.offered_to or []), ring_all=cfg.strategy == "ring-all",
                                 ring_timeout=cfg.ring_timeout, caller_id=e.caller_id, called=e.called,
                                 data=dict(e.data or {}), wait=self.now() - e.enqueued_at,
                                 callback_number=e.callback_number))
            return out

    def answered(self, entry_id, agent, now=None):
        """The agent answered: connect. False when the caller is gone (agent is released)."""
        now = self.now() if now is None else now
        agent = str(agent)
        with self._tx() as s:
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
            self._cti(s, "call.answered", now, agent=agent, call_id=e.call_id, entry=e.id, queue=e.queue,
                      caller_id=e.caller_id, called=e.called, data=e.data, wait=round(hold, 1))
            return True

    def missed(self, entry_id, agent, now=None, reason="noanswer"):
        """The agent did not answer (noanswer), was busy, or rejected; the caller goes back to waiting."""
        if reason not in ("noanswer", "busy", "rejected", "cancel"):
            raise ACDError(f"unknown miss reason {reason!r}")
        now = self.now() if now is None else now
        agent = str(agent)
        with self._tx() as s:
            e = self._entry(s, entry_id)
            a = self._agent(s, agent)
            cfg = self._cfg(s, e.queue)
            if reason != "cancel":
                ring = now - e.offer_at
                log_event(s, now, "RINGNOANSWER", e.call_id, e.queue, agent, int(ring * 1000))
                self._cti(s, "call.missed", now, agent=agent, call_id=e.call_id, entry=e.id, queue=e.queue,
                          ring_time=round(ring, 1), reason=reason)
            if a.state == st.RINGING and a.current_entry == e.id:
                if reason == "cancel":
                    self._after_call_state(s, a, now, default=st.AVAILABLE)
                else:
                    a.missed += 1
                    if reason == "noanswer" and a.missed >= cfg.max_no_answer:
                        a.pending = ""
                        self._set_state(s, a, st.BREAK, now, "no-answer")
                        log_event(s, now, "PAUSE", "NONE", "NONE", a.id, "no-answer")
                    else:
                        a.pause_until = now + (cfg.busy_delay if reason == "busy" else cfg.reject_delay)
                        self._after_call_state(s, a, now, default=st.AVAILABLE)
            left = [x for x in (e.offered_to or []) if x != agent]
            e.offered_to = left
            if e.state == OFFERED and not left:
                e.state = WAITING

    def complete(self, entry_id, now=None, by="caller", outcome="completed"):
        """The connected call ended (by 'caller' or 'agent'): stats, wrap-up, COMPLETE* log, call.ended."""
        now = self.now() if now is None else now
        with self._tx() as s:
            e = self._entry(s, entry_id)
            if e.state != CONNECTED:
                return False
            self._finish(s, e, now, outcome=outcome)
            ev = "COMPLETEAGENT" if by == "agent" else "COMPLETECALLER"
            log_event(s, now, ev, e.call_id, e.queue, e.agent, e.answered_at - e.enqueued_at,
                      now - e.answered_at, e.position_at_entry)
            self._cti(s, "call.ended", now, agent=e.agent, call_id=e.call_id, entry=e.id, queue=e.queue,
                      talk_time=round(now - e.answered_at, 1), ended_by=by, recording=e.recording)
            return True

    def _finish(self, s, e, now, outcome):
        cfg = self._cfg(s, e.queue)
        talk = now - e.answered_at
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

    def set_recording(self, entry_id, path):
        """Remember the recording file of a connected entry."""
        with self._tx() as s:
            self._entry(s, entry_id).recording = str(path)

    def transfer(self, entry_id, kind, queue=None, agent=None, now=None):
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
        with self._tx() as s:
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
            log_event(s, now, "TRANSFER", e.call_id, e.queue, e.agent, target, kind,
                      e.answered_at - e.enqueued_at, now - e.answered_at, e.position_at_entry)
            data = dict(e.data or {})
            data["transferred_from"] = {"agent": e.agent, "queue": e.queue, "kind": kind}
            self._cti(s, "call.transferred", now, agent=e.agent, call_id=e.call_id, entry=e.id, queue=e.queue,
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

    def logged_in_count(self, queue):
        """Members of `queue` logged in (any state but logged out)."""
        with self._tx() as s:
            return self._logged_in_members(s, queue)

    def recover(self, now=None):
        """After a restart: close this instance's entries left open (outcome 'lost') and free their agents."""
        now = self.now() if now is None else now
        closed = 0
        with self._tx() as s:
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

    # ------------------------------------------------------------------ status
    def agents_status(self, now=None):
        """List of dicts per agent: id, name, state, reason, since, where, calls, talk time, queues, caller."""
        now = self.now() if now is None else now
        with self._tx() as s:
            mq = defaultdict(list)
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

    def queues_status(self, now=None, window=3600.0):
        """List of dicts per queue: waiting, longest wait, agents, answered/abandoned/SL/ASA over the window, EWT."""
        now = self.now() if now is None else now
        out = []
        with self._tx() as s:
            names = [q.name for q in s.scalars(select(AcdQueue).order_by(AcdQueue.name))]
        for name in names:
            cfg = self.queue_config(name)
            with self._tx() as s:
                waiting = list(s.scalars(select(AcdEntry).where(AcdEntry.queue == name,
                                                                AcdEntry.state.in_(IN_QUEUE))))
                rows = s.execute(select(AcdAgent.state).join(AcdMember, AcdMember.agent == AcdAgent.id)
                                 .where(AcdMember.queue == name)).all()
                ended = list(s.scalars(select(AcdEntry).where(AcdEntry.queue == name,
                                                              AcdEntry.enqueued_at >= now - window)))
                stats = self._stats(s, cfg, now)
            answered = [e for e in ended if e.answered_at is not None]
            abandoned = [e for e in ended if e.outcome in ("abandon", "hangup")]
            in_sl = [e for e in answered if e.answered_at - e.enqueued_at <= cfg.service_level]
            asa = sum(e.answered_at - e.enqueued_at for e in answered) / len(answered) if answered else 0.0
            closed = len(answered) + len(abandoned)
            est = estimate(stats, len(waiting) + 1)
            out.append({"name": name, "strategy": cfg.strategy, "waiting": len(waiting),
                        "longest_wait": round(max((now - e.queue_since for e in waiting), default=0.0), 1),
                        "agents": len(rows),
                        "logged_in": sum(1 for r in rows if r[0] != st.LOGGED_OUT),
                        "available": sum(1 for r in rows if r[0] == st.AVAILABLE),
                        "busy": sum(1 for r in rows if r[0] in (st.BUSY, st.RINGING)),
                        "on_break": sum(1 for r in rows if r[0] == st.BREAK),
                        "answered": len(answered), "abandoned": len(abandoned),
                        "service_level": round(100.0 * len(in_sl) / closed, 1) if closed else None,
                        "asa": round(asa, 1), "ewt": round(est.blended, 1),
                        "erlang_c_wait": round(est.erlang, 1) if est.erlang != float("inf") else None})
        return out
