"""SS7 MTP3 (ITU-T Q.704/Q.707) for a signaling end point: routing label, link set, link tests,
load sharing by SLS, changeover/changeback, transfer prohibited/allowed, MTP restart (TRA).

Point codes are ITU 14-bit (`itu14`, shown 3-8-3) or China's national 24-bit (`china24`, shown
8-8-8, routing label DPC 24 + OPC 24 + SLS 4 + 4 spare bits). One `Mtp3` is one signaling point
with one adjacent point (associated mode): every link of the link set goes to `dpc`.
"""
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .mtp2 import Mtp2Link

log = logging.getLogger("trunkline.ss7.mtp3")

ITU14 = "itu14"
CHINA24 = "china24"
PC_FORMATS = (ITU14, CHINA24)

# service indicators (Q.704 14.2.1)
SI_SNM, SI_SLTM, SI_SLTM_SPECIAL, SI_SCCP, SI_TUP, SI_ISUP = 0, 1, 2, 3, 4, 5
# network indicators
NI_INTERNATIONAL, NI_NATIONAL = 0, 2

# SNM heading codes (H1 << 4 | H0), Q.704 15.1
COO, COA, CBD, CBA = 0x11, 0x21, 0x51, 0x61
ECO, ECA = 0x12, 0x22
TFP, TFR, TFA = 0x14, 0x34, 0x54
RST, RSR = 0x15, 0x25
TRA = 0x17
UPU = 0x1A
SLTM, SLTA = 0x11, 0x21          # SI 1 headings

TEST_PATTERN = b"TRUNKLINE"
#: SLTA wait, restart of alignment, wait for the adjacent point's TRA, settling time after the restart
TIMERS = {"T1_SLT": 8.0, "T17": 1.0, "T_TRA": 5.0, "settle": 1.0, "T2": 1.0}   # T2: changeover ack wait


def pc_bits(fmt: str) -> int:
    """Width of a point code in bits for a format."""
    if fmt not in PC_FORMATS:
        raise ValueError(f"unknown point-code format {fmt!r} (itu14 or china24)")
    return 14 if fmt == ITU14 else 24


def parse_pc(text: str | int, fmt: str) -> int:
    """A point code from an int, a decimal string, or dotted/dashed parts (3-8-3 or 8-8-8)."""
    bits = pc_bits(fmt)
    if isinstance(text, int):
        pc = text
    else:
        parts = [p for p in str(text).replace(".", "-").split("-") if p != ""]
        if len(parts) == 1:
            pc = int(parts[0])
        elif len(parts) == 3:
            widths = (3, 8, 3) if fmt == ITU14 else (8, 8, 8)
            pc = 0
            for p, w in zip(parts, widths):
                v = int(p)
                if not 0 <= v < (1 << w):
                    raise ValueError(f"point code part {v} of {text!r} out of range for {fmt}")
                pc = (pc << w) | v
        else:
            raise ValueError(f"bad point code {text!r}")
    if not 0 <= pc < (1 << bits):
        raise ValueError(f"point code {text!r} out of range for {fmt}")
    return pc


def format_pc(pc: int, fmt: str) -> str:
    """Display a point code (3-8-3 for itu14, 8-8-8 for china24)."""
    if fmt == ITU14:
        return f"{pc >> 11 & 7}-{pc >> 3 & 0xFF}-{pc & 7}"
    return f"{pc >> 16 & 0xFF}-{pc >> 8 & 0xFF}-{pc & 0xFF}"


def label_size(fmt: str) -> int:
    """Octets of a routing label."""
    return 4 if pc_bits(fmt) == 14 else 7


def encode_label(dpc: int, opc: int, sls: int, fmt: str) -> bytes:
    """The routing label (Q.704 2.2; China national 24-bit layout)."""
    if pc_bits(fmt) == 14:
        v = (dpc & 0x3FFF) | (opc & 0x3FFF) << 14 | (sls & 0xF) << 28
        return v.to_bytes(4, "little")
    return (dpc & 0xFFFFFF).to_bytes(3, "little") + (opc & 0xFFFFFF).to_bytes(3, "little") + bytes([sls & 0xF])


