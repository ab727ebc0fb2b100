"""Call-centre density on one core: every channel in a call, recorded, with bridges, prompts, fax and CPA/AMD.

Run: python -m bench.callcenter_density --channels N [--ticks 50] [--warmup 150] [--format g711|wav]

A simulated card of ceil(N/30) E1 PRI spans carries N calls set up through ISDN
signaling (Q.921/Q.931, the PRI far end of the simulated network): a quarter are
callers bridged to a quarter of agent calls the engine dialled out (bridged = N/2
channels), 1% are inbound faxes received by call.receive_fax (far-end fax machines
send a 2-page document), 5% are outbound campaign calls under call-progress and
answering-machine analysis (the campaign's CPA+AMD tap; the far end plays a
greeting), and the rest hear a looping prompt. DTMF detection runs on every channel
and every call is recorded two-track to disk (G.711 WAV by default). Callers talk
(speech-like noise, DTMF, silence); agents talk back.

Measured once all calls are up and `--warmup` ticks have run (the recording buffers each used once,
so their first-touch page faults are not counted): the process CPU time per 20 ms tick of the engine
(its tick, the signaling stacks' polls, the recording writer thread, the final
flush to disk), excluding the simulated card's C core and the simulated far end
(network switch, far-end fax machines), which run in the card's tick. The machine
may be shared: figures are CPU time, not wall time. channels/core = N x 20 ms /
engine CPU per tick. Last line (a fixed contract):
`callcenter_density channels=N recorded=R bridged=B channels_per_core=X`.
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench.engine_density import traffic  # noqa: E402
from trunkline.fax.convert import synth_document  # noqa: E402
from trunkline.fax.tiff import write_tiff  # noqa: E402
from trunkline.ivr.detect_bank import DetectBank  # noqa: E402
from trunkline.pstn import SimRig  # noqa: E402
from trunkline.pstn.fax_far import FaxMachine  # noqa: E402
from trunkline.pstn.rig import unique_name  # noqa: E402
from trunkline.pstn.switch import Destination  # noqa: E402

TICK = 0.020


def mix(n):
    """How N channels are used: (callers bridged, agents, prompt calls, faxes, CPA calls)."""
    fax, cpa = round(n * 0.01), round(n * 0.05)
    pairs = n // 4
    return pairs, pairs, n - 2 * pairs - fax - cpa, fax, cpa


class Setup:
    """Builds the call mix on a rig in virtual time."""

    def __init__(self, n, workdir, fmt, seed=1):
        self.n = n
        self.dir = workdir
        self.fmt = fmt
        self.rng = np.random.default_rng(seed)
        self.rig = SimRig.for_trunk("pri", channels=n, name=unique_name("cc"))
        self.eng = self.rig.engine
        self.sim = self.rig.sim
        self.talk = [traffic(4.0, self.rng) for _ in range(16)]
        self.prompt = (np.sin(np.arange(8000) * 2 * np.pi * 425 / 8000) * 4000).astype(np.int16)
        self.clip = self.eng.pool.add(self.prompt, key="cc-prompt")
        self.callers: list = []               # answered calls waiting for an agent
        self.up = {"caller": 0, "prompt": 0, "fax": 0, "agent": 0, "cpa": 0}
        self.bridged = 0
        self.doc = os.path.join(workdir, "doc.tif")
        write_tiff(self.doc, synth_document(2, rows=400, seed=4), "g4")
        self.taps = []
        self.eng.route(self.flow)
        greeting = np.concatenate([self.talk[1], self.talk[1]])

        async def answering_party(party):
            party.play_nowait(greeting if party.number.startswith("7") else self.talk[party.channel % 16])
        self.sim.default_destination = Destination("answer", 0.5, answering_party)

    def record(self, call):
        """Record a call two-track into the work directory."""
        self.eng.recorders.start(call.channel, os.path.join(self.dir, f"{call.channel}.wav"), two_track=True,
                                 max_seconds=None, fmt=self.fmt)

    async def flow(self, call):
        """Inbound calls: callers wait for an agent, fax calls receive, the rest hear the prompt."""
        await call.answer()
        self.record(call)
        kind = call.called[:1]
        if kind == "1":
            self.callers.append(call)
            self.up["caller"] += 1
        elif kind == "2":
            self.up["fax"] += 1
            await call.receive_fax(os.path.join(self.dir, f"fax{call.channel}.tif"))
        else:
            self.eng.players.play(call.channel, self.clip, loop=True)
            self.up["prompt"] += 1
        await call.wait_hangup()

    async def agent(self, i):
        """Dial agent i, answer, bridge it to a waiting caller."""
        call = await self.eng.make_call(f"8{i:05d}", caller_id="4000", timeout=30)
        self.record(call)
        self.up["agent"] += 1
        while not self.callers:
            await self.eng.sleep(0.1)
        await call.bridge(self.callers.pop())
        self.bridged += 2
        await call.wait_hangup()

    async def cpa(self, i):
        """A campaign call: dial, then the CPA+AMD tap analyses the far end's greeting."""
        call = await self.eng.make_call(f"7{i:05d}", caller_id="4000", timeout=30)
        self.record(call)
        self.up["cpa"] += 1
        self.detect = DetectBank.of(self.eng)
        self.taps.append([call, self.detect.add(call)])
        await call.wait_hangup()

    async def build(self):
        """Place every call and wait until all are up; returns the (kind -> count) it reached."""
        eng, sim = self.eng, self.sim
        pairs, agents, prompts, fax, cpa = mix(self.n)
        await eng.sleep(1.0)                                   # D-channels up
        for kind, count in (("1", pairs), ("2", fax), ("3", prompts)):
            for i in range(count):
                phone = sim.call(f"{kind}{i:05d}", from_=f"138{i:08d}", trunk="pri")
                if kind == "2":
                    asyncio.ensure_future(self._far_fax(phone))
                else:
                    asyncio.ensure_future(self._talker(phone))
        for _ in range(300):                                   # inbound first: no glare with our dialling
            if self.up["caller"] + self.up["prompt"] + self.up["fax"] == pairs + prompts + fax:
                break
            await eng.sleep(0.1)
        tasks = [asyncio.ensure_future(self.agent(i)) for i in range(agents)]
        tasks += [asyncio.ensure_future(self.cpa(i)) for i in range(cpa)]
        want = {"caller": pairs, "prompt": prompts, "fax": fax, "agent": agents, "cpa": cpa}
        for _ in range(300):
            if self.up == want and self.bridged == 2 * pairs:
                break
            await eng.sleep(0.1)
        self.tasks = tasks
        return dict(self.up), self.bridged

    async def _talker(self, phone):
        await phone.wait_answer()
        phone.play_nowait(np.tile(self.talk[phone.channel % 16], 4))

    async def _far_fax(self, phone):
        await phone.wait_answer()
        try:
            await FaxMachine(phone, calling=True).send_fax(self.doc)
        except Exception:   # the bench ends calls mid-fax: the far end's error is expected then
            pass


