"""The SIP far end of the simulated network: scripted callers and called parties speaking SIP and RTP to
Trunkline's SIP span over loopback, with the same SIP stack and RTP core on a span of their own. It runs
on the card's tick (virtual or real time): loopback UDP sent in one tick is read in the next."""
from __future__ import annotations

import asyncio

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.board import Board, open_board
from trunkline.drivers.signaling.base import ANSWERED, HANGUP, INCOMING, SignalingError, SignalingEvent
from trunkline.drivers.signaling.sip import SipSignaling
from trunkline.drivers.sip.config import SipSettings, SipTrunk
from trunkline.pstn.switch import SimError, Switch, TrunkCall, render_dtmf

BLOCK = 160


class SipFarCall(TrunkCall):
    """A party on the SIP far end: a caller into Trunkline or the called party of a call it placed."""

    def __init__(self, far: SipFarEnd, channel: int, number: str, caller: str) -> None:
        super().__init__(far.switch, channel, number, caller)
        self.far = far

    def _release(self) -> None:
        self.far.sig.hangup(self.channel, 16)
        self.far.forget(self)

    def _abandon(self) -> None:
        self.far.sig.hangup(self.channel, 16)
        self.far.forget(self)

    def _cleared(self, cause: int = 16) -> None:
        if self.state in ("ringing", "up"):
            self.far.play_clear(self.channel)
            self.state = "ended"
            self.hungup = True
            self.cause = cause
            self.far.forget(self)
            self._finish()

    async def hangup(self) -> None:
        """Hang up (before answer: CANCEL)."""
        self.far.play_clear(self.channel)
        if self.state == "ringing":
            self.state = "ended"
            self._abandon()
            self._finish()
        elif self.state == "up":
            self.state = "ended"
            self._release()
            self._finish()

    async def play(self, pcm: NDArray[np.int16]) -> None:
        """Send int16 audio over RTP and wait until it has gone out."""
        self.far.play(self.channel, np.asarray(pcm, dtype=np.int16))
        await self.switch.sleep(self.far.pending(self.channel) / 8000 + 2 * BLOCK / 8000)

    def play_nowait(self, pcm: NDArray[np.int16]) -> None:
        """Queue audio without waiting."""
        self.far.play(self.channel, np.asarray(pcm, dtype=np.int16))

    async def send_dtmf(self, digits: str, on_ms: float = 100, off_ms: float = 100, level_dbm0: float = -8.0) -> None:
        """Press keys: RFC 4733 events when negotiated, else in-band tones."""
        if self.far.sig.send_digits(self.channel, digits):
            while self.far.sig.rtp.dtmf_busy(self.channel - self.far.sig.offset) and not self.ended:
                await self.switch.sleep(0.02)
            await self.switch.sleep(0.1)
        else:
            await self.play(render_dtmf(digits, on_ms, off_ms, level_dbm0))

    def start_capture(self) -> None:
        """Keep what this party hears."""
        self.far.captures.setdefault(self.channel, [])

    def take_captured(self) -> NDArray[np.int16]:
        """What was heard since the last take."""
        got = self.far.captures.get(self.channel) or []
        self.far.captures[self.channel] = []
        return np.concatenate(got) if got else np.zeros(0, dtype=np.int16)


