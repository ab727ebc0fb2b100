"""The simulation rig: a software card, its PSTN far end, a board and an engine, wired by trunk type.

One place builds them, for `trunkline run` on sim://, `trunkline simulate`, the ACD load
simulation, the benches and the tests:

    rig = SimRig.for_trunk("pri", channels=30)       # card + switch + PRI far end + board + engine
    rig.run(scenario)                                 # virtual time until scenario() returns
"""
from __future__ import annotations

import asyncio
import itertools
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from trunkline.drivers.board import open_board
from trunkline.drivers.sip.config import SipSettings
from trunkline.fax import FaxBank, FaxEndpoint, T38Endpoint
from trunkline.hw_sim import forget_card, open_card
from trunkline.hw_sim.card import parse_sim_url
from trunkline.hw_sim.dahdi_emu import EmulatedDahdi
from trunkline.media import Engine, PromptLibrary
from trunkline.pstn.sip_far import SipFarEnd
from trunkline.pstn.switch import SimError, Switch
from trunkline.pstn.trunks import attach_trunk_far_end

T = TypeVar("T")

#: trunk types whose far end speaks on E1 spans (analog lines need none)
E1_TRUNKS = ("pri", "r2", "ss7")

_serial = itertools.count()


def board_url_for(trunk: str, channels: int, name: str) -> str:
    """The sim:// URL of a board with `channels` bearer channels of trunk type analog, pri, r2 or ss7."""
    if trunk == "analog":
        return f"sim://{name}?fxo={channels}"
    if trunk == "sip":        # one station port on the card; the channels are a SIP span (sip=N)
        return f"sim://{name}?fxs=1&sip={channels}"
    return f"sim://{name}?e1={max(1, math.ceil(channels / 30))}"


def unique_name(prefix: str = "rig") -> str:
    """A card name no other rig in this process uses."""
    return f"{prefix}{os.getpid()}_{next(_serial)}"


async def drive(engine: Engine, work: Awaitable[T], until: float | None = None) -> T:
    """Run the engine until `work` finishes and return its result; stop the engine after it.

    If the engine stops first (a tick raised, or media time reached `until` s), `work` can never finish in
    virtual time: it is cancelled, and the engine's exception or a SimError is raised, instead of waiting forever."""
    ticking = asyncio.ensure_future(engine.run(until=until))
    job = asyncio.ensure_future(work)
    try:
        await asyncio.wait({ticking, job}, return_when=asyncio.FIRST_COMPLETED)
        if not job.done():
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
            ticking.result()                   # the tick's exception, if one stopped the engine
            raise SimError(f"the engine stopped at {engine.now:.2f} s of media time before the work finished")
        return job.result()
    finally:
        engine.stop()
        job.cancel()                           # a no-op once it is done
        await ticking


class SimRig:
    """A simulated card + far-end switch (+ trunk far end on E1 spans) + board + engine."""

    def __init__(self, url: str, trunk: str = "pri", prompts: PromptLibrary | Sequence[str] | None = None,
                 language: str = "en", switch_options: dict[str, Any] | None = None, fresh: bool = True,
                 signaling_options: dict[str, Any] | None = None, board: str = "sim",
                 sip: SipSettings | None = None, browser_phones: int = 0, **engine_kw: Any) -> None:
        self.url = url
        self.name = url[len("sim://"):].split("?", 1)[0]
        self.trunk = trunk
        if fresh:
            forget_card(self.name)
        self.card = open_card(url)
        self.sim = Switch(self.card, **(switch_options or {}))
        if trunk in E1_TRUNKS and any(span.kind in ("e1", "t1") for span in self.card.spans):
            attach_trunk_far_end(self.sim, trunk, **(signaling_options or {}))
        options = parse_sim_url(url)[2]
        if sip is None and options.get("sip"):    # sip=N: a SIP span on loopback open to any number from it
            sip = SipSettings("127.0.0.1:0", channels=int(options["sip"]), open_numbers=["*"])
        # board="dahdi": the same card behind an emulated /dev/dahdi, driven through the dahdi:// backend
        self.emulated_dahdi: EmulatedDahdi | None = None
        if board == "dahdi":
            self.emulated_dahdi = EmulatedDahdi(self.card, signaling=trunk if trunk in E1_TRUNKS else "pri")
            self.board = open_board("dahdi://")
            self.board.backend.clock_hooks.append(self.card.set_realtime)   # type: ignore[attr-defined]
        elif board == "sim":
            self.board = open_board(url, sip=sip, browser_phones=browser_phones)
        else:
            raise ValueError(f"unknown board type {board!r}: expected sim or dahdi")
        self.sip_far: SipFarEnd | None = None
        if sip is not None and trunk == "sip" and board == "sim":
            part = self.board.sip_parts[0][0]
            self.sip_far = SipFarEnd(self.sim, (part.transports.host, part.transports.port),
                                     channels=sip.channels)
            self.sim.trunks["sip"] = self.sip_far
        if prompts is not None and not isinstance(prompts, PromptLibrary):
            prompts = PromptLibrary(list(prompts), language)
        if prompts is not None:
            engine_kw["prompts"] = prompts
        engine_kw.setdefault("fax_endpoint_factory", FaxEndpoint)
        engine_kw.setdefault("fax_bank", FaxBank())
        self.engine = Engine(self.board, trunk_signaling=trunk if trunk in E1_TRUNKS else "pri",
                             signaling_options=signaling_options if trunk == "ss7" else None, **engine_kw)
        if self.engine.fax_endpoint_factory is not None:
            self.engine.t38_endpoint_factory = T38Endpoint     # fax on SIP calls: T.38 first

    @classmethod
    def for_trunk(cls, trunk: str, channels: int, name: str | None = None, **kw: Any) -> "SimRig":
        """A rig with `channels` bearer channels of trunk type analog, pri or r2 on a fresh card."""
        return cls(board_url_for(trunk, channels, name or unique_name()), trunk=trunk, **kw)

    @classmethod
    def with_query(cls, query: str = "fxo=4&fxs=2", name: str | None = None, **kw: Any) -> "SimRig":
        """A rig on a fresh card described by a sim:// query (fxo=, fxs=, e1=, t1=, gsm=, ...)."""
        return cls(f"sim://{name or unique_name()}?{query}", **kw)

    def run(self, scenario: Callable[[], Awaitable[Any]], limit: float = 600.0) -> Any:
        """Run the engine in virtual time until scenario() finishes (or `limit` media seconds); its result."""
        try:
            return asyncio.run(drive(self.engine, scenario(), until=limit))
        finally:
            self.close()

    def close(self) -> None:
        """Release the engine's files and forget the card."""
        self.engine.close()
        self.board.close()
        if self.emulated_dahdi is not None:
            self.emulated_dahdi.close()
            self.emulated_dahdi = None
        if self.sip_far is not None:
            self.sip_far.close()
        forget_card(self.name)
