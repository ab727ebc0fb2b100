"""SIP spans against real peers on loopback: baresip user agents (ctrl_tcp) registered at kamailio
(proxy/registrar with digest auth) call Trunkline and are called by it. Trunkline registers at kamailio
as 95588 (digest auth answered), answers, runs a menu chosen by RFC 4733 digits, exchanges tones both
ways (measured on each side), holds and retrieves, transfers blind (REFER) to an agent, and sees busy
and unreachable with their Q.850 causes. The peers and the engine start once for the module."""
import asyncio
import os
import threading
import time

import numpy as np
import pytest
from peers.sip_peers import Baresip, Kamailio, free_port, tone_power, write_tone

from trunkline.drivers.board import open_board
from trunkline.drivers.sip.config import SipSettings, SipTrunk
from trunkline.media import Engine
from trunkline.media.errors import ChannelError, Hangup
from trunkline.media.refer import ReferTransfers

CALLER_TONE, AGENT_TONE, OUR_TONE, CAROL_TONE = 1000, 1500, 600, 2000


class Tap:
    """Hears the call (rx kept) and sends a tone (tx)."""

    def __init__(self, freq):
        self.heard = []
        self.phase = 0
        self.freq = freq

    def rx(self, samples):
        self.heard.append(np.array(samples))

    def tx(self, n):
        t = (self.phase + np.arange(n)) / 8000
        self.phase += n
        return (6000 * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)

    def audio(self, skip=0.5):
        pcm = np.concatenate(self.heard) if self.heard else np.zeros(0, np.int16)
        return pcm[int(skip * 8000):]


