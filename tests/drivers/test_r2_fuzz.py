"""Random ABCD changes and random R2 MF signals from the network side into the driver's China No.1
stack (hypothesis, bounded): no exception escapes, and afterwards every timeslot goes back to idle
and accepts a seizure again."""
import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peers.spandsp_r2mf import R2Tx

from trunkline.drivers.board import open_board
from trunkline.drivers.signaling import make_signaling
from trunkline.drivers.signaling.base import SignalingError
from trunkline.hw_sim import forget_card, open_card

_n = itertools.count()

step = st.one_of(
    st.tuples(st.just("cas"), st.integers(0, 3), st.integers(0, 15)),          # timeslot index, ABCD
    st.tuples(st.just("mf"), st.integers(0, 3), st.integers(0, 15)),           # timeslot, forward signal (0 stop)
    st.tuples(st.just("mfb"), st.integers(0, 3), st.integers(0, 15)),          # timeslot, backward signal
    st.tuples(st.just("dial"), st.integers(0, 3), st.integers(0, 0)),          # the driver dials out
    st.tuples(st.just("hangup"), st.integers(0, 3), st.integers(0, 0)),        # the driver clears
    st.tuples(st.just("wait"), st.integers(1, 12), st.just(0)),                # ticks
)


class Harness:
    """The driver's R2Signaling on a one-E1 sim board, ticked by hand; the test plays the network."""

    def __init__(self):
        self.name = f"r2fuzz{next(_n)}"
        forget_card(self.name)
        url = f"sim://{self.name}?e1=1"
        self.card = open_card(url)
        self.board = open_board(url)
        self.events = []
        self.sig = make_signaling(self.board.spans[0], self.events.append, kind="r2")
        self.bearer = self.card.spans[0].bearer
        self.idle = np.full((self.board.channels, self.board.block), 0xD5, dtype=np.uint8)
        self.tx = {}          # (timeslot, forward) -> spandsp R2 generator

    def tick(self):
        self.board.read()
        self.board.write(self.idle)
        mix = {}
        for (ch, _), gen in self.tx.items():
            mix[ch] = mix.get(ch, 0) + gen.tx(self.board.block).astype(np.int32)
        for ch, pcm in mix.items():
            self.card.far_play(ch, np.clip(pcm, -32768, 32767).astype(np.int16))
        self.board.tick()
        for ev in self.board.events():
            self.sig.handle_line_event(ev)
        self.sig.poll(self.board.now)

    def close(self):
        forget_card(self.name)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=40))
def test_random_abcd_and_mf(steps):
    h = Harness()
    try:
        for kind, idx, val in steps:
            ch = h.bearer[idx]
            if kind == "cas":
                h.card.far_set_cas(ch, val)
            elif kind in ("mf", "mfb"):
                fwd = kind == "mf"
                gen = h.tx.setdefault((ch, fwd), R2Tx(forward=fwd))
                gen.put(val)
            elif kind == "dial":
                try:
                    h.sig.dial("12345", "8001")
                except SignalingError:
                    pass
            elif kind == "hangup":
                h.sig.hangup(ch)
            h.tick()
            for _ in range(val if kind == "wait" else 0):
                h.tick()
        # the network goes idle; every timer runs out
        for gen in h.tx.values():
            gen.put(0)
        for ch in h.bearer:
            h.card.far_set_cas(ch, 0x9)
        for _ in range(int(32.0 * 8000 / h.board.block)):
            h.tick()
        for ch in h.bearer:
            assert h.sig.core.state(ch) == "idle", (ch, h.sig.core.state(ch))
            assert h.card.far_get_cas(ch) == 0x9
            assert not h.board.inband_active(ch)
        # still usable: a seizure is acknowledged (ab=11), a clear-forward returns it to idle
        ch = h.bearer[0]
        h.card.far_set_cas(ch, 0x1)
        h.tick()
        h.tick()
        assert h.card.far_get_cas(ch) == 0xD
        h.card.far_set_cas(ch, 0x9)
        h.tick()
        h.tick()
        assert h.card.far_get_cas(ch) == 0x9 and h.sig.core.state(ch) == "idle"
        assert all(e.kind in ("incoming", "hangup", "answered", "ringing", "proceeding") for e in h.events)
    finally:
        h.close()