def decode_label(data: bytes, fmt: str) -> tuple[int, int, int]:
    """(dpc, opc, sls) from the start of a SIF; ValueError when too short."""
    n = label_size(fmt)
    if len(data) < n:
        raise ValueError("SIF shorter than a routing label")
    if n == 4:
        v = int.from_bytes(data[:4], "little")
        return v & 0x3FFF, v >> 14 & 0x3FFF, v >> 28 & 0xF
    return int.from_bytes(data[0:3], "little"), int.from_bytes(data[3:6], "little"), data[6] & 0xF


def payload_sls(payload: bytes, fmt: str) -> int:
    """The SLS of an MSU (SIO + SIF), 0 when it is too short to carry a label."""
    try:
        return decode_label(payload[1:], fmt)[2]
    except ValueError:
        return 0


@dataclass
class LinkEntry:
    """One signaling link of the link set, with its MTP3 state."""
    slc: int
    mtp2: Mtp2Link
    state: str = "down"           # down, testing, available, failed
    slt_tries: int = 0
    slt_at: float | None = None
    restart_at: float | None = None
    changeback_at: float | None = None
    blocked: bool = False          # management-inhibited (not used for traffic)
    l1_down: bool = False          # layer 1 lost (E1 alarm): no realignment until restored
    co_buffer: list[tuple[int | None, bytes]] = field(default_factory=list)   # changeover: (FSN, MSU) to retrieve
    co_at: float | None = None     # changeover T2 deadline (time-controlled changeover)
    co_sent: bool = False          # we sent COO for this link
    history: list[str] = field(default_factory=list)


