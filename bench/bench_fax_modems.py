"""CPU cost of the fax high-speed modems per second of audio: ours (numpy) vs spandsp's (C via cffi).

Run: .venv/bin/python bench/bench_fax_modems.py [seconds]
spandsp is driven through cffi ABI mode with a Python get_bit/put_bit callback per bit, so its figures
include that callback overhead (about 1 us per bit); its pure C cost is lower."""
import os
import sys
import time
from functools import partial

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from peers.spandsp_modems import SpandspRx, SpandspTx  # noqa: E402

from trunkline.dsp.constants import BLOCK  # noqa: E402
from trunkline.fax.modems import make_rx, make_tx  # noqa: E402

MODEMS = [("v27ter", 4800), ("v29", 9600), ("v17", 14400)]


def cpu(fn):
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def _our_tx(name, rate, bits):
    tx = make_tx(name, rate)
    tx.send_bits(bits)
    tx.finish()
    out = []
    while not tx.done:
        out.append(tx.tx(BLOCK))
    return np.concatenate(out)


def _our_rx(name, rate, sig):
    rx = make_rx(name, rate)
    for i in range(0, len(sig), BLOCK):
        rx.rx(sig[i:i + BLOCK])
        rx.take_bits()
    return rx.trained


def _sp_tx(name, rate, bits):
    return SpandspTx(name, rate, bits).all(BLOCK)


def _sp_rx(name, rate, sig):
    rx = SpandspRx(name, rate)
    rx.rx(sig, BLOCK)
    return rx.trained


def run(seconds=10.0):
    """Measure and print ms of CPU per second of audio; returns the rows."""
    rows = []
    for name, rate in MODEMS:
        bits = np.random.default_rng(1).integers(0, 2, int(rate * seconds)).astype(np.uint8)
        t_otx, sig = cpu(partial(_our_tx, name, rate, bits))
        dur = len(sig) / 8000.0
        t_orx, ok = cpu(partial(_our_rx, name, rate, sig))
        t_stx, ssig = cpu(partial(_sp_tx, name, rate, bits))
        sdur = len(ssig) / 8000.0
        t_srx, sok = cpu(partial(_sp_rx, name, rate, ssig))
        row = (name, rate, 1000 * t_otx / dur, 1000 * t_orx / dur, 1000 * t_stx / sdur, 1000 * t_srx / sdur, ok, sok)
        rows.append(row)
    print(f"{'modem':8} {'rate':>6} | {'our tx':>8} {'our rx':>8} | {'spandsp tx':>10} {'spandsp rx':>10}   "
          f"(ms CPU per s of audio; rx channels/core ours vs spandsp)")
    for name, rate, otx, orx, stx, srx, ok, sok in rows:
        print(f"{name:8} {rate:6} | {otx:8.2f} {orx:8.2f} | {stx:10.2f} {srx:10.2f}   "
              f"{1000 / orx:6.0f} vs {1000 / srx:6.0f}  trained ours={ok} spandsp={sok}")
    return rows


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
