"""Test harness: a fresh simulated card, its far-end switch and an engine, driven in virtual time."""
import asyncio
import itertools
import os

from trunkline.drivers.board import open_board
from trunkline.hw_sim import Switch, forget_card, open_card
from trunkline.media import Engine, PromptLibrary

_n = itertools.count()


class Rig:
    """A card + switch + engine; `run(coro)` drives the engine until the scenario coroutine returns."""

    def __init__(self, query="fxo=4&fxs=2", prompts_dirs=(), trunk="pri", **engine_kw):
        self.name = f"rig{os.getpid()}_{next(_n)}"
        self.url = f"sim://{self.name}?{query}"
        forget_card(self.name)
        self.card = open_card(self.url)
        self.sim = Switch(self.card)
        self.trunk = trunk
        if "e1=" in query or "t1=" in query:
            from trunkline.hw_sim.trunks import attach_trunk_far_end
            attach_trunk_far_end(self.sim, trunk)
        self.board = open_board(self.url)
        self.engine = Engine(self.board, prompts=PromptLibrary(list(prompts_dirs)), trunk_signaling=trunk,
                             **engine_kw)

    def run(self, scenario, limit=600.0):
        """Run the engine in virtual time until scenario() (a coroutine function) finishes; returns its result."""
        async def main():
            task = asyncio.ensure_future(self.engine.run(until=limit))
            try:
                return await scenario()
            finally:
                self.engine.stop()
                await task
        try:
            return asyncio.run(main())
        finally:
            self.engine.recorders.close()
            forget_card(self.name)
