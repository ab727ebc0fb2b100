"""ISDN PRI span stack: Q.921 + Q.931, as a board SpanSignaling (CPE) and as a network-side far end.

`PRIStack` joins one `Q921Link` and one `Q931Stack`; it knows nothing of
boards: it takes `send(frame_bytes)` and a clock `now()` (seconds) and runs
its timers in `tick(now)`. The same code runs over a libpri socketpair in
tests, over the simulator's D-channel (`PRISignaling`, user side, for our
driver) and as the simulator's far end (`PRINetworkSide`, network side).
"""
import logging
from collections.abc import Callable, Iterable
from typing import Any

from trunkline.drivers.board import LineEvent, Span

from . import q931 as m
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
from .q921 import Q921Link
from .q931 import Number
from .q931_control import EventHandler, Q931Call
from .q931_state import Q931Stack

log = logging.getLogger("trunkline.pri")


class PRIStack:
    """One PRI D-channel: LAPD link plus Q.931 call control; times in seconds."""

    def __init__(self, network: bool, send: Callable[[bytes], object], now: Callable[[], float],
                 switch: str = m.EUROISDN_E1, on_event: EventHandler | None = None,
                 timers: dict[str, float] | None = None, channels: Iterable[int] | None = None,
                 t200: float = 1.0, t203: float = 10.0, n200: int = 3) -> None:
        """network: True for the network side; send(frame) transmits a Q.921 frame; now() gives seconds."""
        self.network = network
        self.switch = switch
        self.now = now
        self.on_event: EventHandler = on_event or (lambda kind, call, info: None)
        self.link = Q921Link(network, send, now, on_up=self._link_up, on_down=self._link_down,
                             on_data=self._l3, t200=t200, t203=t203, n200=n200)
        self.q931 = Q931Stack(network, self.link.data_request, now, self._event, switch=switch, timers=timers,
                              channels=channels)

    def _l3(self, info: bytes) -> None:
        self.q931.receive(info)

    def _link_up(self, reestablished: bool) -> None:
        self.q931.dl_established(reestablished)
        self._event("link_up", None, {"reestablished": reestablished})

    def _link_down(self) -> None:
        self.q931.dl_released()
        self._event("link_down", None, {})

    def _event(self, kind: str, call: Q931Call | None, info: dict[str, Any]) -> None:
        self.on_event(kind, call, info)

    @property
    def up(self) -> bool:
        """True while the D-channel carries I frames."""
        return self.link.up

    def start(self) -> None:
        """Bring the D-channel up (SABME)."""
        self.link.establish()

    def receive_frame(self, frame: bytes) -> None:
        """Take one received Q.921 frame (octets, no FCS); never raises."""
        self.link.receive(frame)

    def tick(self, now: float | None = None) -> None:
        """Run Q.921 and Q.931 timers."""
        self.link.tick(now)
        self.q931.tick(now)

    def next_timer(self) -> float | None:
        """Absolute time (s) of the next timer of either layer, or None."""
        ts = [t for t in (self.link.next_timer(), self.q931.next_timer()) if t is not None]
        return min(ts) if ts else None


