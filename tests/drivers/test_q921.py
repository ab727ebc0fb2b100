"""Q.921 LAPD: frame codec, establishment, windowing, loss recovery, and fuzzing (virtual time).

Our user side and our network side talk through an in-memory wire that can
drop frames; time is a variable advanced by the test. libpri interop of the
same link is covered in test_pri_libpri.py.
"""
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline.drivers.signaling import q921
from trunkline.drivers.signaling.q921 import Q921Link, decode_frame, encode_i, encode_s, encode_u


class Wire:
    """Two links joined back to back in virtual time, with optional loss of chosen frames."""

    def __init__(self, drop=None, **kw):
        self.t = 0.0
        self.q = []                     # (to_network, frame)
        self.drop = drop or (lambda to_net, frame: False)
        self.got = {True: [], False: []}
        self.ups = {True: [], False: []}
        self.downs = {True: 0, False: 0}
        self.sent = {True: [], False: []}
        self.links = {}
        for net in (True, False):
            self.links[net] = Q921Link(net, self._sender(net), lambda: self.t,
                                       on_up=lambda r, n=net: self.ups[n].append(r),
                                       on_down=lambda n=net: self.downs.__setitem__(n, self.downs[n] + 1),
                                       on_data=lambda d, n=net: self.got[n].append(d), **kw)
        self.net, self.user = self.links[True], self.links[False]

    def _sender(self, net):
        def send(frame):
            self.sent[net].append(frame)
            if not self.drop(not net, frame):
                self.q.append((not net, frame))
        return send

    def run(self, seconds, step=0.01):
        """Deliver frames and advance virtual time."""
        end = self.t + seconds
        while True:
            while self.q:
                to_net, frame = self.q.pop(0)
                self.links[to_net].receive(frame)
            if self.t >= end:
                return
            self.t = round(self.t + step, 6)
            for link in self.links.values():
                link.tick()


def test_frame_codec_known_octets():
    # SABME from the user (C/R=0, P=1), UA response from the network (C/R=0, F=1), RR, I frame
    assert encode_u(0, 0, 0, q921.U_SABME, 1) == bytes([0x00, 0x01, 0x7F])
    assert encode_u(0, 0, 0, q921.U_UA, 1) == bytes([0x00, 0x01, 0x73])
    assert encode_s(0, 1, 0, "RR", 5, 1) == bytes([0x02, 0x01, 0x01, 0x0B])
    f = decode_frame(encode_i(0, 1, 0, 127, 3, 0, b"\x08\x02\x00\x01\x05"))
    assert (f.kind, f.ns, f.nr, f.cr, f.info, f.error) == ("I", 127, 3, 1, b"\x08\x02\x00\x01\x05", "")
    for bad in (b"", b"\x00", b"\x01\x01\x7f", b"\x00\x00\x7f", b"\x00\x01\x0d", b"\x00\x01\x01"):
        assert decode_frame(bad).error, bad.hex()


def test_establish_and_exchange_both_directions():
    w = Wire()
    w.user.establish()
    w.run(0.1)
    assert w.user.up and w.net.up and w.ups == {True: [False], False: [False]}
    for i in range(20):
        w.user.data_request(b"u%d" % i)
        w.net.data_request(b"n%d" % i)
    w.run(0.5)
    assert w.got[True] == [b"u%d" % i for i in range(20)]
    assert w.got[False] == [b"n%d" % i for i in range(20)]
    assert w.user.va == w.user.vs == 20 and w.net.vr == 20


def test_window_k_limits_outstanding_frames():
    w = Wire()
    w.user.establish()
    w.run(0.1)
    # stop the network from receiving anything: count what the user sends unacknowledged
    w.drop = lambda to_net, f: to_net
    before = len(w.sent[False])
    for i in range(12):
        w.user.data_request(b"x%d" % i)
    sent_i = [f for f in w.sent[False][before:] if decode_frame(f).kind == "I"]
    assert len(sent_i) == 7                          # k = 7 on a PRI


