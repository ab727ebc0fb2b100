"""Durable CDR/queue-event writer: nothing lost, order kept, the producer never waits for the database."""
import datetime as dt
import errno
import os
import time

import pytest
from pg_fixture import PgServer
from sqlalchemy import event, func, select

from trunkline.app import schema
from trunkline.data import db
from trunkline.data.models import Cdr, QueueEvent
from trunkline.data.spool import DurableWriter

T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc)


def _cdr(i):
    return dict(call_id=f"call-{i:06d}", start=T0 + dt.timedelta(seconds=i), caller=f"1380000{i:04d}",
                called="95555", outcome="answered", duration=30.0, billsec=25.0)


def _rows(engine):
    with engine.connect() as c:
        return c.execute(select(Cdr.call_id, Cdr.seq).order_by(Cdr.id)).all()


def _check_all_in_order(engine, n):
    rows = _rows(engine)
    ids = [r[0] for r in rows]
    assert len(ids) == n, f"{len(ids)} rows, expected {n}"
    assert ids == [f"call-{i:06d}" for i in range(n)], "insertion order differs from put() order"
    seqs = [r[1] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == n


def test_sqlite_writes_everything_in_order(tmp_path):
    engine = schema.migrate(f"sqlite:///{tmp_path}/s.db")
    w = DurableWriter(engine, str(tmp_path / "spool.jsonl")).start()
    for i in range(2000):
        w.write_cdr(**_cdr(i))
        if i % 3 == 0:
            w.write_queue_event(uuid=f"ev-{i}", at=T0, queue="q1", call_id=f"call-{i:06d}", event="ENTERQUEUE")
    assert w.flush(20)
    w.stop()
    _check_all_in_order(engine, 2000)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(QueueEvent)).scalar() == 667
    assert w.stats["written"] == 2667 and not w.spool_pending()


def test_bad_input_is_refused_clearly():
    w = DurableWriter(db.make_engine("sqlite://"), "/tmp/tl-unused-spool.jsonl")
    with pytest.raises(ValueError, match="unknown columns"):
        w.write_cdr(call_id="x", start=T0, colour="red")
    with pytest.raises(ValueError, match="call_id is required"):
        w.write_cdr(start=T0)
    with pytest.raises(ValueError, match="unknown record kind"):
        w.put("nope", {})


