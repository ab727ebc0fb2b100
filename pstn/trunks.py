"""Digital trunk far ends for the simulated switch: the network side of ISDN PRI spans
(and China No.1 R2 spans, pstn/r2_far.py; China No.7 SS7, pstn/ss7_far.py). They place calls into the card and
answer the calls the card places, following what `Switch.destinations` says."""
import asyncio
from functools import partial
from typing import Any

from trunkline.drivers.signaling import q931 as m
from trunkline.drivers.signaling.pri import PRINetworkSide
from trunkline.drivers.signaling.q931_control import Q931Call
from trunkline.hw_sim.card import SpanLayout
from trunkline.pstn.r2_far import R2FarEnd
from trunkline.pstn.ss7_far import SS7FarEnd
from trunkline.pstn.switch import SimError, Switch, TrunkCall, TrunkFarEnd


def attach_trunk_far_end(switch: Switch, kind: str, **options: Any) -> TrunkFarEnd:
    """Give a Switch the network side of every E1/T1 span of its card ("pri", "r2" or "ss7";
    options: Trunkline's SS7 settings, which the SS7 far end mirrors)."""
    far: TrunkFarEnd
    if kind == "pri":
        far = PRIFarEnd(switch)
    elif kind == "r2":
        far = R2FarEnd(switch)
    elif kind == "ss7":
        far = SS7FarEnd(switch, **options)
    else:
        raise ValueError(f"unknown trunk far end {kind!r}")
    switch.trunks[kind] = far
    return far


def bchannel_to_index(kind: str, number: int) -> int:
    """Position in the span's bearer list of a Q.931 B-channel number (E1 skips timeslot 16)."""
    if kind == "e1":
        return number - 1 if number < 16 else number - 2
    return number - 1


def index_to_bchannel(kind: str, index: int) -> int:
    """Q.931 B-channel number of a bearer position."""
    if kind == "e1":
        return index + 1 if index < 15 else index + 2
    return index + 1


class PRICall(TrunkCall):
    """A party on a PRI B-channel: a scripted caller, or the far party of a call Trunkline placed."""

    def __init__(self, far: "PRIFarEnd", span: SpanLayout, q931call: Q931Call, channel: int, number: str,
                 caller: str) -> None:
        super().__init__(far.switch, channel, number, caller)
        self.far = far
        self.span = span
        self.q931 = q931call
        far.held[span.index] += 1            # calls of the span not over yet (PRIFarEnd.place_call skips full spans)

    def _finish(self) -> None:
        if not self.ended:
            self.far.held[self.span.index] -= 1
        super()._finish()

    def _release(self) -> None:
        self.far.stack_of[self.span.index].hangup(self.q931, 16)

    def _abandon(self) -> None:
        self.far.stack_of[self.span.index].hangup(self.q931, 16)


class PRIFarEnd:
    """Network side (PRINetworkSide) of every PRI span of the card."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        card = switch.card
        # D-channel -> span, for every E1/T1 span that has one
        self._dchan = {sp.dchannel: sp for sp in card.spans if sp.kind in ("e1", "t1") and sp.dchannel is not None}
        self.spans = list(self._dchan.values())
        if not self.spans:
            raise SimError(f"card {card.name} has no E1/T1 span with a D-channel")
        self.stack_of: dict[int, PRINetworkSide] = {}
        self.calls: dict[tuple[int, int], PRICall] = {}     # (span index, id(q931 call)) -> PRICall
        self.span_calls: dict[int, dict[int, PRICall]] = {sp.index: {} for sp in self.spans}   # the same by span
        self.held = dict.fromkeys(self.span_calls, 0)      # span index -> its PRICalls not ended
        for dch, sp in self._dchan.items():
            variant = m.EUROISDN_E1 if sp.kind == "e1" else m.NI2
            stack = PRINetworkSide(partial(card.far_send_frame, dch), lambda: card.now, switch=variant)
            stack.on_answered = partial(self._on_answered, sp)
            stack.on_hangup = partial(self._on_hangup, sp)
            stack.on_incoming = partial(self._on_incoming, sp)
            self.stack_of[sp.index] = stack

    @property
    def up(self) -> bool:
        """True when every span's D-channel is up."""
        return all(s.up for s in self.stack_of.values())

    def place_call(self, number: str, caller: str = "", name: str = "") -> PRICall:
        """Offer a call into the card on a free B-channel of the first span that has one; returns the PRICall.
        Work per call: O(1) per full span, O(B-channels) for the span that takes it (large cards)."""
        for sp in self.spans:
            stack = self.stack_of[sp.index]
            if self.held[sp.index] >= len(sp.bearer) or not stack.up:
                continue
            used = {c.channel for c in self.span_calls[sp.index].values() if not c.ended}
            for i, board_ch in enumerate(sp.bearer):
                if board_ch in used or self.switch.card.far_hook_state(board_ch):
                    continue
                q = stack.place_call(number, caller, channel=index_to_bchannel(sp.kind, i),
                                     display=name or None)
                call = PRICall(self, sp, q, board_ch, number, caller)
                self._add(sp, q, call)
                return call
        raise SimError("all PRI B-channels busy or D-channel down")

    def _add(self, sp: SpanLayout, q: Q931Call, call: PRICall) -> None:
        self.calls[(sp.index, id(q))] = call
        self.span_calls[sp.index][id(q)] = call

    def _on_answered(self, sp: SpanLayout, q: Q931Call) -> None:
        call = self.calls.get((sp.index, id(q)))
        if call is not None:
            call._answered()

    def _on_hangup(self, sp: SpanLayout, q: Q931Call, cause: int) -> None:
        call = self.calls.pop((sp.index, id(q)), None)
        self.span_calls[sp.index].pop(id(q), None)
        if call is not None:
            call._cleared(cause)

    def _on_incoming(self, sp: SpanLayout, q: Q931Call) -> None:
        """Trunkline placed a call: behave as Switch.destinations says for the called number."""
        stack = self.stack_of[sp.index]
        if q.channel is None:                  # the network side always chooses a channel
            return
        board_ch = sp.bearer[bchannel_to_index(sp.kind, q.channel)]
        number = q.called.digits
        how = self.switch.destination(number)
        if how.kind in ("busy", "unallocated", "congestion"):
            stack.hangup(q, {"busy": 17, "unallocated": 1, "congestion": 34}[how.kind])
            self.switch._dialled(number, "pri", how.kind)
            return
        stack.proceeding(q)
        stack.alert(q)
        party = PRICall(self, sp, q, board_ch, number, q.calling.digits)
        party.start_capture()
        self._add(sp, q, party)
        self.switch._dialled(number, "pri", how.kind, party)
        if how.kind == "noanswer":
            return

        def answer() -> None:
            if party.state == "ringing":
                stack.answer(q)
                party._answered()
                if how.script is not None:
                    asyncio.ensure_future(how.script(party))
        self.switch.timers.at(how.answer_after, answer)

    def on_far_event(self, name: str, ch: int, span: int, value: int) -> None:
        """Card-side activity seen by the network: D-channel frames."""
        sp = self._dchan.get(ch)
        if name != "dframe" or sp is None:
            return
        stack = self.stack_of[sp.index]
        while True:
            frame = self.switch.card.far_recv_frame(ch)
            if frame is None:
                break
            stack.receive_frame(frame)

    def poll(self, now: float) -> None:
        """Layer 2/3 timers."""
        for stack in self.stack_of.values():
            stack.tick(now)
