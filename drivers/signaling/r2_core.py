"""China No.1 signalling on E1 spans, I/O agnostic: CAS line signalling (ABCD) and compelled MFC/R2
registers for a set of channels.

`R2Core` runs the state machines; its owner moves the bits and the audio: the driver side
(`r2.R2Signaling`, over a board span) and the simulated network (`pstn/r2_far.py`, over the card's
far side). It sends ABCD bits through `set_cas(ch, bits)`, is told the received ones with
`cas_in`, hears register audio with `feed` and makes it with `generate`.

Line signalling (China No.1 digital line signalling, Q.421-style a/b bits, c/d fixed at 01):
    forward  idle/clear-forward ab=10 (ABCD 0x9), seize ab=00 (0x1)
    backward idle/release guard ab=10 (0x9), seize acknowledge ab=11 (0xD), answer ab=01 (0x5),
             clear-back ab=11 (0xD), blocking ab=11 (0xD) on an idle line.

Register signalling (compelled MFC, China variant tables):
    forward group I:  1..10 = digits 1..9, 0; KA (calling category, sent first on A6) 1..10;
                      I-15 = end of ANI / end of address; I-12 = ANI restricted (not presented)
    forward group II (KD, sent after A3): 1 toll operator, 2 toll automatic, 3 local subscriber,
                      4 local fax/data, 5 semi-automatic ANI check, 6 test call
    backward group A: A1 send next digit, A2 send from the first digit again, A3 address complete,
                      change to group B (send KD), A4 congestion, A5 unallocated, A6 send KA and ANI
    backward group B (KB): B1 called party free (charge), B2 busy (local), B3 busy (toll),
                      B4 congestion, B5 unallocated number, B6 called party free (local)
Compelled cycle: forward tone on -> backward tone on -> forward off -> backward off -> next forward.
"""
import heapq
import itertools
import logging
from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import NDArray

from trunkline.dsp.r2mf import R2MFDetector, R2MFGenerator

log = logging.getLogger("trunkline.r2")

# ABCD codes
IDLE = 0x9             # ab=10: an idle line, either direction
F_IDLE, F_SEIZE = IDLE, 0x1
B_IDLE, B_SEIZE_ACK, B_ANSWER, B_CLEAR_BACK, B_BLOCKED = IDLE, 0xD, 0x5, 0xD, 0xD

# group A / B signals
A_NEXT, A_RESTART, A_COMPLETE, A_CONGESTION, A_UNALLOCATED, A_SEND_ANI = 1, 2, 3, 4, 5, 6
B_FREE_CHARGE, B_BUSY_LOCAL, B_BUSY_TOLL, B_CONGESTION, B_UNALLOCATED, B_FREE_LOCAL = 1, 2, 3, 4, 5, 6
I_END, I_RESTRICTED = 15, 12

# Q.850 cause of each group B result and each failing group A signal
B_CAUSE = {B_BUSY_LOCAL: 17, B_BUSY_TOLL: 17, B_CONGESTION: 34, B_UNALLOCATED: 1}
A_CAUSE = {A_CONGESTION: 34, A_UNALLOCATED: 1}
KD_NAMES = {1: "toll_operator", 2: "toll_automatic", 3: "subscriber", 4: "data", 5: "ani_check", 6: "test"}
KD_OF_NAME = {v: k for k, v in KD_NAMES.items()}

T_SEIZE_ACK = 2.0      # s: outgoing waits this long for seize acknowledge
T_MF_BACK = 5.0        # s: a forward signal waits this long for its backward answer
T_MF_FWD = 5.0         # s: the incoming register waits this long for the next forward signal
T_END_DNIS = 1.2       # s: no next digit after A1 with digits in hand: the address is complete
T_ANSWER = 60.0        # s: outgoing waits this long for answer after B1/B6
T_RELEASE = 5.0        # s: wait for release guard (backward idle) after clear-forward
#: s a span alarm (LOS/AIS, no CAS) may last before the calls up are cleared. Q.424 leaves the release after a
#: persistent fault to the administration; the default is Q.931's T309 so E1 R2 and PRI spans behave alike
T_ALARM_CLEAR = 90.0
PULSE_MS = 150         # ms: pulsed backward signal when the forward side went quiet


