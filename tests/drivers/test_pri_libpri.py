"""Our PRI stack (Q.921 + Q.931) against Debian's libpri 1.6, both roles, EuroISDN E1 and NI-2.

libpri runs through cffi on one end of a SOCK_SEQPACKET socketpair; our stack
reads/writes raw Q.921 frames on the other end. Every test asserts what
libpri reported (events, channels, causes, numbers), not only our side.
Both run on the wall clock (libpri's timers do), with short timer settings.
"""
import time

import pytest
from peers.libpri import (
    PRI_CPE,
    PRI_NETWORK,
    PRI_SWITCH_EUROISDN_E1,
    PRI_SWITCH_NI2,
    LibPRI,
    cause_str,
    event_names,
    messages,
    wait,
)

from trunkline.drivers.signaling import q931 as m
from trunkline.drivers.signaling.pri import PRIStack
from trunkline.drivers.signaling.q931 import Number

SWITCHES = {"e1": (PRI_SWITCH_EUROISDN_E1, m.EUROISDN_E1), "ni2": (PRI_SWITCH_NI2, m.NI2)}


class Bench:
    """libpri on one side, our PRIStack on the other; libpri's application is scripted by the test."""

    def __init__(self, our_role, switch, timers=None, auto_release=True):
        lp_switch, our_switch = SWITCHES[switch]
        self.peer = LibPRI(PRI_CPE if our_role == "network" else PRI_NETWORK, lp_switch)
        self.events = []
        self.ours = PRIStack(our_role == "network", self.peer.send, time.monotonic, switch=our_switch,
                             on_event=lambda k, c, i: self.events.append((k, c, i)), timers=timers)
        self.auto_release = auto_release
        self._handled = 0
        self.ours.start()
        assert self.wait(lambda: self.ours.up and "DCHAN_UP" in self.names()), "D-channel did not come up"

    def names(self):
        """libpri event names so far."""
        return event_names(self.peer.events)

    def pump(self):
        for f in self.peer.recv_frames():
            self.ours.receive_frame(f)
        self.ours.tick()
        # libpri's application: complete clearing the way chan_dahdi does
        if self.auto_release:
            for e in self.peer.events[self._handled:]:
                if e["e"] in ("HANGUP_REQ", "HANGUP") and e.get("call"):
                    self.peer.lib.pri_hangup(self.peer.pri, e["callp"], e["cause"] if e["cause"] > 0 else 16)
            self._handled = len(self.peer.events)

    def wait(self, until, timeout=3.0):
        """Run both sides until `until()` or timeout (s)."""
        return wait(self.peer, self.pump, until, timeout)

    def ours_of(self, kind):
        """Our stack's events of one kind: [(call, info)]."""
        return [(c, i) for k, c, i in self.events if k == kind]

    def peer_of(self, name):
        """libpri events of one name."""
        return [e for e in self.peer.events if e["e"] == name]

    def show(self, title):
        print(f"\n[{title}] libpri: {[(e['e'], e.get('channel'), e.get('cause')) for e in self.peer.events]}")
        print(f"[{title}] ours  : {[(k, c.channel if c else None, i) for k, c, i in self.events]}")
        for line in messages():
            print("  libpri says:", line.rstrip())

    def close(self):
        self.peer.close()