def measure(n, ticks=50, fmt="G711", warmup=150):
    """Engine CPU seconds per tick with the call-centre mix on n channels; (per tick, recorded, bridged)."""
    workdir = tempfile.mkdtemp(prefix="ccd")
    setup = Setup(n, workdir, fmt)
    rig, eng = setup.rig, setup.eng
    out = {}
    card_time = [0.0]
    orig_tick = rig.board.backend.tick

    def timed_card_tick():
        t0 = time.process_time()
        orig_tick()
        card_time[0] += time.process_time() - t0
    rig.board.backend.tick = timed_card_tick

    parts = {"fax bank": 0.0, "CPA/AMD bank": 0.0}     # engine stages outside the engine's own media path

    def timed(name, fn):
        def run(*args):
            t0 = time.process_time()
            fn(*args)
            parts[name] += time.process_time() - t0
        return run

    async def scenario():
        out["up"], out["bridged"] = await setup.build()
        out["recorded"] = len(eng.recorders.active)
        for _ in range(warmup):                            # steady state: the recorder's buffers in use once
            eng.tick()
        for entry in setup.taps:                           # fresh analysis over the timed window
            setup.detect.remove(entry[1])
            entry[1] = setup.detect.add(entry[0])
        if eng.fax_bank is not None:
            eng.fax_bank.step = timed("fax bank", eng.fax_bank.step)
        if setup.taps:
            setup.detect.rx = timed("CPA/AMD bank", setup.detect.rx)
        for _ in range(5):
            eng.tick()
        eng.recorders.sync()
        card_time[0] = 0.0
        parts.update({k: 0.0 for k in parts})
        t0 = time.process_time()
        for _ in range(ticks):
            eng.tick()
        eng.recorders.sync()
        out["cpu"] = time.process_time() - t0 - card_time[0]
        out["card"] = card_time[0]
    try:
        rig.run(scenario, limit=600.0)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out["parts"] = {k: v / ticks for k, v in parts.items()}
    return out["cpu"] / ticks, out["card"] / ticks, out["recorded"], out["bridged"], out["up"], out["parts"]


def main(argv=None):
    """Print the call-centre density report; the last line is the fixed contract."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, required=True)
    p.add_argument("--ticks", type=int, default=50)
    p.add_argument("--warmup", type=int, default=150, help="ticks run before the timed ones")
    p.add_argument("--format", choices=["g711", "wav"], default="g711",
                   help="recording files: G.711 WAV (as on the line) or 16-bit linear WAV")
    args = p.parse_args(argv)
    n = args.channels
    eng, card, recorded, bridged, up, parts = measure(n, args.ticks, "G711" if args.format == "g711" else "WAV",
                                                      args.warmup)
    print(f"call-centre density, {n} channels on PRI (one core; CPU per 20 ms tick; shared machine)")
    print(f"  calls up: {up}")
    print(f"  engine {eng * 1e3:.2f} ms/tick ({eng / TICK:.1%} of the tick), card+far end {card * 1e3:.2f} ms/tick, "
          f"{eng / n * 1e6:.2f} us/channel/block")
    rest = eng - sum(parts.values())
    print("  of the engine: " + ", ".join(f"{k} {v * 1e3:.2f} ms/tick" for k, v in parts.items())
          + f", the rest (media path, DTMF, recording, signaling) {rest * 1e3:.2f} ms/tick "
          f"= {TICK / (rest / n):.0f} channels/core")
    print(f"callcenter_density channels={n} recorded={recorded} bridged={bridged} "
          f"channels_per_core={TICK / (eng / n):.0f}")


if __name__ == "__main__":
    main()
