"""dahdi:// backend: real E1/T1/analog cards through the DAHDI kernel interface (C part through cffi).

    open_board("dahdi://")          every span with configured channels
    open_board("dahdi://1,2?ec=128") spans 1 and 2, echo canceller with 128 taps on bearer channels (0: off)

Spans are found with DAHDI_SPANSTAT, channels with DAHDI_GET_PARAMS (sigtype, law, span); each configured
channel is opened through /dev/dahdi/channel + DAHDI_SPECIFY, non-blocking, blocksize 160. Board channel
N-1 is DAHDI channel N. Each tick is ONE C call (`tld_io`): write every audio channel's block, poll until
every channel has its next block (the cards' clock), read them all, drain the events (POLLPRI/ELAST).
"""
import errno
import logging
import os
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import numpy as np
from numpy.typing import NDArray

from trunkline.drivers.backends import RawEvent, SpanSpec
from trunkline.drivers.backends import dahdi_abi as abi
from trunkline.drivers.backends._tldahdi import ffi, lib

log = logging.getLogger(__name__)

BLOCK = 160
MAX_EVENTS = 4096


class DahdiError(RuntimeError):
    """DAHDI is absent or a span/channel cannot be used; the message says what to do."""


def _fail(what: str, rc: int) -> str:
    return f"{what}: {os.strerror(-rc)}"


def parse_dahdi_url(url: str) -> tuple[list[int] | None, dict[str, str]]:
    """dahdi://[SPAN[,SPAN...]][?ec=TAPS&timeout_ms=MS] -> (span numbers or None for all, options)."""
    if not url.startswith("dahdi://"):
        raise ValueError(f"not a DAHDI URL: {url!r}")
    rest, _, query = url[len("dahdi://"):].partition("?")
    opts = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    rest = rest.strip("/")
    if rest in ("", "all"):
        return None, opts
    try:
        spans = [int(x) for x in rest.split(",") if x]
    except ValueError:
        raise ValueError(f"{url}: expected dahdi://, dahdi://all or dahdi://SPAN[,SPAN...]") from None
    if not spans or min(spans) < 1:
        raise ValueError(f"{url}: span numbers start at 1")
    return spans, opts


def _kind_of(sigtype: int) -> str:
    if sigtype & abi.SIG_FXS_MASK:
        return "fxo"                      # FXS signalling: the port faces a central office
    if sigtype & abi.SIG_FXO_MASK:
        return "fxs"                      # FXO signalling: the port feeds a station phone
    if (sigtype & abi.SIG_HDLCFCS) == abi.SIG_HDLCFCS:
        return "dchan"
    return "bchan"


def _alarm_bits(dahdi_alarms: int) -> int:
    """DAHDI alarm bits -> board alarm bits (1 red/LOS, 2 blue/AIS, 4 yellow/RAI)."""
    bits = 0
    if dahdi_alarms & (abi.ALARM_RED | abi.ALARM_LOS):
        bits |= 1
    if dahdi_alarms & abi.ALARM_BLUE:
        bits |= 2
    if dahdi_alarms & abi.ALARM_YELLOW:
        bits |= 4
    return bits


