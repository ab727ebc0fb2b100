"""The ACD core's footing over the database: transactions, row locking, CTI documents, agent state changes.

`CoreBase` holds what every part of `core.ACDCore` (agent state, queue entries,
dispatch, status) shares: one transaction per operation (CTI documents are
delivered and queue_log rows mirrored once it commits), ``SELECT ... FOR
UPDATE`` on PostgreSQL, loading agents and entries, queue configurations
and the queue figures the EWT is estimated from.
"""
from __future__ import annotations

import datetime as dt
import random
import time as _time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from trunkline.data.spool import DurableWriter

from . import agents as st
from .cti import CtiHub, make_doc
from .ewt import QueueStats
from .models import AcdAgent, AcdEntry, AcdMember, AcdQueue, AcdQueueLog
from .queues import QueueConfig, QueueConfigError

WAITING = "waiting"
OFFERED = "offered"
CONNECTED = "connected"
DONE = "done"
IN_QUEUE = (WAITING, OFFERED)

_Row = TypeVar("_Row", AcdAgent, AcdEntry)


class ACDError(RuntimeError):
    """An ACD operation cannot be done (unknown queue/agent, wrong state); message says why."""


class Refused(ACDError):
    """A command that does not apply in the agent's current state (HTTP 409); the message says why."""


