"""PRISignaling (our driver's CPE side on a board span) against PRINetworkSide and against libpri.

Three carriers for the same D-channel frames: a fake span recording frames
(virtual time), the simulated card's D-channel (hw_sim, virtual time), and a
libpri network on a socketpair (wall clock). Board channel mapping: E1 B-channel
numbers 1-15,17-31 map in order onto span.bearer_channels.
"""
import time

import pytest
from peers.libpri import PRI_NETWORK, PRI_SWITCH_EUROISDN_E1, LibPRI, wait

from trunkline.drivers.board import LineEvent, open_board
from trunkline.drivers.signaling import base
from trunkline.drivers.signaling import q931 as m
from trunkline.drivers.signaling.base import SignalingError
from trunkline.drivers.signaling.pri import PRINetworkSide, PRISignaling
from trunkline.hw_sim import forget_card, open_card


class FakeSpan:
    """A span with a D-channel: frames we send go to `far`, frames from `far` queue for recv_frame."""

    def __init__(self, kind="e1", bearer=None):
        self.kind = kind
        n = 30 if kind == "e1" else 23
        self.bearer_channels = bearer or list(range(100, 100 + n))
        self.rx = []
        self.far = None
        self.sent = 0

    def send_frame(self, data):
        self.sent += 1
        self.far(bytes(data))
        return True

    def recv_frame(self):
        return self.rx.pop(0) if self.rx else None


class Rig:
    """PRISignaling on a FakeSpan, PRINetworkSide as far end, virtual time in 20 ms ticks."""

    def __init__(self, kind="e1", timers=None, far_timers=None):
        self.t = 0.0
        self.span = FakeSpan(kind)
        self.events = []
        self.sig = PRISignaling(self.span, self.events.append, timers=timers)
        self.to_far = []
        self.span.far = self.to_far.append
        switch = m.NI2 if kind == "t1" else m.EUROISDN_E1
        self.far = PRINetworkSide(self._far_send, lambda: self.t, switch=switch, timers=far_timers)
        self.far_events = []
        self.far.on_incoming = lambda c: self.far_events.append(("incoming", c))
        self.far.on_answered = lambda c: self.far_events.append(("answered", c))
        self.far.on_alerting = lambda c: self.far_events.append(("alerting", c))
        self.far.on_hangup = lambda c, cause: self.far_events.append(("hangup", c, cause))
        self.run(0.2)

    def _far_send(self, frame):
        self.span.rx.append(frame)

    def run(self, seconds):
        end = self.t + seconds
        while self.t < end:
            self.t = round(self.t + 0.02, 6)
            self.sig.poll(self.t)
            self.far.tick(self.t)
            for _ in range(10):
                moved = False
                while self.to_far:
                    self.far.receive_frame(self.to_far.pop(0))
                    moved = True
                if self.span.rx:
                    self.sig.handle_line_event(LineEvent("dframe", -1, 0, 0, int(self.t * 8000)))
                    moved = True
                if not moved:
                    break

    def kinds(self):
        return [e.kind for e in self.events]

    def of(self, kind):
        return [e for e in self.events if e.kind == kind]


def test_span_up_and_inbound_call_on_mapped_board_channel():
    r = Rig()
    assert r.kinds()[0] == base.SPAN_UP and r.far.up
    call = r.far.place_call("4155551234", "2125550000", channel=17, called_ton=2, caller_ton=4)
    r.run(0.2)
    inc = r.of(base.INCOMING)[0]
    assert inc.channel == r.span.bearer_channels[15]          # B-channel 17 is the 16th bearer on an E1
    assert (inc.caller, inc.called) == ("2125550000", "4155551234")
    assert inc.extra["caller_ton"] == 4 and inc.extra["called_ton"] == 2
    assert ("alerting", call) in r.far_events                   # auto CALL PROCEEDING + ALERTING
    r.sig.answer(inc.channel)
    r.run(0.2)
    assert r.of(base.ANSWERED)[0].channel == inc.channel and call.state == 10
    r.far.hangup(call, 16)
    r.run(0.2)
    hang = r.of(base.HANGUP)
    assert len(hang) == 1 and hang[0].cause == 16 and hang[0].channel == inc.channel
    assert not r.sig.calls and not r.sig.stack.q931.calls


def test_outbound_dial_answer_and_our_hangup():
    r = Rig()
    ch = r.sig.dial("5551000", "100")
    assert ch in r.span.bearer_channels
    r.run(0.2)
    far_call = r.far_events[0][1]
    assert r.far_events[0][0] == "incoming" and far_call.called.digits == "5551000"
    assert r.sig.b_to_board[far_call.channel] == ch
    r.far.proceeding(far_call)
    r.far.alert(far_call)
    r.run(0.1)
    r.far.answer(far_call)
    r.run(0.1)
    assert r.kinds()[-3:] == [base.PROCEEDING, base.RINGING, base.ANSWERED]
    r.sig.hangup(ch, 16)
    r.run(0.2)
    assert r.far_events[-1][0] == "hangup" and r.far_events[-1][2] == 16
    assert not r.sig.stack.q931.calls


def test_busy_and_rejections_raise_clear_errors():
    r = Rig()
    ch = r.sig.dial("5551000", "100")
    r.run(0.1)
    r.far.hangup(r.far_events[0][1], 17)
    r.run(0.2)
    assert r.of(base.HANGUP)[-1].cause == 17 and r.of(base.HANGUP)[-1].channel == ch
    with pytest.raises(SignalingError) as e:
        r.sig.dial("12ab")
    assert e.value.cause == 28
    with pytest.raises(SignalingError):
        r.sig.answer(r.span.bearer_channels[0])             # nothing offered there
    with pytest.raises(SignalingError) as e:
        r.sig.dial("1", channel=5)                           # not one of this span's bearers
    assert e.value.cause == 82


