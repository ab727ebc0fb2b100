"""`trunkline admin backup` of a RUNNING `trunkline run` server, `trunkline admin restore` onto an empty
directory: every table's rows and every file compared; a corrupt archive and a non-empty target refused."""
import os
import sqlite3
import subprocess
import sys
import tarfile
import time

from tests.app.test_server import free_port

EXE = os.path.join(os.path.dirname(sys.executable), "trunkline")


def _tables(path):
    db = sqlite3.connect(path)
    names = [r[0] for r in db.execute("select name from sqlite_master where type='table' order by name")]
    rows = {n: sorted(map(repr, db.execute(f'select * from "{n}"'))) for n in names}
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


def _admin(*args, env):
    return subprocess.run([EXE, "admin", *args], env=env, capture_output=True, text=True, timeout=120)


def test_backup_running_server_and_restore_onto_empty_dir(tmp_path):
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
        while completed < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            completed += "call completed" in line
        assert completed >= 2, "".join(log[-30:])
        res = _admin("backup", str(archive), "--config", str(cfg), env=env)   # server still running
        assert res.returncode == 0, res.stderr
        assert proc.poll() is None
        assert res.stdout.startswith(f"backup written: {archive} (sqlite database, ")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    dst = tmp_path / "fresh"
    dst_env = dict(os.environ, TRUNKLINE_VAR_DIR=str(dst / "var"))
    res = _admin("restore", str(archive), "--config", str(dst / "trunkline.toml"), env=dst_env)
    assert res.returncode == 0, res.stderr
    assert (dst / "trunkline.toml").read_bytes() == cfg.read_bytes()

    # the archive, unpacked independently, against the restored install: every table, every file
    ref = tmp_path / "ref"
    with tarfile.open(archive) as tar:
        tar.extractall(ref, filter="data")
    restored = _tables(dst / "var" / "trunkline.db")
    assert restored == _tables(ref / "db" / "trunkline.db")
    assert restored["cdrs"] and restored["users"] and restored["recordings"]
    restored_files = _files(dst / "var")
    del restored_files["trunkline.db"]
    assert restored_files == _files(ref / "var")
    # ... and against the live source: same tables, rows a snapshot of it, prompts byte for byte
    source = _tables(src_var / "trunkline.db")
    assert set(source) == set(restored)
    for name, rows in restored.items():
        assert len(rows) <= len(source[name]), name
    assert restored["users"] == source["users"]
    src_files = _files(src_var)
    prompts = [p for p in restored_files if p.startswith("prompts" + os.sep)]
    assert prompts and all(restored_files[p] == src_files[p] for p in prompts)
    assert any(p.startswith("recordings" + os.sep) for p in restored_files)

    # a second restore onto the now non-empty target is refused; --force overwrites
    res = _admin("restore", str(archive), env=dst_env)
    assert res.returncode == 1 and "not empty (use --force" in res.stderr
    assert _admin("restore", str(archive), "--force", env=dst_env).returncode == 0

    # a corrupt archive: clear error, target untouched
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    empty_env = dict(os.environ, TRUNKLINE_VAR_DIR=str(tmp_path / "empty" / "var"))
    res = _admin("restore", str(bad), env=empty_env)
    assert res.returncode == 1
    assert res.stderr.startswith("trunkline admin restore: corrupt backup"), res.stderr
    assert not (tmp_path / "empty" / "var" / "trunkline.db").exists()
    assert os.listdir(tmp_path / "empty" / "var") == []
