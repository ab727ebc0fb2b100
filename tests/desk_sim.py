"""The real media engine + IVR flow + ACD on the card simulator in real time, in its own thread, sharing the
web admin's database: what the browser tests of the agent workbench, the browser softphone and the
supervisor console drive (tests/webadmin/test_workbench.py and friends)."""
import asyncio
import threading

from web_sim import wind_down

from trunkline.acd.service import ACD
from trunkline.ivr.flows import FlowRegistry, Router, Services
from trunkline.ivr.prompts import PromptLibrary
from trunkline.pstn import SimRig


class DeskSim:
    """SimRig (`query`, `browser_phones`) + flow `flow` (YAML) + ACD (`acd_config`) in real time.
    `prompts` maps prompt names to 8 kHz int16 samples."""

    def __init__(self, factory, tmp, query, flow, acd_config, prompts=None, browser_phones=0):
        self.factory, self.tmp = factory, tmp
        self.query, self.flow, self.acd_config = query, flow, acd_config
        self.prompts, self.browser_phones = prompts or {}, browser_phones
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        self.error = None
        assert self.ready.wait(60), "engine did not start"
        assert self.error is None, f"engine did not start: {self.error!r}"

    def _main(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        except BaseException as exc:         # fail the fixture at once, not after the start timeout
            self.error = exc
            self.ready.set()
            raise

    async def _run(self):
        self.rig = SimRig.with_query(self.query, name=f"desk-{id(self)}", browser_phones=self.browser_phones)
        self.sim, self.engine = self.rig.sim, self.rig.engine
        lib = PromptLibrary(self.tmp / "prompts", language="zh", tts=False)
        for name, samples in self.prompts.items():
            lib.add_samples(name, samples, lang="zh")
        services = Services(prompts=lib, session_factory=self.factory, data_dir=str(self.tmp / "data"))
        self.acd = ACD(self.engine, self.factory, config={"recordings_dir": str(self.tmp / "recordings"),
                                                          **self.acd_config})
        services.acd = self.acd
        registry = FlowRegistry(services)
        registry.load_yaml(self.flow)
        Router(registry, "main").install(self.engine)
        self.rig.board.set_realtime(True)
        self._stop = asyncio.Event()
        runner = asyncio.ensure_future(self.engine.run())
        await self.acd.start()
        self.ready.set()
        await self._stop.wait()
        await wind_down(self.engine, runner, self.acd.stop)
        self.rig.close()

    def do(self, coro, timeout=60):
        """Run `coro` on the engine's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)