class SipFarEnd:
    """SIP callers and called parties on their own SIP span, aimed at Trunkline's SIP listen address."""

    def __init__(self, switch: Switch, target: tuple[str, int], channels: int = 60, host: str = "127.0.0.1") -> None:
        self.switch = switch
        self.target = target
        self.settings = SipSettings(f"{host}:0", channels=channels,
                                    trunks=[SipTrunk("trunkline", host=target[0], port=target[1])])
        self.board: Board = open_board("sip://far", sip=self.settings)
        self.events: list[SignalingEvent] = []
        self.sig = SipSignaling(self.board.spans[0], self.events.append)
        self.port = self.board.backend.transports.port if hasattr(self.board.backend, "transports") else 0
        self.parties: dict[int, SipFarCall] = {}
        self._play: dict[int, list[NDArray[np.int16]]] = {}
        self.captures: dict[int, list[NDArray[np.int16]]] = {}
        self._out = np.zeros((channels, BLOCK), dtype=np.int16)

    # ------------------------------------------------------------ TrunkFarEnd
    def place_call(self, number: str, caller: str = "", name: str = "") -> TrunkCall:
        """INVITE Trunkline's number; returns the ringing party."""
        try:
            ch = self.sig.dial(f"sip:{number}@{self.target[0]}:{self.target[1]}", caller or "anonymous")
        except SignalingError as exc:
            raise SimError(f"SIP far end: {exc.reason}") from None
        party = SipFarCall(self, ch, number, caller)
        self.parties[ch] = party
        return party

    def on_far_event(self, name: str, ch: int, span: int, value: int) -> None:
        """No card line events concern the SIP far end."""

    def poll(self, now: float) -> None:
        """One tick of the far end: RTP in/out for all its channels, then SIP."""
        board = self.board
        codes = board.read()
        if self.captures:
            audio = board.codec.decode(codes)
            for ch, buf in self.captures.items():
                buf.append(audio[ch].copy())
        out = self._out
        out.fill(0)
        for ch, queue in list(self._play.items()):
            need, pos = BLOCK, 0
            while need and queue:
                head = queue[0]
                take = min(need, len(head))
                out[ch, pos:pos + take] = head[:take]
                pos, need = pos + take, need - take
                if take == len(head):
                    queue.pop(0)
                else:
                    queue[0] = head[take:]
            if not queue:
                del self._play[ch]
        board.write(board.codec.encode(out))
        board.tick()
        self.sig.poll(now)
        while self.events:
            ev = self.events.pop(0)
            self._event(ev)

    def _event(self, ev: SignalingEvent) -> None:
        party = self.parties.get(ev.channel)
        if ev.kind == INCOMING:
            self._incoming(ev)
        elif party is None:
            return
        elif ev.kind == ANSWERED:
            party._answered()
        elif ev.kind == HANGUP:
            party._cleared(ev.cause)

    def _incoming(self, ev: SignalingEvent) -> None:
        """Trunkline called a number on the far network: behave as Switch.destination says."""
        dest = self.switch.destination(ev.called)
        refusal = {"busy": 17, "unallocated": 1, "congestion": 34}.get(dest.kind)
        if refusal is not None:
            self.switch._dialled(ev.called, "sip", dest.kind)
            self.sig.hangup(ev.channel, refusal)
            return
        party = SipFarCall(self, ev.channel, ev.called, ev.caller)
        self.parties[ev.channel] = party
        self.switch._dialled(ev.called, "sip", dest.kind, party)
        if dest.kind == "answer":
            def answer() -> None:
                if party.state != "ringing":
                    return
                try:
                    self.sig.answer(party.channel)
                except SignalingError:
                    return
                party._answered()
                if dest.script is not None:
                    asyncio.ensure_future(dest.script(party))
            self.switch.timers.at(dest.answer_after, answer)

    # ------------------------------------------------------------ audio
    def play(self, ch: int, pcm: NDArray[np.int16]) -> None:
        """Queue audio on a far channel."""
        if len(pcm):
            self._play.setdefault(ch, []).append(pcm)

    def pending(self, ch: int) -> int:
        """Samples still queued on a far channel."""
        return sum(len(p) for p in self._play.get(ch, []))

    def play_clear(self, ch: int) -> None:
        """Drop queued audio."""
        self._play.pop(ch, None)

    def forget(self, party: SipFarCall) -> None:
        """The party's call is over."""
        if self.parties.get(party.channel) is party:
            del self.parties[party.channel]
        self.captures.pop(party.channel, None)
        self._play.pop(party.channel, None)

    def close(self) -> None:
        """Close the far end's sockets."""
        self.board.close()
