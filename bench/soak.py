"""Soak: `python -m bench.soak --calls 100000 --channels 60` runs simulated calls through the demo hotline on one
engine (virtual time) and prints the peak memory, open file descriptors, memory growth per 1,000 calls after
warm-up (goal: < 1 KiB) and the channels left stuck (goal: 0).

Ends with the line
`soak calls=N peak_rss_kib=P growth_kib_per_1000_calls=G per_call_bytes=B fds_start=F0 fds_end=F1 stuck=S`.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from typing import Any

from trunkline.app.simulate import run_simulation


def rss_kib() -> int:
    """Resident memory of this process now, KiB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_kib() -> int:
    """Peak resident memory of this process, KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def open_fds() -> int:
    """File descriptors open now."""
    return len(os.listdir("/proc/self/fd"))


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of (calls, KiB) points: KiB per call."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def soak(calls: int, channels: int, every: int = 1000, warmup: float = 0.3, seed: int = 1) -> dict[str, Any]:
    """Run `calls` simulated calls on `channels`, sampling memory every `every` calls; the measurements."""
    samples: list[tuple[int, int]] = []
    fds_start = open_fds()

    def monitor(done: int, engine: object) -> None:
        if done % every == 0:
            gc.collect()
            samples.append((done, rss_kib()))

    result = asyncio.run(run_simulation(calls, channels, trunk="analog", virtual=True, seed=seed, progress=False,
                                        monitor=monitor))
    gc.collect()
    after = [p for p in samples if p[0] >= warmup * calls] or samples
    per_call_kib = slope(after)
    return {**result, "peak_rss_kib": peak_kib(), "growth_kib_per_1000_calls": round(per_call_kib * 1000, 1),
            "per_call_bytes": round(per_call_kib * 1024, 1), "fds_start": fds_start, "fds_end": open_fds(),
            "samples": samples}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=100000)
    p.add_argument("--channels", type=int, default=60)
    p.add_argument("--every", type=int, default=1000, help="sample memory every N calls")
    args = p.parse_args(argv)
    r = soak(args.calls, args.channels, args.every)
    for done, kib in r["samples"]:
        print(f"  {done:>7} calls  rss {kib} KiB")
    print(f"soak calls={r['calls']} peak_rss_kib={r['peak_rss_kib']} "
          f"growth_kib_per_1000_calls={r['growth_kib_per_1000_calls']} per_call_bytes={r['per_call_bytes']} "
          f"fds_start={r['fds_start']} fds_end={r['fds_end']} stuck={r['stuck']} "
          f"answered={r['answered']} completed={r['completed']} failed={r['failed']}")
    return 0 if r["stuck"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
