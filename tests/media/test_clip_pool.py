"""The clip pool under call churn (#16 soak: flat memory): anonymous play lists of every length, made and
released call after call on many channels, reuse the same space; the pool does not grow with the number of
calls and is empty again once every clip is released."""
import random
import tracemalloc

import numpy as np

from trunkline.data import procstat
from trunkline.media.heaptrim import trim_heap
from trunkline.media.player import ClipPool


def churn(pool, calls, channels=60, seed=7):
    """`calls` calls, at most `channels` at once, each holding one anonymous clip of 0.5..4 s (say-number
    lists); returns (top after each 1,000 calls)."""
    rng = random.Random(seed)
    live, tops = [], []
    for n in range(calls):
        if len(live) >= channels:
            pool.release(live.pop(rng.randrange(len(live))))
        live.append(pool.add(np.zeros(rng.randint(4000, 32000), dtype=np.int16)))
        if n % 1000 == 999:
            tops.append(pool.top)
    for clip in live:
        pool.release(clip)
    return tops


def test_pool_space_is_reused_and_given_back():
    pool = ClipPool(8000)
    pool.add(np.ones(800, dtype=np.int16), key=("prompt", "welcome"))    # a named prompt stays cached
    tops = churn(pool, 6000)
    assert max(tops[2:]) <= 1.5 * tops[1], tops        # no growth with the number of calls after warm-up
    assert pool.top == 800 and pool.free == []           # every anonymous clip given back, merged
    assert pool.get(("prompt", "welcome")) == (0, 800)


def test_memory_per_call_is_flat():
    pool = ClipPool(8000)
    churn(pool, 1000)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    churn(pool, 3000, seed=8)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown / 3000 < 64, grown                      # bytes per call once warm (goal < 1 KiB / 1,000)
    assert pool.free == []


def rss_kib():
    """Resident memory of this process, KiB (Linux /proc), after freed heap went back to the system (as the engine
    does between ticks): what is left is what is held, not the allocator's free pages."""
    trim_heap()
    return procstat.rss_kib()


def test_engine_pool_is_reserved_once_and_resident_only_as_used(make_rig):
    """The soak's memory steps after thousands of calls were the pool doubling (a copy; the old array's pages
    stayed resident in the heap) the first time a busy moment held more play lists than before. The engine's
    pool reserves room for long play lists on every channel at once: never copied, and only address space until
    written."""
    rig = make_rig.for_trunk("analog", channels=60)
    pool = rig.engine.pool
    assert len(pool.data) >= 60 * 8000 * ClipPool.RESERVE_SECONDS
    data = pool.data
    before = rss_kib()
    churn(pool, 3000, channels=60)                       # every channel holding up to 4 s play lists at once
    assert pool.data is data                             # never reallocated
    live = []
    for _ in range(60):                                  # a peak: 20 s play lists on all 60 channels
        live.append(pool.add(np.ones(160000, dtype=np.int16)))
    assert pool.data is data
    used_kib = pool.top * 2 / 1024
    assert rss_kib() - before < used_kib + 4096          # resident as written, not the whole reservation
    peak = rss_kib()
    for clip in live:
        pool.release(clip)
    # the peak's pages are given back once released: the pool's resident memory follows what it holds now, not
    # the busiest moment ever (a high-water mark that rose in steps over a long soak)
    assert peak - rss_kib() > 0.75 * 60 * 160000 * 2 / 1024, (peak, rss_kib())
    assert pool.high == pool.top
    # and really freed, not only unmapped from this process (a shared mapping kept them behind the RSS figure):
    # the pages given back read as zeros again
    assert not pool.data[pool.top + 4096:pool.top + 59 * 160000].any()
    assert ClipPool.for_channels(100000).data.size == ClipPool.MAX_RESERVE      # bounded reservation
