"""MTP2/MTP3/ISUP of our SS7 stack, two of our points back to back on a virtual clock:
alignment and proving, error correction by retransmission, error-rate monitors, timers,
link sets (load sharing, changeover, changeback), TFP/TFA, and golden messages with China
24-bit point codes built by hand from the Q.704 / Q.763 layouts (China national label:
DPC 24 + OPC 24 + SLS 4 + 4 spare bits)."""
import pytest
from ss7_pair import PointPair, VirtualClock

from trunkline.drivers.signaling import isup_msg as im
from trunkline.drivers.signaling import mtp3 as m3
from trunkline.drivers.signaling.mtp2 import (
    IN_SERVICE,
    OUT_OF_SERVICE,
    SIOS,
    Mtp2Link,
    decode_su,
    encode_su,
)
from trunkline.drivers.signaling.ss7 import SS7Point


class Wire:
    """Two MTP2 links joined by queues; `drop` filters SUs in flight (direction, su) -> bool."""

    def __init__(self, clock, timers=None, drop=None):
        self.clock = clock
        self.q = {"ab": [], "ba": []}
        self.drop = drop or (lambda d, su: False)
        self.got = {"a": [], "b": []}
        self.down = {"a": [], "b": []}
        self.a = Mtp2Link(lambda su: self.q["ab"].append(su), clock, on_msu=self.got["a"].append,
                          on_down=self.down["a"].append, timers=timers, fill_interval=0.05)
        self.b = Mtp2Link(lambda su: self.q["ba"].append(su), clock, on_msu=self.got["b"].append,
                          on_down=self.down["b"].append, timers=timers, fill_interval=0.05)

    def run(self, seconds, step=0.01):
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.t += step
            for d, dst in (("ab", self.b), ("ba", self.a)):
                q, self.q[d] = self.q[d], []
                for su in q:
                    if not self.drop(d, su):
                        dst.receive(su)
            self.a.tick()
            self.b.tick()


def aligned(clock, **kw):
    w = Wire(clock, **kw)
    w.a.start(emergency=True)
    w.b.start(emergency=True)
    w.run(1.0)
    assert w.a.state == IN_SERVICE and w.b.state == IN_SERVICE
    return w


def test_su_coding_round_trip_and_bad_units():
    su = decode_su(encode_su(5, 1, 9, 0, b"\x85" + bytes(10)))
    assert (su.kind, su.bsn, su.bib, su.fsn, su.fib, su.li) == ("MSU", 5, 1, 9, 0, 11)
    assert decode_su(encode_su(1, 1, 1, 1, status=SIOS)).status == SIOS
    assert decode_su(encode_su(0, 0, 0, 0)).kind == "FISU"
    for bad in (b"", b"\x00", b"\x00\x00\x05\x01", b"\x00\x00\x02\x01", b"\x00\x00\x03\x85"):
        assert decode_su(bad).error


def test_normal_and_emergency_proving_times():
    clock = VirtualClock()
    w = Wire(clock)
    w.a.start()
    w.b.start()
    w.run(5.0)
    assert w.a.state == "proving"          # normal proving: T4 = 8.2 s
    w.run(4.0)
    assert w.a.state == IN_SERVICE and w.b.state == IN_SERVICE
    clock2 = VirtualClock()
    aligned(clock2)                         # emergency: 0.5 s
    assert clock2.t <= 1.01


def test_msus_in_order_and_retransmission_after_a_lost_msu():
    clock = VirtualClock()
    lost = []

    def drop(d, su):
        u = decode_su(su)
        if d == "ab" and u.kind == "MSU" and u.payload[-1] == 3 and not lost:
            lost.append(u.fsn)
            return True
        return False
    w = aligned(clock, drop=drop)
    for i in range(8):
        assert w.a.send_msu(bytes([0x85, 0, 0, 0, 0, i]))
    w.run(0.5)
    assert [p[-1] for p in w.got["b"]] == list(range(8))      # each once, in order
    assert lost and w.b.stats["nack_sent"] == 1 and w.a.stats["retransmitted"] >= 1
    assert not w.a.rtb                                          # all acknowledged


def test_t7_excessive_delay_of_acknowledgement_fails_the_link():
    clock = VirtualClock()
    cut = []
    w = aligned(clock, drop=lambda d, su: bool(cut) and d == "ba")
    cut.append(1)
    w.a.send_msu(b"\x85\x00\x00\x00\x00\x01")
    w.run(1.5)
    assert w.a.state == OUT_OF_SERVICE and "T7" in w.a.last_failure


def test_suerm_takes_the_link_down_on_a_high_error_rate_only():
    clock = VirtualClock()
    w = aligned(clock)
    for _ in range(10):
        w.b.receive(b"\x01")                 # a few errors: the link stays up
    assert w.b.state == IN_SERVICE
    for _ in range(64):
        w.b.receive(b"\x01")
    assert w.b.state == OUT_OF_SERVICE and "SUERM" in w.b.last_failure


