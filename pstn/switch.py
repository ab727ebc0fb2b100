"""The far end of the simulated card: a PSTN switch behind the trunks, scripted callers,
and the phones on the station ports. It runs on the card's clock (a tick hook), so a
scripted call takes media time, not wall-clock time.

    sim = Switch(card)
    phone = sim.call("12345", from_="13800000000")
    await phone.wait_answer()
    await phone.send_dtmf("1")
    heard = await phone.listen(2.0)
    await phone.hangup()

    sim.add_destination("88001", kind="answer", answer_after=3.0)    # a number Trunkline dials
    attempt = await sim.wait_dialled("88001")                         # DialAttempt: trunk, kind, party
    await attempt.party.wait_answer()
"""
import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.callerid import CallerIDGenerator, CallerIDReceiver
from trunkline.dsp.constants import RATE
from trunkline.dsp.dtmf import DTMFDetector, DTMFGenerator
from trunkline.dsp.tones import ToneZone
from trunkline.hw_sim.card import SimCard

#: a timer entry: [due sample, sequence, callback or None once cancelled]
TimerEntry = list[Any]


class SimError(Exception):
    """The simulated network cannot do what a script asked (all trunks busy, no answer in time...)."""


def _resolve(fut: "asyncio.Future[Any]", value: object) -> None:
    """Give a future its result unless it already has one (a timeout races the event it guards)."""
    if not fut.done():
        fut.set_result(value)


class _Timers:
    """Media-time timers on the card clock."""

    def __init__(self, card: SimCard) -> None:
        self.card = card
        self.heap: list[TimerEntry] = []
        self.seq = itertools.count()

    def at(self, seconds_from_now: float, fn: Callable[[], object]) -> TimerEntry:
        due = self.card.now_samples + int(round(seconds_from_now * RATE))
        entry = [due, next(self.seq), fn]
        heapq.heappush(self.heap, entry)
        return entry

    @staticmethod
    def cancel(entry: TimerEntry | None) -> None:
        if entry is not None:
            entry[2] = None

    def run(self) -> None:
        now = self.card.now_samples
        while self.heap and self.heap[0][0] <= now:
            _, _, fn = heapq.heappop(self.heap)
            if fn is not None:
                fn()


_DIGIT_CACHE: dict[tuple[str, float, float, float], NDArray[np.int16]] = {}


def render_dtmf(digits: str, on_ms: float = 100, off_ms: float = 100, level_dbm0: float = -8.0) -> NDArray[np.int16]:
    """DTMF audio for a digit string (int16, 8 kHz), made by dsp's generator (one render per key, cached)."""
    parts = []
    for d in digits:
        key = (d, on_ms, off_ms, level_dbm0)
        pcm = _DIGIT_CACHE.get(key)
        if pcm is None:
            gen = DTMFGenerator(1, level=level_dbm0, on_ms=on_ms, off_ms=off_ms)
            gen.put(0, d)
            pcm = gen.generate(int(round((on_ms + off_ms) * RATE / 1000)))[0].copy()
            _DIGIT_CACHE[key] = pcm
        parts.append(pcm)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


