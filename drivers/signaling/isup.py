"""ISUP call control (ITU-T Q.764 with the China national options) over MTP3.

`IsupStack` owns a set of CICs toward one adjacent signaling point. It places and takes
calls (IAM/SAM/ACM/CPG/ANM/CON/REL/RLC, SUS/RES, INR/INF, continuity), runs the Q.764
timers with their standard actions, resolves dual seizure by point code (the exchange with
the higher point code controls the even CICs, Q.764 2.9.1.3) and does circuit maintenance
(`isup_maint.Maintenance`: BLO/UBL, CGB/CGU, RSC, GRS, UCIC). It reports upward through
`on_event(kind, call_or_None, info)`: incoming, sam, info, alerting, proceeding, progress,
answered, suspended, resumed, released (info: cause, local), glare (our call lost a dual
seizure; info: cic), circuit (info: cic, state), plus the maintenance kinds of isup_maint.
"""
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import isup_msg as im
from .isup_maint import Maintenance
from .isup_msg import Message, Number

log = logging.getLogger("trunkline.ss7.isup")

#: Q.764 timer defaults (seconds)
TIMERS = {"T1": 15.0, "T5": 300.0, "T6": 60.0, "T7": 25.0, "T8": 12.0, "T9": 90.0, "T12": 15.0, "T13": 60.0,
          "T14": 15.0, "T15": 60.0, "T16": 15.0, "T17": 60.0, "T18": 15.0, "T19": 60.0, "T20": 15.0,
          "T21": 60.0, "T22": 15.0, "T23": 60.0, "T33": 14.0}

CAUSE_NORMAL, CAUSE_NO_ANSWER, CAUSE_TEMPFAIL, CAUSE_TIMER = 16, 19, 41, 102
CAUSE_NETWORK_OOO, CAUSE_CIRCUIT_UNAVAILABLE = 38, 44

# call states
IDLE, OUT_SETUP, OUT_ALERTING, IN_SETUP, IN_WAIT_COT, IN_WAIT_INF, IN_ALERTING = (
    "idle", "outgoing setup", "outgoing alerting", "incoming setup", "waiting continuity", "waiting info",
    "incoming alerting")
ANSWERED, RELEASING, RESETTING = "answered", "releasing", "resetting"


@dataclass
class IsupCall:
    """One call on one circuit; `user` is free for the owner (the board channel)."""
    cic: int
    outgoing: bool
    called: Number = field(default_factory=Number)
    calling: Number | None = None
    category: int = im.CPC_ORDINARY
    state: str = IDLE
    cause: int = CAUSE_NORMAL
    acm_sent: bool = False
    suspended: bool = False
    released: bool = False
    user: Any = None


@dataclass
class Circuit:
    """One CIC: its call and blocking states."""
    cic: int
    state: str = IDLE
    call: IsupCall | None = None
    local_blocked: bool = False
    remote_blocked: bool = False
    local_hw_blocked: bool = False
    remote_hw_blocked: bool = False
    unequipped_far: bool = False
    looped: bool = False
    timers: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """idle, busy, blocked locally/remotely (for the admin)."""
        if self.local_blocked or self.local_hw_blocked:
            return "blocked locally"
        if self.remote_blocked or self.remote_hw_blocked or self.unequipped_far:
            return "blocked remotely"
        if self.state == RESETTING:
            return "resetting"
        return "idle" if self.state == IDLE else "busy"


EventHandler = Callable[[str, IsupCall | None, dict[str, Any]], None]


