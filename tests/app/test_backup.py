"""`trunkline admin backup` of a RUNNING `trunkline run` server, `trunkline admin restore` onto an empty
directory: every table's rows and every file compared; a corrupt archive and a non-empty target refused."""
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import tarfile
import time

from pg_fixture import _free_port as free_port
from pg_fixture import pg_server  # noqa: F401  (fixture)
from sqlalchemy import select

from trunkline.app.backup import backup, restore
from trunkline.app.cli import main
from trunkline.app.schema import migrate
from trunkline.data.accounts import bootstrap
from trunkline.data.config import Config
from trunkline.data.db import Base, make_session_factory, session_scope
from trunkline.data.models import Cdr, Recording

EXE = os.path.join(os.path.dirname(sys.executable), "trunkline")


def _tables(path, moved=("", "")):
    db = sqlite3.connect(path)
    names = [r[0] for r in db.execute("select name from sqlite_master where type='table' order by name")]
    rows = {n: sorted(repr(r).replace(*moved) for r in db.execute(f'select * from "{n}"')) for n in names}
    db.close()
    return rows


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            full = os.path.join(d, n)
            with open(full, "rb") as f:
                out[os.path.relpath(full, root)] = f.read()
    return out


def _cdrs_stored(path, deadline):
    """True once the server's database holds a CDR (its writer commits in batches after the call ends)."""
    while time.monotonic() < deadline:
        db = sqlite3.connect(path)
        try:
            if db.execute("select count(*) from cdrs").fetchone()[0]:
                return True
        except sqlite3.OperationalError:      # locked by the server's writer: look again
            pass
        finally:
            db.close()
        time.sleep(0.1)
    return False