class World:
    """kamailio, two baresips (caller alice, agent bob), and an engine on a SIP board in a thread."""

    def __init__(self, tmp):
        self.tmp = tmp
        write_tone(os.path.join(tmp, "caller.wav"), CALLER_TONE, 120)
        write_tone(os.path.join(tmp, "agent.wav"), AGENT_TONE, 120)
        self.kam = Kamailio(os.path.join(tmp, "kamailio"))
        self.alice = self.bob = None
        try:
            self.alice = Baresip(tmp, "alice", "alice", self.kam.port, os.path.join(tmp, "caller.wav"))
            self.bob = Baresip(tmp, "bob", "bob", self.kam.port, os.path.join(tmp, "agent.wav"))
        except Exception:          # a peer that does not start must not leave the others running
            for peer in (self.alice, self.kam):
                if peer is not None:
                    peer.stop()
            raise
        self.sip_port = free_port()
        trunk = SipTrunk("kamailio", host="127.0.0.1", port=self.kam.port, username="95588", password="secret",
                         register=True, register_expires=4)
        self.settings = SipSettings(f"127.0.0.1:{self.sip_port}", channels=8, trunks=[trunk],
                                    open_numbers=["95588"])
        self.board = open_board("sip://test", sip=self.settings)
        self.engine = Engine(self.board)
        self.sig = self.engine.signaling[0]
        self.refers = ReferTransfers(self.engine)          # REFERs from the peers, as `trunkline run` wires
        self.flow = None
        self.calls = []
        self.engine.route(self._route)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    async def _route(self, call):
        self.calls.append(call)
        if self.flow is not None:
            await self.flow(call)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.engine.run(realtime=True))

    def run(self, coro, timeout=30):
        """Run a coroutine on the engine's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def wait(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self):
        self.engine.stop()
        self.thread.join(timeout=10)
        self.board.close()
        for peer in (self.alice, self.bob, self.kam):
            peer.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(str(tmp_path_factory.mktemp("sip")))
    try:
        w.alice.wait_registered()
        w.bob.wait_registered()
        w.wait(lambda: w.sig.registrations[0].state == "registered", what="Trunkline registered at kamailio")
        yield w
    finally:
        w.close()


def aor(world, user):
    return f"sip:{user}@127.0.0.1:{world.kam.port}"


def test_registration_with_digest_auth_is_refreshed(world):
    reg = world.sig.registrations[0]
    first = reg.seq
    world.wait(lambda: reg.seq > first + 1 and reg.state == "registered", timeout=12,
               what="registration refresh")
    assert reg.last_status == 200


def test_inbound_call_menu_by_rfc4733_and_audio_both_ways_caller_hangs_up(world):
    got = {}
    done = threading.Event()

    async def flow(call):
        try:
            await call.answer()
            beep = (4000 * np.sin(2 * np.pi * 400 * np.arange(8000) / 8000)).astype(np.int16)
            got["digit"] = await call.menu(beep, choices="123", timeout=8, retries=2)
            tap = Tap(OUR_TONE)
            world.engine.attach_tap(call, tap)
            got["tap"] = tap
            await call.wait_hangup(timeout=20)
            got["side"] = call.vars.get("hangup_side")
        finally:
            done.set()

    world.flow = flow
    world.alice.clear_events()
    world.alice.command("dial", aor(world, "95588"))
    world.alice.wait_event("CALL_ESTABLISHED")
    time.sleep(0.5)
    world.alice.command("sndcode", "2")
    world.wait(lambda: "tap" in got, what="menu digit")
    time.sleep(2.5)
    world.alice.command("hangup")
    assert done.wait(10)
    assert got["digit"] == "2"
    assert got["side"] == "remote"
    heard = got["tap"].audio()
    assert len(heard) > 8000 and tone_power(heard, CALLER_TONE) > 0.6, "Trunkline did not hear the caller's tone"
    pcm, rate = world.alice.received_audio()
    tail = pcm[-int(1.5 * rate):]
    assert tone_power(tail, OUR_TONE, rate) > 0.6, "the caller did not hear Trunkline's tone"
    world.flow = None


def test_outbound_call_audio_hold_unhold_and_local_hangup(world):
    world.bob.clear_events()

    async def call_bob():
        call = world.engine.dial("bob")
        return call

    call = world.run(call_bob())
    world.bob.wait_event("CALL_INCOMING")
    world.bob.command("accept")
    world.run(call.wait_answer(10))
    tap = Tap(OUR_TONE)
    world.engine.attach_tap(call, tap)
    time.sleep(2.0)
    assert tone_power(tap.audio(), AGENT_TONE) > 0.6, "Trunkline did not hear the agent's tone"
    ch = call.channel
    # the agent holds: its re-INVITE (sendonly) stops our sending; resume starts it again
    world.bob.command("hold")
    world.wait(lambda: world.sig.legs[ch].remote_sdp.direction == "sendonly", what="hold re-INVITE")
    sent = world.sig.rtp.stats(ch).tx_packets
    time.sleep(0.6)
    assert world.sig.rtp.stats(ch).tx_packets == sent, "still sending to a party that holds"
    world.bob.command("resume")
    world.wait(lambda: world.sig.legs[ch].remote_sdp.direction == "sendrecv", what="resume re-INVITE")
    time.sleep(0.5)
    assert world.sig.rtp.stats(ch).tx_packets > sent + 10
    # we hold: our re-INVITE says sendonly, the agent answers recvonly
    world.run(call.hold())
    world.wait(lambda: world.sig.legs[ch].remote_sdp.direction == "recvonly", what="our hold answered")
    world.run(call.unhold())
    world.wait(lambda: world.sig.legs[ch].remote_sdp.direction == "sendrecv", what="our unhold answered")
    time.sleep(1.0)
    stats = world.sig.rtp.stats(ch)
    assert stats.rx_packets > 100 and stats.lost == 0
    live = [r for r in world.engine.signaling_status() if r["kind"] == "call"]      # what the live admin shows
    assert live and live[0]["channel"] == ch and live[0]["state"] == "up" and live[0]["codec"] == "PCMA"
    regs = [r for r in world.engine.signaling_status() if r["kind"] == "registration"]
    assert regs == [dict(regs[0], state="registered", trunk="kamailio")]
    world.run(call.hangup())
    world.bob.wait_event("CALL_CLOSED")
    pcm, rate = world.bob.received_audio()
    assert tone_power(pcm[int(0.5 * rate):int(2.0 * rate)], OUR_TONE, rate) > 0.6, "the agent did not hear us"


def test_blind_transfer_of_a_caller_to_an_agent(world):
    got = {}

    async def flow(call):
        await call.answer()
        await call.wait(0.5)
        await call.transfer(aor(world, "bob"))
        await call.wait_hangup(timeout=20)
        got["ended"] = True

    world.flow = flow
    world.alice.clear_events()
    world.bob.clear_events()
    world.alice.command("dial", aor(world, "95588"))
    world.alice.wait_event("CALL_ESTABLISHED")
    ev = world.bob.wait_event("CALL_INCOMING", timeout=10)
    assert "alice" in ev["peeruri"]
    world.bob.command("accept")
    world.bob.wait_event("CALL_ESTABLISHED")
    world.wait(lambda: got.get("ended"), timeout=15, what="our leg ended after the transfer")
    world.bob.command("hangup")
    world.bob.wait_event("CALL_CLOSED")
    world.flow = None


def test_incoming_blind_refer_from_the_agent_moves_the_caller(world):
    """alice calls in and is bridged to agent bob; bob transfers her (baresip sends REFER) to carol: we
    dial carol, bridge alice to her, NOTIFY bob 200 (sipfrag) and end bob's leg. alice and carol hear
    each other (each one's tone measured at the other)."""
    got = {}
    write_tone(os.path.join(world.tmp, "carol.wav"), CAROL_TONE, 120)
    carol = Baresip(world.tmp, "carol", "carol", world.kam.port, os.path.join(world.tmp, "carol.wav"))

    async def flow(call):
        await call.answer()
        agent = await world.engine.make_call(aor(world, "bob"), caller_id="alice", timeout=10)
        await call.bridge(agent)
        got["agent"] = agent
        await call.wait_hangup(timeout=40)

    try:
        carol.wait_registered()
        world.flow = flow
        world.alice.clear_events()
        world.bob.clear_events()
        world.alice.command("dial", aor(world, "95588"))
        world.bob.wait_event("CALL_INCOMING", timeout=10)
        world.bob.command("accept")
        world.bob.wait_event("CALL_ESTABLISHED")
        world.alice.wait_event("CALL_ESTABLISHED")
        time.sleep(0.5)
        world.bob.command("transfer", aor(world, "carol"))
        carol.wait_event("CALL_INCOMING", timeout=10)          # we dial the Refer-To target
        carol.command("accept")
        carol.wait_event("CALL_ESTABLISHED")
        world.bob.wait_event("CALL_CLOSED", timeout=10)        # bob's leg ended once carol answered
        time.sleep(2.5)
        world.alice.command("hangup")
        world.alice.wait_event("CALL_CLOSED")
        carol.wait_event("CALL_CLOSED", timeout=10)            # carol's leg ended with alice's
        heard, rate = carol.received_audio()
    finally:
        world.flow = None
        carol.stop()
    outcome = world.refers.done[-1]
    pcm, arate = world.alice.received_audio()
    print(f"\nREFER {outcome}; carol hears alice {tone_power(heard[-int(1.5 * rate):], CALLER_TONE, rate):.2f}, "
          f"alice hears carol {tone_power(pcm[-int(1.5 * arate):], CAROL_TONE, arate):.2f}")
    assert outcome["kind"] == "blind" and outcome["status"] == 200, world.refers.done
    assert got["agent"].hungup
    assert tone_power(heard[-int(1.5 * rate):], CALLER_TONE, rate) > 0.6, "carol did not hear alice"
    pcm, rate = world.alice.received_audio()
    assert tone_power(pcm[-int(1.5 * rate):], CAROL_TONE, rate) > 0.6, "alice did not hear carol"


def test_busy_and_unreachable_map_to_q850(world):
    world.bob.clear_events()

    async def dial(number):
        call = world.engine.dial(number)
        try:
            await call.wait_answer(15)
        except ChannelError as exc:
            return exc.cause
        except Hangup:
            return call.cause
        return "answered"

    fut = asyncio.run_coroutine_threadsafe(dial("bob"), world.loop)
    world.bob.wait_event("CALL_INCOMING")
    world.bob.command("hangup")             # rejecting an incoming call: 486 Busy Here
    assert fut.result(15) == 17
    assert world.run(dial("nobody")) == 1   # kamailio: 404 Not Found (user not registered)
