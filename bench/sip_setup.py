"""SIP call setups per second: INVITE / 180 / 200 / ACK, then BYE / 200, between the simulator's SIP far
end and Trunkline's SIP span over loopback UDP, both in this process, in virtual time (as fast as the CPU
allows). Trunkline's flow answers at once and hangs up after 100 ms of media time.

Run: python -m bench.sip_setup [--calls 2000] [--channels 200]
Last line: `sip_setup calls=N answered=A seconds=S cpu_seconds=C setups_per_second=X setups_per_cpu_second=Y`
(both ends, and the engine ticking all channels, in one process).
"""
import argparse
import asyncio
import time

from trunkline.drivers.sip.config import SipSettings
from trunkline.pstn import SimError, SimRig


async def _scenario(rig, calls):
    answered = [0]

    async def flow(call):
        await call.answer()
        await call.wait(0.1)
        await call.hangup()

    rig.engine.route(flow)

    async def one(i):
        while True:
            try:
                phone = rig.sim.call("95588", from_=f"139{i:08d}", trunk="sip")
                break
            except SimError:
                await rig.sim.sleep(0.02)
        try:
            await phone.wait_answer(timeout=10)
            answered[0] += 1
            await phone.wait_hangup(timeout=10)
        except SimError:
            pass
    await asyncio.gather(*(one(i) for i in range(calls)))
    return answered[0]


def measure(calls, channels):
    """(answered, wall seconds, CPU seconds) for `calls` setups through `channels` SIP channels."""
    sip = SipSettings("127.0.0.1:0", channels=channels, open_numbers=["*"], invite_rate=1e6, invite_burst=1e6)
    rig = SimRig.for_trunk("sip", channels, sip=sip)     # no per-source INVITE limit for the bench
    t0, c0 = time.perf_counter(), time.process_time()
    answered = rig.run(lambda: _scenario(rig, calls), limit=3600)
    return answered, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None):
    """Print the setup rate."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--channels", type=int, default=200)
    args = p.parse_args(argv)
    answered, seconds, cpu = measure(args.calls, args.channels)
    print(f"sip_setup calls={args.calls} answered={answered} seconds={seconds:.1f} cpu_seconds={cpu:.1f} "
          f"setups_per_second={answered / seconds:.0f} setups_per_cpu_second={answered / cpu:.0f}")


if __name__ == "__main__":
    main()