@pytest.fixture
def bench_factory():
    made = []

    def make(role, switch, **kw):
        b = Bench(role, switch, **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.close()


def _channel(lp_channel):
    return lp_channel & 0xFF


@pytest.mark.parametrize("switch", ["e1", "ni2"])
@pytest.mark.parametrize("role", ["cpe", "network"])
def test_dchannel_up_and_idle(bench_factory, role, switch):
    b = bench_factory(role, switch)
    assert b.names().count("DCHAN_UP") == 1
    assert b.ours_of("link_up")
    assert b.ours.link.stats["rx_bad"] == 0
    b.show("dchan")


@pytest.mark.parametrize("switch", ["e1", "ni2"])
@pytest.mark.parametrize("role", ["cpe", "network"])
def test_inbound_call_answered(bench_factory, role, switch):
    """libpri places a call to us; we proceed, alert, answer; libpri then clears."""
    b = bench_factory(role, switch)
    chan = 5 if switch == "ni2" else 17
    b.peer.call("4155551234", "2125550000", chan, called_plan=0x21, caller_plan=0x41)
    assert b.wait(lambda: b.ours_of("incoming"))
    call, info = b.ours_of("incoming")[0]
    assert call.channel == chan
    assert (call.called.digits, call.called.ton, call.called.npi) == ("4155551234", 2, 1)
    assert (call.calling.digits, call.calling.ton, call.calling.npi) == ("2125550000", 4, 1)
    b.ours.q931.proceeding(call)
    b.ours.q931.alerting(call, inband=True)
    assert b.wait(lambda: b.peer_of("RINGING"))
    b.ours.q931.connect(call)
    assert b.wait(lambda: b.peer_of("ANSWER") and call.state == 10)
    assert [_channel(e["channel"]) for e in b.peer_of("PROCEEDING")] == [chan]
    assert _channel(b.peer_of("ANSWER")[0]["channel"]) == chan
    assert b.names().index("PROCEEDING") < b.names().index("RINGING") < b.names().index("ANSWER")
    # libpri's caller hangs up after answer
    b.peer.lib.pri_hangup(b.peer.pri, _callp(b), 16)
    assert b.wait(lambda: b.ours_of("released"))
    assert b.ours_of("disconnecting")[0][1]["cause"] == 16
    assert not b.ours.q931.calls
    b.show("inbound")


def _callp(b):
    """libpri's q931_call pointer: the call it placed, else the first call it reported."""
    if b.peer.last_call is not None:
        return b.peer.last_call
    return next(e["callp"] for e in b.peer.events if "callp" in e)


@pytest.mark.parametrize("switch", ["e1", "ni2"])
@pytest.mark.parametrize("role", ["cpe", "network"])
def test_outbound_call_answered(bench_factory, role, switch):
    """We place a call; libpri (the application) proceeds, alerts, answers; we clear; libpri sees cause 16."""
    b = bench_factory(role, switch)
    chan = 2
    call = b.ours.q931.setup(Number("5551000", 2, 1), Number("0301234567", 4, 1), channel=chan)
    assert b.wait(lambda: b.peer_of("RING"))
    ring = b.peer_of("RING")[0]
    print("\nlibpri RING:", {k: ring[k] for k in ("channel", "callednum", "calledplan", "callingnum",
                                                   "callingplan", "ctype", "layer1", "complete")})
    assert ring["callednum"] == "5551000" and ring["calledplan"] == 0x21
    assert ring["callingnum"] == "0301234567" and ring["callingplan"] == 0x41
    assert _channel(ring["channel"]) == chan
    assert ring["layer1"] == (0x22 if switch == "ni2" else 0x23)
    lp = b.peer.lib
    lp.pri_proceeding(b.peer.pri, ring["callp"], ring["channel"], 0)
    lp.pri_acknowledge(b.peer.pri, ring["callp"], ring["channel"], 1)
    assert b.wait(lambda: b.ours_of("alerting"))
    lp.pri_answer(b.peer.pri, ring["callp"], ring["channel"], 0)
    assert b.wait(lambda: b.ours_of("answered") and call.state == 10)
    assert [k for k, _, _ in b.events if k in ("proceeding", "alerting", "answered")] == \
        ["proceeding", "alerting", "answered"]
    b.ours.q931.disconnect(call, 16)
    assert b.wait(lambda: b.ours_of("released"))
    hr = b.peer_of("HANGUP_REQ")
    assert hr and hr[0]["cause"] == 16, b.peer.events
    b.show("outbound")


@pytest.mark.parametrize("switch", ["e1", "ni2"])
@pytest.mark.parametrize("role", ["cpe", "network"])
def test_busy_cause_17_both_directions(bench_factory, role, switch):
    b = bench_factory(role, switch)
    # we call, libpri's application rejects with user busy
    call = b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=1)
    assert b.wait(lambda: b.peer_of("RING"))
    ring = b.peer_of("RING")[0]
    # libpri only clears toward us once its application has taken the call (proceeding), as chan_dahdi does
    b.peer.lib.pri_proceeding(b.peer.pri, ring["callp"], ring["channel"], 0)
    b.peer.lib.pri_hangup(b.peer.pri, ring["callp"], 17)
    assert b.wait(lambda: b.ours_of("released"))
    assert b.ours_of("released")[0][1]["cause"] == 17 and call.state == 0
    # libpri calls, we reject with user busy
    b.peer.call("200", "300", 3)
    assert b.wait(lambda: b.ours_of("incoming"))
    incoming = b.ours_of("incoming")[0][0]
    b.ours.q931.disconnect(incoming, 17)
    assert b.wait(lambda: b.peer_of("HANGUP"))
    assert b.peer_of("HANGUP")[0]["cause"] == 17, b.peer.events
    print("\nlibpri reports:", cause_str(17))
    b.show("busy")


