"""Q.931 call control for a PRI, what this side receives: the state machine's reactions to every
message (Q.931 5 and Annex A), on top of the sending side `q931_control.Q931Control`.

Every received message goes through `Q931Stack.receive`, which never raises: malformed
or unexpected messages are answered per Q.931 5.8 (STATUS, RELEASE COMPLETE
with causes 81/96/97/98/100/101) and counted in `stats`.
"""
import logging

from . import q931 as m
from .q931 import Cause, Number, Q931Message
from .q931_control import (
    ACTIVE,
    CALL_DELIVERED,
    CALL_INITIATED,
    CALL_PRESENT,
    CALL_RECEIVED,
    CONNECT_REQUEST,
    DISCONNECT_INDICATION,
    DISCONNECT_REQUEST,
    INCOMING_PROCEEDING,
    NULL,
    OUTGOING_PROCEEDING,
    RELEASE_REQUEST,
    Q931Call,
    Q931Control,
)

log = logging.getLogger("trunkline.pri.q931")


class Q931Stack(Q931Control):
    """Call control over one PRI D-channel, both directions; network=True for the network side."""

    def receive(self, data: bytes) -> None:
        """Process one layer 3 message; never raises."""
        self.stats["rx"] += 1
        try:
            self._receive(data)
        except Exception as exc:        # noqa: BLE001 - a bad message must not take the span down
            log.exception("Q.931 %s: internal error on a received message", "net" if self.network else "user")
            self.log_error(f"internal error on message: {exc!r}")

    def _receive(self, data: bytes) -> None:
        msg = m.decode_message(data)
        if msg.error:
            self.stats["rx_ignored"] += 1
            self.log_error(msg.error)
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
            self.log_error(f"{msg.name}: IE 0x{problems[0][0]:02x} cause {cause}")
            if msg.mtype == m.DISCONNECT:
                msg.cause = Cause(cause)            # clear anyway (5.8.6.1)
            elif msg.mtype not in (m.RELEASE, m.RELEASE_COMPLETE):     # those release the call anyway
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

    def _rx_unknown_cref(self, msg: Q931Message, reply_flag: int) -> None:
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

    def _rx_global(self, msg: Q931Message) -> None:
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
                chans = self.restart_pending.channels
                self.restart_pending = None
                self._event("restart_ack", None, channels=chans, ok=True)
        elif msg.mtype in (m.STATUS, m.STATUS_ENQUIRY):
            if msg.mtype == m.STATUS_ENQUIRY:
                self._status(0, 1 - msg.flag, m.CAUSE_RESPONSE_TO_STATUS_ENQUIRY, NULL)
        else:
            self._status(0, 1 - msg.flag, m.CAUSE_INVALID_CALL_REFERENCE, NULL)

    def _rx_new_setup(self, msg: Q931Message) -> None:
        """A SETUP from the peer (Q.931 5.1 on the network side, 5.2 on the user side)."""
        reply = dict(cref=msg.cref, flag=1)
        problems = m.missing_mandatory(msg)
        if not self.network and msg.channel is None:
            problems.append((m.IE_CHANNEL_ID, m.CAUSE_MANDATORY_IE_MISSING))
        if problems:
            self._send_raw(mtype=m.RELEASE_COMPLETE, cause=Cause(problems[0][1], self._location()), **reply)
            self.log_error(f"SETUP rejected: IE 0x{problems[0][0]:02x} cause {problems[0][1]}")
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
    def _accept_channel(self, call: Q931Call, msg: Q931Message) -> bool:
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

    def _wrong_state(self, call: Q931Call, msg: Q931Message) -> None:
        self.log_error(f"{msg.name} in state {call.state}")
        self._status(call.cref, 0 if call.ours else 1, m.CAUSE_WRONG_CALL_STATE, call.state)

    def _rx_call_proceeding(self, call: Q931Call, msg: Q931Message) -> None:
        if not call.ours or call.state not in (CALL_INITIATED, CALL_PRESENT):
            return self._wrong_state(call, msg)
        self._stop(call, "T303")
        if not self._accept_channel(call, msg):
            return
        call.state = INCOMING_PROCEEDING if self.network else OUTGOING_PROCEEDING
        self._start(call, "T310")
        self._event("proceeding", call, progress=[p.description for p in msg.progress])

    def _rx_alerting(self, call: Q931Call, msg: Q931Message) -> None:
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

    def _rx_progress(self, call: Q931Call, msg: Q931Message) -> None:
        if call.state in (NULL, RELEASE_REQUEST):
            return self._wrong_state(call, msg)
        self._stop(call, "T310")
        self._event("progress", call, progress=[p.description for p in msg.progress],
                    cause=msg.cause.value if msg.cause else None)

    def _rx_connect(self, call: Q931Call, msg: Q931Message) -> None:
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

    def _rx_connect_acknowledge(self, call: Q931Call, msg: Q931Message) -> None:
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

    def _rx_disconnect(self, call: Q931Call, msg: Q931Message) -> None:
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

    def _rx_release(self, call: Q931Call, msg: Q931Message) -> None:
        cause = msg.cause.value if msg.cause else call.release_cause
        if call.state == RELEASE_REQUEST:
            self._release_call(call, call.cause or cause)          # release collision: no answer
            return
        self._send(call, m.RELEASE_COMPLETE)
        self._release_call(call, cause if msg.cause else (call.cause or cause))

    def _rx_release_complete(self, call: Q931Call, msg: Q931Message) -> None:
        cause = msg.cause.value if msg.cause else (call.cause or call.release_cause)
        if call.state == RELEASE_REQUEST and call.cause:
            cause = call.cause
        self._release_call(call, cause)

    def _rx_status_enquiry(self, call: Q931Call, msg: Q931Message) -> None:
        self._status(call.cref, 0 if call.ours else 1, m.CAUSE_RESPONSE_TO_STATUS_ENQUIRY, call.state)

    def _rx_status(self, call: Q931Call, msg: Q931Message) -> None:
        self._stop(call, "T322")
        if msg.call_state == NULL:
            self._release_call(call, msg.cause.value if msg.cause else m.CAUSE_WRONG_CALL_STATE)
            return
        if msg.cause and msg.cause.value in (m.CAUSE_MANDATORY_IE_MISSING, m.CAUSE_MESSAGE_TYPE_NONEXISTENT,
                                             m.CAUSE_WRONG_CALL_STATE, m.CAUSE_INVALID_IE_CONTENTS,
                                             m.CAUSE_IE_NONEXISTENT, m.CAUSE_WRONG_MESSAGE):
            self.log_error(f"peer reported cause {msg.cause.value} in state {msg.call_state}")

    def _rx_setup(self, call: Q931Call, msg: Q931Message) -> None:
        self.stats["rx_ignored"] += 1    # duplicate SETUP (peer retransmitted under T303)

    def _rx_information(self, call: Q931Call, msg: Q931Message) -> None:
        self.stats["rx_ignored"] += 1

    def _rx_notify(self, call: Q931Call, msg: Q931Message) -> None:
        self.stats["rx_ignored"] += 1

    def _rx_facility(self, call: Q931Call, msg: Q931Message) -> None:
        self.stats["rx_ignored"] += 1

    def _rx_setup_acknowledge(self, call: Q931Call, msg: Q931Message) -> None:
        self._stop(call, "T303")
        if self._accept_channel(call, msg):
            self._event("proceeding", call, progress=[p.description for p in msg.progress])
