"""A short soak (`make soak` runs 100,000 calls): no channel left stuck, no file descriptor leaked, the callers'
bookkeeping forgotten once checked, and nothing left behind in the temporary directory."""
import glob
import os
import tempfile

from threadpoolctl import threadpool_info, threadpool_limits

from trunkline.bench.soak import soak


def test_short_soak_leaves_nothing_behind():
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "trunkline-sim-rec-*")))
    threadpool_limits(limits=2, user_api="blas")       # as a process starts: OpenBLAS runs a thread per core
    r = soak(40, 20, every=10)
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)   # the simulator runs the tick's BLAS on one thread
    assert r["heap_trim"].available and r["heap_trim"].trims >= 2   # freed heap given back between ticks
    assert r["calls"] == 40 and r["answered"] == 40 and r["failed"] == 0
    assert r["stuck"] == 0 and r["stuck_max"] == 0          # none left on the engine at any quiet point either
    assert r["fds_end"] <= r["fds_start"] + 2
    assert [done for done, _ in r["samples"]] == [10, 20, 30, 40] and r["peak_rss_kib"] > 0   # at quiet points
    assert len(r["malloc_samples"]) == 4 and all(kib > 0 for _, kib in r["malloc_samples"])   # glibc mallinfo2
    assert "malloc_growth_kib_per_1000_calls" in r and r["warmup_calls"] == 12
    after = set(glob.glob(os.path.join(tempfile.gettempdir(), "trunkline-sim-rec-*")))
    assert after <= before                         # the demo recordings' directory is removed
