"""SS7 MTP2 (ITU-T Q.703) signaling link in user space over an HDLC timeslot, basic error correction.

A signal unit (SU) is raw octets without flags or FCS (the HDLC controller adds those):
BSN|BIB, FSN|FIB, LI (6 bits), then the status field of an LSSU (LI 1 or 2) or the SIO+SIF of
an MSU (LI >= 3; LI = 63 for longer ones). LI = 0 is a fill-in signal unit (FISU).

`Mtp2Link` runs initial alignment (SIO/SIN/SIE, T2/T3, normal or emergency proving under
T4 with the AERM), the aligned-ready state (T1), in service with the basic error correction
method (FSN/BSN/FIB/BIB, retransmission from the buffer on a negative acknowledgement, T7
excessive delay of acknowledgement), the SUERM, processor outage / busy (SIPO/SIB, T5/T6)
and link failure (SIOS). Fill-in units are sent when the state changes, when an
acknowledgement is owed, and at least every `fill_interval` seconds (a real controller
repeats them continuously; the peer sees the same sequence, only sparser).
Malformed SUs never raise: they count toward the error rate monitors, as Q.703 says.
"""
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("trunkline.ss7.mtp2")

# LSSU status indications (Q.703 11.1.3)
SIO, SIN, SIE, SIOS, SIPO, SIB = 0, 1, 2, 3, 4, 5
STATUS_NAMES = {SIO: "SIO", SIN: "SIN", SIE: "SIE", SIOS: "SIOS", SIPO: "SIPO", SIB: "SIB"}

# link states
OUT_OF_SERVICE = "out of service"
NOT_ALIGNED = "not aligned"
ALIGNED = "aligned"
PROVING = "proving"
ALIGNED_READY = "aligned ready"
IN_SERVICE = "in service"

#: Q.703 timers for 64 kbit/s links, seconds (T4 normal is Pn = 2^16 octets, emergency Pe = 2^12)
TIMERS = {"T1": 45.0, "T2": 10.0, "T3": 1.2, "T4n": 8.2, "T4e": 0.5, "T5": 0.1, "T6": 4.0, "T7": 1.0}
TIN, TIE = 4, 1            # AERM thresholds, normal / emergency proving
M_PROVING = 5              # proving attempts before alignment fails
SUERM_T, SUERM_D = 64, 256  # SUERM threshold and leak (one error forgiven per D good SUs)
MAX_MSU = 272              # longest SIF + SIO accepted (octets)


@dataclass
class SignalUnit:
    """One decoded SU; `kind` is FISU, LSSU or MSU; `error` names what is wrong with a bad one."""
    kind: str = "?"
    bsn: int = 0
    bib: int = 0
    fsn: int = 0
    fib: int = 0
    li: int = 0
    status: int = -1
    payload: bytes = b""        # SIO + SIF of an MSU
    error: str = ""


def decode_su(data: bytes) -> SignalUnit:
    """Decode raw SU octets; never raises (a malformed SU comes back with `error` set)."""
    su = SignalUnit()
    try:
        data = bytes(data)
    except (TypeError, ValueError, OverflowError):
        su.error = "not a byte string"
        return su
    if len(data) < 3:
        su.error = f"signal unit too short ({len(data)} octets)"
        return su
    su.bsn, su.bib = data[0] & 0x7F, data[0] >> 7
    su.fsn, su.fib = data[1] & 0x7F, data[1] >> 7
    su.li = data[2] & 0x3F
    body = data[3:]
    if su.li == 0:
        su.kind = "FISU"
        if body:
            su.error = "FISU with a body"
        return su
    if su.li in (1, 2):
        su.kind = "LSSU"
        if len(body) != su.li:
            su.error = f"LSSU length indicator {su.li} but {len(body)} octets"
            return su
        su.status = body[0] & 0x07
        if su.status not in STATUS_NAMES:
            su.error = f"undefined status indication {su.status}"
        return su
    su.kind = "MSU"
    su.payload = body
    if len(body) < 2:
        su.error = "MSU without a signaling information field"
    elif len(body) > MAX_MSU:
        su.error = f"MSU too long ({len(body)} octets)"
    elif (su.li < 63 and len(body) != su.li) or (su.li == 63 and len(body) < 63):
        su.error = f"MSU length indicator {su.li} but {len(body)} octets"
    return su


