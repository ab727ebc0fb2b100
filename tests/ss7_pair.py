"""Two of our SS7 points back to back on a virtual clock (A = the Trunkline side, B = the far end),
joined by MTP2 links whose signal units travel through a queue the test can cut or inject into."""
from trunkline.drivers.signaling import mtp3 as m3
from trunkline.drivers.signaling.ss7 import SS7Point


class VirtualClock:
    """A clock the test moves by hand: `clock.t` seconds, read by calling it."""

    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


class PointPair:
    """SS7Points A and B on `links` links; `ev[side]` records (kind, call, info) events; `cut` holds the
    link codes whose SUs are dropped in flight."""

    def __init__(self, fmt=m3.ITU14, links=1, a_pc=1, b_pc=2, request_calling=False):
        self.clock = VirtualClock()
        self.q = []
        self.cut = set()
        self.ev = {"a": [], "b": []}
        self.a = SS7Point(a_pc, b_pc, range(1, 32), self.clock, fmt=fmt, fill_interval=0.05,
                          on_event=lambda k, c, i: self.ev["a"].append((k, c, i)), request_calling=request_calling)
        self.b = SS7Point(b_pc, a_pc, range(1, 32), self.clock, fmt=fmt, fill_interval=0.05,
                          on_event=lambda k, c, i: self.ev["b"].append((k, c, i)))
        for slc in range(links):
            self.a.add_link(slc, lambda su, s=slc: self.q.append(("b", s, su)))
            self.b.add_link(slc, lambda su, s=slc: self.q.append(("a", s, su)))
        self.a.start()
        self.b.start()

    def run(self, seconds, step=0.01):
        """Move the clock `seconds` ahead in `step` s steps, delivering SUs in flight and ticking both points."""
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.t += step
            q, self.q = self.q, []
            for dst, slc, su in q:
                if slc not in self.cut:
                    (self.a if dst == "a" else self.b).receive(slc, su)
            self.a.tick()
            self.b.tick()

    def align(self, seconds=4.0):
        """Run until both points are in service (alignment and proving take about 3 s here)."""
        self.run(seconds)
        assert self.a.up and self.b.up

    def kinds(self, side, cic=None):
        """Event kinds seen on `side` ("a" or "b"), only those of circuit `cic` if given."""
        return [k for k, c, i in self.ev[side] if cic is None or (c.cic if c else i.get("cic")) == cic]
