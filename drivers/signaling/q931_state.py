"""Q.931 call control for a PRI, user (CPE) or network side (Q.931 5 and Annex A).

`Q931Stack` owns the calls of one D-channel. It sends layer 3 messages with
`send_l3(octets)` (to Q.921 DL-DATA), reads the clock with `now()` (seconds)
and reports to its owner through `on_event(kind, call, info)` where kind is one
of: "incoming", "proceeding", "alerting", "progress", "answered", "connected",
"disconnecting", "released", "restart", "restart_ack", "channel".

States are the Q.931 numbers (U0..U19 for the user side, N0..N19 for the
network side). Timers: T301, T303, T305, T308, T309, T310, T313, T316, T322.
Every received message goes through `receive`, which never raises: malformed
or unexpected messages are answered per Q.931 5.8 (STATUS, RELEASE COMPLETE
with causes 81/96/97/98/100/101) and counted in `stats`.
"""
import itertools

from . import q931 as m
from .q931 import Bearer, Cause, ChannelId, Number, Progress, Q931Message

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


class Q931Call:
    """One call (one call reference) and its state."""

    def __init__(self, cref, ours):
        """cref: call reference value; ours: True if this side allocated it (we sent SETUP)."""
        self.cref = cref
        self.ours = ours
        self.state = NULL
        self.channel = None             # B-channel number (channel identification numbering)
        self.exclusive = True
        self.called = Number()
        self.calling = Number()
        self.display = None
        self.bearer = None
        self.cause = None               # Q.850 cause that ended the call
        self.timers = {}                # name -> expiry time (s)
        self.retries = {}
        self.setup_msg = None
        self.release_cause = m.CAUSE_NORMAL
        self.channel_lost = False       # glare: the network gave our channel to an incoming call
        self.reported_gone = False
        self.user = None                # owner's handle

    @property
    def key(self):
        """(call reference, allocated by us)."""
        return (self.cref, self.ours)

    def __repr__(self):
        return f"<Q931Call cref={self.cref} ours={self.ours} state={self.state} ch={self.channel}>"


