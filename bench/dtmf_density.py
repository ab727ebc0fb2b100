"""DTMF detection density on one core: ours (vectorised numpy) vs spandsp's dtmf_rx in a per-channel C loop.

Run: python -m bench.dtmf_density [--channels 1000 10000] [--blocks 50]

Both detectors get the same (channels, 160) int16 blocks of mixed traffic: a third of the
channels carry DTMF key presses, a third speech (espeak-ng), a third near-silence. Times are
CPU time of this process (time.process_time), so other load on the machine inflates them
less than wall time would; each figure is the best of several passes. Prints microseconds per
channel per 20 ms block, channels per core (20 ms / that time), and the ratio ours/spandsp.
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"     # one core: set before numpy is imported
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from trunkline.dsp.constants import BLOCK  # noqa: E402
from trunkline.dsp.dtmf import DTMFDetector, DTMFGenerator  # noqa: E402

_LOOP_CDEF = """
typedef struct dtmf_rx_state_s dtmf_rx_state_t;
dtmf_rx_state_t **loop_create(int channels);
void loop_destroy(dtmf_rx_state_t **rx, int channels);
int loop_process(dtmf_rx_state_t **rx, int channels, const int16_t *block, int n);
"""
_LOOP_SOURCE = """
#include <stdlib.h>
#include <spandsp.h>
dtmf_rx_state_t **loop_create(int channels)
{
    dtmf_rx_state_t **rx = calloc(channels, sizeof(*rx));
    for (int c = 0; c < channels; c++) rx[c] = dtmf_rx_init(NULL, NULL, NULL);
    return rx;
}
void loop_destroy(dtmf_rx_state_t **rx, int channels)
{
    for (int c = 0; c < channels; c++) dtmf_rx_free(rx[c]);
    free(rx);
}
/* one dtmf_rx + dtmf_rx_get per channel over a row-major (channels, n) block; returns digits found */
int loop_process(dtmf_rx_state_t **rx, int channels, const int16_t *block, int n)
{
    int found = 0;
    char buf[8];
    for (int c = 0; c < channels; c++) {
        dtmf_rx(rx[c], block + (size_t) c * n, n);
        found += (int) dtmf_rx_get(rx[c], buf, 8);
    }
    return found;
}
"""


def build_spandsp_loop(tmpdir):
    """Compile the per-channel C loop over spandsp's dtmf_rx (cffi API mode); return (ffi, lib)."""
    from cffi import FFI
    b = FFI()
    b.cdef(_LOOP_CDEF)
    b.set_source("_bench_spandsp_dtmf_loop", _LOOP_SOURCE, libraries=["spandsp"],
                 extra_compile_args=["-O2", "-std=gnu99"])
    path = b.compile(tmpdir=tmpdir)
    spec = importlib.util.spec_from_file_location("_bench_spandsp_dtmf_loop", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ffi, mod.lib


def speech_8k(seconds=30.0):
    """About `seconds` of espeak-ng English speech at 8 kHz, int16 around -15 dBm0."""
    from math import gcd

    import soundfile as sf
    from scipy.signal import resample_poly
    text = ("Thank you for calling. Please enter your account number followed by the hash key. "
            "For billing, press one. For technical support, press two. To speak to an agent, stay on the line. "
            "Your call is important to us and will be answered in the order it was received. ") * 3
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", "en", "-w", f.name, "--stdin"], input=text.encode(), check=True,
                       capture_output=True)
        x, rate = sf.read(f.name, dtype="float64")
    g = gcd(8000, rate)
    y = resample_poly(x, 8000 // g, rate // g)
    y = y[: int(seconds * 8000)]
    y *= 5000.0 / max(np.sqrt(np.mean(y ** 2)), 1e-9)
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


TRAFFIC = {"mixed": None, "digits": 0, "speech": 1, "silence": 2}


def mixed_traffic(channels, blocks, seed=1, only=None):
    """(channels, blocks*160) int16: thirds of DTMF digits, speech at random offsets, near-silence
    (or all channels of one kind: only=0 digits, 1 speech, 2 near-silence)."""
    rng = np.random.default_rng(seed)
    n = blocks * BLOCK
    out = rng.normal(0.0, 8.0, (channels, n))                  # line noise about -66 dBm0
    kind = np.arange(channels) % 3 if only is None else np.full(channels, only)
    speech = speech_8k().astype(np.float64)
    for ch in np.flatnonzero(kind == 1):
        start = rng.integers(0, len(speech) - n)
        out[ch] += speech[start:start + n]
    digit_rows = np.flatnonzero(kind == 0)
    if digit_rows.size == 0:
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    gen = DTMFGenerator(len(digit_rows), level=-12.0, on_ms=60, off_ms=60)
    for i in range(len(digit_rows)):
        gen.put(i, "".join(rng.choice(list("0123456789*#ABCD"), size=n // 960 + 2)))
    out[digit_rows] += gen.generate(n)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def _best_cpu(fn, passes):
    best = float("inf")
    for _ in range(passes):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def measure(channels, blocks, passes=3, loop=None, traffic="mixed"):
    """Time ours and spandsp over the same traffic; return a dict of figures."""
    sig = mixed_traffic(channels, blocks, only=TRAFFIC[traffic])
    chunks = [np.ascontiguousarray(sig[:, k * BLOCK:(k + 1) * BLOCK]) for k in range(blocks)]
    ffi, lib = loop
    counts = {}

    def run_ours():
        det = DTMFDetector(channels)
        counts["ours"] = sum(len(det.process(b)) for b in chunks)

    def run_spandsp():
        rx = lib.loop_create(channels)
        try:
            found = 0
            for b in chunks:
                found += lib.loop_process(rx, channels, ffi.cast("int16_t *", ffi.from_buffer(b)), BLOCK)
            counts["spandsp"] = found
        finally:
            lib.loop_destroy(rx, channels)

    t_ours = _best_cpu(run_ours, passes)
    t_sp = _best_cpu(run_spandsp, passes)
    us_ours = t_ours / blocks / channels * 1e6
    us_sp = t_sp / blocks / channels * 1e6
    return {
        "channels": channels, "blocks": blocks,
        "ours_us": us_ours, "spandsp_us": us_sp,
        "ours_per_core": 20000.0 / us_ours, "spandsp_per_core": 20000.0 / us_sp,
        "ratio": us_sp / us_ours,
        "ours_digits": counts["ours"], "spandsp_digits": counts["spandsp"],
    }


def main(argv=None):
    """Command line: measure and print the density table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--blocks", type=int, default=50, help="20 ms blocks per pass")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--traffic", choices=sorted(TRAFFIC), default="mixed",
                    help="mixed thirds (default) or all channels digits / speech / near-silence")
    args = ap.parse_args(argv)
    limiter = threadpool_limits(1)
    tmp = tempfile.mkdtemp(prefix="bench-dtmf-")
    try:
        loop = build_spandsp_loop(tmp)
        what = "mixed digits/speech/silence" if args.traffic == "mixed" else f"all channels {args.traffic}"
        print(f"DTMF detection density, one core, {what}, {BLOCK}-sample (20 ms) blocks")
        print(f"{'channels':>9} {'ours us/ch/blk':>15} {'spandsp us/ch/blk':>18} {'ours ch/core':>13} "
              f"{'spandsp ch/core':>16} {'ours/spandsp':>13} {'digits ours/spandsp':>20}")
        rows = []
        for c in args.channels:
            r = measure(c, args.blocks, args.passes, loop, args.traffic)
            rows.append(r)
            print(f"{c:9d} {r['ours_us']:15.3f} {r['spandsp_us']:18.3f} {r['ours_per_core']:13.0f} "
                  f"{r['spandsp_per_core']:16.0f} {r['ratio']:12.2f}x {r['ours_digits']:>9d}/{r['spandsp_digits']:<9d}")
            sys.stdout.flush()
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
