"""Soak: `python -m bench.soak --calls 100000 --channels 240` runs simulated calls through the demo hotline on one
engine (virtual time) and prints the peak memory, open file descriptors, memory growth per 1,000 calls after
warm-up (goal: < 1 KiB) and the channels left stuck (goal: 0).

Every `--every` calls the soak takes a quiet point: no new caller comes until every caller so far is done and the
clearing has reached the engine (run_simulation's quiet_every). There it counts the calls still on the engine (a
stuck channel shows at once, not only at the end), collects garbage, gives freed heap back as the engine does
every 5 s (trim_heap) and samples three figures: the resident set (RSS, what the system sees), the bytes malloc
has handed out and not had back (glibc mallinfo2: Python objects, numpy buffers and the C modules' allocations
alike; freed memory the allocator keeps is not counted) and the blocks Python's own allocator holds. A sample
taken while calls are up would also weigh the calls up at that instant (50 to 100 on 240 channels, each holding
a few KiB), which swings a sample by some 400 KiB and hides a slope of 1 KiB per 1,000 calls; at a quiet point
what is held is what the calls before left behind. The growth per 1,000 calls is the least-squares slope of
each over the samples from the warm-up point (30 % of the calls) on: growth of the malloc figure is memory
really held by more and more objects (a leak); RSS growth without it is the allocator or a high-water mark
(freed pages kept).

Ends with the line
`soak calls=N peak_rss_kib=P growth_kib_per_1000_calls=G per_call_bytes=B fds_start=F0 fds_end=F1 stuck=S ...`
followed by `malloc_growth_kib_per_1000_calls=M py_blocks_growth_per_1000_calls=K warmup_calls=W`,
`stuck_at_quiet_points=Q` (the most calls found on the engine at a quiet point; goal 0) and the engine's heap
trims between ticks (media/heaptrim.py): `heap_trims=T heap_trim_worst_ms=X heap_trim_total_s=Y`.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import sys
from typing import Any

from trunkline.app.simulate import run_simulation
from trunkline.data.procstat import open_fds, peak_rss_kib, rss_kib
from trunkline.media.heaptrim import HeapTrimStats, trim_heap


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_MALLINFO2 = getattr(_LIBC, "mallinfo2", None)     # glibc >= 2.33
if _MALLINFO2 is not None:
    _MALLINFO2.restype = _MallInfo2


def malloc_kib() -> int:
    """Bytes malloc has handed out and not had back, KiB (heap chunks in use + mmapped chunks; -1 without
    glibc's mallinfo2)."""
    if _MALLINFO2 is None:
        return -1
    m = _MALLINFO2()
    return int((m.uordblks + m.hblkhd) // 1024)


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
    heap: list[tuple[int, int]] = []              # (calls, malloc in use KiB)
    blocks: list[tuple[int, int]] = []            # (calls, Python allocator blocks)
    fds_start = open_fds()
    trim: list[HeapTrimStats] = []                # the engine's heap trimmer at the end

    def monitor(done: int, engine: Any) -> None:
        trim[:] = [engine.heap_trim.snapshot()]
        gc.collect()
        trim_heap()
        samples.append((done, rss_kib()))
        heap.append((done, malloc_kib()))
        blocks.append((done, sys.getallocatedblocks()))

    result = asyncio.run(run_simulation(calls, channels, trunk="analog", virtual=True, seed=seed, progress=False,
                                        monitor=monitor, quiet_every=every))
    gc.collect()

    def warm(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [p for p in points if p[0] >= warmup * calls] or points
    per_call_kib = slope(warm(samples))
    return {**result, "peak_rss_kib": peak_rss_kib(), "growth_kib_per_1000_calls": round(per_call_kib * 1000, 1),
            "per_call_bytes": round(per_call_kib * 1024, 1), "fds_start": fds_start, "fds_end": open_fds(),
            "samples": samples, "malloc_samples": heap, "block_samples": blocks,
            "malloc_growth_kib_per_1000_calls": round(slope(warm(heap)) * 1000, 1),
            "py_blocks_growth_per_1000_calls": round(slope(warm(blocks)) * 1000, 1),
            "warmup_calls": int(warmup * calls), "heap_trim": trim[0] if trim else HeapTrimStats()}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=100000)
    p.add_argument("--channels", type=int, default=240, help="simulated lines (240: eight E1 spans)")
    p.add_argument("--every", type=int, default=1000, help="sample memory every N calls")
    args = p.parse_args(argv)
    r = soak(args.calls, args.channels, args.every)
    ht = r["heap_trim"]
    for (done, kib), (_, heap), (_, blocks) in zip(r["samples"], r["malloc_samples"], r["block_samples"]):
        print(f"  {done:>7} calls  rss {kib} KiB  malloc {heap} KiB  py_blocks {blocks}")
    print(f"soak calls={r['calls']} peak_rss_kib={r['peak_rss_kib']} "
          f"growth_kib_per_1000_calls={r['growth_kib_per_1000_calls']} per_call_bytes={r['per_call_bytes']} "
          f"fds_start={r['fds_start']} fds_end={r['fds_end']} stuck={r['stuck']} "
          f"answered={r['answered']} completed={r['completed']} failed={r['failed']} "
          f"malloc_growth_kib_per_1000_calls={r['malloc_growth_kib_per_1000_calls']} "
          f"py_blocks_growth_per_1000_calls={r['py_blocks_growth_per_1000_calls']} warmup_calls={r['warmup_calls']} "
          f"stuck_at_quiet_points={r['stuck_max']} "
          f"heap_trims={ht.trims} heap_trim_worst_ms={ht.worst_s * 1000:.2f} heap_trim_total_s={ht.busy_s:.3f}")
    return 0 if r["stuck"] == 0 and r["stuck_max"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