def digit_signal(d: str) -> int:
    """Group I signal (1..10) of a decimal digit character."""
    return 10 if d == "0" else int(d)


def signal_digit(s: int) -> str:
    """Decimal digit character of a group I signal 1..10."""
    return "0" if s == 10 else str(s)


class R2Line:
    """One channel's call state."""
    __slots__ = ("state", "role", "called", "caller", "ka", "kd", "restricted", "dnis_i", "ani_i", "mode",
                 "expect", "fwd", "next_fwd", "pending_b", "result", "due", "on_due", "remote_blocked",
                 "blocked", "cause", "max_dnis")

    def __init__(self) -> None:
        self.reset()
        self.remote_blocked = False
        self.blocked = False

    def reset(self) -> None:
        """Back to an idle line (the blocking flags stay)."""
        self.state = "idle"
        self.role: str | None = None          # "in" (incoming register) or "out" (outgoing register)
        self.called = ""
        self.caller = ""
        self.ka = 1
        self.kd = 3
        self.restricted = False
        self.dnis_i = 0
        self.ani_i = 0
        self.mode = "dnis"
        self.expect = "dnis"
        self.fwd = 0
        self.next_fwd = 0
        self.pending_b = 0
        self.result: int | tuple[str, int] | None = None   # group B signal, or ("a", signal) refusal
        self.due: float | None = None
        self.on_due: Callable[[], None] | None = None
        self.cause = 16
        self.max_dnis: int | None = None


