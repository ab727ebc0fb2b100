"""China No.7 (SS7) on E1 spans: a signaling point (MTP3 + ISUP over MTP2 links) and the board stack.

`SS7Point` joins one `Mtp3` (link set toward the adjacent point) and one `IsupStack`; it knows
nothing of boards: each link gets `send(su_octets)`, and a clock `now()` runs the timers. The
same code runs against libss7 in tests, as Trunkline's side on a board (`SS7Signaling`, one per
E1 span, all spans of a board sharing one point: each span's signaling timeslot is one link of
the link set, its bearer timeslots are CICs) and as the simulator's far end (pstn/ss7_far.py).

CIC numbering per E1: CIC = cic_base + 32 * (E1 position on the board) + timeslot.
"""
import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from trunkline.drivers.board import Board, LineEvent, Span

from . import isup_msg as im
from .base import (
    ANSWERED,
    HANGUP,
    INCOMING,
    PROCEEDING,
    PROGRESS,
    RINGING,
    SPAN_DOWN,
    SPAN_UP,
    SignalingError,
    SignalingEvent,
    SpanSignaling,
)
from .isup import ANSWERED as ISUP_ANSWERED
from .isup import Circuit, IsupCall, IsupStack
from .mtp3 import CHINA24, ITU14, NI_NATIONAL, SI_ISUP, Mtp3, format_pc, parse_pc

log = logging.getLogger("trunkline.ss7")

#: s a loss of signal on a bearer span may last before the calls up on its circuits are cleared (hardware blocking,
#: Q.764 2.8.3); as Q.931's T309 (90 s) so SS7, PRI and R2 spans behave alike. Calls being set up are cleared at once.
T_ALARM_CLEAR = 90.0

CATEGORIES = {None: im.CPC_ORDINARY, "ordinary": im.CPC_ORDINARY, "payphone": im.CPC_PAYPHONE,
              "operator": im.CPC_OPERATOR}
CATEGORY_NAMES = {v: k for k, v in CATEGORIES.items() if k}

EventHandler = Callable[[str, IsupCall | None, dict[str, Any]], None]


class SS7Point:
    """One signaling point: MTP3 link set toward `dpc` plus ISUP on `cics`; times in seconds."""

    def __init__(self, opc: int, dpc: int, cics: Iterable[int], now: Callable[[], float], fmt: str = ITU14,
                 ni: int = NI_NATIONAL, on_event: EventHandler | None = None,
                 isup_timers: dict[str, float] | None = None, mtp2_timers: dict[str, float] | None = None,
                 fill_interval: float = 0.1, request_calling: bool = False) -> None:
        """opc: our point code, dpc: the adjacent one (ints of the format's width)."""
        self.fmt = fmt
        self.now = now
        self.on_event: EventHandler = on_event or (lambda kind, call, info: None)
        self.mtp3 = Mtp3(opc, dpc, now, fmt=fmt, ni=ni, on_user=self._user, on_status=self._status,
                         on_link=self._link, mtp2_timers=mtp2_timers, fill_interval=fill_interval)
        self.isup = IsupStack(opc, dpc, cics, self._send_isup, now, on_event=self.on_event_isup,
                              timers=isup_timers, request_calling=request_calling)

    def on_event_isup(self, kind: str, call: IsupCall | None, info: dict[str, Any]) -> None:
        """ISUP events go to on_event unchanged."""
        self.on_event(kind, call, info)

    def _send_isup(self, data: bytes, sls: int) -> None:
        self.mtp3.send_user(SI_ISUP, sls, data)

    def _user(self, si: int, opc: int, sls: int, data: bytes) -> None:
        if si == SI_ISUP:
            self.isup.receive(data)

    def _status(self, available: bool) -> None:
        if available:
            self.isup.mtp_resume()
        else:
            self.isup.mtp_pause()
        self.on_event("route", None, {"available": available})

    def _link(self, slc: int, state: str) -> None:
        self.on_event("link", None, {"slc": slc, "state": state})

    @property
    def up(self) -> bool:
        """True while the adjacent point can be reached."""
        return self.mtp3.available

    def add_link(self, slc: int, send: Callable[[bytes], object]) -> None:
        """Add signaling link `slc` whose SUs go out through send(octets)."""
        self.mtp3.add_link(slc, send)

    def start(self) -> None:
        """Align every link."""
        self.mtp3.start()

    def receive(self, slc: int, su: bytes) -> None:
        """Take one SU received on link `slc`; never raises."""
        self.mtp3.receive(slc, su)

    def next_timer(self) -> float | None:
        """Absolute time (s) of the next timer of any layer, or None."""
        ts = [t for t in (self.mtp3.next_timer(), self.isup.next_timer()) if t is not None]
        return min(ts) if ts else None

    def tick(self, now: float | None = None) -> None:
        """Run every due timer."""
        self.mtp3.tick(now)
        self.isup.tick(now)

    def status(self) -> dict[str, Any]:
        """Link and CIC states for the admin: links {slc: state}, cics {cic: status}, point codes."""
        return {"opc": format_pc(self.mtp3.opc, self.fmt), "dpc": format_pc(self.mtp3.dpc, self.fmt),
                "available": self.up, "links": {e.slc: e.state for e in self.mtp3.links.values()},
                "cics": {c.cic: c.status for c in self.isup.circuits.values()}}


