"""Fax on SIP calls: T.38 first, audio fax as the explicit fallback.

When the call's signaling can carry T.38 (a SIP span) and a T.38 session factory is wired, the fax job
re-INVITEs the call to T.38 and runs a T.38 terminal over the call's UDPTL socket (packets pumped once per
tick). A peer that refuses (488 or any other failure) gets audio fax (G.711) on the same call: that
decision is logged and published on the bus. A peer that switches the call to T.38 itself while an audio
session runs gets a fresh T.38 session. At the end a call still up is re-INVITEd back to audio."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from trunkline.media.call import Call
from trunkline.media.errors import ChannelError, Timeout
from trunkline.media.futures import settle_error
from trunkline.media.ports import FaxOutcome, FaxSession, FaxSessionFactory, Samples, T38FaxSession, T38Signaling

if TYPE_CHECKING:
    from trunkline.media.engine import Engine

log = logging.getLogger("trunkline.fax.t38")
SWITCH_TIMEOUT = 10.0      # s to wait for the answer to our T.38 / audio re-INVITE


class FaxToneWatch:
    """Hears the far end's CED (2100 Hz) or V.21 channel 2 (1650/1850 Hz FSK) in blocks: `feed(block)` is True
    once either held 200 ms above about -35 dBm0 (the T.38 switch trigger). Band energy from one FFT."""
    HOLD_S = 0.2

    def __init__(self, block: int = 160) -> None:
        hz = np.fft.rfftfreq(block, 1 / 8000.0)
        self._ced = (hz >= 2025) & (hz <= 2175)
        self._v21 = (hz >= 1525) & (hz <= 1975)
        self._hold = max(1, round(self.HOLD_S * 8000 / block))
        self._block = block
        self._run = 0

    def feed(self, samples: Samples) -> bool:
        """One block of received audio; True once the tone held long enough."""
        x = np.asarray(samples, dtype=np.float64)
        if len(x) != self._block:
            return False
        spec = np.abs(np.fft.rfft(x)) ** 2
        total = float(spec.sum())
        loud = float(np.dot(x, x)) / len(x) > 2.0e3
        tone = spec[self._ced].sum() > 0.7 * total or spec[self._v21].sum() > 0.7 * total
        self._run = self._run + 1 if loud and tone else 0
        return self._run >= self._hold


@dataclass
class _State:
    """The session a SIP fax job runs now (T.38 or audio)."""
    session: FaxSession = cast(FaxSession, None)
    t38: T38FaxSession | None = None


def t38_signaling(engine: Engine, call: Call) -> T38Signaling | None:
    """The call's signaling when it can switch to T.38 and a T.38 session factory is wired, else None."""
    if engine.t38_endpoint_factory is None:
        return None
    sig = engine._sig_of_channel.get(call.channel)
    return sig if isinstance(sig, T38Signaling) else None


async def _reinvite(engine: Engine, call: Call, start: Callable[[int, Callable[[str], None]], None]) -> str:
    fut: asyncio.Future[str] = call._future()

    def done(status: str) -> None:
        if not fut.done():
            fut.set_result(status)
    try:
        start(call.channel, done)
    except Exception as exc:   # SignalingError (call not up) or a socket error: reported as the status
        return f"not sent: {exc}"
    h = engine.call_later(SWITCH_TIMEOUT, lambda: done("no answer"))
    try:
        return await fut
    finally:
        h.cancel()


async def run_sip_fax(engine: Engine, call: Call, sig: T38Signaling, calling: bool, send: str | None,
                      receive: str | None, ident: str = "", ecm: bool = False, timeout: float = 600.0) -> FaxOutcome:
    """A fax session on a SIP call: T.38 when the peer takes it, else audio fax; returns the result.
    Hangup when the call ends, Timeout after `timeout` s of media time."""
    t38_factory = engine.t38_endpoint_factory
    audio_factory: FaxSessionFactory | None = engine.fax_endpoint_factory
    assert t38_factory is not None, "run_sip_fax runs only with a T.38 factory wired"
    ch = call.channel

    def refused(status: str) -> None:
        log.info("fax on call %s: T.38 not taken (%s): audio fax (G.711) on the same call", call.id, status)
        engine.bus.publish({"type": "fax_t38_fallback", "call": call.id, "channel": ch, "status": status,
                            "time": engine.now})
    watch = FaxToneWatch(engine.block) if sig.t38_on_tones(ch) else None
    armed = [watch]                         # the tone trigger fires once
    if sig.t38_port(ch) is None and watch is None:
        status = await _reinvite(engine, call, sig.t38_switch)
        if status != "t38":
            refused(status)
    state = _State()

    def start_session(t38: bool) -> None:
        if t38:
            state.session = state.t38 = t38_factory(calling, send, receive, ecm=ecm, ident=ident)
        elif audio_factory is not None:
            state.session, state.t38 = audio_factory(calling, send, receive, ecm=ecm, ident=ident), None
        else:
            raise ChannelError("T.38 refused and no audio fax service wired", 63)
    start_session(sig.t38_port(ch) is not None)
    fut: asyncio.Future[FaxOutcome] = call._future()
    engine.board.echo_cancel(ch, False)

    class _SipFaxTap:
        def rx(self, samples: Samples) -> None:
            port = sig.t38_port(ch)
            try:
                if state.t38 is None and port is not None:
                    log.info("fax on call %s: the peer switched to T.38: T.38 session from here", call.id)
                    start_session(True)
                elif state.t38 is not None and port is None:
                    log.info("fax on call %s: the peer left T.38: audio fax session from here", call.id)
                    start_session(False)
            except ChannelError as exc:
                settle_error(fut, exc)
                return
            w = armed[0]
            if w is not None and port is None and w.feed(samples):
                armed[0] = None
                log.info("fax on call %s: CED/V.21 heard: re-INVITE to T.38", call.id)
                try:
                    sig.t38_switch(ch, lambda status: None if status == "t38" else refused(status))
                except Exception as exc:   # SignalingError (call not up): the audio session goes on
                    refused(f"not sent: {exc}")
            t38s = state.t38
            if t38s is not None and port is not None:
                for _seq, ifp in port.recv():
                    t38s.put_ifp(ifp)
                t38s.rx(samples)
                for ifp in t38s.take_ifps():
                    port.send(ifp)
            else:
                state.session.rx(samples)
            if state.session.done and not fut.done():
                fut.set_result(state.session.result)

        def tx(self, n: int) -> Samples:
            return state.session.tx(n)

    engine.players.stop(ch, notify=False)
    engine.attach_tap(call, _SipFaxTap())
    h = engine.call_later(timeout, lambda: settle_error(fut, Timeout("fax session too long")))
    try:
        return await fut
    finally:
        h.cancel()
        engine.detach_tap(call)
        engine.board.echo_cancel(ch, True)
        if not call.hungup and sig.t38_port(ch) is not None:
            back = await _reinvite(engine, call, sig.t38_audio)
            log.info("fax on call %s: back to audio after T.38 (%s)", call.id, back)
