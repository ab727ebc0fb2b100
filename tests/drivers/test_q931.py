"""Q.931 codec and call control: known octets, Q.931 5.8 error handling, timers in virtual time, fuzz.

Our network side and our user side run back to back over the Q.921 link in
virtual time. Interop with an implementation we did not write is in
test_pri_libpri.py; the octet checks here use encodings read off libpri's
own decoder output (PRI_DEBUG_Q931_DUMP) during those runs.
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trunkline.drivers.signaling import q931 as m
from trunkline.drivers.signaling.pri import PRIStack
from trunkline.drivers.signaling.q921 import decode_frame
from trunkline.drivers.signaling.q931 import Bearer, ChannelId, Number, Q931Message, decode_message, encode_message


class Pair:
    """Network PRIStack and user PRIStack joined back to back in virtual time."""

    def __init__(self, switch=m.EUROISDN_E1, timers=None):
        self.t = 0.0
        self.q = []
        self.ev = {True: [], False: []}
        self.l3 = {True: [], False: []}           # Q.931 messages each side sent
        self.side = {}
        for net in (True, False):
            self.side[net] = PRIStack(net, self._sender(net), lambda: self.t, switch=switch, timers=timers,
                                      on_event=lambda k, c, i, n=net: self.ev[n].append((k, c, i)))
        self.net, self.user = self.side[True], self.side[False]
        self.user.start()
        self.run(0.1)
        assert self.net.up and self.user.up

    def _sender(self, net):
        def send(frame):
            f = decode_frame(frame)
            if f.kind == "I":
                self.l3[net].append(decode_message(f.info))
            self.q.append((not net, frame))
        return send

    def run(self, seconds, step=0.05):
        end = self.t + seconds
        while True:
            while self.q:
                to_net, frame = self.q.pop(0)
                self.side[to_net].receive_frame(frame)
            if self.t >= end:
                return
            self.t = round(self.t + step, 6)
            for s in self.side.values():
                s.tick()

    def kinds(self, net):
        return [k for k, _, _ in self.ev[net]]

    def of(self, net, kind):
        return [(c, i) for k, c, i in self.ev[net] if k == kind]

    def inject(self, to_net, msg_bytes):
        """Hand raw layer 3 octets to one side's Q.931 as if they came over the link."""
        self.side[to_net].q931.receive(msg_bytes)
        self.run(0.1)


def test_setup_octets_match_what_libpri_decodes():
    msg = Q931Message(m.SETUP, cref=1, bearer=Bearer(0, 0x10, 3), channel=ChannelId([1]),
                      calling=Number("100", 4, 1), called=Number("5551000", 2, 1), sending_complete=True)
    raw = encode_message(msg)
    # the IEs libpri printed for this SETUP: [04 03 80 90 a3] [18 03 a9 83 81] [6c 05 41 80 31 30 30]
    # [70 08 a1 35 35 35 31 30 30 30] [a1]
    assert raw == bytes.fromhex("0802000105" "040380" "90a3" "1803a98381" "6c054180313030"
                                "7008a135353531303030" "a1")
    back = decode_message(raw)
    assert (back.called.digits, back.called.ton, back.calling.ton, back.channel.channels) == ("5551000", 2, 4, [1])
    assert back.bearer.layer1 == 3 and back.sending_complete and not back.ie_errors and not back.error


def test_cause_progress_display_restart_roundtrip():
    msg = Q931Message(m.DISCONNECT, cref=0x1234, flag=1, cause=m.Cause(17, 2), progress=[m.Progress(8, 2)],
                      display="Busy line")
    back = decode_message(encode_message(msg))
    assert (back.cref, back.flag, back.cause.value, back.cause.location) == (0x1234, 1, 17, 2)
    assert back.progress[0].description == 8 and back.display == "Busy line"
    rs = decode_message(encode_message(Q931Message(m.RESTART, restart_class=m.RESTART_INTERFACE)))
    assert rs.restart_class == 6 and rs.is_global


def test_ni2_channel_numbers_and_mulaw():
    assert m.b_channels(m.NI2) == list(range(1, 24))
    e1 = m.b_channels(m.EUROISDN_E1)
    assert len(e1) == 30 and 16 not in e1 and e1[-1] == 31
    p = Pair(switch=m.NI2)
    p.net.q931.setup(Number("2125551234", 2, 1), Number("100", 4, 1), channel=23)
    p.run(0.2)
    call = p.of(False, "incoming")[0][0]
    assert call.channel == 23 and call.bearer.layer1 == 2       # mu-law on T1


def test_decoder_reports_structural_errors_without_raising():
    assert decode_message(b"").error
    assert decode_message(b"\x09\x02\x00\x01\x05").error               # not Q.931
    assert decode_message(b"\x08\x01\x01\x05").error                  # 1-octet call reference: BRI, not PRI
    bad_ie = decode_message(bytes.fromhex("080200010518") + b"\x05\x00")  # channel id with bad contents
    assert not bad_ie.error and (0x18, 100) in bad_ie.ie_errors