def test_no_answer_our_t310_cpe(bench_factory):
    """libpri network only sends CALL PROCEEDING: our T310 clears with cause 102, as libpri reports."""
    b = bench_factory("cpe", "e1", timers={"T310": 0.4})
    call = b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=4)
    assert b.wait(lambda: b.peer_of("RING"))
    ring = b.peer_of("RING")[0]
    b.peer.lib.pri_proceeding(b.peer.pri, ring["callp"], ring["channel"], 0)
    assert b.wait(lambda: b.ours_of("released"), timeout=3)
    assert b.peer_of("HANGUP_REQ")[0]["cause"] == 102
    assert call.state == 0
    b.show("t310")


def test_no_answer_our_t301_network(bench_factory):
    """libpri CPE alerts but never answers: our network T301 clears with cause 19 (no answer)."""
    b = bench_factory("network", "e1", timers={"T301": 0.4})
    b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=6)
    assert b.wait(lambda: b.peer_of("RING"))
    ring = b.peer_of("RING")[0]
    b.peer.lib.pri_acknowledge(b.peer.pri, ring["callp"], ring["channel"], 0)
    assert b.wait(lambda: b.ours_of("released"), timeout=3)
    assert b.peer_of("HANGUP_REQ")[0]["cause"] == 19
    b.show("t301")


def test_no_answer_libpri_t303_vs_silent_cpe(bench_factory):
    """libpri network's own timer: our CPE takes the SETUP but is held silent; libpri's T303 (300 ms)
    expires twice and libpri reports HANGUP cause 18 without telling us. Our late CALL PROCEEDING then
    gets RELEASE COMPLETE (cause 81, unknown call reference) and our call ends Null too."""
    b = bench_factory("cpe", "e1")
    b.peer.set_timer("T303", 300)
    b.peer.call("777", "888", 9)
    assert b.wait(lambda: b.ours_of("incoming"))
    assert b.wait(lambda: b.peer_of("HANGUP"), timeout=3)
    gone = b.peer_of("HANGUP")[0]
    print("\nlibpri cause on T303:", gone["cause"], cause_str(gone["cause"]))
    assert gone["cause"] == 18
    call = b.ours_of("incoming")[0][0]
    b.ours.q931.proceeding(call)
    assert b.wait(lambda: b.ours_of("released"), timeout=2)
    assert b.ours_of("released")[0][1]["cause"] == 81 and not b.ours.q931.calls
    b.show("t303")


@pytest.mark.parametrize("role", ["cpe", "network"])
@pytest.mark.parametrize("stage", ["proceeding", "alerting", "active"])
def test_libpri_caller_hangs_up(bench_factory, stage, role):
    b = bench_factory(role, "e1")
    b.peer.call("1000", "2000", 10)
    assert b.wait(lambda: b.ours_of("incoming"))
    call = b.ours_of("incoming")[0][0]
    b.ours.q931.proceeding(call)
    if stage in ("alerting", "active"):
        b.ours.q931.alerting(call)
    if stage == "active":
        b.ours.q931.connect(call)
    want = {"proceeding": "PROCEEDING", "alerting": "RINGING", "active": "ANSWER"}[stage]
    assert b.wait(lambda: b.peer_of(want) and (stage != "active" or call.state == 10))
    b.peer.lib.pri_hangup(b.peer.pri, _callp(b), 16)
    assert b.wait(lambda: b.ours_of("released"))
    assert b.ours_of("disconnecting")[0][1]["cause"] == 16 and not b.ours.q931.calls
    assert b.wait(lambda: b.peer_of("HANGUP_ACK") or b.peer_of("HANGUP"), timeout=1.0)
    b.show(f"caller-hangup-{stage}")


@pytest.mark.parametrize("role", ["cpe", "network"])
@pytest.mark.parametrize("stage", ["setup", "proceeding", "alerting", "active"])
def test_our_caller_hangs_up(bench_factory, stage, role):
    b = bench_factory(role, "e1")
    call = b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=11)
    assert b.wait(lambda: b.peer_of("RING"))
    ring = b.peer_of("RING")[0]
    lp, pri = b.peer.lib, b.peer.pri
    if stage != "setup":
        lp.pri_proceeding(pri, ring["callp"], ring["channel"], 0)
    if stage in ("alerting", "active"):
        lp.pri_acknowledge(pri, ring["callp"], ring["channel"], 0)
    if stage == "active":
        lp.pri_answer(pri, ring["callp"], ring["channel"], 0)
    target = {"setup": 1, "proceeding": 3, "alerting": 4, "active": 10}[stage]
    if role == "network":
        target = {"setup": 6, "proceeding": 9, "alerting": 7, "active": 10}[stage]
    assert b.wait(lambda: call.state == target), call.state
    b.ours.q931.disconnect(call, 16)
    if stage == "setup":
        # libpri clears a call its application has not taken yet by itself: RELEASE COMPLETE, cause echoed
        assert b.wait(lambda: b.ours_of("released"))
        assert b.ours_of("released")[0][1]["cause"] == 16 and not b.peer_of("HANGUP_REQ")
    else:
        assert b.wait(lambda: b.ours_of("released") and b.peer_of("HANGUP_REQ"))
        assert b.peer_of("HANGUP_REQ")[0]["cause"] == 16
    assert not b.ours.q931.calls
    b.show(f"our-hangup-{stage}")


