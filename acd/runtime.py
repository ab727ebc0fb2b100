"""What the parts of one ACD on a media engine share: the engine and core, the live calls (waiting
callers by queue entry, connected calls by agent, agents ringing by entry) and the background tasks."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from trunkline.media import Call, CallError, Engine
from trunkline.media.engine import Conference
from trunkline.media.prompts import PromptError

from .core import ACDCore, ACDError, Offer
from .results import CdrTracker

if TYPE_CHECKING:      # nodes.py builds on the runtime; the runtime only holds the link
    from .nodes import NodeLink

log = logging.getLogger("trunkline.acd")

#: audio a queue plays that is missing or unreadable (music on hold, announcements, confirmations)
MISSING_AUDIO = (PromptError, OSError)
#: ... or that could not be played to the end (the call went away, the channel failed)
AUDIO_NOT_PLAYED = (*MISSING_AUDIO, CallError)


class Connection:
    """A caller talking to an agent (bridge, or conference once monitored / three-way)."""

    def __init__(self, caller: Call, agent_id: str, agent_call: Call, entry: int) -> None:
        self.caller, self.agent, self.agent_call, self.entry = caller, agent_id, agent_call, entry
        self.conf: Conference | None = None
        self.extra: dict[Call, str] = {}                       # supervisor / third party calls -> mode
        self.control: asyncio.Future[tuple[Any, ...]] | None = None   # pending command from the agent
        self.done: asyncio.Future[Any] | None = None           # future: ended_by
        self.supervisors: dict[str, Call] = {}                # supervisor name -> their call on this one
        self.held = False                                      # caller on hold (music, agent not heard)
        self.moh = ""                                          # the queue's music on hold


class Waiter:
    """A local caller in a queue entry: its call and the futures the offer side resolves."""

    def __init__(self, loop: asyncio.AbstractEventLoop, call: Call, entry: int, queue: str,
                 data: dict[str, Any]) -> None:
        self.call, self.entry, self.queue, self.data = call, entry, queue, data
        self.wake: asyncio.Future[None] = loop.create_future()
        self.connection: Connection | None = None     # once an agent answered
        self.consult: Call | None = None              # first agent's call during an attended transfer

    def poke(self) -> None:
        """Wake the waiting coroutine."""
        if not self.wake.done():
            self.wake.set_result(None)

    def rearm(self, loop: asyncio.AbstractEventLoop) -> None:
        """A fresh wake-up future once the last one fired."""
        if self.wake.done():
            self.wake = loop.create_future()


def _no_offers(offer: Offer) -> None:
    raise RuntimeError("the ACD's offer handler is not wired")


class Runtime:
    """Shared state of one ACD on one engine; the facade (service.ACD) wires `start_offer`."""

    def __init__(self, engine: Engine, core: ACDCore, config: dict[str, Any]) -> None:
        self.engine, self.core, self.config = engine, core, config
        self.instance: str = config["instance"]
        self.waiters: dict[int, Waiter] = {}               # entry id -> local caller waiting or talking
        self.handling: set[int] = set()                    # offered entry ids being rung here
        self.connections: dict[str, Connection] = {}       # agent id -> connected call
        self.rings: dict[int, dict[asyncio.Task[Call], str]] = {}   # entry id -> {ring task: agent id}
        self.consult: dict[int, Call] = {}                 # new entry id -> first agent's Call (attended transfer)
        self.tracker = CdrTracker(engine)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.start_offer: Callable[[Offer], None] = _no_offers
        self.nodes: NodeLink | None = None                 # nodes linked over SIP (agents on other nodes)
        self._kicked = False

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coro` as a task of this ACD (cancelled by stop(); a failure is logged)."""
        t = self.engine.loop.create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)
        t.add_done_callback(_log_failure)
        return t

    def kick(self) -> None:
        """Dispatch soon (once per burst of events)."""
        if self._kicked:
            return
        self._kicked = True

        def run() -> None:
            self._kicked = False
            self.dispatch()
        self.engine.loop.call_soon(run)

    def dispatch(self) -> None:
        """One dispatch pass; offers for callers on this instance start ringing here."""
        for offer in self.core.dispatch():
            if offer.instance == self.instance:
                self.start_offer(offer)

    def connection_of(self, agent: str) -> Connection:
        """The live call of `agent` on this server; ACDError when there is none."""
        conn = self.connections.get(str(agent))
        if conn is None:
            raise ACDError(f"agent {agent} has no call on this server")
        return conn


def _log_failure(t: asyncio.Task[Any]) -> None:
    if not t.cancelled() and t.exception() is not None:
        log.error("ACD task failed: %r", t.exception(), exc_info=t.exception())
