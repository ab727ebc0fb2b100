"""The ACD facade on a media engine: callers wait with music and announcements, agents are rung and bridged.

    acd = ACD(engine, session_factory, config)
    await acd.start()
    result = await acd.enqueue(call, "billing", data={"meter": "123"}, priority=0)

State lives in the database (core.ACDCore); this module does the audio side:
ringing agents (FXS stations via engine.ring_station, external agents via
engine.make_call), music on hold, position/EWT announcements, keys for
voicemail/callback, overflow, bridging and two-track recording, transfers,
three-way calls and supervisor listen/whisper/barge through engine
conferences. All timers are media time.
"""
import asyncio
import logging
import os
import time as _time
from dataclasses import dataclass, field

from sqlalchemy import create_engine, event, select

from trunkline.data.db import make_session_factory
from trunkline.media.errors import ChannelError, Hangup, Timeout

from .core import ACDCore, ACDError
from .models import AcdAgent, AcdCommand, create_tables
from .queues import QueueConfig

log = logging.getLogger("trunkline.acd")

MONITOR_MODES = ("listen", "whisper", "barge")


def _set_cdr_vars(call, queue, agent, outcome, wait, talk, recording):
    """Fill the call's typed record (media.record.CallRecord, read by the CDR writer): queue, agent,
    outcome, wait and talk s, recording path."""
    rec = call.cdr
    rec.queue, rec.agent, rec.outcome = queue, agent, outcome
    rec.wait, rec.talk, rec.recording = round(wait, 3), round(talk, 3), recording


@dataclass
class QueueResult:
    """How enqueue() ended: outcome completed|abandoned|timeout|empty|voicemail|callback|overflow|hangup."""
    outcome: str
    queue: str
    entry: int
    agent: str | None = None
    wait: float = 0.0
    talk: float = 0.0
    ended_by: str | None = None
    overflow: dict | None = None
    recording: str | None = None
    data: dict = field(default_factory=dict)


class _Waiter:
    """A local caller in a queue entry: its call and the futures the offer side resolves."""

    def __init__(self, acd, call, entry, queue, data):
        self.call, self.entry, self.queue, self.data = call, entry, queue, data
        self.wake = acd.engine.loop.create_future()
        self.connection = None            # _Connection once an agent answered
        self.consult = None               # first agent's call during an attended transfer

    def poke(self):
        """Wake the waiting coroutine."""
        if not self.wake.done():
            self.wake.set_result(None)

    def rearm(self, loop):
        if self.wake.done():
            self.wake = loop.create_future()


class _Connection:
    """A caller talking to an agent (bridge, or conference once monitored / three-way)."""

    def __init__(self, caller, agent_id, agent_call, entry):
        self.caller, self.agent, self.agent_call, self.entry = caller, agent_id, agent_call, entry
        self.conf = None
        self.extra = {}                   # supervisor / third party calls -> mode
        self.control = None               # pending command ("transfer", args) from the agent
        self.done = None                  # future: ended_by


def _default_config():
    return {"instance": "acd", "queues": {}, "agents": [], "poll_interval": 0.25, "recordings_dir": None,
            "feature_codes": True, "announcer": None, "voicemail": None, "flows": {}}