@pytest.mark.parametrize("exclusive", [True, False])
def test_glare_our_cpe_loses_channel(bench_factory, exclusive):
    """Both sides seize B-channel 1 at once: the network's call wins (Q.931 5.7). libpri's application
    answers our SETUP with CALL PROCEEDING: on channel 1 again (exclusive: we must clear, cause 44, which
    libpri reports) or on channel 2 (preferred: we move there and both calls complete)."""
    b = bench_factory("cpe", "e1")
    mine = b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=1, exclusive=exclusive)
    b.peer.call("2000", "3000", 1)
    assert b.wait(lambda: b.ours_of("incoming") and b.peer_of("RING"))
    theirs = b.ours_of("incoming")[0][0]
    assert theirs.channel == 1 and mine.channel_lost
    ring = b.peer_of("RING")[0]
    lp, pri = b.peer.lib, b.peer.pri
    if exclusive:
        lp.pri_proceeding(pri, ring["callp"], ring["channel"], 0)
        assert b.wait(lambda: b.ours_of("released") and b.peer_of("HANGUP_REQ"))
        assert b.ours_of("released")[0][0] is mine
        assert b.peer_of("HANGUP_REQ")[0]["cause"] == 44
    else:
        lp.pri_proceeding(pri, ring["callp"], 2, 0)
        assert b.wait(lambda: b.ours_of("channel"))
        assert mine.channel == 2 and not mine.channel_lost
        lp.pri_answer(pri, ring["callp"], 2, 0)
        assert b.wait(lambda: mine.state == 10)
    # the network's call proceeds normally on channel 1
    b.ours.q931.connect(theirs)
    assert b.wait(lambda: theirs.state == 10 and [e for e in b.peer_of("ANSWER") if _channel(e["channel"]) == 1])
    b.show(f"glare-cpe-excl={exclusive}")


@pytest.mark.parametrize("exclusive", [True, False])
def test_glare_our_network_wins(bench_factory, exclusive):
    """libpri CPE and our network seize channel 1 together: our network refuses (44) or moves libpri's call."""
    b = bench_factory("network", "e1")
    ours = b.ours.q931.setup(Number("2000", 2, 1), Number("3000", 4, 1), channel=1)
    b.peer.call("5551000", "100", 1, exclusive=exclusive)
    assert b.wait(lambda: b.peer_of("RING") and (b.peer_of("HANGUP") or b.peer_of("PROCEEDING")
                                                 or b.ours_of("incoming")))
    if exclusive:
        assert b.wait(lambda: b.peer_of("HANGUP"))
        assert b.peer_of("HANGUP")[0]["cause"] == 44
    else:
        if b.ours_of("incoming"):
            inc = b.ours_of("incoming")[0][0]
            assert inc.channel != 1
            b.ours.q931.proceeding(inc)
        assert b.wait(lambda: b.peer_of("PROCEEDING"))
        assert _channel(b.peer_of("PROCEEDING")[0]["channel"]) not in (1, 0xFF)
    ring = b.peer_of("RING")[0]
    assert _channel(ring["channel"]) == 1 and ours.state != 0
    b.show(f"glare-net-excl={exclusive}")


@pytest.mark.parametrize("switch", ["e1", "ni2"])
@pytest.mark.parametrize("role", ["cpe", "network"])
def test_restart_channel_from_libpri(bench_factory, role, switch):
    b = bench_factory(role, switch)
    b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=7)
    assert b.wait(lambda: b.peer_of("RING"))
    b.peer.lib.pri_reset(b.peer.pri, 7)
    assert b.wait(lambda: b.peer_of("RESTART_ACK"))
    assert _channel(b.peer_of("RESTART_ACK")[0]["channel"]) == 7
    restarts = b.ours_of("restart")
    assert restarts and restarts[0][1]["channels"] == [7]
    assert b.ours_of("released") and not b.ours.q931.calls
    b.show("restart-from-libpri")


