"""A T.30 fax session on a call: the engine taps the call's audio into a fax endpoint until it ends."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from trunkline.media.call import Call
from trunkline.media.errors import ChannelError, Timeout
from trunkline.media.fax_t38 import run_sip_fax, t38_signaling
from trunkline.media.futures import settle_error
from trunkline.media.ports import FaxOutcome, Samples

if TYPE_CHECKING:
    from trunkline.media.engine import Engine


async def run_fax(engine: Engine, call: Call, calling: bool, send: str | None = None, receive: str | None = None,
                  ident: str = "", ecm: bool = False, timeout: float = 600.0) -> FaxOutcome:
    """Run a T.30 session on `call` through the engine's fax endpoint factory (in the engine's fax bank
    when it has one); returns its result.

    Raises ChannelError (cause 63) at once when no fax session factory is wired, Hangup when the
    call ends, Timeout after `timeout` s of media time. The echo canceller is off for the session."""
    sip = t38_signaling(engine, call)
    if sip is not None:          # a SIP call: T.38 first, audio fax as the logged fallback (fax_t38)
        return await run_sip_fax(engine, call, sip, calling, send, receive, ident=ident, ecm=ecm, timeout=timeout)
    factory = engine.fax_endpoint_factory
    if factory is None:
        raise ChannelError("no fax service: the engine was built without fax_endpoint_factory", 63)
    session = factory(calling, send, receive, ecm=ecm, ident=ident)
    fut: asyncio.Future[FaxOutcome] = call._future()
    engine.board.echo_cancel(call.channel, False)     # an echo canceller garbles fax modems

    class _FaxTap:
        def rx(self, samples: Samples) -> None:
            session.rx(samples)
            _ended()

        def tx(self, n: int) -> Samples:
            return session.tx(n)

    def _ended(_ch: int | None = None) -> None:
        if session.done and not fut.done():
            fut.set_result(session.result)

    engine.players.stop(call.channel, notify=False)
    bank = engine.fax_bank
    if bank is not None:                              # with every other fax session, once per tick
        bank.attach(call.channel, session, _ended)
    else:
        engine.attach_tap(call, _FaxTap())
    h = engine.call_later(timeout, lambda: settle_error(fut, Timeout("fax session too long")))
    try:
        return await fut
    finally:
        h.cancel()
        if bank is not None:
            bank.detach(call.channel)
        else:
            engine.detach_tap(call)
        engine.board.echo_cancel(call.channel, True)
