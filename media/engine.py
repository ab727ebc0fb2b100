"""The media engine: the board-clocked tick loop, the channel table, and the call API's back end.

Each tick reads one block for every channel, decodes G.711 in one step, runs
DTMF detection over the whole (channels, samples) array, mixes bridges,
conferences and players into one int32 accumulator, hands recordings to the
writer thread, encodes and writes the block, advances the board clock, and then
dispatches what the tick produced (line events, digits, ended prompts, timers)
to per-call Python. Virtual or real time is the board's choice.
"""
import asyncio
import heapq
import itertools
import logging

import numpy as np

from trunkline.drivers.signaling import make_signaling
from trunkline.drivers.signaling.base import (
    ANSWERED,
    FLASH,
    HANGUP,
    INCOMING,
    PROCEEDING,
    PROGRESS,
    RINGING,
    SPAN_DOWN,
    SPAN_UP,
    SignalingError,
)
from trunkline.dsp.constants import RATE
from trunkline.dsp.level import dbm0_to_amplitude
from trunkline.media.bus import EventBus
from trunkline.media.call import Call
from trunkline.media.errors import ChannelError, Hangup, Timeout
from trunkline.media.mixer import BridgeTable, ConferenceTable
from trunkline.media.player import ClipPool, PlayerBank
from trunkline.media.prompts import PromptLibrary
from trunkline.media.recorder import RecorderBank

log = logging.getLogger("trunkline.engine")


class TimerHandle:
    """A scheduled media-time callback; cancel() stops it."""
    __slots__ = ("due", "fn", "cancelled")

    def __init__(self, due, fn):
        self.due, self.fn, self.cancelled = due, fn, False

    def cancel(self):
        """Do not run the callback."""
        self.cancelled = True


class Conference:
    """Call-level view of a mixer conference (members are Call objects)."""

    def __init__(self, engine, conf):
        self.engine = engine
        self.mixer = conf
        self.calls = {}

    def add(self, call, speak=True, listen=True, speak_to=None):
        """Add a call; speak_to (calls) restricts who hears it (whisper)."""
        self.calls[call.channel] = call
        targets = None if speak_to is None else {c.channel for c in speak_to}
        self.mixer.add(call.channel, speak=speak, listen=listen, speak_to=targets)
        call.on_hangup(lambda c: self.remove(c))

    def remove(self, call):
        """Take a call out."""
        self.calls.pop(call.channel, None)
        self.mixer.remove(call.channel)

    def hears(self, listener, speaker):
        """True if call `listener` hears call `speaker`."""
        return self.mixer.hears(listener.channel, speaker.channel)

    def close(self):
        """Dissolve the conference."""
        self.calls.clear()
        self.mixer.close()