class _Party:
    """What every far-end party can do with its channel's audio."""

    def __init__(self, switch: "Switch", channel: int) -> None:
        self.switch = switch
        self.card = switch.card
        self.channel = channel
        self._capturing = False

    def _future(self) -> "asyncio.Future[Any]":
        return asyncio.get_running_loop().create_future()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of media time."""
        await self.switch.sleep(seconds)

    async def play(self, pcm: NDArray[np.int16]) -> None:
        """Send int16 audio and wait until it has gone out."""
        pcm = np.asarray(pcm, dtype=np.int16)
        self.card.far_play(self.channel, pcm)
        await self.switch.sleep(self.card.far_play_pending(self.channel) / RATE + 2 * self.card.block / RATE)

    def play_nowait(self, pcm: NDArray[np.int16]) -> None:
        """Queue int16 audio to send without waiting."""
        self.card.far_play(self.channel, np.asarray(pcm, dtype=np.int16))

    async def send_dtmf(self, digits: str, on_ms: float = 100, off_ms: float = 100, level_dbm0: float = -8.0) -> None:
        """Press keys: DTMF digits with the given timing (ms) and level per tone (dBm0)."""
        await self.play(render_dtmf(digits, on_ms, off_ms, level_dbm0))

    def start_capture(self) -> None:
        """Start keeping what this party hears."""
        if not self._capturing:
            self.card.far_capture(self.channel, True)
            self._capturing = True

    def take_captured(self) -> NDArray[np.int16]:
        """What was heard since the last take (int16)."""
        return self.card.far_capture_take(self.channel)

    async def listen(self, seconds: float) -> NDArray[np.int16]:
        """Hear `seconds` of media time and return the audio (int16, 8 kHz)."""
        self.start_capture()
        self.take_captured()
        await self.switch.sleep(seconds)
        return self.take_captured()


class TrunkCall(_Party):
    """A scripted caller on a trunk channel: wait for the answer, talk, hang up.

    Trunk far ends (analog, PRI, R2) subclass it: they call `_answered()` when
    Trunkline answers and `_cleared(cause)` when Trunkline clears, and implement
    `_release()` (the caller hangs up) and `_abandon()` (gives up before answer).
    """

    def __init__(self, switch: "Switch", channel: int, number: str, caller: str) -> None:
        super().__init__(switch, channel)
        self.number = number
        self.caller = caller
        self.state = "ringing"
        self.answered = False
        self.hungup = False          # Trunkline cleared the call
        self.ended = False           # the call is over for either reason
        self.cause: int | None = None
        self.answered_at: float | None = None
        self._answer_fut = self._future()
        self._end_fut = self._future()

    def _answered(self) -> None:
        if self.state != "ringing":
            return
        self.state = "up"
        self.answered = True
        self.answered_at = self.card.now
        if not self._answer_fut.done():
            self._answer_fut.set_result(True)

    def _cleared(self, cause: int = 16) -> None:
        if self.state in ("ringing", "up"):
            self.card.far_play_clear(self.channel)     # nothing queued leaks into the next call
            self.state = "ended"
            self.hungup = True
            self.cause = cause
            self._finish()

    def _finish(self) -> None:
        self.ended = True
        if not self._end_fut.done():
            self._end_fut.set_result(True)
        if not self._answer_fut.done():
            self._answer_fut.set_result(False)
        self.switch._port_done(self)

    def _release(self) -> None:
        raise NotImplementedError

    def _abandon(self) -> None:
        raise NotImplementedError

    async def wait_answer(self, timeout: float = 30.0) -> bool:
        """Wait until Trunkline answers; SimError if it does not within `timeout` s or clears first."""
        h = self.switch.timers.at(timeout, lambda: _resolve(self._answer_fut, False))
        ok = await self._answer_fut
        _Timers.cancel(h)
        if not ok:
            why = f"cleared with cause {self.cause}" if self.hungup else f"not answered within {timeout} s"
            raise SimError(f"call to {self.number} {why}")
        return True

    async def wait_hangup(self, timeout: float = 60.0) -> bool:
        """Wait until Trunkline clears the call; SimError if it does not within `timeout` s."""
        h = self.switch.timers.at(timeout, lambda: _resolve(self._end_fut, False))
        ok = await self._end_fut
        _Timers.cancel(h)
        if not ok:
            raise SimError(f"call to {self.number} still up after {timeout} s")
        return True

    async def hangup(self) -> None:
        """Hang up (before answer: abandon the call)."""
        if self.state == "ringing":
            self.card.far_play_clear(self.channel)
            self.state = "ended"
            self._abandon()
            self._finish()
        elif self.state == "up":
            self.state = "ended"
            self.card.far_play_clear(self.channel)
            self._release()
            self._finish()


class Phone(TrunkCall):
    """A scripted caller reaching Trunkline over an analog trunk (FXO port of the card)."""

    RING_ON, RING_OFF = 1.0, 4.0         # China ring cadence, s
    CLIP_DELAY = 0.3                     # s after the first ring before caller ID

    def __init__(self, switch: "Switch", channel: int, number: str, caller: str, clip: str | None = "dtmf") -> None:
        super().__init__(switch, channel, number, caller)
        self.clip = clip
        self.rings = 0
        self._timer: TimerEntry | None = None
        self._ring(True)

    def _ring(self, on: bool) -> None:
        if self.state != "ringing":
            return
        self.card.far_ring(self.channel, on)
        if on:
            self.rings += 1
            self._timer = self.switch.timers.at(self.RING_ON, lambda: self._ring(False))
        else:
            if self.rings == 1 and self.caller and self.clip:
                self.switch.timers.at(self.CLIP_DELAY, self._send_clip)
            self._timer = self.switch.timers.at(self.RING_OFF, lambda: self._ring(True))

    def _send_clip(self) -> None:
        if self.state != "ringing" or not self.clip:
            return
        if self.clip == "dtmf":
            self.card.far_play(self.channel, render_dtmf("D" + self.caller + "C", on_ms=60, off_ms=60))
        else:
            self.card.far_play(self.channel, CallerIDGenerator().encode(self.caller, standard=self.clip))

    # card events routed here by the switch
    def _offhook(self) -> None:
        if self.state != "ringing":
            return
        _Timers.cancel(self._timer)
        self.card.far_ring(self.channel, False)
        self.card.far_play_clear(self.channel)
        self._answered()

    def _onhook(self) -> None:
        if self.state == "up":
            self._cleared(16)

    def _abandon(self) -> None:
        _Timers.cancel(self._timer)
        self.card.far_ring(self.channel, False)

    def _release(self) -> None:
        self.card.far_loop(self.channel, False)
        self.switch.timers.at(0.8, lambda: self.card.far_loop(self.channel, True))


class AnalogParty(TrunkCall):
    """The far party of a call Trunkline dialled on an analog trunk (the CO collected its DTMF digits)."""

    def __init__(self, switch: "Switch", channel: int, number: str) -> None:
        super().__init__(switch, channel, number, "")

    def _release(self) -> None:
        self.card.far_loop(self.channel, False)
        self.switch.timers.at(0.8, lambda: self.card.far_loop(self.channel, True))

    def _abandon(self) -> None:
        self._release()


class _Seizure:
    """The central office's side of an outbound seizure: dial tone, DTMF digit collection, routing."""

    INTER_DIGIT = 2.0      # s of silence after the last digit ends the number

    def __init__(self, switch: "Switch", channel: int) -> None:
        self.switch = switch
        self.card = switch.card
        self.channel = channel
        self.det = DTMFDetector(1)
        self.digits = ""
        self.last = self.card.now
        self.done = False
        self.party: AnalogParty | None = None
        self.card.far_capture(channel, True)
        self.card.far_capture_take(channel)
        self._play_tone("dial")

    def _play_tone(self, name: str, seconds: float = 60.0) -> None:
        self.card.far_play_clear(self.channel)
        cyc = ToneZone.get(self.switch.zone).tone(name).cycle()
        reps = max(1, int(seconds * RATE / len(cyc)))
        self.card.far_play(self.channel, np.tile(cyc, reps))

    def poll(self) -> None:
        """Listen for digits; route the number after the inter-digit pause."""
        if self.done:
            return
        heard = self.card.far_capture_take(self.channel)
        if heard.size:
            for _, d in self.det.process(heard[None, :]):
                if not self.digits:
                    self.card.far_play_clear(self.channel)     # first digit stops the dial tone
                self.digits += d
                self.last = self.card.now
        if self.digits and self.card.now - self.last > self.INTER_DIGIT:
            self.done = True
            self._route()

    def _route(self) -> None:
        how = self.switch.destination(self.digits)
        if how.kind in ("busy", "congestion"):
            self._play_tone(how.kind)
            self.switch._dialled(self.digits, "analog", how.kind)
            return
        if how.kind == "unallocated":
            self._play_tone("sit")
            self.switch._dialled(self.digits, "analog", how.kind)
            return
        self._play_tone("ringback")
        self.party = party = AnalogParty(self.switch, self.channel, self.digits)
        party.start_capture()
        self.switch._dialled(self.digits, "analog", how.kind, party)
        if how.kind == "noanswer":
            return

        def answer() -> None:
            if party.state == "ringing" and self.card.far_hook_state(self.channel):
                self.card.far_play_clear(self.channel)
                self.card.far_reverse(self.channel)          # answer supervision
                party._answered()
                if how.script is not None:
                    asyncio.ensure_future(how.script(party))
        self.switch.timers.at(how.answer_after, answer)

    def card_onhook(self) -> None:
        """Trunkline released the line."""
        self.done = True
        self.card.far_play_clear(self.channel)
        self.card.far_capture(self.channel, False)
        if self.party is not None:
            self.party._cleared(16)