def _restore(monkeypatch, capsys, var, *args):
    """`trunkline admin restore ARGS` in-process with TRUNKLINE_VAR_DIR=var; (exit code, stdout, stderr)."""
    monkeypatch.setenv("TRUNKLINE_VAR_DIR", str(var))
    code = main(["admin", "restore", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_backup_running_server_and_restore_onto_empty_dir(tmp_path, monkeypatch, capsys):
    src_var, cfg = tmp_path / "src" / "var", tmp_path / "src" / "trunkline.toml"
    cfg.parent.mkdir()
    cfg.write_text('language = "en"\ndemo_interval = 1.0\n')
    env = dict(os.environ, TRUNKLINE_VAR_DIR=str(src_var), TRUNKLINE_REALTIME="0")
    proc = subprocess.Popen([EXE, "run", "--config", str(cfg), "--port", str(free_port())], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    archive = tmp_path / "site.tar.gz"
    log = []
    try:
        completed, deadline = 0, time.monotonic() + 90
        while completed < 1 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            completed += "call completed" in line
        assert completed >= 1, "".join(log[-30:])
        assert _cdrs_stored(src_var / "trunkline.db", deadline + 30)   # the CDR writer batches: wait until durable
        monkeypatch.setenv("TRUNKLINE_VAR_DIR", str(src_var))
        assert main(["admin", "backup", str(archive), "--config", str(cfg)]) == 0   # server still running
        assert proc.poll() is None
        assert capsys.readouterr().out.startswith(f"backup written: {archive} (sqlite database, ")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    dst = tmp_path / "fresh"
    code, out, err = _restore(monkeypatch, capsys, dst / "var", archive, "--config", dst / "trunkline.toml")
    assert code == 0, err
    assert out.startswith(f"restored: {archive} into {dst / 'var'} (sqlite database, ")
    assert (dst / "trunkline.toml").read_bytes() == cfg.read_bytes()

    # the archive, unpacked independently, against the restored install: every table, every file
    ref = tmp_path / "ref"
    with tarfile.open(archive) as tar:
        tar.extractall(ref, filter="data")
    restored = _tables(dst / "var" / "trunkline.db")
    moved = (str(src_var) + "/", str(dst / "var") + "/")
    assert restored == _tables(ref / "db" / "trunkline.db", moved)
    assert restored["cdrs"] and restored["users"]
    db = sqlite3.connect(dst / "var" / "trunkline.db")
    paths = [p for t in restored for c in db.execute(f'pragma table_info("{t}")') if c[1] == "path"
             for (p,) in db.execute(f'select path from "{t}"')]
    db.close()
    paths = [p for p in paths if p.startswith("/")]
    assert all(p.startswith(moved[1]) and os.path.isfile(p) for p in paths), paths
    restored_files = _files(dst / "var")
    del restored_files["trunkline.db"]
    assert restored_files == _files(ref / "var")
    # ... and against the live source: same tables, rows a snapshot of it, prompts byte for byte
    source = _tables(src_var / "trunkline.db", moved)
    assert set(source) == set(restored)
    for name, rows in restored.items():
        assert len(rows) <= len(source[name]), name
    assert restored["users"] == source["users"]
    src_files = _files(src_var)
    prompts = [p for p in restored_files if p.startswith("prompts" + os.sep)]
    assert prompts and all(restored_files[p] == src_files[p] for p in prompts)

    # a second restore onto the now non-empty target is refused; --force overwrites
    code, _, err = _restore(monkeypatch, capsys, dst / "var", archive)
    assert code == 1 and "not empty (use --force" in err
    assert _restore(monkeypatch, capsys, dst / "var", archive, "--force")[0] == 0

    # a corrupt archive: clear error, target untouched
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    code, _, err = _restore(monkeypatch, capsys, tmp_path / "empty" / "var", bad)
    assert code == 1
    assert err.startswith("trunkline admin restore: corrupt backup"), err
    assert not (tmp_path / "empty" / "var" / "trunkline.db").exists()
    assert os.listdir(tmp_path / "empty" / "var") == []


def _pg_rows(engine, moved=("", "")):
    with engine.connect() as c:
        return {t.name: sorted(repr(tuple(r)).replace(*moved) for r in c.execute(select(t)))
                for t in Base.metadata.sorted_tables}


def test_postgresql_backup_restores_onto_postgresql_and_sqlite(tmp_path, pg_server):  # noqa: F811
    src_var = tmp_path / "src"
    (src_var / "recordings").mkdir(parents=True)
    (src_var / "recordings" / "a.wav").write_bytes(b"RIFF" + bytes(range(256)))
    engine = migrate(pg_server.create_database("bk_src"))
    factory = make_session_factory(engine)
    bootstrap(factory, out=lambda _: None)
    t0 = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.timezone.utc)
    with session_scope(factory) as s:
        for i in range(3):
            s.add(Cdr(call_id=f"c{i}", start=t0, caller="13800138000", outcome="answered", duration=1.5 * i))
        s.add(Recording(call_id="c0", path=str(src_var / "recordings" / "a.wav"), seconds=2.0, bytes=260))
    archive = str(tmp_path / "pg.tar.gz")
    res = backup(Config(var_dir=str(src_var), db_url=str(engine.url.render_as_string(hide_password=False))),
                 archive)
    assert res.database == "postgresql" and res.files == 2

    dst_var = tmp_path / "dst"
    dst_url = pg_server.create_database("bk_dst")
    restore(archive, Config(var_dir=str(dst_var), db_url=dst_url))
    dst = migrate(dst_url)
    moved = (str(src_var) + "/", str(dst_var) + "/")
    assert _pg_rows(dst) == _pg_rows(engine, moved)
    assert (dst_var / "recordings" / "a.wav").read_bytes() == (src_var / "recordings" / "a.wav").read_bytes()
    with session_scope(make_session_factory(dst)) as s:     # sequences continue after the restored ids
        s.add(Cdr(call_id="c3", start=t0))
    with dst.connect() as c:
        assert c.execute(select(Cdr.id).where(Cdr.call_id == "c3")).scalar() == 4

    sq_var = tmp_path / "sq"
    restore(archive, Config(var_dir=str(sq_var)))
    with sqlite3.connect(sq_var / "trunkline.db") as db:
        assert db.execute("select count(*), sum(duration) from cdrs").fetchone() == (3, 4.5)
        assert db.execute("select path from recordings").fetchone()[0] == str(sq_var / "recordings" / "a.wav")
    engine.dispose()
    dst.dispose()
