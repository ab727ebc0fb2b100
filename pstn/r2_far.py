"""The network side of China No.1 (MFC/R2) E1 spans for the simulated switch.

It places calls into the card (outgoing register: seize, DNIS, KA + ANI on A6, KD on A3, then the
B signal decides) and answers the calls the card places as `Switch.destination` says (B1 free,
B2 busy, B4 congestion, B5 unallocated number). Line signals are the card's far-side ABCD bits;
MF tones go out through `card.far_play` one block per tick and are heard with `card.far_read`.
"""
import asyncio

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.signaling.r2_core import (
    B_BUSY_LOCAL,
    B_CONGESTION,
    B_FREE_CHARGE,
    B_UNALLOCATED,
    IDLE,
    R2Core,
    R2Line,
)
from trunkline.dsp.g711 import MixedLawCodec
from trunkline.pstn.switch import SimError, Switch, TrunkCall

DEST_B = {"busy": B_BUSY_LOCAL, "unallocated": B_UNALLOCATED, "congestion": B_CONGESTION}
GUARD = 0.2     # s a channel rests after a call before the network seizes it again


class R2Call(TrunkCall):
    """A scripted caller reaching Trunkline over an R2 timeslot (or the far party of a call it placed)."""

    def __init__(self, far: "R2FarEnd", channel: int, number: str, caller: str) -> None:
        super().__init__(far.switch, channel, number, caller)
        self.far = far
        self.category: int | None = None     # KD of a call Trunkline placed (group II category)

    def _release(self) -> None:
        self.far.core.hangup(self.channel)
        self.far._forget(self)

    def _abandon(self) -> None:
        self._release()


class R2FarEnd:
    """Switch side of every E1 span of the card under China No.1 signalling."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        card = self.card = switch.card
        self.spans = [sp for sp in card.spans if sp.kind == "e1"]
        if not self.spans:
            raise SimError(f"card {card.name} has no E1 span for R2")
        chans = [ch for sp in self.spans for ch in sp.bearer]
        self.core = R2Core(chans, card.far_set_cas, lambda: card.now)
        self.rows = np.array(chans)
        self.codec = MixedLawCodec([card.laws[c] for c in chans])
        self._codes: NDArray[np.uint8] = np.empty((card.channels, card.block), dtype=np.uint8)
        self.calls: dict[int, R2Call] = {}        # channel -> R2Call
        self.rest: dict[int, float] = {}          # channel -> time it may be seized again
        c = self.core
        c.on_decide = self._decide
        c.on_offered = self._offered
        c.on_answered = self._answered
        c.on_hangup = self._hangup
        for ch in chans:
            card.far_set_cas(ch, IDLE)

    def _answered(self, ch: int, line: R2Line) -> None:
        call = self.calls.get(ch)
        if call is not None:
            call._answered()

    # ------------------------------------------------------------ calls into the card
    def place_call(self, number: str, caller: str = "", name: str = "", restricted: bool = False,
                   category: str = "subscriber") -> R2Call:
        """Seize a free timeslot (highest first, against glare) and offer `number`; returns the R2Call."""
        now = self.card.now
        for ch in reversed(self.core.chans):
            if (not self.core.free(ch) or ch in self.calls or self.rest.get(ch, 0) > now
                    or self.card.far_get_cas(ch) != IDLE):
                continue
            self.core.dial(ch, str(number), "".join(c for c in str(caller) if c.isdigit()),
                           category=category, restricted=restricted)
            call = R2Call(self, ch, str(number), caller)
            self.calls[ch] = call
            return call
        raise SimError("all R2 timeslots busy or blocked")

    def _forget(self, call: R2Call) -> None:
        if self.far_calls_get(call.channel) is call:
            self.calls.pop(call.channel, None)
        self.rest[call.channel] = self.card.now + GUARD

    def far_calls_get(self, ch: int) -> R2Call | None:
        """The scripted call on a timeslot, or None."""
        return self.calls.get(ch)

    def _hangup(self, ch: int, line: R2Line, cause: int) -> None:
        self.rest[ch] = self.card.now + GUARD
        call = self.calls.pop(ch, None)
        if call is not None and not call.ended:
            call._cleared(cause)

    # ------------------------------------------------------------ calls the card places
    def _decide(self, ch: int, line: R2Line) -> int:
        how = self.switch.destination(line.called)
        if how.kind in DEST_B:
            self.switch._dialled(line.called, "r2", how.kind)
        return DEST_B.get(how.kind, B_FREE_CHARGE)

    def _offered(self, ch: int, line: R2Line) -> None:
        how = self.switch.destination(line.called)
        party = R2Call(self, ch, line.called, line.caller)
        party.category = line.kd
        party.start_capture()
        self.calls[ch] = party
        self.switch._dialled(line.called, "r2", how.kind, party)
        if how.kind == "noanswer":
            return

        def answer() -> None:
            if party.state == "ringing" and self.calls.get(ch) is party and self.core.state(ch) == "offered":
                self.core.answer(ch)
                party._answered()
                if how.script is not None:
                    asyncio.ensure_future(how.script(party))
        self.switch.timers.at(how.answer_after, answer)

    # ------------------------------------------------------------ switch hooks
    def on_far_event(self, name: str, ch: int, span: int, value: int) -> None:
        """ABCD changes the card transmits."""
        if name == "cas" and ch in self.core.lines:
            self.core.cas_in(ch, value)

    def poll(self, now: float) -> None:
        """Timers, then hear and send the register audio of timeslots in MF."""
        core = self.core
        core.poll(now)
        if not core.mf:
            return
        self.card.far_read(self._codes)
        audio = self.codec.decode(self._codes[self.rows])
        core.feed(audio)
        if core.mf:
            out = core.generate(self.card.block)
            for ch in core.mf:
                self.card.far_play(ch, out[core.row[ch]])