def test_full_call_network_to_user_and_clearing_states():
    p = Pair()
    nc = p.net.q931.setup(Number("5551234", 2, 1), Number("0301234567", 2, 1), channel=17)
    p.run(0.2)
    uc = p.of(False, "incoming")[0][0]
    assert (nc.state, uc.state) == (6, 6)                             # N6 call present / U6 call present
    p.user.q931.proceeding(uc)
    p.run(0.1)
    assert (nc.state, uc.state) == (9, 9)
    p.user.q931.alerting(uc)
    p.run(0.1)
    assert (nc.state, uc.state) == (7, 7)
    p.user.q931.connect(uc)
    p.run(0.1)
    assert (nc.state, uc.state) == (10, 10)
    assert p.kinds(False)[-1] == "connected" and "answered" in p.kinds(True)
    p.user.q931.disconnect(uc, 16)
    p.run(0.2)
    assert not p.net.q931.calls and not p.user.q931.calls
    names = [x.name for x in p.l3[False]] + [x.name for x in p.l3[True]]
    for want in ("DISCONNECT", "RELEASE", "RELEASE COMPLETE", "CONNECT ACKNOWLEDGE"):
        assert want in names


def test_t303_retransmits_setup_then_clears():
    p = Pair(timers={"T303": 4.0})
    p.user.q931.receive = lambda data: None                          # user side deaf at layer 3
    nc = p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=1)
    p.run(4.1)
    assert [x.name for x in p.l3[True]].count("SETUP") == 2
    p.run(4.1)
    assert nc.state == 0 and p.of(True, "released")[0][1]["cause"] == 18   # network: no user responding


def test_t305_t308_when_peer_ignores_disconnect():
    p = Pair(timers={"T305": 1.0, "T308": 1.0})
    uc = p.user.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=5)
    p.run(0.2)
    p.net.q931.receive = lambda data: None                           # network stops listening
    p.user.q931.disconnect(uc, 16)
    p.run(1.1)
    assert uc.state == 19                                            # T305 -> RELEASE, U19
    p.run(2.2)
    assert uc.state == 0 and [x.name for x in p.l3[False]].count("RELEASE") == 2


def test_t313_clears_when_connect_not_acknowledged():
    p = Pair(timers={"T313": 1.0})
    p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=3)
    p.run(0.2)
    uc = p.of(False, "incoming")[0][0]
    p.net.q931.receive = lambda data: None
    p.user.q931.connect(uc)
    p.run(1.2)
    disc = [x for x in p.l3[False] if x.name == "DISCONNECT"]
    assert disc and disc[0].cause.value == 102


def test_status_enquiry_answered_with_status_and_state():
    p = Pair()
    p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=3)
    p.run(0.2)
    uc = p.of(False, "incoming")[0][0]
    p.user.q931.alerting(uc)
    p.run(0.1)
    p.inject(False, encode_message(Q931Message(m.STATUS_ENQUIRY, cref=uc.cref, flag=0)))
    st_ = [x for x in p.l3[False] if x.name == "STATUS"][-1]
    assert st_.cause.value == 30 and st_.call_state == 7


def test_5_8_error_handling():
    p = Pair()
    # SETUP without bearer capability: RELEASE COMPLETE cause 96, no call
    p.inject(False, encode_message(Q931Message(m.SETUP, cref=77, channel=ChannelId([2]))))
    rc = p.l3[False][-1]
    assert rc.name == "RELEASE COMPLETE" and rc.cause.value == 96 and not p.user.q931.calls
    # message for an unknown call reference: RELEASE COMPLETE cause 81
    p.inject(False, encode_message(Q931Message(m.ALERTING, cref=99, flag=1)))
    assert p.l3[False][-1].cause.value == 81
    # unknown message type on a live call: STATUS cause 97, call kept
    p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=3)
    p.run(0.2)
    uc = p.of(False, "incoming")[0][0]
    p.inject(False, bytes([8, 2, uc.cref >> 8, uc.cref & 0xFF, 0x33]))
    assert p.l3[False][-1].name == "STATUS" and p.l3[False][-1].cause.value == 97 and uc.state == 6
    # CONNECT ACKNOWLEDGE in the wrong state: STATUS cause 101
    p.inject(False, encode_message(Q931Message(m.CONNECT_ACKNOWLEDGE, cref=uc.cref, flag=0)))
    assert p.l3[False][-1].cause.value == 101 and uc.state == 6
    # DISCONNECT without cause: still cleared (5.8.6.1), RELEASE carries cause 96
    p.inject(False, encode_message(Q931Message(m.DISCONNECT, cref=uc.cref, flag=0)))
    rel = [x for x in p.l3[False] if x.name == "RELEASE"][-1]
    assert rel.cause.value == 96
    p.run(0.2)
    assert not p.user.q931.calls