def test_lost_i_frames_recovered_by_rej_and_t200():
    rnd = random.Random(7)
    w = Wire(drop=lambda to_net, f: decode_frame(f).kind == "I" and rnd.random() < 0.3)
    w.user.establish()
    w.run(0.2)
    msgs = [b"msg-%03d" % i for i in range(60)]
    for m in msgs:
        w.user.data_request(m)
    w.run(60)
    print(f"\nuser stats {w.user.stats}\nnet stats {w.net.stats}")
    assert w.got[True] == msgs                       # in order, none lost, none duplicated
    assert w.user.stats["retransmitted"] > 0 and w.user.up and w.net.up


def test_t200_retries_sabme_n200_times_then_keeps_trying():
    w = Wire(drop=lambda to_net, f: True)
    w.user.establish()
    w.run(3.5, step=0.05)
    sabmes = [f for f in w.sent[False] if decode_frame(f).kind == "SABME"]
    assert len(sabmes) == 4                          # first + N200=3 retransmissions, 1 s apart
    w.drop = lambda to_net, f: False
    w.run(3.0, step=0.05)
    assert w.user.up and w.net.up


def test_t203_idle_keepalive_and_timer_recovery():
    w = Wire()
    w.user.establish()
    w.run(0.1)
    n0 = len(w.sent[False])
    w.run(10.5, step=0.05)
    rr = [decode_frame(f) for f in w.sent[False][n0:]]
    assert any(f.kind == "RR" and f.pf == 1 and f.cr == 0 for f in rr)   # user's RR command, P=1, after T203
    assert w.user.state == q921.MULTIPLE_FRAME_ESTABLISHED


def test_peer_silent_leads_to_reestablishment_not_exception():
    w = Wire()
    w.user.establish()
    w.run(0.1)
    w.drop = lambda to_net, f: True
    w.user.data_request(b"lost")
    w.run(6, step=0.05)
    assert w.user.state in (q921.AWAITING_ESTABLISHMENT, q921.TEI_ASSIGNED)
    w.drop = lambda to_net, f: False
    w.run(5, step=0.05)
    assert w.user.up and w.net.up
    assert b"lost" in w.got[True]                   # requeued across re-establishment


def test_disc_releases_and_link_comes_back_on_pri():
    w = Wire()
    w.user.establish()
    w.run(0.1)
    w.net.release()
    w.run(0.1)
    assert w.downs[False] == 1 and not w.user.up
    w.run(2.0)                                       # persistent PRI: the user side re-establishes
    assert w.user.up


def test_nr_error_reestablishes_cleanly():
    w = Wire()
    w.user.establish()
    w.run(0.1)
    w.net.receive(encode_s(0, 0, 0, "RR", 50, 0))    # acknowledges frames never sent
    w.run(0.2)
    assert w.net.stats["nr_errors"] == 1 and w.net.up and w.user.up
    w.user.data_request(b"after")
    w.run(0.2)
    assert w.got[True][-1] == b"after"


frames = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda k, nr, pf, cr: encode_s(0, cr, 0, k, nr, pf), st.sampled_from(["RR", "RNR", "REJ"]),
              st.integers(0, 127), st.integers(0, 1), st.integers(0, 1)),
    st.builds(lambda c, pf, cr, info: encode_u(0, cr, 0, c, pf, info),
              st.sampled_from([q921.U_SABME, q921.U_DM, q921.U_UI, q921.U_DISC, q921.U_UA, q921.U_FRMR, 0x2B]),
              st.integers(0, 1), st.integers(0, 1), st.binary(max_size=4)),
    st.builds(lambda ns, nr, cr, info: encode_i(0, cr, 0, ns, nr, 0, info), st.integers(0, 127),
              st.integers(0, 127), st.integers(0, 1), st.binary(max_size=40)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, max_size=12))
def test_fuzz_random_frames_never_raise_and_link_recovers(batch):
    w = Wire()
    w.user.establish()
    w.run(0.1)
    for f in batch:
        decode_frame(f)                              # the decoder alone never raises
        w.net.receive(f)
        w.run(0.02)
    w.run(12, step=0.1)                              # let T200/T203 and re-establishment settle
    assert w.user.up and w.net.up, (w.user.state, w.net.state, w.net.errors[-3:])
    n = len(w.got[True])
    w.user.data_request(b"still works")
    w.run(1.0, step=0.05)
    assert w.got[True][n:] == [b"still works"]
