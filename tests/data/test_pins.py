"""Agent and voicemail PINs (#16): stored hashed, checked in constant time, plaintext PINs of an older
database hashed by migration 0007_guard."""
import time

from alembic import command
from sqlalchemy import inspect, text

import trunkline.app.schema  # noqa: F401  (every area's models)
from trunkline.data import db
from trunkline.data import schema as data_schema
from trunkline.data.pins import check_pin, hash_pin, is_hashed, pin_for_storage


def test_hash_check_and_storage():
    h = hash_pin("2468")
    assert is_hashed(h) and check_pin("2468", h) and not check_pin("2469", h)
    assert hash_pin("2468") != h                                # salted
    assert not check_pin("2468", "2468") and not check_pin("", None) and not check_pin("1", "pbkdf2$x$y")
    assert pin_for_storage("") == "" and pin_for_storage(h) == h and check_pin("1234", pin_for_storage("1234"))


def test_wrong_unknown_and_right_pins_cost_the_same():
    h = hash_pin("2468")

    def cost(pin, stored):
        t = time.perf_counter()
        for _ in range(20):
            check_pin(pin, stored)
        return time.perf_counter() - t
    right, wrong, unknown, plain = cost("2468", h), cost("1111", h), cost("2468", None), cost("2468", "2468")
    # every case runs the one PBKDF2 (milliseconds); a short cut would be ~1000x cheaper
    assert min(wrong, unknown, plain) > right * 0.3


def _insert(conn, table, **given):
    """One row with `given` and a zero value in every other NOT NULL column of the table as it is now."""
    row = dict(given)
    for col in inspect(conn).get_columns(table):
        if col["name"] not in row and not col["nullable"] and not col.get("autoincrement") and col["name"] != "id":
            row[col["name"]] = "" if "CHAR" in str(col["type"]).upper() or "TEXT" in str(col["type"]).upper() else 0
    names = ", ".join(row)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in row)})"), row)


def test_migration_hashes_plaintext_pins(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as conn:
        command.upgrade(data_schema.alembic_config(conn), "0006_backup")
        _insert(conn, "acd_agents", id="1001", pin="2468")
        _insert(conn, "acd_agents", id="1002", pin="")
        _insert(conn, "ivr_voicemail_boxes", box="200", pin="9753")
        command.upgrade(data_schema.alembic_config(conn), "0007_guard")
        agents = dict(conn.execute(text("SELECT id, pin FROM acd_agents")).fetchall())
        box = conn.execute(text("SELECT pin FROM ivr_voicemail_boxes")).scalar()
    assert agents["1002"] == "" and is_hashed(agents["1001"]) and check_pin("2468", agents["1001"])
    assert is_hashed(box) and check_pin("9753", box)
