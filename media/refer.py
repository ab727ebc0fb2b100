"""Transfers a SIP peer asks for (incoming REFER, drivers/signaling/sip_refer.py), carried out on the
engine's calls. The peer P is on call X, which is bridged to our other party Y (a caller on any trunk):

- blind (Refer-To: target): dial the target, bridge Y with it once it answers, NOTIFY P 200 and end X;
  when the target fails, NOTIFY P the failure and X stays bridged to Y;
- attended (Refer-To with Replaces naming P's other call X2, bridged to Y2): bridge Y with Y2, NOTIFY P
  200 and end X and X2.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from trunkline.drivers.signaling.sip import SipSignaling

from .call import Call
from .errors import CallError, ChannelError, Timeout

if TYPE_CHECKING:   # the engine installs nothing here; `install(engine)` is called by the server wiring
    from .engine import Engine

log = logging.getLogger("trunkline.engine")

#: Q.850 cause of a failed transfer -> SIP status and reason NOTIFYed to the transferor
FAILED = {17: (486, "Busy Here"), 19: (480, "Temporarily Unavailable"), 18: (408, "Request Timeout"),
          1: (404, "Not Found"), 21: (603, "Decline")}


class ReferTransfers:
    """Carries out REFERs from SIP peers on one engine (install once; see module doc)."""

    def __init__(self, engine: Engine, ring_timeout: float = 30.0) -> None:
        self.engine = engine
        self.ring_timeout = ring_timeout
        self.done: list[dict[str, Any]] = []          # outcomes, most recent last (bounded)
        self._tasks: set[asyncio.Task[None]] = set()
        for sig in engine.signaling:
            if isinstance(sig, SipSignaling):
                sig.on_refer = self._on_refer

    def _on_refer(self, sig: SipSignaling, channel: int, target: str, replaced: int | None) -> None:
        task = self.engine.loop.create_task(self._run(sig, channel, target, replaced))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _note(self, sig: SipSignaling, channel: int, status: int, reason: str, **what: Any) -> None:
        sig.refer_progress(channel, status, reason)
        self.done.append(dict(what, status=status, reason=reason))
        del self.done[:-100]

    async def _run(self, sig: SipSignaling, channel: int, target: str, replaced: int | None) -> None:
        engine = self.engine
        call = engine.calls.get(channel)
        other = call.bridged_to if call is not None else None
        if call is None or other is None or other.hungup:
            self._note(sig, channel, 603, "Decline", kind="none", target=target)
            return
        if replaced is not None:
            await self._attended(sig, call, other, replaced, target)
            return
        try:
            new = await engine.make_call(target, caller_id=other.caller_id or "", timeout=self.ring_timeout)
        except (ChannelError, Timeout) as exc:
            cause = getattr(exc, "cause", 19) if isinstance(exc, ChannelError) else 19
            status, reason = FAILED.get(cause, (500, "Transfer Failed"))
            log.info("transfer of %s to %s failed: %s", other.id, target, exc)
            self._note(sig, channel, status, reason, kind="blind", target=target)
            return
        if other.hungup:
            await new.hangup()
            self._note(sig, channel, 487, "Request Terminated", kind="blind", target=target)
            return
        await self._join(other, new)
        self._note(sig, channel, 200, "OK", kind="blind", target=target, call=new.id)
        await call.hangup()

    async def _attended(self, sig: SipSignaling, call: Call, other: Call, replaced: int, target: str) -> None:
        second = self.engine.calls.get(replaced)
        peer2 = second.bridged_to if second is not None else None
        if second is None or peer2 is None or peer2.hungup:
            self._note(sig, call.channel, 481, "Call Does Not Exist", kind="attended", target=target)
            return
        await self._join(other, peer2)
        self._note(sig, call.channel, 200, "OK", kind="attended", target=target, call=peer2.id)
        for c in (call, second):
            await c.hangup()

    @staticmethod
    async def _join(a: Call, b: Call) -> None:
        """Bridge a and b; when either hangs up, the other is cleared too."""
        try:
            await a.bridge(b)
        except CallError:
            for c in (a, b):
                await c.hangup()
            return
        a.on_hangup(lambda _c: b.engine.hangup(b))
        b.on_hangup(lambda _c: a.engine.hangup(a))


def install(engine: Engine) -> ReferTransfers:
    """Carry out transfers SIP peers ask for on `engine` (no-op for boards without SIP)."""
    return ReferTransfers(engine)