class Engine:
    """Runs every channel of one board: media per tick, call flows on events."""

    def __init__(self, board, prompts=None, zone="cn", trunk_signaling="pri", dtmf=True):
        self.board = board
        self.block = board.block
        self.channels = board.channels
        self.zone = zone
        self.prompts = prompts or PromptLibrary()
        self.bus = EventBus()
        self.pool = ClipPool()
        self.players = PlayerBank(self.channels, self.block, self.pool)
        self.recorders = RecorderBank(self.channels, self.block)
        self.bridges = BridgeTable(self.channels)
        self.mixer = ConferenceTable()
        self.detector = None
        if dtmf:
            from trunkline.dsp.dtmf import DTMFDetector
            self.detector = DTMFDetector(self.channels)
        self._acc = np.zeros((self.channels, self.block), dtype=np.int32)
        self.calls = {}                   # channel -> Call
        self.taps = {}                    # channel -> media tap (fax sessions): rx(samples), tx(n)
        self._timers = []
        self._seq = itertools.count()
        self._sig_events = []
        self._running = False
        self._loop = None
        self._route = None
        self._station = None
        self.screen = None                # callable(call) -> None or ("reject", cause) before routing
        self.sms = None                   # SMS service (trunkline.drivers.serial.sms_service.SmsService) for call.sms()
        self._end_hooks = []              # callables(call) when a call ends (CDR writers)
        self.ticks = 0
        self.signaling = []
        self._sig_of_span = {}
        self._sig_of_channel = {}
        self.stations = []                # FXS board channels, by port number
        for span in board.spans:
            try:
                sig = make_signaling(span, self._sig_events.append, kind=trunk_signaling, zone=zone)
            except ImportError as exc:
                log.warning("span %d (%s): no signaling stack available (%s); span unused", span.index, span.kind, exc)
                continue
            self.signaling.append(sig)
            self._sig_of_span[span.index] = sig
            for ch in span.bearer_channels:
                self._sig_of_channel[ch] = sig
            if span.kind == "fxs":
                self.stations.extend(span.bearer_channels)
        self.stats = {"offered": 0, "answered": 0, "completed": 0, "failed": 0}

    # ------------------------------------------------------------ clock & timers
    @property
    def now(self):
        """Media time in seconds."""
        return self.board.now

    @property
    def loop(self):
        """The asyncio loop the engine runs on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def call_later(self, seconds, fn):
        """Run fn() after `seconds` of media time; returns a TimerHandle."""
        due = self.board.backend.now_samples() + max(0, int(round(seconds * RATE)))
        h = TimerHandle(due, fn)
        heapq.heappush(self._timers, (due, next(self._seq), h))
        return h

    async def sleep(self, seconds):
        """Sleep `seconds` of media time (for tasks that are not calls)."""
        fut = self.loop.create_future()
        self.call_later(seconds, lambda: fut.done() or fut.set_result(None))
        await fut

    # ------------------------------------------------------------ routing
    def route(self, handler):
        """Run `handler(call)` (an async flow) for every inbound trunk call."""
        self._route = handler

    def on_call_end(self, hook):
        """Run hook(call) when any call ends (after its media is released)."""
        self._end_hooks.append(hook)

    def on_station(self, handler):
        """Run `handler(call)` when a station goes off hook by itself (feature codes, agent login)."""
        self._station = handler

    # ------------------------------------------------------------ the tick
    def tick(self):
        """One block for every channel, then dispatch what happened."""
        board = self.board
        codes = board.read()
        audio_in = board.codec.decode(codes)
        if self.detector is not None:
            for ch, d in self.detector.process(audio_in):
                call = self.calls.get(ch)
                if call is not None:
                    call._digit(d)
                else:                          # caller ID / signaling digits before a call exists
                    board.inband_digit(ch, d)
        acc = self._acc
        acc.fill(0)
        self.bridges.mix(audio_in, acc)
        self.mixer.mix(audio_in, acc)
        self.players.mix(acc)
        if self.taps:
            for ch, tap in list(self.taps.items()):
                tap.rx(audio_in[ch])
                acc[ch] += tap.tx(self.block)
        np.clip(acc, -32768, 32767, out=acc)
        out = acc.astype(np.int16)
        for ch, reason in self.recorders.capture(audio_in, out):
            self.recorders.stop(ch, reason)
        board.write(board.codec.encode(out))
        board.tick()
        self.ticks += 1
        self._dispatch()

    def _dispatch(self):
        now = self.now
        for ev in self.board.events():
            sig = self._sig_of_span.get(ev.span)
            if sig is not None:
                try:
                    sig.handle_line_event(ev)
                except Exception:   # a signaling bug must not take the span down
                    log.exception("span %d: line event %s failed", ev.span, ev)
        for sig in self.signaling:
            sig.poll(now)
        while self._sig_events:
            events, self._sig_events[:] = list(self._sig_events), []
            for ev in events:
                self._on_signaling(ev)
        for rec in self.recorders.closed():
            if rec.on_closed is not None:
                rec.on_closed(rec)
        now_s = self.board.backend.now_samples()
        timers = self._timers
        while timers and timers[0][0] <= now_s:
            _, _, h = heapq.heappop(timers)
            if not h.cancelled:
                h.fn()

    async def run(self, until=None, realtime=None):
        """Tick until stop() (or until media time `until` s); yields to call flows after every tick."""
        if realtime is not None:
            self.board.set_realtime(realtime)
        self._loop = asyncio.get_running_loop()
        self._running = True
        self.recorders.synchronous = not self.board.realtime
        ready = getattr(self._loop, "_ready", None)
        try:
            while self._running and (until is None or self.now < until):
                self.tick()
                for _ in range(64):            # let every woken flow run to its next await
                    await asyncio.sleep(0)
                    if ready is not None and not ready:
                        break
        finally:
            self._running = False

    def stop(self):
        """Make run() return after the current tick."""
        self._running = False

    # ------------------------------------------------------------ signaling events
    def _on_signaling(self, ev):
        ch = ev.channel
        call = self.calls.get(ch)
        kind = ev.kind
        if kind == INCOMING:
            sig = self._sig_of_channel[ch]
            station = sig.trunk == "station"
            call = Call(self, ch, "in", sig.trunk, ev.caller, ev.called, ev.category)
            call.vars.update(ev.extra)
            self.calls[ch] = call
            self.stats["offered"] += 1
            self._publish("call_offered", call)
            if station:
                call.state = "up"
                call.answered_at = self.now
            handler = self._station if station else self._route
            verdict = self.screen(call) if (self.screen and not station) else None
            if verdict is not None and verdict[0] == "reject":
                self._hangup(call, verdict[1] if len(verdict) > 1 else 21)
                return
            if handler is None:
                log.warning("no flow for %s call on channel %d; clearing", "station" if station else "inbound", ch)
                self._hangup(call, 21)
                return
            call.task = self.loop.create_task(self._run_flow(call, handler))
        elif call is None:
            return
        elif kind == ANSWERED:
            if call.state != "up":
                call.state = "up"
                call.answered_at = self.now
                self.stats["answered"] += 1
                self._publish("call_answered", call)
            if not call.answered.done():
                call.answered.set_result(call)
        elif kind == HANGUP:
            self._release(call, ev.cause, remote=True, reason=ev.reason)
        elif kind in (RINGING, PROCEEDING, PROGRESS):
            if call.state not in ("up", "ended"):
                call.state = "ringing" if kind == RINGING else call.state
                self._publish(f"call_{kind}", call)
        elif kind == FLASH:
            call._flash()
        elif kind in (SPAN_UP, SPAN_DOWN):
            self.bus.publish({"type": kind, "span": self.board.span_of[ch] if ch >= 0 else -1, "time": self.now})

    async def _run_flow(self, call, handler):
        try:
            await handler(call)
            if not call.hungup:
                self.stats["completed"] += 1
        except Hangup:
            pass
        except (Timeout, ChannelError) as exc:
            log.info("call %s ended by %s: %s", call.id, type(exc).__name__, exc)
        except Exception:
            self.stats["failed"] += 1
            log.exception("call flow failed on channel %d", call.channel)
        finally:
            if not call.hungup:
                self._hangup(call, 16)

    # ------------------------------------------------------------ call control back end
    def _answer(self, call):
        sig = self._sig_of_channel[call.channel]
        try:
            sig.answer(call.channel)
        except SignalingError as exc:
            raise ChannelError(exc.reason, exc.cause) from exc
        if call.state != "up":
            call.state = "up"
            call.answered_at = self.now
            self.stats["answered"] += 1
            self._publish("call_answered", call)

    def hangup(self, call: Call, cause: int = 16) -> None:
        """Clear `call` now with Q.850 `cause` (16 normal clearing); nothing when it has already ended."""
        if not call.hungup:
            self._hangup(call, cause)

    def unbridge(self, call: Call) -> None:
        """Undo the two-party bridge `call` is in (both legs stay up)."""
        other = call.bridged_to
        self.bridges.disconnect(call.channel)
        call.bridged_to = None
        if other is not None:
            other.bridged_to = None

    def _hangup(self, call, cause):
        sig = self._sig_of_channel[call.channel]
        try:
            sig.hangup(call.channel, cause)
        except Exception:
            log.exception("hangup on channel %d failed", call.channel)
        self._release(call, cause, remote=False)

    def _release(self, call, cause, remote, reason=""):
        """The call is over: stop its media, free its channel, tell everyone."""
        ch = call.channel
        if self.calls.get(ch) is call:
            del self.calls[ch]
        self.players.stop(ch, notify=False)
        self.recorders.stop(ch, "hangup")
        other = call.bridged_to
        if other is not None:
            other.bridged_to = None
            call.bridged_to = None
        self.bridges.disconnect(ch)
        self.mixer.remove_channel(ch)
        tap = self.taps.pop(ch, None)
        if tap is not None and hasattr(tap, "hangup"):
            tap.hangup()
        if self.detector is not None:
            self.detector.reset(ch)
        call.vars.setdefault("hangup_side", "remote" if remote else "local")
        call._ended(cause)
        for hook in self._end_hooks:
            try:
                hook(call)
            except Exception:
                log.exception("call-end hook failed for %s", call.id)
        self._publish("call_ended", call, cause=cause, reason=reason)

    def _publish(self, kind, call, **extra):
        ev = {"type": kind, "call_id": call.id, "channel": call.channel, "direction": call.direction,
              "trunk": call.trunk, "caller": call.caller_id, "called": call.called, "state": call.state,
              "time": self.now}
        ev.update(extra)
        self.bus.publish(ev)

    # ------------------------------------------------------------ outbound
    def _pick_dialer(self, trunk):
        for sig in self.signaling:
            if sig.trunk == "station" or (trunk is not None and sig.trunk != trunk):
                continue
            yield sig

    async def make_call(self, number, caller_id="", trunk=None, timeout=30.0, category=None):
        """Dial out; returns the answered Call, or raises ChannelError (busy, congestion...) or Timeout."""
        call = self.dial(number, caller_id, trunk, category)
        return await self._await_answer(call, timeout, 19)

    def dial(self, number: str, caller_id: str = "", trunk: str | None = None, category: int | None = None) -> Call:
        """Seize a channel and dial `number`; returns the ringing Call (`await call.wait_answer(timeout)`),
        or raises ChannelError when no trunk can take the call."""
        last = None
        for sig in self._pick_dialer(trunk):
            try:
                ch = sig.dial(number, caller_id, category=category)
                break
            except SignalingError as exc:
                last = exc
        else:
            if last is not None:
                raise ChannelError(last.reason, last.cause)
            raise ChannelError(f"no trunk of type {trunk!r} for outbound calls", 34)
        call = Call(self, ch, "out", sig.trunk, caller_id, number, category)
        self.calls[ch] = call
        self._publish("call_dialing", call)
        return call

    async def wait_answer(self, call: Call, timeout: float | None = 30.0) -> Call:
        """Wait for a dialled call to answer (no answer within `timeout` s: hung up, Timeout)."""
        return await self._await_answer(call, timeout, 19)

    async def ring_station(self, port, caller_id="", name="", timeout=20.0):
        """Ring FXS station `port` (0-based) with caller ID; returns its answered Call or raises Timeout."""
        if not 0 <= port < len(self.stations):
            raise ChannelError(f"no station port {port}", 1)
        ch = self.stations[port]
        if ch in self.calls:
            raise ChannelError(f"station {port} is busy", 17)
        sig = self._sig_of_channel[ch]
        try:
            sig.ring(ch, caller_id, name)
        except SignalingError as exc:
            raise ChannelError(exc.reason, exc.cause) from exc
        call = Call(self, ch, "out", "station", caller_id, str(port))
        self.calls[ch] = call
        return await self._await_answer(call, timeout, 19)

    async def _await_answer(self, call, timeout, cause):
        expired = []

        def expire():
            if not call.answered.done() and not call.hungup:
                expired.append(True)
                self._hangup(call, cause)
        h = self.call_later(timeout, expire) if timeout else None
        try:
            await call.answered
        except asyncio.CancelledError:
            # whoever dialled gave up (ACD caller left, ring-all lost): nobody will ever own this call, so
            # clear it rather than leave the line ringing out (and answered later with no one on it)
            if not call.hungup:
                self._hangup(call, 16)
            raise
        except ChannelError:
            if expired:
                raise Timeout(f"no answer within {timeout} s") from None
            raise
        finally:
            if h is not None:
                h.cancel()
        return call

    # ------------------------------------------------------------ conferences, taps, audio
    def conference(self, name=None):
        """A new N-party conference of calls."""
        return Conference(self, self.mixer.create(name))

    def attach_tap(self, call, tap):
        """Route a call's audio through a per-session processor (fax): tap.rx(samples), tap.tx(n)."""
        self.taps[call.channel] = tap

    def detach_tap(self, call):
        """Give the call's audio back to the mixer."""
        self.taps.pop(call.channel, None)

    async def run_fax(self, call, calling, send=None, receive=None, ident="", ecm=False, timeout=600.0):
        """Run a T.30 session on a call; returns the FaxEndpoint result."""
        from trunkline.fax import FaxEndpoint
        ep = FaxEndpoint(calling, send=send, receive=receive, ecm=ecm, ident=ident)
        fut = call._future()

        class _Tap:
            def rx(self, samples):
                ep.rx(samples)
                if ep.done and not fut.done():
                    fut.set_result(ep.result)

            def tx(self, n):
                return ep.tx(n)

        self.players.stop(call.channel, notify=False)
        self.attach_tap(call, _Tap())
        h = self.call_later(timeout, lambda: fut.done() or fut.set_exception(Timeout("fax session too long")))
        try:
            return await fut
        finally:
            h.cancel()
            self.detach_tap(call)

    def _clip_for(self, items, language=None):
        """(clip, anonymous, loop) for a play list of prompt names, file paths, arrays and tones."""
        if len(items) == 1:
            item = items[0]
            if isinstance(item, str):
                key = ("prompt",) + self.prompts.key(item, language)
                clip = self.pool.get(key) or self.pool.add(self.prompts.load(item, language), key=key)
                return clip, False, False
            if hasattr(item, "cycle"):
                key = ("tone", getattr(item, "zone", self.zone), getattr(item, "name", id(item)))
                clip = self.pool.get(key) or self.pool.add(item.cycle(), key=key)
                return clip, False, True
        parts = []
        for item in items:
            if isinstance(item, str):
                parts.append(self.prompts.load(item, language))
            elif hasattr(item, "cycle"):
                parts.append(item.cycle())
            else:
                parts.append(np.asarray(item, dtype=np.int16).ravel())
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        return self.pool.add(audio), True, False

    def beep(self):
        """The record beep: 1 kHz for 200 ms at -10 dBm0."""
        key = ("beep",)
        if self.pool.get(key) is None:
            t = np.arange(int(0.2 * RATE)) / RATE
            amp = dbm0_to_amplitude(-10.0)
            self.pool.add((amp * np.sin(2 * np.pi * 1000 * t)).astype(np.int16), key=key)
        return _PooledClip(self.pool, key)

    def tone(self, name):
        """A call-progress tone of the engine's zone (loops when played)."""
        from trunkline.dsp.tones import ToneZone
        return ToneZone.get(self.zone).tone(name)

    # ------------------------------------------------------------ status
    def status(self):
        """Live channel table: one dict per busy channel (all bearer channels on small boards)."""
        rows = []
        now = self.now
        show_idle = self.channels <= 1000
        for sig in self.signaling:
            for ch in sig.span.bearer_channels:
                call = self.calls.get(ch)
                if call is None and not show_idle:
                    continue
                rows.append({
                    "channel": ch, "span": sig.span.index, "kind": sig.span.kind, "trunk": sig.trunk,
                    "state": call.state if call else "idle",
                    "caller": call.caller_id if call else "", "called": call.called if call else "",
                    "since": call.created_at if call else None,
                    "duration": round(now - call.created_at, 1) if call else 0.0,
                    "call_id": call.id if call else None,
                    "alarms": sig.span.alarms,
                })
        return rows

    def close(self):
        """Stop recordings and release the board."""
        self.recorders.close()


class _PooledClip:
    """A named clip already in the pool, playable like an array."""

    def __init__(self, pool, key):
        self.pool, self.key = pool, key

    def __array__(self, dtype=None, copy=None):
        start, length = self.pool.get(self.key)
        return self.pool.data[start:start + length].astype(dtype or np.int16)