class ACD:
    """The automatic call distributor bound to one media engine (and a shared database)."""

    def __init__(self, engine, session_factory=None, config=None, clock=None, rng=None, hub=None):
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
        self._waiters = {}                # entry id -> _Waiter
        self._handling = set()            # offered entry ids being rung here
        self._connections = {}            # agent id -> _Connection
        self._rings = {}                  # entry id -> {ring task: agent id}
        self._consult = {}                # new entry id -> first agent's Call (attended transfer)
        self._tracked = {}                # call id -> CDR state of a queued call (see _track)
        self._tasks = set()
        self._poller = None
        self._kicked = False
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
    async def start(self):
        """Start the background loop (timers, dispatch, remote offers, web commands)."""
        if self._poller is None:
            lost = self.core.recover()
            if lost:
                log.warning("ACD %s: closed %d queue entries left open by a previous run", self.instance, lost)
            self._poller = self._spawn(self._poll_loop())

    def stop(self):
        """Stop the background loop and every task of this ACD."""
        for t in list(self._tasks):
            t.cancel()
        self._poller = None

    def _spawn(self, coro):
        t = self.engine.loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        t.add_done_callback(_log_failure)
        return t

    async def _poll_loop(self):
        while True:
            try:
                self.core.tick()
                self._dispatch()
                for offer in self.core.offers_for(self.instance, exclude=self._handling):
                    self._start_offer(offer)
                self._take_commands()
            except Exception:
                log.exception("ACD poll failed")
            await self.engine.sleep(self.config["poll_interval"])

    def _kick(self):
        """Dispatch soon (once per burst of events)."""
        if self._kicked:
            return
        self._kicked = True

        def run():
            self._kicked = False
            self._dispatch()
        self.engine.loop.call_soon(run)

    def _dispatch(self):
        for offer in self.core.dispatch():
            if offer.instance == self.instance:
                self._start_offer(offer)

    # ------------------------------------------------------------ agents (API for web admin / features)
    def login(self, agent):
        """Log agent in (Available)."""
        r = self.core.login(agent)
        self._kick()
        return r

    def logout(self, agent):
        """Log agent out (after the current call)."""
        return self.core.logout(agent)

    def set_break(self, agent, reason="break"):
        """Agent on break with a reason code."""
        return self.core.set_break(agent, reason)

    def ready(self, agent):
        """Agent Available."""
        r = self.core.ready(agent)
        self._kick()
        return r

    def agent_state(self, agent):
        """(state, reason)."""
        return self.core.agent_state(agent)

    def agents_status(self):
        """Wallboard rows per agent (list of dicts)."""
        return self.core.agents_status()

    def queues_status(self):
        """Wallboard rows per queue (list of dicts)."""
        return self.core.queues_status()

    # ------------------------------------------------------------ callers
    async def enqueue(self, call, queue_name, data=None, priority=0):
        """Queue `call` until an agent takes it (then until the call ends) or it leaves; returns QueueResult."""
        cfg = self.core.queue_config(queue_name)
        data = dict(data or {})
        for k, v in (call.vars or {}).items():
            data.setdefault(k, v)
        if call.state != "up":
            await call.answer()
        jr = self.core.join(queue_name, call.id, call.caller_id, call.called, data, priority)
        return await self._serve(call, queue_name, cfg, jr, data)

    async def _serve(self, call, queue_name, cfg, jr, data, connection=None):
        """Wait in the queue and talk, across transfers and overflows; `connection`: already connected
        (a callback dialled back once its agent answered)."""
        result = None
        try:
            while True:
                w = _Waiter(self, call, jr.entry, queue_name, data)
                w.consult = self._consult.pop(jr.entry, None)
                self._waiters[jr.entry] = w
                try:
                    if connection is not None:
                        w.connection, connection = connection, None
                        result, nxt = await self._talk(w, cfg)
                    else:
                        result, nxt = await self._wait_in_queue(w, cfg, jr)
                finally:
                    self._waiters.pop(jr.entry, None)
                if nxt is None:
                    self._cdr_vars(call, result)
                    return result
                # transferred (new entry id) or overflow to another queue: keep going
                queue_name, jr = nxt
                cfg = self.core.queue_config(queue_name)
        finally:
            self._tracked.pop(call.id, None)

    @staticmethod
    def _cdr_vars(call, r):
        """The CDR vars of a finished QueueResult (None: nothing to set)."""
        if r is not None:
            _set_cdr_vars(call, r.queue, r.agent, r.outcome, r.wait, r.talk, r.recording)

    def _track(self, call, **state):
        """Keep what the CDR needs of a queued call current: the CDR is written the moment the call ends
        (engine end hook), which is often before enqueue() returns and sets the final vars."""
        t = self._tracked.get(call.id)
        if t is None:
            t = self._tracked[call.id] = {"agent": None, "answered": None, "recording": None}
            call.on_hangup(self._track_hangup)
        t.update(state)

    def _track_hangup(self, call):
        t = self._tracked.get(call.id)
        if not t or "queue" not in t:
            return
        now = self.engine.now
        up = t["answered"]
        _set_cdr_vars(call, t["queue"], t["agent"], t["outcome"], (up if up is not None else now) - t["wait_base"],
                      now - up if up is not None else 0.0, t["recording"])

    async def _wait_in_queue(self, w, cfg, jr):
        call, entry = w.call, jr.entry
        now = self.engine.now
        joined = self.core.entry(entry)
        wait_base = joined["enqueued_at"] - (self.core.now() - now)    # entry time in media time
        self._track(call, queue=w.queue, outcome="abandoned", wait_base=wait_base, agent=None, answered=None,
                    recording=None)
        if jr.empty and cfg.on_empty["action"] != "stay":
            self.core.leave(entry, "empty")
            return await self._overflow(w, cfg.on_empty, "empty", wait=0.0)
        call.on_hangup(lambda c: w.poke())
        self._moh(call, cfg)
        self._kick()
        first = cfg.announce_first if cfg.announce_first is not None else cfg.announce_interval
        next_announce = wait_base + first if cfg.announce_interval > 0 else None
        deadline = wait_base + cfg.max_wait if cfg.max_wait else None
        while True:
            if w.connection is not None:
                return await self._talk(w, cfg)
            if call.hungup:
                e = self.core.entry(entry)
                if e["callback_number"]:
                    return QueueResult("callback", w.queue, entry, wait=self.engine.now - wait_base), None
                if self.core.leave(entry, "abandon"):
                    self._cancel_rings(entry)
                return QueueResult("abandoned", w.queue, entry, wait=self.engine.now - wait_base), None
            now = self.engine.now
            if deadline is not None and now >= deadline - 1e-9 and w.connection is None:
                if self.core.entry(entry)["state"] in ("waiting", "offered"):
                    self.core.leave(entry, "timeout")
                    self._cancel_rings(entry)
                    return await self._overflow(w, cfg.overflow, "timeout", wait=now - wait_base)
            if cfg.on_empty["action"] != "stay" and self.core.logged_in_count(w.queue) == 0:
                if self.core.leave(entry, "empty"):       # everyone logged out while the caller waited
                    self._cancel_rings(entry)
                    return await self._overflow(w, cfg.on_empty, "empty", wait=now - wait_base)
            pending = call.digits_pending()
            if pending:
                r = await self._keys(w, cfg, pending, wait_base)
                if r is not None:
                    return r
            if next_announce is not None and now >= next_announce - 1e-9:
                await self._announce(w, cfg)
                next_announce += cfg.announce_interval
                continue
            step = self.config["poll_interval"]
            for t in (next_announce, deadline):
                if t is not None:
                    step = min(step, max(0.0, t - now))
            w.rearm(self.engine.loop)
            timer = self.engine.call_later(step, w.poke)
            await w.wake
            timer.cancel()

    def _moh(self, call, cfg):
        if not cfg.moh or call.hungup:
            return
        try:
            call.start_audio(cfg.moh, loop=True)
        except Exception as exc:          # missing prompt: wait in silence, say so in the log
            log.warning("queue %s: music on hold %r unavailable (%s)", cfg.name, cfg.moh, exc)

    async def _announce(self, w, cfg):
        est, pos = self.core.ewt(w.entry)
        ewt = est.blended
        self.core.hub.deliver([self._note(w, "queue.announce", position=pos, ewt=round(ewt, 1))])
        items = self._announcement(cfg, pos, ewt)
        if items and not w.call.hungup and w.connection is None:
            w.call.stop_audio()
            try:
                await w.call.play(*items, barge_in=False)
            except Hangup:
                return
            except Exception as exc:
                log.warning("queue %s: announcement failed (%s)", cfg.name, exc)
            if w.connection is None:
                self._moh(w.call, cfg)

    def _note(self, w, type_, **fields):
        """Store a CTI document outside other transactions and return it."""
        from .cti import make_doc
        with self.core._tx() as s:
            doc = make_doc(type_, self.core.now(), call_id=w.call.id, entry=w.entry, queue=w.queue, **fields)
            row = self.core.hub.store(s, doc)
            s.flush()
            doc["id"] = row.id
        return doc

    def _announcement(self, cfg, position, ewt):
        """Play items for position/EWT: the configured announcer, else prompts + say-number when available."""
        fn = self.config.get("announcer")
        if fn is not None:
            return fn(cfg, position, ewt)
        from .announce import announcement
        lang = getattr(self.engine.prompts, "language", None) or "en"
        try:
            return announcement(position, ewt, lang if lang in ("en", "zh") else "en",
                                cfg.announce_position, cfg.announce_ewt)
        except Exception as exc:
            log.warning("queue %s: no position/EWT announcement (%s); set config['announcer']", cfg.name, exc)
            return []

    async def _keys(self, w, cfg, pending, wait_base):
        call = w.call
        key = pending[0]
        call.flush_digits()
        if cfg.voicemail_key and key == cfg.voicemail_key:
            self.core.leave(w.entry, "voicemail", key=key)
            self._cancel_rings(w.entry)
            self._track(call, outcome="voicemail")
            call.stop_audio()
            await self._run_action(call, {"action": "voicemail", "target": cfg.voicemail_box}, w)
            return QueueResult("voicemail", w.queue, w.entry, wait=self.engine.now - wait_base), None
        if cfg.callback_key and key == cfg.callback_key:
            number = call.caller_id
            self.core.request_callback(w.entry, number)
            self._track(call, outcome="callback")
            call.stop_audio()
            try:
                await call.play("queue-callback-ok", barge_in=False)
            except Exception:
                pass
            await call.hangup()
            return QueueResult("callback", w.queue, w.entry, wait=self.engine.now - wait_base), None
        return None

    async def _overflow(self, w, action, why, wait):
        act = action["action"]
        if act == "stay":
            return QueueResult(why, w.queue, w.entry, wait=wait, overflow=action), None
        if act == "queue":
            w.call.stop_audio()
            jr = self.core.join(action["target"], w.call.id, w.call.caller_id, w.call.called, w.data)
            return None, (action["target"], jr)
        w.call.stop_audio()
        self._track(w.call, outcome="overflow" if why == "timeout" else why)
        await self._run_action(w.call, action, w)
        return QueueResult("overflow" if why == "timeout" else why, w.queue, w.entry, wait=wait,
                           overflow=action), None

    async def _run_action(self, call, action, w):
        act = action["action"]
        if act == "hangup":
            await call.hangup()
        elif act == "voicemail":
            vm = self.config.get("voicemail")
            if vm is not None:
                await vm(call, action.get("target") or w.queue)
            else:
                await call.record_voicemail(box=action.get("target") or w.queue) \
                    if hasattr(call, "record_voicemail") else None
        elif act == "flow":
            flow = self.config["flows"].get(action["target"])
            if flow is None:
                raise ACDError(f"overflow flow {action['target']!r} is not configured")
            await flow(call)

    # ------------------------------------------------------------ ringing agents
    def _start_offer(self, offer):
        if offer.entry in self._handling:
            return
        self._handling.add(offer.entry)
        self._spawn(self._run_offer(offer))

    async def _ring_agent(self, agent_id, offer):
        with self.core._tx() as s:
            a = s.get(AcdAgent, agent_id)
            port, number = a.station_port, a.number
        cid = offer.caller_id or ""
        if port is not None:
            return await self.engine.ring_station(port, caller_id=cid, name=offer.queue, timeout=offer.ring_timeout)
        return await self.engine.make_call(number, caller_id=cid, timeout=offer.ring_timeout)

    async def _run_offer(self, offer):
        try:
            tasks = {self.engine.loop.create_task(self._ring_agent(a, offer)): a for a in offer.agents}
            self._rings[offer.entry] = tasks
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
                        self.core.missed(offer.entry, a, reason="cancel")
                    else:
                        reason = "busy" if isinstance(exc, ChannelError) and getattr(exc, "cause", 0) == 17 \
                            else "noanswer"
                        if not isinstance(exc, (ChannelError, Timeout, Hangup)):
                            log.error("ringing agent %s failed: %r", a, exc)
                        self.core.missed(offer.entry, a, reason=reason)
            for t in pending:                                 # ring-all losers: stop their ringing
                t.cancel()
                self._hangup_station_ring(tasks[t])
            if winner is None:
                self._kick()
                return
            if offer.entry not in self._rings and not offer.callback_number:   # caller left while it rang
                await winner[1].hangup()
                self.core.answered(offer.entry, winner[0])
                return
            agent, acall = winner
            if not self.core.answered(offer.entry, agent):
                await acall.hangup()                            # caller left meanwhile
                self._kick()
                return
            w = self._waiters.get(offer.entry)
            if w is None and offer.callback_number:
                await self._callback(offer, agent, acall)
                return
            if w is None or w.call.hungup:
                await acall.hangup()
                self.core.complete(offer.entry, by="caller")
                return
            conn = _Connection(w.call, agent, acall, offer.entry)
            conn.done = self.engine.loop.create_future()
            self._connections[agent] = conn
            w.connection = conn
            w.poke()
        finally:
            self._handling.discard(offer.entry)
            self._rings.pop(offer.entry, None)

    def _hangup_station_ring(self, agent_id):
        with self.core._tx() as s:
            a = s.get(AcdAgent, agent_id)
            port = a.station_port if a else None
        if port is not None and port < len(self.engine.stations):
            c = self.engine.calls.get(self.engine.stations[port])
            if c is not None and c.direction == "out" and c.state != "up" and not c.hungup:
                self.engine.hangup(c, 16)

    def _cancel_rings(self, entry):
        """The caller left: stop every agent still ringing for `entry` (the agents are already released)."""
        for t, agent in list(self._rings.pop(entry, {}).items()):
            if not t.done():
                t.cancel()
                self._hangup_station_ring(agent)

    async def _callback(self, offer, agent, acall):
        """Agent-first callback: the agent is up, now dial the caller back and connect."""
        try:
            await acall.play("queue-callback-dialing", barge_in=False)
        except Exception:
            pass
        ring_for = self.core.queue_config(offer.queue).callback_ring_timeout
        dial = self.engine.loop.create_task(self.engine.make_call(offer.callback_number,
                                                                  caller_id=offer.called or "", timeout=ring_for))
        agent_gone = self.engine.loop.create_future()
        acall.on_hangup(lambda _c: agent_gone.done() or agent_gone.set_result(None))
        if acall.hungup and not agent_gone.done():
            agent_gone.set_result(None)
        await asyncio.wait({dial, agent_gone}, return_when=asyncio.FIRST_COMPLETED)
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
            self.core.complete(offer.entry, by=by, outcome="callback-failed")
            self._kick()
            return
        conn = _Connection(caller, agent, acall, offer.entry)
        conn.done = self.engine.loop.create_future()
        self._connections[agent] = conn
        cfg = self.core.queue_config(offer.queue)
        try:
            # like an inbound caller's enqueue(): talk, follow transfers, then the call ends
            await self._serve(caller, offer.queue, cfg, _Rejoin(offer.entry, 0), dict(offer.data or {}),
                              connection=conn)
        finally:
            if not caller.hungup:
                await caller.hangup()

    # ------------------------------------------------------------ connected
    async def _talk(self, w, cfg):
        conn = w.connection
        caller, acall = conn.caller, conn.agent_call
        caller.stop_audio()
        if w.consult is not None:
            # attended transfer: the first agent talks to the new agent while the caller keeps the music;
            # when the first agent hangs up the caller is connected to the new agent
            first, w.consult = w.consult, None
            self._moh(caller, cfg)
            await acall.bridge(first)
            await self._wait_any([acall, first, caller])
            if not acall.hungup and acall.bridged_to is not None:
                await acall.unbridge()
            if not first.hungup:
                await first.hangup()
            caller.stop_audio()
            if caller.hungup or acall.hungup:
                by = "caller" if caller.hungup else "agent"
                if not acall.hungup:
                    await acall.hangup()
                self.core.complete(w.entry, by=by)
                self._connections.pop(conn.agent, None)
                self._kick()
                return QueueResult("completed", w.queue, w.entry, agent=conn.agent, ended_by=by,
                                   data=w.data), None
        await caller.bridge(acall)
        recording = None
        rec_task = None
        if cfg.record and self.config.get("recordings_dir"):
            os.makedirs(self.config["recordings_dir"], exist_ok=True)
            recording = os.path.join(self.config["recordings_dir"], f"acd-{w.entry}-{caller.id}.wav")
            self.core.set_recording(w.entry, recording)
            rec_task = self._spawn(self._record(caller, recording, conn.agent, w.queue))
        start = self.engine.now
        snap = self.core.entry(w.entry)
        self._track(caller, queue=w.queue, agent=conn.agent, outcome="completed", answered=start,
                    wait_base=start - ((snap["answered_at"] or 0.0) - snap["enqueued_at"]), recording=recording)
        ended_by = await self._connected_loop(conn)
        self._connections.pop(conn.agent, None)
        if rec_task is not None and not rec_task.done():
            self.engine.recorders.stop(caller.channel, "ended")
        if conn.conf is not None:
            conn.conf.close()
        for extra in list(conn.extra):
            if not extra.hungup:
                await extra.hangup()
        talk = self.engine.now - start
        snap = self.core.entry(w.entry)
        waited = (snap["answered_at"] or 0.0) - snap["enqueued_at"]
        if isinstance(ended_by, tuple):                       # transfer
            kind, target = ended_by
            new = self.core.transfer(w.entry, kind, **target)
            if kind == "blind" or "queue" in target:
                if not acall.hungup:
                    await acall.hangup()
                nw_queue = target.get("queue") or w.queue
                jr = _Rejoin(new, self.core.position(new))
                self._moh(caller, cfg)
                return QueueResult("transferred", w.queue, w.entry, agent=conn.agent, talk=talk,
                                   data=w.data), (nw_queue, jr)
            # attended to an agent: keep the first agent on the line to consult the target
            self._moh(caller, cfg)
            self._consult[new] = acall
            return QueueResult("transferred", w.queue, w.entry, agent=conn.agent, talk=talk,
                               data=w.data), (w.queue, _Rejoin(new, 1))
        if not caller.hungup and caller.bridged_to is not None:
            await caller.unbridge()
        if ended_by == "caller" and not acall.hungup:
            await acall.hangup()
        self.core.complete(w.entry, by=ended_by)
        self._kick()
        return QueueResult("completed", w.queue, w.entry, agent=conn.agent, wait=waited, talk=talk,
                           ended_by=ended_by, recording=recording, data=w.data), None

    async def _record(self, caller, path, agent=None, queue=None):
        res = None
        try:
            res = await caller.record(path, max_seconds=4 * 3600.0, terminators="", beep=False, two_track=True)
        except Hangup as exc:
            res = getattr(exc, "recording", None)
        if res is not None and getattr(res, "path", None):
            self._index_recording(caller, res, agent, queue)

    def _index_recording(self, caller, res, agent, queue):
        """Index the two-track recording in trunkline.data.models.Recording when that table exists."""
        try:
            from sqlalchemy import inspect

            from trunkline.data.models import Recording
            bind = self.core.sf.kw["bind"]
            if not inspect(bind).has_table("recordings"):
                return
            import datetime as dt
            with self.core._tx() as s:
                s.add(Recording(call_id=caller.id, path=res.path, format=os.path.splitext(res.path)[1][1:] or "wav",
                                started_at=dt.datetime.now(dt.timezone.utc), seconds=float(res.seconds or 0.0),
                                bytes=os.path.getsize(res.path) if os.path.exists(res.path) else 0,
                                caller=caller.caller_id or "", agent=agent, queue=queue, two_track=True))
        except Exception as exc:        # the recording file exists either way; say why it is not indexed
            log.warning("recording %s not indexed: %s", res.path, exc)

    async def _wait_any(self, calls, extra=None):
        fut = self.engine.loop.create_future()
        for c in calls:
            if c.hungup:
                return
            c.on_hangup(lambda _c: fut.done() or fut.set_result(None))
        if extra is not None:
            extra.add_done_callback(lambda _f: fut.done() or fut.set_result(None))
        await fut

    async def _connected_loop(self, conn):
        """Wait for the end of the connected call or an agent command; returns 'caller'|'agent'|(transfer)."""
        while True:
            conn.control = self.engine.loop.create_future()
            await self._wait_any([conn.caller, conn.agent_call], conn.control)
            if conn.caller.hungup:
                return "caller"
            if conn.agent_call.hungup:
                return "agent"
            cmd = conn.control.result() if conn.control.done() else None
            if cmd is None:
                continue
            if cmd[0] == "transfer":
                return cmd[1], cmd[2]
            if cmd[0] == "hangup":
                await conn.caller.hangup()
                return "agent"

    def _conf(self, conn):
        """Turn the two-party bridge into a conference (for monitoring / three-way)."""
        if conn.conf is None:
            if conn.caller.bridged_to is not None:
                self.engine.unbridge(conn.caller)
            conn.conf = self.engine.conference(f"acd-{conn.entry}")
            conn.conf.add(conn.caller)
            conn.conf.add(conn.agent_call)
        return conn.conf

    # ------------------------------------------------------------ agent call control
    def transfer(self, agent, kind="blind", queue=None, to_agent=None):
        """Agent `agent` transfers their caller (blind/attended) to a queue or another agent."""
        conn = self._connections.get(str(agent))
        if conn is None or conn.control is None:
            raise ACDError(f"agent {agent} has no call on this server")
        if kind not in ("blind", "attended"):
            raise ACDError("transfer kind must be blind or attended")
        target = {"queue": queue} if queue is not None else {"agent": str(to_agent)}
        if (queue is None) == (to_agent is None):
            raise ACDError("transfer needs a queue or an agent")
        conn.control.done() or conn.control.set_result(("transfer", kind, target))

    async def hangup_agent_call(self, agent):
        """End the agent's call from the agent side."""
        conn = self._connections.get(str(agent))
        if conn is None:
            raise ACDError(f"agent {agent} has no call on this server")
        await conn.agent_call.hangup()

    async def conference_in(self, agent, number=None, port=None):
        """Three-way: dial `number` (or ring station `port`) and join it to the agent's call."""
        conn = self._connections.get(str(agent))
        if conn is None:
            raise ACDError(f"agent {agent} has no call on this server")
        third = await (self.engine.ring_station(port) if port is not None else self.engine.make_call(number))
        self._conf(conn).add(third)
        conn.extra[third] = "three-way"
        return third

    def monitor(self, agent, mode="listen", supervisor="", station=None, number=None):
        """Thread-safe request (web admin): queue listen/whisper/barge; `station` = FXS port, else `number`.

        The ACD server holding the agent's call rings the supervisor and joins
        them; returns {"command": id} (see acd_commands.result for the outcome).
        """
        if mode not in MONITOR_MODES:
            raise ACDError(f"monitor mode must be one of {MONITOR_MODES}")
        args = {"mode": mode, "supervisor": supervisor}
        st_ = str(station or "").strip()
        if st_.isdigit() and int(st_) < len(getattr(self.engine, "stations", [])):
            args["port"] = int(st_)
        elif st_ or number:
            args["number"] = st_ or str(number)
        else:
            raise ACDError("monitor needs the supervisor's station port or number")
        with self.core._tx() as s:
            row = AcdCommand(agent=str(agent), cmd="monitor", args=args, created=self.core.now())
            s.add(row)
            s.flush()
            return {"command": row.id}

    async def start_monitor(self, agent, mode="listen", supervisor_port=None, supervisor_number=None,
                            supervisor=""):
        """Supervisor listen / whisper / barge on agent's live call; rings the supervisor, returns their Call."""
        if mode not in MONITOR_MODES:
            raise ACDError(f"monitor mode must be one of {MONITOR_MODES}")
        conn = self._connections.get(str(agent))
        if conn is None:
            raise ACDError(f"agent {agent} has no call on this server")
        if supervisor_port is not None:
            sup = await self.engine.ring_station(supervisor_port, caller_id=str(agent), name=mode)
        elif supervisor_number:
            sup = await self.engine.make_call(supervisor_number, caller_id=str(agent))
        else:
            raise ACDError("monitor needs supervisor_port or supervisor_number")
        self.set_monitor_mode(agent, sup, mode)
        doc = self._note_agent(agent, "supervisor.monitor", supervisor=supervisor or str(supervisor_port or
                               supervisor_number), mode=mode, call_id=conn.caller.id)
        self.core.hub.deliver([doc])
        return sup

    def set_monitor_mode(self, agent, sup, mode):
        """Switch a supervisor already on the call between listen, whisper and barge."""
        if mode not in MONITOR_MODES:
            raise ACDError(f"monitor mode must be one of {MONITOR_MODES}")
        conn = self._connections.get(str(agent))
        if conn is None:
            raise ACDError(f"agent {agent} has no call on this server")
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

    def _note_agent(self, agent, type_, **fields):
        from .cti import make_doc
        with self.core._tx() as s:
            doc = make_doc(type_, self.core.now(), agent=str(agent), **fields)
            row = self.core.hub.store(s, doc)
            s.flush()
            doc["id"] = row.id
        return doc

    def connection(self, agent):
        """(caller Call, agent Call) of agent's live call on this server, or None."""
        c = self._connections.get(str(agent))
        return (c.caller, c.agent_call) if c else None

    # ------------------------------------------------------------ web commands
    def _take_commands(self):
        with self.core._tx() as s:
            rows = list(s.scalars(select(AcdCommand).where(AcdCommand.done == 0).order_by(AcdCommand.id)))
            todo = []
            for r in rows:
                if r.cmd in ("transfer", "hangup", "monitor", "conference") and r.agent not in self._connections:
                    continue
                r.done, r.taken_by = 1, self.instance
                todo.append((r.id, r.agent, r.cmd, dict(r.args or {})))
        for cid, agent, cmd, args in todo:
            self._spawn(self._run_command(cid, agent, cmd, args))

    async def _run_command(self, cid, agent, cmd, args):
        try:
            if cmd == "ready":
                self.ready(agent)
            elif cmd == "break":
                self.set_break(agent, args.get("reason", "break"))
            elif cmd == "login":
                self.login(agent)
            elif cmd == "logout":
                self.logout(agent)
            elif cmd == "wrapup":
                self.core.wrapup(agent, float(args.get("seconds", 30)))
            elif cmd == "transfer":
                self.transfer(agent, args.get("kind", "blind"), queue=args.get("queue"),
                              to_agent=args.get("agent"))
            elif cmd == "hangup":
                await self.hangup_agent_call(agent)
            elif cmd == "monitor":
                await self.start_monitor(agent, args.get("mode", "listen"), supervisor_port=args.get("port"),
                                   supervisor_number=args.get("number"), supervisor=args.get("supervisor", ""))
            elif cmd == "conference":
                await self.conference_in(agent, number=args.get("number"), port=args.get("port"))
            else:
                raise ACDError(f"unknown command {cmd!r}")
            res = "ok"
        except Exception as exc:
            res = f"error: {exc}"
        with self.core._tx() as s:
            r = s.get(AcdCommand, cid)
            r.result = res

    # ------------------------------------------------------------ station feature codes
    async def station_flow(self, call):
        """Station off hook: *1<agent>[*<pin>]# login here, *2# logout, *3[reason]# break, *4# ready."""
        port = self.engine.stations.index(call.channel) if call.channel in self.engine.stations else None
        try:
            code = await call.get_digits(24, timeout=10.0, inter_digit=3.0, terminators="#")
        except Timeout:
            return
        ok = False
        try:
            if code.startswith("*1") and len(code) > 2:
                agent, _, pin = code[2:].partition("*")
                with self.core._tx() as s:
                    a = s.get(AcdAgent, agent)
                    if a is None or (a.pin and a.pin != pin):
                        raise ACDError("unknown agent or wrong pin")
                    a.station_port, a.host, a.number = port, self.instance, a.number
                self.login(agent)
                ok = True
            else:
                agent = self._agent_at_port(port)
                if agent is None:
                    raise ACDError(f"no agent at station {port}")
                if code == "*2":
                    self.logout(agent)
                elif code.startswith("*3"):
                    self.set_break(agent, code[2:] or "break")
                elif code == "*4":
                    self.ready(agent)
                else:
                    raise ACDError(f"unknown feature code {code!r}")
                ok = True
        except ACDError as exc:
            log.info("station %s feature code %r refused: %s", port, code, exc)
        call.vars["acd_feature"] = (code, ok)
        try:
            await call.play(self.engine.beep() if ok else call.tone("congestion"), barge_in=False)
        except Exception:
            pass

    def _agent_at_port(self, port):
        with self.core._tx() as s:
            a = s.scalars(select(AcdAgent).where(AcdAgent.station_port == port,
                                                 (AcdAgent.host == self.instance) | AcdAgent.host.is_(None))).first()
            return a.id if a else None


def _scratch_database():
    """A private SQLite file (deleted at exit) for an ACD run without a shared database; safe across threads."""
    import atexit
    import tempfile
    fd, path = tempfile.mkstemp(prefix="trunkline-acd-", suffix=".db")
    os.close(fd)
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    eng = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn, _rec):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=OFF")
        cur.close()
    return eng


@dataclass
class _Rejoin:
    """A JoinResult-like handle for a caller moved to a new entry (transfer)."""
    entry: int
    position: int
    ewt: float = 0.0
    priority: int = 0
    empty: bool = False


def _log_failure(t):
    if not t.cancelled() and t.exception() is not None:
        log.error("ACD task failed: %r", t.exception(), exc_info=t.exception())
