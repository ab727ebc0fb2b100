"""Q.931 call control for a PRI, what this side sends: the call table, the owner's requests, link events
and timers (Q.931 5 and Annex A). The reactions to received messages are `q931_state.Q931Stack`.

`Q931Control` owns the calls of one D-channel. It sends layer 3 messages with `send_l3(octets)`
(to Q.921 DL-DATA), reads the clock with `now()` (seconds) and reports to its owner through
`on_event(kind, call, info)` where kind is one of: "incoming", "proceeding", "alerting", "progress",
"answered", "connected", "disconnecting", "released", "restart", "restart_ack", "channel".

States are the Q.931 numbers (U0..U19 for the user side, N0..N19 for the network side).
Timers: T301, T303, T305, T308, T309, T310, T313, T316, T322.
"""
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import q931 as m
from .q931 import Bearer, Cause, ChannelId, Number, Progress, Q931Message

log = logging.getLogger("trunkline.pri.q931")


NULL = 0
CALL_INITIATED = 1
OUTGOING_PROCEEDING = 3
CALL_DELIVERED = 4
CALL_PRESENT = 6
CALL_RECEIVED = 7
CONNECT_REQUEST = 8
INCOMING_PROCEEDING = 9
ACTIVE = 10
DISCONNECT_REQUEST = 11
DISCONNECT_INDICATION = 12
RELEASE_REQUEST = 19

DEFAULT_TIMERS = {"T301": 180.0, "T303": 4.0, "T305": 30.0, "T308": 4.0, "T309": 90.0, "T310": 30.0,
                  "T313": 4.0, "T316": 120.0, "T322": 4.0}


#: on_event(kind, call, info): what the stack reports to its owner
EventHandler = Callable[[str, "Q931Call | None", dict[str, Any]], None]


class Q931Call:
    """One call (one call reference) and its state."""

    def __init__(self, cref: int, ours: bool) -> None:
        """cref: call reference value; ours: True if this side allocated it (we sent SETUP)."""
        self.cref = cref
        self.ours = ours
        self.state = NULL
        self.channel: int | None = None   # B-channel number (channel identification numbering)
        self.exclusive = True
        self.called = Number()
        self.calling = Number()
        self.display: str | None = None
        self.bearer: Bearer | None = None
        self.cause: int | None = None   # Q.850 cause that ended the call
        self.timers: dict[str, float] = {}   # name -> expiry time (s)
        self.retries: dict[str, int] = {}
        self.setup_msg: dict[str, Any] = {}
        self.release_cause = m.CAUSE_NORMAL
        self.channel_lost = False       # glare: the network gave our channel to an incoming call
        self.reported_gone = False
        self.user: int | None = None    # owner's handle (PRISignaling: the board channel)
        self.hangup_reported = False    # the network-side owner (PRINetworkSide) reported the hangup
        self.hangup_emitted = False     # the span owner (PRISignaling) emitted HANGUP

    @property
    def key(self) -> tuple[int, bool]:
        """(call reference, allocated by us)."""
        return (self.cref, self.ours)

    def __repr__(self) -> str:
        return f"<Q931Call cref={self.cref} ours={self.ours} state={self.state} ch={self.channel}>"


@dataclass
class PendingRestart:
    """A RESTART we sent and wait to see acknowledged (T316)."""
    restart_class: int
    channels: list[int] | None
    expiry: float
    tries: int = 0


