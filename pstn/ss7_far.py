"""The SS7 (China No.7) side of the simulated switch: one signaling point behind every E1 span of
the card, with a link on each span's signaling timeslot (MTP2 frames through the card's HDLC
channel) and CIC-based calls on the bearer timeslots. It places calls into the card (IAM) and
answers the calls the card places, as `Switch.destinations` says, like the PRI and R2 far ends.
"""
import asyncio
from functools import partial
from typing import Any

from trunkline.drivers.signaling import isup_msg as im
from trunkline.drivers.signaling.isup import IsupCall
from trunkline.drivers.signaling.mtp3 import CHINA24, parse_pc
from trunkline.drivers.signaling.ss7 import SS7Point, cic_map
from trunkline.pstn.switch import SimError, Switch, TrunkCall

CAUSES = {"busy": 17, "unallocated": 1, "congestion": 34}


class SS7Call(TrunkCall):
    """A party on an SS7 circuit: a scripted caller, or the far party of a call Trunkline placed."""

    def __init__(self, far: "SS7FarEnd", call: IsupCall, channel: int, number: str, caller: str) -> None:
        super().__init__(far.switch, channel, number, caller)
        self.far = far
        self.isup_call = call

    def _release(self) -> None:
        self.far.point.isup.release(self.isup_call, 16)

    def _abandon(self) -> None:
        self.far.point.isup.release(self.isup_call, 16)


class SS7FarEnd:
    """The network's signaling point: its OPC is Trunkline's DPC and the other way round."""

    def __init__(self, switch: Switch, opc: str | int = "1-1-1", dpc: str | int = "2-2-2",
                 pc_format: str = CHINA24, cic_base: int = 0, **_ignored: Any) -> None:
        """opc/dpc/pc_format/cic_base: Trunkline's SS7 settings (the far end mirrors them)."""
        self.switch = switch
        card = switch.card
        self.spans = [sp for sp in card.spans if sp.kind == "e1" and sp.dchannel is not None]
        if not self.spans:
            raise SimError(f"card {card.name} has no E1 span with a signaling timeslot")
        self.cic_to_ch: dict[int, int] = {}
        for pos, sp in enumerate(self.spans):
            self.cic_to_ch.update(cic_map(sp.channels, sp.bearer, pos, cic_base))
        self.point = SS7Point(parse_pc(dpc, pc_format), parse_pc(opc, pc_format), sorted(self.cic_to_ch),
                              lambda: card.now, fmt=pc_format, on_event=self._on_event)
        self._slc_of_dchan: dict[int, int] = {}
        for pos, sp in enumerate(self.spans):
            assert sp.dchannel is not None
            self._slc_of_dchan[sp.dchannel] = pos % 16
            self.point.add_link(pos % 16, partial(card.far_send_frame, sp.dchannel))
        self.calls: dict[int, SS7Call] = {}        # CIC -> far party
        self.dialled = 0
        self._started = False

    @property
    def up(self) -> bool:
        """True when the signaling route to Trunkline is available."""
        return self.point.up

    def place_call(self, number: str, caller: str = "", name: str = "") -> SS7Call:
        """Send an IAM on a free CIC; returns the SS7Call (SimError if none or the route is down)."""
        if not self.point.up:
            raise SimError("SS7 route to the card is not available")
        free = self.point.isup.free_cics()
        for cic in free:
            if cic in self.calls:
                continue
            calling = im.Number(caller, im.NAI_NATIONAL) if caller else None
            call = self.point.isup.setup(cic, im.Number(number, im.NAI_NATIONAL, complete=True), calling)
            party = SS7Call(self, call, self.cic_to_ch[cic], number, caller)
            self.calls[cic] = party
            return party
        raise SimError("all SS7 circuits busy")

    def _on_event(self, kind: str, call: IsupCall | None, info: dict[str, Any]) -> None:
        if call is None:
            return
        party = self.calls.get(call.cic)
        if kind == "incoming":
            self._incoming(call)
        elif party is None or party.isup_call is not call:
            return
        elif kind == "answered":
            party._answered()
        elif kind in ("released", "glare"):
            del self.calls[call.cic]
            party._cleared(info.get("cause", 16))

    def _incoming(self, call: IsupCall) -> None:
        """Trunkline placed a call: behave as Switch.destinations says for the called number."""
        number = call.called.digits
        how = self.switch.destination(number)
        if how.kind in CAUSES:
            self.point.isup.release(call, CAUSES[how.kind])
            self.switch._dialled(number, "ss7", how.kind)
            return
        self.point.isup.alert(call)
        party = SS7Call(self, call, self.cic_to_ch[call.cic], number, call.calling.digits if call.calling else "")
        party.start_capture()
        self.calls[call.cic] = party
        self.switch._dialled(number, "ss7", how.kind, party)
        if how.kind == "noanswer":
            return

        def answer() -> None:
            if party.state == "ringing" and self.point.isup.answer(call):
                party._answered()
                if how.script is not None:
                    asyncio.ensure_future(how.script(party))
        self.switch.timers.at(how.answer_after, answer)

    def on_far_event(self, name: str, ch: int, span: int, value: int) -> None:
        """Card-side activity seen by the network: SUs on a signaling timeslot."""
        slc = self._slc_of_dchan.get(ch)
        if name != "dframe" or slc is None:
            return
        while True:
            su = self.switch.card.far_recv_frame(ch)
            if su is None:
                break
            self.point.receive(slc, su)

    def poll(self, now: float) -> None:
        """MTP2/MTP3/ISUP timers (the link set starts on the first poll)."""
        if not self._started:
            self._started = True
            self.point.start()
        nt = self.point.next_timer()
        if nt is not None and nt <= now:
            self.point.tick(now)