def cic_map(channels: list[int], bearer: list[int], position: int, cic_base: int = 0) -> dict[int, int]:
    """CIC -> board channel for the bearer timeslots of an E1 (`channels` = timeslots 1..31 in order)."""
    out = {}
    for ts0, ch in enumerate(channels):
        if ch in bearer:
            out[cic_base + 32 * position + ts0 + 1] = ch
    return out


def span_cics(span: Span, position: int, cic_base: int = 0) -> dict[int, int]:
    """CIC -> board channel for the bearer timeslots of an E1 span at `position` on the board."""
    return cic_map(span.channels, span.bearer_channels, position, cic_base)


class _BoardPoint:
    """The SS7Point shared by every SS7 span of one board, with the per-span routing of events."""

    def __init__(self, point: SS7Point) -> None:
        self.point = point
        self.by_cic: dict[int, "SS7Signaling"] = {}
        self.spans: list["SS7Signaling"] = []
        self.started = False
        self.polled_at = -1.0


_BOARDS: "weakref.WeakKeyDictionary[Board, _BoardPoint]" = weakref.WeakKeyDictionary()


class SS7Signaling(SpanSignaling):
    """China No.7 on one E1 span of a board: its signaling timeslot is a link, its bearers are CICs."""

    trunk = "ss7"

    def __init__(self, span: Span, emit: Callable[[SignalingEvent], None], opc: str | int = "1-1-1",
                 dpc: str | int = "2-2-2", pc_format: str = CHINA24, cic_base: int = 0,
                 signaling_slot: int = 16, ni: int = NI_NATIONAL, auto_alert: bool = True,
                 isup_timers: dict[str, float] | None = None, request_calling: bool = False) -> None:
        """opc/dpc: point codes (int or 8-8-8 / 3-8-3 text); signaling_slot: the HDLC timeslot."""
        super().__init__(span, emit)
        if span.kind != "e1":
            raise ValueError(f"SS7 runs on E1 spans; span {span.index} is {span.kind}")
        if span.dchannel is None or span.channels.index(span.dchannel) + 1 != signaling_slot:
            raise ValueError(f"span {span.index}: no HDLC signaling channel on timeslot {signaling_slot}")
        self.auto_alert = auto_alert
        self._now = 0.0
        shared = _BOARDS.get(span.board)
        if shared is None:
            pt = SS7Point(parse_pc(opc, pc_format), parse_pc(dpc, pc_format), [], lambda: self._clock(),
                          fmt=pc_format, ni=ni, isup_timers=isup_timers, request_calling=request_calling)
            shared = _BoardPoint(pt)
            pt.on_event = shared_dispatch(shared)
            _BOARDS[span.board] = shared
        self.shared = shared
        self.point = shared.point
        self.position = len(shared.spans)
        self.slc = self.position % 16
        shared.spans.append(self)
        self.cic_to_board = span_cics(span, self.position, cic_base)
        self.board_to_cic = {v: k for k, v in self.cic_to_board.items()}
        for cic in self.cic_to_board:
            self.point.isup.circuits[cic] = Circuit(cic)
            shared.by_cic[cic] = self
        self.point.add_link(self.slc, self._send)
        self.calls: dict[int, IsupCall] = {}
        self.alarm = False
        self.t_alarm_clear = T_ALARM_CLEAR
        self.bearer_lost: dict[int, float] = {}  # board channel -> media time (s) its bearer was lost to an alarm
        self._alarm_due: float | None = None     # media time (s) the calls kept up through an alarm are cleared
        self._hw_blocked: set[int] = set()       # CICs of this span hardware-blocked now

    def _clock(self) -> float:
        return self._now

    def _send(self, su: bytes) -> None:
        self.span.send_frame(su)

    # ---- driver side
    def handle_line_event(self, ev: LineEvent) -> None:
        """Take a board line event: 'dframe' (SUs waiting on the signaling timeslot) or 'alarm'."""
        if ev.type == "dframe":
            while True:
                su = self.span.recv_frame()
                if su is None:
                    break
                self.point.receive(self.slc, su)
        elif ev.type == "alarm":
            if ev.value and not self.alarm:
                self._alarm_on()
            elif not ev.value and self.alarm:
                self.alarm, self._alarm_due = False, None
                self.bearer_lost.clear()         # calls that outlived the outage carry on
                self.point.mtp3.link_restored(self.slc)
                self._hardware_block(False, sorted(self._hw_blocked))

    def _alarm_on(self) -> None:
        """Loss of signal: the circuits without an answered call are hardware-blocked at once (Q.764 2.8.3: calls
        being set up are cleared); answered calls keep their circuits, their bearer lost now, until the alarm
        has lasted `t_alarm_clear` s (poll clears them then; the CDR ends at the alarm)."""
        self.alarm, self._alarm_due = True, self._now + self.t_alarm_clear
        kept = set()
        for board, call in self.calls.items():
            if call.state == ISUP_ANSWERED and not call.released:
                self.bearer_lost.setdefault(board, self._now)
                kept.add(call.cic)
        self._hardware_block(True, sorted(set(self.cic_to_board) - kept))
        self.point.mtp3.link_failed(self.slc, "E1 alarm")

    def _hardware_block(self, block: bool, cics: list[int]) -> None:
        isup = self.point.isup
        for first, last in isup._runs(cics):
            if block:
                isup.group_block(first, last, hardware=True)
                self._hw_blocked.update(range(first, last + 1))
            else:
                isup.group_unblock(first, last, hardware=True)
                self._hw_blocked.difference_update(range(first, last + 1))

    def poll(self, now: float) -> None:
        """Run timers at media time `now` (s); the shared point starts on the first poll."""
        for sp in self.shared.spans:
            sp._now = now
        if self._alarm_due is not None and now >= self._alarm_due:
            self._alarm_due = None      # the loss of signal persisted: clear the calls kept up (cause 41, REL)
            self._hardware_block(True, sorted(set(self.cic_to_board) - self._hw_blocked))
        sh = self.shared
        if sh.polled_at == now:
            return
        sh.polled_at = now
        if not sh.started:
            sh.started = True
            self.point.start()
        nt = self.point.next_timer()
        if nt is not None and nt <= now:
            self.point.tick(now)

    def status(self) -> dict[str, Any]:
        """This span's link and CICs: summary text, link state, route, channels {board ch: cic, cic_state}."""
        mtp3 = self.point.mtp3
        entry = mtp3.links.get(self.slc)
        link = entry.state if entry is not None else "down"
        l2 = entry.mtp2.state if entry is not None else "out of service"
        circuits = self.point.isup.circuits
        states = {cic: circuits[cic].status for cic in self.cic_to_board}
        channels = {ch: {"cic": cic, "cic_state": states[cic]} for cic, ch in self.cic_to_board.items()}
        blocked = sum(st.startswith("blocked") for st in states.values())
        opc, dpc = format_pc(mtp3.opc, mtp3.fmt), format_pc(mtp3.dpc, mtp3.fmt)
        summary = (f"SS7 {opc} > {dpc} link {self.slc} {link} (MTP2 {l2}), route "
                   f"{'available' if mtp3.available else 'unavailable'}, {blocked} CIC blocked")
        return {"summary": summary, "link": link, "mtp2": l2, "available": mtp3.available, "opc": opc, "dpc": dpc,
                "channels": channels}

    # ---- call control
    def answer(self, channel: int) -> None:
        """Answer the inbound call on board channel `channel` (ANM)."""
        call = self.calls.get(channel)
        if call is None or not self.point.isup.answer(call):
            raise SignalingError(f"no call to answer on channel {channel}", 101)

    def hangup(self, channel: int, cause: int = 16) -> None:
        """Clear the call on board channel `channel` with Q.850 `cause` (REL)."""
        call = self.calls.get(channel)
        if call is not None:
            self.point.isup.release(call, cause)

    def dial(self, called: str, caller: str = "", channel: int | None = None, category: str | None = None) -> int:
        """Place an outbound call (IAM) on a free CIC of this span; returns the board channel."""
        if not called or not all(c in "0123456789" for c in called):
            raise SignalingError(f"bad called number {called!r}", 28)
        if not self.point.up:
            raise SignalingError("SS7 route unavailable", 41)
        free = set(self.point.isup.free_cics())
        if channel is not None:
            cic = self.board_to_cic.get(channel)
            if cic is None or cic not in free or channel in self.calls:
                raise SignalingError(f"channel {channel} is not free", 44)
        else:
            cic = next((c for c in sorted(self.cic_to_board, reverse=True)
                        if c in free and self.cic_to_board[c] not in self.calls), None)
            if cic is None:
                raise SignalingError("no free circuit", 34)
        calling = im.Number(caller, im.NAI_NATIONAL) if caller else None
        call = self.point.isup.setup(cic, im.Number(called, im.NAI_NATIONAL, complete=True), calling,
                                     CATEGORIES.get(category, im.CPC_ORDINARY))
        board = self.cic_to_board[cic]
        call.user = board
        self.calls[board] = call
        return board

    # ---- events from the point
    def _on_event(self, kind: str, call: IsupCall | None, info: dict[str, Any]) -> None:
        if call is None:
            return
        board = self.cic_to_board.get(call.cic)
        if board is None:
            return
        if kind == "incoming":
            call.user = board
            self.calls[board] = call
            if self.auto_alert:
                self.point.isup.alert(call)
            self.emit(SignalingEvent(INCOMING, board, caller=call.calling.digits if call.calling else "",
                                     called=call.called.digits, category=CATEGORY_NAMES.get(call.category),
                                     extra={"cic": call.cic, "presentation": call.calling.presentation
                                            if call.calling else None}))
        elif kind == "alerting":
            self.emit(SignalingEvent(RINGING, board, extra={"cic": call.cic, "inband": True}))
        elif kind == "proceeding":
            self.emit(SignalingEvent(PROCEEDING, board, extra={"cic": call.cic}))
        elif kind == "progress":
            self.emit(SignalingEvent(PROGRESS, board, extra={"cic": call.cic}))
        elif kind == "answered":
            self.emit(SignalingEvent(ANSWERED, board, extra={"cic": call.cic}))
        elif kind in ("released", "glare"):
            if self.calls.get(board) is call:
                del self.calls[board]
            cause = info.get("cause", 44 if kind == "glare" else 16)
            lost = self.bearer_lost.pop(board, None)       # cleared after an alarm: the CDR ends at the alarm
            extra: dict[str, Any] = {"cic": call.cic} if lost is None else {"cic": call.cic, "bearer_lost_at": lost}
            self.emit(SignalingEvent(HANGUP, board, cause=cause, reason=kind, extra=extra))


def shared_dispatch(shared: _BoardPoint) -> EventHandler:
    """Route a point's events to the span owning the CIC; route/link events to every span."""
    def dispatch(kind: str, call: IsupCall | None, info: dict[str, Any]) -> None:
        if call is not None:
            owner = shared.by_cic.get(call.cic)
            if owner is not None:
                owner._on_event(kind, call, info)
            return
        if kind == "route":
            for sp in shared.spans:
                sp.emit(SignalingEvent(SPAN_UP if info["available"] else SPAN_DOWN, -1, reason="ss7",
                                       extra={**info, "span": sp.span.index}))
        elif kind in ("link", "circuit", "blocked", "unblocked"):
            for sp in shared.spans:
                if kind == "link" and info.get("slc") != sp.slc:
                    continue
                if "cic" in info and info["cic"] not in sp.cic_to_board:
                    continue
                sp.emit(SignalingEvent("ss7_" + kind, -1, extra={**info, "span": sp.span.index}))
    return dispatch
