"""A scripted far-end fax machine for the simulator, built from our own FaxEndpoint.

It sits on a far-end party's channel (a caller from `Switch.call` or the party of a call
Trunkline placed): every card tick it feeds the endpoint what the far end heard
(`card.far_capture_take`) and queues what the endpoint sends (`card.far_play`), so a
whole T.30 call runs in media time.

    phone = rig.sim.call("fax", from_="861088886666")
    await phone.wait_answer()
    result = await FaxMachine(phone, modems=("v27ter", "v29")).send_fax("doc.tif")
"""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.constants import RATE
from trunkline.fax import FaxEndpoint
from trunkline.hw_sim.card import SimCard
from trunkline.pstn.switch import AnalogParty, Phone, TrunkCall

__all__ = ["FaxMachine", "FarFaxError"]


class FarFaxError(RuntimeError):
    """The far-end fax machine cannot run (the call ended, another session is busy on the channel)."""


class FaxTerminal(Protocol):
    """A fax terminal a FaxMachine can drive: our FaxEndpoint or a peer's."""

    def rx(self, samples: NDArray[np.int16]) -> None: ...
    def tx(self, n: int) -> NDArray[np.int16]: ...
    @property
    def done(self) -> bool: ...


_sessions: "weakref.WeakKeyDictionary[SimCard, dict[int, _Session]]" = weakref.WeakKeyDictionary()


def _tick_for(card: SimCard) -> "dict[int, _Session]":
    """The one tick hook per card that drives every far-end fax session on it."""
    table = _sessions.get(card)
    if table is None:
        table = _sessions[card] = {}
        ref = weakref.ref(card)

        def tick() -> None:
            c = ref()
            if c is None:
                return
            for sess in list(_sessions.get(c, {}).values()):
                sess.step()
        card.add_tick_hook(tick)
    return table


class _Session:
    """One endpoint bound to one far-end channel, stepped once per card tick."""

    def __init__(self, machine: "FaxMachine", ep: FaxTerminal, fut: "asyncio.Future[Any]", timeout: float) -> None:
        self.m = machine
        self.ep = ep
        self.fut = fut
        self.card = machine.party.card
        self.ch = machine.party.channel
        self.deadline = self.card.now + timeout
        self.lead = 2 * self.card.block       # samples kept queued ahead of the line

    def step(self) -> None:
        party = self.m.party
        if self.fut.done():
            self.close()
            return
        heard = self.card.far_capture_take(self.ch)
        if len(heard):
            self.ep.rx(heard)
        if self.ep.done:
            self.close()
            self.fut.set_result(getattr(self.ep, "result", None))
            return
        if party.ended:
            self.close()
            if self._finish_on_hook():
                self.fut.set_result(getattr(self.ep, "result", None))
            else:
                self.fut.set_exception(FarFaxError(f"call on channel {self.ch} ended during the fax"))
            return
        if self.card.now > self.deadline:
            self.close()
            self.fut.set_exception(FarFaxError(f"far-end fax on channel {self.ch} timed out"))
            return
        n = self.lead - self.card.far_play_pending(self.ch)
        if n > 0:
            self.card.far_play(self.ch, self.ep.tx(n))

    def _finish_on_hook(self, grace_s: float = 2.0) -> bool:
        """The line dropped: let the terminal finish locally (e.g. after its DCN) on silence, up to grace_s."""
        blk = self.card.block
        silence = np.zeros(blk, dtype=np.int16)
        for _ in range(int(grace_s * RATE / blk)):
            if self.ep.done:
                return True
            self.ep.tx(blk)
            self.ep.rx(silence)
        return bool(self.ep.done)

    def close(self) -> None:
        _sessions.get(self.card, {}).pop(self.ch, None)


class FaxMachine:
    """A far-end Group 3 fax machine on a scripted party; `calling` defaults to True for callers."""

    def __init__(self, party: TrunkCall, calling: bool | None = None, modems: Sequence[str] = ("v27ter", "v29", "v17"),
                 ecm: bool = False, ident: str = "FAR END FAX") -> None:
        self.party = party
        if calling is None:
            calling = _is_caller(party)
        self.calling = bool(calling)
        self.modems = tuple(modems)
        self.ecm = bool(ecm)
        self.ident = ident
        self.result: Any = None

    async def send_fax(self, path: str, timeout: float = 600.0) -> Any:
        """Send the TIFF-F at `path` on the party's call; returns the FaxResult (timeout in media s)."""
        return await self._run(send=path, timeout=timeout)

    async def receive_fax(self, path: str, timeout: float = 600.0) -> Any:
        """Receive a fax into a TIFF-F at `path` on the party's call; returns the FaxResult."""
        return await self._run(receive=path, timeout=timeout)

    async def _run(self, send: str | None = None, receive: str | None = None, timeout: float = 600.0) -> Any:
        ep = FaxEndpoint(self.calling, send=send, receive=receive, modems=self.modems, ecm=self.ecm,
                         ident=self.ident)
        return await self.run(ep, timeout)

    async def run(self, ep: FaxTerminal, timeout: float = 600.0) -> Any:
        """Drive any fax terminal with rx(int16 samples), tx(n) and a `done` flag on the party's channel
        (our FaxEndpoint, or a peer's); returns its `result` (None if it has none) once done."""
        party = self.party
        if party.ended:
            raise FarFaxError(f"call on channel {party.channel} has ended")
        table = _tick_for(party.card)
        if party.channel in table:
            raise FarFaxError(f"a fax session is already running on channel {party.channel}")
        party.start_capture()
        party.take_captured()                 # start from now: older audio is not part of the fax call
        party.card.far_play_clear(party.channel)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        table[party.channel] = _Session(self, ep, fut, timeout)
        self.result = await fut
        return self.result


def _is_caller(party: TrunkCall) -> bool:
    """True for parties that placed the call (callers from Switch.call), False for called parties."""
    if isinstance(party, Phone):
        return True
    if isinstance(party, AnalogParty):
        return False
    raise ValueError(f"cannot tell whether {type(party).__name__} placed the call: pass calling=True/False")
