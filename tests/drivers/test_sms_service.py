"""SMS end to end through the pty GSM modem simulator: pyserial driver, DB send queue, retries, incoming."""
import datetime as dt
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from trunkline.data.db import Base, make_engine, make_session_factory, session_scope
from trunkline.data.models import Sms
from trunkline.data.sms_models import SmsQueue
from trunkline.drivers.serial import pdu as P
from trunkline.drivers.serial.gsm import GsmModem, ModemError, ModemGone
from trunkline.drivers.serial.sms_service import SmsService
from trunkline.pstn.gsm_modem import GsmModemSim

CHINESE_300 = ("尊敬的客户您好，您本月的话费账单已经出账，请在本月二十日前缴费。" * 10)[:300]


@pytest.fixture
def sim():
    m = GsmModemSim().start()
    yield m
    m.close()


@pytest.fixture
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/sms.db")
    Base.metadata.create_all(engine, tables=[Sms.__table__, SmsQueue.__table__])
    return make_session_factory(engine)


class Clock:
    def __init__(self):
        self.t = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self):
        return self.t


def rows(factory, **where):
    with session_scope(factory) as s:
        q = select(Sms).order_by(Sms.id)
        for k, v in where.items():
            q = q.where(getattr(Sms, k) == v)
        return s.scalars(q).all()


def test_driver_init_selects_pdu_mode_and_reads_signal(sim):
    m = GsmModem(sim.path, timeout=2).open()
    assert sim.commands[:4] == ["AT", "ATE0", "AT+CMGF=0", "AT+CNMI=2,1,0,1,0"]
    assert sim.cmgf == 0 and not sim.echo
    assert m.signal_quality() == (21, 0)
    assert GsmModem.rssi_dbm(21) == -71
    with pytest.raises(ModemError):
        m.command("AT+BOGUS")
    with pytest.raises(ModemError) as ei:
        m.read(9)
    assert ei.value.code == 321
    m.close()


def test_gsm7_and_ucs2_messages_reach_the_network(sim, factory):
    svc = SmsService(factory, sim.path, modem_timeout=2)
    a = svc.queue("+4915112345678", "Your code is 4711 [ok]")
    b = svc.queue("+8613800138000", "您好，明天上午十点回访")
    res = svc.pump(poll_timeout=0.3)
    assert res["sent"] == 2
    sub = sim.submitted
    assert [(s.number, s.text, s.dcs) for s in sub] == [
        ("+4915112345678", "Your code is 4711 [ok]", P.DCS_GSM7),
        ("+8613800138000", "您好，明天上午十点回访", P.DCS_UCS2)]
    # the simulator sends a +CDS status report for each: rows become delivered
    assert res["reports"] == 2
    assert [r.status for r in rows(factory)] == ["delivered", "delivered"]
    assert {r.id for r in rows(factory)} == {a, b}
    svc.close()


def test_300_char_chinese_split_and_rejoined_both_ways(sim, factory):
    svc = SmsService(factory, sim.path, modem_timeout=2)
    svc.queue("+8613800138000", CHINESE_300)
    assert svc.pump(poll_timeout=0.3)["sent"] == 1
    parts = sim.submitted
    assert len(parts) == 5
    assert {p.concat.ref for p in parts} == {parts[0].concat.ref}
    assert [p.concat.seq for p in parts] == [1, 2, 3, 4, 5] and all(p.concat.total == 5 for p in parts)
    r = P.Reassembler()
    joined = [r.add(p.number, p.text, p.concat) for p in parts][-1]
    assert joined == CHINESE_300
    out = rows(factory, direction="out")[0]
    assert out.status == "delivered" and len(out.reference.split(",")) == 5
    # the network delivers a long Chinese message to us: 5 +CMTI, read, deleted, rejoined, stored once
    sim.deliver("+8613911112222", CHINESE_300, ref=99)
    res = svc.pump(poll_timeout=0.3)
    assert res["received"] == 1
    inc = rows(factory, direction="in")
    assert len(inc) == 1 and inc[0].text == CHINESE_300 and inc[0].number == "+8613911112222"
    assert inc[0].status == "received"
    assert sim.memory == {}       # every part deleted from the SIM after reading
    svc.close()


