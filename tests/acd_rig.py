"""The ACD on the real media engine and card simulator, in virtual time: the rig the ACD tests share.

Callers come in on analog trunks (hw_sim Phone), agents and supervisors are
FXS stations (hw_sim Station). Who hears whom is measured on the audio each
far-end party actually receives: every party sends its own tone and the
Goertzel energy at each frequency says which parties are audible.
"""
import asyncio
import random

import numpy as np
from sqlalchemy import select

from trunkline.acd.core import ACDCore
from trunkline.acd.models import AcdQueueLog
from trunkline.acd.queues import QueueConfig
from trunkline.acd.service import ACD
from trunkline.pstn import SimRig

FREQ = {"caller": 500.0, "agent": 1100.0, "sup": 1700.0, "agent2": 2300.0}


def tone(f, seconds=1.5, amp=6000):
    t = np.arange(int(seconds * 8000)) / 8000.0
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.int16)


def level(x, f):
    """RMS amplitude of the component at f Hz (Goertzel over the whole block)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return 0.0
    k = np.exp(-2j * np.pi * f * np.arange(n) / 8000.0)
    return float(np.abs(np.dot(x, k)) * 2 / n / np.sqrt(2))


class Rig:
    """Card + switch + engine + ACD in one asyncio loop."""

    def __init__(self, name, queues, agents, fxs=4, fxo=4, tmp=None, session_factory=None, e1=0, board="sim",
                 browser_phones=0, **cfg):
        # ISDN PRI spans (e1 > 0) get the network side that answers and places calls; board="dahdi" runs
        # the dahdi:// backend on the emulated /dev/dahdi
        self.rig = SimRig.with_query(f"fxo={fxo}&fxs={fxs}" + (f"&e1={e1}" if e1 else ""), name=name, trunk="pri",
                                     board=board, browser_phones=browser_phones)
        self.name = name
        self.card, self.sim, self.board, self.engine = self.rig.card, self.rig.sim, self.rig.board, self.rig.engine
        config = {"queues": queues, "agents": agents, "instance": name}
        if tmp is not None:
            config["recordings_dir"] = str(tmp)
        config.update(cfg)
        self.acd = ACD(self.engine, session_factory=session_factory, config=config)
        self.results = []
        self.docs = []
        self.acd.core.hub.subscribe(self.docs.append)

    def route(self, queue, data=None, priority=0):
        async def flow(call):
            await call.answer()
            self.results.append(await self.acd.enqueue(call, queue, data=data, priority=priority))
        self.engine.route(flow)

    async def start(self, *agents):
        """Run the engine and the ACD; log `agents` in."""
        self.runner = asyncio.ensure_future(self.engine.run())
        await self.acd.start()
        for a in agents:
            self.acd.login(a)

    async def caller(self, from_, number="5000"):
        """A caller dialling in from `from_`, once the call is answered."""
        ph = self.sim.call(number, from_=from_)
        await ph.wait_answer(30)
        return ph

    async def pick_up(self, port, ring=10):
        """Station `port` picks up once it rings (within `ring` s) and settles for 0.5 s."""
        st = self.sim.station(port)
        await st.wait_ring(ring)
        st.offhook()
        await self.sim.sleep(0.5)
        return st

    async def stop(self):
        self.acd.stop()
        self.engine.stop()
        await self.runner
        self.rig.close()

    def log(self, event=None):
        with self.acd.core.sf() as s:
            q = select(AcdQueueLog).order_by(AcdQueueLog.id)
            if event:
                q = q.where(AcdQueueLog.event == event)
            return list(s.scalars(q))

    def docs_of(self, type_, agent=None):
        return [d for d in self.docs if d["type"] == type_ and (agent is None or d.get("agent") == agent)]


class BrowserParty:
    """A browser phone (drivers/backends/browser.py) as a far-end party for hear(): a task feeds its queued
    audio in 20 ms frames and collects what the engine sends it, in the switch's (virtual) time."""

    def __init__(self, switch, phone):
        self.switch, self.phone = switch, phone
        self._play = np.zeros(0, dtype=np.int16)
        self._got = []
        self._capture = False
        phone.attached = True
        self.task = asyncio.ensure_future(self._pump())

    async def _pump(self):
        while True:
            chunk, self._play = self._play[:160], self._play[160:]
            self.phone.push_from_browser(np.pad(chunk, (0, 160 - len(chunk))))
            await self.switch.sleep(0.02)
            got = self.phone.take_to_browser(160)
            if self._capture:
                self._got.append(got)

    def play_nowait(self, samples):
        self._play = np.concatenate([self._play, np.asarray(samples, dtype=np.int16)])

    def start_capture(self):
        self._capture = True

    def take_captured(self):
        out = np.concatenate(self._got) if self._got else np.zeros(0, dtype=np.int16)
        self._got = []
        return out


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def connect_caller(rig, port=0, caller="13800138000"):
    ph = rig.sim.call("5000", from_=caller)
    await ph.wait_answer(30)
    st = rig.sim.station(port)
    await st.wait_ring(30)
    st.offhook()
    await rig.sim.sleep(0.5)
    return ph, st


async def hear(parties, seconds=1.0):
    """Every party sends its tone; returns {listener: {speaker: level}}."""
    for name, p in parties.items():
        p.play_nowait(tone(FREQ[name], seconds + 0.4))
    sw = next(iter(parties.values())).switch
    await sw.sleep(0.2)
    for p in parties.values():
        p.start_capture()
        p.take_captured()
    await sw.sleep(seconds)
    out = {}
    for name, p in parties.items():
        got = p.take_captured()
        out[name] = {s: level(got, FREQ[s]) for s in parties}
    return out


def print_matrix(title, m):
    names = list(m)
    print(f"\n{title}: level heard (rows: listener, cols: speaker)")
    print("          " + "".join(f"{n:>9}" for n in names))
    for r in names:
        print(f"{r:>9} " + "".join(f"{m[r][c]:9.0f}" for c in names))


def billing_core(session_factory, clock, agents=("1001", "1002"), instance="t"):
    """An ACDCore on `session_factory` with queue "billing" (top-down) and `agents` (external number 5)
    logged in; `clock` is a one-element list holding the ACD time."""
    core = ACDCore(session_factory, instance=instance, clock=lambda: clock[0], rng=random.Random(1))
    core.define_queue(QueueConfig(name="billing", strategy="top-down"))
    for a in agents:
        core.define_agent({"id": a, "name": f"Agent {a}", "number": "5"})
        core.add_member("billing", a)
        core.login(a)
    return core