class PRINetworkSide(PRIStack):
    """Network side of a PRI for a Python far end: places calls, accepts calls, answers, clears.

    Callbacks are attributes that can be replaced: `on_incoming(call)`, `on_proceeding(call)`,
    `on_alerting(call)`, `on_answered(call)`, `on_hangup(call, cause)`, `on_link(up)`,
    `on_restart(channels)`. A call handle is a `Q931Call` (`.channel`, `.called.digits`,
    `.calling.digits`, `.state`, `.cause`).
    """

    def __init__(self, send: Callable[[bytes], object], now: Callable[[], float], switch: str = m.EUROISDN_E1,
                 timers: dict[str, float] | None = None, channels: Iterable[int] | None = None,
                 **kw: Any) -> None:
        """send(frame) to the user side, now() in seconds; see PRIStack for the rest."""
        super().__init__(True, send, now, switch=switch, on_event=self._dispatch, timers=timers,
                         channels=channels, **kw)
        self.on_incoming: Callable[[Q931Call], None] = lambda call: None
        self.on_proceeding: Callable[[Q931Call], None] = lambda call: None
        self.on_alerting: Callable[[Q931Call], None] = lambda call: None
        self.on_answered: Callable[[Q931Call], None] = lambda call: None
        self.on_hangup: Callable[[Q931Call, int], None] = lambda call, cause: None
        self.on_link: Callable[[bool], None] = lambda up: None
        self.on_restart: Callable[[list[int] | None], None] = lambda channels: None
        # (kind, cref, channel, info) for tests and traces
        self.log: list[tuple[str, int | None, int | None, dict[str, Any]]] = []

    def _dispatch(self, kind: str, call: Q931Call | None, info: dict[str, Any]) -> None:
        self.log.append((kind, call.cref if call else None, call.channel if call else None, dict(info)))
        if call is not None:
            self._dispatch_call(kind, call, info)
        elif kind == "link_up":
            self.on_link(True)
        elif kind == "link_down":
            self.on_link(False)
        elif kind == "restart":
            self.on_restart(info.get("channels"))

    def _dispatch_call(self, kind: str, call: Q931Call, info: dict[str, Any]) -> None:
        if kind == "incoming":
            self.on_incoming(call)
        elif kind == "proceeding":
            self.on_proceeding(call)
        elif kind == "alerting":
            self.on_alerting(call)
        elif kind in ("answered", "connected"):
            self.on_answered(call)
        elif kind == "disconnecting" and not info.get("local"):
            call.hangup_reported = True
            self.on_hangup(call, info.get("cause", m.CAUSE_NORMAL))
        elif kind == "released" and not call.hangup_reported:
            call.hangup_reported = True
            self.on_hangup(call, info.get("cause", m.CAUSE_NORMAL))

    def place_call(self, called: str, caller: str = "", channel: int | None = None, called_ton: int = 2,
                   caller_ton: int = 2, npi: int = 1, display: str | None = None,
                   exclusive: bool = True) -> Q931Call:
        """Offer a call to the user side on B-channel `channel` (None: first free); returns the call."""
        return self.q931.setup(Number(called, called_ton, npi), Number(caller, caller_ton, npi), channel=channel,
                               exclusive=exclusive, display=display)

    def proceeding(self, call: Q931Call) -> bool:
        """Send CALL PROCEEDING for a call from the user side."""
        return self.q931.proceeding(call)

    def alert(self, call: Q931Call, inband: bool = True) -> bool:
        """Send ALERTING (ringback in band) for a call from the user side."""
        return self.q931.alerting(call, inband=inband)

    def answer(self, call: Q931Call) -> bool:
        """Send CONNECT for a call from the user side."""
        return self.q931.connect(call)

    def hangup(self, call: Q931Call, cause: int = m.CAUSE_NORMAL) -> bool:
        """Clear a call (DISCONNECT, or RELEASE COMPLETE to reject an unanswered offer)."""
        return self.q931.disconnect(call, cause)

    def restart(self, channels: Iterable[int] | None = None) -> None:
        """RESTART B-channels (numbers) or the whole interface."""
        self.q931.restart(channels)


