"""Data layer on SQLite and a real PostgreSQL: migrations, schema coverage, bootstrap, round trips."""
import datetime as dt

import pytest
from pg_fixture import pg_server  # noqa: F401  (fixture)
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from trunkline.app import schema
from trunkline.data import accounts, db
from trunkline.data import schema as data_schema
from trunkline.data.models import AuditLog, Board, Cdr, QueueEvent, Span, User

_counter = [0]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/t.db"
    srv = request.getfixturevalue("pg_server")
    _counter[0] += 1
    return srv.create_database(f"tl_models_{_counter[0]}")


def test_migrate_creates_every_table_and_matches_models(db_url):
    engine = schema.migrate(db_url)
    names = set(inspect(engine).get_table_names())
    for t in ("users", "audit_log", "error_log", "cdrs", "recordings", "boards", "spans", "faxes", "sms",
              "queue_events", "role_allowlist", "alembic_version"):
        assert t in names, t
    # every table of every loaded area exists, and autogenerate sees no difference
    assert {t for t in db.Base.metadata.tables} <= names
    diff = schema.schema_diff(engine)
    print("schema diff:", diff)
    assert diff == []
    from alembic.script import ScriptDirectory
    with engine.connect() as c:
        head = c.execute(text("select version_num from alembic_version")).scalar()
    assert head == ScriptDirectory.from_config(data_schema.alembic_config()).get_current_head()
    # applying again is a no-op
    schema.migrate(db_url, engine=engine)
    engine.dispose()


def test_core_revision_alone_covers_core_models(tmp_path):
    """The shipped core revision (no safety net) creates exactly what trunkline.data.models declares."""
    from alembic import command
    url = f"sqlite:///{tmp_path}/core.db"
    engine = db.make_engine(url)
    with engine.begin() as conn:
        command.upgrade(data_schema.alembic_config(conn), "head")
    import trunkline.data.models as m
    have = set(inspect(engine).get_table_names())
    core = {c.__tablename__ for c in vars(m).values() if isinstance(c, type) and issubclass(c, db.Base)
            and c is not db.Base}
    missing = core - have
    assert not missing, f"core tables without a migration: {missing}"


def test_bootstrap_prints_a_random_password_once(db_url):
    engine = schema.migrate(db_url)
    f = db.make_session_factory(engine)
    printed = []
    pw = accounts.bootstrap(f, out=printed.append)
    assert pw and len(pw) >= 12 and pw.lower() not in ("admin", "password")
    assert len(printed) == 1 and pw in printed[0]
    with db.session_scope(f) as s:
        u = s.scalars(select(User)).one()
        assert u.username == "admin" and u.role == "admin"
        assert pw not in u.password_hash and u.password_hash.startswith(("scrypt:", "pbkdf2:", "$argon2"))
        assert check_password_hash(u.password_hash, pw)
        assert s.scalars(select(AuditLog).where(AuditLog.action == "bootstrap")).one()
    assert accounts.bootstrap(f, out=printed.append) is None and len(printed) == 1
    # a second server start generates a different password on a fresh database
    engine.dispose()


def test_round_trip_cdr_json_and_unique_keys(db_url):
    engine = schema.migrate(db_url)
    f = db.make_session_factory(engine)
    t0 = dt.datetime(2026, 11, 23, 8, 0, 5, tzinfo=dt.timezone.utc)
    with db.session_scope(f) as s:
        b = Board(name="b1", url="sim://default")
        b.spans.append(Span(number=1, trunk="r2", law="alaw", channels=30, options={"variant": "china"}))
        s.add(b)
        s.add(Cdr(call_id="c1", start=t0, caller="13800138000", called="95555", outcome="answered",
                  duration=61.5, billsec=60.0, queue="billing", agent="1001", survey_score=5))
        s.add(QueueEvent(uuid="e1", at=t0, queue="billing", call_id="c1", event="ENTERQUEUE", data={"pos": 1}))
    with db.session_scope(f) as s:
        c = s.scalars(select(Cdr)).one()
        assert c.caller == "13800138000" and c.billsec == 60.0 and c.survey_score == 5
        assert c.start.replace(tzinfo=dt.timezone.utc) == t0 or c.start == t0
        assert s.scalars(select(Span)).one().options == {"variant": "china"}
        assert s.scalars(select(QueueEvent)).one().data == {"pos": 1}
    with pytest.raises(IntegrityError):          # call_id is unique: a replayed CDR never duplicates
        with db.session_scope(f) as s:
            s.add(Cdr(call_id="c1", start=t0))
    engine.dispose()


def test_find_model_reaches_other_areas():
    assert db.find_model("cdrs") is Cdr
    assert db.find_model("no_such_table") is None