def test_incoming_message_stored(sim, factory):
    events = []
    svc = SmsService(factory, sim.path, modem_timeout=2, on_event=lambda k, i: events.append((k, i)))
    svc.pump()
    sim.deliver("+4917099999999", "Call me back please")
    assert svc.pump(poll_timeout=0.3)["received"] == 1
    inc = rows(factory, direction="in")
    assert [(r.number, r.text) for r in inc] == [("+4917099999999", "Call me back please")]
    assert any(k == "sms_received" for k, _ in events)
    svc.close()


def test_cms_error_is_retried_after_delay_then_fails_at_max(sim, factory):
    clock = Clock()
    svc = SmsService(factory, sim.path, modem_timeout=2, clock=clock, max_attempts=3, retry_delays=(30, 120))
    ok_id = svc.queue("+4915100000001", "first try fails")
    sim.fail_next(500, count=1)
    res = svc.pump()
    assert res == {"sent": 0, "retried": 1, "failed": 0, "received": 0, "reports": 0}
    with session_scope(factory) as s:
        q = s.scalars(select(SmsQueue).where(SmsQueue.sms_id == ok_id)).one()
        assert q.attempts == 1 and "+CMS ERROR: 500" in q.last_error
        assert q.next_at.replace(tzinfo=dt.timezone.utc) == clock.t + dt.timedelta(seconds=30)
    assert svc.pump()["sent"] == 0            # not due yet
    clock.t += dt.timedelta(seconds=31)
    assert svc.pump()["sent"] == 1
    assert sim.submitted[-1].text == "first try fails"
    # a message the modem rejects every time ends 'failed' after max_attempts
    bad_id = svc.queue("+4915100000002", "never goes")
    sim.fail_next(330, count=5)
    for _ in range(3):
        svc.pump()
        clock.t += dt.timedelta(seconds=200)
    with session_scope(factory) as s:
        assert s.get(Sms, bad_id).status == "failed"
        assert s.scalars(select(SmsQueue).where(SmsQueue.sms_id == bad_id)).one().attempts == 3
    svc.close()


def test_modem_disappears_then_returns_nothing_lost(factory):
    events = []
    first = GsmModemSim().start()
    svc = SmsService(factory, first.path, modem_timeout=1, on_event=lambda k, i: events.append((k, i)))
    svc.queue("+4915100000010", "before")
    assert svc.pump()["sent"] == 1
    first.close()                              # the USB modem is unplugged
    ids = [svc.queue("+4915100000011", "queued while gone 1"),
           svc.queue("+8613800138000", CHINESE_300),
           svc.queue("+4915100000012", "queued while gone 3")]
    res = svc.pump()
    assert res["sent"] == 0
    assert svc.modem_state == "gone"
    gone = [i for k, i in events if k == "modem_gone"]
    assert len(gone) == 1 and gone[0]["queued"] == 3
    assert svc.pump()["sent"] == 0 and svc.pending() == 3     # still gone, nothing lost
    assert [r.status for r in rows(factory) if r.id in ids] == ["queued"] * 3
    second = GsmModemSim().start()             # a modem comes back (new tty)
    try:
        svc.port = second.path
        res = svc.pump(poll_timeout=0.3)
        assert res["sent"] == 3 and svc.modem_state == "up"
        assert [s.text for s in second.submitted if s.concat is None] == ["queued while gone 1",
                                                                          "queued while gone 3"]
        assert sum(1 for s in second.submitted if s.concat) == 5
        assert svc.pending() == 0
    finally:
        svc.close()
        second.close()


def test_modem_vanishing_mid_session_raises_gone(sim):
    m = GsmModem(sim.path, timeout=1).open()
    sim.close()
    with pytest.raises(ModemGone):
        m.send("+4915100000010", "x")


def test_bad_number_rejected_and_nothing_stored(sim, factory):
    svc = SmsService(factory, sim.path, modem_timeout=2)
    with pytest.raises(P.PduError):
        svc.queue("call me", "x")
    assert rows(factory) == []


def test_delivery_report_failure_marks_message_failed(sim, factory):
    sim.auto_status_reports = False
    svc = SmsService(factory, sim.path, modem_timeout=2)
    sid = svc.queue("+4915100000020", "will bounce")
    svc.pump()
    with session_scope(factory) as s:
        row = s.get(Sms, sid)
        assert row.status == "sent"
        mr = int(row.reference)
    sim.status_report(mr, "+4915100000020", 0x41)      # permanent error: incompatible destination
    assert svc.pump(poll_timeout=0.3)["reports"] == 1
    with session_scope(factory) as s:
        assert s.get(Sms, sid).status == "failed"
    svc.close()