class PRISignaling(SpanSignaling):
    """User (CPE) side PRI on a board span: D-channel frames through the span, calls on its bearer channels."""

    trunk = "pri"

    def __init__(self, span: Span, emit: Callable[[SignalingEvent], None], switch: str | None = None,
                 network: bool = False, timers: dict[str, float] | None = None, auto_alert: bool = True,
                 t200: float = 1.0, t203: float = 10.0) -> None:
        """switch: q931.EUROISDN_E1 or q931.NI2 (default from span.kind: t1 -> NI-2); network for a net-side span."""
        super().__init__(span, emit)
        if switch is None:
            switch = m.NI2 if span.kind == "t1" or len(span.bearer_channels) <= 23 else m.EUROISDN_E1
        self.switch = switch
        self.auto_alert = auto_alert
        self._now = 0.0
        self._started = False
        nums = m.b_channels(switch)[:len(span.bearer_channels)]
        self.b_to_board = dict(zip(nums, span.bearer_channels))
        self.board_to_b = {v: k for k, v in self.b_to_board.items()}
        self._due: float | None = None           # earliest timer (s) as of the last full look at the stack
        self._look = True                        # the stack read its clock since then: a timer may have started
        self.stack = PRIStack(network, self._send, self._clock, switch=switch, on_event=self._on_event,
                              timers=timers, channels=nums, t200=t200, t203=t203)
        self.calls: dict[int, Q931Call] = {}     # board channel -> Q931Call
        self.alarm = False
        self.alarm_since: float | None = None    # media time (s) the current span alarm (LOS/AIS) began
        self.bearer_lost: dict[int, float] = {}  # board channel -> media time its bearer was lost to an alarm

    def _clock(self) -> float:
        """The stack's clock (s). Every timer start reads it, so poll() looks at the stack again only then."""
        self._look = True
        return self._now

    def _send(self, frame: bytes) -> None:
        self.span.send_frame(frame)

    def _start(self) -> None:
        if not self._started and not self.alarm:
            self._started = True
            self.stack.start()

    # ---- driver side
    def handle_line_event(self, ev: LineEvent) -> None:
        """Take a board line event: 'dframe' (frames waiting on the D-channel) or 'alarm'."""
        try:
            if ev.type == "dframe":
                self._start()
                while True:
                    frame = self.span.recv_frame()
                    if frame is None:
                        break
                    if not self.alarm:       # no layer 2 without layer 1: frames during LOS/AIS are dropped
                        self.stack.receive_frame(frame)
            elif ev.type == "alarm":
                if ev.value and not self.alarm:
                    self.alarm, self.alarm_since = True, self._now
                    for board in self.calls:     # their bearers are gone now: a CDR of theirs ends here
                        self.bearer_lost.setdefault(board, self._now)
                    if self.stack.up:
                        self.stack.link.layer1_lost()   # calls not yet up are cleared, calls up start T309
                elif not ev.value and self.alarm:
                    self.alarm, self.alarm_since = False, None
                    self._started = False
                    self._start()
        except Exception as exc:         # noqa: BLE001 - never take the span down on one event
            log.exception("PRI span %s: line event %r failed", self.span.index, ev)
            self.stack.q931.log_error(f"line event {ev!r} failed: {exc!r}")

    def poll(self, now: float) -> None:
        """Run timers at media time `now` (s); starts the D-channel on the first call. Timers keep running
        during a span alarm (Q.931 5.8.8: T309 clears the calls up when the link stays down)."""
        self._now = now
        if not self._look and self._started and (self._due is None or now < self._due):
            return                       # no timer started since the last look and none due: O(1), no stack calls
        self._start()
        nt = self.stack.next_timer()
        if nt is not None and nt <= now:
            self.stack.tick(now)
            nt = self.stack.next_timer()
        self._look = False
        self._due = nt

    # ---- call control
    def _call(self, channel: int) -> Q931Call:
        call = self.calls.get(channel)
        if call is None or call.key not in self.stack.q931.calls:
            raise SignalingError(f"no call on channel {channel}", 101)
        return call

    def answer(self, channel: int) -> None:
        """Answer the inbound call offered on board channel `channel` (CONNECT)."""
        if not self.stack.q931.connect(self._call(channel)):
            raise SignalingError(f"call on channel {channel} cannot be answered now", 101)

    def hangup(self, channel: int, cause: int = m.CAUSE_NORMAL) -> None:
        """Clear the call on board channel `channel` with Q.850 `cause`."""
        call = self.calls.get(channel)
        if call is None or call.key not in self.stack.q931.calls:
            return
        self.stack.q931.disconnect(call, cause)

    def surely_full(self) -> bool:
        """Every bearer of the span holds a call (O(1): the engine skips full spans of a large card)."""
        return len(self.calls) >= len(self.b_to_board)

    def dial(self, called: str, caller: str = "", channel: int | None = None, category: str | None = None,
             called_ton: int = 0, caller_ton: int = 0, npi: int = 1) -> int:
        """Place an outbound call (SETUP); returns the board channel, raises SignalingError."""
        if not self.stack.up and not self._started:
            self._start()
        if self.alarm:
            raise SignalingError("span in alarm", 41)
        if not called or not all(c in "0123456789*#" for c in called):
            raise SignalingError(f"bad called number {called!r}", 28)
        if channel is None and self.surely_full():
            raise SignalingError("no free B-channel", 34)
        busy = self.stack.q931.busy_channels()
        if channel is not None:
            b = self.board_to_b.get(channel)
            if b is None:
                raise SignalingError(f"channel {channel} is not a bearer of this span", 82)
            if b in busy or channel in self.calls:
                raise SignalingError(f"channel {channel} is busy", 44)
        else:
            b = next((n for n in reversed(list(self.b_to_board)) if n not in busy
                      and self.b_to_board[n] not in self.calls), None)
            if b is None:
                raise SignalingError("no free B-channel", 34)
        call = self.stack.q931.setup(Number(called, called_ton, npi), Number(caller, caller_ton, npi),
                                     channel=b, exclusive=True)
        board = self.b_to_board[b]
        call.user = board
        self.calls[board] = call
        return board

    # ---- events from the stack
    def _emit(self, kind: str, channel: int, **kw: Any) -> None:
        self.emit(SignalingEvent(kind, channel, **kw))

    def _on_event(self, kind: str, call: Q931Call | None, info: dict[str, Any]) -> None:
        if kind == "link_up":
            self.bearer_lost.clear()     # calls that survived the outage carry on (T309 stopped)
            self._emit(SPAN_UP, -1, extra=dict(info))
            return
        if kind == "link_down":
            self._emit(SPAN_DOWN, -1)
            return
        if kind == "restart":
            self._emit(SPAN_UP, -1, reason="restart", extra={"channels": info.get("channels")})
            return
        if kind == "restart_ack" or call is None:
            return
        if kind == "incoming":
            self._incoming(call)
            return
        board = call.user
        if board is None:                # a call we refused at once: nothing of ours to report
            return
        if kind == "channel":
            new = self.b_to_board.get(info["new"])
            if new is None:              # the stack accepts only our span's B-channels
                return
            if self.calls.get(board) is call:
                del self.calls[board]
            call.user = new
            self.calls[new] = call
            self._emit(PROCEEDING, new, reason="channel changed", extra={"from": board})
        elif kind == "proceeding":
            self._emit(PROCEEDING, board)
        elif kind == "alerting":
            self._emit(RINGING, board, extra={"inband": 8 in info.get("progress", [])})
        elif kind == "progress":
            self._emit(PROGRESS, board, extra={"progress": info.get("progress")})
        elif kind in ("answered", "connected"):
            self._emit(ANSWERED, board)
        elif kind == "disconnecting":
            if not info.get("local"):
                self._gone(call, board, info.get("cause", m.CAUSE_NORMAL))
        elif kind == "released":
            self._gone(call, board, info.get("cause", m.CAUSE_NORMAL))

    def _incoming(self, call: Q931Call) -> None:
        """A SETUP from the network: take it on its board channel (or refuse it) and offer it upward."""
        board = None if call.channel is None else self.b_to_board.get(call.channel)
        if board is None or board in self.calls:
            self.stack.q931.disconnect(call, m.CAUSE_CHANNEL_UNAVAILABLE)
            return
        call.user = board
        self.calls[board] = call
        if self.auto_alert:
            self.stack.q931.proceeding(call)
            self.stack.q931.alerting(call)
        self._emit(INCOMING, board, caller=call.calling.digits, called=call.called.digits,
                   extra={"caller_ton": call.calling.ton, "caller_npi": call.calling.npi,
                          "called_ton": call.called.ton, "called_npi": call.called.npi,
                          "display": call.display, "presentation": call.calling.presentation})

    def _gone(self, call: Q931Call, board: int, cause: int) -> None:
        if self.calls.get(board) is call and call.key not in self.stack.q931.calls:
            del self.calls[board]
        if call.hangup_emitted:
            return
        call.hangup_emitted = True
        lost = self.bearer_lost.pop(board, None)
        self._emit(HANGUP, board, cause=cause, extra={} if lost is None else {"bearer_lost_at": lost})
        if call.key not in self.stack.q931.calls and self.calls.get(board) is call:
            del self.calls[board]