class Station(_Party):
    """The phone on an FXS station port (an agent's set)."""

    def __init__(self, switch: "Switch", port: int, channel: int) -> None:
        super().__init__(switch, channel)
        self.port = port
        self.ringing = False
        self.offhook_state = False
        self.rings = 0
        self.caller_id: str | None = None   # read from the FSK burst between the first two rings
        self.caller_name: str | None = None
        self._ring_fut: asyncio.Future[bool] | None = None

    def _ring_event(self, on: bool) -> None:
        self.ringing = on
        if on:
            self.rings += 1
            if self.rings == 2 and self._capturing:
                self._decode_caller_id(self.take_captured())
            if self._ring_fut is not None and not self._ring_fut.done():
                self._ring_fut.set_result(True)
        elif self.rings == 1:
            self.start_capture()              # caller ID comes between the first and second ring
            self.take_captured()

    def _decode_caller_id(self, audio: NDArray[np.int16]) -> None:
        rx = CallerIDReceiver("v23")
        rx.rx(audio)
        if rx.result:
            self.caller_id = rx.result.get("number")
            self.caller_name = rx.result.get("name")

    async def wait_ring(self, timeout: float = 30.0) -> bool:
        """Wait until the station rings; SimError after `timeout` s."""
        if self.ringing:
            return True
        self._ring_fut = fut = self._future()
        h = self.switch.timers.at(timeout, lambda: _resolve(fut, False))
        ok = await fut
        _Timers.cancel(h)
        if not ok:
            raise SimError(f"station {self.port} did not ring within {timeout} s")
        return True

    def offhook(self) -> None:
        """Lift the handset (answers if ringing)."""
        if self.rings == 1 and self._capturing and self.caller_id is None:
            self._decode_caller_id(self.take_captured())
        self.start_capture()
        self.card.far_hook(self.channel, True)
        self.offhook_state = True
        self.ringing = False

    def onhook(self) -> None:
        """Hang up the handset."""
        self.card.far_hook(self.channel, False)
        self.offhook_state = False

    async def flash(self, ms: float = 300) -> None:
        """Hook flash: on hook for `ms` then off hook again."""
        self.card.far_hook(self.channel, False)
        await self.switch.sleep(ms / 1000)
        self.card.far_hook(self.channel, True)