def test_aerm_aborts_proving_then_alignment_fails_after_five_tries():
    clock = VirtualClock()
    w = Wire(clock)
    w.a.start(emergency=True)
    w.b.start(emergency=True)
    w.run(0.2)
    assert w.b.state == "proving"
    for _ in range(5):
        for _ in range(3):
            w.b.receive(b"\x01")
    assert w.b.stats["proving_aborted"] >= 4
    assert w.b.state == OUT_OF_SERVICE and "proving failed" in w.b.last_failure


def test_t2_expires_when_the_far_end_is_silent_and_sios_in_service_fails():
    clock = VirtualClock()
    w = Wire(clock, drop=lambda d, su: True)
    w.a.start()
    w.run(10.5)
    assert w.a.state == OUT_OF_SERVICE and "T2" in w.a.last_failure
    w2 = aligned(VirtualClock())
    w2.b.receive(encode_su(0, 1, 0, 1, status=SIOS))
    assert w2.b.state == OUT_OF_SERVICE and w2.down["b"]


class Net(PointPair):
    """Two SS7Points (A = Trunkline side, B = far end) joined by `links` MTP2 links, not yet aligned."""

    def __init__(self, fmt=m3.ITU14, links=2, a_pc=1, b_pc=2):
        super().__init__(fmt=fmt, links=links, a_pc=a_pc, b_pc=b_pc)


def test_link_set_load_sharing_changeover_and_changeback():
    n = Net()
    n.run(4.0)
    assert n.a.up and n.b.up
    assert {n.a.mtp3.link_for(s).slc for s in range(16)} == {0, 1}      # both links carry traffic
    n.cut.add(1)                                                          # link 1 breaks
    n.run(3.0)
    link1 = n.a.mtp3.links[1]
    assert "failed" in link1.history and link1.state != "available" and n.a.up   # traffic moved to link 0
    assert n.a.mtp3.stats["changeovers"] + n.b.mtp3.stats["changeovers"] >= 1
    assert {n.a.mtp3.link_for(s).slc for s in range(16)} == {0}
    call = n.a.isup.setup(3, im.Number("95588", complete=True), None)    # calls still carried
    n.run(0.3)
    assert [k for k, c, i in n.ev["b"] if k == "incoming"]
    n.b.isup.release(n.b.isup.circuits[3].call)
    n.run(0.3)
    assert call.released
    n.cut.clear()                                                         # link 1 comes back
    n.run(12.0)
    assert n.a.mtp3.links[1].state == "available"
    assert n.a.mtp3.stats["changebacks"] + n.b.mtp3.stats["changebacks"] >= 1
    assert {n.a.mtp3.link_for(s).slc for s in range(16)} == {0, 1}


def test_tfp_and_tfa_make_the_destination_unavailable_and_available():
    n = Net(links=1)
    n.run(4.0)
    assert n.a.up
    e = n.b.mtp3.links[0]
    n.b.mtp3._send_snm(e, bytes([m3.TFP]) + (2).to_bytes(2, "little"))   # far end: route to 2 prohibited
    n.run(0.2)
    assert not n.a.up and n.a.mtp3.stats["tfp"] == 1
    assert ("route", None, {"available": False}) in n.ev["a"]
    n.b.mtp3._send_snm(e, bytes([m3.TFA]) + (2).to_bytes(2, "little"))
    n.run(1.5)
    assert n.a.up


def test_msu_for_another_point_code_or_network_is_dropped():
    n = Net(links=1)
    n.run(4.0)
    dropped = n.a.mtp3.stats["rx_dropped"]
    n.b.mtp3.links[0].mtp2.send_msu(bytes([0x85]) + m3.encode_label(7, 2, 0, m3.ITU14) + b"\x01\x00\x10\x00")
    n.b.mtp3.links[0].mtp2.send_msu(bytes([0x05]) + m3.encode_label(1, 2, 0, m3.ITU14) + b"\x01\x00\x10\x00")
    n.run(0.2)
    assert n.a.mtp3.stats["rx_dropped"] == dropped + 2 and n.a.up


def test_point_code_formats():
    assert m3.parse_pc("1-2-3", m3.CHINA24) == 0x010203
    assert m3.format_pc(0x010203, m3.CHINA24) == "1-2-3"
    assert m3.parse_pc("2-100-5", m3.ITU14) == (2 << 11) | (100 << 3) | 5
    assert m3.format_pc(m3.parse_pc("2-100-5", m3.ITU14), m3.ITU14) == "2-100-5"
    for bad, fmt in (("8-0-0", m3.ITU14), ("256-0-0", m3.CHINA24), (1 << 24, m3.CHINA24), ("1-2", m3.ITU14)):
        with pytest.raises(ValueError):
            m3.parse_pc(bad, fmt)


def _capture_china():
    sent = []
    pt = SS7Point(0x010203, 0x040506, [33], VirtualClock(), fmt=m3.CHINA24)
    pt.mtp3.available = True
    pt.mtp3.link_for = lambda sls: pt.mtp3.links[0]
    pt.add_link(0, sent.append)
    pt.mtp3.links[0].state = "available"
    pt.mtp3.links[0].mtp2.state = IN_SERVICE
    pt.isup.available = True
    return pt, sent


