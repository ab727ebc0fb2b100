"""A simulated GSM modem on a pseudo-terminal: pyserial opens `modem.path` like /dev/ttyUSB0.

A background thread answers AT commands the way a PDU-mode modem does (AT, ATE0/1, AT+CMGF, AT+CNMI,
AT+CMGS with the '> ' prompt and Ctrl-Z, AT+CMGR, AT+CMGD, AT+CMGL, AT+CSQ), raises unsolicited +CMTI
and +CDS, injects +CMS ERROR on request, and `close()` makes the modem disappear (the pty goes away).

    modem = GsmModemSim(); modem.start()
    modem.deliver("+8613800138000", "你好")    # network delivers an SMS: stored, +CMTI raised
    modem.fail_next(500, count=2)             # the next two AT+CMGS answer +CMS ERROR: 500
    modem.submitted                           # SMS-SUBMITs the network received (decoded)
"""
from __future__ import annotations

import datetime as dt
import os
import select
import threading
import tty

from trunkline.drivers.serial import pdu as P


class GsmModemSim:
    """A PDU-mode GSM modem behind a pty; thread-safe network-side methods."""

    def __init__(self, *, rssi: int = 21, status_reports: bool = True, memory_slots: int = 30) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.rssi = rssi
        self.auto_status_reports = status_reports
        self.memory_slots = memory_slots
        self.echo = True
        self.cmgf = 1             # modems power up in text mode; the driver must select PDU mode
        self.cnmi = (0, 0, 0, 0, 0)
        self.memory: dict[int, tuple[str, bytes]] = {}   # index -> (stat 'REC UNREAD'..., pdu)
        self.submitted: list[P.Submit] = []
        self.commands: list[str] = []
        self._fail: list[int] = []
        self._mr = 0
        self._buf = bytearray()
        self._pdu_len: int | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.closed = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "GsmModemSim":
        """Start answering in a background thread; returns self."""
        self._thread = threading.Thread(target=self._run, name="gsm-modem-sim", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """The modem disappears: stop answering and close both ends of the pty."""
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        with self._lock:
            if not self.closed:
                self.closed = True
                for fd in (self.master, self.slave):
                    try:
                        os.close(fd)
                    except OSError:
                        pass

    def __enter__(self) -> "GsmModemSim":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ network side
    def fail_next(self, code: int = 500, count: int = 1) -> None:
        """Answer the next `count` AT+CMGS with +CMS ERROR: `code`."""
        with self._lock:
            self._fail += [code] * count

    def deliver(self, sender: str, text: str, when: dt.datetime | None = None, ref: int = 7) -> list[int]:
        """The network delivers an SMS (split into concatenated parts when long); returns the memory indexes."""
        when = when or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        dcs = P.choose_dcs(text)
        parts = P.split_text(text, dcs)
        pdus = ([P.encode_deliver(sender, text, when, dcs)] if len(parts) == 1 else
                [P.encode_deliver(sender, p, when, dcs, P.Concat(ref, len(parts), i + 1))
                 for i, p in enumerate(parts)])
        return [self.store(pd) for pd in pdus]

    def store(self, pdu_bytes: bytes) -> int:
        """Store one raw MT PDU in SIM memory and raise +CMTI (when AT+CNMI asked for it); returns the index."""
        with self._lock:
            idx = next(i for i in range(1, self.memory_slots + 1) if i not in self.memory)
            self.memory[idx] = ("REC UNREAD", pdu_bytes)
            if self.cnmi[1] in (1, 2, 3):
                self._send(f'\r\n+CMTI: "SM",{idx}\r\n')
            return idx

    def status_report(self, mr: int, recipient: str, status: int = 0x00) -> None:
        """Raise an unsolicited +CDS status report for message reference `mr`."""
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        raw = P.encode_status_report(mr, recipient, status, now, now)
        with self._lock:
            if self.cnmi[3] == 1:
                self._send(f"\r\n+CDS: {P.tpdu_length(raw)}\r\n{P.to_hex(raw)}\r\n")

    # ------------------------------------------------------------ pty loop
    def _send(self, s: str):
        if self.closed:
            return
        try:
            os.write(self.master, s.encode("ascii"))
        except OSError:
            pass

    def _run(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.master], [], [], 0.05)
                if not r:
                    continue
                data = os.read(self.master, 4096)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                continue
            if not data:
                continue
            with self._lock:
                self._feed(data)

    def _feed(self, data: bytes):
        for b in data:
            if self._pdu_len is not None:
                if b == 0x1A:
                    self._finish_cmgs(self._buf.decode("ascii", "replace"))
                    self._buf.clear()
                elif b == 0x1B:          # ESC cancels
                    self._pdu_len = None
                    self._buf.clear()
                    self._send("\r\nOK\r\n")
                elif b not in (0x0D, 0x0A):
                    if self.echo:
                        self._send(chr(b))
                    self._buf.append(b)
                continue
            if b in (0x0D, 0x0A):
                line = self._buf.decode("ascii", "replace").strip()
                self._buf.clear()
                if line:
                    if self.echo:
                        self._send(line + "\r")
                    self._command(line)
            else:
                self._buf.append(b)

    def _command(self, line: str):
        self.commands.append(line)
        up = line.upper()
        if not up.startswith("AT"):
            return self._send("\r\nERROR\r\n")
        cmd = up[2:]
        ok = "\r\nOK\r\n"
        if cmd == "":
            return self._send(ok)
        if cmd in ("E0", "E1"):
            self.echo = cmd == "E1"
            return self._send(ok)
        if cmd.startswith("+CMGF="):
            v = cmd[6:]
            if v not in ("0", "1"):
                return self._send("\r\nERROR\r\n")
            self.cmgf = int(v)
            return self._send(ok)
        if cmd == "+CMGF?":
            return self._send(f"\r\n+CMGF: {self.cmgf}\r\n" + ok)
        if cmd.startswith("+CNMI="):
            try:
                vals = [int(x) if x else 0 for x in cmd[6:].split(",")]
            except ValueError:
                return self._send("\r\nERROR\r\n")
            a, b, c, d, e = (vals + [0] * 5)[:5]
            self.cnmi = (a, b, c, d, e)
            return self._send(ok)
        if cmd == "+CSQ":
            return self._send(f"\r\n+CSQ: {self.rssi},0\r\n" + ok)
        if cmd.startswith("+CMGS="):
            if self.cmgf != 0:
                return self._send("\r\n+CMS ERROR: 302\r\n")
            try:
                self._pdu_len = int(cmd[6:])
            except ValueError:
                return self._send("\r\n+CMS ERROR: 304\r\n")
            return self._send("\r\n> ")
        if cmd.startswith("+CMGR="):
            idx = self._index(cmd[6:])
            if idx is None:
                return self._send("\r\n+CMS ERROR: 321\r\n")
            stat, raw = self.memory[idx]
            self.memory[idx] = ("REC READ", raw)
            code = 0 if stat == "REC UNREAD" else 1
            return self._send(f"\r\n+CMGR: {code},,{P.tpdu_length(raw)}\r\n{P.to_hex(raw)}\r\n" + ok)
        if cmd.startswith("+CMGD="):
            idx = self._index(cmd[6:].split(",")[0])
            if idx is None:
                return self._send("\r\n+CMS ERROR: 321\r\n")
            del self.memory[idx]
            return self._send(ok)
        if cmd.startswith("+CMGL="):
            out = []
            for idx in sorted(self.memory):
                stat, raw = self.memory[idx]
                code = 0 if stat == "REC UNREAD" else 1
                out.append(f"\r\n+CMGL: {idx},{code},,{P.tpdu_length(raw)}\r\n{P.to_hex(raw)}")
                self.memory[idx] = ("REC READ", raw)
            return self._send("".join(out) + ("\r\n" if out else "") + ok)
        return self._send("\r\nERROR\r\n")

    def _index(self, s: str) -> int | None:
        try:
            idx = int(s)
        except ValueError:
            return None
        return idx if idx in self.memory else None

    def _finish_cmgs(self, hexpdu: str):
        n, self._pdu_len = self._pdu_len, None
        if self._fail:
            code = self._fail.pop(0)
            return self._send(f"\r\n+CMS ERROR: {code}\r\n")
        try:
            raw = P.from_hex(hexpdu)
            if P.tpdu_length(raw) != n:
                raise P.PduError(f"length {P.tpdu_length(raw)} != {n}")
            sub = P.decode_submit(raw)
        except (P.PduError, IndexError):
            return self._send("\r\n+CMS ERROR: 304\r\n")
        self._mr = (self._mr + 1) & 0xFF
        sub.mr = self._mr
        self.submitted.append(sub)
        self._send(f"\r\n+CMGS: {self._mr}\r\n\r\nOK\r\n")
        if sub.status_report and self.auto_status_reports:
            self.status_report(self._mr, sub.number, 0x00)
