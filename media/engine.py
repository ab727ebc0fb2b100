"""The media engine: the board-clocked tick loop, the channel table, and the call API's back end.

Each tick reads one block for every channel, decodes G.711 in one step, runs
DTMF detection over the whole (channels, samples) array, mixes bridges,
conferences and players into one int32 accumulator, hands recordings to the
writer thread, encodes and writes the block, advances the board clock, and then
dispatches what the tick produced (line events, digits, ended prompts, timers)
to per-call Python. Virtual or real time is the board's choice.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import numpy as np

from trunkline.drivers.board import Board
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
    SignalingEvent,
    SpanSignaling,
)
from trunkline.dsp.constants import RATE
from trunkline.dsp.level import dbm0_to_amplitude
from trunkline.dsp.tones import Tone, ToneZone
from trunkline.media.bus import EventBus
from trunkline.media.call import Call
from trunkline.media.channel_table import channel_rows
from trunkline.media.dialguard import DialGuard, current_origin
from trunkline.media.errors import ChannelError, Hangup, Timeout
from trunkline.media.fax_run import run_fax
from trunkline.media.futures import settle
from trunkline.media.heaptrim import HeapTrim
from trunkline.media.mixer import BridgeTable, Conference, ConferenceTable
from trunkline.media.overload import OverloadGuard, OverloadState
from trunkline.media.player import ClipPool, PlayerBank, PooledClip
from trunkline.media.ports import (
    AudioBank,
    FaxBankPort,
    FaxOutcome,
    FaxSessionFactory,
    MediaTap,
    SmsOutbox,
    T38SessionFactory,
)
from trunkline.media.prompts import PromptLibrary
from trunkline.media.recorder import RecorderBank
from trunkline.media.tick_kernel import TickKernel, dtmf_detector
from trunkline.media.tickwatch import TickStats, TickWatch
from trunkline.media.timer import TimerHandle

log = logging.getLogger("trunkline.engine")

#: a call flow: handler(call) -> coroutine
Flow = Callable[[Call], Awaitable[Any]]
#: engine.screen: callable(call) -> None (route it) or ("reject", cause)
Screen = Callable[[Call], "tuple[Any, ...] | None"]


class Engine:
    """Runs every channel of one board: media per tick, call flows on events.

    fax_endpoint_factory makes the sessions of call.send_fax()/receive_fax() (trunkline.fax.FaxEndpoint), fax_bank
    runs them per tick; without a factory those raise ChannelError. A span whose signaling fails raises here."""

    def __init__(self, board: Board, prompts: PromptLibrary | None = None, zone: str = "cn",
                 trunk_signaling: str = "pri", dtmf: bool = True,
                 fax_endpoint_factory: FaxSessionFactory | None = None, fax_bank: FaxBankPort | None = None,
                 signaling_options: dict[str, Any] | None = None) -> None:
        self.board = board
        self.block: int = board.block
        self.channels: int = board.channels
        self.zone = zone
        self._sig_events: list[SignalingEvent] = []
        self.signaling: list[SpanSignaling] = []
        self._sig_of_span: dict[int, SpanSignaling] = {}
        self._sig_of_channel: dict[int, SpanSignaling] = {}
        self.stations: list[int] = []             # FXS board channels, by port number
        for span in board.spans:                  # first: a span that cannot run stops the start-up here
            sig = make_signaling(span, self._sig_events.append, kind=trunk_signaling, zone=zone,
                                 **(signaling_options or {}))
            self.signaling.append(sig)
            self._sig_of_span[span.index] = sig
            for ch in span.bearer_channels:
                self._sig_of_channel[ch] = sig
            if span.kind == "fxs":
                self.stations.extend(span.bearer_channels)
        self.prompts = prompts or PromptLibrary()
        self.fax_endpoint_factory = fax_endpoint_factory
        self.t38_endpoint_factory: T38SessionFactory | None = None   # fax as a T.38 terminal on SIP calls
        self.fax_bank = fax_bank                  # all fax sessions stepped together per tick (fax.bank)
        self.bus = EventBus()
        self.pool = ClipPool.for_channels(self.channels)   # reserved, resident only as used
        self.players = PlayerBank(self.channels, self.block, self.pool)
        self.recorders = RecorderBank(self.channels, self.block, laws=board.laws)
        self.bridges = BridgeTable(self.channels)
        self.conferences = ConferenceTable()
        self.detector = dtmf_detector(self.channels) if dtmf else None   # every stage in C (the tick kernel)
        self._acc = np.zeros((self.channels, self.block), dtype=np.int32)
        self._kernel = TickKernel(board.laws, self.block)   # G.711 in and out, all channels in one C call each
        self.calls: dict[int, Call] = {}          # channel -> Call
        self.taps: dict[int, MediaTap] = {}       # channel -> media tap (per-session processors)
        self._banks: dict[str, AudioBank] = {}    # name -> bank seeing all received audio once per tick
        self._timers: list[tuple[int, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._route: Flow | None = None
        self._station: Flow | None = None
        self.screen: Screen | None = None         # callable(call) -> None or ("reject", cause) before routing
        self.sms: SmsOutbox | None = None         # SMS service (drivers.serial.sms_service.SmsService) for call.sms()
        self._end_hooks: list[Callable[[Call], object]] = []   # callables(call) when a call ends (CDR writers)
        self._bank_list: list[AudioBank] = []
        self.ticks = 0
        self.tick_watch = TickWatch(self.block / RATE)   # per-tick time and deadline misses (media/tickwatch.py)
        self.overload = OverloadGuard(self.block / RATE)  # new calls refused (cause 42) above a tick load
        self.heap_trim = HeapTrim(self.block / RATE)     # freed heap back to the system between ticks
        self.accepting = True                     # False once draining: new calls refused with cause 42
        self.dial_guard: DialGuard | None = None  # the dial plan every outbound dial goes through (app wires it)
        self.stats = {"offered": 0, "answered": 0, "completed": 0, "failed": 0, "congested": 0}

    # ------------------------------------------------------------ clock & timers
    @property
    def now(self) -> float:
        """Media time in seconds."""
        return float(self.board.now)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop the engine runs on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def call_later(self, seconds: float, fn: Callable[[], object]) -> TimerHandle:
        """Run fn() after `seconds` of media time; returns a TimerHandle."""
        due = self.board.backend.now_samples() + max(0, int(round(seconds * RATE)))
        heapq.heappush(self._timers, (due, next(self._seq), h := TimerHandle(due, fn)))
        return h

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of media time (for tasks that are not calls)."""
        fut: asyncio.Future[None] = self.loop.create_future()
        self.call_later(seconds, lambda: settle(fut, None))
        await fut

    # ------------------------------------------------------------ routing
    def route(self, handler: Flow) -> None:
        """Run `handler(call)` (an async flow) for every inbound trunk call."""
        self._route = handler

    def on_call_end(self, hook: Callable[[Call], object]) -> None:
        """Run hook(call) when any call ends (after its media is released)."""
        self._end_hooks.append(hook)

    def on_station(self, handler: Flow) -> None:
        """Run `handler(call)` when a station goes off hook by itself (feature codes, agent login)."""
        self._station = handler

    # ------------------------------------------------------------ the tick
    def tick(self) -> None:
        """One block for every channel, then dispatch what happened."""
        board = self.board
        self.tick_watch.begin()
        codes = board.read()
        audio_in = self._kernel.decode(codes)
        digits = board.take_digits() if board.sip_parts else []
        if self.detector is not None:
            digits = self.detector.process(audio_in) + digits
        if digits:
            for ch, d in digits:                # in-band DTMF and RFC 4733 digits take the same path
                call = self.calls.get(ch)
                if call is not None:
                    call._digit(d)
                else:                          # caller ID / signaling digits before a call exists
                    board.inband_digit(ch, d)
        for bank in self._bank_list:
            bank.rx(audio_in)
        acc = self._acc
        acc.fill(0)
        self.bridges.mix(audio_in, acc)
        self.conferences.mix(audio_in, acc)
        self.players.mix(acc)
        if self.fax_bank:                      # all fax sessions in one step (trunkline.fax.FaxBank)
            self.fax_bank.step(audio_in, acc)
        if self.taps:
            for ch, tap in list(self.taps.items()):
                tap.rx(audio_in[ch])
                acc[ch] += tap.tx(self.block)
        out, out_codes = self._kernel.encode(acc)      # clipped to int16, and its G.711
        for ch, reason in self.recorders.capture(audio_in, out, codes, out_codes):
            self.recorders.stop(ch, reason)
        board.write(out_codes)
        self.tick_watch.advance(board)         # board.tick(), timed: the real-time wait is not tick work
        self.ticks += 1
        self._dispatch()
        self.tick_watch.end()
        if self.overload.update(self.tick_watch, self.now):
            self._overload_changed()
        self.heap_trim.after_tick(self.now, self.tick_watch.last_tick_s, board.realtime)

    def _overload_changed(self) -> None:
        st = self.overload.snapshot()
        if st.overloaded:
            log.warning("overload: tick load %.2f of the block time (limit %.2f), lag %.3f s: new calls get "
                        "congestion (cause 42)", st.load, st.max_load, self.tick_watch.lag_s)
        else:
            log.warning("overload over: tick load %.2f; taking new calls again (%d refused so far)",
                        st.load, st.rejected)
        self.bus.publish({"type": "overload", "overloaded": st.overloaded, "load": round(st.load, 3),
                          "time": self.now})

    @property
    def overload_state(self) -> OverloadState:
        """Whether new calls are refused now, the smoothed tick load and the counters: media/overload.py."""
        return self.overload.snapshot()

    @property
    def tick_stats(self) -> TickStats:
        """Ticks, late ticks (real time only), worst tick processing time and lag: media/tickwatch.py."""
        return self.tick_watch.snapshot()

    @property
    def running(self) -> bool:
        """True while run() is ticking."""
        return self._running

    def _dispatch(self) -> None:
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
            for sev in events:
                self._on_signaling(sev)
        for rec in self.recorders.closed():
            if rec.on_closed is not None:
                rec.on_closed(rec)
        now_s = self.board.backend.now_samples()
        timers = self._timers
        while timers and timers[0][0] <= now_s:
            _, _, h = heapq.heappop(timers)
            if not h.cancelled:
                h.fn()

    async def run(self, until: float | None = None, realtime: bool | None = None) -> None:
        """Tick until stop() (or until media time `until` s); yields to call flows after every tick."""
        if realtime is not None:
            self.board.set_realtime(realtime)
        self._loop = asyncio.get_running_loop()
        self._running = True
        self.tick_watch.resync()
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

    def stop_accepting(self) -> None:
        """Refuse every new call from now on (cause 42): the server is draining before it stops."""
        self.accepting = False

    def stop(self) -> None:
        """Make run() return after the current tick."""
        self._running = False

    # ------------------------------------------------------------ signaling events
    def _on_signaling(self, ev: SignalingEvent) -> None:
        ch = ev.channel
        call = self.calls.get(ch)
        kind = ev.kind
        if kind == INCOMING:
            self._incoming(ev)
        elif ch < 0:                       # span-level news (link up/down, SS7 link and circuit states)
            self.bus.publish({**ev.extra, "type": kind, "span": ev.extra.get("span", -1), "time": self.now})
        elif call is None:
            return
        elif kind == ANSWERED:
            if call.state != "up":
                self._mark_answered(call)
            if not call.answered.done():
                call.answered.set_result(call)
        elif kind == HANGUP:   # cleared after a span alarm: the call (and its CDR) ended when the bearer was lost
            self._release(call, ev.cause, remote=True, reason=ev.reason, at=ev.extra.get("bearer_lost_at"))
        elif kind in (RINGING, PROCEEDING, PROGRESS):
            if call.state not in ("up", "ended"):
                call.state = "ringing" if kind == RINGING else call.state
                self._publish(f"call_{kind}", call)
        elif kind == FLASH:
            call._flash()
        elif kind in (SPAN_UP, SPAN_DOWN):
            self.bus.publish({"type": kind, "span": self.board.span_of[ch] if ch >= 0 else -1, "time": self.now})

    def _incoming(self, ev: SignalingEvent) -> None:
        """A new inbound call (trunk or station off hook): screen it, then run its flow."""
        ch = ev.channel
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
        if not station and (not self.accepting or not self.overload.admit()):
            self.stats["congested"] += 1
            self._hangup(call, 42)        # switching equipment congestion; calls in progress keep their media
            return
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

    async def _run_flow(self, call: Call, handler: Flow) -> None:
        try:
            await handler(call)
            if not call.hungup:
                self.stats["completed"] += 1
        except Hangup:
            pass
        except (Timeout, ChannelError) as exc:
            log.info("call %s ended by %s: %s", call.id, type(exc).__name__, exc)
        except Exception:   # one flow's bug ends its call, never the engine
            self.stats["failed"] += 1
            log.exception("call flow failed on channel %d", call.channel)
        finally:
            if not call.hungup:
                self._hangup(call, 16)

    # ------------------------------------------------------------ call control back end
    def _mark_answered(self, call: Call) -> None:
        call.state = "up"
        call.answered_at = self.now
        self.stats["answered"] += 1
        self._publish("call_answered", call)

    def _answer(self, call: Call) -> None:
        sig = self._sig_of_channel[call.channel]
        try:
            sig.answer(call.channel)
        except SignalingError as exc:
            raise ChannelError(exc.reason, exc.cause) from exc
        if call.state != "up":
            self._mark_answered(call)

    def hangup(self, call: Call, cause: int = 16) -> None:
        """Clear `call` now with Q.850 `cause` (16 normal clearing); nothing when it has already ended."""
        if not call.hungup:
            self._hangup(call, cause)

    def signal(self, call: Call, request: str, *args: object) -> None:
        """Run signaling `request`(channel, *args) (hold, transfer, early_media); ChannelError if the trunk can't."""
        try:
            getattr(self._sig_of_channel[call.channel], request)(call.channel, *args)
        except SignalingError as exc:
            raise ChannelError(exc.reason, exc.cause) from exc

    def hold(self, call: Call, on: bool) -> None:
        """Hold (on=True) or retrieve the far end of `call` (SIP re-INVITE); ChannelError when the trunk cannot."""
        self.signal(call, "hold", on)

    def transfer(self, call: Call, target: str) -> None:
        """Blind-transfer the far end of `call` to `target` (SIP REFER); ChannelError when the trunk cannot."""
        self.signal(call, "transfer", target)

    def unbridge(self, call: Call) -> None:
        """Undo the two-party bridge `call` is in (both legs stay up)."""
        other = call.bridged_to
        self.bridges.disconnect(call.channel)
        call.bridged_to = None
        if other is not None:
            other.bridged_to = None

    def _hangup(self, call: Call, cause: int) -> None:
        sig = self._sig_of_channel[call.channel]
        try:
            sig.hangup(call.channel, cause)
        except Exception:   # the call is released below whatever its signaling did: logged, never lost
            log.exception("hangup on channel %d failed", call.channel)
        self._release(call, cause, remote=False)

    def _release(self, call: Call, cause: int, remote: bool, reason: str = "", at: float | None = None) -> None:
        """The call is over (at media time `at` s, default now): stop its media, free its channel, tell everyone."""
        ch = call.channel
        if self.calls.get(ch) is call:
            del self.calls[ch]
        self.players.stop(ch, notify=False)
        self.recorders.stop_all(ch, "hangup")
        other = call.bridged_to
        if other is not None:
            other.bridged_to = None
            call.bridged_to = None
        self.bridges.disconnect(ch)
        self.conferences.remove_channel(ch)
        self.taps.pop(ch, None)
        if self.detector is not None:
            self.detector.reset(ch)
        call.vars.setdefault("hangup_side", "remote" if remote else "local")
        call._ended(cause)
        if at is not None and call.ended_at is not None:
            call.ended_at = min(call.ended_at, max(at, call.created_at))
        for hook in self._end_hooks:
            try:
                hook(call)
            except Exception:   # one bad hook (CDR writer) must not stop the others or the engine
                log.exception("call-end hook failed for %s", call.id)
        self._publish("call_ended", call, cause=cause, reason=reason)

    def _publish(self, kind: str, call: Call, **extra: object) -> None:
        ev = {"type": kind, "call_id": call.id, "channel": call.channel, "direction": call.direction,
              "trunk": call.trunk, "caller": call.caller_id, "called": call.called, "state": call.state,
              "time": self.now}
        ev.update(extra)
        self.bus.publish(ev)

    # ------------------------------------------------------------ outbound
    def _pick_dialer(self, trunk: str | None) -> Iterator[SpanSignaling]:
        return (sig for sig in self.signaling if sig.trunk != "station" and (trunk is None or sig.trunk == trunk))

    async def make_call(self, number: str, caller_id: str = "", trunk: str | None = None, timeout: float = 30.0,
                        category: str | None = None) -> Call:
        """Dial out; returns the answered Call, or raises ChannelError (busy, congestion...) or Timeout."""
        call = self.dial(number, caller_id, trunk, category)
        return await self._await_answer(call, timeout, 19)

    def dial(self, number: str, caller_id: str = "", trunk: str | None = None, category: str | None = None) -> Call:
        """Seize a channel and dial `number` (through the dial plan); returns the ringing Call, or raises
        ChannelError: no trunk (cause 42 while overloaded), DialRefused (cause 52: the dial plan)."""
        if not self.accepting:
            raise ChannelError("the server is shutting down: no new calls", 42)
        if not self.overload.admit():
            raise ChannelError("the media engine is overloaded: no new calls", 42)
        if self.dial_guard is not None:           # allowed for who asks, capped, routed; else DialRefused
            number, caller_id, trunk = self.dial_guard(number, caller_id, trunk, current_origin())
        last = None
        dialers = list(self._pick_dialer(trunk))
        for sig in [sig for sig in dialers if not sig.surely_full()] or dialers:   # full spans: skipped in O(1)
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

    @property
    def station_count(self) -> int:
        """How many FXS station ports the board has (ports 0 .. station_count-1)."""
        return len(self.stations)

    def station_port(self, call: Call) -> int | None:
        """The station port `call` is on, or None when it is not on a station."""
        return self.stations.index(call.channel) if call.channel in self.stations else None

    def station_call(self, port: int) -> Call | None:
        """The call on station `port` now (ringing or up), or None."""
        return self.calls.get(self.stations[port]) if 0 <= port < len(self.stations) else None

    async def ring_station(self, port: int, caller_id: str = "", name: str = "", timeout: float = 20.0) -> Call:
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

    async def _await_answer(self, call: Call, timeout: float | None, cause: int) -> Call:
        expired = []

        def expire() -> None:
            if not call.answered.done() and not call.hungup:
                expired.append(True)
                self._hangup(call, cause)
        h = self.call_later(timeout, expire) if timeout else None
        try:
            await call.answered
        except asyncio.CancelledError:
            # the dialler gave up (ACD caller left, ring-all lost): clear the call, never leave it ringing out
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
    def conference(self, name: str | None = None) -> Conference:
        """A new N-party conference of calls."""
        return self.conferences.create(name)

    def attach_tap(self, call: Call, tap: MediaTap) -> None:
        """Route a call's audio through a per-session processor (fax): tap.rx(samples), tap.tx(n)."""
        self.taps[call.channel] = tap

    def bank(self, name: str, factory: Callable[[], AudioBank]) -> AudioBank:
        """The engine's bank `name` (made by factory() the first time): its rx(audio_in) sees every channel's
        received audio, int16 (channels, block), once per tick (analysis banks over many calls: CPA/AMD)."""
        bank = self._banks.get(name)
        if bank is None:
            bank = self._banks[name] = factory()
            self._bank_list.append(bank)
        return bank

    def detach_tap(self, call: Call) -> None:
        """Give the call's audio back to the mixer."""
        self.taps.pop(call.channel, None)

    @property
    def can_fax(self) -> bool:
        """True when a fax session factory is wired (call.send_fax/receive_fax work)."""
        return self.fax_endpoint_factory is not None

    async def run_fax(self, call: Call, calling: bool, send: str | None = None, receive: str | None = None,
                      ident: str = "", ecm: bool = False, timeout: float = 600.0) -> FaxOutcome:
        """Run a T.30 session on a call (call.send_fax/receive_fax); returns its result (media.fax_run)."""
        return await run_fax(self, call, calling, send, receive, ident=ident, ecm=ecm, timeout=timeout)

    def beep(self) -> PooledClip:
        """The record beep: 1 kHz for 200 ms at -10 dBm0."""
        key = ("beep",)
        if self.pool.get(key) is None:
            t = np.arange(int(0.2 * RATE)) / RATE
            self.pool.add((dbm0_to_amplitude(-10.0) * np.sin(2 * np.pi * 1000 * t)).astype(np.int16), key=key)
        return PooledClip(self.pool, key)

    def tone(self, name: str) -> Tone:
        """A call-progress tone of the engine's zone (loops when played)."""
        return ToneZone.get(self.zone).tone(name)

    # ------------------------------------------------------------ status
    def status(self) -> list[dict[str, Any]]:
        """Live channel table: one dict per busy channel (all bearer channels on small boards)."""
        return channel_rows(self)

    def signaling_status(self) -> list[dict[str, Any]]:
        """Live protocol rows of every span (SIP calls with RTP loss/jitter, SIP registrations)."""
        return [row for sig in self.signaling for row in sig.protocol_status()]

    def close(self) -> None:
        """Stop recordings and release the board."""
        self.recorders.close()
