"""Periodic reconciliation: an agent or channel whose call has gone is cleared, so nothing stays stuck.

Database side (any server): an agent ringing or busy whose queue entry is no longer offered to them /
connected to them is made Available. This server's side: a queue entry of this instance whose caller's
call is gone (no live waiter, not being rung, not a kept callback) is closed; a connection or a consult
call whose other end has gone is hung up. A suspect is cleared only when it is still one `grace`
seconds (engine time) after it was first seen, so work in flight between two steps is left alone.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from .models import AcdEntry
from .runtime import Runtime
from .store import CONNECTED, IN_QUEUE, WAITING

log = logging.getLogger("trunkline.acd")

GRACE = 2.0            # s a suspect must stay one before it is cleared


class Reconciler:
    """Clears agents, queue entries and channels whose call has gone (call `run` periodically)."""

    def __init__(self, rt: Runtime, grace: float = GRACE) -> None:
        self.rt = rt
        self.grace = grace
        self._suspects: dict[tuple[str, object], float] = {}
        self.cleared: list[str] = []          # what was cleared (most recent last, bounded)

    def _due(self, key: tuple[str, object], seen: set[tuple[str, object]]) -> bool:
        """True when `key` has been a suspect for `grace` seconds."""
        seen.add(key)
        first = self._suspects.setdefault(key, self.rt.engine.now)
        return self.rt.engine.now - first >= self.grace

    def _note(self, what: str) -> None:
        log.warning("ACD %s reconciliation: %s", self.rt.instance, what)
        self.cleared.append(what)
        del self.cleared[:-200]

    async def run(self) -> None:
        """One pass: clear what has been orphaned for `grace` seconds."""
        rt, core = self.rt, self.rt.core
        seen: set[tuple[str, object]] = set()
        for agent in core.reconcile_agents():
            self._note(f"agent {agent} was busy or ringing without a call: made available")
        with core.transaction() as s:
            rows = s.execute(select(AcdEntry.id, AcdEntry.state, AcdEntry.callback_number)
                             .where(AcdEntry.instance == rt.instance,
                                    AcdEntry.state.in_((*IN_QUEUE, CONNECTED)))).all()
        for eid, state, callback in rows:
            w = rt.waiters.get(eid)
            if (w is not None and not w.call.hungup) or eid in rt.handling or (state == WAITING and callback):
                continue
            if not self._due(("entry", eid), seen):
                continue
            if state == CONNECTED:
                core.complete(eid, by="lost", outcome="lost")
            else:
                core.leave(eid, "hangup")
            self._note(f"queue entry {eid} ({state}) had no call any more: closed")
            rt.kick()
        for agent, conn in list(rt.connections.items()):
            if not (conn.caller.hungup or conn.agent_call.hungup) or not self._due(("conn", agent), seen):
                continue
            for c in (conn.caller, conn.agent_call, *conn.extra):
                if not c.hungup:
                    await c.hangup()
            if rt.connections.get(agent) is conn:
                rt.connections.pop(agent, None)
            self._note(f"agent {agent}'s connection had lost a side: channels released")
        for entry, first in list(rt.consult.items()):
            w = rt.waiters.get(entry)
            if (w is not None and not w.call.hungup) or not self._due(("consult", entry), seen):
                continue
            rt.consult.pop(entry, None)
            if not first.hungup:
                await first.hangup()
            self._note(f"consult call of entry {entry} had no caller any more: released")
        for key in list(self._suspects):
            if key not in seen:
                del self._suspects[key]
