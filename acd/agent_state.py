"""Agents in the ACD core: their definition and queue memberships, and the state machine
logged out -> available -> (ringing -> busy -> wrap-up) -> break, one transaction per change."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from trunkline.data.pins import pin_for_storage

from . import agents as st
from .agents import AgentSpec
from .models import AcdAgent, AcdEntry, AcdMember, AcdQueue, AcdSkill
from .queue_log import log_event
from .queues import QueueConfigError
from .store import CONNECTED, OFFERED, ACDError, CoreBase


class AgentStates(CoreBase):
    """Agent definitions, memberships and state changes (login, logout, break, ready, wrap-up, timers)."""

    # ------------------------------------------------------------------ configuration
    def define_agent(self, spec: AgentSpec | dict[str, Any]) -> AgentSpec:
        """Create or update an agent (AgentSpec or dict) and its skills; state is kept."""
        if isinstance(spec, dict):
            spec = AgentSpec(**spec)
        with self.transaction() as s:
            a = s.get(AcdAgent, spec.id)
            if a is None:
                a = AcdAgent(id=spec.id, state=st.LOGGED_OUT, state_since=self.now())
                s.add(a)
            a.name = spec.name or spec.id
            a.station_port = spec.station_port
            a.number = spec.number
            a.host = spec.host
            a.pin = pin_for_storage(spec.pin)         # only a hash is stored
            for sk in s.scalars(select(AcdSkill).where(AcdSkill.agent == spec.id)):
                s.delete(sk)
            s.flush()
            for name, lv in spec.skills.items():
                s.add(AcdSkill(agent=spec.id, skill=name, level=lv))
        return spec

    def add_member(self, queue: str, agent: str, penalty: int = 0, position: int | None = None,
                   weight: float = 1.0) -> None:
        """Put `agent` in `queue` with a penalty (tier), top-down position and weight."""
        if not isinstance(penalty, int) or penalty < 0:
            raise QueueConfigError(f"penalty must be an integer >= 0, got {penalty!r}")
        if weight < 0:
            raise QueueConfigError(f"weight must be >= 0, got {weight!r}")
        with self.transaction() as s:
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

    def remove_member(self, queue: str, agent: str) -> None:
        """Take `agent` out of `queue`."""
        with self.transaction() as s:
            m = s.get(AcdMember, (queue, str(agent)))
            if m is not None:
                s.delete(m)

    # ------------------------------------------------------------------ agent state
    def login(self, agent: str, now: float | None = None, channel: str = "") -> str:
        """Log an agent in (Available). Logging in twice is harmless."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            a = self._agent(s, agent)
            if a.state != st.LOGGED_OUT:
                return a.state
            a.login_at = now
            a.ready_since = now
            a.missed = 0
            a.pause_until = 0.0
            self._set_state(s, a, st.AVAILABLE, now)
            log_event(s, now, "AGENTLOGIN", "NONE", "NONE", a.id, channel or self.instance)
            return a.state

    def logout(self, agent: str, now: float | None = None) -> str:
        """Log an agent out; refused (ACDError) while a call rings or is connected: nothing waits to fire later."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            a = self._agent(s, agent)
            if a.state == st.LOGGED_OUT:
                return a.state
            _refuse_on_call(a, "sign out")
            log_event(s, now, "AGENTLOGOFF", "NONE", "NONE", a.id, self.instance, now - a.login_at)
            self._set_state(s, a, st.LOGGED_OUT, now)
            return a.state

    def set_break(self, agent: str, reason: str = "break", now: float | None = None) -> str:
        """Put an agent on break with a reason code; refused (ACDError) while a call rings or is connected."""
        now = self.now() if now is None else now
        reason = str(reason or "break")
        with self.transaction() as s:
            a = self._agent(s, agent)
            if a.state == st.LOGGED_OUT:
                raise ACDError(f"agent {a.id} is logged out")
            _refuse_on_call(a, "go not ready")
            self._set_state(s, a, st.BREAK, now, reason)
            log_event(s, now, "PAUSE", "NONE", "NONE", a.id, reason)
            return a.state

    def ready(self, agent: str, now: float | None = None) -> str:
        """Make an agent Available (ends break or wrap-up early); refused (ACDError) during a call."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            a = self._agent(s, agent)
            if a.state == st.LOGGED_OUT:
                raise ACDError(f"agent {a.id} is logged out; log in first")
            _refuse_on_call(a, "go ready")
            if a.state == st.BREAK:
                log_event(s, now, "UNPAUSE", "NONE", "NONE", a.id, a.reason)
            if a.state != st.AVAILABLE:
                a.ready_since = now
            a.missed = 0
            a.pause_until = 0.0
            self._set_state(s, a, st.AVAILABLE, now)
            return a.state

    def wrapup(self, agent: str, seconds: float, now: float | None = None) -> str:
        """Put an idle agent in wrap-up for `seconds` (agent asked for more time)."""
        now = self.now() if now is None else now
        with self.transaction() as s:
            a = self._agent(s, agent)
            if a.state not in (st.AVAILABLE, st.WRAPUP, st.BREAK):
                raise ACDError(f"agent {a.id} is {a.state}; wrap-up only when idle")
            a.wrap_until = now + float(seconds)
            self._set_state(s, a, st.WRAPUP, now)
            return a.state

    def agent_state(self, agent: str) -> tuple[str, str]:
        """(state, reason) of an agent."""
        with self.transaction() as s:
            a = self._agent(s, agent, lock=False)
            return a.state, a.reason

    def reconcile_agents(self, now: float | None = None) -> list[str]:
        """Agents ringing or busy whose queue entry is no longer offered / connected to them: made
        Available; returns their ids."""
        now = self.now() if now is None else now
        out = []
        with self.transaction() as s:
            q = select(AcdAgent).where(AcdAgent.state.in_((st.RINGING, st.BUSY)))
            for a in s.scalars(self._lock(s, q, skip=True)):
                e = s.get(AcdEntry, a.current_entry) if a.current_entry is not None else None
                if e is not None and ((a.state == st.RINGING and e.state == OFFERED and a.id in (e.offered_to or []))
                                      or (a.state == st.BUSY and e.state == CONNECTED and e.agent == a.id)):
                    continue
                a.ready_since = now
                self._set_state(s, a, st.AVAILABLE, now)
                out.append(a.id)
        return out

    def tick(self, now: float | None = None) -> list[str]:
        """Timers: end wrap-ups that are due; returns the agents made Available."""
        now = self.now() if now is None else now
        done = []
        with self.transaction() as s:
            q = select(AcdAgent).where(AcdAgent.state == st.WRAPUP, AcdAgent.wrap_until <= now)
            for a in s.scalars(self._lock(s, q, skip=True)):
                a.ready_since = a.wrap_until
                self._after_call_state(s, a, now, default=st.AVAILABLE)
                done.append(a.id)
        return done


def _refuse_on_call(a: AcdAgent, what: str) -> None:
    """ACDError when agent `a` has a call ringing or connected (a state change then would cut or strand it)."""
    if a.state == st.RINGING:
        raise ACDError(f"agent {a.id} has a call ringing: answer or let it go before you {what}")
    if a.state == st.BUSY:
        raise ACDError(f"agent {a.id} is on a call: hang up before you {what}")
