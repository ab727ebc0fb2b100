"""Random and mutated SUs, MTP3 messages and ISUP messages into our SS7 stack (hypothesis, bounded):
no exception escapes the stack, the link stays in service unless the frame is one Q.703 says takes
it down (an LSSU in service, abnormal BSNs, the SUERM threshold), and afterwards the circuits still
carry a call."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ss7_pair import PointPair

from trunkline.drivers.signaling import isup_msg as im
from trunkline.drivers.signaling import mtp3 as m3
from trunkline.drivers.signaling.mtp2 import IN_SERVICE, decode_su

STANDARD_FAILURES = ("received in service", "abnormal BSN", "SUERM", "processor outage")
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Net(PointPair):
    """Our point A against our point B on one link, in service; the test injects frames into A."""

    def __init__(self, fmt=m3.ITU14):
        super().__init__(fmt=fmt)
        self.align()

    def from_b(self, payload):
        """B's MTP2 sends an MSU (SIO + SIF) to A, in sequence."""
        self.b.mtp3.links[0].mtp2.send_msu(payload)

    def call_works(self):
        cic = self.a.isup.free_cics()[0]
        call = self.a.isup.setup(cic, im.Number("95588", complete=True), None)
        self.run(0.3)
        theirs = self.b.isup.circuits[cic].call
        assert theirs is not None
        self.b.isup.answer(theirs)
        self.run(0.3)
        assert call.state == "answered"
        self.a.isup.release(call)
        self.run(0.3)
        assert self.a.isup.circuits[cic].status == "idle"


NET = None


def net():
    global NET
    if NET is None or not NET.a.up:
        NET = Net()
    return NET


def golden_messages():
    out = [im.encode(im.iam(5, im.Number("95588", complete=True), im.Number("13800138000"))),
           im.encode(im.Message(im.REL, 5, {im.P_CAUSE: im.encode_cause(16)})),
           im.encode(im.Message(im.ACM, 5, {im.P_BCI: im.bci()})),
           im.encode(im.Message(im.GRS, 1, {im.P_RANGE: b"\x0e"})),
           im.encode(im.Message(im.CGB, 17, {im.P_CGSMT: b"\x00", im.P_RANGE: b"\x03\x0f"})),
           im.encode(im.Message(im.SAM, 5, {im.P_SUBSEQUENT: im.encode_subsequent(im.Number("12", complete=True))}))]
    return out


@FAST
@given(st.binary(max_size=300))
def test_su_and_isup_decoders_never_raise(data):
    su = decode_su(data)
    assert su.kind in ("FISU", "LSSU", "MSU", "?")
    msg = im.decode(data)
    assert isinstance(msg.params, dict)
    for fmt in m3.PC_FORMATS:
        try:
            m3.decode_label(data, fmt)
        except ValueError:
            pass


@FAST
@given(st.lists(st.binary(min_size=0, max_size=80), max_size=12))
def test_random_sus_never_raise_and_only_standard_reasons_fail_the_link(frames):
    n = net()
    link = n.a.mtp3.links[0].mtp2
    failures = link.stats["failures"]
    for f in frames:
        n.a.receive(0, f)
    if link.stats["failures"] > failures:
        assert any(r in link.last_failure for r in STANDARD_FAILURES), link.last_failure
        n.run(6.0)                                # it realigns by itself
    n.run(0.2)
    assert n.a.up or n.a.mtp3.links[0].mtp2.state != IN_SERVICE


@FAST
@given(st.integers(0, 5), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=6),
       st.sampled_from(["isup", "snm", "test"]))
def test_mutated_messages_in_sequence_keep_the_link_up(which, flips, kind):
    n = net()
    body = bytearray(golden_messages()[which])
    for pos, val in flips:
        if body:
            body[pos % len(body)] = val
    si = {"isup": m3.SI_ISUP, "snm": m3.SI_SNM, "test": m3.SI_SLTM}[kind]
    payload = bytes([(m3.NI_NATIONAL << 6) | si]) + m3.encode_label(1, 2, 3, m3.ITU14) + bytes(body)
    failures = n.a.mtp3.links[0].mtp2.stats["failures"]
    n.from_b(payload)
    n.run(0.3)
    assert n.a.mtp3.links[0].mtp2.stats["failures"] == failures
    if kind != "snm":                       # a mutated TFP may legitimately prohibit the route
        assert n.a.up
    else:
        n.b.mtp3._send_snm(n.b.mtp3.links[0], bytes([m3.TFA]) + (2).to_bytes(2, "little"))
        n.run(1.5)
    for c in n.a.isup.circuits.values():
        assert c.status in ("idle", "busy", "blocked locally", "blocked remotely", "resetting")


def test_after_fuzzing_a_call_still_goes_through():
    n = net()
    for data in (b"\x00", b"\xff" * 40, bytes(range(60))):
        n.a.receive(0, data)
    n.run(8.0)
    for c in list(n.a.isup.circuits.values()):
        if c.status == "blocked remotely":
            c.remote_blocked = c.remote_hw_blocked = c.unequipped_far = False
    assert n.a.up
    n.run(2.0)
    n.call_works()
