"""Test helper: the real media engine on the card simulator, running in its own thread, for web tests."""
import asyncio
import os
import threading

from trunkline.pstn import SimRig


async def wind_down(engine, runner, *stop):
    """End scripted phones and call flows while the engine still ticks, so nothing outlives the loop (after
    calling each of `stop`), then stop the engine and wait for its `runner` task."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and t is not runner]
    for s in stop:
        s()
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5.0)
    engine.stop()
    await runner


class SimServer:
    """A real Engine on a simulated analog board (`channels` FXO lines) in a background thread.

    Inbound calls are answered and held until the caller hangs up. `place(n, hold)` makes n calls
    from scripted phones that hang up after `hold` seconds (media time)."""

    def __init__(self, channels=4, realtime=True, name=None):
        self.name = name or f"web-{os.getpid()}-{id(self)}"
        self.url = f"sim://{self.name}?fxo={channels}"
        self.realtime = realtime
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.answered = 0
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "engine did not start"

    def _main(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._run())

    async def _run(self):
        rig = SimRig(self.url, trunk="analog", switch_options={"clip": os.environ.get("TL_WEB_CLIP", "v23")})
        board, self.sim, self.engine = rig.board, rig.sim, rig.engine

        async def flow(call):
            await call.answer()
            self.answered += 1
            while True:
                await call.wait(1.0)

        self.engine.route(flow)
        board.set_realtime(self.realtime)
        self._stop = asyncio.Event()
        runner = asyncio.ensure_future(self.engine.run())
        self.ready.set()
        await self._stop.wait()
        await wind_down(self.engine, runner)
        rig.close()

    def place(self, n, hold=5.0, first=13800138000, rate=None, caller_id=True):
        """Start n calls (caller IDs first, first+1, ...; none when caller_id is False) that hang up after
        `hold` seconds, `rate` new calls per second (None: all at once); returns a concurrent Future."""
        async def one(i):
            if rate:
                await self.sim.sleep(i / rate)
            phone = self.sim.call("95588", from_=str(first + i) if caller_id else "", trunk="analog")
            await phone.wait_answer(timeout=30)
            await phone.sleep(hold)
            await phone.hangup()

        async def many():
            await asyncio.gather(*(one(i) for i in range(n)))
        return asyncio.run_coroutine_threadsafe(many(), self.loop)

    def close(self):
        """Stop the engine and its thread."""
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)
