"""Q.921 LAPD data link for ISDN PRI (point-to-point, TEI 0), either side.

Frames are raw octets without flags or FCS (the HDLC controller adds those):
address (2 octets: SAPI/C/R, TEI), control (1 octet for U frames, 2 for I and
S frames, modulo 128), then the information field.

`Q921Link` is the multiple-frame acknowledged data link of Q.921 clause 5:
SABME/UA establishment (with retries under T200/N200), DISC/DM release,
I frames with V(S)/V(R)/V(A) modulo 128 and a window of k, RR/RNR/REJ,
T200 retransmission and timer recovery, T203 idle supervision, and clean
re-establishment. It never raises on a malformed frame: the frame is counted
in `stats` and dropped (Q.921 5.8.1/5.8.5), or for an N(R) error the link is
re-established, so the link stays usable.
"""
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("trunkline.pri.q921")

SAPI_CALL_CONTROL = 0
SAPI_TEI_MGMT = 63
N201 = 260                 # maximum octets in an information field

# U-frame control octets with the P/F bit (0x10) cleared
U_SABME = 0x6F
U_DM = 0x0F
U_UI = 0x03
U_DISC = 0x43
U_UA = 0x63
U_FRMR = 0x87
U_XID = 0xAF
U_NAMES = {U_SABME: "SABME", U_DM: "DM", U_UI: "UI", U_DISC: "DISC", U_UA: "UA", U_FRMR: "FRMR", U_XID: "XID"}
S_NAMES = {0x01: "RR", 0x05: "RNR", 0x09: "REJ"}
S_CODES = {v: k for k, v in S_NAMES.items()}

# data link states (Q.921 SDL numbering)
TEI_ASSIGNED = 4
AWAITING_ESTABLISHMENT = 5
AWAITING_RELEASE = 6
MULTIPLE_FRAME_ESTABLISHED = 7
TIMER_RECOVERY = 8
STATE_NAMES = {4: "TEI assigned", 5: "awaiting establishment", 6: "awaiting release",
               7: "multiple frame established", 8: "timer recovery"}


@dataclass
class LapdFrame:
    """One decoded LAPD frame; `error` is a text when the frame is malformed (then other fields may be partial)."""
    sapi: int = 0
    cr: int = 0
    tei: int = 0
    kind: str = "?"
    pf: int = 0
    ns: int = 0
    nr: int = 0
    info: bytes = b""
    error: str = ""


def decode_frame(data: bytes) -> LapdFrame:
    """Decode raw octets into a LapdFrame; never raises (malformed input gives `error`)."""
    f = LapdFrame()
    try:
        data = bytes(data)
    except (TypeError, ValueError, OverflowError):       # not bytes-like at all
        f.error = "not a byte string"
        return f
    if len(data) < 3:
        f.error = f"frame too short ({len(data)} octets)"
        return f
    a0, a1 = data[0], data[1]
    if a0 & 0x01 or not a1 & 0x01:
        f.error = "bad address extension bits"
        return f
    f.sapi, f.cr, f.tei = a0 >> 2, (a0 >> 1) & 1, a1 >> 1
    c0 = data[2]
    if c0 & 0x01 == 0:                      # I frame
        if len(data) < 4:
            f.error = "I frame without second control octet"
            return f
        f.kind, f.ns, f.nr, f.pf, f.info = "I", c0 >> 1, data[3] >> 1, data[3] & 1, data[4:]
        if len(f.info) > N201:
            f.error = f"information field too long ({len(f.info)} > {N201})"
        return f
    if c0 & 0x03 == 0x01:                   # S frame
        if len(data) < 4:
            f.error = "S frame without second control octet"
            return f
        f.kind = S_NAMES.get(c0, "?")
        f.nr, f.pf = data[3] >> 1, data[3] & 1
        if f.kind == "?":
            f.error = f"undefined S frame control 0x{c0:02x}"
        elif len(data) != 4:
            f.error = "S frame with an information field"
        return f
    code = c0 & ~0x10
    f.pf = (c0 >> 4) & 1
    f.kind = U_NAMES.get(code, "?")
    f.info = data[3:]
    if f.kind == "?":
        f.error = f"undefined U frame control 0x{c0:02x}"
    elif f.kind in ("SABME", "DM", "DISC", "UA") and f.info:
        f.error = f"{f.kind} with an information field"
    elif len(f.info) > N201:
        f.error = f"information field too long ({len(f.info)} > {N201})"
    return f