class Mtp3:
    """MTP3 of one signaling point with link set toward `dpc`; times in seconds from `now()`.

    on_user(si, opc, sls, data) gets user-part messages (data after the routing label);
    on_status(available) tells whether the destination can be reached (MTP-RESUME / MTP-PAUSE);
    on_link(slc, state) reports each link's state (down, testing, available, failed).
    """

    def __init__(self, opc: int, dpc: int, now: Callable[[], float], fmt: str = ITU14, ni: int = NI_NATIONAL,
                 on_user: Callable[[int, int, int, bytes], None] | None = None,
                 on_status: Callable[[bool], None] | None = None,
                 on_link: Callable[[int, str], None] | None = None, timers: dict[str, float] | None = None,
                 mtp2_timers: dict[str, float] | None = None, fill_interval: float = 0.1) -> None:
        """opc: our point code, dpc: the adjacent point; fmt itu14/china24; ni 0 international, 2 national."""
        bits = pc_bits(fmt)
        for pc in (opc, dpc):
            if not 0 <= pc < (1 << bits):
                raise ValueError(f"point code {pc} does not fit {fmt}")
        self.opc, self.dpc, self.fmt, self.ni = opc, dpc, fmt, ni
        self.now = now
        self.on_user: Callable[[int, int, int, bytes], None] = on_user or (lambda si, opc, sls, data: None)
        self.on_status: Callable[[bool], None] = on_status or (lambda available: None)
        self.on_link: Callable[[int, str], None] = on_link or (lambda slc, state: None)
        self.t = dict(TIMERS, **(timers or {}))
        self.mtp2_timers = mtp2_timers
        self.fill_interval = fill_interval
        self.links: dict[int, LinkEntry] = {}
        self.available = False          # destination reachable (a link available and route not prohibited)
        self.prohibited: set[int] = set()   # destinations the adjacent point said are prohibited (TFP)
        self.stats = {"rx": 0, "rx_dropped": 0, "tx": 0, "sltm_ok": 0, "sltm_failed": 0, "changeovers": 0,
                      "changebacks": 0, "tfp": 0, "tfa": 0}
        self.errors: list[str] = []
        self._started = False
        self._tra_rx = False                  # the adjacent point said traffic restart allowed
        self._tra_deadline: float | None = None
        self._resume_at: float | None = None

    # ------------------------------------------------------------ link set
    def add_link(self, slc: int, send: Callable[[bytes], object]) -> Mtp2Link:
        """Add signaling link `slc` (0-15) whose SUs go out through send(octets); returns its MTP2."""
        if not 0 <= slc < 16 or slc in self.links:
            raise ValueError(f"bad or duplicate signaling link code {slc}")
        link = Mtp2Link(send, self.now, on_up=lambda: self._l2_up(slc), on_down=lambda why: self._l2_down(slc, why),
                        on_msu=lambda p: self._rx_msu(slc, p), timers=self.mtp2_timers,
                        fill_interval=self.fill_interval, name=f"slc{slc}")
        self.links[slc] = LinkEntry(slc, link)
        if self._started:
            self._align(self.links[slc])
        return link

    def start(self) -> None:
        """Start aligning every link."""
        self._started = True
        for e in self.links.values():
            if e.mtp2.state == "out of service":
                self._align(e)

    def _align(self, e: LinkEntry) -> None:
        e.restart_at = None
        e.state = "down"
        e.mtp2.start(emergency=not self._avail_links())

    def receive(self, slc: int, su: bytes) -> None:
        """Take one SU received on link `slc`; never raises."""
        e = self.links.get(slc)
        if e is not None:
            e.mtp2.receive(su)

    def link_failed(self, slc: int, reason: str = "layer 1 alarm") -> None:
        """Layer 1 of link `slc` is lost: take it down until `link_restored`."""
        e = self.links.get(slc)
        if e is not None:
            e.l1_down = True
            e.mtp2.stop(reason)
            self._l2_down(slc, reason)
            e.restart_at = None

    def link_restored(self, slc: int) -> None:
        """Layer 1 of link `slc` is back: realign it."""
        e = self.links.get(slc)
        if e is not None and e.l1_down:
            e.l1_down = False
            if self._started:
                self._align(e)

    def _avail_links(self) -> list[LinkEntry]:
        return [e for e in sorted(self.links.values(), key=lambda e: e.slc) if e.state == "available"]

    def link_for(self, sls: int) -> LinkEntry | None:
        """The link that carries traffic of `sls` (load sharing over the available links)."""
        avail = self._avail_links()
        if not avail:
            return None
        every = sorted(self.links)
        home = self.links[every[sls % len(every)]]
        if home is not None and home.state == "available":
            return home
        return avail[sls % len(avail)]

    def _set_link(self, e: LinkEntry, state: str) -> None:
        if e.state != state:
            e.state = state
            e.history = (e.history + [state])[-10:]
            self.on_link(e.slc, state)

    def _update_available(self) -> None:
        links = bool(self._avail_links())
        if not links:
            self._tra_rx = False
            self._tra_deadline = None
        restarted = self._tra_rx or (self._tra_deadline is not None and self._tra_deadline <= self.now())
        now_ok = links and restarted and self.dpc not in self.prohibited
        if now_ok and not self.available:           # MTP restart: let the far end settle before traffic
            if self._resume_at is None:
                self._resume_at = self.now() + self.t["settle"]
            if self._resume_at > self.now():
                return
        self._resume_at = None
        if now_ok != self.available:
            self.available = now_ok
            log.info("MTP3 %s: destination %s %s", format_pc(self.opc, self.fmt), format_pc(self.dpc, self.fmt),
                     "available" if now_ok else "unavailable")
            self.on_status(now_ok)

    # ------------------------------------------------------------ layer 2 events
    def _l2_up(self, slc: int) -> None:
        e = self.links[slc]
        self._set_link(e, "testing")
        e.slt_tries = 0
        self._send_sltm(e)

    def _l2_down(self, slc: int, reason: str) -> None:
        e = self.links[slc]
        was = e.state
        if was == "failed" and (e.restart_at is not None or e.l1_down):
            return
        self._set_link(e, "failed")
        e.restart_at = None if e.l1_down else self.now() + self.t["T17"]
        if was == "available":
            e.co_buffer = e.mtp2.take_buffer()      # kept apart: realignment resets the link's own buffer
            others = self._avail_links()
            if others:                     # changeover: tell the far end which MSU we last took, wait for COA
                self.stats["changeovers"] += 1
                e.co_sent = True
                e.co_at = self.now() + self.t["T2"]
                self._send_snm(others[0], bytes([COO, e.mtp2.bsn & 0x7F]), sls=slc)
            else:
                e.co_buffer = []
        self._update_available()

    def _retrieve(self, e: LinkEntry, after_fsn: int | None) -> None:
        """Changeover done: send on the alternative links the MSUs the far end did not take (FSN > after)."""
        buf, e.co_buffer, e.co_at, e.co_sent = e.co_buffer, [], None, False
        if after_fsn is not None:
            fsns = [f for f, _ in buf if f is not None]
            if after_fsn in fsns:
                buf = buf[fsns.index(after_fsn) + 1:]
        for _, payload in buf:
            alt = self.link_for(payload_sls(payload, self.fmt))
            if alt is not None:
                alt.mtp2.send_msu(payload)

    # ------------------------------------------------------------ transmit
    def _msu(self, si: int, dpc: int, sls: int, body: bytes) -> bytes:
        return bytes([(self.ni << 6) | si]) + encode_label(dpc, self.opc, sls, self.fmt) + body

    def _send_on(self, e: LinkEntry, si: int, sls: int, body: bytes) -> bool:
        self.stats["tx"] += 1
        return e.mtp2.send_msu(self._msu(si, self.dpc, sls, body))

    def _send_snm(self, e: LinkEntry, body: bytes, sls: int | None = None) -> None:
        self._send_on(e, SI_SNM, e.slc if sls is None else sls, body)

    def _send_sltm(self, e: LinkEntry) -> None:
        e.slt_tries += 1
        e.slt_at = self.now() + self.t["T1_SLT"]
        self._send_on(e, SI_SLTM, e.slc, bytes([SLTM, len(TEST_PATTERN) << 4]) + TEST_PATTERN)

    def send_user(self, si: int, sls: int, data: bytes) -> bool:
        """Send a user-part message (ISUP/TUP) to the adjacent point; False when the route is unavailable."""
        if not self.available:
            return False
        e = self.link_for(sls)
        if e is None:
            return False
        return self._send_on(e, si, sls, data)

    # ------------------------------------------------------------ receive
    def _rx_msu(self, slc: int, payload: bytes) -> None:
        self.stats["rx"] += 1
        try:
            sio = payload[0]
            ni, si = sio >> 6, sio & 0x0F
            dpc, opc, sls = decode_label(payload[1:], self.fmt)
            body = payload[1 + label_size(self.fmt):]
        except (IndexError, ValueError) as exc:
            self._drop(f"bad MSU on slc {slc}: {exc}")
            return
        if ni != self.ni:
            self._drop(f"network indicator {ni}, ours is {self.ni}")
            return
        if dpc != self.opc:
            self._drop(f"MSU for point code {format_pc(dpc, self.fmt)}, we are {format_pc(self.opc, self.fmt)}")
            return
        e = self.links[slc]
        if si in (SI_SLTM, SI_SLTM_SPECIAL):
            self._rx_test(e, si, opc, body)
        elif si == SI_SNM:
            self._rx_snm(e, opc, body, sls)
        elif e.state != "available":
            self._drop(f"user message on slc {slc} before the link test passed")
        else:
            try:
                self.on_user(si, opc, sls, body)
            except Exception as exc:     # noqa: BLE001 - a user part bug must not take the link down
                log.exception("MTP3: user part %d failed on %r", si, body[:16])
                self._drop(f"user part error: {exc!r}")

    def _drop(self, why: str) -> None:
        self.stats["rx_dropped"] += 1
        self.errors = (self.errors + [why])[-20:]

    def _rx_test(self, e: LinkEntry, si: int, opc: int, body: bytes) -> None:
        if len(body) < 2:
            self._drop("short link test message")
            return
        head, n = body[0], body[1] >> 4
        pattern = body[2:2 + n]
        if head == SLTM:
            self._send_on(e, si, e.slc, bytes([SLTA, len(pattern) << 4]) + pattern)
        elif head == SLTA:
            if e.state == "testing" and pattern == TEST_PATTERN and opc == self.dpc:
                self.stats["sltm_ok"] += 1
                e.slt_at = None
                self._link_available(e)
            else:
                self._drop(f"SLTA mismatch on slc {e.slc}")

    def _link_available(self, e: LinkEntry) -> None:
        first = not self._avail_links()
        self._set_link(e, "available")
        if first:
            self._send_snm(e, bytes([TRA]))     # MTP restart: traffic restart allowed
            self._tra_deadline = self.now() + self.t["T_TRA"]
        else:
            self.stats["changebacks"] += 1
            self._send_snm(self._avail_links()[0], bytes([CBD, e.slc & 0xFF]), sls=e.slc)
        self._update_available()

    def _rx_snm(self, e: LinkEntry, opc: int, body: bytes, sls: int = 0) -> None:
        if not body:
            self._drop("empty SNM message")
            return
        head = body[0]
        if head in (TFP, TFA, TFR):
            n = 2 if pc_bits(self.fmt) == 14 else 3
            if len(body) < 1 + n:
                self._drop("short TFP/TFA")
                return
            dest = int.from_bytes(body[1:1 + n], "little") & ((1 << pc_bits(self.fmt)) - 1)
            if head == TFP:
                self.stats["tfp"] += 1
                self.prohibited.add(dest)
            else:
                self.stats["tfa"] += 1
                self.prohibited.discard(dest)
            self._update_available()
        elif head in (COO, COA) and len(body) >= 2:      # SLS = the code of the link changed over
            failed = self.links.get(sls)
            if failed is None:
                self._drop(f"changeover for unknown link {sls}")
                return
            if failed.state == "available":                 # the far end saw the failure first
                failed.mtp2.stop("changeover order received")
                self._l2_down(sls, "changeover order received")
            if head == COO and not failed.co_sent:
                self._send_snm(e, bytes([COA, failed.mtp2.bsn & 0x7F]), sls=sls)
            self._retrieve(failed, body[1] & 0x7F)
        elif head == ECO:
            self._send_snm(e, bytes([ECA]), sls=sls)
        elif head == CBD and len(body) >= 2:
            self._send_snm(e, bytes([CBA, body[1]]))
        elif head == TRA:
            self._tra_rx = True
            self._update_available()
        elif head in (ECA, CBA, RST, RSR, UPU):
            return                               # acknowledgements and tests needing no action at an end point
        else:
            self._drop(f"unhandled SNM heading 0x{head:02x}")

    # ------------------------------------------------------------ timers
    def next_timer(self) -> float | None:
        """Absolute time (s) of the next timer of MTP3 or any of its links, or None."""
        ts: list[float] = [t for t in (self._resume_at, self._tra_deadline) if t is not None and not self.available]
        for e in self.links.values():
            for t in (e.slt_at, e.restart_at, e.co_at, e.mtp2.next_timer()):
                if t is not None:
                    ts.append(t)
        return min(ts) if ts else None

    def tick(self, now: float | None = None) -> None:
        """Run due timers of MTP3 and every link."""
        now = self.now() if now is None else now
        if not self.available and ((self._resume_at is not None and self._resume_at <= now)
                                   or (self._tra_deadline is not None and self._tra_deadline <= now)):
            self._update_available()
        for e in list(self.links.values()):
            e.mtp2.tick(now)
            if e.slt_at is not None and e.slt_at <= now:
                e.slt_at = None
                if e.state == "testing":
                    if e.slt_tries < 2:
                        self._send_sltm(e)
                    else:
                        self.stats["sltm_failed"] += 1
                        e.mtp2.stop("link test failed")
                        self._l2_down(e.slc, "link test failed")
            if e.co_at is not None and e.co_at <= now:      # no COA: time-controlled changeover
                self._retrieve(e, None)
            if e.restart_at is not None and e.restart_at <= now and self._started:
                self._align(e)