class CoreBase:
    """Shared ACD state in the database; one instance per Trunkline server (`instance` names it)."""

    def __init__(self, session_factory: sessionmaker[Session], instance: str = "acd",
                 clock: Callable[[], float] | None = None, rng: random.Random | None = None,
                 hub: CtiHub | None = None, writer: DurableWriter | None = None) -> None:
        self.sf = session_factory
        self.writer = writer          # optional trunkline.data.spool.DurableWriter: mirrors queue_log to queue_events
        self.instance = instance
        self.clock = clock or _time.time
        self.rng = rng or random.Random()
        self.hub = hub or CtiHub()
        self._qcache: dict[str, QueueConfig] = {}
        self.linked: frozenset[str] = frozenset()   # instances linked over SIP (acd.nodes): stations ring across

    # ------------------------------------------------------------------ plumbing
    def now(self) -> float:
        """ACD clock in seconds."""
        return float(self.clock())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One database transaction; its CTI documents are delivered (and queue_log rows mirrored) after commit."""
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

    def _mirror(self, rows: list[AcdQueueLog]) -> None:
        """Hand committed queue_log rows to the durable writer as trunkline.data.models.QueueEvent rows."""
        assert self.writer is not None
        for r in rows:
            data = [r.data1, r.data2, r.data3, r.data4, r.data5]
            while data and data[-1] == "":
                data.pop()
            self.writer.write_queue_event(
                uuid=f"acd-{r.id}", at=dt.datetime.fromtimestamp(r.time, dt.timezone.utc), queue=r.queue,
                call_id=r.callid, agent=r.agent if r.agent != "NONE" else "", event=r.event, data={"data": data})

    @staticmethod
    def _pg(s: Session) -> bool:
        return s.get_bind().dialect.name == "postgresql"

    def _lock(self, s: Session, q: Select[Any], skip: bool = False) -> Select[Any]:
        if self._pg(s):
            return q.with_for_update(skip_locked=skip)
        return q

    def note(self, s: Session, type_: str, now: float, **fields: Any) -> dict[str, Any]:
        """Store a CTI document in `s`; it is delivered (with its id) once `s` commits."""
        doc = make_doc(type_, now, **fields)
        s.info["cti"].append((self.hub.store(s, doc), doc))
        return doc

    def publish(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Store one CTI document in a transaction of its own and return it with its id (not delivered)."""
        with self.transaction() as s:
            doc = make_doc(type_, self.now(), **fields)
            row = self.hub.store(s, doc)
            s.flush()
            doc["id"] = row.id
        return doc

    def _row(self, s: Session, model: type[_Row], key: str | int, lock: bool, missing: str) -> _Row:
        q = select(model).where(model.id == key)
        row = s.scalars(self._lock(s, q) if lock else q).first()
        if row is None:
            raise ACDError(missing)
        return row

    def _agent(self, s: Session, agent_id: object, lock: bool = True) -> AcdAgent:
        return self._row(s, AcdAgent, str(agent_id), lock, f"unknown agent {agent_id!r}")

    def _entry(self, s: Session, entry_id: int | str, lock: bool = True) -> AcdEntry:
        return self._row(s, AcdEntry, int(entry_id), lock, f"unknown queue entry {entry_id!r}")

    def _set_state(self, s: Session, a: AcdAgent, state: str, now: float, reason: str = "") -> None:
        prev = a.state
        a.state = state
        a.reason = reason
        a.state_since = now
        if state == st.AVAILABLE:
            a.current_entry = None
        if prev != state or reason:
            self.note(s, "agent.state", now, agent=a.id, state=state, reason=reason, previous=prev)

    def _after_call_state(self, s: Session, a: AcdAgent, now: float, default: str) -> None:
        """The agent's call (or its ringing) ended: state `default` (nothing requested earlier fires now)."""
        a.pending = ""
        self._set_state(s, a, default, now)

    # ------------------------------------------------------------------ queue configuration
    def define_queue(self, cfg: QueueConfig | dict[str, Any]) -> QueueConfig:
        """Create or update a queue from a QueueConfig or dict (validated); returns the QueueConfig."""
        if isinstance(cfg, dict):
            cfg = QueueConfig(**cfg)
        with self.transaction() as s:
            row = s.get(AcdQueue, cfg.name)
            if row is None:
                row = AcdQueue(name=cfg.name)
                s.add(row)
            row.strategy = cfg.strategy
            row.options = cfg.to_options()
        self._qcache[cfg.name] = cfg
        return cfg

    def queue_config(self, name: str, reload: bool = False) -> QueueConfig:
        """The QueueConfig of queue `name` (cached; reload=True re-reads the database)."""
        if reload or name not in self._qcache:
            self._qcache.pop(name, None)
            with self.transaction() as s:
                self._cfg(s, name)
        return self._qcache[name]

    def _cfg(self, s: Session, name: str) -> QueueConfig:
        if name not in self._qcache:
            row = s.get(AcdQueue, name)
            if row is None:
                raise QueueConfigError(f"unknown queue {name!r}")
            self._qcache[name] = QueueConfig.from_row(row)
        return self._qcache[name]

    def reload_queues(self) -> None:
        """Forget cached queue configs (after the web admin edited them)."""
        self._qcache.clear()

    # ------------------------------------------------------------------ queue figures
    def _logged_in_members(self, s: Session, queue: str) -> int:
        q = (select(func.count()).select_from(AcdMember).join(AcdAgent, AcdAgent.id == AcdMember.agent)
             .where(AcdMember.queue == queue, AcdAgent.state != st.LOGGED_OUT))
        return s.scalar(q) or 0

    @staticmethod
    def _position(s: Session, e: AcdEntry) -> int:
        q = (select(func.count()).select_from(AcdEntry)
             .where(AcdEntry.queue == e.queue, AcdEntry.state.in_(IN_QUEUE), AcdEntry.id != e.id)
             .where((AcdEntry.priority > e.priority)
                    | ((AcdEntry.priority == e.priority) & (AcdEntry.queue_since < e.queue_since))
                    | ((AcdEntry.priority == e.priority) & (AcdEntry.queue_since == e.queue_since)
                       & (AcdEntry.id < e.id))))
        return (s.scalar(q) or 0) + 1

    @staticmethod
    def _stats(s: Session, cfg: QueueConfig, now: float, window: float = 3600.0, recent: float = 900.0,
               recent_n: int = 30) -> QueueStats:
        q = cfg.name
        start = now - window
        first = s.scalar(select(func.min(AcdEntry.enqueued_at)).where(AcdEntry.queue == q)) or now
        span = max(60.0, min(window, now - first))
        arrivals = s.scalar(select(func.count()).select_from(AcdEntry).where(
            AcdEntry.queue == q, AcdEntry.enqueued_at >= start)) or 0
        ht = s.execute(select(func.count(), func.sum(AcdEntry.ended_at - AcdEntry.answered_at + AcdEntry.wrapup))
                       .where(AcdEntry.queue == q, AcdEntry.answered_at.is_not(None),
                              AcdEntry.ended_at.is_not(None), AcdEntry.ended_at >= start)).one()
        count, total = ht
        aht = total / count if count and total is not None else cfg.default_aht
        rows = s.execute(select(AcdAgent.state, AcdAgent.pause_until).join(
            AcdMember, AcdMember.agent == AcdAgent.id).where(AcdMember.queue == q)).all()
        staffed = sum(1 for r in rows if r[0] in st.STAFFED)
        free = sum(1 for r in rows if r[0] == st.AVAILABLE and r[1] <= now)
        obs = s.execute(select(AcdEntry.answered_at - AcdEntry.enqueued_at, AcdEntry.position_at_entry)
                        .where(AcdEntry.queue == q, AcdEntry.answered_at.is_not(None),
                               AcdEntry.answered_at >= now - recent)
                        .order_by(AcdEntry.answered_at.desc()).limit(recent_n)).all()
        return QueueStats(arrivals=arrivals, window=span, aht=max(1.0, aht), staffed=staffed, free=free,
                          obs_wait=float(sum(r[0] or 0.0 for r in obs)), obs_positions=float(sum(r[1] for r in obs)),
                          obs_count=len(obs))