def encode_address(sapi: int, cr: int, tei: int) -> bytes:
    """Two address octets."""
    return bytes([((sapi & 0x3F) << 2) | ((cr & 1) << 1), ((tei & 0x7F) << 1) | 1])


def encode_i(sapi: int, cr: int, tei: int, ns: int, nr: int, p: int, info: bytes) -> bytes:
    """An I frame."""
    return encode_address(sapi, cr, tei) + bytes([(ns & 0x7F) << 1, ((nr & 0x7F) << 1) | (p & 1)]) + bytes(info)


def encode_s(sapi: int, cr: int, tei: int, kind: str, nr: int, pf: int) -> bytes:
    """An S frame (kind RR/RNR/REJ)."""
    return encode_address(sapi, cr, tei) + bytes([S_CODES[kind], ((nr & 0x7F) << 1) | (pf & 1)])


def encode_u(sapi: int, cr: int, tei: int, code: int, pf: int, info: bytes = b"") -> bytes:
    """A U frame (code U_*)."""
    return encode_address(sapi, cr, tei) + bytes([code | ((pf & 1) << 4)]) + bytes(info)


class Q921Link:
    """LAPD multiple-frame data link, user (network=False) or network side; times in seconds."""

    def __init__(self, network: bool, send: Callable[[bytes], object], now: Callable[[], float],
                 on_up: Callable[[bool], None] | None = None, on_down: Callable[[], None] | None = None,
                 on_data: Callable[[bytes], None] | None = None, t200: float = 1.0, t203: float = 10.0,
                 n200: int = 3, k: int = 7, tei: int = 0, sapi: int = SAPI_CALL_CONTROL,
                 persistent: bool = True) -> None:
        """send(frame_bytes) transmits; now() gives seconds; on_up(reestablished), on_down(), on_data(info)."""
        self.network = network
        self._send = send
        self.now = now
        self.on_up: Callable[[bool], None] = on_up or (lambda reestablished: None)
        self.on_down: Callable[[], None] = on_down or (lambda: None)
        self.on_data: Callable[[bytes], None] = on_data or (lambda info: None)
        self.t200, self.t203, self.n200, self.k = t200, t203, n200, k
        self.tei, self.sapi = tei, sapi
        self.persistent = persistent          # PRI: keep trying to bring the link up
        self.state = TEI_ASSIGNED
        self.vs = self.va = self.vr = 0
        self.rc = 0
        self.peer_busy = False
        self.own_busy = False
        self.reject_exception = False
        self.ack_pending = False
        self.t200_at: float | None = None
        self.t203_at: float | None = None
        self.retry_at: float | None = None
        self.queue: list[bytes] = []          # I-frame payloads not yet sent
        self.sent: dict[int, bytes] = {}      # N(S) -> payload, sent but not acknowledged
        self.stats = {"rx": 0, "tx": 0, "rx_bad": 0, "rx_ignored": 0, "retransmitted": 0,
                      "reestablished": 0, "t200_expiry": 0, "nr_errors": 0}
        self.errors: list[str] = []           # last few decode/protocol error texts
        self.release_requested = False
        self.l3_up = False                    # what layer 3 was last told (DL-ESTABLISH/RELEASE indication)
        self._reestablishing = False

    def _indicate_up(self) -> None:
        re = self.l3_up or self._reestablishing
        self._reestablishing = False
        self.l3_up = True
        if re:
            self.stats["reestablished"] += 1
        self.on_up(re)

    def _indicate_down(self) -> None:
        self._reestablishing = False
        if self.l3_up:
            self.l3_up = False
            self.on_down()

    # ---- C/R bit: user sends commands with C/R=0, the network with C/R=1 (Q.921 3.3.2)
    @property
    def _cmd_cr(self) -> int:
        return 1 if self.network else 0

    @property
    def _rsp_cr(self) -> int:
        return 0 if self.network else 1

    @property
    def up(self) -> bool:
        """True while I frames can flow (multiple frame established or timer recovery)."""
        return self.state in (MULTIPLE_FRAME_ESTABLISHED, TIMER_RECOVERY)

    def _tx(self, frame: bytes) -> None:
        self.stats["tx"] += 1
        self._send(frame)

    def _tx_u(self, code: int, pf: int, command: bool) -> None:
        self._tx(encode_u(self.sapi, self._cmd_cr if command else self._rsp_cr, self.tei, code, pf))

    def _tx_s(self, kind: str, pf: int, command: bool) -> None:
        self._tx(encode_s(self.sapi, self._cmd_cr if command else self._rsp_cr, self.tei, kind, self.vr, pf))

    def _error(self, text: str, bad: bool = True) -> None:
        if bad:
            self.stats["rx_bad"] += 1
        log.debug("Q.921 %s: %s", "net" if self.network else "user", text)
        self.errors.append(text)
        del self.errors[:-20]

    # ---- timers
    def _start_t200(self) -> None:
        self.t200_at = self.now() + self.t200

    def _stop_t200(self) -> None:
        self.t200_at = None

    def _start_t203(self) -> None:
        self.t203_at = self.now() + self.t203

    def _stop_t203(self) -> None:
        self.t203_at = None

    def next_timer(self) -> float | None:
        """Absolute time (s) of the next running timer, or None."""
        ts = [t for t in (self.t200_at, self.t203_at, self.retry_at) if t is not None]
        return min(ts) if ts else None

    def tick(self, now: float | None = None) -> None:
        """Run expired timers (T200, T203, establishment retry)."""
        now = self.now() if now is None else now
        if self.t200_at is not None and now >= self.t200_at:
            self.t200_at = None
            self.stats["t200_expiry"] += 1
            self._t200_expired()
        if self.t203_at is not None and now >= self.t203_at:
            self.t203_at = None
            if self.state == MULTIPLE_FRAME_ESTABLISHED:
                self._enquiry()
        if self.retry_at is not None and now >= self.retry_at:
            self.retry_at = None
            if self.state == TEI_ASSIGNED and not self.release_requested:
                self.establish()

    # ---- layer 3 requests
    def establish(self) -> None:
        """DL-ESTABLISH request: send SABME and wait for UA (retried under T200/N200)."""
        self.release_requested = False
        if self.state in (MULTIPLE_FRAME_ESTABLISHED, TIMER_RECOVERY, AWAITING_ESTABLISHMENT):
            return
        self._begin_establishment()

    def _begin_establishment(self) -> None:
        self.rc = 0
        self.sent.clear()
        self.reject_exception = self.peer_busy = False
        self._stop_t203()
        self._tx_u(U_SABME, 1, True)
        self._start_t200()
        self.state = AWAITING_ESTABLISHMENT

    def release(self) -> None:
        """DL-RELEASE request: send DISC and wait for UA/DM."""
        self.release_requested = True
        self.retry_at = None
        if self.state in (MULTIPLE_FRAME_ESTABLISHED, TIMER_RECOVERY, AWAITING_ESTABLISHMENT):
            self.queue.clear()
            self.sent.clear()
            self.rc = 0
            self._stop_t203()
            self._tx_u(U_DISC, 1, True)
            self._start_t200()
            self.state = AWAITING_RELEASE

    def data_request(self, info: bytes) -> None:
        """DL-DATA request: queue one layer 3 message for acknowledged transfer."""
        info = bytes(info)
        if len(info) > N201:
            raise ValueError(f"layer 3 message of {len(info)} octets exceeds N201={N201}")
        self.queue.append(info)
        if self.state == TEI_ASSIGNED and not self.release_requested:
            self.establish()
        self._push()

    def _push(self) -> None:
        """Send queued I frames while the window allows."""
        if self.state != MULTIPLE_FRAME_ESTABLISHED or self.peer_busy:
            return
        while self.queue and (self.vs - self.va) % 128 < self.k:
            info = self.queue.pop(0)
            self.sent[self.vs] = info
            self._tx(encode_i(self.sapi, self._cmd_cr, self.tei, self.vs, self.vr, 0, info))
            self.vs = (self.vs + 1) % 128
            self.ack_pending = False
            if self.t200_at is None:
                self._stop_t203()
                self._start_t200()

    # ---- frame reception
    def receive(self, data: bytes) -> None:
        """Process one received frame; malformed frames are counted and dropped, never raised."""
        try:
            self._receive(data)
        except Exception as exc:              # noqa: BLE001 - the link must survive any input
            log.exception("Q.921 %s: internal error on a received frame", "net" if self.network else "user")
            self._error(f"internal error on frame: {exc!r}")

    def layer1_lost(self) -> None:
        """The physical layer is gone (span alarm): the link is down at once and layer 3 is told."""
        self._go_down()
        self._indicate_down()

    def _receive(self, data: bytes) -> None:
        self.stats["rx"] += 1
        f = decode_frame(data)
        if f.error:
            self._error(f.error)
            return
        if f.sapi != self.sapi or f.tei != self.tei:
            # TEI management (SAPI 63) and other SAPs are not used on a PRI: ignore
            self.stats["rx_ignored"] += 1
            return
        command = f.cr == (0 if self.network else 1)
        kind = f.kind
        if kind == "SABME":
            self._rx_sabme(f, command)
        elif kind == "DISC":
            self._rx_disc(f, command)
        elif kind == "UA":
            self._rx_ua(f, command)
        elif kind == "DM":
            self._rx_dm(f, command)
        elif kind == "FRMR":
            self._error("FRMR received", bad=False)
            if self.up:
                self._reestablish()
        elif kind == "UI":
            if f.info:
                self.on_data(f.info)
        elif kind == "XID":
            self.stats["rx_ignored"] += 1
        elif kind == "I":
            if not command:
                self._error("I frame with response C/R")
                return
            self._rx_i(f)
        else:
            self._rx_s(f, command)

    def _rx_sabme(self, f: LapdFrame, command: bool) -> None:
        if not command:
            self._error("SABME with response C/R")
            return
        if self.state == AWAITING_RELEASE:
            self._tx_u(U_DM, f.pf, False)
            return
        self._tx_u(U_UA, f.pf, False)
        self._stop_t200()
        self.vs = self.va = self.vr = 0
        self.sent.clear()
        self.reject_exception = self.peer_busy = False
        self.rc = 0
        self.retry_at = None
        self.state = MULTIPLE_FRAME_ESTABLISHED
        self._start_t203()
        self._indicate_up()
        self._push()

    def _rx_disc(self, f: LapdFrame, command: bool) -> None:
        if not command:
            self._error("DISC with response C/R")
            return
        if self.state in (TEI_ASSIGNED, AWAITING_ESTABLISHMENT):
            self._tx_u(U_DM, f.pf, False)
            return
        self._tx_u(U_UA, f.pf, False)
        self._go_down()
        self._indicate_down()
        if self.persistent and not self.release_requested:
            self.retry_at = self.now() + self.t200

    def _go_down(self) -> None:
        self._stop_t200()
        self._stop_t203()
        self.sent.clear()
        self.state = TEI_ASSIGNED

    def _rx_ua(self, f: LapdFrame, command: bool) -> None:
        if command:
            self._error("UA with command C/R")
            return
        if self.state == AWAITING_ESTABLISHMENT and f.pf:
            self._stop_t200()
            self.vs = self.va = self.vr = 0
            self.rc = 0
            self.state = MULTIPLE_FRAME_ESTABLISHED
            self._start_t203()
            self._indicate_up()
            self._push()
        elif self.state == AWAITING_RELEASE and f.pf:
            self._go_down()
            self._indicate_down()
        else:
            self._error("unsolicited UA", bad=False)

    def _rx_dm(self, f: LapdFrame, command: bool) -> None:
        if command:
            self._error("DM with command C/R")
            return
        if self.state == AWAITING_ESTABLISHMENT and f.pf:
            self._go_down()
            self._indicate_down()
            if self.persistent and not self.release_requested:
                self.retry_at = self.now() + self.t200
        elif self.state == AWAITING_RELEASE and f.pf:
            self._go_down()
            self._indicate_down()
        elif self.up and not f.pf:
            # peer lost the link: re-establish (Q.921 5.7.1)
            self._reestablish()
        elif self.state == TEI_ASSIGNED and not f.pf and self.persistent and not self.release_requested:
            self.establish()

    def _reestablish(self) -> None:
        self._reestablishing = True
        self.queue[:0] = [self.sent[n] for n in sorted(self.sent, key=lambda n: (n - self.va) % 128)]
        self._begin_establishment()

    def _valid_nr(self, nr: int) -> bool:
        return (nr - self.va) % 128 <= (self.vs - self.va) % 128

    def _ack_to(self, nr: int) -> None:
        while self.va != nr:
            self.sent.pop(self.va, None)
            self.va = (self.va + 1) % 128

    def _nr_error(self, nr: int) -> None:
        self.stats["nr_errors"] += 1
        self._error(f"N(R)={nr} outside V(A)={self.va}..V(S)={self.vs}")
        self._reestablish()

    def _rx_i(self, f: LapdFrame) -> None:
        if not self.up:
            if f.pf and self.state == TEI_ASSIGNED:
                self._tx_u(U_DM, 1, False)
            return
        if f.ns == self.vr:
            self.vr = (self.vr + 1) % 128
            self.reject_exception = False
            if f.pf:
                self._tx_s("RR", 1, False)
                self.ack_pending = False
            else:
                self.ack_pending = True
            self.on_data(f.info)
        else:
            if not self.reject_exception:
                self.reject_exception = True
                self._tx_s("REJ", f.pf, False)
            elif f.pf:
                self._tx_s("RR", 1, False)
        if not self._valid_nr(f.nr):
            self._nr_error(f.nr)
            return
        self._ack_received(f.nr)
        if self.ack_pending and self.state in (MULTIPLE_FRAME_ESTABLISHED, TIMER_RECOVERY):
            self._push()                     # piggyback N(R) on our I frames
            if self.ack_pending:
                self._tx_s("RR", 0, False)
                self.ack_pending = False

    def _ack_received(self, nr: int) -> None:
        if self.state == MULTIPLE_FRAME_ESTABLISHED:
            if nr == self.vs:
                self._ack_to(nr)
                self._stop_t200()
                self._start_t203()
            elif nr != self.va:
                self._ack_to(nr)
                self._start_t200()
        else:                               # timer recovery: only note the acknowledgement
            self._ack_to(nr)

    def _rx_s(self, f: LapdFrame, command: bool) -> None:
        if not self.up:
            if command and f.pf and self.state == TEI_ASSIGNED:
                self._tx_u(U_DM, 1, False)
            return
        self.peer_busy = f.kind == "RNR"
        if command and f.pf:
            self._tx_s("RNR" if self.own_busy else "RR", 1, False)
            self.ack_pending = False
        if not self._valid_nr(f.nr):
            self._nr_error(f.nr)
            return
        if self.state == TIMER_RECOVERY:
            self._ack_to(f.nr)
            if not command and f.pf:
                # enquiry answered: resume, retransmitting everything from N(R)
                self._stop_t200()
                self._start_t203()
                self.state = MULTIPLE_FRAME_ESTABLISHED
                self._retransmit_from(f.nr)
            return
        if f.kind == "REJ":
            self._ack_to(f.nr)
            self._stop_t200()
            self._retransmit_from(f.nr)
            return
        self._ack_received(f.nr)
        if self.peer_busy:
            if self.t200_at is None:
                self._start_t200()
        self._push()

    def _retransmit_from(self, nr: int) -> None:
        """Go back to N(R): requeue every sent-unacknowledged frame in order and send again."""
        pending = [self.sent[n] for n in sorted(self.sent, key=lambda n: (n - self.va) % 128)]
        self.sent.clear()
        self.vs = nr
        self.va = nr
        self.stats["retransmitted"] += len(pending)
        self.queue[:0] = pending
        if not pending:
            self._start_t203()
        self._push()

    def _enquiry(self) -> None:
        """Enter timer recovery with an RR (or RNR) command, P=1."""
        self.rc = 0
        self._tx_s("RNR" if self.own_busy else "RR", 1, True)
        self.rc = 1
        self._start_t200()
        self.state = TIMER_RECOVERY

    def _t200_expired(self) -> None:
        if self.state == AWAITING_ESTABLISHMENT:
            if self.rc < self.n200:
                self.rc += 1
                self._tx_u(U_SABME, 1, True)
                self._start_t200()
            else:
                self._error("no UA after N200 SABMEs", bad=False)
                self._go_down()
                self._indicate_down()
                if self.persistent and not self.release_requested:
                    self.retry_at = self.now() + self.t200
        elif self.state == AWAITING_RELEASE:
            if self.rc < self.n200:
                self.rc += 1
                self._tx_u(U_DISC, 1, True)
                self._start_t200()
            else:
                self._go_down()
                self._indicate_down()
        elif self.state == MULTIPLE_FRAME_ESTABLISHED:
            self._enquiry()
        elif self.state == TIMER_RECOVERY:
            if self.rc < self.n200:
                self.rc += 1
                self._tx_s("RNR" if self.own_busy else "RR", 1, True)
                self._start_t200()
            else:
                self._error("peer silent after N200 enquiries: re-establishing", bad=False)
                self._reestablish()