def test_no_answer_network_t301_reaches_driver_as_cause_19():
    """The far end offers a call, our driver alerts but nobody answers: the network's T301 (2 s here)
    clears with cause 19 and the driver reports HANGUP cause 19."""
    r = Rig(far_timers={"T301": 2.0})
    fc = r.far.place_call("5551000", "100", channel=3)
    r.run(0.2)
    assert r.of(base.INCOMING) and fc.state == 7             # N7: the network received ALERTING
    r.run(1.5)
    assert not r.of(base.HANGUP)
    r.run(0.5)
    assert r.of(base.HANGUP)[-1].cause == 19 and fc.state == 0 and not r.sig.calls


def test_alarm_takes_span_down_and_back_up():
    r = Rig()
    r.sig.handle_line_event(LineEvent("alarm", -1, 0, 1, 0))
    assert r.kinds()[-1] == base.SPAN_DOWN
    r.run(0.5)
    r.sig.handle_line_event(LineEvent("alarm", -1, 0, 0, 0))
    r.run(0.5)
    assert r.kinds()[-1] == base.SPAN_UP and r.sig.stack.up


def test_garbage_frames_do_not_take_the_span_down():
    r = Rig()
    for junk in (b"", b"\xff", b"\x00\x01", b"\x02\x01\x00\x00\x09\x09\x09", bytes(range(40)), b"\x02\x01\x13"):
        r.span.rx.append(junk)
        r.sig.handle_line_event(LineEvent("dframe", -1, 0, 0, 0))
    r.run(1.0)
    assert r.sig.stack.up and base.SPAN_DOWN not in r.kinds()
    assert r.sig.stack.link.stats["rx_bad"] >= 4
    r.far.place_call("1", "2", channel=1)
    r.run(0.2)
    assert r.of(base.INCOMING)


def test_t1_ni2_span_uses_23_b_channels():
    r = Rig(kind="t1")
    assert r.sig.switch == m.NI2 and len(r.sig.b_to_board) == 23
    r.far.place_call("2125551234", "100", channel=23)
    r.run(0.2)
    assert r.of(base.INCOMING)[0].channel == r.span.bearer_channels[22]


def test_pri_signaling_on_the_simulated_card():
    """The same classes over hw_sim's D-channel: driver side on the card, network side as the far end."""
    name = "pri_sig_test"
    forget_card(name)
    board = open_board(f"sim://{name}?e1=1")
    card = open_card(f"sim://{name}?e1=1")
    span = board.spans[0]
    events = []
    sig = PRISignaling(span, events.append)
    far = PRINetworkSide(lambda f: card.far_send_frame(span.dchannel, f), lambda: board.now)
    got = []
    far.on_answered = lambda c: got.append(("answered", c.channel))
    far.on_hangup = lambda c, cause: got.append(("hangup", cause))

    def step(n):
        for _ in range(n):
            board.tick()
            for ev in board.events():
                if ev.type in ("dframe", "alarm"):
                    sig.handle_line_event(ev)
            card.far_events()
            while True:
                f = card.far_recv_frame(span.dchannel)
                if f is None:
                    break
                far.receive_frame(f)
            sig.poll(board.now)
            far.tick(board.now)

    step(20)
    assert far.up and sig.stack.up
    call = far.place_call("5551234", "0301234567", channel=1)
    step(20)
    inc = [e for e in events if e.kind == base.INCOMING]
    assert inc and inc[0].channel == span.bearer_channels[0] and inc[0].called == "5551234"
    sig.answer(inc[0].channel)
    step(20)
    assert call.state == 10 and ("answered", 1) in got
    sig.hangup(inc[0].channel, 16)
    step(20)
    assert ("hangup", 16) in got and not sig.stack.q931.calls
    forget_card(name)


def test_pri_signaling_against_libpri_network():
    """PRISignaling's frames through a span into libpri (network, EuroISDN): libpri's call arrives as
    INCOMING with its numbers, we answer, libpri reports ANSWER on the same B-channel, then hangs up."""
    peer = LibPRI(PRI_NETWORK, PRI_SWITCH_EUROISDN_E1)
    span = FakeSpan("e1")
    span.far = peer.send
    events = []
    sig = PRISignaling(span, events.append)

    def pump():
        for f in peer.recv_frames():
            span.rx.append(f)
        if span.rx:
            sig.handle_line_event(LineEvent("dframe", -1, 0, 0, 0))
        sig.poll(time.monotonic())
    try:
        sig.poll(time.monotonic())
        assert wait(peer, pump, lambda: sig.stack.up and any(e["e"] == "DCHAN_UP" for e in peer.events))
        c = peer.call("5551234", "0301234567", 20)
        assert wait(peer, pump, lambda: any(e.kind == base.INCOMING for e in events))
        inc = [e for e in events if e.kind == base.INCOMING][0]
        assert inc.channel == span.bearer_channels[18] and inc.called == "5551234"
        assert wait(peer, pump, lambda: any(e["e"] == "RINGING" for e in peer.events))
        sig.answer(inc.channel)
        assert wait(peer, pump, lambda: any(e["e"] == "ANSWER" for e in peer.events))
        assert [e["channel"] & 0xFF for e in peer.events if e["e"] == "ANSWER"] == [20]
        peer.lib.pri_hangup(peer.pri, c, 16)
        assert wait(peer, pump, lambda: any(e.kind == base.HANGUP for e in events))
        assert [e.cause for e in events if e.kind == base.HANGUP] == [16]
        print("\nlibpri:", [(e["e"], e.get("channel")) for e in peer.events])
        print("ours  :", [(e.kind, e.channel, e.cause) for e in events])
    finally:
        peer.close()