class R2Core:
    """China No.1 line + register state machines for a list of channel ids (see module docstring)."""

    def __init__(self, channels: Iterable[int], set_cas: Callable[[int, int], None], now: Callable[[], float],
                 want_ani: bool = True, max_dnis: int | None = None) -> None:
        """set_cas(ch, bits) transmits ABCD; now() -> seconds; max_dnis: digits after which DNIS is complete."""
        self.chans = list(channels)
        self.row = {ch: i for i, ch in enumerate(self.chans)}
        self.lines = {ch: R2Line() for ch in self.chans}
        self.set_cas = set_cas
        self.now = now
        self.want_ani = want_ani
        self.max_dnis = max_dnis
        n = len(self.chans)
        self.gen_f = R2MFGenerator(n, forward=True)
        self.gen_b = R2MFGenerator(n, forward=False)
        self.det_f = R2MFDetector(n, forward=True)     # the incoming register listens to forward tones
        self.det_b = R2MFDetector(n, forward=False)    # the outgoing register listens to backward tones
        self.mf: set[int] = set()      # channels in register signalling (audio needed)
        self.alarm = False             # span in red/blue alarm: no line signalling, no calls
        self.alarm_since: float | None = None    # s, when the current alarm began
        self.bearer_lost: dict[int, float] = {}  # ch -> s its bearer was lost to the alarm (call kept for now)
        self.t_alarm_clear = T_ALARM_CLEAR
        self._alarm_due: float | None = None
        self.timed: set[int] = set()   # channels with a timer running
        self._heap: list[tuple[float, int, int]] = []   # (due, seq, channel); stale entries skipped
        self._seq = itertools.count()
        # callbacks (the owner replaces them)
        self.on_decide: Callable[[int, R2Line], int] = lambda ch, line: B_FREE_CHARGE   # incoming: B answer to KD
        self.on_offered: Callable[[int, R2Line], None] = lambda ch, line: None    # incoming: offered (after B1/B6)
        self.on_ringing: Callable[[int, R2Line], None] = lambda ch, line: None    # outgoing: B1/B6 received
        self.on_answered: Callable[[int, R2Line], None] = lambda ch, line: None   # outgoing: answer line signal
        self.on_hangup: Callable[[int, R2Line, int], None] = lambda ch, line, cause: None   # call over
        self.on_mf: Callable[[int, bool], None] = lambda ch, active: None   # register signalling starts/stops

    # ------------------------------------------------------------------ helpers
    def _timer(self, ch: int, seconds: float | None, fn: Callable[[], None] | None) -> None:
        line = self.lines[ch]
        if seconds is None:
            line.due = line.on_due = None
            self.timed.discard(ch)
        else:
            due = line.due = self.now() + seconds
            line.on_due = fn
            self.timed.add(ch)
            heapq.heappush(self._heap, (due, next(self._seq), ch))

    def _mf_start(self, ch: int) -> None:
        r = self.row[ch]
        self.det_f.reset(r)
        self.det_b.reset(r)
        self.gen_f.set(r, 0)
        self.gen_b.set(r, 0)
        if ch not in self.mf:
            self.mf.add(ch)
            self.on_mf(ch, True)

    def _mf_stop(self, ch: int) -> None:
        r = self.row[ch]
        self.gen_f.set(r, 0)
        self.gen_b.set(r, 0)
        if ch in self.mf:
            self.mf.discard(ch)
            self.on_mf(ch, False)

    def _finish(self, ch: int, cause: int, notify: bool = True) -> None:
        """The call on ch is over from our side's view; line back to idle state."""
        line = self.lines[ch]
        self._mf_stop(ch)
        self._timer(ch, None, None)
        was = line.state
        line.cause = cause
        if line.role == "in":
            self.set_cas(ch, B_BLOCKED if line.blocked else B_IDLE)
        elif line.role == "out":
            self.set_cas(ch, F_IDLE)
        if notify and was not in ("idle",):
            self.on_hangup(ch, line, cause)
        blocked, rblocked = line.blocked, line.remote_blocked
        line.reset()
        line.blocked, line.remote_blocked = blocked, rblocked

    def free(self, ch: int) -> bool:
        """True when ch can be seized for an outgoing call."""
        line = self.lines[ch]
        return line.state == "idle" and not line.blocked and not line.remote_blocked and not self.alarm

    def span_alarm(self, on: bool) -> None:
        """Red/blue alarm on the span (no multiframe, no CAS): calls being set up are cleared at once with
        cause 38 (network out of order); calls up are kept, their bearer lost at the alarm, and cleared (38)
        when the alarm lasts `t_alarm_clear` s; no line is seized until the alarm clears."""
        if on and not self.alarm:
            now = self.now()
            self.alarm, self.alarm_since, self._alarm_due = True, now, now + self.t_alarm_clear
            for ch, line in self.lines.items():
                if line.state == "up":
                    self.bearer_lost.setdefault(ch, now)
                elif line.state != "idle":
                    self._finish(ch, 38)
        elif not on and self.alarm:
            self.alarm, self.alarm_since, self._alarm_due = False, None, None
            self.bearer_lost.clear()            # the calls that outlived the outage carry on

    def state(self, ch: int) -> str:
        """Call state name of ch."""
        return self.lines[ch].state

    # ------------------------------------------------------------------ requests from the owner
    def dial(self, ch: int, called: str, caller: str = "", category: str | int | None = "subscriber", ka: int = 1,
             restricted: bool = False) -> None:
        """Seize ch and send `called` (digits) with ANI `caller`; KD from category name or 1..6."""
        line = self.lines[ch]
        if not self.free(ch):
            raise ValueError(f"channel {ch} is not free ({line.state})")
        if not called or not all(c in "0123456789" for c in called):
            raise ValueError(f"R2 called number must be digits, got {called!r}")
        if caller and not all(c in "0123456789" for c in caller):
            raise ValueError(f"R2 calling number must be digits, got {caller!r}")
        line.reset()
        line.role = "out"
        line.state = "seizing"
        line.called = called
        line.caller = caller
        line.restricted = restricted or not caller
        line.ka = int(ka)
        kd = category if isinstance(category, int) else KD_OF_NAME.get(category or "", 3)
        line.kd = kd if 1 <= kd <= 15 else 3
        self.set_cas(ch, F_SEIZE)
        self._timer(ch, T_SEIZE_ACK, lambda: self._fail_out(ch, 41, "no seize acknowledge"))

    def answer(self, ch: int) -> None:
        """Incoming call offered on ch: send the answer line signal."""
        line = self.lines[ch]
        if line.state != "offered":
            raise ValueError(f"channel {ch}: no call offered ({line.state})")
        line.state = "up"
        self._timer(ch, None, None)
        self.set_cas(ch, B_ANSWER)

    def hangup(self, ch: int, cause: int = 16) -> None:
        """Clear the call on ch from our side (clear-forward or clear-back); no callback follows."""
        line = self.lines[ch]
        if line.role == "out" and line.state not in ("idle", "releasing"):
            self._mf_stop(ch)
            line.state = "releasing"
            line.cause = cause
            self.set_cas(ch, F_IDLE)
            self._timer(ch, T_RELEASE, lambda: self._finish(ch, cause, notify=False))
        elif line.role == "in" and line.state not in ("idle", "clearback"):
            # answered: clear-back (ab=11); before answer: backward idle (ab=10) refuses the call
            self._mf_stop(ch)
            self.set_cas(ch, B_CLEAR_BACK if line.state == "up" else B_IDLE)
            line.state = "clearback"
            line.cause = cause
            self._timer(ch, T_RELEASE * 6, lambda: self._finish(ch, cause, notify=False))

    def block(self, ch: int, on: bool = True) -> None:
        """Block (or unblock) an idle channel toward the far end (backward ab=11)."""
        line = self.lines[ch]
        line.blocked = on
        if line.state == "idle":
            self.set_cas(ch, B_BLOCKED if on else B_IDLE)

    def _fail_out(self, ch: int, cause: int, why: str = "") -> None:
        """Outgoing attempt failed: clear forward, tell the owner."""
        line = self.lines[ch]
        self._mf_stop(ch)
        self.set_cas(ch, F_IDLE)
        self.on_hangup(ch, line, cause)
        line.state = "releasing"
        line.cause = cause
        self._timer(ch, T_RELEASE, lambda: self._finish(ch, cause, notify=False))

    # ------------------------------------------------------------------ line signalling
    def cas_in(self, ch: int, bits: int) -> None:
        """ABCD bits received on ch (any value 0..15)."""
        if self.alarm:                 # no line signalling while the span is in alarm
            return
        line = self.lines.get(ch)
        if line is None:
            return
        bits = int(bits) & 0xF
        ab = bits >> 2
        st = line.state
        if line.role == "out":
            if st == "seizing":
                if ab == 0b11:
                    line.state = "mf"
                    self._mf_start(ch)
                    line.mode = "dnis"
                    self._send_fwd(ch, digit_signal(line.called[0]))
                    line.dnis_i = 1
                elif ab == 0b00:     # glare: the far end seized too; back off
                    self._fail_out(ch, 34, "glare")
            elif st in ("mf", "ringing") and ab == 0b01:
                if st == "mf":
                    self._mf_stop(ch)
                line.state = "up"
                self._timer(ch, None, None)
                self.on_answered(ch, line)
            elif st == "up" and ab == 0b11:          # clear-back: release the call
                self.set_cas(ch, F_IDLE)
                line.state = "releasing"
                self.on_hangup(ch, line, 16)
                self._timer(ch, T_RELEASE, lambda: self._finish(ch, 16, notify=False))
            elif st == "releasing" and ab == 0b10:   # release guard over
                self._finish(ch, line.cause, notify=False)
            elif st in ("mf", "ringing", "up") and ab == 0b10:   # far end dropped back to idle
                self._fail_out(ch, 16 if st == "up" else 21, "backward idle: call refused or released")
            return
        if line.role == "in":
            if ab == 0b10:           # clear-forward
                was = st
                self._mf_stop(ch)
                self.set_cas(ch, B_BLOCKED if line.blocked else B_IDLE)
                if was in ("offered", "up"):
                    self.on_hangup(ch, line, 16)
                self._finish(ch, 16, notify=False)
            return
        # idle line
        if ab == 0b00 and not line.blocked:        # seize
            line.reset()
            line.role = "in"
            line.state = "mf"
            line.expect = "dnis"
            line.max_dnis = self.max_dnis
            self.set_cas(ch, B_SEIZE_ACK)
            self._mf_start(ch)
            self._timer(ch, T_MF_FWD, lambda: self._in_timeout(ch))
        elif ab == 0b11:
            line.remote_blocked = True
        elif ab == 0b10:
            line.remote_blocked = False

    # ------------------------------------------------------------------ register signalling
    def _send_fwd(self, ch: int, sig: int) -> None:
        line = self.lines[ch]
        line.fwd = sig
        self.gen_f.set(self.row[ch], sig)
        self._timer(ch, T_MF_BACK, lambda: self._fail_out(ch, 41, "no backward MF signal"))

    def feed(self, audio: NDArray[np.int16]) -> None:
        """Received audio rows (len(channels), n) int16; run the registers of channels in MF."""
        if not self.mf:
            return
        for r, sig in self.det_f.process(audio):
            ch = self.chans[r]
            if ch in self.mf and self.lines[ch].role == "in":
                self._in_signal(ch, sig)
        for r, sig in self.det_b.process(audio):
            ch = self.chans[r]
            if ch in self.mf and self.lines[ch].role == "out":
                self._out_signal(ch, sig)

    def generate(self, n: int) -> NDArray[np.int16]:
        """MF audio to send, (len(channels), n) int16 (forward and backward generators summed)."""
        return self.gen_f.generate(n) + self.gen_b.generate(n)

    def _out_signal(self, ch: int, sig: int) -> None:
        """Outgoing register: backward signal `sig` recognised (0 = ended)."""
        line = self.lines[ch]
        r = self.row[ch]
        if sig:
            if line.next_fwd or line.result is not None:
                return                       # already acting on a signal
            self.gen_f.set(r, 0)
            line.fwd = 0
            self._timer(ch, T_MF_BACK, lambda: self._fail_out(ch, 41, "backward signal stuck"))
            if line.mode == "b":
                line.result = sig
                return
            if sig == A_NEXT:
                if line.mode == "ani":
                    if line.restricted and line.ani_i == 0:
                        line.next_fwd = I_RESTRICTED
                        line.mode = "dnis"
                    elif line.ani_i < len(line.caller):
                        line.next_fwd = digit_signal(line.caller[line.ani_i])
                        line.ani_i += 1
                    else:
                        line.next_fwd = I_END
                        line.mode = "dnis"
                elif line.dnis_i < len(line.called):
                    line.next_fwd = digit_signal(line.called[line.dnis_i])
                    line.dnis_i += 1
                else:
                    line.next_fwd = I_END
            elif sig == A_RESTART:
                line.dnis_i = 1
                line.next_fwd = digit_signal(line.called[0])
            elif sig == A_COMPLETE:
                line.mode = "b"
                line.next_fwd = line.kd
            elif sig == A_SEND_ANI:
                line.mode = "ani"
                line.ani_i = 0
                line.next_fwd = line.ka
            elif sig in A_CAUSE:
                line.result = ("a", sig)
            else:
                line.result = ("a", A_CONGESTION)
            return
        # backward signal ended
        if line.result is not None:
            res, line.result = line.result, None
            if isinstance(res, tuple):
                self._fail_out(ch, A_CAUSE.get(res[1], 34), "group A refusal")
            elif res in (B_FREE_CHARGE, B_FREE_LOCAL):
                self._mf_stop(ch)
                line.state = "ringing"
                self._timer(ch, T_ANSWER, lambda: self._fail_out(ch, 19, "no answer"))
                self.on_ringing(ch, line)
            else:
                self._fail_out(ch, B_CAUSE.get(res, 34), f"group B {res}")
        elif line.next_fwd:
            nxt, line.next_fwd = line.next_fwd, 0
            self._send_fwd(ch, nxt)

    def _in_timeout(self, ch: int) -> None:
        """Incoming register: no forward signal in time."""
        line = self.lines[ch]
        if line.state != "mf":
            return
        if line.expect == "dnis" and line.called and line.pending_b == 0:
            self._dnis_complete(ch, pulsed=True)
            return
        # give up: congestion, wait for the clear-forward
        self.gen_b.pulse(self.row[ch], A_CONGESTION, PULSE_MS)
        line.state = "failed"
        self._timer(ch, T_RELEASE * 6, lambda: self._finish(ch, 34, notify=False))

    def _dnis_complete(self, ch: int, pulsed: bool = False) -> int:
        """All address digits in: ask for KA + ANI (A6) or change to group B (A3)."""
        line = self.lines[ch]
        if self.want_ani and line.expect == "dnis" and not line.caller and not line.restricted and line.ani_i == 0:
            line.expect = "ka"
            sig = A_SEND_ANI
        else:
            line.expect = "kd"
            sig = A_COMPLETE
        if pulsed:
            self.gen_b.pulse(self.row[ch], sig, PULSE_MS)
            self._timer(ch, T_MF_FWD, lambda: self._in_timeout(ch))
        return sig

    def _in_signal(self, ch: int, sig: int) -> None:
        """Incoming register: forward signal `sig` recognised (0 = ended)."""
        line = self.lines[ch]
        r = self.row[ch]
        if line.state != "mf":
            return
        if sig == 0:
            if line.pending_b == 0:
                return
            self.gen_b.set(r, 0)
            b, line.pending_b = line.pending_b, 0
            if line.expect == "done":
                self._mf_stop(ch)
                if b in (B_FREE_CHARGE, B_FREE_LOCAL):
                    line.state = "offered"
                    self._timer(ch, None, None)
                    self.on_offered(ch, line)
                else:
                    line.state = "failed"        # wait for the clear-forward
                    self._timer(ch, T_RELEASE * 6, lambda: self._finish(ch, 34, notify=False))
                return
            wait = T_END_DNIS if (line.expect == "dnis" and line.called) else T_MF_FWD
            self._timer(ch, wait, lambda: self._in_timeout(ch))
            return
        if line.pending_b:
            return                                # still in a cycle: ignore a change
        if line.expect == "dnis":
            if 1 <= sig <= 10:
                line.called += signal_digit(sig)
                if line.max_dnis and len(line.called) >= line.max_dnis:
                    b = self._dnis_complete(ch)
                else:
                    b = A_NEXT
            elif sig == I_END and line.called:
                b = self._dnis_complete(ch)
            else:
                b = A_CONGESTION
                line.expect = "refused"
        elif line.expect == "ka":
            line.ka = sig
            line.ani_i = 1
            line.expect = "ani"
            b = A_NEXT
        elif line.expect == "ani":
            if 1 <= sig <= 10:
                line.caller += signal_digit(sig)
                b = A_NEXT
            else:
                if sig == I_RESTRICTED:
                    line.restricted = True
                line.expect = "kd"
                b = A_COMPLETE
        elif line.expect == "kd":
            line.kd = sig
            line.expect = "done"
            try:
                b = int(self.on_decide(ch, line))
            except Exception:                  # noqa: BLE001 - an owner bug refuses this call, not the span
                log.exception("R2 channel %s: deciding the group B answer failed", ch)
                b = B_CONGESTION
            if not 1 <= b <= 15:
                b = B_CONGESTION
        else:                                      # refused: keep refusing
            b = A_CONGESTION
        line.pending_b = b
        self.gen_b.set(r, b)
        self._timer(ch, T_MF_BACK, lambda: self._in_timeout(ch))

    # ------------------------------------------------------------------ timers
    def poll(self, now: float) -> None:
        """Run due timers, earliest first: a heap, so lines whose timer is not due are never looked at."""
        if self._alarm_due is not None and now >= self._alarm_due:
            self._alarm_due = None                 # the alarm persisted: clear the calls it left up
            for ch in list(self.bearer_lost):
                if self.lines[ch].state != "idle":
                    self._finish(ch, 38)
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, ch = heapq.heappop(heap)
            line = self.lines[ch]
            if line.due != due:                  # stopped or restarted since: a stale entry
                continue
            fn = line.on_due
            line.due = line.on_due = None
            self.timed.discard(ch)
            if fn is not None:
                fn()
