"""CDR rows from ended calls: fields from the network are cleaned and bounded before the database sees them."""
import os
from types import SimpleNamespace

from pg_fixture import pg_server  # noqa: F401  (session fixture)
from sqlalchemy import select

from trunkline.app import schema
from trunkline.data.models import Cdr
from trunkline.data.spool import DurableWriter
from trunkline.media.cdr import TEXT_LIMITS, CdrRecorder, cdr_row
from trunkline.media.record import CallRecord


def _call(caller, called="95555", trunk="pri1"):
    """The attributes cdr_row reads from a Call, as a PRI call whose numbers came straight off the wire."""
    engine = SimpleNamespace(now=10.0, board=SimpleNamespace(span_of={3: 1}))
    return SimpleNamespace(id="call-net-1", engine=engine, cdr=CallRecord(), created_at=1.0, answered_at=2.0,
                           ended_at=9.0, direction="in", trunk=trunk, channel=3, caller_id=caller, called=called,
                           cause=16)


def test_limits_come_from_the_model():
    assert TEXT_LIMITS["caller"] == Cdr.__table__.c.caller.type.length == 64
    assert TEXT_LIMITS["ivr_path"] is None


def test_cdr_row_cleans_and_bounds_network_fields():
    row = cdr_row(_call("138\x00" + "9" * 200 + "\x1b[2J", called="95\x0755\r\n", trunk="t" * 40), epoch=0.0)
    assert row["caller"] == "138" + "9" * 61 and row["called"] == "9555"
    assert row["trunk"] == "t" * 16 and row["queue"] is None


def test_network_caller_with_nul_reaches_postgresql_not_the_rejected_file(request, tmp_path):
    srv = request.getfixturevalue("pg_server")
    engine = schema.migrate(srv.create_database("tl_cdr_clean"))
    spool = str(tmp_path / "spool.jsonl")
    w = DurableWriter(engine, spool).start()
    caller = "+86\x00" + "1" * 196 + "\x00"  # 200 characters with NUL, as received
    CdrRecorder(w, server="tl1")(_call(caller))
    assert w.flush(20), f"not drained: {w.stats} {w.last_error}"
    w.stop()
    with engine.connect() as c:
        rows = c.execute(select(Cdr.call_id, Cdr.caller)).all()
    assert rows == [("call-net-1", "+86" + "1" * 61)]
    assert not os.path.exists(spool + ".rejected") and w.stats.get("rejected", 0) == 0
    engine.dispose()
