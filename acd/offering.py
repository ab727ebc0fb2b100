"""Offering a queued call to agents: ring FXS stations or external numbers (one, or all at once),
hand the first to answer to the waiting caller, and agent-first callbacks (agent up, then dial the caller)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from trunkline.media import Call, ChannelError, Hangup, Timeout
from trunkline.media.dialguard import dialing_as
from trunkline.media.futures import settle

from .core import Offer
from .models import AcdAgent
from .queues import QueueConfig
from .results import QueueResult, Rejoin
from .runtime import AUDIO_NOT_PLAYED, Connection, Runtime

log = logging.getLogger("trunkline.acd")

#: serve(call, queue, cfg, entry handle, data, connection): the facade's talk-and-transfer loop
Serve = Callable[[Call, str, QueueConfig, Rejoin, dict[str, Any], Connection], Awaitable[QueueResult]]


class Offering:
    """Rings agents for offers of this instance and connects the winner."""

    def __init__(self, rt: Runtime, serve: Serve) -> None:
        self.rt = rt
        self.serve = serve

    def start(self, offer: Offer) -> None:
        """Start ringing for `offer` (once per entry)."""
        if offer.entry in self.rt.handling:
            return
        self.rt.handling.add(offer.entry)
        self.rt.spawn(self._run(offer))

    def _where(self, agent_id: str) -> tuple[int | None, str | None, str | None]:
        """(station port, external number, instance hosting the station) of an agent."""
        with self.rt.core.transaction() as s:
            row = s.execute(select(AcdAgent.station_port, AcdAgent.number, AcdAgent.host)
                            .where(AcdAgent.id == agent_id)).first()
            return (row[0], row[1], row[2]) if row is not None else (None, None, None)

    async def _ring_agent(self, agent_id: str, offer: Offer) -> Call:
        port, number, host = self._where(agent_id)
        cid = offer.caller_id or ""
        engine = self.rt.engine
        if port is not None and host and host != self.rt.instance and self.rt.nodes is not None:
            return await self.rt.nodes.ring_remote(self.rt, agent_id, host, offer)   # a station on another node
        if port is not None:
            return await engine.ring_station(port, caller_id=cid, name=offer.queue, timeout=offer.ring_timeout)
        if not number:
            raise ChannelError(f"agent {agent_id} has neither a station port nor a number", 1)
        with dialing_as("acd", agent_id):            # the dial plan sees who is rung
            return await engine.make_call(number, caller_id=cid, timeout=offer.ring_timeout)

    async def _run(self, offer: Offer) -> None:
        rt, core = self.rt, self.rt.core
        try:
            tasks = {rt.engine.loop.create_task(self._ring_agent(a, offer)): a for a in offer.agents}
            rt.rings[offer.entry] = tasks
            winner = None
            pending = set(tasks)
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    a = tasks[t]
                    if t.cancelled():
                        continue
                    exc = t.exception()
                    if exc is None and winner is None:
                        winner = (a, t.result())
                    elif exc is None:
                        await t.result().hangup()          # answered too late (ring-all)
                        core.missed(offer.entry, a, reason="cancel")
                    else:
                        reason = "busy" if isinstance(exc, ChannelError) and getattr(exc, "cause", 0) == 17 \
                            else "noanswer"
                        if not isinstance(exc, (ChannelError, Timeout, Hangup)):
                            log.error("ringing agent %s failed: %r", a, exc)
                        core.missed(offer.entry, a, reason=reason)
            for t in pending:                                 # ring-all losers: stop their ringing
                t.cancel()
                self.stop_station_ring(tasks[t])
            if winner is None:
                rt.kick()
                return
            if offer.entry not in rt.rings and not offer.callback_number:   # caller left while it rang
                await winner[1].hangup()
                core.answered(offer.entry, winner[0])
                return
            agent, acall = winner
            if not core.answered(offer.entry, agent):
                await acall.hangup()                            # caller left meanwhile
                rt.kick()
                return
            w = rt.waiters.get(offer.entry)
            if w is None and offer.callback_number:
                await self._callback(offer, agent, acall)
                return
            if w is None or w.call.hungup:
                await acall.hangup()
                core.complete(offer.entry, by="caller")
                return
            conn = Connection(w.call, agent, acall, offer.entry)
            conn.done = rt.engine.loop.create_future()
            rt.connections[agent] = conn
            w.connection = conn
            w.poke()
        finally:
            rt.handling.discard(offer.entry)
            rt.rings.pop(offer.entry, None)

    def stop_station_ring(self, agent_id: str) -> None:
        """Hang up the ringing (not yet answered) call to the station of `agent_id`, if any."""
        port, _, host = self._where(agent_id)
        engine = self.rt.engine
        if host and host != self.rt.instance:
            return                  # a station on another node: cancelling the ring ended our SIP leg to it
        c = engine.station_call(port) if port is not None else None
        if c is not None and c.direction == "out" and c.state != "up" and not c.hungup:
            engine.hangup(c, 16)

    def cancel_rings(self, entry: int) -> None:
        """The caller left: stop every agent still ringing for `entry` (the agents are already released)."""
        for t, agent in list(self.rt.rings.pop(entry, {}).items()):
            if not t.done():
                t.cancel()
                self.stop_station_ring(agent)

    async def _callback(self, offer: Offer, agent: str, acall: Call) -> None:
        """Agent-first callback: the agent is up, now dial the caller back and connect."""
        rt, core = self.rt, self.rt.core
        assert offer.callback_number is not None
        try:
            await acall.play("queue-callback-dialing", barge_in=False)
        except AUDIO_NOT_PLAYED as exc:
            log.info("callback to %s: announcement to agent %s not played (%s)", offer.callback_number, agent, exc)
        ring_for = core.queue_config(offer.queue).callback_ring_timeout
        with dialing_as("acd", offer.queue):        # the task copies the origin for the dial plan
            dial: asyncio.Task[Call] = rt.engine.loop.create_task(
                rt.engine.make_call(offer.callback_number, caller_id=offer.called or "", timeout=ring_for))
        agent_gone: asyncio.Future[None] = rt.engine.loop.create_future()
        acall.on_hangup(lambda _c: settle(agent_gone, None))
        if acall.hungup and not agent_gone.done():
            agent_gone.set_result(None)
        either: list[asyncio.Future[Any]] = [dial, agent_gone]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        caller, why = None, None
        if not dial.done():
            dial.cancel()                        # the agent hung up while the caller's phone rang: stop dialling
            why = "agent hung up while dialling"
        else:
            try:
                caller = dial.result()
            except (ChannelError, Timeout, Hangup) as exc:
                why = str(exc)
        if caller is not None and acall.hungup:
            await caller.hangup()
            caller, why = None, "agent hung up before the caller answered"
        if caller is None:
            log.info("callback to %s failed: %s", offer.callback_number, why)
            by = "agent" if agent_gone.done() else "caller"
            if not acall.hungup:
                await acall.hangup()
            core.complete(offer.entry, by=by, outcome="callback-failed")
            rt.kick()
            return
        conn = Connection(caller, agent, acall, offer.entry)
        conn.done = rt.engine.loop.create_future()
        rt.connections[agent] = conn
        cfg = core.queue_config(offer.queue)
        try:
            # like an inbound caller's enqueue(): talk, follow transfers, then the call ends
            await self.serve(caller, offer.queue, cfg, Rejoin(offer.entry, 0), dict(offer.data or {}), conn)
        finally:
            if not caller.hungup:
                await caller.hangup()