def test_slow_database_never_blocks_the_producer(tmp_path):
    """Each insert takes 50 ms: put() stays in microseconds, the overflow goes to disk, nothing lost."""
    engine = schema.migrate(f"sqlite:///{tmp_path}/slow.db")

    @event.listens_for(engine, "before_cursor_execute")
    def _slow(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            time.sleep(0.05)

    w = DurableWriter(engine, str(tmp_path / "spool.jsonl"), maxsize=50, batch_size=20).start()
    worst = 0.0
    for i in range(600):
        t = time.perf_counter()
        w.write_cdr(**_cdr(i))
        worst = max(worst, time.perf_counter() - t)
        if i % 20 == 0:
            time.sleep(0.002)  # a 20 ms tick's worth of calls ending, compressed
    print(f"\nslow DB: worst put() {worst * 1e3:.2f} ms, overflowed to disk {w.stats['overflow']}")
    assert w.stats["overflow"] > 0
    assert worst < 0.05, "put() waited for the database"
    assert w.flush(60)
    w.stop()
    _check_all_in_order(engine, 600)


def test_refused_row_is_set_aside_and_the_rest_goes_in(tmp_path):
    engine = schema.migrate(f"sqlite:///{tmp_path}/r.db")
    w = DurableWriter(engine, str(tmp_path / "spool.jsonl")).start()
    w.write_cdr(**_cdr(0))
    w.write_cdr(**dict(_cdr(1), start=None))  # NOT NULL violation: the database refuses it
    w.write_cdr(**_cdr(2))
    assert w.flush(10)
    w.stop()
    assert [r[0] for r in _rows(engine)] == ["call-000000", "call-000002"]
    rejected = (tmp_path / "spool.jsonl.rejected").read_text()
    assert "call-000001" in rejected and "NOT NULL" in rejected.upper()


@pytest.mark.slow
def test_postgresql_stopped_mid_traffic_loses_nothing(tmp_path):
    """Stop the PostgreSQL server mid-traffic, keep writing CDRs, restart it: every row, in order."""
    srv = PgServer().start()
    try:
        url = srv.create_database("tl_spool")
        engine = schema.migrate(url)
        spool = str(tmp_path / "cdr-spool.jsonl")
        w = DurableWriter(engine, spool, retry_interval=0.2).start()
        n, worst = 3000, 0.0
        stopped_at, restarted_at = 1000, 2000
        spooled_while_down = 0
        for i in range(n):
            if i == stopped_at:
                assert w.flush(20)
                srv.stop("immediate")  # like a crash
            if i == restarted_at:
                time.sleep(0.5)  # let the writer hit the dead server a few times
                spooled_while_down = w.stats["spooled"]
                srv.start()
            t = time.perf_counter()
            w.write_cdr(**_cdr(i))
            worst = max(worst, time.perf_counter() - t)
        assert w.flush(60), f"spool not drained: {w.stats} {w.last_error}"
        w.stop()
        print(f"\nPostgreSQL restart: stats {w.stats}; worst put() {worst * 1e3:.2f} ms; "
              f"spooled while down {spooled_while_down}")
        assert spooled_while_down >= restarted_at - stopped_at - 1
        assert w.stats["errors"] > 0 and w.stats["replayed"] >= restarted_at - stopped_at
        assert worst < 0.05
        _check_all_in_order(engine, n)
        assert os.path.getsize(spool) == 0
        engine.dispose()
    finally:
        srv.destroy()


def test_spool_survives_a_process_restart(tmp_path):
    """Writer stopped while the database is unusable: records stay on disk and a new writer replays them."""
    path = tmp_path / "p.db"
    engine = schema.migrate(f"sqlite:///{path}")
    spool = str(tmp_path / "spool.jsonl")
    broken = db.make_engine(f"sqlite:///{tmp_path}/missing-dir/x/none.db")  # cannot open: writes fail
    w = DurableWriter(broken, spool, retry_interval=10).start()
    for i in range(100):
        w.write_cdr(**_cdr(i))
    time.sleep(0.3)
    w.stop(timeout=0.2)
    assert w.spool_pending() and _rows(engine) == []
    w2 = DurableWriter(engine, spool).start()
    w2.write_cdr(**_cdr(100))
    assert w2.flush(10)
    w2.stop()
    _check_all_in_order(engine, 101)


@pytest.mark.parametrize("first_back", ["disk", "database"])
def test_disk_full_and_database_down_keeps_everything_and_resumes(tmp_path, monkeypatch, first_back):
    """Database unreachable AND spool appends fail (ENOSPC): the writer lives on, raises the alarm, holds
    the records in memory, and once the disk or the database works again every record arrives once, in order."""
    engine = schema.migrate(f"sqlite:///{tmp_path}/d.db")
    spool = str(tmp_path / "spool.jsonl")
    broken = db.make_engine(f"sqlite:///{tmp_path}/missing-dir/x/none.db")  # cannot open: writes fail
    w = DurableWriter(broken, spool, maxsize=20, retry_interval=0.1)  # small queue: put() overflows too
    real_append = w._append_locked
    disk_full = [True]

    def append(recs, sync=False):  # fault injection at the file boundary
        if disk_full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(recs, sync)

    monkeypatch.setattr(w, "_append_locked", append)
    w.start()
    n = 300
    for i in range(n):
        w.write_cdr(**_cdr(i))
    time.sleep(0.5)  # several retries against the dead database and the full disk
    assert w._thread is not None and w._thread.is_alive(), "writer thread died"
    assert "unwritable" in w.alarm and w.stats["spool_errors"] > 0
    assert w.stats["dropped"] == 0 and w.backlog > 0 and _rows(engine) == []
    if first_back == "disk":
        disk_full[0] = False
        end = time.monotonic() + 5
        while w.alarm and time.monotonic() < end:
            time.sleep(0.02)
        assert not w.alarm and w.backlog == 0 and os.path.getsize(spool) > 0  # backlog now on disk
        w.engine = engine
    else:
        w.engine = engine  # database back while the disk is still full: the backlog goes straight in
    for i in range(n, n + 10):
        w.write_cdr(**_cdr(i))
    assert w.flush(20), f"not drained: {w.stats} {w.alarm} {w.last_error}"
    assert not w.alarm and w.backlog == 0 and w._thread.is_alive()
    disk_full[0] = False
    w.stop()
    _check_all_in_order(engine, n + 10)


def test_writer_thread_survives_an_unexpected_error(tmp_path, monkeypatch):
    engine = schema.migrate(f"sqlite:///{tmp_path}/e.db")
    w = DurableWriter(engine, str(tmp_path / "spool.jsonl"), retry_interval=0.05)
    real_insert = w._insert
    calls = [0]

    def insert(recs):
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("boom")  # not a database error: escapes the insert handling
        return real_insert(recs)

    monkeypatch.setattr(w, "_insert", insert)
    real_failed = w._failed

    def failed(exc):
        if isinstance(exc, RuntimeError):
            raise exc  # a bug in the error path itself
        real_failed(exc)

    monkeypatch.setattr(w, "_failed", failed)
    w.start()
    for i in range(5):
        w.write_cdr(**_cdr(i))
    assert w.flush(10), f"not drained: {w.stats} {w.alarm}"
    assert w._thread is not None and w._thread.is_alive()
    w.stop()
    _check_all_in_order(engine, 5)
