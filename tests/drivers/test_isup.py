"""ISUP procedures between two of our points (virtual clock) that libss7 cannot drive: SUS/RES and T6,
INR/INF (calling number requested), SAM (overlap), continuity (IAM with a check required, COT, T8),
CCR answered with LPA, UCIC, hardware group blocking clearing calls, GRS clearing calls."""
from ss7_pair import PointPair

from trunkline.drivers.signaling import isup_msg as im
from trunkline.drivers.signaling.isup_msg import Message


class Net(PointPair):
    """Our point A (asking for the calling number if told to) against our point B, in service, one link."""

    def __init__(self, request_calling=False):
        super().__init__(request_calling=request_calling)
        self.align()
        assert self.a.isup.free_cics()

    def b_send(self, msg):
        self.b.isup._tx(msg)


def answered_call(n, cic):
    """B calls A on `cic`, A answers; returns (A's call, B's call)."""
    theirs = n.b.isup.setup(cic, im.Number("95588", complete=True), im.Number("13800138000"))
    n.run(0.2)
    ours = n.a.isup.circuits[cic].call
    n.a.isup.alert(ours)
    n.a.isup.answer(ours)
    n.run(0.2)
    assert theirs.state == "answered" and ours.state == "answered"
    return ours, theirs


def test_suspend_resume_and_t6_release():
    n = Net()
    ours, theirs = answered_call(n, 3)
    n.b.isup.suspend(theirs)
    n.run(0.2)
    assert ours.suspended and "suspended" in n.kinds("a", 3)
    n.b.isup.resume(theirs)
    n.run(0.2)
    assert not ours.suspended and "resumed" in n.kinds("a", 3)
    n.a.isup.t["T6"] = 2.0
    n.b.isup.suspend(theirs)
    n.run(2.5)                                   # no RES within T6: A releases with cause 102
    assert ours.released and ours.cause == 102
    assert theirs.released and theirs.cause == 102
    assert n.a.isup.circuits[3].status == "idle" and n.b.isup.circuits[3].status == "idle"


def test_inr_inf_when_the_calling_number_is_missing():
    n = Net(request_calling=True)
    theirs = n.b.isup.setup(4, im.Number("95588", complete=True), None)     # IAM without calling number
    theirs.calling = im.Number("13912345678", im.NAI_NATIONAL)             # B knows it when asked
    n.run(0.3)                                         # A asks with INR, B's INF carries it
    ours = n.a.isup.circuits[4].call
    assert "incoming" in n.kinds("a", 4) and ours.calling.digits == "13912345678"
    assert "INR 4" in n.a.isup.sent and "INF 4" in n.b.isup.sent


def test_t33_offers_the_call_without_calling_number():
    n = Net(request_calling=True)
    n.a.isup.t["T33"] = 1.0
    n.b.isup._HANDLERS = {**n.b.isup._HANDLERS, im.INR: lambda self, c, msg: None}
    n.b.isup.setup(5, im.Number("95588", complete=True), None)
    n.run(1.5)
    assert "incoming" in n.kinds("a", 5) and n.a.isup.circuits[5].call.calling is None


def test_overlap_digits_arrive_in_sam():
    n = Net()
    theirs = n.b.isup.setup(6, im.Number("955", complete=False), None)
    n.run(0.2)
    n.b.isup.sam(theirs, "88", complete=True)
    n.run(0.2)
    ours = n.a.isup.circuits[6].call
    assert ours.called.digits == "95588" and ours.called.complete
    assert [i for k, c, i in n.ev["a"] if k == "sam"] == [{"digits": "88", "complete": True}]


def test_continuity_check_required_waits_for_cot_and_t8():
    n = Net()
    n.b.isup.setup(7, im.Number("95588", complete=True), None, cot_required=True)
    n.run(0.2)
    assert "incoming" not in n.kinds("a", 7) and n.a.isup.circuits[7].call.state == "waiting continuity"
    n.b_send(Message(im.COT, 7, {im.P_COT_IND: b"\x01"}))          # continuity passed
    n.run(0.2)
    assert "incoming" in n.kinds("a", 7)
    n.a.isup.t["T8"] = 1.0
    theirs = n.b.isup.setup(8, im.Number("95588", complete=True), None, cot_required=True)
    n.run(1.5)                                                     # no COT: T8 releases with cause 41
    assert theirs.released and theirs.cause == 41 and n.a.isup.circuits[8].status == "idle"


def test_ccr_is_answered_with_a_loop_and_lpa_and_ucic_blocks():
    n = Net()
    n.b_send(Message(im.CCR, 9))
    n.run(0.2)
    assert n.a.isup.circuits[9].looped and "LPA 9" in n.a.isup.sent
    n.b_send(Message(im.UCIC, 10))
    n.run(0.2)
    assert n.a.isup.circuits[10].status == "blocked remotely" and 10 not in n.a.isup.free_cics()


def test_hardware_group_blocking_clears_calls_and_grs_resets():
    n = Net()
    ours, theirs = answered_call(n, 12)
    n.b.isup.group_block(11, 13, hardware=True)
    n.run(0.3)
    assert ours.released and theirs.released
    assert [n.a.isup.circuits[c].status for c in (11, 12, 13)] == ["blocked remotely"] * 3
    assert "CGBA 11" in n.a.isup.sent
    n.b.isup.group_unblock(11, 13, hardware=True)
    n.run(0.3)
    assert all(n.a.isup.circuits[c].status == "idle" for c in (11, 12, 13))
    ours, theirs = answered_call(n, 14)
    n.b.isup.group_reset(14, 15)
    n.run(0.3)
    assert ours.released and ours.cause == 41 and "GRA 14" in n.a.isup.sent
    assert n.b.isup.circuits[14].status == "idle"


def test_unknown_message_type_and_short_messages_are_counted_not_fatal():
    n = Net()
    before = n.a.isup.stats["rx_bad"]
    n.a.isup.receive(b"\x01\x00\xfe\x00")
    n.a.isup.receive(b"\x01")
    n.a.isup.receive(b"\x01\x00\x01\x00")                 # IAM cut short: the circuit is reset
    n.run(0.3)
    assert n.a.isup.stats["rx_bad"] == before + 3
    assert n.a.isup.circuits[1].status == "idle" and n.a.up
