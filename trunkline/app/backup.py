"""`trunkline admin backup` / `restore`: one tar.gz holding a consistent database snapshot (SQLite online
backup API; PostgreSQL copied table by table inside one REPEATABLE READ transaction), every file under
var_dir (prompts, recordings, faxes) and the configuration file, with a manifest of SHA-256 checksums."""
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Engine, delete, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from trunkline.app.schema import migrate
from trunkline.data.config import Config
from trunkline.data.db import Base, make_engine

FORMAT = "trunkline-backup"
VERSION = 1
MANIFEST = "manifest.json"
DB_MEMBER = "db/trunkline.db"
CONFIG_PREFIX = "config/"
VAR_PREFIX = "var/"
_CHUNK = 1 << 20
_ROWS = 500


class BackupError(Exception):
    """A backup or restore that cannot proceed (corrupt archive, non-empty target, ...)."""


@dataclass
class BackupResult:
    """What a backup or restore handled: file count, bytes of file data, database kind."""
    files: int
    bytes: int
    database: str


def _sqlite_path(url: str) -> str | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise BackupError(f"cannot back up an in-memory database: {url}")
    return os.path.abspath(u.database)


def _snapshot_sqlite(src_path: str, dest_path: str) -> None:
    """Copy a live SQLite database with the online backup API (consistent while others write)."""
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(dest_path)
    try:
        src.backup(dst, pages=1024, sleep=0.005)
    finally:
        dst.close()
        src.close()


def _copy_tables(source: Engine, target: Engine, clear: bool) -> None:
    """Copy every model table's rows from `source` to `target` (same schema), source in one snapshot."""
    src_conn = source.connect()
    if source.dialect.name == "postgresql":
        src_conn = src_conn.execution_options(isolation_level="REPEATABLE READ")
    with src_conn as src, target.begin() as dst:
        if source.dialect.name == "postgresql":
            src.execute(text("SET TRANSACTION READ ONLY"))
        have_src = set(inspect(src).get_table_names())
        tables = [t for t in Base.metadata.sorted_tables if t.name in have_src]
        if clear:
            for t in reversed(tables):
                dst.execute(delete(t))
        for t in tables:
            result = src.execute(select(t))
            while rows := result.fetchmany(_ROWS):
                dst.execute(insert(t), [dict(r._mapping) for r in rows])
        if target.dialect.name == "postgresql":
            _reset_sequences(dst, tables)


def _reset_sequences(conn: Any, tables: list) -> None:
    for t in tables:
        for col in t.primary_key.columns:
            seq = conn.execute(text("select pg_get_serial_sequence(:t, :c)"), {"t": t.name, "c": col.name}).scalar()
            if seq:
                top = conn.execute(select(func.max(col))).scalar()
                conn.execute(text("select setval(:s, :v, :called)"),
                             {"s": seq, "v": top or 1, "called": top is not None})


def _skip_names(cfg: Config) -> set[str]:
    path = _sqlite_path(cfg.database_url)
    if path is None:
        return set()
    return {os.path.abspath(path + sfx) for sfx in ("", "-wal", "-shm", "-journal")}


class _HashingReader(io.RawIOBase):
    """Reads through to a file while hashing what was read."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.sha = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sha.update(data)
        return data


def _add_file(tar: tarfile.TarFile, path: str, arcname: str, manifest: dict[str, dict]) -> int:
    """Add one regular file; record its size and checksum as stored. Returns bytes (0 if it vanished)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return 0
    with f:
        info = tar.gettarinfo(arcname=arcname, fileobj=f)
        reader = _HashingReader(f)
        tar.addfile(info, reader)
    manifest[arcname] = {"sha256": reader.sha.hexdigest(), "size": info.size}
    return info.size


def backup(cfg: Config, out_path: str, config_path: str | None = None) -> BackupResult:
    """Write a backup archive of the installation `cfg` (and its config file) to `out_path`."""
    out_abs = os.path.abspath(out_path)
    files: dict[str, dict] = {}
    total = 0
    tmp = tempfile.mkdtemp(prefix="tl-backup-")
    try:
        snap = os.path.join(tmp, "trunkline.db")
        sqlite_src = _sqlite_path(cfg.database_url)
        if sqlite_src is not None:
            if not os.path.exists(sqlite_src):
                raise BackupError(f"no database at {sqlite_src}")
            _snapshot_sqlite(sqlite_src, snap)
            kind = "sqlite"
        else:
            target = migrate(f"sqlite:///{snap}")
            source = make_engine(cfg.database_url)
            try:
                _copy_tables(source, target, clear=True)   # rows the migrations seed are the source's to give
            finally:
                source.dispose()
                target.dispose()
            kind = make_url(cfg.database_url).get_backend_name()
        partial = out_abs + ".partial"
        skip = _skip_names(cfg) | {out_abs, partial}
        with tarfile.open(partial, "w:gz") as tar:
            total += _add_file(tar, snap, DB_MEMBER, files)
            if config_path:
                total += _add_file(tar, config_path, CONFIG_PREFIX + os.path.basename(config_path), files)
            var = os.path.abspath(cfg.var_dir)
            for root, dirs, names in os.walk(var):
                dirs.sort()
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if full in skip or not os.path.isfile(full) or os.path.islink(full):
                        continue
                    rel = os.path.relpath(full, var).replace(os.sep, "/")
                    total += _add_file(tar, full, VAR_PREFIX + rel, files)
            manifest = {"format": FORMAT, "version": VERSION, "created": time.time(), "database": kind,
                        "var_dir": var, "var_dir_as_configured": cfg.var_dir, "files": files}
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        os.replace(partial, out_abs)
        return BackupResult(len(files), total, kind)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return not name.startswith("/") and ".." not in parts and "" not in parts and "\\" not in name


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        member = tar.getmember(MANIFEST)
        f = tar.extractfile(member)
        manifest = json.loads(f.read()) if f else None
    except KeyError:
        raise BackupError("corrupt backup: no manifest.json (not a Trunkline backup?)") from None
    except ValueError as e:
        raise BackupError(f"corrupt backup: unreadable manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a Trunkline backup (manifest format mismatch)")
    if manifest.get("version") != VERSION:
        raise BackupError(f"unsupported backup version {manifest.get('version')!r} (this is {VERSION})")
    if DB_MEMBER not in manifest.get("files", {}):
        raise BackupError("corrupt backup: the manifest lists no database")
    return manifest