def test_background_service_sends_and_receives(sim, factory):
    import time
    svc = SmsService(factory, sim.path, modem_timeout=2)
    svc.start(interval=0.1)
    try:
        svc.queue("+4915100000030", "from another thread")
        sim.deliver("+4915100000031", "incoming while running")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if rows(factory, direction="in") and rows(factory, direction="out")[0].status == "delivered":
                break
            time.sleep(0.05)
    finally:
        svc.stop()
    assert rows(factory, direction="out")[0].status == "delivered"
    assert rows(factory, direction="in")[0].text == "incoming while running"
    assert svc.modem is None



def test_messages_stored_before_the_service_opened_the_modem_are_read(sim, factory):
    """An SMS that reached the modem before AT+CNMI was set raises no +CMTI: the service reads the
    modem's memory when it opens the port, stores the message and deletes it from the SIM."""
    sim.deliver("+4915100000040", "waiting in the SIM")
    assert len(sim.memory) == 1
    svc = SmsService(factory, sim.path, modem_timeout=2)
    try:
        got = svc.pump()
    finally:
        svc.close()
    assert got["received"] == 1
    row = rows(factory, direction="in")[0]
    assert (row.number, row.text) == ("+4915100000040", "waiting in the SIM")
    assert sim.memory == {}


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_sms_received_during_a_database_outage_stays_in_the_modem_until_stored(sim, factory):
    """The database is down when SMS arrive (+CMTI, one of them in 5 parts): nothing is deleted from the
    SIM; once the database works every message is stored exactly once and only then deleted."""
    down = [True]

    def flaky_factory():
        if down[0]:
            raise OperationalError("connect", {}, ConnectionRefusedError("database is down"))
        return factory()

    svc = SmsService(flaky_factory, sim.path, modem_timeout=2)
    svc.start(interval=0.1)
    try:
        assert _wait(lambda: svc.modem_state == "up")
        slots = sim.deliver("+4915100000050", "sent while the database was down")
        slots += sim.deliver("+8613800138000", CHINESE_300, ref=9)
        assert len(slots) == 6
        time.sleep(1.0)  # several pumps against the dead database
        assert sorted(sim.memory) == sorted(slots), "message deleted from the modem before it was stored"
        down[0] = False
        assert _wait(lambda: len(rows(factory, direction="in")) == 2 and not sim.memory), sim.memory
        time.sleep(0.5)  # more pumps: nothing stored twice
    finally:
        svc.stop()
    got = sorted((r.number, r.text, r.status) for r in rows(factory, direction="in"))
    assert got == [("+4915100000050", "sent while the database was down", "received"),
                   ("+8613800138000", CHINESE_300, "received")]


def test_sms_whose_insert_fails_is_not_deleted_from_the_modem(sim, factory):
    """The database fails exactly when an incoming SMS is being stored (the outage starts mid-pump): the
    message stays in modem memory, the next pump reads it again and stores it once, then deletes it."""
    plan = []  # outcomes of the next factory calls (True: fail); empty: the database works

    def flaky_factory():
        if plan and plan.pop(0):
            raise OperationalError("connect", {}, ConnectionRefusedError("database is down"))
        return factory()

    svc = SmsService(flaky_factory, sim.path, modem_timeout=2)
    try:
        svc.pump()                                   # modem open, nothing to do
        single = sim.deliver("+4915100000060", "arrives as the database goes down")
        parts = sim.deliver("+8613800138000", CHINESE_300, ref=11)
        plan[:] = [False, True]                      # the send-queue query works, the first insert fails
        got = svc.pump(poll_timeout=0.5)
        assert got["received"] == 1                  # the 5-part message went in
        assert sorted(sim.memory) == single, "SMS deleted from the modem before its row was committed"
        assert [r.text for r in rows(factory, direction="in")] == [CHINESE_300]
        assert svc.pump()["received"] == 1           # database back: read again from the SIM, stored
        assert sim.memory == {} and not set(parts) & set(sim.memory)
        assert svc.pump()["received"] == 0
    finally:
        svc.close()
    got_rows = sorted((r.number, r.text) for r in rows(factory, direction="in"))
    assert got_rows == [("+4915100000060", "arrives as the database goes down"), ("+8613800138000", CHINESE_300)]