@pytest.mark.parametrize("switch", ["e1", "ni2"])
@pytest.mark.parametrize("role", ["cpe", "network"])
def test_restart_from_us(bench_factory, role, switch):
    b = bench_factory(role, switch)
    b.ours.q931.restart([12])
    assert b.wait(lambda: b.ours_of("restart_ack") and b.peer_of("RESTART"))
    assert _channel(b.peer_of("RESTART")[0]["channel"]) == 12
    assert b.ours_of("restart_ack")[0][1] == {"channels": [12], "ok": True}
    b.ours.q931.restart(None)
    assert b.wait(lambda: len(b.ours_of("restart_ack")) == 2)
    print("\nlibpri RESTART events:", [e for e in b.peer.events if e["e"] == "RESTART"])
    assert len(b.peer_of("RESTART")) == 2
    assert b.peer_of("RESTART")[1]["channel"] == -1      # libpri's report for the whole interface
    b.show("restart-from-us")


def test_status_enquiry_answered_by_libpri(bench_factory):
    """Our STATUS ENQUIRY on an active call: libpri answers STATUS in state 10 and the call stays up."""
    b = bench_factory("cpe", "e1")
    b.peer.call("1000", "2000", 13)
    assert b.wait(lambda: b.ours_of("incoming"))
    call = b.ours_of("incoming")[0][0]
    b.ours.q931.connect(call)
    assert b.wait(lambda: b.peer_of("ANSWER") and call.state == 10)
    b.ours.q931.status_enquiry(call)
    assert b.wait(lambda: "T322" not in call.timers)
    assert call.state == 10 and not b.ours_of("released")
    assert not b.peer_of("HANGUP") and not b.peer_of("HANGUP_REQ")


@pytest.mark.parametrize("switch", ["e1", "ni2"])
def test_display_name_both_directions(bench_factory, switch):
    """Calling name in the display IE: ours (network side) reaches libpri's RING.callingname; libpri's
    (network side) reaches our call.display (NI-2 display type octet stripped)."""
    b = bench_factory("network", switch)
    b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=2, display="Alice Smith")
    assert b.wait(lambda: b.peer_of("RING"))
    assert b.peer_of("RING")[0]["callingname"] == "Alice Smith"
    c = bench_factory("cpe", switch)
    c.peer.call("5551000", "100", 2, caller_name="Bob Jones")
    assert c.wait(lambda: c.ours_of("incoming"))
    assert c.ours_of("incoming")[0][0].display == "Bob Jones"


def test_euroisdn_user_side_sends_no_display(bench_factory):
    """ETSI: the display IE goes network to user only, so our CPE leaves it out of SETUP."""
    b = bench_factory("cpe", "e1")
    b.ours.q931.setup(Number("5551000", 2, 1), Number("100", 4, 1), channel=2, display="Alice")
    assert b.wait(lambda: b.peer_of("RING"))
    assert b.peer_of("RING")[0]["callingname"] == ""


@pytest.mark.parametrize("role", ["cpe", "network"])
def test_t203_keepalive_with_short_timers(bench_factory, role):
    """Both sides' T203 at 300 ms: RR polls flow both ways for 2 s; libpri never drops the link."""
    b = bench_factory(role, "e1")
    b.peer.set_timer("T203", 300)
    b.ours.link.t203 = 0.3
    b.ours.link._start_t203()
    rx0 = b.ours.link.stats["rx"]
    b.wait(lambda: False, timeout=2.0)
    assert "DCHAN_DOWN" not in b.names() and b.ours.link.up
    assert b.ours.link.stats["rx"] - rx0 >= 6 and b.ours.link.stats["rx_bad"] == 0
    assert b.ours.link.stats["t200_expiry"] == 0


@pytest.mark.parametrize("role", ["cpe", "network"])
def test_link_release_and_reestablishment(bench_factory, role):
    """We send DISC: libpri reports DCHAN_DOWN; the PRI link comes back (SABME/UA) and libpri reports
    DCHAN_UP again; a call then completes."""
    b = bench_factory(role, "e1")
    b.ours.link.release()
    assert b.wait(lambda: "DCHAN_DOWN" in b.names())
    b.ours.link.establish()
    assert b.wait(lambda: b.names().count("DCHAN_UP") == 2 and b.ours.up)
    b.peer.call("1000", "2000", 3)
    assert b.wait(lambda: b.ours_of("incoming"))
    b.show("reestablish")
