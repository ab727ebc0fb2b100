"""Contact-centre figures, one definition for reports, wallboard, exports and live pages, from the ACD queue_log.

A queue leg is one caller's stay in one queue: it starts with ENTERQUEUE (a transfer starts a new leg) and
belongs to the period its ENTERQUEUE falls in; everything that happens to it later counts there too.
Per queue:
  offered          legs that entered the queue (ENTERQUEUE)
  answered         legs an agent answered (CONNECT)
  abandoned        callers who hung up while waiting (ABANDON)
  short_abandoned  of those, who waited less than `short_abandon` seconds (not counted against SL)
  exited           left without an agent by timeout / overflow / no agents / key / voicemail (EXIT*)
  transferred      answered legs an agent transferred on (TRANSFER)
  service_level %  answered within `sl_seconds` / (answered + abandoned + exited - short_abandoned)
  asa s            mean wait of answered legs (CONNECT - ENTERQUEUE)
  aht s            mean handle time of handled legs: talk (end - CONNECT) + the queue's configured wrap-up
  abandon_rate %   abandoned / offered
Per agent: answered, missed (RINGNOANSWER), transferred, talk, handle, aht, signed_in s (AGENTLOGIN..
AGENTLOGOFF inside the period), on_break s (PAUSE..UNPAUSE/AGENTLOGOFF), occupancy % = handle time /
(signed_in - on_break). Times are ACD clock seconds (epoch in the server).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trunkline.acd.models import AcdQueue, AcdQueueLog

SHORT_ABANDON = 5.0            # s: abandons faster than this do not count against the service level
LEG_MARGIN = 6 * 3600.0        # s: events this long after the period may still finish a leg begun in it
AGENT_EVENTS = ("AGENTLOGIN", "AGENTLOGOFF", "PAUSE", "UNPAUSE")
EXIT_EVENTS = ("EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY")
QUEUE_FIELDS = ["offered", "answered", "abandoned", "short_abandoned", "exited", "transferred", "service_level",
                "asa", "aht", "avg_talk", "abandon_rate", "max_wait"]
AGENT_FIELDS = ["answered", "missed", "transferred", "talk", "handle", "aht", "signed_in", "on_break",
                "occupancy"]


@dataclass
class _Acc:
    """Running sums of one queue or agent."""
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    exited: int = 0
    transferred: int = 0
    missed: int = 0
    in_sl: int = 0
    wait_sum: float = 0.0
    max_wait: float = 0.0
    handled: int = 0
    talk: float = 0.0
    wrap: float = 0.0
    signed_in: float = 0.0
    on_break: float = 0.0
    problems: list[str] = field(default_factory=list)

    def queue_figures(self) -> dict[str, Any]:
        """The per-queue figures (counts, s, %)."""
        closed = self.answered + self.abandoned + self.exited - self.short_abandoned
        return {"offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
                "short_abandoned": self.short_abandoned, "exited": self.exited, "transferred": self.transferred,
                "service_level": round(100.0 * self.in_sl / closed, 1) if closed > 0 else None,
                "asa": round(self.wait_sum / self.answered, 1) if self.answered else 0.0,
                "aht": round((self.talk + self.wrap) / self.handled, 1) if self.handled else 0.0,
                "avg_talk": round(self.talk / self.handled, 1) if self.handled else 0.0,
                "abandon_rate": round(100.0 * self.abandoned / self.offered, 1) if self.offered else 0.0,
                "max_wait": round(self.max_wait, 1)}

    def agent_figures(self) -> dict[str, Any]:
        """The per-agent figures (counts, s, %)."""
        avail = self.signed_in - self.on_break
        handle = self.talk + self.wrap
        return {"answered": self.answered, "missed": self.missed, "transferred": self.transferred,
                "talk": round(self.talk, 1), "handle": round(handle, 1),
                "aht": round(handle / self.handled, 1) if self.handled else 0.0,
                "signed_in": round(self.signed_in, 1), "on_break": round(self.on_break, 1),
                "occupancy": round(min(100.0, 100.0 * handle / avail), 1) if avail > 0 else None}


def _num(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def queue_wrapups(s: Session) -> dict[str, float]:
    """Configured wrap-up seconds per queue (a bad stored value counts as 0)."""
    out = {}
    for name, opts in s.execute(select(AcdQueue.name, AcdQueue.options)):
        w = _num((opts or {}).get("wrapup", 0.0)) if isinstance(opts, dict) else None
        out[name] = w if w is not None and w >= 0 else 0.0
    return out


def compute(s: Session, a: float, b: float, sl_seconds: float = 20.0, short_abandon: float = SHORT_ABANDON,
            tz: dt.tzinfo = dt.timezone.utc, now: float | None = None) -> dict[str, Any]:
    """Figures for queue legs entered in [a, b) (ACD clock s): {"queues", "agents", "overall", "by_hour"
    (offered/answered/abandoned per local hour of `tz`), "by_half_hour" ({queue: offered per local half
    hour, 48}), "problems"}; `now` ends open sign-ins (default b)."""
    end = min(b, now) if now is not None else b
    wrapups = queue_wrapups(s)
    rows = s.execute(select(AcdQueueLog.time, AcdQueueLog.callid, AcdQueueLog.queue, AcdQueueLog.agent,
                            AcdQueueLog.event)
                     .where(AcdQueueLog.time >= a, AcdQueueLog.time < b + LEG_MARGIN,
                            AcdQueueLog.event.not_in(AGENT_EVENTS))
                     .order_by(AcdQueueLog.time, AcdQueueLog.id)).all()
    queues: defaultdict[str, _Acc] = defaultdict(_Acc)
    agents: defaultdict[str, _Acc] = defaultdict(_Acc)
    overall = _Acc()
    by_hour = [{"offered": 0, "answered": 0, "abandoned": 0} for _ in range(24)]
    by_half_hour: defaultdict[str, list[int]] = defaultdict(lambda: [0] * 48)   # queue -> offered per local 30 min
    legs: dict[str, dict[str, Any]] = {}        # callid -> open leg (queue, entered, connected, agent, hour)
    for t, callid, queue, agent, ev in rows:
        if ev == "ENTERQUEUE":
            legs.pop(callid, None)
            if t >= b:
                continue
            local = dt.datetime.fromtimestamp(t, tz)
            hour = local.hour
            by_half_hour[queue][hour * 2 + local.minute // 30] += 1
            legs[callid] = {"queue": queue, "entered": t, "connected": None, "agent": None, "hour": hour}
            for acc in (queues[queue], overall):
                acc.offered += 1
            by_hour[hour]["offered"] += 1
            continue
        leg = legs.get(callid)
        if leg is None:                 # a leg that began before the period (or a foreign line)
            if ev == "RINGNOANSWER" and a <= t < b and agent not in ("", "NONE"):
                agents[agent].missed += 1
            continue
        q = leg["queue"]
        if ev == "CONNECT":
            wait = t - leg["entered"]
            leg["connected"], leg["agent"] = t, agent
            for acc in (queues[q], overall, agents[agent]):
                acc.answered += 1
                acc.wait_sum += wait
                acc.max_wait = max(acc.max_wait, wait)
                acc.in_sl += wait <= sl_seconds
            by_hour[leg["hour"]]["answered"] += 1
        elif ev == "RINGNOANSWER":
            agents[agent].missed += 1
        elif ev in ("COMPLETECALLER", "COMPLETEAGENT", "TRANSFER") and leg["connected"] is not None:
            talk = t - leg["connected"]
            wrap = wrapups.get(q, 0.0)
            for acc in (queues[q], overall, agents[leg["agent"]]):
                acc.handled += 1
                acc.talk += talk
                acc.wrap += wrap
                acc.transferred += ev == "TRANSFER"
            legs.pop(callid)
        elif ev == "ABANDON" or ev in EXIT_EVENTS:
            wait = t - leg["entered"]
            short = ev == "ABANDON" and wait < short_abandon
            for acc in (queues[q], overall):
                acc.max_wait = max(acc.max_wait, wait)
                if ev == "ABANDON":
                    acc.abandoned += 1
                    acc.short_abandoned += short
                else:
                    acc.exited += 1
            if ev == "ABANDON":
                by_hour[leg["hour"]]["abandoned"] += 1
            legs.pop(callid)
    _agent_times(s, a, end, agents)
    return {"queues": {k: v.queue_figures() for k, v in sorted(queues.items())},
            "agents": {k: v.agent_figures() for k, v in sorted(agents.items())},
            "overall": overall.queue_figures(), "by_hour": by_hour, "sl_seconds": sl_seconds,
            "by_half_hour": {k: v for k, v in sorted(by_half_hour.items())},
            "short_abandon": short_abandon}


def _agent_times(s: Session, a: float, end: float, agents: defaultdict[str, _Acc]) -> None:
    """Add signed-in and break seconds inside [a, end) per agent from the login/pause events."""
    if end <= a:
        return
    last_before = (select(AcdQueueLog.agent, func.max(AcdQueueLog.id).label("mid"))
                   .where(AcdQueueLog.time < a, AcdQueueLog.event.in_(AGENT_EVENTS))
                   .group_by(AcdQueueLog.agent).subquery())
    start_rows = s.execute(select(AcdQueueLog.agent, AcdQueueLog.event)
                           .join(last_before, AcdQueueLog.id == last_before.c.mid)).all()
    state: dict[str, tuple[bool, bool, float]] = {}     # agent -> (signed in, on break, since)
    for agent, ev in start_rows:
        if ev != "AGENTLOGOFF":
            state[agent] = (True, ev == "PAUSE", a)
    rows = s.execute(select(AcdQueueLog.time, AcdQueueLog.agent, AcdQueueLog.event)
                     .where(AcdQueueLog.time >= a, AcdQueueLog.time < end, AcdQueueLog.event.in_(AGENT_EVENTS))
                     .order_by(AcdQueueLog.time, AcdQueueLog.id)).all()

    def close(agent: str, t: float) -> None:
        on, brk, since = state.get(agent, (False, False, t))
        if on:
            agents[agent].signed_in += t - since
            if brk:
                agents[agent].on_break += t - since
    for t, agent, ev in rows:
        close(agent, t)
        on, brk, _ = state.get(agent, (False, False, t))
        if ev == "AGENTLOGIN":
            state[agent] = (True, False, t)
        elif ev == "AGENTLOGOFF":
            state[agent] = (False, False, t)
        else:                               # PAUSE / UNPAUSE
            state[agent] = (on, ev == "PAUSE", t)
    for agent in list(state):
        close(agent, end)


def day_bounds(day: dt.date, tz: dt.tzinfo) -> tuple[float, float]:
    """[start, end) epoch seconds of the local calendar day `day` in `tz`."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


def zone(name: str | None) -> dt.tzinfo:
    """The tzinfo of an IANA zone name (UTC when empty or unknown)."""
    try:
        return ZoneInfo(name) if name else dt.timezone.utc
    except (KeyError, ValueError):
        return dt.timezone.utc