def test_glare_network_side_moves_preferred_and_refuses_exclusive():
    p = Pair()
    p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=1)
    # user SETUP for the same channel arrives before our SETUP reached it (channel busy at the network)
    p.inject(True, encode_message(Q931Message(m.SETUP, cref=500, bearer=Bearer(), channel=ChannelId([1], False),
                                              called=Number("9", 2, 1))))
    moved = p.of(True, "incoming")[-1][0]
    assert moved.channel != 1
    p.inject(True, encode_message(Q931Message(m.SETUP, cref=501, bearer=Bearer(), channel=ChannelId([1], True),
                                              called=Number("9", 2, 1))))
    rc = [x for x in p.l3[True] if x.name == "RELEASE COMPLETE"][-1]
    assert rc.cause.value == 44 and rc.cref == 501


def test_link_loss_clears_setup_calls_keeps_active_for_t309():
    p = Pair(timers={"T309": 2.0})
    p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=3)
    p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=4)
    p.run(0.2)
    a, b = [c for c, _ in p.of(False, "incoming")]
    p.user.q931.connect(a)
    p.run(0.2)
    p.user.q931.dl_released()
    assert b.state == 0 and a.state == 10
    p.run(2.1)
    assert a.state == 0 and p.of(False, "released")[-1][1]["cause"] == 41


VALID = [
    encode_message(Q931Message(m.SETUP, cref=1, bearer=Bearer(), channel=ChannelId([2]), called=Number("555", 2, 1),
                               calling=Number("100", 4, 1), display="x", sending_complete=True)),
    encode_message(Q931Message(m.CONNECT, cref=1, flag=1, channel=ChannelId([1]))),
    encode_message(Q931Message(m.DISCONNECT, cref=1, flag=1, cause=m.Cause(16, 2), progress=[m.Progress(8, 2)])),
    encode_message(Q931Message(m.RESTART, channel=ChannelId([1]), restart_class=0)),
    encode_message(Q931Message(m.STATUS, cref=1, flag=1, cause=m.Cause(30), call_state=10)),
]


def _mutate(data, edits, cut):
    b = bytearray(data)
    for pos, val in edits:
        b[pos % len(b)] = val
    return bytes(b[:max(1, len(b) - cut)])


layer3 = st.one_of(
    st.binary(max_size=80),
    st.builds(_mutate, st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)),
                                                        max_size=4), st.integers(0, 8)),
    st.builds(lambda t, cr, fl, body: bytes([8, 2, (fl << 7) | (cr >> 8), cr & 0xFF, t]) + body,
              st.sampled_from(sorted(m.MESSAGE_NAMES) + [0x00, 0x33, 0x7F]), st.integers(0, 3),
              st.integers(0, 1), st.binary(max_size=40)),
    st.builds(lambda t, cr, fl, ies: bytes([8, 2, (fl << 7), cr, t]) + b"".join(ies),
              st.sampled_from(sorted(m.MESSAGE_NAMES)), st.integers(0, 3), st.integers(0, 1),
              st.lists(st.builds(lambda i, v: bytes([i, len(v)]) + v,
                                 st.sampled_from([4, 8, 0x14, 0x18, 0x1E, 0x28, 0x6C, 0x70, 0x79, 0x05, 0x50]),
                                 st.binary(max_size=6)), max_size=5)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layer3, max_size=10), st.booleans())
def test_fuzz_messages_into_decoder_and_state_machine(batch, to_network):
    p = Pair()
    nc = p.net.q931.setup(Number("1", 2, 1), Number("2", 2, 1), channel=1)     # a call with cref 1 alive
    p.run(0.2)
    for data in batch:
        decode_message(data)
        p.side[to_network].q931.receive(data)
        p.run(0.05)
    p.run(40, step=1.0)                                              # every Q.931 timer runs out
    assert p.net.up and p.user.up
    assert not [e for e in p.side[to_network].q931.errors if "internal error" in e]
    # the stacks still place and complete a call (on a channel no call injected by the fuzzer holds:
    # a well-formed SETUP the network never sent leaves the user side in U6, which has no timer in Q.931)
    del nc
    busy = p.net.q931.busy_channels() | p.user.q931.busy_channels()
    ch = next(n for n in p.net.q931.channels if n not in busy)
    c = p.net.q931.setup(Number("5", 2, 1), Number("6", 2, 1), channel=ch)
    p.run(0.2)
    inc = [x for x, _ in p.of(False, "incoming") if x.channel == ch][-1]
    p.user.q931.connect(inc)
    p.run(0.2)
    assert c.state == 10 and inc.state == 10
