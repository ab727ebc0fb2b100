"""Concurrent fax sessions one core sustains in real time: our FaxEndpoint vs spandsp's fax terminal.

Run: .venv/bin/python bench/bench_fax.py [--ecm] [--modem v17|v29|v27ter]
Each call sends a 2-page document end to end in 160-sample blocks. The CPU time spent inside each
endpoint (its rx and tx calls) is measured separately; sessions per core = call seconds / CPU seconds.
spandsp is driven through cffi ABI mode, so its figure includes the per-block cffi call overhead.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from peers.spandsp_fax import SpandspFax  # noqa: E402

from trunkline.dsp.constants import BLOCK  # noqa: E402
from trunkline.fax import FaxEndpoint  # noqa: E402
from trunkline.fax.convert import synth_document  # noqa: E402
from trunkline.fax.tiff import write_tiff  # noqa: E402


class Timed:
    """Wraps an endpoint and accumulates the process CPU time of its rx/tx calls (seconds)."""

    def __init__(self, ep):
        self.ep = ep
        self.cpu = 0.0

    def rx(self, x):
        t = time.process_time()
        self.ep.rx(x)
        self.cpu += time.process_time() - t

    def tx(self, n):
        t = time.process_time()
        out = self.ep.tx(n)
        self.cpu += time.process_time() - t
        return out

    def finished(self):
        e = self.ep
        return e.phase_e is not None if isinstance(e, SpandspFax) else e.done


def call(a, b, limit_s=200):
    """Run two endpoints back to back; returns call seconds."""
    ta, tb = Timed(a), Timed(b)
    n = 0
    for n in range(1, int(limit_s * 8000 / BLOCK)):  # noqa: B007 - n counts the blocks after the loop
        x = ta.tx(BLOCK)
        y = tb.tx(BLOCK)
        ta.rx(y)
        tb.rx(x)
        if ta.finished() and tb.finished():
            break
    return n * BLOCK / 8000, ta, tb


def run(modem="v17", ecm=False):
    """Measure and print sessions per core for each role; returns the result rows."""
    d = tempfile.mkdtemp()
    doc = os.path.join(d, "doc.tif")
    write_tiff(doc, synth_document(2, rows=600, seed=4), "g4")
    mods = (modem,)
    rows = []
    cases = [
        ("spandsp send -> spandsp recv", lambda: SpandspFax(True, send=doc, modems=mods, ecm=ecm),
         lambda: SpandspFax(False, receive=os.path.join(d, "r1.tif"), modems=mods, ecm=ecm)),
        ("ours send    -> spandsp recv", lambda: FaxEndpoint(True, send=doc, modems=mods, ecm=ecm),
         lambda: SpandspFax(False, receive=os.path.join(d, "r2.tif"), modems=mods, ecm=ecm)),
        ("spandsp send -> ours recv   ", lambda: SpandspFax(True, send=doc, modems=mods, ecm=ecm),
         lambda: FaxEndpoint(False, receive=os.path.join(d, "r3.tif"), modems=mods, ecm=ecm)),
    ]
    print(f"fax calls, 2 pages, {modem}, ECM {'on' if ecm else 'off'}; CPU per endpoint, one core")
    for label, mk_a, mk_b in cases:
        secs, ta, tb = call(mk_a(), mk_b())
        for role, t in (("sender", ta), ("receiver", tb)):
            who = "spandsp" if isinstance(t.ep, SpandspFax) else "ours"
            ok = (t.ep.phase_e == 0) if who == "spandsp" else t.ep.result.ok
            per = t.cpu / secs
            rows.append(dict(case=label.strip(), role=role, impl=who, call_s=secs, cpu_s=t.cpu,
                             sessions=(1 / per) if per else float("inf"), ok=ok))
            print(f"  {label}  {role:8s} {who:7s}: call {secs:6.1f} s, CPU {t.cpu * 1000:8.1f} ms "
                  f"({per * 1000:6.2f} ms/s) -> {1 / per if per else float('inf'):8.0f} sessions/core  ok={ok}")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modem", default="v17", choices=["v17", "v29", "v27ter"])
    ap.add_argument("--ecm", action="store_true")
    args = ap.parse_args()
    run(args.modem, args.ecm)
