"""AT-command driver for a GSM modem in PDU mode over pyserial (send, receive, status reports, signal).

    modem = GsmModem("/dev/ttyUSB0"); modem.open()    # AT, ATE0, AT+CMGF=0, AT+CNMI
    mrs = modem.send("+8613800138000", "你好", ref=5, status_report=True)
    for ev in modem.poll(0.5): ...                    # Deliver / StatusReport objects
"""
from __future__ import annotations

import logging
import re
import time

import serial

from trunkline.drivers.serial import pdu as P

log = logging.getLogger("trunkline.drivers.serial.gsm")


class ModemError(RuntimeError):
    """The modem answered an error (+CMS ERROR / +CME ERROR / ERROR); `.code` is the number or None."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ModemGone(RuntimeError):
    """The modem is not there: the port cannot be opened, was closed, or stopped answering."""


_FINAL_ERR = re.compile(r"^\+(CMS|CME) ERROR:\s*(\d+)")


class GsmModem:
    """A PDU-mode GSM modem on a serial port; single-threaded use (one owner calls its methods)."""

    def __init__(self, port: str, baudrate: int = 115200, timeout: float = 5.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.ser: serial.Serial | None = None
        self._pending: list[str] = []   # unsolicited lines not yet handled

    # ------------------------------------------------------------ lifecycle
    def open(self) -> "GsmModem":
        """Open the port and initialise: AT, ATE0, AT+CMGF=0, AT+CNMI=2,1,0,1,0 (incoming +CMTI, +CDS)."""
        try:
            self.ser = serial.Serial(self.port, self.baudrate, timeout=0.05)
        except (serial.SerialException, OSError) as exc:
            raise ModemGone(f"cannot open {self.port}: {exc}") from None
        self.command("AT")
        self.command("ATE0")
        self.command("AT+CMGF=0")
        self.command("AT+CNMI=2,1,0,1,0")
        return self

    def close(self) -> None:
        """Close the port (safe to call twice; a port that fails to close is dropped all the same)."""
        if self.ser is not None:
            try:
                self.ser.close()
            except (serial.SerialException, OSError) as exc:
                log.warning("closing %s failed: %s", self.port, exc)
            self.ser = None

    # ------------------------------------------------------------ line I/O
    def _write(self, data: bytes) -> None:
        if self.ser is None:
            raise ModemGone("modem port not open")
        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise ModemGone(f"{self.port}: {exc}") from None

    def _readline(self, deadline: float, prompt: bool = False, idle: bool = False) -> str | None:
        """One line (CR/LF stripped), '>' for the CMGS prompt, or None at the deadline
        (or, with `idle`, as soon as nothing more is arriving between lines)."""
        buf = bytearray()
        while time.monotonic() < deadline:
            try:
                b = self.ser.read(1) if self.ser else b""
            except (serial.SerialException, OSError, TypeError) as exc:
                self.close()
                raise ModemGone(f"{self.port}: {exc}") from None
            if self.ser is None:
                raise ModemGone("modem port closed")
            if not b:
                if idle and not buf:
                    return None
                continue
            if b in (b"\r", b"\n"):
                if buf:
                    return buf.decode("ascii", "replace")
                continue
            buf += b
            if prompt and buf == b"> ":
                return ">"
        return None

    def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        """Send one AT command; returns its information lines; raises ModemError / ModemGone."""
        self._write(cmd.encode("ascii") + b"\r")
        return self._collect(cmd, timeout)

    def _collect(self, cmd: str, timeout: float | None) -> list[str]:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        info: list[str] = []
        while True:
            line = self._readline(deadline)
            if line is None:
                raise ModemGone(f"no answer to {cmd!r} from {self.port} within {self.timeout} s")
            if line == cmd:  # echo
                continue
            if line == "OK":
                return info
            if line == "ERROR":
                raise ModemError(f"{cmd}: ERROR")
            m = _FINAL_ERR.match(line)
            if m:
                raise ModemError(f"{cmd}: {line}", int(m.group(2)))
            if self._unsolicited(line, deadline):
                continue
            info.append(line)

    def _unsolicited(self, line: str, deadline: float) -> bool:
        if line.startswith("+CMTI:"):
            self._pending.append(line)
            return True
        if line.startswith("+CDS:"):
            body = self._readline(deadline)
            self._pending.append(line + "\n" + (body or ""))
            return True
        return False

    # ------------------------------------------------------------ SMS
    def signal_quality(self) -> tuple[int, int]:
        """AT+CSQ: (rssi 0-31 or 99, ber 0-7 or 99)."""
        for line in self.command("AT+CSQ"):
            if line.startswith("+CSQ:"):
                a, b = line[5:].strip().split(",")
                return int(a), int(b)
        raise ModemError("AT+CSQ: no +CSQ line")

    @staticmethod
    def rssi_dbm(rssi: int) -> int | None:
        """Convert a +CSQ rssi value to dBm (None when 99 = unknown)."""
        return None if rssi == 99 else -113 + 2 * rssi

    def send_pdu(self, raw: bytes) -> int:
        """AT+CMGS one PDU (with SMSC prefix); returns the TP-MR the modem assigned."""
        n = P.tpdu_length(raw)
        self._write(f"AT+CMGS={n}\r".encode("ascii"))
        deadline = time.monotonic() + self.timeout
        while True:
            line = self._readline(deadline, prompt=True)
            if line is None:
                raise ModemGone(f"no '>' prompt from {self.port}")
            if line == ">":
                break
            m = _FINAL_ERR.match(line)
            if m:
                raise ModemError(f"AT+CMGS: {line}", int(m.group(2)))
            if line == "ERROR":
                raise ModemError("AT+CMGS: ERROR")
            self._unsolicited(line, deadline)
        self._write(P.to_hex(raw).encode("ascii") + b"\x1a")
        info = self._collect("AT+CMGS", timeout=max(self.timeout, 10.0))
        for line in info:
            if line.startswith("+CMGS:"):
                return int(line[6:].strip().split(",")[0])
        raise ModemError("AT+CMGS: no +CMGS reference")

    def send(self, number: str, text: str, ref: int = 0, status_report: bool = False) -> list[int]:
        """Send a whole message (concatenated parts when long); returns the TP-MR of each part."""
        return [self.send_pdu(p) for p in P.submit_pdus(number, text, ref=ref, status_report=status_report)]

    def read(self, index: int) -> P.Message:
        """AT+CMGR: the decoded message at `index` (Deliver or StatusReport)."""
        info = self.command(f"AT+CMGR={index}")
        for i, line in enumerate(info):
            if line.startswith("+CMGR:") and i + 1 < len(info):
                return P.decode(P.from_hex(info[i + 1]))
        raise ModemError(f"AT+CMGR={index}: no PDU")

    def delete(self, index: int) -> None:
        """AT+CMGD: delete the message at `index`."""
        self.command(f"AT+CMGD={index}")

    def list_all(self) -> list[tuple[int, P.Message]]:
        """AT+CMGL=4: every stored message as (index, decoded PDU)."""
        info = self.command("AT+CMGL=4")
        out = []
        for i, line in enumerate(info):
            if line.startswith("+CMGL:") and i + 1 < len(info):
                out.append((int(line[6:].split(",")[0]), P.decode(P.from_hex(info[i + 1]))))
        return out

    def poll(self, timeout: float = 0.0) -> list[P.Message]:
        """Handle unsolicited lines (waiting up to `timeout` s for one): returns Deliver / StatusReport objects.

        Each +CMTI is read (AT+CMGR) and deleted (AT+CMGD) from modem memory.
        """
        events = []
        for idx, ev in self.poll_stored(timeout):
            events.append(ev)
            if idx is not None:
                self.delete(idx)
        return events

    def poll_stored(self, timeout: float = 0.0) -> list[tuple[int | None, P.Message]]:
        """Like poll(), but leaves each +CMTI message in modem memory: (memory index, message) pairs,
        index None for a +CDS status report (not stored). The caller deletes once the message is safe."""
        deadline = time.monotonic() + timeout
        while True:
            if self.ser is None:
                raise ModemGone("modem port not open")
            if self._pending or time.monotonic() >= deadline:
                line = self._drain_line()
            else:
                line = self._readline(deadline)
            if line is None:
                break
            self._unsolicited(line, time.monotonic() + self.timeout)
        events: list[tuple[int | None, P.Message]] = []
        while self._pending:
            line = self._pending.pop(0)
            if line.startswith("+CMTI:"):
                idx = int(line.split(",")[-1])
                events.append((idx, self.read(idx)))
            elif line.startswith("+CDS:"):
                body = line.split("\n", 1)[1]
                if body:
                    events.append((None, P.decode(P.from_hex(body))))
        return events

    def _inwaiting(self) -> int:
        try:
            return self.ser.in_waiting if self.ser else 0
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise ModemGone(f"{self.port}: {exc}") from None

    def _drain_line(self) -> str | None:
        if not self._inwaiting():
            return None
        return self._readline(time.monotonic() + self.timeout, idle=True)