def scan(ctl_path: str = "/dev/dahdi/ctl") -> list[dict[str, object]]:
    """Spans and channels as DAHDI reports them (dahdi_scan-like): one dict per span with its channels."""
    ctl = lib.tld_open(ctl_path.encode())
    if ctl < 0:
        raise DahdiError(f"{_fail(ctl_path, ctl)}: DAHDI is not loaded (install dahdi-linux/dahdi-dkms and the "
                         "card's driver, configure /etc/dahdi/system.conf, run dahdi_cfg)")
    try:
        si = ffi.new("struct tld_spaninfo *")
        spans: list[dict[str, object]] = []
        total = 0
        spanno = 1
        while True:
            if lib.tld_spanstat(ctl, spanno, si) < 0:
                break
            spans.append({
                "span": spanno, "name": ffi.string(si.name).decode(errors="replace"),
                "desc": ffi.string(si.desc).decode(errors="replace"),
                "type": ffi.string(si.spantype).decode(errors="replace") or "analog",
                "alarms": si.alarms, "alarm_bits": _alarm_bits(si.alarms), "numchans": si.numchans,
                "totalchans": si.totalchans, "bpv": si.bpvcount, "crc4": si.crc4count, "fe": si.fecount,
                "cv": si.cvcount, "be": si.becount, "errsec": si.errsec, "irqmisses": si.irqmisses,
                "manufacturer": ffi.string(si.manufacturer).decode(errors="replace"),
                "devicetype": ffi.string(si.devicetype).decode(errors="replace"), "channels": []})
            total += si.totalchans
            spanno += 1
        p = ffi.new("struct tld_params *")
        by_span = {int(str(sp["span"])): sp for sp in spans}
        for channo in range(1, total + 1):
            if lib.tld_get_params(ctl, channo, p) < 0:
                continue
            sp = by_span.get(p.spanno)
            if sp is not None:
                chans = sp["channels"]
                assert isinstance(chans, list)
                chans.append({"channo": channo, "chanpos": p.chanpos, "sigtype": p.sigtype,
                              "kind": _kind_of(p.sigtype) if p.sigtype else "unused",
                              "law": "ulaw" if p.curlaw == abi.LAW_MULAW else "alaw",
                              "name": ffi.string(p.name).decode(errors="replace"), "rxbits": p.rxbits})
        return spans
    finally:
        lib.tld_close(ctl)


