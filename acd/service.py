"""The ACD facade on a media engine: callers wait with music and announcements, agents are rung and bridged.

    acd = ACD(engine, session_factory, config)
    await acd.start()
    result = await acd.enqueue(call, "billing", data={"meter": "123"}, priority=0)

State lives in the database (core.ACDCore); the audio side is composed of
waiting.Waiting (music on hold, position/EWT announcements, keys for
voicemail/callback, overflow), offering.Offering (ringing FXS stations via
engine.ring_station and external agents via engine.make_call, callbacks),
connected.Connected (bridging and two-track recording, transfers, three-way
calls and supervisor listen/whisper/barge through engine conferences) and
commands.AgentCommands (agent state, web commands, station feature codes).
This module runs the background loop and a caller's way through queues.
All timers are media time.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import random
import tempfile
import time as _time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine as DbEngine
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from trunkline.data.db import make_session_factory
from trunkline.ivr.recpolicy import CallRecordings
from trunkline.media import Call, Engine

from .commands import AgentCommands
from .connected import MONITOR_MODES, Connected
from .core import ACDCore, ACDError, JoinResult
from .cti import CtiHub
from .models import create_tables
from .nodes import NodeLink
from .offering import Offering
from .queues import QueueConfig
from .reconcile import Reconciler
from .results import QueueResult, Rejoin
from .runtime import Connection, Runtime, Waiter
from .store import Refused
from .waiting import Waiting

__all__ = ["ACD", "ACDError", "MONITOR_MODES", "QueueResult", "Refused"]

log = logging.getLogger("trunkline.acd")


def _default_config() -> dict[str, Any]:
    return {"instance": "acd", "queues": {}, "agents": [], "poll_interval": 0.25, "recordings_dir": None,
            "feature_codes": True, "announcer": None, "voicemail": None, "flows": {}, "reconcile_interval": 2.0}


class ACD:
    """The automatic call distributor bound to one media engine (and a shared database)."""

    def __init__(self, engine: Engine, session_factory: sessionmaker[Session] | None = None,
                 config: dict[str, Any] | None = None, clock: Callable[[], float] | None = None,
                 rng: random.Random | None = None, hub: CtiHub | None = None) -> None:
        cfg = _default_config()
        cfg.update(config or {})
        self.config = cfg
        self.engine = engine
        if session_factory is None:
            session_factory = make_session_factory(_scratch_database())
        create_tables(session_factory.kw["bind"])
        if clock is None:
            if cfg.get("clock", "engine") == "wall":
                clock = _time.time
            else:
                epoch = _time.time() - engine.now if cfg.get("epoch", True) else 0.0
                clock = lambda: engine.now + epoch   # noqa: E731  media time on an epoch base
        self.core = ACDCore(session_factory, instance=cfg["instance"], clock=clock, rng=rng, hub=hub,
                            writer=cfg.get("writer"))
        self.instance = cfg["instance"]
        # the recording policy (ivr.recpolicy): shared with the IVR router, which starts IVR / whole recordings
        if cfg.get("recordings") is None:
            cfg["recordings"] = CallRecordings(cfg.get("recordings_dir"), session_factory)
        self.recordings: CallRecordings = cfg["recordings"].install(engine)
        self._rt = Runtime(engine, self.core, cfg)
        self._offering = Offering(self._rt, serve=self._serve)
        self._rt.start_offer = self._offering.start
        self._waiting = Waiting(self._rt, self._offering)
        self._connected = Connected(self._rt)
        self._commands = AgentCommands(self._rt, self._connected)
        self._reconciler = Reconciler(self._rt)
        self._poller: asyncio.Task[Any] | None = None
        for name, opts in cfg["queues"].items():
            self.core.define_queue(QueueConfig(name=name, **opts))
        for spec in cfg["agents"]:
            spec = dict(spec)
            queues = spec.pop("queues", {})
            self.core.define_agent(spec)
            if isinstance(queues, (list, tuple)):
                queues = {q: 0 for q in queues}
            for q, pen in queues.items():
                self.core.add_member(q, spec["id"], penalty=pen)
        if cfg["feature_codes"]:
            engine.on_station(self.station_flow)

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the background loop (timers, dispatch, remote offers, web commands)."""
        if self._poller is None:
            lost = self.core.recover()
            if lost:
                log.warning("ACD %s: closed %d queue entries left open by a previous run", self.instance, lost)
            self._poller = self._rt.spawn(self._poll_loop())

    def stop(self) -> None:
        """Stop the background loop and every task of this ACD."""
        for t in list(self._rt.tasks):
            t.cancel()
        self._poller = None

    async def _poll_loop(self) -> None:
        rt = self._rt
        next_reconcile = self.engine.now
        while True:
            try:
                self.core.tick()
                rt.dispatch()
                for offer in self.core.offers_for(self.instance, exclude=rt.handling):
                    self._offering.start(offer)
                self._commands.remote.take()
                if self.engine.now >= next_reconcile:
                    next_reconcile = self.engine.now + float(self.config["reconcile_interval"])
                    await self._reconciler.run()
            except Exception:           # one failed pass (database hiccup) must not end the loop
                log.exception("ACD poll failed")
            await self.engine.sleep(self.config["poll_interval"])

    def link_nodes(self, link: NodeLink) -> None:
        """Ring station agents on the nodes linked over SIP and take their calls for agents here (after the
        engine's routing is installed: the link's calls are taken before it)."""
        link.attach(self._rt)
        link.install(self.engine)

    # ------------------------------------------------------------ callers
    async def enqueue(self, call: Call, queue_name: str, data: dict[str, Any] | None = None,
                      priority: int = 0) -> QueueResult:
        """Queue `call` until an agent takes it (then until the call ends) or it leaves; returns QueueResult."""
        cfg = self.core.queue_config(queue_name)
        data = dict(data or {})
        for k, v in (call.vars or {}).items():
            data.setdefault(k, v)
        if call.state != "up":
            await call.answer()
        self.recordings.enter_queue(call, queue_name, cfg.recording_policy())
        jr = self.core.join(queue_name, call.id, call.caller_id, call.called, data, priority)
        return await self._serve(call, queue_name, cfg, jr, data)

    async def _serve(self, call: Call, queue_name: str, cfg: QueueConfig, jr: JoinResult | Rejoin,
                     data: dict[str, Any], connection: Connection | None = None) -> QueueResult:
        """Wait in the queue and talk, across transfers and overflows; `connection`: already connected
        (a callback dialled back once its agent answered)."""
        rt = self._rt
        result = None
        try:
            while True:
                w = Waiter(self.engine.loop, call, jr.entry, queue_name, data)
                w.consult = rt.consult.pop(jr.entry, None)
                rt.waiters[jr.entry] = w
                try:
                    if connection is not None:
                        w.connection, connection = connection, None
                        outcome = None
                    else:
                        outcome = await self._waiting.wait(w, cfg, jr)
                    if outcome is None:                    # an agent answered
                        outcome = await self._connected.talk(w, cfg)
                    result, nxt = outcome
                finally:
                    rt.waiters.pop(jr.entry, None)
                if nxt is None:
                    assert result is not None, "a caller's last stretch in the queues always has a result"
                    rt.tracker.finish(call, result)
                    return result
                # transferred (new entry id) or overflow to another queue: keep going
                queue_name, jr = nxt
                cfg = self.core.queue_config(queue_name)
        finally:
            rt.tracker.forget(call)

    # ------------------------------------------------------------ agents (API for web admin / features)
    async def execute(self, agent: str, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """On the engine loop: check agent/supervisor command `cmd` against the agent's state now and apply
        it now; returns {"ok": True, "state": ...}; raises Refused (does not apply now) or ACDError."""
        return await self._commands.execute(agent, cmd, args)

    def command(self, agent: str, cmd: str, args: dict[str, Any] | None = None,
                timeout: float = 45.0) -> dict[str, Any]:
        """Thread-safe `execute` (web admin threads): applied or refused before this returns (timeout s)."""
        loop = self.engine.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("ACD.command() blocks: on the engine loop await ACD.execute()")
        fut = asyncio.run_coroutine_threadsafe(self._commands.execute(agent, cmd, args), loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise ACDError(f"{cmd} for agent {agent} took longer than {timeout:g} s") from None

    @property
    def break_reasons(self) -> tuple[str, ...]:
        """The not-ready reason codes agents may choose."""
        return self._commands.break_reasons

    @property
    def dispositions(self) -> tuple[str, ...]:
        """The disposition codes of wrap-up (empty: any code)."""
        return self._commands.dispositions

    @property
    def journal(self) -> list[tuple[int, str, str]]:
        """The last applied commands: (request sequence number, agent, command)."""
        return list(self._commands.journal)

    @property
    def reconciled(self) -> list[str]:
        """What the periodic reconciliation cleared (most recent last)."""
        return list(self._reconciler.cleared)

    def login(self, agent: str) -> str:
        """Log agent in (Available)."""
        return self._commands.login(agent)

    def logout(self, agent: str) -> str:
        """Log agent out (refused during a call)."""
        return self._commands.logout(agent)

    def set_break(self, agent: str, reason: str = "break") -> str:
        """Agent on break with a reason code (refused during a call)."""
        return self._commands.set_break(agent, reason)

    def ready(self, agent: str) -> str:
        """Agent Available."""
        return self._commands.ready(agent)

    def agent_state(self, agent: str) -> tuple[str, str]:
        """(state, reason)."""
        return self.core.agent_state(agent)

    def agents_status(self) -> list[dict[str, Any]]:
        """Wallboard rows per agent (list of dicts)."""
        return self.core.agents_status()

    def queues_status(self) -> list[dict[str, Any]]:
        """Wallboard rows per queue (list of dicts)."""
        return self.core.queues_status()

    def monitor(self, agent: str, mode: str = "listen", supervisor: str = "", station: str | None = None,
                number: str | None = None) -> dict[str, Any]:
        """Thread-safe (web admin): listen/whisper/barge now on the agent's call; `station` = FXS port here,
        else `number`; rings the supervisor and returns once they are on the call (or refused)."""
        st_ = str(station or "").strip()
        args: dict[str, Any] = {"mode": mode, "supervisor": supervisor}
        if st_.isdigit() and int(st_) < self.engine.station_count:
            args["port"] = int(st_)
        elif st_ or number:
            args["number"] = st_ or str(number)
        else:
            raise ACDError("monitor needs the supervisor's station port or number")
        return self.command(agent, "monitor", args)

    async def station_flow(self, call: Call) -> None:
        """Station off hook: *1<agent>[*<pin>]# login here, *2# logout, *3[reason]# break, *4# ready."""
        await self._commands.station_flow(call)

    # ------------------------------------------------------------ agent call control
    def transfer(self, agent: str, kind: str = "blind", queue: str | None = None,
                 to_agent: str | None = None) -> None:
        """Agent `agent` transfers their caller (blind/attended) to a queue or another agent."""
        self._connected.transfer(agent, kind, queue, to_agent)

    async def hangup_agent_call(self, agent: str) -> None:
        """End the agent's call from the agent side."""
        await self._connected.hangup_agent_call(agent)

    async def conference_in(self, agent: str, number: str | None = None, port: int | None = None) -> Call:
        """Three-way: dial `number` (or ring station `port`) and join it to the agent's call."""
        return await self._connected.conference_in(agent, number, port)

    async def start_monitor(self, agent: str, mode: str = "listen", supervisor_port: int | None = None,
                            supervisor_number: str | None = None, supervisor: str = "") -> Call:
        """Supervisor listen / whisper / barge on agent's live call; rings the supervisor, returns their Call."""
        return await self._connected.start_monitor(agent, mode, supervisor_port, supervisor_number, supervisor)

    def set_monitor_mode(self, agent: str, sup: Call, mode: str) -> None:
        """Switch a supervisor already on the call between listen, whisper and barge."""
        self._connected.set_monitor_mode(agent, sup, mode)

    def held(self, agent: str) -> bool:
        """True while agent's caller is on hold on this server."""
        c = self._rt.connections.get(str(agent))
        return bool(c is not None and c.held)

    def connection(self, agent: str) -> tuple[Call, Call] | None:
        """(caller Call, agent Call) of agent's live call on this server, or None."""
        return self._connected.connection(agent)


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def _scratch_database() -> DbEngine:
    """A private SQLite file (deleted at exit) for an ACD run without a shared database; safe across threads."""
    fd, path = tempfile.mkstemp(prefix="trunkline-acd-", suffix=".db")
    os.close(fd)
    atexit.register(_remove, path)
    eng = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=OFF")
        cur.close()
    return eng