class Q931Stack:
    """Call control over one PRI D-channel; network=True for the network side."""

    def __init__(self, network, send_l3, now, on_event, switch=m.EUROISDN_E1, timers=None, channels=None):
        """send_l3(bytes) sends a message, now() is seconds, on_event(kind, call, info) reports upward."""
        self.network = network
        self.send_l3 = send_l3
        self.now = now
        self.on_event = on_event
        self.switch = switch
        self.timers = dict(DEFAULT_TIMERS)
        self.timers.update(timers or {})
        self.channels = list(channels) if channels else m.b_channels(switch)
        self.calls = {}
        self._cref = itertools.cycle(range(1, 0x8000))
        self.restart_pending = None     # (restart class, channels, expiry, tries)
        self.link_up = False
        self.stats = {"rx": 0, "tx": 0, "rx_ignored": 0, "rx_errors": 0, "status_sent": 0}
        self.errors = []

    # ------------------------------------------------------------ helpers
    def _err(self, text):
        self.stats["rx_errors"] += 1
        self.errors.append(text)
        del self.errors[:-20]

    def _send(self, call, mtype, **kw):
        msg = Q931Message(mtype, cref=call.cref if call else 0, flag=0 if (call is None or call.ours) else 1, **kw)
        self.stats["tx"] += 1
        self.send_l3(m.encode_message(msg, self.switch))
        return msg

    def _send_raw(self, cref, flag, mtype, **kw):
        self.stats["tx"] += 1
        self.send_l3(m.encode_message(Q931Message(mtype, cref=cref, flag=flag, **kw), self.switch))

    def _event(self, kind, call, **info):
        try:
            self.on_event(kind, call, info)
        except Exception as exc:        # noqa: BLE001 - an owner bug must not take the D-channel down
            self._err(f"event handler failed on {kind}: {exc!r}")

    def _location(self):
        return 2 if self.network else 0        # public network serving the local user / user

    def _start(self, call, name):
        call.timers[name] = self.now() + self.timers[name]

    def _stop(self, call, *names):
        for n in names:
            call.timers.pop(n, None)

    def busy_channels(self, include_unconfirmed=True):
        """B-channel numbers held by a call (optionally leaving out our unconfirmed user-side SETUPs)."""
        out = set()
        for c in self.calls.values():
            if c.channel is None or c.state == NULL or c.channel_lost:
                continue
            if not include_unconfirmed and not self.network and c.ours and c.state == CALL_INITIATED:
                continue
            out.add(c.channel)
        return out

    def free_channel(self, prefer=None):
        """A free B-channel number (prefer `prefer`), or None."""
        busy = self.busy_channels()
        if prefer is not None and prefer in self.channels and prefer not in busy:
            return prefer
        for ch in (self.channels if self.network else reversed(self.channels)):
            if ch not in busy:
                return ch
        return None

    def _new_cref(self):
        for _ in range(0x8000):
            cr = next(self._cref)
            if (cr, True) not in self.calls:
                return cr
        raise RuntimeError("no free call reference")

    def _release_call(self, call, cause, notify=True):
        """Return the call to Null and report it gone."""
        call.state = NULL
        call.timers.clear()
        call.cause = cause
        self.calls.pop(call.key, None)
        if notify and not call.reported_gone:
            call.reported_gone = True
            self._event("released", call, cause=cause)

    # ------------------------------------------------------------ requests from the owner
    def setup(self, called, calling=None, channel=None, exclusive=True, bearer=None, display=None):
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

    def proceeding(self, call):
        """Send CALL PROCEEDING for an incoming call (channel confirmed exclusive)."""
        if call.state not in (CALL_PRESENT, CALL_INITIATED) or call.ours:
            return False
        self._send(call, m.CALL_PROCEEDING, channel=ChannelId([call.channel], exclusive=True))
        call.state = OUTGOING_PROCEEDING if self.network else INCOMING_PROCEEDING
        return True

    def alerting(self, call, inband=False):
        """Send ALERTING for an incoming call."""
        if call.ours or call.state not in (CALL_PRESENT, INCOMING_PROCEEDING, CALL_INITIATED,
                                           OUTGOING_PROCEEDING):
            return False
        first = call.state in (CALL_PRESENT, CALL_INITIATED)
        kw = {"channel": ChannelId([call.channel], exclusive=True)} if first else {}
        if inband:
            kw["progress"] = [Progress(8, self._location())]
        self._send(call, m.ALERTING, **kw)
        call.state = CALL_DELIVERED if self.network else CALL_RECEIVED
        return True

    def progress(self, call, description=8):
        """Send PROGRESS (default: in-band information available)."""
        if call.state == NULL:
            return False
        self._send(call, m.PROGRESS, progress=[Progress(description, self._location())])
        return True

    def connect(self, call):
        """Answer an incoming call: send CONNECT."""
        if call.ours or call.state not in (CALL_PRESENT, INCOMING_PROCEEDING, CALL_RECEIVED, CALL_INITIATED,
                                           OUTGOING_PROCEEDING, CALL_DELIVERED):
            return False
        first = call.state in (CALL_PRESENT, CALL_INITIATED)
        kw = {"channel": ChannelId([call.channel], exclusive=True)} if first else {}
        self._send(call, m.CONNECT, **kw)
        if self.network:
            call.state = ACTIVE
            self._event("connected", call)
        else:
            call.state = CONNECT_REQUEST
            self._start(call, "T313")
        return True

    def disconnect(self, call, cause=m.CAUSE_NORMAL):
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

    def _send_release(self, call, cause):
        call.timers.clear()
        self._send(call, m.RELEASE, cause=Cause(cause, self._location()))
        call.state = RELEASE_REQUEST
        call.retries["T308"] = 0
        self._start(call, "T308")

    def status_enquiry(self, call):
        """Send STATUS ENQUIRY for a call (T322 supervises the STATUS answer)."""
        self._send(call, m.STATUS_ENQUIRY)
        call.retries["T322"] = 0
        self._start(call, "T322")

    def restart(self, channels=None):
        """Send RESTART for B-channel numbers `channels`, or the whole interface (None); clears their calls."""
        if channels is None:
            cls, chan = m.RESTART_INTERFACE, None
            victims = list(self.calls.values())
        else:
            cls, chan = m.RESTART_CHANNELS, ChannelId(list(channels), exclusive=True)
            victims = [c for c in self.calls.values() if c.channel in channels]
        for c in victims:
            self._release_call(c, m.CAUSE_TEMPFAIL)
        self._send_raw(0, 0, m.RESTART, channel=chan, restart_class=cls)
        self.restart_pending = [cls, channels, self.now() + self.timers["T316"], 0]

    # ------------------------------------------------------------ link events
    def dl_established(self, reestablished=False):
        """Q.921 link (re-)established: resume; active calls are checked with STATUS ENQUIRY."""
        self.link_up = True
        if reestablished:
            for c in list(self.calls.values()):
                self._stop(c, "T309")
                if c.state == ACTIVE:
                    self.status_enquiry(c)

    def dl_released(self):
        """Q.921 link lost: calls not yet active are cleared, active calls wait T309 (Q.931 5.8.8)."""
        self.link_up = False
        for c in list(self.calls.values()):
            if c.state == ACTIVE:
                self._start(c, "T309")
            else:
                self._release_call(c, m.CAUSE_TEMPFAIL)

    # ------------------------------------------------------------ timers
    def next_timer(self):
        """Absolute time of the next timer (s) or None."""
        ts = [t for c in self.calls.values() for t in c.timers.values()]
        if self.restart_pending:
            ts.append(self.restart_pending[2])
        return min(ts) if ts else None

    def tick(self, now=None):
        """Run expired Q.931 timers."""
        now = self.now() if now is None else now
        for call in list(self.calls.values()):
            for name, at in list(call.timers.items()):
                if at <= now and call.timers.get(name) == at:
                    del call.timers[name]
                    try:
                        self._timeout(call, name)
                    except Exception as exc:   # noqa: BLE001
                        self._err(f"timer {name} failed: {exc!r}")
        rp = self.restart_pending
        if rp and rp[2] <= now:
            if rp[3] < 1:
                rp[3] += 1
                rp[2] = now + self.timers["T316"]
                chan = None if rp[1] is None else ChannelId(list(rp[1]))
                self._send_raw(0, 0, m.RESTART, channel=chan, restart_class=rp[0])
            else:
                self.restart_pending = None
                self._event("restart_ack", None, channels=rp[1], ok=False)

    def _timeout(self, call, name):
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

    # ------------------------------------------------------------ reception
    def receive(self, data):
        """Process one layer 3 message; never raises."""
        self.stats["rx"] += 1
        try:
            self._receive(data)
        except Exception as exc:        # noqa: BLE001 - a bad message must not take the span down
            self._err(f"internal error on message: {exc!r}")

    def _status(self, cref, flag, cause, state):
        self.stats["status_sent"] += 1
        self._send_raw(cref, flag, m.STATUS, cause=Cause(cause, self._location()), call_state=state)

    def _receive(self, data):
        msg = m.decode_message(data)
        if msg.error:
            self.stats["rx_ignored"] += 1
            self._err(msg.error)
            return
        if msg.is_global:
            return self._rx_global(msg)
        # flag 0: the peer allocated the reference; flag 1: we did
        key = (msg.cref, msg.flag == 1)
        call = self.calls.get(key)
        reply_flag = 1 - msg.flag
        if call is None:
            return self._rx_unknown_cref(msg, reply_flag)
        if msg.mtype not in m.MESSAGE_NAMES:
            self._status(msg.cref, reply_flag, m.CAUSE_MESSAGE_TYPE_NONEXISTENT, call.state)
            return
        problems = m.missing_mandatory(msg)
        if problems:
            cause = problems[0][1]
            self._err(f"{msg.name}: IE 0x{problems[0][0]:02x} cause {cause}")
            if msg.mtype == m.DISCONNECT:
                msg.cause = Cause(cause)            # clear anyway (5.8.6.1)
            elif msg.mtype == m.RELEASE:
                pass
            elif msg.mtype == m.RELEASE_COMPLETE:
                pass
            else:
                self._status(msg.cref, reply_flag, cause, call.state)
                return
        handler = getattr(self, "_rx_" + msg.name.lower().replace(" ", "_"), None)
        if handler is None:
            self._status(msg.cref, reply_flag, m.CAUSE_WRONG_MESSAGE, call.state)
            return
        handler(call, msg)
        # non-mandatory IE with bad contents or unrecognised (5.8.7): tell the peer, keep the call
        if call.state != NULL and any(c in (m.CAUSE_INVALID_IE_CONTENTS, m.CAUSE_IE_NONEXISTENT)
                                      for _, c in msg.ie_errors) and not problems \
                and msg.mtype not in (m.STATUS, m.RELEASE, m.RELEASE_COMPLETE):
            self._status(msg.cref, reply_flag, msg.ie_errors[0][1], call.state)

    def _rx_unknown_cref(self, msg, reply_flag):
        t = msg.mtype
        if t == m.SETUP and msg.flag == 0:
            return self._rx_new_setup(msg)
        if t == m.RELEASE_COMPLETE or t == m.SETUP:
            self.stats["rx_ignored"] += 1
            return
        if t == m.RELEASE:
            self._send_raw(msg.cref, reply_flag, m.RELEASE_COMPLETE,
                           cause=Cause(m.CAUSE_INVALID_CALL_REFERENCE, self._location()))
            return
        if t == m.STATUS_ENQUIRY:
            self._status(msg.cref, reply_flag, m.CAUSE_RESPONSE_TO_STATUS_ENQUIRY, NULL)
            return
        if t == m.STATUS:
            if msg.call_state not in (None, NULL):
                self._send_raw(msg.cref, reply_flag, m.RELEASE_COMPLETE,
                               cause=Cause(m.CAUSE_WRONG_CALL_STATE, self._location()))
            return
        self._send_raw(msg.cref, reply_flag, m.RELEASE_COMPLETE,
                       cause=Cause(m.CAUSE_INVALID_CALL_REFERENCE, self._location()))

    def _rx_global(self, msg):
        if msg.mtype == m.RESTART:
            if msg.restart_class is None:
                self._status(0, 1 - msg.flag, m.CAUSE_MANDATORY_IE_MISSING, NULL)
                return
            if msg.restart_class == m.RESTART_CHANNELS:
                if msg.channel is None or not msg.channel.channels:
                    self._status(0, 1 - msg.flag, m.CAUSE_MANDATORY_IE_MISSING, NULL)
                    return
                chans = list(msg.channel.channels)
                victims = [c for c in self.calls.values() if c.channel in chans]
            else:
                chans = None
                victims = list(self.calls.values())
            for c in victims:
                self._release_call(c, m.CAUSE_TEMPFAIL)
            self._send_raw(0, 1 - msg.flag, m.RESTART_ACKNOWLEDGE, channel=msg.channel,
                           restart_class=msg.restart_class)
            self._event("restart", None, channels=chans)
        elif msg.mtype == m.RESTART_ACKNOWLEDGE:
            if self.restart_pending:
                chans = self.restart_pending[1]
                self.restart_pending = None
                self._event("restart_ack", None, channels=chans, ok=True)
        elif msg.mtype in (m.STATUS, m.STATUS_ENQUIRY):
            if msg.mtype == m.STATUS_ENQUIRY:
                self._status(0, 1 - msg.flag, m.CAUSE_RESPONSE_TO_STATUS_ENQUIRY, NULL)
        else:
            self._status(0, 1 - msg.flag, m.CAUSE_INVALID_CALL_REFERENCE, NULL)

    def _rx_new_setup(self, msg):
        """A SETUP from the peer (Q.931 5.1 on the network side, 5.2 on the user side)."""
        reply = dict(cref=msg.cref, flag=1)
        problems = m.missing_mandatory(msg)
        if not self.network and msg.channel is None:
            problems.append((m.IE_CHANNEL_ID, m.CAUSE_MANDATORY_IE_MISSING))
        if problems:
            self._send_raw(mtype=m.RELEASE_COMPLETE, cause=Cause(problems[0][1], self._location()), **reply)
            self._err(f"SETUP rejected: IE 0x{problems[0][0]:02x} cause {problems[0][1]}")
            return
        busy = self.busy_channels(include_unconfirmed=False)
        ch = msg.channel
        chosen = None
        if ch is None or ch.any_channel or not ch.channels:
            if not self.network:
                self._send_raw(mtype=m.RELEASE_COMPLETE,
                               cause=Cause(m.CAUSE_INVALID_IE_CONTENTS, self._location()), **reply)
                return
            chosen = self.free_channel()
            if chosen is None:
                self._send_raw(mtype=m.RELEASE_COMPLETE, cause=Cause(m.CAUSE_NO_CIRCUIT, self._location()),
                               **reply)
                return
        else:
            want = ch.channels[0]
            if want not in self.channels:
                self._send_raw(mtype=m.RELEASE_COMPLETE,
                               cause=Cause(m.CAUSE_CHANNEL_UNAVAILABLE if self.network else
                                           m.CAUSE_CHANNEL_UNACCEPTABLE, self._location()), **reply)
                return
            if want in busy:
                if ch.exclusive or not self.network:
                    self._send_raw(mtype=m.RELEASE_COMPLETE,
                                   cause=Cause(m.CAUSE_CHANNEL_UNAVAILABLE, self._location()), **reply)
                    return
                chosen = self.free_channel()
                if chosen is None:
                    self._send_raw(mtype=m.RELEASE_COMPLETE,
                                   cause=Cause(m.CAUSE_NO_CIRCUIT, self._location()), **reply)
                    return
            else:
                chosen = want
        call = Q931Call(msg.cref, False)
        call.channel = chosen
        call.called = msg.called or Number()
        call.calling = msg.calling or Number()
        call.display = msg.display
        call.bearer = msg.bearer
        call.state = CALL_INITIATED if self.network else CALL_PRESENT
        # glare on the user side: the network's call wins our unconfirmed channel (Q.931 5.7)
        for other in self.calls.values():
            if other.ours and other.channel == chosen and not self.network and other.state == CALL_INITIATED:
                other.channel_lost = True
        self.calls[call.key] = call
        self._event("incoming", call, sending_complete=msg.sending_complete)

    # ---- per-message handlers (call known)
    def _accept_channel(self, call, msg):
        """Check the channel the peer indicates for our outgoing call; False if the call was cleared."""
        ch = msg.channel
        if ch is None or not ch.channels:
            if call.channel_lost:
                self.disconnect(call, m.CAUSE_CHANNEL_UNAVAILABLE)
                return False
            return True
        new = ch.channels[0]
        if new == call.channel and not call.channel_lost:
            return True
        busy = self.busy_channels() - ({call.channel} if not call.channel_lost else set())
        if new not in self.channels or new in busy or (call.exclusive and call.channel is not None
                                                         and new != call.channel):
            self.disconnect(call, m.CAUSE_CHANNEL_UNAVAILABLE if new in busy or call.channel_lost
                            else m.CAUSE_CHANNEL_UNACCEPTABLE)
            return False
        old = call.channel
        call.channel = new
        call.channel_lost = False
        if old != new:
            self._event("channel", call, old=old, new=new)
        return True

    def _wrong_state(self, call, msg):
        self._err(f"{msg.name} in state {call.state}")
        self._status(call.cref, 0 if call.ours else 1, m.CAUSE_WRONG_CALL_STATE, call.state)

    def _rx_call_proceeding(self, call, msg):
        if not call.ours or call.state not in (CALL_INITIATED, CALL_PRESENT):
            return self._wrong_state(call, msg)
        self._stop(call, "T303")
        if not self._accept_channel(call, msg):
            return
        call.state = INCOMING_PROCEEDING if self.network else OUTGOING_PROCEEDING
        self._start(call, "T310")
        self._event("proceeding", call, progress=[p.description for p in msg.progress])

    def _rx_alerting(self, call, msg):
        early = (CALL_INITIATED, CALL_PRESENT)
        mid = (OUTGOING_PROCEEDING, INCOMING_PROCEEDING)
        if not call.ours or call.state not in early + mid:
            return self._wrong_state(call, msg)
        self._stop(call, "T303", "T310")
        if call.state in early and not self._accept_channel(call, msg):
            return
        call.state = CALL_RECEIVED if self.network else CALL_DELIVERED
        self._start(call, "T301")
        self._event("alerting", call, progress=[p.description for p in msg.progress])

    def _rx_progress(self, call, msg):
        if call.state in (NULL, RELEASE_REQUEST):
            return self._wrong_state(call, msg)
        self._stop(call, "T310")
        self._event("progress", call, progress=[p.description for p in msg.progress],
                    cause=msg.cause.value if msg.cause else None)

    def _rx_connect(self, call, msg):
        early = (CALL_INITIATED, CALL_PRESENT, OUTGOING_PROCEEDING, INCOMING_PROCEEDING, CALL_DELIVERED,
                 CALL_RECEIVED)
        if not call.ours or call.state not in early:
            return self._wrong_state(call, msg)
        self._stop(call, "T303", "T310", "T301")
        if call.state in (CALL_INITIATED, CALL_PRESENT) and not self._accept_channel(call, msg):
            return
        if call.channel_lost:
            self.disconnect(call, m.CAUSE_CHANNEL_UNAVAILABLE)
            return
        self._send(call, m.CONNECT_ACKNOWLEDGE)
        call.state = ACTIVE
        self._event("answered", call)

    def _rx_connect_acknowledge(self, call, msg):
        if self.network:
            if call.state != ACTIVE:
                return self._wrong_state(call, msg)
            return                       # the network is already active after CONNECT
        if call.state == CONNECT_REQUEST:
            self._stop(call, "T313")
            call.state = ACTIVE
            self._event("connected", call)
        elif call.state != ACTIVE:
            self._wrong_state(call, msg)

    def _rx_disconnect(self, call, msg):
        cause = msg.cause.value if msg.cause else m.CAUSE_NORMAL
        we_sent = DISCONNECT_INDICATION if self.network else DISCONNECT_REQUEST
        if call.state == RELEASE_REQUEST:
            return                       # already releasing: ignore (5.3.5)
        if call.state == we_sent:        # clear collision: go on to RELEASE
            self._send_release(call, call.release_cause)
            return
        call.timers.clear()
        call.state = DISCONNECT_REQUEST if self.network else DISCONNECT_INDICATION
        call.cause = cause
        self._event("disconnecting", call, cause=cause, local=False)
        # nothing more to wait for on a PRI trunk: release at once (in-band tones are the owner's business)
        if call.state != NULL and call.key in self.calls:
            self._send_release(call, cause)

    def _rx_release(self, call, msg):
        cause = msg.cause.value if msg.cause else call.release_cause
        if call.state == RELEASE_REQUEST:
            self._release_call(call, call.cause or cause)          # release collision: no answer
            return
        self._send(call, m.RELEASE_COMPLETE)
        self._release_call(call, cause if msg.cause else (call.cause or cause))

    def _rx_release_complete(self, call, msg):
        cause = msg.cause.value if msg.cause else (call.cause or call.release_cause)
        if call.state == RELEASE_REQUEST and call.cause:
            cause = call.cause
        self._release_call(call, cause)

    def _rx_status_enquiry(self, call, msg):
        self._status(call.cref, 0 if call.ours else 1, m.CAUSE_RESPONSE_TO_STATUS_ENQUIRY, call.state)

    def _rx_status(self, call, msg):
        self._stop(call, "T322")
        if msg.call_state == NULL:
            self._release_call(call, msg.cause.value if msg.cause else m.CAUSE_WRONG_CALL_STATE)
            return
        if msg.cause and msg.cause.value in (m.CAUSE_MANDATORY_IE_MISSING, m.CAUSE_MESSAGE_TYPE_NONEXISTENT,
                                             m.CAUSE_WRONG_CALL_STATE, m.CAUSE_INVALID_IE_CONTENTS,
                                             m.CAUSE_IE_NONEXISTENT, m.CAUSE_WRONG_MESSAGE):
            self._err(f"peer reported cause {msg.cause.value} in state {msg.call_state}")

    def _rx_setup(self, call, msg):
        self.stats["rx_ignored"] += 1    # duplicate SETUP (peer retransmitted under T303)

    def _rx_information(self, call, msg):
        self.stats["rx_ignored"] += 1

    def _rx_notify(self, call, msg):
        self.stats["rx_ignored"] += 1

    def _rx_facility(self, call, msg):
        self.stats["rx_ignored"] += 1

    def _rx_setup_acknowledge(self, call, msg):
        self._stop(call, "T303")
        if self._accept_channel(call, msg):
            self._event("proceeding", call, progress=[p.description for p in msg.progress])
