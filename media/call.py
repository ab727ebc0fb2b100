"""The call object call flows use: answer, play, record, collect digits, bridge, hang up."""
from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import uuid
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from trunkline.dsp.dtmf import DTMFGenerator
from trunkline.dsp.tones import Tone
from trunkline.media.errors import ChannelError, Hangup, Timeout
from trunkline.media.futures import settle, settle_error
from trunkline.media.player import Clip, PlayItem, playlist_clip
from trunkline.media.ports import FaxOutcome, Samples
from trunkline.media.record import CallRecord, RecordResult
from trunkline.media.recorder import Recording

if TYPE_CHECKING:   # the engine creates calls: imported for the type hints only (engine.py imports this module)
    from trunkline.media.engine import Engine

log = logging.getLogger("trunkline.call")
_ids = itertools.count(1)


class Call:
    """One call on one board channel, inbound or outbound, whatever the trunk signaling."""

    def __init__(self, engine: Engine, channel: int, direction: str, trunk: str, caller_id: str = "",
                 called: str = "", category: str | int | None = None) -> None:
        self.engine = engine
        self.channel = channel
        self.direction = direction
        self.trunk = trunk
        self.caller_id = caller_id
        self.called = called
        self.category = category
        self.id = f"{uuid.uuid4().hex[:12]}-{next(_ids)}"
        self.vars: dict[str, Any] = {}     # the flow's own variables (free-form)
        self.cdr = CallRecord()            # the typed CDR fields the IVR and the ACD fill
        self.state = "offered" if direction == "in" else "dialing"
        self.created_at = engine.now
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.hungup = False
        self.cause: int | None = None
        self.language: str | None = None
        self._digits = ""
        self._digit_waiter: asyncio.Future[Any] | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._hangup_cbs: list[Callable[[Call], object]] = []
        self._flash_cbs: list[Callable[[Call], object]] = []
        self._playing: tuple[asyncio.Future[Any], bool] | None = None   # (future, barge_in) while playing
        self.bridged_to: Call | None = None
        self._record_term: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.answered: asyncio.Future[Call] = engine.loop.create_future()   # for outbound calls and stations

    def __repr__(self) -> str:
        return f"<Call {self.id} ch={self.channel} {self.direction} {self.caller_id}->{self.called} {self.state}>"

    # ------------------------------------------------------------ plumbing
    def _future(self) -> asyncio.Future[Any]:
        if self.hungup:
            raise Hangup(f"call {self.id} is gone")
        fut: asyncio.Future[Any] = self.engine.loop.create_future()
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)
        return fut

    def _ended(self, cause: int) -> None:
        """The call is gone (far end or us): fail everything pending with Hangup."""
        if self.hungup:
            return
        self.hungup = True
        self.cause = cause
        self.state = "ended"
        self.ended_at = self.engine.now
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(Hangup(f"call {self.id} hung up (cause {cause})"))
        if not self.answered.done():
            self.answered.set_exception(ChannelError("call ended before answer", cause))
            self.answered.exception()   # mark retrieved
        for cb in self._hangup_cbs:
            try:
                cb(self)
            except Exception:   # one bad callback must not stop the others or the release
                log.exception("hangup callback failed")

    def _digit(self, d: str) -> None:
        if self._record_term is not None:
            if d in self._record_term:
                self.engine.recorders.stop(self.channel, "terminator")
            return
        self._digits += d
        if self._playing is not None:
            fut, barge = self._playing
            if barge and not fut.done():
                self.engine.players.stop(self.channel, notify=False)
                fut.set_result(d)
        w = self._digit_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def on_hangup(self, callback: Callable[[Call], object]) -> None:
        """Run callback(call) when the call ends."""
        self._hangup_cbs.append(callback)

    def on_flash(self, callback: Callable[[Call], object]) -> None:
        """Run callback(call) on a station hook flash."""
        self._flash_cbs.append(callback)

    def _flash(self) -> None:
        for cb in self._flash_cbs:
            cb(self)

    # ------------------------------------------------------------ call control
    async def answer(self) -> None:
        """Answer an inbound call (no-op if already answered)."""
        if self.hungup:
            raise Hangup(f"call {self.id} is gone")
        if self.state == "up":
            return
        self.engine._answer(self)

    async def early_media(self) -> None:
        """Before answer: open the media path (SIP 183 Session Progress with SDP) so prompts played now
        reach the caller unanswered; ChannelError on trunks without early media, no-op once answered."""
        if self.hungup:
            raise Hangup(f"call {self.id} is gone")
        if self.state != "up":
            self.engine.signal(self, "early_media")
            self.state = "early"

    async def hangup(self, cause: int = 16) -> None:
        """Clear the call from our side with Q.850 `cause` (nothing when it has already ended)."""
        if not self.hungup:
            self.engine._hangup(self, cause)

    async def wait(self, seconds: float) -> None:
        """Wait `seconds` of media time; raises Hangup if the far end leaves."""
        fut = self._future()
        self.engine.call_later(seconds, functools.partial(settle, fut, None))
        await fut

    # ------------------------------------------------------------ digits
    def flush_digits(self) -> None:
        """Forget digits typed ahead."""
        self._digits = ""

    def digits_pending(self) -> str:
        """Digits received but not yet consumed."""
        return self._digits

    async def _next_digit(self, timeout: float) -> str | None:
        """Next digit, or None after `timeout` seconds of media time."""
        while not self._digits:
            fut = self._future()
            self._digit_waiter = fut
            handle = self.engine.call_later(timeout, functools.partial(settle, fut, "timeout"))
            try:
                r = await fut
            finally:
                self._digit_waiter = None
                handle.cancel()
            if r == "timeout" and not self._digits:
                return None
        d, self._digits = self._digits[0], self._digits[1:]
        return d

    async def get_digits(self, count: int, timeout: float = 5.0, inter_digit: float = 3.0,
                         terminators: str = "#") -> str:
        """Collect up to `count` digits (first within `timeout` s, then `inter_digit` s apart); Timeout if none."""
        got = ""
        while len(got) < count:
            d = await self._next_digit(timeout if not got else inter_digit)
            if d is None:
                if got:
                    break
                raise Timeout(f"no digits within {timeout} s")
            if terminators and d in terminators:
                break
            got += d
        return got

    async def menu(self, prompt: PlayItem, choices: Collection[str], timeout: float = 5.0, retries: int = 3,
                   invalid: PlayItem | None = None, timeout_prompt: PlayItem | None = None) -> str:
        """Play a prompt and return one digit among `choices`; replays on invalid/no input, then raises Timeout."""
        for _ in range(max(1, retries)):
            await self.play(prompt, barge_in=True)
            d = await self._next_digit(timeout)
            if d is None:
                if timeout_prompt:
                    await self.play(timeout_prompt, barge_in=True)
                continue
            if d in choices:
                return d
            self.flush_digits()
            if invalid:
                await self.play(invalid, barge_in=True)
        raise Timeout(f"menu: no valid choice of {choices!r} after {retries} tries")

    # ------------------------------------------------------------ media
    def _clip(self, items: tuple[PlayItem, ...]) -> tuple[Clip, bool, bool]:
        eng = self.engine
        return playlist_clip(eng.pool, eng.prompts, eng.zone, items, self.language)

    async def play(self, *items: PlayItem, barge_in: bool = True) -> str | None:
        """Play prompts/files/arrays/tones in sequence; returns the barge-in digit (kept in the buffer) or None."""
        if barge_in and self._digits:
            return self._digits[0]
        clip, anonymous, loop = self._clip(items)
        fut = self._future()
        self._playing = (fut, barge_in)
        self.engine.players.play(self.channel, clip, loop=loop, anonymous=anonymous,
                                 on_done=lambda ch: settle(fut, None))
        try:
            return await fut
        finally:
            self._playing = None
            if not fut.done() or self.hungup:
                self.engine.players.stop(self.channel, notify=False)

    def start_audio(self, *items: PlayItem, loop: bool = True) -> None:
        """Start background audio (music on hold, a tone) without waiting; stop with stop_audio()."""
        clip, anonymous, is_loop = self._clip(items)
        self.engine.players.play(self.channel, clip, loop=loop or is_loop, anonymous=anonymous)

    def stop_audio(self) -> None:
        """Stop background audio."""
        self.engine.players.stop(self.channel, notify=False)

    async def send_dtmf(self, digits: str, on_ms: int = 100, off_ms: int = 100) -> None:
        """Send DTMF digits: RFC 4733 events where the channel negotiated them (SIP), else in-band tones
        (on/off in ms)."""
        if self.hungup:
            raise Hangup(f"call {self.id} is gone")
        if self.engine.board.send_digits(self.channel, digits):
            await self.wait(0.25 * len(digits))
            return
        gen = DTMFGenerator(1, on_ms=on_ms, off_ms=off_ms)
        gen.put(0, digits)
        n = int((on_ms + off_ms) * 8 * len(digits))
        await self.play(gen.generate(n)[0], barge_in=False)

    async def record(self, path: str, max_seconds: float | None = 60.0, silence_seconds: float | None = None,
                     terminators: str = "#", beep: bool = True, two_track: bool = False) -> RecordResult:
        """Record what the caller says into path (WAV/FLAC); ends on terminator, max length, silence or hangup.

        On hangup the file is kept and closed; the raised Hangup carries `.recording` (a RecordResult).
        """
        if beep:
            await self.play(self.engine.beep(), barge_in=False)
        self.flush_digits()
        fut = self._future()
        rec = self.engine.recorders.start(self.channel, path, two_track=two_track, max_seconds=max_seconds,
                                          silence_seconds=silence_seconds,
                                          on_closed=lambda r: settle(fut, r))
        self._record_term = terminators or ""
        try:
            await fut
        except Hangup as exc:
            self.engine.recorders.stop(self.channel, "hangup")
            exc.recording = RecordResult(rec.path, rec.seconds, "hangup", rec.error)
            raise
        finally:
            self._record_term = None
        return RecordResult(rec.path, rec.seconds, rec.stop_reason or "stopped", rec.error)

    def stop_recording(self, reason: str = "stopped", tag: str = "") -> None:
        """End this call's recording now (its `record()` returns with `reason`), or the background one with
        `tag`; nothing when none runs."""
        self.engine.recorders.stop(self.channel, reason, tag)

    def start_recording(self, path: str, tag: str, two_track: bool = True, max_seconds: float | None = None,
                        on_closed: Callable[[Recording], object] | None = None) -> Recording:
        """Start a background recording named `tag` (two tracks: received, sent) beside any `record()`; it runs
        until stop_recording(tag=tag), `max_seconds` s or the call's end; on_closed(recording) once closed."""
        if self.hungup:
            raise Hangup(f"call {self.id} is gone")
        return self.engine.recorders.start(self.channel, path, two_track=two_track, max_seconds=max_seconds,
                                           on_closed=on_closed, tag=tag)

    async def bridge(self, other: Call) -> None:
        """Connect this call's channel with another call's, both ways (ending both calls' earlier bridges)."""
        if self.hungup or other.hungup:
            raise Hangup("cannot bridge a call that has ended")
        for call in (self, other):          # the switch undoes both calls' earlier bridges: so do their peers
            old = call.bridged_to
            if old is not None and old is not self and old is not other:
                old.bridged_to = None
        self.engine.bridges.connect(self.channel, other.channel)
        self.bridged_to, other.bridged_to = other, self

    async def unbridge(self) -> None:
        """Undo the bridge this call is in."""
        self.engine.unbridge(self)

    async def hold(self) -> None:
        """Put the far end on hold (SIP re-INVITE sendonly); ChannelError on trunks without hold."""
        self.engine.hold(self, True)

    async def unhold(self) -> None:
        """Take the far end off hold (SIP re-INVITE sendrecv)."""
        self.engine.hold(self, False)

    async def transfer(self, target: str) -> None:
        """Blind transfer: ask the far end to call `target` instead (SIP REFER to a sip: URI); our leg then
        ends when the far end hangs up. ChannelError on trunks without transfer."""
        if self.hungup:
            raise Hangup(f"call {self.id} is gone")
        self.engine.transfer(self, target)

    async def wait_answer(self, timeout: float | None = 30.0) -> Call:
        """Wait until a call placed with `engine.dial` answers; returns it, or raises ChannelError (busy,
        congestion, ...) or Timeout after `timeout` s of media time (the call is then hung up)."""
        return await self.engine.wait_answer(self, timeout)

    async def wait_hangup(self, timeout: float | None = None) -> None:
        """Wait until the call ends (any side); Timeout after `timeout` s of media time."""
        if self.hungup:
            return
        fut: asyncio.Future[None] = self.engine.loop.create_future()
        self.on_hangup(lambda c: settle(fut, None))
        if timeout is not None:
            self.engine.call_later(timeout, lambda: settle_error(fut, Timeout("call still up")))
        await fut

    async def send_fax(self, path: str, ident: str = "", ecm: bool = False, calling: bool | None = None,
                       timeout: float = 600.0) -> FaxOutcome:
        """Send a TIFF-F document as a fax on this call; returns the fax result (.ok, .pages, .bit_rate, .ecm,
        .reason). `calling` is the T.30 role (default: the side that placed the call). ChannelError at once
        when the engine has no fax service wired."""
        role = self.direction == "out" if calling is None else calling
        return await self.engine.run_fax(self, calling=role, send=path, ident=ident, ecm=ecm, timeout=timeout)

    async def receive_fax(self, path: str, ident: str = "", ecm: bool = False, calling: bool | None = None,
                          timeout: float = 600.0) -> FaxOutcome:
        """Receive a fax on this call into a TIFF-F file; returns the fax result (see send_fax)."""
        role = self.direction == "out" if calling is None else calling
        return await self.engine.run_fax(self, calling=role, receive=path, ident=ident, ecm=ecm, timeout=timeout)

    def sms(self, text: str, number: str | None = None) -> int:
        """Queue an SMS (to the caller's number by default) through the engine's SMS service; returns its id."""
        service = self.engine.sms
        if service is None:
            raise ChannelError("no SMS service (GSM modem) configured", 63)
        to = number or self.caller_id
        if not to:
            raise ChannelError("the caller's number is unknown: no SMS destination", 28)
        return service.queue(to, text)

    def tone(self, name: str) -> Tone:
        """A call-progress tone of the engine's tone zone, playable with play()/start_audio()."""
        return self.engine.tone(name)


def silence(seconds: float) -> Samples:
    """int16 silence of the given length, playable."""
    return np.zeros(int(seconds * 8000), dtype=np.int16)
