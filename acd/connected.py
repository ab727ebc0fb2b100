"""The connected call: caller and agent bridged, two-track recording, transfers (blind / attended),
three-way calls and supervisor listen / whisper / barge through engine conferences."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from trunkline.media import Call, ChannelError, Hangup, Timeout
from trunkline.media.dialguard import DialRefused
from trunkline.media.engine import Conference
from trunkline.media.futures import settle
from trunkline.media.moh import moh_items

from .core import ACDError
from .queues import QueueConfig
from .results import Next, QueueResult, Rejoin
from .runtime import MISSING_AUDIO, Connection, Runtime, Waiter
from .store import Refused
from .waiting import play_moh

log = logging.getLogger("trunkline.acd")

MONITOR_MODES = ("listen", "whisper", "barge")
MONITOR_RING = 15.0         # s the supervisor's phone rings for a listen / whisper / barge


def check_monitor_mode(mode: str) -> None:
    """ACDError unless `mode` is listen, whisper or barge."""
    if mode not in MONITOR_MODES:
        raise ACDError(f"monitor mode must be one of {MONITOR_MODES}")


class Connected:
    """Calls connected to agents on this server, and the agents' call control on them."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def talk(self, w: Waiter, cfg: QueueConfig) -> tuple[QueueResult, Next]:
        """Caller and agent talk (after an attended transfer's consultation) until one hangs up or the
        agent transfers; returns the caller's QueueResult and, on a transfer, where the caller goes next."""
        rt, core = self.rt, self.rt.core
        conn = w.connection
        assert conn is not None
        caller, acall = conn.caller, conn.agent_call
        conn.moh = cfg.moh
        caller.stop_audio()
        if w.consult is not None:
            ended = await self._consult(w, cfg, conn)
            if ended is not None:
                return ended, None
        await caller.bridge(acall)
        # the recording policy: the agent part starts here; a whole-call recording goes on (ivr.recpolicy)
        recording = rt.config["recordings"].bridge(caller, conn.agent, w.queue, cfg.recording_policy())
        if recording is not None:
            core.set_recording(w.entry, recording)
        start = rt.engine.now
        snap = core.entry(w.entry)
        rt.tracker.track(caller, queue=w.queue, agent=conn.agent, outcome="completed", answered=start,
                         wait_base=start - ((snap["answered_at"] or 0.0) - snap["enqueued_at"]), recording=recording)
        ended_by = await self._connected_loop(conn)
        rt.connections.pop(conn.agent, None)
        rt.config["recordings"].unbridge(caller)
        if conn.conf is not None:
            conn.conf.close()
        for extra in list(conn.extra):
            if not extra.hungup:
                await extra.hangup()
        talk = rt.engine.now - start
        snap = core.entry(w.entry)
        waited = (snap["answered_at"] or 0.0) - snap["enqueued_at"]
        if isinstance(ended_by, tuple):                       # transfer
            kind, target, new = ended_by                      # the transfer is already in the database
            transferred = QueueResult("transferred", w.queue, w.entry, agent=conn.agent, talk=talk, data=w.data)
            if kind == "blind" or "queue" in target:
                if not acall.hungup:
                    await acall.hangup()
                play_moh(caller, cfg)
                return transferred, (target.get("queue") or w.queue, Rejoin(new, core.position(new)))
            # attended to an agent: keep the first agent on the line to consult the target
            play_moh(caller, cfg)
            rt.consult[new] = acall
            return transferred, (w.queue, Rejoin(new, 1))
        if not caller.hungup and caller.bridged_to is not None:
            await caller.unbridge()
        if conn.held:
            caller.stop_audio()
        if ended_by == "caller" and not acall.hungup:
            await acall.hangup()
        core.complete(w.entry, by=ended_by)
        rt.kick()
        return QueueResult("completed", w.queue, w.entry, agent=conn.agent, wait=waited, talk=talk,
                           ended_by=ended_by, recording=recording, data=w.data), None

    async def _consult(self, w: Waiter, cfg: QueueConfig, conn: Connection) -> QueueResult | None:
        """Attended transfer: the first agent talks to the new agent while the caller keeps the music; when
        the first agent hangs up the caller is connected to the new agent (None), unless someone left."""
        rt = self.rt
        caller, acall = conn.caller, conn.agent_call
        first, w.consult = w.consult, None
        assert first is not None
        play_moh(caller, cfg)
        await acall.bridge(first)
        await self.wait_any([acall, first, caller])
        if not acall.hungup and acall.bridged_to is not None:
            await acall.unbridge()
        if not first.hungup:
            await first.hangup()
        caller.stop_audio()
        if not (caller.hungup or acall.hungup):
            return None
        by = "caller" if caller.hungup else "agent"
        if not acall.hungup:
            await acall.hangup()
        rt.core.complete(w.entry, by=by)
        rt.connections.pop(conn.agent, None)
        rt.kick()
        return QueueResult("completed", w.queue, w.entry, agent=conn.agent, ended_by=by, data=w.data)

    async def wait_any(self, calls: list[Call], extra: asyncio.Future[Any] | None = None) -> None:
        """Until one of `calls` ends (at once if one has) or `extra` resolves."""
        fut: asyncio.Future[None] = self.rt.engine.loop.create_future()
        for c in calls:
            if c.hungup:
                return
            c.on_hangup(lambda _c: settle(fut, None))
        if extra is not None:
            extra.add_done_callback(lambda _f: settle(fut, None))
        await fut

    async def _connected_loop(self, conn: Connection) -> Any:
        """Wait for the end of the connected call or an agent command; returns 'caller'|'agent'|(transfer)."""
        while True:
            conn.control = self.rt.engine.loop.create_future()
            await self.wait_any([conn.caller, conn.agent_call], conn.control)
            cmd = conn.control.result() if conn.control.done() else None
            if cmd is not None and cmd[0] == "transfer":     # already done in the database: follow it
                return cmd[1], cmd[2], cmd[3]
            if conn.caller.hungup:
                return "caller"
            if conn.agent_call.hungup:
                return "agent"

    def _conf(self, conn: Connection) -> Conference:
        """Turn the two-party bridge into a conference (for monitoring / three-way)."""
        if conn.conf is None:
            if conn.caller.bridged_to is not None:
                self.rt.engine.unbridge(conn.caller)
            conn.conf = self.rt.engine.conference(f"acd-{conn.entry}")
            conn.conf.add(conn.caller)
            conn.conf.add(conn.agent_call)
        return conn.conf

    # ------------------------------------------------------------ agent call control
    def transfer(self, agent: str, kind: str = "blind", queue: str | None = None,
                 to_agent: str | None = None) -> None:
        """Agent `agent` transfers their caller (blind/attended) to a queue or another agent."""
        conn = self.rt.connections.get(str(agent))
        if conn is None or conn.control is None:
            raise ACDError(f"agent {agent} has no call on this server")
        if kind not in ("blind", "attended"):
            raise ACDError("transfer kind must be blind or attended")
        target = {"queue": queue} if queue is not None else {"agent": str(to_agent)}
        if (queue is None) == (to_agent is None):
            raise ACDError("transfer needs a queue or an agent")
        if conn.control.done():
            raise Refused(f"agent {agent}'s call is already being transferred or ended")
        if to_agent is not None and str(to_agent) == str(agent):
            raise ACDError("an agent cannot transfer a call to themselves")
        # the database changes now, inside the request (ACDError: refused, the call stays as it is);
        # the audio side follows in talk() at once
        new = self.rt.core.transfer(conn.entry, kind, queue=queue, agent=None if to_agent is None else str(to_agent))
        if conn.held:
            conn.caller.stop_audio()
            conn.held = False
        conn.control.set_result(("transfer", kind, target, new))

    async def hold(self, agent: str) -> None:
        """Put the agent's caller on hold: music on hold to the caller, the two no longer hear each other."""
        conn = self.rt.connection_of(agent)
        if conn.held:
            raise Refused(f"agent {agent}'s caller is already on hold")
        if conn.conf is not None:
            raise Refused("hold is not possible while a supervisor or a third party is on the call")
        if conn.caller.bridged_to is not None:
            await conn.caller.unbridge()
        conn.held = True
        if conn.moh and not conn.caller.hungup:
            try:
                items = moh_items(conn.caller.engine.prompts, conn.moh)
                if items:
                    conn.caller.start_audio(*items, loop=True)
            except MISSING_AUDIO as exc:
                log.warning("hold: music on hold %r unavailable (%s)", conn.moh, exc)

    async def unhold(self, agent: str) -> None:
        """Take the agent's caller off hold: music stops, caller and agent are bridged again."""
        conn = self.rt.connection_of(agent)
        if not conn.held:
            raise Refused(f"agent {agent}'s caller is not on hold")
        conn.caller.stop_audio()
        conn.held = False
        await conn.caller.bridge(conn.agent_call)

    async def hangup_agent_call(self, agent: str) -> None:
        """End the agent's call from the agent side."""
        conn = self.rt.connection_of(agent)
        if conn.held:
            conn.caller.stop_audio()
            conn.held = False
        await conn.agent_call.hangup()

    async def conference_in(self, agent: str, number: str | None = None, port: int | None = None) -> Call:
        """Three-way: dial `number` (or ring station `port`) and join it to the agent's call."""
        conn = self.rt.connection_of(agent)
        engine = self.rt.engine
        if port is None and not number:
            raise ACDError("conference needs a number or a station port")
        if conn.held:
            raise Refused("take the caller off hold before a three-way call")
        third = await (engine.ring_station(port) if port is not None else engine.make_call(str(number)))
        self._conf(conn).add(third)
        conn.extra[third] = "three-way"
        return third

    async def start_monitor(self, agent: str, mode: str = "listen", supervisor_port: int | None = None,
                            supervisor_number: str | None = None, supervisor: str = "") -> Call:
        """Supervisor listen / whisper / barge on agent's live call; rings the supervisor, returns their Call."""
        check_monitor_mode(mode)
        conn = self.rt.connection_of(agent)
        engine = self.rt.engine
        already = conn.supervisors.get(supervisor) if supervisor else None
        if already is not None and not already.hungup and already in conn.extra:
            self.set_monitor_mode(agent, already, mode)      # the supervisor is on the call: switch mode
            self._monitor_doc(conn, agent, supervisor, mode)
            return already
        if supervisor_port is None and not supervisor_number:
            raise ACDError("monitor needs supervisor_port or supervisor_number")
        try:
            if supervisor_port is not None:
                sup = await engine.ring_station(supervisor_port, caller_id=str(agent), name=mode,
                                                timeout=MONITOR_RING)
            else:
                sup = await engine.make_call(str(supervisor_number), caller_id=str(agent), timeout=MONITOR_RING)
        except DialRefused:
            raise                                # the dial plan's reason, not "did not answer"
        except (ChannelError, Timeout, Hangup) as exc:
            raise Refused(f"the supervisor's phone did not answer ({exc})") from None
        try:
            if conn.held:
                raise Refused(f"agent {agent}'s caller is on hold")
            self.set_monitor_mode(agent, sup, mode)
        except ACDError:
            await sup.hangup()                   # the call ended (or was held) while the supervisor's phone rang
            raise
        if supervisor:
            conn.supervisors[supervisor] = sup
        self._monitor_doc(conn, agent, supervisor or str(supervisor_port if supervisor_port is not None
                                                         else supervisor_number), mode)
        return sup

    def _monitor_doc(self, conn: Connection, agent: str, supervisor: str, mode: str) -> None:
        core = self.rt.core
        doc = core.publish("supervisor.monitor", agent=str(agent), supervisor=supervisor, mode=mode,
                           call_id=conn.caller.id)
        core.hub.deliver([doc])

    def set_monitor_mode(self, agent: str, sup: Call, mode: str) -> None:
        """Switch a supervisor already on the call between listen, whisper and barge."""
        check_monitor_mode(mode)
        conn = self.rt.connection_of(agent)
        conf = self._conf(conn)
        if sup in conn.extra:
            conf.remove(sup)
        if mode == "listen":
            conf.add(sup, speak=False, listen=True)
        elif mode == "whisper":
            conf.add(sup, speak=True, listen=True, speak_to={conn.agent_call})
        else:
            conf.add(sup, speak=True, listen=True)
        conn.extra[sup] = mode

    def connection(self, agent: str) -> tuple[Call, Call] | None:
        """(caller Call, agent Call) of agent's live call on this server, or None."""
        c = self.rt.connections.get(str(agent))
        return (c.caller, c.agent_call) if c else None
