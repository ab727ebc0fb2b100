"""Our SS7 stack (MTP2 + MTP3 + ISUP) against Debian's libss7 2.0, ITU 14-bit point codes.

libss7 runs through cffi on one end of a SOCK_SEQPACKET socketpair as a DAHDI HDLC channel
(2 FCS octets per frame); our SS7Point reads and writes raw SUs on the other end. Both run on
the wall clock (libss7's timers do). libss7's application (what chan_dahdi would do: answer
GRS with GRA, BLO with BLA, REL with RLC ...) is scripted here. Every test asserts what
libss7 reported, not only what our stack did. One aligned link serves the module; each test
uses its own CICs.
"""
import time

import pytest
from peers.libss7 import SS7_DEBUG_ISUP, LibSS7, ffi, messages

from trunkline.drivers.signaling import isup_msg as im
from trunkline.drivers.signaling.ss7 import SS7Point

OUR_PC, PEER_PC = 0x101, 0x202
CICS = [c for c in range(1, 32) if c != 16]


class Pair:
    """libss7 at PEER_PC and our SS7Point at OUR_PC over one link (SLC 0)."""

    def __init__(self):
        self.peer = LibSS7(PEER_PC, OUR_PC, debug=SS7_DEBUG_ISUP)
        self.events = []
        self.ours = SS7Point(OUR_PC, PEER_PC, CICS, time.monotonic, fmt="itu14",
                             on_event=lambda k, c, i: self.events.append((k, c, i)), fill_interval=0.05,
                             mtp2_timers={"T7": 2.0, "Trx": 5.0})    # wall clock on a shared machine: slack
        self.ours.add_link(0, self.peer.send)
        self.auto = True          # libss7's application answers maintenance and clearing messages
        self._handled = 0
        self.peer.start()
        self.ours.start()

    def pump(self):
        for su in self.peer.recv():
            self.ours.receive(0, su)
        self.ours.tick()
        self.peer.run()
        if not self.auto:
            self._handled = len(self.peer.events)
            return
        lib, ss7 = self.peer.lib, self.peer.ss7
        for e in self.peer.events[self._handled:]:
            kind, c = e["e"], e.get("callp")
            if kind == "GRS":
                st = ffi.new("unsigned char[]", 255)
                lib.isup_gra(ss7, c, e["endcic"], st)
            elif kind == "REL":
                lib.isup_rlc(ss7, c)
            elif kind == "BLO":
                lib.isup_bla(ss7, c)
            elif kind == "UBL":
                lib.isup_uba(ss7, c)
            elif kind == "RSC":
                lib.isup_rlc(ss7, c)
            elif kind in ("CGB", "CGU"):
                st = ffi.new("unsigned char[]", e["status"] + [0] * (255 - len(e["status"])))
                (lib.isup_cgba if kind == "CGB" else lib.isup_cgua)(ss7, c, e["endcic"], st)
            if kind in ("GRS", "BLO", "UBL", "CGB", "CGU") and c != ffi.NULL:
                lib.isup_free_call_if_clear(ss7, c)      # what chan_dahdi does once a maintenance message is done
        self._handled = len(self.peer.events)

    def wait(self, until, timeout=4.0):
        """Run both sides until until() is true; False on timeout (s)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump()
            if until():
                return True
            time.sleep(0.001)
        return False

    def peer_of(self, name, cic=None):
        """libss7 events of one name (on one CIC)."""
        return [e for e in self.peer.events if e["e"] == name and (cic is None or e.get("cic") == cic)]

    def ours_of(self, kind, cic=None):
        """Our events of one kind: [(call, info)]."""
        return [(c, i) for k, c, i in self.events
                if k == kind and (cic is None or (c.cic if c else i.get("cic")) == cic)]

    def peer_call(self, cic, called="95588", calling="13800000000", nai=im.NAI_NATIONAL, pres=0):
        """libss7 sends an IAM on `cic`; returns its call pointer."""
        lib = self.peer.lib
        c = lib.isup_new_call(self.peer.ss7, cic, OUR_PC, 1)
        lib.isup_set_called(c, called.encode(), im.NAI_NATIONAL, self.peer.ss7)
        if calling:
            lib.isup_set_calling(c, calling.encode(), nai, pres, 3)
        lib.isup_set_calling_party_category(c, 10)
        assert lib.isup_iam(self.peer.ss7, c) == 0
        return c

    def incoming(self, cic):
        """Wait for our 'incoming' on `cic`; returns our call."""
        assert self.wait(lambda: self.ours_of("incoming", cic)), f"no IAM seen on CIC {cic}: {self.show()}"
        return self.ours_of("incoming", cic)[-1][0]

    def idle(self, cic):
        """Our circuit `cic` is idle."""
        return self.ours.isup.circuits[cic].status == "idle"

    def show(self):
        return (f"peer={[(e['e'], e.get('cic'), e.get('cause')) for e in self.peer.events[-12:]]} "
                f"ours={[(k, c.cic if c else i) for k, c, i in self.events[-12:]]} "
                f"log={[m.strip() for m in messages()[-8:]]}")

    def close(self):
        self.peer.close()


@pytest.fixture(scope="module")
def pair():
    p = Pair()
    assert p.wait(lambda: p.ours.up and p.peer_of("UP"), timeout=8.0), p.show()
    assert p.wait(lambda: all(p.idle(c) for c in CICS)), p.show()
    yield p
    p.close()


def test_alignment_link_test_and_grs_at_start(pair):
    assert pair.peer_of("MTP2_LINK_UP") and pair.peer_of("UP")
    assert pair.ours.mtp3.stats["sltm_ok"] >= 1                      # libss7 answered our SLTM
    assert pair.ours.mtp3.links[0].mtp2.stats["rx_bad"] == 0
    grs = pair.peer_of("GRS")                                         # we reset every circuit at start
    assert [(g["startcic"], g["endcic"]) for g in grs[:2]] == [(1, 15), (17, 31)]
    assert pair.ours_of("group_reset")


def test_inbound_call_answered_then_caller_clears(pair):
    c = pair.peer_call(1, calling="13812345678")
    call = pair.incoming(1)
    assert call.called.digits == "95588" and call.calling.digits == "13812345678"
    assert call.calling.nai == im.NAI_NATIONAL and call.category == 10
    pair.ours.isup.alert(call)
    assert pair.wait(lambda: pair.peer_of("ACM", 1)), pair.show()
    pair.ours.isup.answer(call)
    assert pair.wait(lambda: pair.peer_of("ANM", 1)), pair.show()
    pair.peer.lib.isup_rel(pair.peer.ss7, c, 16)
    assert pair.wait(lambda: pair.ours_of("released", 1) and pair.peer_of("RLC", 1)), pair.show()
    assert pair.ours_of("released", 1)[-1][1]["cause"] == 16
    assert pair.idle(1)


def test_outbound_call_answered_then_we_clear(pair):
    call = pair.ours.isup.setup(2, im.Number("13900001111", im.NAI_NATIONAL, complete=True),
                                im.Number("95588", im.NAI_NATIONAL, presentation=im.PRES_RESTRICTED))
    assert pair.wait(lambda: pair.peer_of("IAM", 2)), pair.show()
    iam = pair.peer_of("IAM", 2)[-1]
    assert iam["called"] == "13900001111#" and iam["calling"] == "95588"     # libss7 shows ST as '#'
    assert iam["called_nai"] == im.NAI_NATIONAL and iam["presentation"] == im.PRES_RESTRICTED
    assert iam["category"] == 10 and iam["opc"] == OUR_PC
    lib, ss7 = pair.peer.lib, pair.peer.ss7
    lib.isup_acm(ss7, iam["callp"])
    assert pair.wait(lambda: pair.ours_of("alerting", 2)), pair.show()
    lib.isup_anm(ss7, iam["callp"])
    assert pair.wait(lambda: pair.ours_of("answered", 2)), pair.show()
    assert call.state == "answered"
    pair.ours.isup.release(call, 16)
    assert pair.wait(lambda: pair.peer_of("REL", 2) and pair.idle(2)), pair.show()
    assert pair.peer_of("REL", 2)[-1]["cause"] == 16
    assert pair.ours_of("released", 2)[-1][1] == {"cause": 16, "local": True}


@pytest.mark.parametrize("cause,cic", [(17, 3), (1, 4)])
def test_outbound_busy_and_unallocated(pair, cause, cic):
    pair.ours.isup.setup(cic, im.Number("88001", complete=True), im.Number("95588"))
    assert pair.wait(lambda: pair.peer_of("IAM", cic)), pair.show()
    pair.peer.lib.isup_rel(pair.peer.ss7, pair.peer_of("IAM", cic)[-1]["callp"], cause)
    assert pair.wait(lambda: pair.ours_of("released", cic) and pair.peer_of("RLC", cic)), pair.show()
    assert pair.ours_of("released", cic)[-1][1]["cause"] == cause
    assert pair.idle(cic)


@pytest.mark.parametrize("who,when,cic", [
    ("caller", "setup", 5), ("caller", "alerting", 6), ("caller", "answered", 7),
    ("called", "setup", 8), ("called", "alerting", 9), ("called", "answered", 10)])
def test_inbound_hangup_in_each_state(pair, who, when, cic):
    c = pair.peer_call(cic)
    call = pair.incoming(cic)
    if when in ("alerting", "answered"):
        pair.ours.isup.alert(call)
        assert pair.wait(lambda: pair.peer_of("ACM", cic)), pair.show()
    if when == "answered":
        pair.ours.isup.answer(call)
        assert pair.wait(lambda: pair.peer_of("ANM", cic)), pair.show()
    if who == "caller":
        pair.peer.lib.isup_rel(pair.peer.ss7, c, 16)
        assert pair.wait(lambda: pair.peer_of("RLC", cic) and pair.ours_of("released", cic)), pair.show()
        assert pair.ours_of("released", cic)[-1][1]["cause"] == 16
    else:
        pair.ours.isup.release(call, 21 if when != "answered" else 16)
        assert pair.wait(lambda: pair.peer_of("REL", cic) and pair.idle(cic)), pair.show()
        assert pair.peer_of("REL", cic)[-1]["cause"] == (21 if when != "answered" else 16)
    assert pair.idle(cic)


@pytest.mark.parametrize("who,cic", [("caller", 11), ("called", 12)])
def test_outbound_hangup_while_alerting(pair, who, cic):
    call = pair.ours.isup.setup(cic, im.Number("88002", complete=True), None)
    assert pair.wait(lambda: pair.peer_of("IAM", cic)), pair.show()
    p = pair.peer_of("IAM", cic)[-1]["callp"]
    pair.peer.lib.isup_acm(pair.peer.ss7, p)
    assert pair.wait(lambda: pair.ours_of("alerting", cic)), pair.show()
    if who == "caller":
        pair.ours.isup.release(call, 16)
        assert pair.wait(lambda: pair.peer_of("REL", cic) and pair.idle(cic)), pair.show()
    else:
        pair.peer.lib.isup_rel(pair.peer.ss7, p, 19)
        assert pair.wait(lambda: pair.peer_of("RLC", cic) and pair.ours_of("released", cic)), pair.show()
        assert pair.ours_of("released", cic)[-1][1]["cause"] == 19


def test_rel_collision(pair):
    c = pair.peer_call(13)
    call = pair.incoming(13)
    pair.ours.isup.answer(call)                 # answered without ACM first: CON
    assert pair.wait(lambda: pair.peer_of("CON", 13)), pair.show()
    pair.auto = False                      # both clear at the same moment, before either sees the other
    pair.ours.isup.release(call, 16)
    pair.peer.lib.isup_rel(pair.peer.ss7, c, 16)
    try:
        assert pair.wait(lambda: pair.peer_of("REL", 13) and pair.idle(13)), pair.show()
    finally:
        pair.auto = True
    assert pair.ours_of("released", 13)
    assert pair.wait(lambda: pair.peer_of("RLC", 13))      # libss7 got our RLC to its REL


def test_dual_seizure_resolved_by_point_code(pair):
    # libss7 (0x202) has the higher point code: it controls the even CICs, we control the odd ones
    assert not pair.ours.isup.controls(14) and pair.ours.isup.controls(15)
    pair.auto = False
    ours = pair.ours.isup.setup(14, im.Number("88003", complete=True), None)
    pair.peer_call(14)
    try:
        assert pair.wait(lambda: pair.ours_of("glare", 14) and pair.ours_of("incoming", 14)), pair.show()
    finally:
        pair.auto = True
    assert ours.released
    theirs = pair.ours_of("incoming", 14)[-1][0]
    pair.ours.isup.answer(theirs)
    assert pair.wait(lambda: pair.peer_of("ANM", 14) or pair.peer_of("CON", 14)), pair.show()
    pair.ours.isup.release(theirs)
    assert pair.wait(lambda: pair.idle(14)), pair.show()


def test_blocking_a_cic_then_a_call_on_another(pair):
    blo = pair.peer.lib.isup_new_call(pair.peer.ss7, 17, OUR_PC, 0)
    pair.peer.lib.isup_blo(pair.peer.ss7, blo)
    assert pair.wait(lambda: pair.peer_of("BLA", 17)), pair.show()
    assert pair.ours.isup.circuits[17].status == "blocked remotely"
    assert 17 not in pair.ours.isup.free_cics()
    cic = min(c for c in pair.ours.isup.free_cics() if c > 17)
    pair.ours.isup.setup(cic, im.Number("88004", complete=True), None)
    assert pair.wait(lambda: pair.peer_of("IAM", cic)), pair.show()
    assert not pair.peer_of("IAM", 17)
    pair.peer.lib.isup_rel(pair.peer.ss7, pair.peer_of("IAM", cic)[-1]["callp"], 16)
    assert pair.wait(lambda: pair.idle(cic)), pair.show()
    pair.peer.lib.isup_ubl(pair.peer.ss7, blo)   # the same libss7 call record (still flagged BLO sent)
    assert pair.wait(lambda: pair.peer_of("UBA", 17)), pair.show()
    assert pair.idle(17)
    pair.ours.isup.block(20)                                 # and the other way round
    assert pair.wait(lambda: pair.peer_of("BLO", 20) and "T12" not in pair.ours.isup.circuits[20].timers), pair.show()
    pair.ours.isup.unblock(20)
    assert pair.wait(lambda: pair.peer_of("UBL", 20) and "T14" not in pair.ours.isup.circuits[20].timers), pair.show()


def test_group_blocking_and_unblocking_a_range(pair):
    lib, ss7 = pair.peer.lib, pair.peer.ss7
    c = lib.isup_new_call(ss7, 21, OUR_PC, 0)
    st = ffi.new("unsigned char[]", [1] * 5 + [0] * 250)
    lib.isup_cgb(ss7, c, 25, st, 0)
    assert pair.wait(lambda: pair.peer_of("CGBA")), pair.show()
    assert [pair.ours.isup.circuits[x].status for x in range(21, 26)] == ["blocked remotely"] * 5
    assert pair.peer_of("CGBA")[-1]["startcic"] == 21 and pair.peer_of("CGBA")[-1]["endcic"] == 25
    lib.isup_cgu(ss7, c, 25, st, 0)                          # libss7 keeps one record per CIC
    assert pair.wait(lambda: pair.peer_of("CGUA")), pair.show()
    assert all(pair.idle(x) for x in range(21, 26))
    pair.ours.isup.group_block(26, 28)                       # ours: libss7 reports the range it got
    assert pair.wait(lambda: pair.peer_of("CGB") and "T18" not in pair.ours.isup.circuits[26].timers), pair.show()
    cgb = pair.peer_of("CGB")[-1]
    assert (cgb["startcic"], cgb["endcic"], cgb["status"]) == (26, 28, [1, 1, 1])
    pair.ours.isup.group_unblock(26, 28)
    assert pair.wait(lambda: pair.peer_of("CGU") and "T20" not in pair.ours.isup.circuits[26].timers), pair.show()
    assert all(pair.idle(x) for x in range(26, 29))


def test_circuit_reset_both_ways(pair):
    c = pair.peer_call(29)
    call = pair.incoming(29)
    pair.ours.isup.alert(call)
    pair.ours.isup.answer(call)
    assert pair.wait(lambda: pair.peer_of("ANM", 29)), pair.show()
    pair.peer.lib.isup_rsc(pair.peer.ss7, c)                 # libss7 resets a busy circuit
    assert pair.wait(lambda: pair.peer_of("RLC", 29) and pair.ours_of("released", 29)), pair.show()
    assert pair.ours_of("released", 29)[-1][1]["cause"] == 41 and pair.idle(29)
    pair.ours.isup.reset(30)                                 # we reset one
    assert pair.wait(lambda: pair.peer_of("RSC", 30) and pair.idle(30)), pair.show()


def test_unequipped_cic_gets_ucic(pair):
    pair.peer_call(40)                                       # we have no CIC 40
    assert pair.wait(lambda: pair.peer_of("UCIC", 40)), pair.show()
    assert pair.ours.isup.stats["ucic_sent"] >= 1


def test_link_failure_mid_call_clears_calls_and_realigns(pair):
    c = pair.peer_call(31)
    call = pair.incoming(31)
    pair.ours.isup.alert(call)
    pair.ours.isup.answer(call)
    assert pair.wait(lambda: pair.peer_of("ANM", 31)), pair.show()
    downs = len(pair.peer_of("DOWN"))
    ups = len(pair.peer_of("UP"))
    pair.peer.lib.ss7_link_alarm(pair.peer.ss7, pair.peer.sock.fileno())     # E1 lost at both ends
    pair.ours.mtp3.link_failed(0)
    assert pair.wait(lambda: len(pair.peer_of("DOWN")) > downs and pair.ours_of("released", 31)), pair.show()
    assert pair.ours_of("released", 31)[-1][1]["cause"] == 38
    assert not pair.ours.up
    pair.peer.lib.ss7_link_noalarm(pair.peer.ss7, pair.peer.sock.fileno())
    pair.ours.mtp3.link_restored(0)
    assert pair.wait(lambda: pair.ours.up and len(pair.peer_of("UP")) > ups, timeout=8.0), pair.show()
    assert pair.wait(lambda: all(pair.idle(x) for x in CICS)), pair.show()
    del c
    pair.ours.isup.setup(31, im.Number("88005", complete=True), None)     # new calls carried
    assert pair.wait(lambda: len(pair.peer_of("IAM", 31)) >= 1), pair.show()
    p = pair.peer_of("IAM", 31)[-1]["callp"]
    pair.peer.lib.isup_anm(pair.peer.ss7, p)
    assert pair.wait(lambda: pair.ours_of("answered", 31)), pair.show()
    pair.peer.lib.isup_rel(pair.peer.ss7, p, 16)
    assert pair.wait(lambda: pair.idle(31)), pair.show()


def test_outbound_answered_then_called_party_clears(pair):
    call = pair.ours.isup.setup(24, im.Number("88006", complete=True), im.Number("95588"))
    assert pair.wait(lambda: pair.peer_of("IAM", 24)), pair.show()
    p = pair.peer_of("IAM", 24)[-1]["callp"]
    pair.peer.lib.isup_acm(pair.peer.ss7, p)
    pair.peer.lib.isup_cpg(pair.peer.ss7, p, 3)              # in-band information available
    pair.peer.lib.isup_anm(pair.peer.ss7, p)
    assert pair.wait(lambda: pair.ours_of("answered", 24)), pair.show()
    assert [i.get("event") for c, i in pair.ours_of("progress", 24)] == [3]
    pair.peer.lib.isup_rel(pair.peer.ss7, p, 16)
    assert pair.wait(lambda: pair.peer_of("RLC", 24) and pair.idle(24)), pair.show()
    assert call.released and call.cause == 16


def test_progress_suspend_and_resume_both_ways(pair):
    c = pair.peer_call(23)
    call = pair.incoming(23)
    pair.ours.isup.alert(call)
    pair.ours.isup.progress(call)                              # CPG, in-band information
    assert pair.wait(lambda: pair.peer_of("CPG", 23)), pair.show()
    assert pair.peer_of("CPG", 23)[-1]["event"] == 3
    pair.ours.isup.answer(call)
    assert pair.wait(lambda: pair.peer_of("ANM", 23)), pair.show()
    pair.peer.lib.isup_sus(pair.peer.ss7, c, 1)               # network-initiated suspend
    assert pair.wait(lambda: pair.ours_of("suspended", 23)), pair.show()
    pair.peer.lib.isup_res(pair.peer.ss7, c, 1)
    assert pair.wait(lambda: pair.ours_of("resumed", 23)), pair.show()
    pair.ours.isup.suspend(call)                               # and ours reach libss7
    assert pair.wait(lambda: pair.peer_of("SUS", 23)), pair.show()
    pair.ours.isup.resume(call)
    assert pair.wait(lambda: pair.peer_of("RES", 23)), pair.show()
    pair.ours.isup.release(call)
    assert pair.wait(lambda: pair.peer_of("REL", 23) and pair.idle(23)), pair.show()