def encode_su(bsn: int, bib: int, fsn: int, fib: int, payload: bytes = b"", status: int | None = None) -> bytes:
    """Encode a FISU (no payload, no status), an LSSU (status) or an MSU (payload = SIO + SIF)."""
    head = bytes([(bsn & 0x7F) | ((bib & 1) << 7), (fsn & 0x7F) | ((fib & 1) << 7)])
    if status is not None:
        return head + bytes([1, status & 0x07])
    return head + bytes([min(len(payload), 63)]) + bytes(payload)


class Mtp2Link:
    """One MTP2 signaling link; times in seconds from `now()`; frames out through `send(octets)`.

    Upward: `on_up()` when the link enters service, `on_down(reason)` when it fails or stops,
    `on_msu(payload)` for each MSU accepted in sequence (payload = SIO + SIF).
    """

    def __init__(self, send: Callable[[bytes], object], now: Callable[[], float],
                 on_up: Callable[[], None] | None = None, on_down: Callable[[str], None] | None = None,
                 on_msu: Callable[[bytes], None] | None = None, timers: dict[str, float] | None = None,
                 fill_interval: float = 0.1, rx_timeout: float = 2.0, name: str = "link") -> None:
        """send(su_octets) transmits; now() gives seconds; timers override TIMERS entries."""
        self._send = send
        self.now = now
        self.on_up: Callable[[], None] = on_up or (lambda: None)
        self.on_down: Callable[[str], None] = on_down or (lambda reason: None)
        self.on_msu: Callable[[bytes], None] = on_msu or (lambda payload: None)
        self.t = dict(TIMERS, **(timers or {}))
        self.fill_interval = fill_interval
        # in service with nothing received this long: link failure (a real controller sees flags stop)
        self.rx_timeout = self.t.get("Trx", rx_timeout)
        self._last_rx = 0.0
        self.name = name
        self.state = OUT_OF_SERVICE
        self.emergency = False
        self.stats = {"rx": 0, "tx": 0, "rx_bad": 0, "rx_msu": 0, "tx_msu": 0, "retransmitted": 0,
                      "nack_sent": 0, "failures": 0, "proving_aborted": 0, "duplicates": 0}
        self.errors: list[str] = []
        self.last_failure = ""
        self._reset_sequence()
        self._timers: dict[str, float] = {}
        self._last_tx = -1e9
        self._tx_status: int | None = SIOS
        self._owe = False
        self._remote_emergency = False
        self._aerm = 0
        self._proving_tries = 0
        self._suerm = 0
        self._suerm_good = 0
        self._bsn_errors: list[float] = []
        self.remote_busy = False
        self.local_busy = False

    def _reset_sequence(self) -> None:
        self.fsn = 127                  # FSN of the last MSU sent
        self.fib = 1
        self.bsn = 127                  # FSN of the last MSU accepted
        self.bib = 1
        self.acked = 127                # last FSN the far end acknowledged
        self.rtb: dict[int, bytes] = {}  # FSN -> payload, sent and not yet acknowledged
        self.queue: list[bytes] = []    # MSUs waiting for the link
        self._nack_pending = False      # we asked for retransmission and wait for the FIB to follow

    # ---------------------------------------------------------------- public
    @property
    def up(self) -> bool:
        """True while the link is in service."""
        return self.state == IN_SERVICE

    def start(self, emergency: bool = False) -> None:
        """Start initial alignment (emergency proving when the link set has no other link in service)."""
        self.emergency = emergency
        self._reset_sequence()
        self._aerm = 0
        self._suerm = self._suerm_good = 0
        self._timers.clear()
        self.state = NOT_ALIGNED
        self._tx_status = SIO
        self._timers["T2"] = self.now() + self.t["T2"]
        self._transmit()

    def stop(self, reason: str = "stopped") -> None:
        """Take the link out of service (SIOS), telling the upper layer if it was up."""
        self._fail(reason, stopped=True)

    def send_msu(self, payload: bytes) -> bool:
        """Queue an MSU (SIO + SIF); False if the link is not in service."""
        if self.state != IN_SERVICE:
            return False
        self.queue.append(bytes(payload))
        self._pump()
        return True

    def take_buffer(self) -> list[tuple[int | None, bytes]]:
        """MSUs sent but not acknowledged as (FSN, payload), then queued ones as (None, payload), oldest
        first; clears them (changeover buffer updating, Q.704 5.4)."""
        order = [(self.fsn - i) & 0x7F for i in range(len(self.rtb))][::-1]
        out: list[tuple[int | None, bytes]] = [(f, self.rtb[f]) for f in order if f in self.rtb]
        out += [(None, p) for p in self.queue]
        self.rtb.clear()
        self.queue.clear()
        return out

    def next_timer(self) -> float | None:
        """Absolute time (s) of the next timer or fill-in unit due, or None when out of service."""
        if self.state == OUT_OF_SERVICE:
            return None
        due = [self._last_tx + self.fill_interval, *self._timers.values()]
        if self.state == IN_SERVICE:
            due.append(self._last_rx + self.rx_timeout)
        return min(due)

    def tick(self, now: float | None = None) -> None:
        """Run expired timers and send a fill-in unit when one is due."""
        now = self.now() if now is None else now
        for name, at in sorted(self._timers.items(), key=lambda kv: kv[1]):
            if at <= now and self._timers.get(name) == at:
                del self._timers[name]
                self._expired(name)
        if self.state == IN_SERVICE and now - self._last_rx > self.rx_timeout:
            self._fail(f"no signal unit received for {self.rx_timeout} s")
        if self.state != OUT_OF_SERVICE and now - self._last_tx >= self.fill_interval:
            self._transmit()

    def receive(self, data: bytes) -> None:
        """Take one received SU (octets without FCS); never raises."""
        try:
            self._receive(data)
        except Exception as exc:     # noqa: BLE001 - a bug on one SU must not take the link down
            log.exception("MTP2 %s: SU %r failed", self.name, bytes(data)[:16])
            self._error(f"internal error on SU: {exc!r}")

    # ---------------------------------------------------------------- internals
    def _error(self, text: str) -> None:
        self.stats["rx_bad"] += 1
        self.errors = (self.errors + [text])[-20:]

    def _tx(self, octets: bytes) -> None:
        self.stats["tx"] += 1
        self._last_tx = self.now()
        self._send(octets)

    def _transmit(self) -> None:
        """Send the current status: an LSSU while aligning, else a FISU (MSUs go out from _pump)."""
        if self.state == OUT_OF_SERVICE and self._tx_status is None:
            return
        if self._tx_status is not None:
            self._tx(encode_su(self.bsn, self.bib, self.fsn, self.fib, status=self._tx_status))
        else:
            self._tx(encode_su(self.bsn, self.bib, self.fsn, self.fib))
        self._owe = False

    def _pump(self) -> None:
        """Send queued MSUs while the window (127 outstanding) allows."""
        sent = False
        while self.queue and len(self.rtb) < 127 and not self.remote_busy:
            payload = self.queue.pop(0)
            self.fsn = (self.fsn + 1) & 0x7F
            self.rtb[self.fsn] = payload
            self.stats["tx_msu"] += 1
            self._tx(encode_su(self.bsn, self.bib, self.fsn, self.fib, payload))
            sent = True
        if sent:
            self._owe = False
        if sent and "T7" not in self._timers:
            self._timers["T7"] = self.now() + self.t["T7"]
        if self._owe and not sent:
            self._transmit()

    def _expired(self, name: str) -> None:
        if name == "T2":
            self._fail("T2 expired: no alignment from the far end")
        elif name == "T3":
            self._fail("T3 expired: far end did not start proving")
        elif name == "T4":
            if self._aerm > (TIE if self._proving_emergency else TIN):
                self._proving_failed()
                return
            self.state = ALIGNED_READY
            self._tx_status = None
            self._timers["T1"] = self.now() + self.t["T1"]
            self._transmit()
        elif name == "T1":
            self._fail("T1 expired: far end did not enter service")
        elif name == "T7":
            if self.rtb:
                self._fail("T7 expired: excessive delay of acknowledgement")
        elif name == "T6":
            self._fail("T6 expired: far end busy too long")
        elif name == "T5":
            if self.local_busy:
                self._tx_status_once(SIB)
                self._timers["T5"] = self.now() + self.t["T5"]

    def _tx_status_once(self, status: int) -> None:
        self._tx(encode_su(self.bsn, self.bib, self.fsn, self.fib, status=status))

    @property
    def _proving_emergency(self) -> bool:
        return self.emergency or self._remote_emergency

    def _proving_failed(self) -> None:
        self.stats["proving_aborted"] += 1
        self._proving_tries += 1
        if self._proving_tries >= M_PROVING:
            self._fail("alignment not possible: proving failed 5 times")
            return
        self._begin_proving()

    def _begin_proving(self) -> None:
        self.state = PROVING
        self._aerm = 0
        self._timers.pop("T4", None)
        self._timers["T4"] = self.now() + (self.t["T4e"] if self._proving_emergency else self.t["T4n"])

    def _fail(self, reason: str, stopped: bool = False) -> None:
        was = self.state
        self.state = OUT_OF_SERVICE
        self._timers.clear()
        self._tx_status = SIOS
        self._proving_tries = 0
        self._remote_emergency = False
        self.remote_busy = False
        self.last_failure = reason
        if was != OUT_OF_SERVICE:
            if not stopped:
                self.stats["failures"] += 1
                log.info("MTP2 %s: link failure in %s: %s", self.name, was, reason)
            self._tx_status_once(SIOS)
            self.on_down(reason)

    def _receive(self, data: bytes) -> None:
        self.stats["rx"] += 1
        self._last_rx = self.now()
        su = decode_su(data)
        if su.error:
            self._error(su.error)
            if self.state == PROVING:
                self._aerm += 1
                if self._aerm > (TIE if self._proving_emergency else TIN):
                    self._proving_failed()
            elif self.state == IN_SERVICE:
                self._suerm += 1
                if self._suerm >= SUERM_T:
                    self._fail("SUERM: signal unit error rate too high")
            return
        if self.state == IN_SERVICE:
            self._suerm_good += 1
            if self._suerm_good >= SUERM_D:
                self._suerm_good = 0
                self._suerm = max(0, self._suerm - 1)
        if su.kind == "LSSU":
            self._rx_lssu(su.status)
            return
        # FISU or MSU
        if self.state == ALIGNED_READY:
            self._timers.pop("T1", None)
            self.state = IN_SERVICE
            self._suerm = self._suerm_good = 0
            self.bsn, self.bib = su.fsn, su.fib       # synchronise on the far end's sequence
            self.acked = self.fsn
            log.info("MTP2 %s: in service", self.name)
            self.on_up()
            if su.kind == "MSU":
                self._accept(su)
            return
        if self.state == PROVING and su.kind == "FISU":
            return                                     # the far end finished proving first
        if self.state != IN_SERVICE:
            return
        self._rx_bsn(su)
        if su.kind == "MSU":
            self._rx_msu(su)
        elif self._nack_pending and su.fib == self.bib:
            self._nack_pending = False

    def _rx_lssu(self, status: int) -> None:
        st = self.state
        if status == SIB:
            if st == IN_SERVICE:
                if not self.remote_busy:
                    self.remote_busy = True
                    self._timers["T6"] = self.now() + self.t["T6"]
                self._timers.pop("T7", None)
            return
        if status == SIPO:
            if st in (ALIGNED_READY, IN_SERVICE):
                self._fail("far end processor outage")
            return
        if st == OUT_OF_SERVICE:
            return
        if st == NOT_ALIGNED and status in (SIO, SIN, SIE):
            self._timers.pop("T2", None)
            self._remote_emergency = status == SIE
            self.state = ALIGNED
            self._tx_status = SIE if self.emergency else SIN
            self._timers["T3"] = self.now() + self.t["T3"]
            self._transmit()
            if status in (SIN, SIE):          # the far end is already aligned: straight to proving
                self._timers.pop("T3", None)
                self._begin_proving()
            return
        if st == ALIGNED:
            if status in (SIN, SIE):
                self._remote_emergency = status == SIE
                self._timers.pop("T3", None)
                self._begin_proving()
            elif status == SIOS:
                self._fail("SIOS while aligning")
            return
        if st == PROVING:
            if status == SIO:
                self.state = ALIGNED
                self._timers.pop("T4", None)
                self._timers["T3"] = self.now() + self.t["T3"]
            elif status == SIOS:
                self._fail("SIOS while proving")
            elif status == SIE and not self._remote_emergency:
                self._remote_emergency = True     # switch to emergency proving
                self._begin_proving()
            return
        if st == ALIGNED_READY:
            if status == SIOS:
                self._fail("SIOS in aligned ready")
            elif status == SIO:
                self._fail("SIO in aligned ready")
            return
        if st == IN_SERVICE:
            self._fail(f"{STATUS_NAMES.get(status, status)} received in service")

    def _rx_bsn(self, su: SignalUnit) -> None:
        """Acknowledgements: release the buffer up to BSN; retransmit on a negative acknowledgement."""
        outstanding = [(self.acked + 1 + i) & 0x7F for i in range((self.fsn - self.acked) & 0x7F)]
        if su.bsn != self.acked and su.bsn not in outstanding:
            now = self.now()
            self._bsn_errors = [t for t in self._bsn_errors if now - t < 1.0] + [now]
            self._error(f"BSN {su.bsn} outside the retransmission buffer")
            if len(self._bsn_errors) >= 2:           # two of three consecutive SUs: link failure
                self._fail("abnormal BSN received twice")
            return
        self._bsn_errors.clear()
        while self.acked != su.bsn:
            self.acked = (self.acked + 1) & 0x7F
            self.rtb.pop(self.acked, None)
        if self.remote_busy:
            self.remote_busy = False
            self._timers.pop("T6", None)
        if self.rtb:
            self._timers["T7"] = self.now() + self.t["T7"]
        else:
            self._timers.pop("T7", None)
        if su.bib != self.fib:                        # negative acknowledgement: retransmit the rest
            self.fib ^= 1
            for f in [(self.acked + 1 + i) & 0x7F for i in range((self.fsn - self.acked) & 0x7F)]:
                payload = self.rtb.get(f)
                if payload is not None:
                    self.stats["retransmitted"] += 1
                    self._tx(encode_su(self.bsn, self.bib, f, self.fib, payload))
        self._pump()

    def _rx_msu(self, su: SignalUnit) -> None:
        expected = (self.bsn + 1) & 0x7F
        if su.fsn == self.bsn:
            self.stats["duplicates"] += 1
            return
        if self._nack_pending:
            if su.fib != self.bib:
                return                                 # still the old sequence: ignore until retransmission
            self._nack_pending = False
        if su.fsn != expected:
            self.stats["nack_sent"] += 1
            self.bib ^= 1
            self._nack_pending = True
            self._owe = True
            self._transmit()
            return
        self._accept(su)

    def _accept(self, su: SignalUnit) -> None:
        self.bsn = su.fsn
        self.stats["rx_msu"] += 1
        self._owe = True
        self.on_msu(su.payload)
        if self.state == IN_SERVICE and self._owe:
            self._pump()