class DahdiBackend:
    """Card-side view of DAHDI spans: the Backend contract of drivers/backends over /dev/dahdi."""

    def __init__(self, url: str) -> None:
        wanted, opts = parse_dahdi_url(url)
        self.url = url
        self.block: int = BLOCK
        self.ec_taps = int(opts.get("ec", "128"))
        self.timeout_ms = int(opts.get("timeout_ms", "250"))
        self.realtime = True
        self.clock_hooks: list[Callable[[bool], None]] = []   # set_realtime(on) is passed on to these
        self.removed = False
        self.status = "ok"
        self.counters = {"write_overruns": 0, "missed_blocks": 0, "elast": 0, "fd_errors": 0, "badfcs": 0,
                         "frames_rx": 0, "frames_tx": 0, "events": 0}
        spans = scan()
        if not spans:
            raise DahdiError("DAHDI is loaded but has no spans: is the card's driver loaded (lsmod | grep wc)?")
        by_no = {int(str(sp["span"])): sp for sp in spans}
        chosen = wanted if wanted is not None else [n for n, sp in by_no.items() if sp["numchans"]]
        if not chosen:
            raise DahdiError("no DAHDI span has configured channels: configure /etc/dahdi/system.conf, run dahdi_cfg")
        for n in chosen:
            if n not in by_no:
                raise DahdiError(f"DAHDI span {n} does not exist (spans 1..{len(spans)})")
            if not by_no[n]["numchans"]:
                raise DahdiError(f"DAHDI span {n} has no configured channels: add it to /etc/dahdi/system.conf "
                                 "and run dahdi_cfg")
        self._ctl = lib.tld_open(b"/dev/dahdi/ctl")
        if self._ctl < 0:
            raise DahdiError(_fail("/dev/dahdi/ctl", self._ctl))
        self._fds: list[int] = []
        self._ival = ffi.new("int *")
        try:
            self._open_channels([by_no[n] for n in chosen])
        except BaseException:
            self.close()
            raise
        self._setup_io()

    # ------------------------------------------------------------ set-up
    def _open_channels(self, spans: list[dict[str, object]]) -> None:
        chans = [c for sp in spans for c in sp["channels"] if c["sigtype"]]   # type: ignore[attr-defined]
        self.channels = max(int(c["channo"]) for c in chans)
        self.kinds = ["bchan"] * self.channels
        self.laws = ["alaw"] * self.channels
        self.fd_of: dict[int, int] = {}
        self._specs: list[SpanSpec] = []
        self._span_of_row = np.full(self.channels, -1, dtype=np.int32)
        self._dahdi_span: dict[int, int] = {}           # board span index -> DAHDI span number
        self._alarm_state: dict[int, int] = {}
        for sp in spans:
            spanno = int(str(sp["span"]))
            groups: dict[str, list[dict[str, object]]] = {}
            for c in sp["channels"]:                       # type: ignore[attr-defined]
                if not c["sigtype"]:
                    continue
                kind = str(c["kind"])
                group = kind if kind in ("fxo", "fxs") else ("t1" if sp["type"] in ("T1", "J1") else "e1")
                groups.setdefault(group, []).append(c)
            for group, members in groups.items():
                index = len(self._specs)
                rows, bearer, dchan = [], [], None
                for c in members:
                    row = int(str(c["channo"])) - 1
                    fd = lib.tld_open_channel(row + 1, BLOCK, abi.LAW_DEFAULT)
                    if fd < 0:
                        if -fd == errno.EBUSY:
                            raise DahdiError(f"DAHDI channel {row + 1} is in use by another program "
                                             "(Asterisk, FreeSWITCH or another Trunkline?)")
                        raise DahdiError(_fail(f"DAHDI channel {row + 1}", fd))
                    self._fds.append(fd)
                    self.fd_of[row] = fd
                    self.kinds[row] = str(c["kind"])
                    self.laws[row] = str(c["law"])
                    self._span_of_row[row] = index
                    rows.append(row)
                    if c["kind"] == "dchan":
                        dchan = row
                    else:
                        bearer.append(row)
                    if self.ec_taps and c["kind"] != "dchan":
                        self.echo_cancel(row, True)
                law = self.laws[rows[0]]
                self._specs.append((index, group, law, rows, bearer, dchan))
                self._dahdi_span[index] = spanno
                self._alarm_state[index] = int(str(sp["alarm_bits"]))

    def _setup_io(self) -> None:
        rows = sorted(self.fd_of)
        self._n = len(rows)
        self._io_fds = np.array([self.fd_of[r] for r in rows], dtype=np.int32)
        self._io_rows = np.array(rows, dtype=np.int32)
        self._io_audio = np.array([0 if self.kinds[r] == "dchan" else 1 for r in rows], dtype=np.uint8)
        self._rx = np.empty((self.channels, BLOCK), dtype=np.uint8)
        for r in range(self.channels):
            self._rx[r] = 0xFF if self.laws[r] == "ulaw" else 0xD5
        self._tx = self._rx.copy()
        self._dready = np.zeros(self._n, dtype=np.uint8)
        self._ctr = np.zeros(4, dtype=np.int64)
        self._ev = ffi.new("tld_event_t[]", MAX_EVENTS)
        self._nev = ffi.new("int *")
        self._frame = ffi.new("uint8_t[]", 1024)
        self._c = {name: ffi.from_buffer(ctype, arr, require_writable=True) for name, ctype, arr in (
            ("fds", "int[]", self._io_fds), ("rows", "int[]", self._io_rows), ("audio", "uint8_t[]", self._io_audio),
            ("rx", "uint8_t[]", self._rx), ("dready", "uint8_t[]", self._dready), ("ctr", "int64_t[]", self._ctr))}
        self._c["tx"] = ffi.from_buffer("uint8_t[]", self._tx)
        self._ticks = 0
        self._primed = False
        self._pending: list[RawEvent] = []

    # ------------------------------------------------------------ Backend contract
    def span_specs(self) -> list[SpanSpec]:
        """(index, kind, law, channels, bearer, dchannel) for every span group opened."""
        return list(self._specs)

    def now_samples(self) -> int:
        """Samples since the board was opened (blocks received x 160)."""
        return self._ticks * BLOCK

    def set_realtime(self, on: bool) -> None:
        """Cards keep their own clock; this records how the engine runs (an emulated card follows, clock_hooks)."""
        self.realtime = bool(on)
        for hook in self.clock_hooks:
            hook(self.realtime)

    def read(self, out: NDArray[np.uint8]) -> None:
        """The block every channel received this tick (the first call waits for the first block)."""
        if not self._primed:
            self._primed = True
            self._io(None)
        out[...] = self._rx

    def write(self, codes: NDArray[np.uint8]) -> None:
        """Keep this tick's blocks; tick() writes them."""
        np.copyto(self._tx, codes, casting="unsafe")

    def tick(self) -> None:
        """One C call: write every channel's block, wait for the next one from the cards, read all, events."""
        self._io(self._tx)

    def events(self) -> list[RawEvent]:
        """Line events since the last call (DAHDI events mapped to the board's event names)."""
        out, self._pending = self._pending, []
        return out

    def alarms(self, span: int) -> int:
        """Alarm bits of a board span (1 red, 2 blue, 4 yellow) from DAHDI_SPANSTAT."""
        if self.removed:
            return 1
        si = ffi.new("struct tld_spaninfo *")
        rc = lib.tld_spanstat(self._ctl, self._dahdi_span[span], si)
        return 1 if rc < 0 else _alarm_bits(si.alarms)

    def send_frame(self, ch: int, data: bytes) -> bool:
        """One HDLC frame on a D-channel (the write carries 2 FCS bytes the card fills in)."""
        if self.removed:
            return False
        rc = lib.tld_write_frame(self.fd_of[ch], bytes(data), len(data))
        if rc >= 0:
            self.counters["frames_tx"] += 1
        return rc >= 0

    def recv_frame(self, ch: int) -> bytes | None:
        """Next HDLC frame received on a D-channel (its 2 FCS bytes dropped), or None."""
        if self.removed:
            return None
        self._nev[0] = 0
        n = lib.tld_read_frame(self.fd_of[ch], -1, self._frame, 1024, self._ev, MAX_EVENTS, self._nev)
        if self._nev[0]:
            self._map_events(self._nev[0], default_row=ch)
        if n < 0:
            return None
        self.counters["frames_rx"] += 1
        return bytes(ffi.buffer(self._frame, n))

    def set_cas(self, ch: int, bits: int) -> None:
        """Transmit ABCD bits (DAHDI_SETTXBITS)."""
        self._ioctl(ch, lib.TLD_SETTXBITS, bits & 0xF, "SETTXBITS")

    def get_cas(self, ch: int) -> int:
        """ABCD bits received (DAHDI_GETRXBITS)."""
        return self._ioctl(ch, lib.TLD_GETRXBITS, 0, "GETRXBITS")

    def hook(self, ch: int, offhook: bool) -> None:
        """FXO port: off hook (seize/answer) or on hook (DAHDI_HOOK)."""
        self._ioctl(ch, lib.TLD_HOOK, abi.OFFHOOK if offhook else abi.ONHOOK, "HOOK")

    def ring(self, ch: int, on: bool) -> None:
        """FXS port: ring the station or stop (DAHDI_HOOK RING/RINGOFF)."""
        self._ioctl(ch, lib.TLD_HOOK, abi.RING if on else abi.RINGOFF, "HOOK")

    def echo_cancel(self, ch: int, on: bool) -> bool:
        """Echo canceller on (ec taps) or off (fax, data) on a bearer channel; False when the card has none."""
        fd = self.fd_of.get(ch)
        if fd is None or self.removed:
            return False
        return lib.tld_echocancel(fd, self.ec_taps if on else 0) == 0

    def close(self) -> None:
        """Close every channel and the control fd."""
        for fd in self._fds:
            lib.tld_close(fd)
        self._fds = []
        if getattr(self, "_ctl", -1) >= 0:
            lib.tld_close(self._ctl)
            self._ctl = -1

    # ------------------------------------------------------------ status for operators
    def health(self) -> dict[str, object]:
        """Device state and counters for the admin's board status."""
        c = self._ctr
        counters = dict(self.counters, write_overruns=int(c[0]), missed_blocks=int(c[1]), elast=int(c[2]),
                        fd_errors=int(c[3]))
        return {"backend": "dahdi", "status": self.status, "removed": self.removed,
                "spans": {i: self._alarm_state.get(i, 0) for i in self._dahdi_span}, "counters": counters}

    # ------------------------------------------------------------ internals
    def _ioctl(self, ch: int, req: int, value: int, what: str) -> int:
        fd = self.fd_of.get(ch)
        if fd is None:
            raise ValueError(f"board channel {ch} is not an open DAHDI channel")
        if self.removed:
            return 0
        self._ival[0] = value
        rc = lib.tld_ioctl_int(fd, req, self._ival)
        if rc < 0:
            raise ValueError(_fail(f"DAHDI_{what} on channel {ch + 1}", rc))
        return int(self._ival[0])

    def _io(self, tx: NDArray[np.uint8] | None) -> None:
        if self.removed:
            if self.realtime:
                time.sleep(BLOCK / 8000)
            if tx is not None:
                self._ticks += 1
            return
        c = self._c
        txp = c["tx"] if tx is not None else ffi.NULL
        lib.tld_io(self._n, c["fds"], c["rows"], c["audio"], txp, c["rx"], BLOCK, self.timeout_ms, self._ev,
                   MAX_EVENTS, self._nev, c["dready"], c["ctr"])
        if tx is not None:
            self._ticks += 1
        if self._nev[0]:
            self._map_events(self._nev[0])
        if self._dready.any():
            for i in np.flatnonzero(self._dready):
                row = int(self._io_rows[i])
                self._pending.append(("dframe", row, int(self._span_of_row[row]), 0, self._ticks * BLOCK))
        if self._ctr[3] and not self.removed and self._device_gone():
            self._lose_device("DAHDI channels report errors and /dev/dahdi/ctl is gone")

    def _device_gone(self) -> bool:
        fd = lib.tld_open(b"/dev/dahdi/ctl")
        if fd >= 0:
            lib.tld_close(fd)
            return False
        return True

    def _lose_device(self, why: str) -> None:
        self.removed = True
        self.status = f"DAHDI device removed: {why}; calls cleared, restart when the card is back"
        log.error("dahdi: %s", self.status)
        now = self._ticks * BLOCK
        for index, kind, _, _, bearer, _ in self._specs:    # every line is gone: its calls are cleared
            self._alarm_state[index] = 1
            if kind == "fxo":
                self._pending.extend(("loop_drop", ch, index, 0, now) for ch in bearer)
            elif kind == "fxs":
                self._pending.extend(("onhook", ch, index, 0, now) for ch in bearer)
            else:
                self._pending.append(("alarm", -1, index, 1, now))

    def _map_events(self, n: int, default_row: int = -1) -> None:
        now = self._ticks * BLOCK
        spans_alarm: set[int] = set()
        for k in range(n):
            e = self._ev[k]
            row = int(self._io_rows[e.index]) if e.index >= 0 else default_row
            span = int(self._span_of_row[row])
            kind = self.kinds[row]
            code = e.event
            self.counters["events"] += 1
            name = None
            if code == abi.EVENT_RINGBEGIN:
                name = "ring_on"
            elif code == abi.EVENT_RINGOFFHOOK:
                name = "ring_off" if kind == "fxo" else "offhook"
            elif code == abi.EVENT_ONHOOK:
                name = "loop_drop" if kind == "fxo" else "onhook"
            elif code == abi.EVENT_WINKFLASH:
                name = "flash"
            elif code == abi.EVENT_POLARITY:
                name = "polarity"
            elif code == abi.EVENT_BITSCHANGED:
                self._pending.append(("cas", row, span, int(e.value), now))
            elif code in (abi.EVENT_ALARM, abi.EVENT_NOALARM):
                spans_alarm.add(span)
            elif code == abi.EVENT_BADFCS:
                self.counters["badfcs"] += 1
                log.warning("dahdi: D-channel %d: frame with a bad FCS dropped", row + 1)
            elif code == abi.EVENT_REMOVED:
                if not self.removed:
                    self._lose_device("the card was removed (DAHDI_EVENT_REMOVED)")
                return
            if name is not None:
                self._pending.append((name, row, span, 0, now))
        for span in sorted(spans_alarm):
            bits = self.alarms(span)
            if bits != self._alarm_state.get(span):
                self._alarm_state[span] = bits
                log.warning("dahdi: span %d alarms %d", self._dahdi_span[span], bits)
                self._pending.append(("alarm", -1, span, bits, now))