class Q931Control:
    """Call control over one PRI D-channel, sending side (see the module doc); network=True for the network side."""

    def __init__(self, network: bool, send_l3: Callable[[bytes], None], now: Callable[[], float],
                 on_event: EventHandler, switch: str = m.EUROISDN_E1, timers: dict[str, float] | None = None,
                 channels: Iterable[int] | None = None) -> None:
        """send_l3(bytes) sends a message, now() is seconds, on_event(kind, call, info) reports upward."""
        self.network = network
        self.send_l3 = send_l3
        self.now = now
        self.on_event = on_event
        self.switch = switch
        self.timers = dict(DEFAULT_TIMERS)
        self.timers.update(timers or {})
        self.channels = list(channels) if channels else m.b_channels(switch)
        self.calls: dict[tuple[int, bool], Q931Call] = {}
        self._cref = itertools.cycle(range(1, 0x8000))
        self.restart_pending: PendingRestart | None = None
        # (expiry, seq, call, name) of every timer started; stale entries are skipped when they surface
        self._theap: list[tuple[float, int, Q931Call, str]] = []
        self._tseq = itertools.count()
        self.link_up = False
        self.stats = {"rx": 0, "tx": 0, "rx_ignored": 0, "rx_errors": 0, "status_sent": 0}
        self.errors: list[str] = []     # the last few protocol errors, newest last

    # ------------------------------------------------------------ helpers
    def log_error(self, text: str) -> None:
        """Count and keep a protocol error (a bad message, a failed handler); the stack goes on."""
        self.stats["rx_errors"] += 1
        log.debug("Q.931 %s: %s", "net" if self.network else "user", text)
        self.errors.append(text)
        del self.errors[:-20]

    def _send(self, call: Q931Call | None, mtype: int, **kw: Any) -> Q931Message:
        msg = Q931Message(mtype, cref=call.cref if call else 0, flag=0 if (call is None or call.ours) else 1, **kw)
        self.stats["tx"] += 1
        self.send_l3(m.encode_message(msg, self.switch))
        return msg

    def _send_raw(self, cref: int, flag: int, mtype: int, **kw: Any) -> None:
        self.stats["tx"] += 1
        self.send_l3(m.encode_message(Q931Message(mtype, cref=cref, flag=flag, **kw), self.switch))

    def _status(self, cref: int, flag: int, cause: int, state: int) -> None:
        self.stats["status_sent"] += 1
        self._send_raw(cref, flag, m.STATUS, cause=Cause(cause, self._location()), call_state=state)

    def _event(self, kind: str, call: Q931Call | None, **info: Any) -> None:
        try:
            self.on_event(kind, call, info)
        except Exception as exc:        # noqa: BLE001 - an owner bug must not take the D-channel down
            log.exception("Q.931 owner failed on %s", kind)
            self.log_error(f"event handler failed on {kind}: {exc!r}")

    def _location(self) -> int:
        return 2 if self.network else 0        # public network serving the local user / user

    @staticmethod
    def _confirmed(call: Q931Call) -> ChannelId:
        """Channel identification confirming the call's B-channel (exclusive)."""
        return ChannelId([] if call.channel is None else [call.channel], exclusive=True)

    def _start(self, call: Q931Call, name: str) -> None:
        at = call.timers[name] = self.now() + self.timers[name]
        heapq.heappush(self._theap, (at, next(self._tseq), call, name))

    def _stop(self, call: Q931Call, *names: str) -> None:
        for n in names:
            call.timers.pop(n, None)

    def busy_channels(self, include_unconfirmed: bool = True) -> set[int]:
        """B-channel numbers held by a call (optionally leaving out our unconfirmed user-side SETUPs)."""
        out = set()
        for c in self.calls.values():
            if c.channel is None or c.state == NULL or c.channel_lost:
                continue
            if not include_unconfirmed and not self.network and c.ours and c.state == CALL_INITIATED:
                continue
            out.add(c.channel)
        return out

    def free_channel(self, prefer: int | None = None) -> int | None:
        """A free B-channel number (prefer `prefer`), or None."""
        busy = self.busy_channels()
        if prefer is not None and prefer in self.channels and prefer not in busy:
            return prefer
        for ch in (self.channels if self.network else reversed(self.channels)):
            if ch not in busy:
                return ch
        return None

    def _new_cref(self) -> int:
        for _ in range(0x8000):
            cr = next(self._cref)
            if (cr, True) not in self.calls:
                return cr
        raise RuntimeError("no free call reference")

    def _release_call(self, call: Q931Call, cause: int, notify: bool = True) -> None:
        """Return the call to Null and report it gone."""
        call.state = NULL
        call.timers.clear()
        call.cause = cause
        self.calls.pop(call.key, None)
        if notify and not call.reported_gone:
            call.reported_gone = True
            self._event("released", call, cause=cause)

    # ------------------------------------------------------------ requests from the owner
    def setup(self, called: Number, calling: Number | None = None, channel: int | None = None,
              exclusive: bool = True, bearer: Bearer | None = None, display: str | None = None) -> Q931Call:
        """Send SETUP; called/calling are Number; channel None = any (network chooses). Returns the call."""
        call = Q931Call(self._new_cref(), True)
        if channel is None and self.network:
            channel = self.free_channel()
            if channel is None:
                raise RuntimeError("no free B-channel")
        call.channel = channel
        call.exclusive = exclusive
        call.called = called
        call.calling = calling or Number()
        call.bearer = bearer or Bearer(layer1=2 if self.switch == m.NI2 else 3)
        self.calls[call.key] = call
        chan = ChannelId([channel], exclusive=exclusive) if channel is not None else ChannelId(any_channel=True,
                                                                                                exclusive=False)
        if display is None or (self.switch == m.EUROISDN_E1 and not self.network):
            display = None              # ETSI: the display IE goes network to user only
        call.setup_msg = dict(bearer=call.bearer, channel=chan, calling=calling, called=called,
                              display=display, sending_complete=True)
        self._send(call, m.SETUP, **call.setup_msg)
        call.state = CALL_PRESENT if self.network else CALL_INITIATED
        call.retries["T303"] = 0
        self._start(call, "T303")
        return call

    def proceeding(self, call: Q931Call) -> bool:
        """Send CALL PROCEEDING for an incoming call (channel confirmed exclusive)."""
        if call.state not in (CALL_PRESENT, CALL_INITIATED) or call.ours:
            return False
        self._send(call, m.CALL_PROCEEDING, channel=self._confirmed(call))
        call.state = OUTGOING_PROCEEDING if self.network else INCOMING_PROCEEDING
        return True

    def alerting(self, call: Q931Call, inband: bool = False) -> bool:
        """Send ALERTING for an incoming call."""
        if call.ours or call.state not in (CALL_PRESENT, INCOMING_PROCEEDING, CALL_INITIATED,
                                           OUTGOING_PROCEEDING):
            return False
        first = call.state in (CALL_PRESENT, CALL_INITIATED)
        kw: dict[str, Any] = {"channel": self._confirmed(call)} if first else {}
        if inband:
            kw["progress"] = [Progress(8, self._location())]
        self._send(call, m.ALERTING, **kw)
        call.state = CALL_DELIVERED if self.network else CALL_RECEIVED
        return True

    def progress(self, call: Q931Call, description: int = 8) -> bool:
        """Send PROGRESS (default: in-band information available)."""
        if call.state == NULL:
            return False
        self._send(call, m.PROGRESS, progress=[Progress(description, self._location())])
        return True

    def connect(self, call: Q931Call) -> bool:
        """Answer an incoming call: send CONNECT."""
        if call.ours or call.state not in (CALL_PRESENT, INCOMING_PROCEEDING, CALL_RECEIVED, CALL_INITIATED,
                                           OUTGOING_PROCEEDING, CALL_DELIVERED):
            return False
        first = call.state in (CALL_PRESENT, CALL_INITIATED)
        kw = {"channel": self._confirmed(call)} if first else {}
        self._send(call, m.CONNECT, **kw)
        if self.network:
            call.state = ACTIVE
            self._event("connected", call)
        else:
            call.state = CONNECT_REQUEST
            self._start(call, "T313")
        return True

    def disconnect(self, call: Q931Call, cause: int = m.CAUSE_NORMAL) -> bool:
        """Clear a call from our side in whatever state it is (Q.931 5.3)."""
        if call.state == NULL or call.key not in self.calls:
            return False
        call.release_cause = cause
        incoming_unanswered = (not call.ours and call.state in (CALL_PRESENT, CALL_INITIATED))
        if incoming_unanswered:
            self._send(call, m.RELEASE_COMPLETE, cause=Cause(cause, self._location()))
            self._release_call(call, cause)
            return True
        if call.state in (DISCONNECT_REQUEST, RELEASE_REQUEST) if not self.network else \
                call.state in (DISCONNECT_INDICATION, RELEASE_REQUEST):
            return False
        received_disconnect = (call.state == DISCONNECT_INDICATION) if not self.network else \
            (call.state == DISCONNECT_REQUEST)
        if received_disconnect:
            self._send_release(call, cause)
            return True
        call.timers.clear()
        self._send(call, m.DISCONNECT, cause=Cause(cause, self._location()),
                   progress=[Progress(8, self._location())] if self.network else [])
        call.state = DISCONNECT_INDICATION if self.network else DISCONNECT_REQUEST
        self._start(call, "T305")
        self._event("disconnecting", call, cause=cause, local=True)
        return True

    def _send_release(self, call: Q931Call, cause: int) -> None:
        call.timers.clear()
        self._send(call, m.RELEASE, cause=Cause(cause, self._location()))
        call.state = RELEASE_REQUEST
        call.retries["T308"] = 0
        self._start(call, "T308")

    def status_enquiry(self, call: Q931Call) -> None:
        """Send STATUS ENQUIRY for a call (T322 supervises the STATUS answer)."""
        self._send(call, m.STATUS_ENQUIRY)
        call.retries["T322"] = 0
        self._start(call, "T322")

    def restart(self, channels: Iterable[int] | None = None) -> None:
        """Send RESTART for B-channel numbers `channels`, or the whole interface (None); clears their calls."""
        chans = None if channels is None else list(channels)
        if chans is None:
            cls, chan = m.RESTART_INTERFACE, None
            victims = list(self.calls.values())
        else:
            cls, chan = m.RESTART_CHANNELS, ChannelId(chans, exclusive=True)
            victims = [c for c in self.calls.values() if c.channel in chans]
        for c in victims:
            self._release_call(c, m.CAUSE_TEMPFAIL)
        self._send_raw(0, 0, m.RESTART, channel=chan, restart_class=cls)
        self.restart_pending = PendingRestart(cls, chans, self.now() + self.timers["T316"])

    # ------------------------------------------------------------ link events
    def dl_established(self, reestablished: bool = False) -> None:
        """Q.921 link (re-)established: resume; active calls are checked with STATUS ENQUIRY."""
        self.link_up = True
        for c in list(self.calls.values()):
            # Q.931 5.8.8: a link back while T309 runs (after a span alarm too, where the link is set up anew)
            if reestablished or "T309" in c.timers:
                self._stop(c, "T309")
                if c.state == ACTIVE:
                    self.status_enquiry(c)

    def dl_released(self) -> None:
        """Q.921 link lost: calls not yet active are cleared, active calls wait T309 (Q.931 5.8.8)."""
        self.link_up = False
        for c in list(self.calls.values()):
            if c.state == ACTIVE:
                self._start(c, "T309")
            else:
                self._release_call(c, m.CAUSE_TEMPFAIL)

    # ------------------------------------------------------------ timers
    def _live(self, entry: tuple[float, int, Q931Call, str]) -> bool:
        at, _, call, name = entry
        return call.timers.get(name) == at and self.calls.get(call.key) is call

    def next_timer(self) -> float | None:
        """Absolute time of the next timer (s) or None (the top of a heap: O(1) per poll)."""
        heap = self._theap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        ts = [heap[0][0]] if heap else []
        if self.restart_pending:
            ts.append(self.restart_pending.expiry)
        return min(ts) if ts else None

    def tick(self, now: float | None = None) -> None:
        """Run expired Q.931 timers, earliest first."""
        now = self.now() if now is None else now
        heap = self._theap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not self._live(entry):
                continue
            _, _, call, name = entry
            del call.timers[name]
            try:
                self._timeout(call, name)
            except Exception as exc:   # noqa: BLE001 - one call's timer must not stop the others
                log.exception("Q.931 timer %s failed on %r", name, call)
                self.log_error(f"timer {name} failed: {exc!r}")
        rp = self.restart_pending
        if rp and rp.expiry <= now:
            if rp.tries < 1:
                rp.tries += 1
                rp.expiry = now + self.timers["T316"]
                chan = None if rp.channels is None else ChannelId(list(rp.channels))
                self._send_raw(0, 0, m.RESTART, channel=chan, restart_class=rp.restart_class)
            else:
                self.restart_pending = None
                self._event("restart_ack", None, channels=rp.channels, ok=False)

    def _timeout(self, call: Q931Call, name: str) -> None:
        net = self.network
        if name == "T303":
            if call.retries.get("T303", 0) < 1:
                call.retries["T303"] = 1
                self._send(call, m.SETUP, **call.setup_msg)
                self._start(call, "T303")
            else:
                cause = m.CAUSE_NO_USER_RESPONSE if net else m.CAUSE_RECOVERY_ON_TIMER
                self._send(call, m.RELEASE_COMPLETE, cause=Cause(m.CAUSE_RECOVERY_ON_TIMER, self._location()))
                self._release_call(call, cause)
        elif name == "T310":
            self.disconnect(call, m.CAUSE_NO_USER_RESPONSE if net else m.CAUSE_RECOVERY_ON_TIMER)
        elif name == "T301":
            self.disconnect(call, m.CAUSE_NO_ANSWER)
        elif name == "T313":
            self.disconnect(call, m.CAUSE_RECOVERY_ON_TIMER)
        elif name == "T305":
            self._send_release(call, call.release_cause)
        elif name == "T308":
            if call.retries.get("T308", 0) < 1:
                call.retries["T308"] = 1
                self._send(call, m.RELEASE, cause=Cause(call.release_cause, self._location()))
                self._start(call, "T308")
            else:
                self._release_call(call, call.release_cause)
        elif name == "T309":
            self._release_call(call, m.CAUSE_TEMPFAIL)
        elif name == "T322":
            if call.retries.get("T322", 0) < 2:
                call.retries["T322"] = call.retries.get("T322", 0) + 1
                self._send(call, m.STATUS_ENQUIRY)
                self._start(call, "T322")
            else:
                self.disconnect(call, m.CAUSE_RECOVERY_ON_TIMER)
