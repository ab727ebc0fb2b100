"""Call setups per CPU second on the simulator in virtual time: China No.7 (SS7/ISUP) beside ISDN PRI
and China No.1 (MFC/R2), through the whole stack (card simulator, signaling, media engine, far end).

Run: python -m bench.call_setup [--trunks ss7 pri r2] [--calls 300] [--channels 60]

Each call: the switch's far end offers it (IAM / SETUP / R2 seizure and register signals), the
engine's flow answers at once and clears after 0.1 s, up to `channels` at a time. Reported per
trunk: CPU seconds of the process for the whole run, virtual seconds it took, and setups per CPU
second (answered calls / CPU seconds) — signaling plus the media ticks the calls ride on.
"""
import argparse
import asyncio
import time

from trunkline.pstn import SimError, SimRig


def measure(trunk: str, calls: int = 300, channels: int = 60) -> dict[str, float]:
    """Run `calls` inbound calls on `trunk`; returns answered, cpu_s, virtual_s, setups_per_cpu_s."""
    rig = SimRig.for_trunk(trunk, channels=channels)

    async def flow(call):
        await call.answer()
        await call.wait(0.1)
        await call.hangup()

    rig.engine.route(flow)
    done = {"answered": 0}

    async def caller(i: int, slots: asyncio.Semaphore) -> None:
        async with slots:
            while True:
                try:
                    phone = rig.sim.call("95588", from_=f"138{i:08d}", trunk=trunk)
                    break
                except SimError:
                    await rig.sim.sleep(0.05)
            try:
                await phone.wait_answer(timeout=30)
                done["answered"] += 1
                await phone.wait_hangup(timeout=30)
            except SimError:
                return

    async def scenario() -> tuple[float, float]:
        await rig.sim.sleep(3.0)                    # links up, circuits reset
        slots = asyncio.Semaphore(channels)
        t0, v0 = time.process_time(), rig.card.now
        await asyncio.gather(*(caller(i, slots) for i in range(calls)))
        return time.process_time() - t0, rig.card.now - v0

    cpu, virtual = rig.run(scenario, limit=3600.0)
    return {"answered": done["answered"], "cpu_s": cpu, "virtual_s": virtual,
            "setups_per_cpu_s": done["answered"] / cpu if cpu > 0 else 0.0}


def main() -> None:
    """Print one line per trunk type."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trunks", nargs="+", default=["ss7", "pri", "r2"])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--channels", type=int, default=60)
    args = ap.parse_args()
    for trunk in args.trunks:
        r = measure(trunk, args.calls, args.channels)
        print(f"call_setup trunk={trunk} calls={args.calls} answered={r['answered']} cpu_s={r['cpu_s']:.2f} "
              f"virtual_s={r['virtual_s']:.1f} setups_per_cpu_second={r['setups_per_cpu_s']:.1f}", flush=True)


if __name__ == "__main__":
    main()