@dataclass
class DialAttempt:
    """One call Trunkline placed into the network: the number it dialled, on which trunk, how the
    destination behaved, when (media time, s) and the far party (None when busy/unallocated/congestion)."""
    number: str
    trunk: str
    kind: str
    at: float
    party: TrunkCall | None = None


@dataclass
class Destination:
    """How a number Trunkline dials behaves: kind answer/busy/noanswer/unallocated/congestion,
    answer delay in s, and an optional script `async def script(party)` run once answered."""
    kind: str = "answer"
    answer_after: float = 2.0
    script: "Callable[[TrunkCall], Awaitable[Any]] | None" = None


class TrunkFarEnd(Protocol):
    """The network side of a card's digital spans (PRI, R2), attached to `Switch.trunks` by trunk type."""

    def place_call(self, number: str, caller: str = "", name: str = "") -> TrunkCall: ...
    def on_far_event(self, name: str, ch: int, span: int, value: int) -> None: ...
    def poll(self, now: float) -> None: ...


class Switch:
    """The simulated network behind one card: places calls into it and answers its phones."""

    def __init__(self, card: SimCard, clip: str | None = "dtmf", zone: str = "cn") -> None:
        if card.far is not None:
            raise SimError(f"card {card.name} already has a far end")
        self.card = card
        self.clip = clip
        self.zone = zone
        self.seizures: dict[int, _Seizure] = {}   # FXO channel -> _Seizure (Trunkline dialling out)
        card.far = self
        self.timers = _Timers(card)
        self.fxo = [ch for sp in card.spans if sp.kind == "fxo" for ch in sp.bearer]
        self.fxs = [ch for sp in card.spans if sp.kind == "fxs" for ch in sp.bearer]
        self._fxo_set = set(self.fxo)
        self.busy_ports: dict[int, Phone] = {}    # channel -> Phone
        self._cooling: dict[int, float] = {}      # channel -> time it may be reused
        self.stations = [Station(self, i, ch) for i, ch in enumerate(self.fxs)]
        self._station_of = {st.channel: st for st in self.stations}
        self.trunks: dict[str, TrunkFarEnd] = {}  # "pri"/"r2" far ends attach here by trunk type
        self.calls_placed = 0
        self.destinations: dict[str, Destination] = {}   # number -> Destination, for calls Trunkline places
        self.default_destination = Destination("answer")
        self.dialled: list[DialAttempt] = []      # DialAttempt per call Trunkline placed, oldest first
        # (number, count, future) for wait_dialled()
        self._dial_waiters: list[tuple[str, int, asyncio.Future[DialAttempt | None]]] = []
        card.add_tick_hook(self._tick)

    def add_destination(self, number: str, kind: str = "answer", answer_after: float = 2.0,
                        script: Callable[[TrunkCall], Awaitable[Any]] | None = None) -> None:
        """Say how `number` behaves when Trunkline dials it (see Destination)."""
        if kind not in ("answer", "busy", "noanswer", "unallocated", "congestion"):
            raise ValueError(f"unknown destination behaviour {kind!r}")
        self.destinations[number] = Destination(kind, answer_after, script)

    def destination(self, number: str) -> Destination:
        """The behaviour of a dialled number (the default: answer after 2 s)."""
        return self.destinations.get(number, self.default_destination)

    def _dialled(self, number: str, trunk: str, kind: str, party: TrunkCall | None = None) -> None:
        """A trunk far end routed a call Trunkline placed (called by the analog CO and the trunk far ends)."""
        self.dialled.append(DialAttempt(number, trunk, kind, self.card.now, party))
        for waiter in list(self._dial_waiters):
            num, count, fut = waiter
            if num == number and len(self.dialled_to(number)) >= count:
                self._dial_waiters.remove(waiter)
                if not fut.done():
                    fut.set_result(self.dialled_to(number)[count - 1])

    def dialled_to(self, number: str) -> list[DialAttempt]:
        """The DialAttempts Trunkline made to `number`, oldest first."""
        return [a for a in self.dialled if a.number == number]

    async def wait_dialled(self, number: str, timeout: float = 30.0, count: int = 1) -> DialAttempt:
        """Wait until Trunkline has dialled `number` `count` times (the network routed the number); returns
        that DialAttempt (its .party is the ringing far party, or None for busy/unallocated/congestion).
        SimError after `timeout` s."""
        have = self.dialled_to(number)
        if len(have) >= count:
            return have[count - 1]
        fut: asyncio.Future[DialAttempt | None] = asyncio.get_running_loop().create_future()
        waiter = (number, count, fut)
        self._dial_waiters.append(waiter)
        h = self.timers.at(timeout, lambda: _resolve(fut, None))
        got = await fut
        _Timers.cancel(h)
        if waiter in self._dial_waiters:
            self._dial_waiters.remove(waiter)
        if got is None:
            raise SimError(f"{number} not dialled {count} time(s) within {timeout} s")
        return got

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of media time on the card clock."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.timers.at(seconds, lambda: _resolve(fut, None))
        await fut

    def call(self, number: str, from_: str = "", trunk: str = "analog", name: str = "") -> TrunkCall:
        """Place a call into the card; returns the scripted caller (Phone)."""
        self.calls_placed += 1
        if trunk != "analog":
            far = self.trunks.get(trunk)
            if far is None:
                raise SimError(f"no {trunk} trunk on card {self.card.name}")
            return far.place_call(number, from_, name=name)
        now = self.card.now
        for ch in self.fxo:
            if (ch in self.busy_ports or ch in self.seizures or self._cooling.get(ch, 0) > now
                    or self.card.far_hook_state(ch)):
                continue
            phone = Phone(self, ch, number, from_, clip=self.clip)
            self.busy_ports[ch] = phone
            return phone
        raise SimError("all analog trunks are busy")

    def station(self, port: int) -> Station:
        """The phone on FXS station `port` (0-based)."""
        return self.stations[port]

    def _port_done(self, phone: TrunkCall) -> None:
        if not isinstance(phone, Phone):
            return                        # trunk far ends keep their own channel tables
        self.busy_ports.pop(phone.channel, None)
        # guard time: Trunkline must see the ringing stop or the loop drop before the port is reused
        self._cooling[phone.channel] = self.card.now + 7.5

    def _tick(self) -> None:
        for name, ch, span, value, _t in self.card.far_events():
            if ch in self._station_of:
                st = self._station_of[ch]
                if name == "ring_on":
                    st._ring_event(True)
                elif name == "ring_off":
                    st._ring_event(False)
                continue
            phone = self.busy_ports.get(ch)
            if phone is not None and not phone.ended:
                if name == "offhook":
                    phone._offhook()
                elif name == "onhook":
                    phone._onhook()
            elif ch in self._fxo_set:
                if name == "offhook" and ch not in self.seizures:
                    self.seizures[ch] = _Seizure(self, ch)
                elif name == "onhook" and ch in self.seizures:
                    self.seizures.pop(ch).card_onhook()
                    self._cooling[ch] = self.card.now + 1.0
            for far in self.trunks.values():
                far.on_far_event(name, ch, span, value)
        for seizure in list(self.seizures.values()):
            seizure.poll()
        self.timers.run()
        for far in self.trunks.values():
            far.poll(self.card.now)
