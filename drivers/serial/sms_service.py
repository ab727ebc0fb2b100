"""SMS service: a send queue persisted in the database, retries on modem errors, incoming messages stored.

    svc = SmsService(session_factory, port="/dev/ttyUSB0")
    svc.queue("+8613800138000", "您的账单已出")   # row in `sms` (status queued) + `sms_queue`
    svc.pump()                                   # (re)opens the modem, sends what is due, stores incoming

`pump()` never loses a message: a modem error (+CMS ERROR) schedules a retry after `retry_delays`
(seconds) until `max_attempts`, then the row is 'failed'; a modem that is gone leaves every row queued
(the state is `modem_state == "gone"`, reported through `on_event`) and they go out when it comes back.
Statuses of `sms.status`: queued, sent, delivered, failed (outgoing); received (incoming).

An incoming message is deleted from modem memory only after its row is committed: when the database
fails it stays in the modem and the next pump() reads the modem memory again (AT+CMGL) and retries;
a message already stored (same sender, time and text) is not stored twice.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.data.db import session_scope
from trunkline.data.models import Sms
from trunkline.data.sms_models import SmsQueue, utcnow
from trunkline.drivers.serial import pdu as P
from trunkline.drivers.serial.gsm import GsmModem, ModemError, ModemGone

log = logging.getLogger("trunkline.drivers.serial.sms_service")


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


class SmsService:
    """Owns one GSM modem and the DB queue; call `pump()` periodically (one thread)."""

    def __init__(self, factory: Callable[[], Session], port: str, *, max_attempts: int = 3,
                 retry_delays: Iterable[float] = (30.0, 120.0, 600.0), status_reports: bool = True,
                 clock: Callable[[], dt.datetime] = utcnow,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None, modem_timeout: float = 5.0) -> None:
        self.factory = factory
        self.port = port
        self.max_attempts = max_attempts
        self.retry_delays = tuple(retry_delays)
        self.status_reports = status_reports
        self.clock = clock
        self.on_event = on_event or (lambda kind, info: None)
        self.modem_timeout = modem_timeout
        self.modem: GsmModem | None = None
        self.modem_state = "closed"      # closed | up | gone
        self._sweep_stored = False       # read what is already in modem memory once the modem is (re)opened
        self.last_problem = ""
        self._reassembly = P.Reassembler()
        self._part_slots: dict[tuple[str, int, int], set[int]] = {}  # modem memory indexes of held parts
        self._next_ref = 1
        self._ref_lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ API
    def queue(self, number: str, text: str, status_report: bool | None = None) -> int:
        """Queue an outgoing SMS; returns the sms row id. Raises PduError for a bad number (nothing stored)."""
        P.encode_address(number)          # validate before storing
        dcs = P.choose_dcs(text)
        parts = len(P.split_text(text, dcs))
        with session_scope(self.factory) as s:
            row = Sms(direction="out", number=number, text=text, status="queued", at=self.clock())
            s.add(row)
            s.flush()
            s.add(SmsQueue(sms_id=row.id, next_at=self.clock(), parts_total=parts, concat_ref=self._take_ref(),
                           status_report=int(self.status_reports if status_report is None else status_report)))
            return row.id

    def _take_ref(self) -> int:
        with self._ref_lock:
            ref = self._next_ref
            self._next_ref = self._next_ref % 255 + 1
            return ref

    def pump(self, poll_timeout: float = 0.0) -> dict[str, int]:
        """Open the modem if needed, send due messages, collect incoming; returns counts of what happened."""
        out = {"sent": 0, "retried": 0, "failed": 0, "received": 0, "reports": 0}
        if not self._ensure_modem():
            return out
        try:
            if self._sweep_stored:
                # messages stored before AT+CNMI took effect (or while we were away) raise no +CMTI
                self._handle(out, self._take_stored())
                self._sweep_stored = False
            self._send_due(out)
            self._collect(out, poll_timeout)
        except ModemGone as exc:
            self._gone(str(exc))
        return out

    def start(self, interval: float = 1.0) -> threading.Thread:
        """Run pump() in a background thread every `interval` s (waiting on the modem for incoming
        meanwhile) until stop(); returns the thread."""
        stop = self._stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.pump(poll_timeout=interval if self.modem_state == "up" else 0.0)
                except Exception:                       # keep serving; the error is logged
                    log.exception("SMS pump failed")
                if self.modem_state != "up":
                    stop.wait(interval)
            self.close()
        self._thread = threading.Thread(target=loop, name="sms-service", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread started by start() and close the modem."""
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Close the modem port."""
        if self.modem:
            self.modem.close()
        self.modem, self.modem_state = None, "closed"

    def pending(self) -> int:
        """How many outgoing messages are still queued."""
        with session_scope(self.factory) as s:
            return len(s.scalars(select(Sms.id).where(Sms.direction == "out", Sms.status == "queued")).all())

    # ------------------------------------------------------------ internals
    def _ensure_modem(self) -> bool:
        if self.modem is not None and self.modem.ser is not None:
            return True
        try:
            self.modem = GsmModem(self.port, timeout=self.modem_timeout).open()
        except (ModemGone, ModemError) as exc:
            self._gone(str(exc))
            return False
        self._sweep_stored = True
        if self.modem_state != "up":
            self.modem_state = "up"
            self.on_event("modem_up", {"port": self.port})
        return True

    def _open_modem(self) -> GsmModem:
        """The modem, open; ModemGone when it is not (pump() then reports it gone)."""
        if self.modem is None:
            raise ModemGone(f"modem on {self.port} not open")
        return self.modem

    def _take_stored(self) -> list[tuple[int | None, P.Message]]:
        """Every message already in modem memory (AT+CMGL=4) with its index; deleted once stored."""
        return [(idx, ev) for idx, ev in self._open_modem().list_all()]

    def _gone(self, why: str) -> None:
        if self.modem:
            self.modem.close()
        self.modem = None
        if self.modem_state != "gone":
            log.warning("GSM modem on %s gone: %s", self.port, why)
            self.on_event("modem_gone", {"port": self.port, "error": why, "queued": self.pending()})
        self.modem_state, self.last_problem = "gone", why

    def _send_due(self, out: dict[str, int]) -> None:
        now = self.clock()
        with session_scope(self.factory) as s:
            queued = s.execute(select(Sms, SmsQueue).join(SmsQueue, SmsQueue.sms_id == Sms.id)
                               .where(Sms.status == "queued").order_by(SmsQueue.next_at, Sms.id)).all()
            due = [(m.id, q.id) for m, q in queued if _aware(q.next_at) <= now]
        for sms_id, qid in due:
            self._send_one(sms_id, qid, out)

    @staticmethod
    def _rows(s: Session, sms_id: int, qid: int) -> tuple[Sms, SmsQueue]:
        """The message and its queue row; LookupError if either was deleted meanwhile."""
        m, q = s.get(Sms, sms_id), s.get(SmsQueue, qid)
        if m is None or q is None:
            raise LookupError(f"queued SMS {sms_id} (queue row {qid}) is gone from the database")
        return m, q

    def _send_one(self, sms_id: int, qid: int, out: dict[str, int]) -> None:
        modem = self._open_modem()
        with session_scope(self.factory) as s:
            m, q = self._rows(s, sms_id, qid)
            pdus = P.submit_pdus(m.number, m.text, ref=q.concat_ref, status_report=bool(q.status_report))
            start, mrs = q.parts_done, [x for x in q.mrs.split(",") if x]
        try:
            for i in range(start, len(pdus)):
                mr = modem.send_pdu(pdus[i])
                mrs.append(str(mr))
                with session_scope(self.factory) as s:   # each part's progress is durable at once
                    m, q = self._rows(s, sms_id, qid)
                    q.parts_done, q.mrs = i + 1, ",".join(mrs)
        except ModemError as exc:
            with session_scope(self.factory) as s:
                m, q = self._rows(s, sms_id, qid)
                q.attempts += 1
                q.last_error = str(exc)
                if q.attempts >= self.max_attempts:
                    m.status = "failed"
                    out["failed"] += 1
                    self.on_event("sms_failed", {"id": sms_id, "error": str(exc)})
                else:
                    delay = self.retry_delays[min(q.attempts - 1, len(self.retry_delays) - 1)]
                    q.next_at = self.clock() + dt.timedelta(seconds=delay)
                    out["retried"] += 1
            return
        with session_scope(self.factory) as s:
            m, q = self._rows(s, sms_id, qid)
            q.attempts += 1
            m.status = "sent"
            m.reference = ",".join(mrs)[:32]
            out["sent"] += 1
        self.on_event("sms_sent", {"id": sms_id, "mrs": mrs})

    def _collect(self, out: dict[str, int], timeout: float) -> None:
        self._handle(out, self._open_modem().poll_stored(timeout))

    def _handle(self, out: dict[str, int], events: list[tuple[int | None, P.Message]]) -> None:
        for idx, ev in events:
            try:
                if isinstance(ev, P.StatusReport):
                    out["reports"] += self._report(ev)
                elif isinstance(ev, P.Deliver):
                    self._incoming(out, idx, ev)
            except ModemGone:
                raise
            except Exception as exc:  # database down: the message stays in the modem, read again next pump
                self._sweep_stored = True
                self.last_problem = f"{type(exc).__name__}: {exc}"
                log.warning("incoming SMS not stored yet (kept in modem memory): %s", self.last_problem)

    def _incoming(self, out: dict[str, int], idx: int | None, ev: P.Deliver) -> None:
        """Store one incoming message (or, when it completes one, the joined parts); then free its slots."""
        slots = {idx} if idx is not None else set()
        if ev.concat is not None and ev.concat.total > 1:
            key = (ev.sender, ev.concat.ref, ev.concat.total)
            slots = self._part_slots.setdefault(key, set()) | slots
            self._part_slots[key] = slots
        text = self._reassembly.add(ev.sender, ev.text, ev.concat)
        if text is None:
            return
        if ev.concat is not None:
            self._part_slots.pop((ev.sender, ev.concat.ref, ev.concat.total), None)
        at = ev.timestamp.astimezone(dt.timezone.utc)
        rid = None
        with session_scope(self.factory) as s:
            have = s.scalar(select(Sms.id).where(Sms.direction == "in", Sms.number == ev.sender, Sms.at == at,
                                                 Sms.text == text).limit(1))
            if have is None:  # not stored by an earlier pump whose AT+CMGD failed
                row = Sms(direction="in", number=ev.sender, text=text, status="received", at=at)
                s.add(row)
                s.flush()
                rid = row.id
        modem = self._open_modem()
        for i in sorted(slots):  # committed: now the modem may forget it
            modem.delete(i)
        if rid is not None:
            out["received"] += 1
            self.on_event("sms_received", {"id": rid, "number": ev.sender, "text": text})

    def _report(self, rep: P.StatusReport) -> int:
        with session_scope(self.factory) as s:
            rows = s.execute(select(Sms, SmsQueue).join(SmsQueue, SmsQueue.sms_id == Sms.id)
                             .where(Sms.status == "sent").order_by(Sms.id.desc())).all()
            for m, q in rows:
                if str(rep.mr) in q.mrs.split(",") and str(rep.mr) not in q.delivered_mrs.split(","):
                    if not rep.delivered:
                        m.status = "failed"
                        q.last_error = f"status report 0x{rep.status:02X}"
                        return 1
                    q.delivered_mrs = ",".join([x for x in q.delivered_mrs.split(",") if x] + [str(rep.mr)])
                    if len(q.delivered_mrs.split(",")) >= q.parts_total:
                        m.status = "delivered"
                    return 1
        return 0