def test_golden_china_iam_with_24_bit_point_codes():
    pt, sent = _capture_china()
    pt.isup.setup(33, im.Number("95588", im.NAI_NATIONAL, complete=True),
                  im.Number("13800138000", im.NAI_NATIONAL), im.CPC_ORDINARY)
    msu = decode_su(sent[-1]).payload
    golden = bytes.fromhex(
        "85"                    # SIO: national network (10), ISUP (0101)
        "060504" "030201" "01"  # label: DPC 4-5-6, OPC 1-2-3 (24 bits each, low octet first), SLS 1 + spare
        "2100" "01"             # CIC 33 (E1 1, TS 1), IAM
        "00" "2001" "0a" "00"   # nature of connection, forward call ind. (national, ISUP, ISDN access), CPC, TMR
        "02" "07"               # pointers: called party number, optional part
        "05" "03" "10" "5985f8"                 # called: national, ISDN plan, 95588 + ST
        "0a" "08" "83" "13" "310810830000"      # calling: odd, national, allowed, network provided
        "00")                   # end of optional parameters
    assert msu == golden
    dpc, opc, sls = m3.decode_label(msu[1:], m3.CHINA24)
    assert (dpc, opc, sls) == (0x040506, 0x010203, 1)


def test_golden_china_rel_and_decoding_it_back():
    pt, sent = _capture_china()
    call = pt.isup.setup(33, im.Number("95588", complete=True), None)
    pt.isup.release(call, 17)
    msu = decode_su(sent[-1]).payload
    assert msu == bytes.fromhex("85" "060504" "030201" "01" "2100" "0c" "02" "00" "02" "8091")
    back = im.decode(msu[8:])
    assert back.name == "REL" and back.cic == 33 and im.decode_cause(back.params[im.P_CAUSE]) == 17


def test_isup_timers_t7_and_t9_release_with_their_causes():
    n = Net(links=1)
    n.run(4.0)
    n.a.isup.t["T7"] = 2.0
    n.b.isup.on_event = lambda k, c, i: None                               # far end ignores the IAM
    call = n.a.isup.setup(5, im.Number("95588", complete=True), None)
    n.run(2.5)
    assert call.released and call.cause == 102
    assert [i for k, c, i in n.ev["a"] if k == "released" and c is call][0]["cause"] == 102
    n.a.isup.t["T9"] = 3.0
    n.b.isup.on_event = lambda k, c, i: n.b.isup.alert(c) if k == "incoming" else None
    call = n.a.isup.setup(7, im.Number("95588", complete=True), None)
    n.run(3.5)
    assert call.released and call.cause == 19
    n.run(0.5)
    assert n.a.isup.circuits[7].status == "idle" and n.b.isup.circuits[7].status == "idle"


def test_rel_without_rlc_is_repeated_under_t1_then_reset_under_t5():
    n = Net(links=1)
    n.run(4.0)
    n.a.isup.t.update(T1=1.0, T5=3.5)
    n.b.isup.on_event = lambda k, c, i: None
    call = n.a.isup.setup(9, im.Number("1", complete=True), None)
    n.run(0.2)
    n.b.isup._HANDLERS = {**n.b.isup._HANDLERS, im.REL: lambda self, c, msg: None}   # far end never answers REL
    n.a.isup.release(call)
    n.run(3.8)
    assert n.a.isup.sent.count("REL 9") >= 3 and "RSC 9" in n.a.isup.sent


def test_changeover_retrieves_unacknowledged_msus_without_loss_or_duplicates():
    clock = VirtualClock()
    q, cut, got = [], set(), []
    a = m3.Mtp3(1, 2, clock, on_user=lambda si, opc, sls, d: None, fill_interval=0.05)
    b = m3.Mtp3(2, 1, clock, on_user=lambda si, opc, sls, d: got.append(d), fill_interval=0.05)
    for slc in (0, 1):
        a.add_link(slc, lambda su, s=slc: q.append((b, s, su)))
        b.add_link(slc, lambda su, s=slc: q.append((a, s, su)))
    a.start()
    b.start()

    def run(seconds):
        end = clock.t + seconds
        while clock.t < end:
            clock.t += 0.01
            batch, q[:] = list(q), []
            for dst, slc, su in batch:
                if slc not in cut:
                    dst.receive(slc, su)
            a.tick()
            b.tick()
    run(4.0)
    assert a.available and b.available
    for i in range(6):                                 # odd SLS -> link 1
        a.send_user(m3.SI_TUP, 1, bytes([i]))
    run(0.1)
    cut.add(1)                                         # link 1 breaks with MSUs in flight
    for i in range(6, 10):
        a.send_user(m3.SI_TUP, 1, bytes([i]))
    run(4.0)
    assert a.stats["changeovers"] >= 1
    assert [d[0] for d in got] == list(range(10))      # each exactly once, in order

