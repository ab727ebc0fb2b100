"""Nodes linked over SIP: several servers share one ACD database; a caller queued on node A reaches an agent
whose station is on node B over a SIP leg from A to B.

Node A (the caller's) rings a station agent of node B by INVITE to `sip:agent-<id>@<B's address>` carrying
the screen pop (caller, queue, IVR path and digits, lookup data; base64url JSON in X-Trunkline-Pop) and the
call's correlation id; node B takes such an INVITE only from a configured node (its peer address is a SIP
trunk named after it), rings the agent's station with the caller's number, answers the SIP leg when the
agent picks up and bridges the two. Each node's CDRs show its legs with the same correlation id and the
other node's name. The ACD state stays in the shared database: A's offer claims the agent, A's
connection holds the call, and hang-ups travel over the SIP leg (BYE / CANCEL)."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from trunkline.media import Call, ChannelError, Engine, Timeout
from trunkline.media.engine import Flow
from trunkline.media.futures import settle

from .core import Offer
from .models import AcdAgent
from .runtime import Runtime

log = logging.getLogger("trunkline.acd")

POP_HEADER, NODE_HEADER, CALL_HEADER = "X-Trunkline-Pop", "X-Trunkline-Node", "X-Trunkline-Call"
MAX_POP = 6000           # bytes of the encoded screen pop (lookup data is cut to fit)
USER_PREFIX = "agent-"


@dataclass
class NodePeer:
    """Another node: its name (= its ACD instance) and SIP address."""
    name: str
    host: str
    port: int
    transport: str = "UDP"

    @classmethod
    def parse(cls, name: str, address: str) -> NodePeer:
        """`host:port` or `host:port;transport=tcp` -> NodePeer; ValueError with the reason otherwise."""
        addr, _, params = address.strip().partition(";")
        host, sep, port = addr.rpartition(":")
        if not name or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"node {name!r}: address must be host:port[;transport=tcp], got {address!r}")
        transport = "TCP" if params.replace(" ", "").lower() == "transport=tcp" else "UDP"
        if params and transport == "UDP" and params.replace(" ", "").lower() != "transport=udp":
            raise ValueError(f"node {name!r}: unknown address parameters {params!r}")
        return cls(name, host, int(port), transport)

    def uri(self, user: str) -> str:
        """A SIP URI for `user` at this node."""
        return f"sip:{user}@{self.host}:{self.port}" + (";transport=tcp" if self.transport == "TCP" else "")


def encode_pop(pop: dict[str, Any]) -> str:
    """The screen pop as base64url JSON, at most MAX_POP bytes (lookup data dropped from the end to fit)."""
    pop = dict(pop)
    data = dict(pop.get("data") or {})
    while True:
        pop["data"] = data
        text = base64.urlsafe_b64encode(json.dumps(pop, separators=(",", ":"), default=str).encode()).decode()
        if len(text) <= MAX_POP or not data:
            return text[:MAX_POP] if len(text) > MAX_POP else text
        data.pop(next(reversed(data)))


def decode_pop(text: str) -> dict[str, Any]:
    """The screen pop from its header value; ValueError when it is not one."""
    try:
        pop = json.loads(base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"bad screen pop header: {exc}") from None
    if not isinstance(pop, dict) or not isinstance(pop.get("agent"), str):
        raise ValueError("screen pop without an agent")
    return pop


class NodeLink:
    """This node's link to the other nodes: rings their agents (caller side) and takes their calls for
    agents here (agent side)."""

    def __init__(self, name: str, peers: dict[str, str]) -> None:
        if not name:
            raise ValueError("nodes linked over SIP need node_name")
        self.name = name
        self.peers = {n: NodePeer.parse(n, a) for n, a in peers.items() if n != name}
        self.engine: Engine | None = None
        self._rt: Runtime | None = None
        self.instance = name
        self.calls_out = 0
        self.calls_in = 0

    @property
    def linked(self) -> frozenset[str]:
        """This node and its peers (ACD instance names)."""
        return frozenset([self.name, *self.peers])

    def attach(self, rt: Runtime) -> None:
        """Let the ACD `rt` ring station agents on the peer nodes (and dispatch to them)."""
        rt.nodes = self
        rt.core.linked = self.linked
        self._rt = rt
        self.instance = rt.instance
        self.engine = rt.engine

    # ------------------------------------------------------------ caller side (node A)
    async def ring_remote(self, rt: Runtime, agent: str, node: str, offer: Offer) -> Call:
        """INVITE agent `agent` at node `node` with the screen pop; returns the answered SIP leg, or raises
        ChannelError (busy, unknown agent, node unreachable) or Timeout like ringing a local station."""
        peer = self.peers.get(node)
        if peer is None:
            raise ChannelError(f"agent {agent} is on node {node!r}, which is not linked to this node", 3)
        w = rt.waiters.get(offer.entry)
        caller = w.call if w is not None else None
        pop = {"node": self.name, "correlation_id": offer.call_id, "entry": offer.entry, "agent": agent,
               "queue": offer.queue, "caller_id": offer.caller_id, "called": offer.called,
               "wait": round(offer.wait, 1), "ring_timeout": offer.ring_timeout,
               "ivr_path": caller.cdr.ivr_path if caller is not None else "",
               "digits": caller.cdr.digits if caller is not None else "", "data": offer.data}
        headers = {NODE_HEADER: self.name, CALL_HEADER: offer.call_id, POP_HEADER: encode_pop(pop)}
        uri = peer.uri(USER_PREFIX + agent) + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in headers.items())
        call = rt.engine.dial(uri, caller_id=offer.caller_id or "", trunk="sip")
        call.called = f"{USER_PREFIX}{agent}@{node}"
        call.cdr.correlation_id, call.cdr.peer_node = offer.call_id, node
        call.cdr.queue, call.cdr.agent = offer.queue, agent
        self.calls_out += 1
        answered = await rt.engine.wait_answer(call, offer.ring_timeout + 2.0)
        if caller is not None:          # the caller's leg here went on to node B
            caller.cdr.correlation_id, caller.cdr.peer_node = offer.call_id, node
        return answered

    # ------------------------------------------------------------ agent side (node B)
    def is_node_call(self, call: Call) -> bool:
        """True for an inbound SIP call from a linked node carrying a screen pop."""
        return call.vars.get("sip_trunk") in self.peers and POP_HEADER in (call.vars.get("sip_headers") or {})

    def install(self, engine: Engine) -> None:
        """Take inbound calls from the linked nodes before the engine's routing (install after the Router)."""
        self.engine = engine
        route: Flow | None = engine._route

        async def flow(call: Call) -> None:
            if self.is_node_call(call):
                await self.answer_inbound(call)
            elif route is not None:
                await route(call)
            else:
                await call.hangup(21)
        engine.route(flow)

    def _station_of(self, agent: str) -> int | None:
        """The station port of `agent` on this node, None when the agent's station is not here."""
        if self._rt is None:
            raise RuntimeError("NodeLink.attach(acd runtime) first: agents are looked up in its database")
        with self._rt.core.transaction() as s:
            row = s.execute(select(AcdAgent.station_port, AcdAgent.host).where(AcdAgent.id == agent)).first()
        if row is None or row[0] is None or row[1] != self.instance:
            return None
        return int(row[0])

    async def answer_inbound(self, call: Call) -> None:
        """A linked node rings one of our agents: ring the station, answer and bridge when it picks up."""
        assert self.engine is not None
        engine = self.engine
        try:
            pop = decode_pop(str(call.vars["sip_headers"][POP_HEADER]))
        except ValueError as exc:
            log.warning("call from node %s refused: %s", call.vars.get("sip_trunk"), exc)
            await call.hangup(111)                       # protocol error, unspecified
            return
        agent = pop["agent"]
        self.calls_in += 1
        call.vars["screen_pop"] = pop
        call.vars["correlation_id"] = str(pop.get("correlation_id") or "")
        rec = call.cdr
        rec.correlation_id, rec.peer_node = call.vars["correlation_id"][:64] or None, str(pop.get("node") or "")
        rec.queue, rec.agent = str(pop.get("queue") or "") or None, agent
        rec.ivr_path, rec.digits = str(pop.get("ivr_path") or ""), str(pop.get("digits") or "")
        port = self._station_of(agent)
        if port is None:
            log.info("node %s rang agent %s, whose station is not on this node", rec.peer_node, agent)
            await call.hangup(1)                         # unallocated number
            return
        timeout = float(pop.get("ring_timeout") or 20.0)
        ring = asyncio.ensure_future(engine.ring_station(port, caller_id=str(pop.get("caller_id") or ""),
                                                         name=str(pop.get("queue") or ""), timeout=timeout))
        gone: asyncio.Future[None] = engine.loop.create_future()
        call.on_hangup(lambda _c: settle(gone, None))
        if call.hungup:
            settle(gone, None)
        either: list[asyncio.Future[Any]] = [ring, gone]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not ring.done():                               # node A stopped ringing (caller left, ring-all lost)
            ring.cancel()
            await asyncio.gather(ring, return_exceptions=True)
            return
        try:
            station = ring.result()
        except ChannelError as exc:
            await call.hangup(17 if exc.cause == 17 else 18)     # user busy / no user responding
            return
        except Timeout:
            await call.hangup(19)                        # no answer
            return
        station.cdr.correlation_id, station.cdr.peer_node = rec.correlation_id, rec.peer_node
        station.cdr.queue, station.cdr.agent = rec.queue, agent
        station.vars["screen_pop"] = pop
        if call.hungup:
            await station.hangup()
            return
        await call.answer()
        await call.bridge(station)
        done: asyncio.Future[None] = engine.loop.create_future()
        for c in (call, station):
            c.on_hangup(lambda _c: settle(done, None))
        if not (call.hungup or station.hungup):
            await done
        for c in (call, station):
            if not c.hungup:
                await c.hangup()
