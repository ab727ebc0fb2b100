"""pytest-benchmark: one 20 ms block of DTMF detection for all channels, ours vs spandsp's per-channel C loop.

Run: .venv/bin/python -m pytest bench/bench_dtmf.py --benchmark-only
Same mixed traffic as bench/dtmf_density.py (a third digits, a third speech, a third near-silence).
"""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from bench.dtmf_density import build_spandsp_loop, mixed_traffic
from trunkline.dsp.constants import BLOCK
from trunkline.dsp.dtmf import DTMFDetector

BLOCKS = 20


@pytest.fixture(scope="module")
def spandsp_loop(tmp_path_factory):
    return build_spandsp_loop(str(tmp_path_factory.mktemp("dtmfloop")))


@pytest.fixture(scope="module", params=[1000, 10000], ids=lambda c: f"{c}ch")
def traffic(request):
    c = request.param
    sig = mixed_traffic(c, BLOCKS)
    return c, [np.ascontiguousarray(sig[:, k * BLOCK:(k + 1) * BLOCK]) for k in range(BLOCKS)]


def _one_core():
    return threadpool_limits(1)


def test_ours_block(benchmark, traffic):
    """Our vectorised detector: one process() call per 20 ms block over all channels."""
    channels, blocks = traffic
    det = DTMFDetector(channels)
    state = {"k": 0}
    limiter = _one_core()

    def step():
        det.process(blocks[state["k"] % BLOCKS])
        state["k"] += 1

    benchmark.extra_info["channels"] = channels
    benchmark.pedantic(step, rounds=BLOCKS * 3, iterations=1, warmup_rounds=2)
    limiter.restore_original_limits()
    benchmark.extra_info["us_per_channel_block"] = benchmark.stats.stats.mean / channels * 1e6


def test_spandsp_block(benchmark, traffic, spandsp_loop):
    """spandsp's dtmf_rx called per channel in a C loop for the same 20 ms block."""
    channels, blocks = traffic
    ffi, lib = spandsp_loop
    rx = lib.loop_create(channels)
    ptrs = [ffi.cast("int16_t *", ffi.from_buffer(b)) for b in blocks]
    state = {"k": 0}

    def step():
        lib.loop_process(rx, channels, ptrs[state["k"] % BLOCKS], BLOCK)
        state["k"] += 1

    try:
        benchmark.extra_info["channels"] = channels
        benchmark.pedantic(step, rounds=BLOCKS * 3, iterations=1, warmup_rounds=2)
        benchmark.extra_info["us_per_channel_block"] = benchmark.stats.stats.mean / channels * 1e6
    finally:
        lib.loop_destroy(rx, channels)