def _extract_verified(archive: str, dest: str) -> dict:
    """Extract into `dest`, checking every member against the manifest; returns the manifest."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest = _read_manifest(tar)
            want: dict[str, dict] = manifest["files"]
            seen = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.name not in want or not member.isfile() or not _safe_name(member.name):
                    raise BackupError(f"corrupt backup: unexpected member {member.name!r}")
                out = os.path.join(dest, *member.name.split("/"))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                sha, size = hashlib.sha256(), 0
                with open(out, "wb") as f:
                    while chunk := src.read(_CHUNK):
                        sha.update(chunk)
                        size += len(chunk)
                        f.write(chunk)
                if sha.hexdigest() != want[member.name]["sha256"] or size != want[member.name]["size"]:
                    raise BackupError(f"corrupt backup: checksum mismatch for {member.name}")
                seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
        raise BackupError(f"corrupt backup {archive}: {e}") from None
    missing = set(want) - seen
    if missing:
        raise BackupError(f"corrupt backup: missing {', '.join(sorted(missing)[:5])}")
    return manifest


def _db_has_rows(url: str) -> bool:
    path = _sqlite_path(url)
    if path is not None and not os.path.exists(path):
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
            return any(conn.execute(text(f'select 1 from "{n}" limit 1')).first() for n in names)
    finally:
        engine.dispose()


def restore(archive: str, cfg: Config, config_path: str | None = None, force: bool = False) -> BackupResult:
    """Restore `archive` onto the installation `cfg` (its config file to `config_path` if given).

    Refuses a target with a non-empty var_dir, database or config file unless `force`; verifies
    every checksum before touching the target."""
    if not os.path.isfile(archive):
        raise BackupError(f"no such backup file: {archive}")
    var = os.path.abspath(cfg.var_dir)
    if not force:
        if os.path.isdir(var) and os.listdir(var):
            raise BackupError(f"target {var} is not empty (use --force to overwrite)")
        if _db_has_rows(cfg.database_url):
            raise BackupError("target database is not empty (use --force to overwrite)")
    os.makedirs(var, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=".restore-", dir=var)
    try:
        manifest = _extract_verified(archive, stage)
        db_file = os.path.join(stage, *DB_MEMBER.split("/"))
        try:
            check = sqlite3.connect(db_file).execute("pragma integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise BackupError(f"corrupt backup: database unreadable ({e})") from None
        if check != "ok":
            raise BackupError(f"corrupt backup: database integrity check failed ({check})")
        total = 0
        for name in manifest["files"]:
            if name.startswith(VAR_PREFIX):
                dest = os.path.join(var, *name[len(VAR_PREFIX):].split("/"))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.replace(os.path.join(stage, *name.split("/")), dest)
                total += manifest["files"][name]["size"]
            elif name.startswith(CONFIG_PREFIX) and config_path:
                os.makedirs(os.path.dirname(os.path.abspath(config_path)), exist_ok=True)
                shutil.copyfile(os.path.join(stage, *name.split("/")), config_path)
        _relocate_paths(db_file, [manifest.get("var_dir"), manifest.get("var_dir_as_configured")], var)
        _restore_db(db_file, cfg.database_url)
        return BackupResult(len(manifest["files"]), total, make_url(cfg.database_url).get_backend_name())
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _relocate_paths(db_file: str, old: list[str | None], new: str) -> None:
    """Point file paths stored in the snapshot (recordings, faxes, voicemail, ...) at the new var_dir."""
    prefixes = sorted({p.rstrip("/") + "/" for p in old if isinstance(p, str) and p}, key=len, reverse=True)
    db = sqlite3.connect(db_file)
    try:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        for t in tables:
            cols = [r[1] for r in db.execute(f'pragma table_info("{t}")')
                    if r[1] == "path" or r[1].endswith("_path")]
            for c in cols:
                for p in prefixes:
                    db.execute(f'update "{t}" set "{c}" = ? || substr("{c}", ?) where substr("{c}", 1, ?) = ?',
                               (new + "/", len(p) + 1, len(p), p))
        db.commit()
    finally:
        db.close()


def _restore_db(db_file: str, url: str) -> None:
    """Put the archived SQLite snapshot into the target database (upgraded to the newest schema)."""
    migrate(f"sqlite:///{db_file}").dispose()
    path = _sqlite_path(url)
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        src, dst = sqlite3.connect(db_file), sqlite3.connect(path, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return
    target = migrate(url)
    source = make_engine(f"sqlite:///{db_file}")
    try:
        _copy_tables(source, target, clear=True)
    finally:
        source.dispose()
        target.dispose()