class IsupStack(Maintenance):
    """ISUP over MTP3 toward one adjacent point; `send(data, sls)` hands a message to MTP3."""

    def __init__(self, opc: int, dpc: int, cics: Iterable[int], send: Callable[[bytes, int], object],
                 now: Callable[[], float], on_event: EventHandler | None = None,
                 timers: dict[str, float] | None = None, request_calling: bool = False) -> None:
        """opc/dpc: point codes (glare control); cics: the circuits; now() in seconds."""
        self.opc, self.dpc = opc, dpc
        self.circuits: dict[int, Circuit] = {c: Circuit(c) for c in cics}
        self._send = send
        self.now = now
        self.on_event: EventHandler = on_event or (lambda kind, call, info: None)
        self.t = dict(TIMERS, **(timers or {}))
        self.request_calling = request_calling
        self.available = False
        self._heap: list[tuple[float, int, int, str]] = []
        self._seq = itertools.count()
        self.stats = {"rx": 0, "tx": 0, "rx_bad": 0, "glare": 0, "ucic_sent": 0, "calls_in": 0, "calls_out": 0}
        self.errors: list[str] = []
        self.sent: list[str] = []          # names of the last messages sent (traces)

    # ------------------------------------------------------------ plumbing
    def _tx(self, msg: Message) -> None:
        self.stats["tx"] += 1
        self.sent = (self.sent + [f"{msg.name} {msg.cic}"])[-50:]
        self._send(im.encode(msg), msg.cic & 0x0F)

    def _start(self, c: Circuit, name: str) -> None:
        due = self.now() + self.t[name]
        c.timers[name] = due
        heapq.heappush(self._heap, (due, next(self._seq), c.cic, name))

    @staticmethod
    def _stop(c: Circuit, *names: str) -> None:
        for n in names:
            c.timers.pop(n, None)

    def _error(self, text: str) -> None:
        self.stats["rx_bad"] += 1
        self.errors = (self.errors + [text])[-20:]

    def _event(self, kind: str, call: IsupCall | None, **info: Any) -> None:
        self.on_event(kind, call, info)

    def _circuit_state(self, c: Circuit, state: str) -> None:
        if c.state != state:
            c.state = state
            self._event("circuit", None, cic=c.cic, state=c.status)

    def controls(self, cic: int) -> bool:
        """True if we control `cic` in a dual seizure (higher point code: even CICs)."""
        return (cic % 2 == 0) == (self.opc > self.dpc)

    def next_timer(self) -> float | None:
        """Absolute time (s) of the next timer, or None."""
        while self._heap:
            due, _, cic, name = self._heap[0]
            if self.circuits[cic].timers.get(name) == due:
                return due
            heapq.heappop(self._heap)
        return None

    def tick(self, now: float | None = None) -> None:
        """Run due timers."""
        now = self.now() if now is None else now
        while self._heap and self._heap[0][0] <= now:
            due, _, cic, name = heapq.heappop(self._heap)
            c = self.circuits[cic]
            if c.timers.get(name) == due:
                del c.timers[name]
                self._expired(c, name)

    def free_cics(self) -> list[int]:
        """CICs that can take a new outgoing call now (none while the route is unavailable)."""
        if not self.available:
            return []
        return [c.cic for c in self.circuits.values() if c.state == IDLE and c.status == "idle"]

    # ------------------------------------------------------------ MTP indications
    def mtp_resume(self) -> None:
        """The adjacent point is reachable: reset every circuit (GRS) before new calls."""
        self.available = True
        self.reset_all()

    def mtp_pause(self) -> None:
        """The adjacent point is unreachable: every call is cleared locally."""
        self.available = False
        for c in self.circuits.values():
            if c.call is not None:
                self._clear(c, CAUSE_NETWORK_OOO, local=False)
            c.timers.clear()
            self._circuit_state(c, IDLE)

    # ------------------------------------------------------------ call requests
    def setup(self, cic: int, called: Number, calling: Number | None = None,
              category: int = im.CPC_ORDINARY, cot_required: bool = False) -> IsupCall:
        """Send an IAM on `cic`; ValueError if the circuit is not free or the route is down."""
        c = self.circuits.get(cic)
        if c is None or c.state != IDLE or c.status != "idle":
            raise ValueError(f"CIC {cic} is not free")
        if not self.available:
            raise ValueError("signaling route unavailable")
        call = IsupCall(cic, True, called, calling, category, OUT_SETUP)
        c.call = call
        self._circuit_state(c, OUT_SETUP)
        self.stats["calls_out"] += 1
        self._tx(im.iam(cic, called, calling, category, cot_required=cot_required))
        self._start(c, "T7")
        return call

    def sam(self, call: IsupCall, digits: str, complete: bool = False) -> None:
        """Send more digits of an overlap call (SAM)."""
        if call.state in (OUT_SETUP, OUT_ALERTING):
            call.called.digits += digits
            self._tx(Message(im.SAM, call.cic, {im.P_SUBSEQUENT: im.encode_subsequent(Number(digits,
                                                                                              complete=complete))}))

    def alert(self, call: IsupCall) -> bool:
        """Send ACM (subscriber free) for an incoming call."""
        if call.state != IN_SETUP:
            return False
        call.state = IN_ALERTING
        call.acm_sent = True
        self._tx(Message(im.ACM, call.cic, {im.P_BCI: im.bci(True)}))
        return True

    def progress(self, call: IsupCall, event: int = im.EVENT_INBAND) -> bool:
        """Send CPG (in-band information) for an incoming call after ACM."""
        if call.state != IN_ALERTING:
            return False
        self._tx(Message(im.CPG, call.cic, {im.P_EVENT: bytes([event])}))
        return True

    def answer(self, call: IsupCall) -> bool:
        """Answer an incoming call: ANM after ACM, else CON."""
        if call.state not in (IN_SETUP, IN_ALERTING):
            return False
        if call.acm_sent:
            self._tx(Message(im.ANM, call.cic))
        else:
            self._tx(Message(im.CON, call.cic, {im.P_BCI: im.bci(True)}))
        call.state = ANSWERED
        self._circuit_state(self.circuits[call.cic], ANSWERED)
        return True

    def release(self, call: IsupCall, cause: int = CAUSE_NORMAL) -> bool:
        """Clear a call (REL, T1 and T5 running until RLC)."""
        c = self.circuits.get(call.cic)
        if c is None or c.call is not call or call.state in (RELEASING, IDLE):
            return False
        call.state = RELEASING
        call.cause = cause
        c.timers.clear()
        self._circuit_state(c, RELEASING)
        self._tx(Message(im.REL, call.cic, {im.P_CAUSE: im.encode_cause(cause)}))
        self._start(c, "T1")
        self._start(c, "T5")
        return True

    def suspend(self, call: IsupCall, network: bool = True) -> None:
        """Send SUS (the called party hung up for a moment)."""
        if call.state == ANSWERED:
            self._tx(Message(im.SUS, call.cic, {im.P_SUSRES: bytes([1 if network else 0])}))

    def resume(self, call: IsupCall, network: bool = True) -> None:
        """Send RES."""
        if call.state == ANSWERED:
            self._tx(Message(im.RES, call.cic, {im.P_SUSRES: bytes([1 if network else 0])}))

    def request_info(self, call: IsupCall) -> None:
        """Send INR asking for the calling party number and category."""
        self._tx(Message(im.INR, call.cic, {im.P_INR_IND: bytes([0x01 | 0x02, 0])}))

    # ------------------------------------------------------------ receive
    def receive(self, data: bytes) -> None:
        """Take one ISUP message (after the routing label); never raises."""
        self.stats["rx"] += 1
        msg = im.decode(data)
        if msg.type < 0:
            self._error(msg.error)
            return
        c = self.circuits.get(msg.cic)
        if c is None:
            if msg.type not in (im.UCIC, im.GRA, im.CGBA, im.CGUA):
                self.stats["ucic_sent"] += 1
                self._tx(Message(im.UCIC, msg.cic))
            return
        if msg.error:
            self._error(msg.error)
            if msg.type in (im.IAM, im.REL):
                self._reset_circuit(c)       # Q.764 2.10.5: a call message we cannot read: reset the circuit
            return
        handler = self._HANDLERS.get(msg.type) or self._MAINT_HANDLERS.get(msg.type)
        if handler is None:
            self._error(f"unexpected message {msg.name} on CIC {msg.cic}")
            return
        try:
            handler(self, c, msg)
        except im.ISUPError as exc:
            self._error(f"{msg.name} on CIC {msg.cic}: {exc}")

    def _rx_iam(self, c: Circuit, msg: Message) -> None:
        if c.local_blocked or c.local_hw_blocked:
            self._tx(Message(im.BLO if c.local_blocked else im.REL, c.cic,
                             {} if c.local_blocked else {im.P_CAUSE: im.encode_cause(CAUSE_CIRCUIT_UNAVAILABLE)}))
            return
        c.remote_blocked = False                    # an IAM unblocks a remotely blocked circuit (Q.764 2.8.2.3)
        if c.call is not None:
            if c.state == OUT_SETUP:
                self.stats["glare"] += 1
                if self.controls(c.cic):
                    return                          # ours goes on: the far end backs off
                ours = c.call
                c.timers.clear()
                c.call = None
                ours.state = IDLE
                ours.released = True
                self._event("glare", ours, cic=c.cic)
            else:
                self._error(f"IAM on busy CIC {c.cic} ({c.state})")
                self._reset_circuit(c)
                return
        called = im.decode_called(msg.params[im.P_CALLED])
        calling = im.decode_calling(msg.params[im.P_CALLING]) if im.P_CALLING in msg.params else None
        cpc = msg.params[im.P_CPC][0]
        call = IsupCall(c.cic, False, called, calling, cpc, IN_SETUP)
        c.call = call
        self.stats["calls_in"] += 1
        self._circuit_state(c, IN_SETUP)
        cot = (msg.params[im.P_NOC][0] >> 2) & 3
        if cot in (1, 2):
            call.state = IN_WAIT_COT
            self._start(c, "T8")
            return
        self._offer(c, call)

    def _offer(self, c: Circuit, call: IsupCall) -> None:
        if call.calling is None and self.request_calling and call.state != IN_WAIT_INF:
            call.state = IN_WAIT_INF
            self.request_info(call)
            self._start(c, "T33")
            return
        call.state = IN_SETUP
        self._event("incoming", call)

    def _rx_cot(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is None or call.state != IN_WAIT_COT:
            return
        self._stop(c, "T8")
        c.looped = False
        if msg.params[im.P_COT_IND][0] & 1:
            self._offer(c, call)
        else:
            self._clear(c, CAUSE_TEMPFAIL, local=False)
            self._circuit_state(c, IDLE)

    def _rx_sam(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is not None and not call.outgoing and call.state in (IN_SETUP, IN_ALERTING, IN_WAIT_INF):
            more = im.decode_subsequent(msg.params[im.P_SUBSEQUENT])
            call.called.digits += more.digits
            call.called.complete = more.complete
            self._event("sam", call, digits=more.digits, complete=more.complete)

    def _rx_inr(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is None or not call.outgoing:
            return
        params = {im.P_INF_IND: bytes([(0x03 if call.calling else 0x01) | 0x20, 0]),
                  im.P_CPC: bytes([call.category])}
        if call.calling is not None:
            params[im.P_CALLING] = im.encode_calling(call.calling)
        self._tx(Message(im.INF, c.cic, params))

    def _rx_inf(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is None or call.outgoing:
            return
        if im.P_CALLING in msg.params:
            call.calling = im.decode_calling(msg.params[im.P_CALLING])
        if im.P_CPC in msg.params and msg.params[im.P_CPC]:
            call.category = msg.params[im.P_CPC][0]
        if call.state == IN_WAIT_INF:
            self._stop(c, "T33")
            call.state = IN_SETUP
            self._event("incoming", call)
        else:
            self._event("info", call)

    def _rx_acm(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is None or not call.outgoing or call.state != OUT_SETUP:
            return
        self._stop(c, "T7")
        self._start(c, "T9")
        call.state = OUT_ALERTING
        self._circuit_state(c, OUT_ALERTING)
        status = (msg.params[im.P_BCI][0] >> 2) & 3       # 1 subscriber free, 2 connect when free
        self._event("proceeding" if status == 2 else "alerting", call, status=status)

    def _rx_cpg(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is None or call.state in (RELEASING, IDLE):
            return
        ev = msg.params[im.P_EVENT][0] & 0x7F
        self._event("alerting" if ev == im.EVENT_ALERTING else "progress", call, event=ev)

    def _rx_anm(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is None or not call.outgoing or call.state not in (OUT_SETUP, OUT_ALERTING):
            return
        self._stop(c, "T7", "T9")
        call.state = ANSWERED
        self._circuit_state(c, ANSWERED)
        self._event("answered", call)

    def _rx_rel(self, c: Circuit, msg: Message) -> None:
        cause = im.decode_cause(msg.params[im.P_CAUSE])
        self._tx(Message(im.RLC, c.cic))
        if c.call is not None:
            self._clear(c, cause, local=c.call.state == RELEASING)
        c.timers.clear()
        c.looped = False
        self._circuit_state(c, IDLE)

    def _rx_rlc(self, c: Circuit, msg: Message) -> None:
        if c.state == RELEASING:
            if c.call is not None:
                self._clear(c, c.call.cause, local=True)
            self._stop(c, "T1", "T5")
            self._circuit_state(c, IDLE)
        elif c.state == RESETTING:
            self._stop(c, "T16", "T17")
            self._circuit_state(c, IDLE)

    def _rx_sus(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is not None and call.state == ANSWERED and not call.suspended:
            call.suspended = True
            self._start(c, "T6")
            self._event("suspended", call, network=bool(msg.params[im.P_SUSRES][0] & 1))

    def _rx_res(self, c: Circuit, msg: Message) -> None:
        call = c.call
        if call is not None and call.suspended:
            call.suspended = False
            self._stop(c, "T6")
            self._event("resumed", call)

    def _clear(self, c: Circuit, cause: int, local: bool) -> None:
        call = c.call
        c.call = None
        if call is None or call.released:
            return
        call.released = True
        call.cause = cause
        call.state = IDLE
        self._event("released", call, cause=cause, local=local)

    # ------------------------------------------------------------ timers
    def _expired(self, c: Circuit, name: str) -> None:
        call = c.call
        if name == "T7" and call is not None:
            self.release(call, CAUSE_TIMER)
            self._clear(c, CAUSE_TIMER, local=False)
        elif name == "T9" and call is not None:
            self.release(call, CAUSE_NO_ANSWER)
            self._clear(c, CAUSE_NO_ANSWER, local=False)
        elif name == "T8" and call is not None:
            self.release(call, CAUSE_TEMPFAIL)
            self._clear(c, CAUSE_TEMPFAIL, local=False)
        elif name == "T33" and call is not None and call.state == IN_WAIT_INF:
            call.state = IN_SETUP
            self._event("incoming", call)       # no calling number: offer the call anyway
        elif name == "T6" and call is not None:
            self.release(call, CAUSE_TIMER)
            self._clear(c, CAUSE_TIMER, local=False)
        elif name == "T1" and c.state == RELEASING and call is not None:
            self._tx(Message(im.REL, c.cic, {im.P_CAUSE: im.encode_cause(call.cause)}))
            self._start(c, "T1")
        elif name == "T5" and c.state == RELEASING:
            self._stop(c, "T1")
            if call is not None:
                self._clear(c, call.cause, local=True)
            self._event("maintenance", None, cic=c.cic, reason="T5 expired: no RLC, circuit reset")
            self._reset_circuit(c)
        else:
            self._maint_expired(c, name)

    _HANDLERS: dict[int, Callable[["IsupStack", Circuit, Message], None]] = {
        im.IAM: _rx_iam, im.SAM: _rx_sam, im.INR: _rx_inr, im.INF: _rx_inf, im.COT: _rx_cot, im.ACM: _rx_acm,
        im.CPG: _rx_cpg, im.ANM: _rx_anm, im.CON: _rx_anm, im.REL: _rx_rel, im.RLC: _rx_rlc, im.SUS: _rx_sus,
        im.RES: _rx_res,
    }
