"""Durable writer for CDRs and queue events: never blocks the caller, never loses a record.

`put()` only stamps a sequence number and hands the record to a bounded queue
(or, when that queue is full because the database is slow, appends it to the
spool file directly). One background thread inserts into the database. When an
insert fails the thread switches to spool mode: every record goes to a local
append-only JSON-lines file, and every `retry_interval` seconds the thread tries
to replay that file in sequence order. Inserts use ON CONFLICT DO NOTHING on
each kind's unique key, so a replay after a partial failure never duplicates.

When the spool file cannot be written either (disk full, EIO: any OSError) the
records are kept in an in-memory backlog, in sequence order, bounded by
`max_backlog` records (default 100 000, roughly 50 MB of CDRs); past the bound
new records are dropped and counted in `stats["dropped"]`. Meanwhile `alarm`
holds a one-line description for the admin, `stats["spool_errors"]` counts the
failed appends, and a log line is written once per state change. Every
`retry_interval` seconds the thread retries both the database and the spool
file; the backlog goes to whichever works first, in sequence order, and the
alarm clears by itself. The thread never dies: any unexpected exception is
logged and the records in flight are kept.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Date, DateTime, Engine, FromClause, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from trunkline.data.models import Cdr, QueueEvent

log = logging.getLogger("trunkline.data.spool")


def _insert_ignore(conn, table, rows, key):
    """INSERT rows, skipping those whose unique `key` already exists (PostgreSQL and SQLite)."""
    name = conn.dialect.name
    if name == "postgresql":
        insert = pg_insert
    elif name == "sqlite":
        insert = sqlite_insert
    else:  # other dialects: filter existing keys first
        have = set(conn.execute(select(table.c[key]).where(table.c[key].in_([r[key] for r in rows]))).scalars())
        rows = [r for r in rows if r[key] not in have]
        if rows:
            conn.execute(table.insert(), rows)
        return
    conn.execute(insert(table).on_conflict_do_nothing(index_elements=[key]), rows)


class _Kind:
    def __init__(self, table, key):
        self.table = table
        self.key = key
        self.datetimes = {c.name for c in table.columns if isinstance(c.type, DateTime)}
        self.dates = {c.name for c in table.columns if isinstance(c.type, Date)}
        self.columns = {c.name for c in table.columns}


def _to_json(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"cannot spool {type(value).__name__}")


class DurableWriter:
    """Background writer of records (kind 'cdr', 'queue_event', or registered kinds) with a spool file."""

    def __init__(self, engine: Engine, spool_path: str, maxsize: int = 10000, retry_interval: float = 1.0,
                 batch_size: int = 200, max_backlog: int = 100_000) -> None:
        self.engine = engine
        self.max_backlog = max_backlog
        self._backlog: list[dict[str, Any]] = []  # records neither in the DB nor in the spool file (under _lock)
        self._spool_retry_at = 0.0  # monotonic time of the next attempt to move the backlog to the file
        self.alarm = ""  # non-empty while records can only be kept in memory (shown by the admin)
        self.spool_path = spool_path
        self.retry_interval = retry_interval
        self.batch_size = batch_size
        self._q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=maxsize)
        self._kinds: dict[str, _Kind] = {}
        self._lock = threading.Lock()  # guards the spool file and the seq counter
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()
        self.stats = {"written": 0, "spooled": 0, "replayed": 0, "overflow": 0, "errors": 0, "bad_lines": 0,
                      "spool_errors": 0, "dropped": 0, "backlog": 0}
        self.last_error = ""
        self.register("cdr", Cdr.__table__, "call_id")
        self.register("queue_event", QueueEvent.__table__, "uuid")
        d = os.path.dirname(os.path.abspath(spool_path))
        os.makedirs(d, exist_ok=True)

    def register(self, kind: str, table: FromClause, key: str) -> None:
        """Allow records of `kind` into `table`, deduplicated on unique column `key`."""
        self._kinds[kind] = _Kind(table, key)

    # ---------------------------------------------------------------- producer side (never blocks)
    def _next_seq(self):
        s = max(time.time_ns() // 1000, self._seq + 1)  # microseconds, strictly increasing
        self._seq = s
        return s

    def put(self, kind: str, row: Mapping[str, Any]) -> int:
        """Queue one record (dict of column values) for the database; returns its sequence number."""
        k = self._kinds.get(kind)
        if k is None:
            raise ValueError(f"unknown record kind {kind!r}")
        unknown = set(row) - k.columns
        if unknown:
            raise ValueError(f"{kind}: unknown columns {sorted(unknown)}")
        if row.get(k.key) in (None, ""):
            raise ValueError(f"{kind}: {k.key} is required")
        self._idle.clear()
        with self._lock:  # seq order == queue/file order: a replay snapshot never misses a lower seq
            seq = self._next_seq()
            rec = {"kind": kind, "seq": seq, "row": dict(row, seq=seq) if "seq" in k.columns else dict(row)}
            try:
                self._q.put_nowait(rec)
            except queue.Full:  # database slow: straight to disk (no fsync here), replayed in order
                self._spool_locked([rec])
                self.stats["overflow"] += 1
        return seq

    def write_cdr(self, **row: Any) -> int:
        """Queue a CDR (columns of trunkline.data.models.Cdr; call_id required)."""
        return self.put("cdr", row)

    def write_queue_event(self, **row: Any) -> int:
        """Queue a queue_log event (columns of trunkline.data.models.QueueEvent; uuid required)."""
        return self.put("queue_event", row)

    # ---------------------------------------------------------------- spool file
    def _append(self, recs):
        with self._lock:
            written = self._spool_locked(recs)
        if written:
            self._fsync()

    def _spool_locked(self, recs, retry=False):
        """Records to the spool file behind the backlog; when the file cannot be written, into the backlog.

        True when they (and the backlog) are on disk. Never raises OSError. While a backlog exists the
        file is tried again only every retry_interval (or when `retry`), not on every record.
        """
        if not recs and not self._backlog:
            return True
        if self._backlog and not retry and time.monotonic() < self._spool_retry_at:
            self._keep_locked(recs)
            return False
        todo = self._backlog + list(recs) if self._backlog else list(recs)
        try:
            self._append_locked(todo)
        except OSError as exc:
            self.stats["spool_errors"] += 1
            self._spool_retry_at = time.monotonic() + self.retry_interval
            self._keep_locked(recs)
            self._set_alarm(f"spool {self.spool_path} unwritable ({type(exc).__name__}: {exc}); "
                            "records held in memory")
            return False
        self._backlog = []
        self.stats["backlog"] = 0
        self._clear_alarm()
        return True

    def _keep_locked(self, recs):
        """Add records to the in-memory backlog, up to max_backlog (the rest are counted as dropped)."""
        room = max(0, self.max_backlog - len(self._backlog))
        if len(recs) > room:
            self.stats["dropped"] += len(recs) - room
            log.error("in-memory backlog full (%d records): %d records dropped", self.max_backlog, len(recs) - room)
        self._backlog.extend(recs[:room])
        self.stats["backlog"] = len(self._backlog)

    def _set_alarm(self, msg):
        if not self.alarm:
            log.error("record writer alarm: %s", msg)
        self.alarm = msg

    def _clear_alarm(self):
        if self.alarm:
            log.warning("record writer alarm cleared: records are stored again (%s)", self.alarm)
        self.alarm = ""

    def _fsync(self):
        """Force the spool file to disk (outside the lock: put() never waits on it)."""
        try:
            fd = os.open(self.spool_path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _append_locked(self, recs, sync=False):
        data = "".join(json.dumps(r, default=_to_json, separators=(",", ":")) + "\n" for r in recs)
        try:
            size = os.path.getsize(self.spool_path)
        except OSError:
            size = 0
        try:
            with open(self.spool_path, "a", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                if sync:
                    os.fsync(f.fileno())
        except OSError:
            try:  # a partial write would leave a torn line in the middle of the file: cut it off
                if os.path.exists(self.spool_path) and os.path.getsize(self.spool_path) > size:
                    os.truncate(self.spool_path, size)
            except OSError:
                log.exception("spool %s: cannot cut a partial write", self.spool_path)
            raise
        self.stats["spooled"] += len(recs)

    def _queue_to_spool_locked(self):
        rest = []
        while True:
            try:
                rest.append(self._q.get_nowait())
            except queue.Empty:
                break
        if rest:
            self._spool_locked(rest)

    def spool_pending(self) -> bool:
        """True when the spool file or the in-memory backlog holds records not yet in the database."""
        if self._backlog:
            return True
        try:
            return os.path.getsize(self.spool_path) > 0
        except OSError:
            return False

    @property
    def backlog(self) -> int:
        """Records held in memory because the spool file could not be written."""
        return len(self._backlog)

    def _read_spool(self):
        """(file records, file size read, backlog records) — together everything with a lower seq."""
        recs = []
        with self._lock:
            self._queue_to_spool_locked()  # everything with a lower seq is now in the file or the backlog
            self._spool_locked([], retry=True)  # backlog to disk if the disk takes it again
            kept = list(self._backlog)
            try:
                with open(self.spool_path, encoding="utf-8") as f:
                    lines = f.readlines()
                size = os.path.getsize(self.spool_path)
            except FileNotFoundError:
                lines, size = [], 0
        for line in lines:
            if not line.endswith("\n"):
                break  # torn write in progress (other thread appends under lock, so only a crash leaves this)
            try:
                recs.append(json.loads(line))
            except ValueError:
                self.stats["bad_lines"] += 1
                log.error("spool %s: unreadable line skipped: %r", self.spool_path, line[:200])
        return recs, size, kept

    def _replay(self):
        """Insert the whole spool in sequence order; truncate it once everything is in. True on success."""
        recs, size, kept = self._read_spool()
        recs = recs + kept  # backlog seqs follow the file's (nothing is appended while a backlog exists)
        if not recs:
            return True
        recs.sort(key=lambda r: r["seq"])
        for i in range(0, len(recs), self.batch_size):
            chunk = recs[i:i + self.batch_size]
            try:
                self._insert(chunk)
            except Exception:
                if not self._db_alive():
                    raise  # database down: keep everything spooled, retry later
                self._insert_one_by_one(chunk)
        with self._lock:
            # drop what we replayed; keep anything appended (or held in memory) meanwhile
            done = {id(r) for r in kept}
            self._backlog = [r for r in self._backlog if id(r) not in done]
            self.stats["backlog"] = len(self._backlog)
            rest = ""
            if size:
                with open(self.spool_path, "r+", encoding="utf-8") as f:
                    f.seek(size)
                    rest = f.read()
                    f.seek(0)
                    f.write(rest)
                    f.truncate()
                    f.flush()
                    os.fsync(f.fileno())
            if not self._backlog:
                self._clear_alarm()
        self.stats["replayed"] += len(recs)
        if rest or self._backlog:
            return self._replay()
        return True

    # ---------------------------------------------------------------- database side
    def _db_alive(self):
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _insert_one_by_one(self, recs):
        """Database up but a batch fails: insert row by row, set aside rows it refuses (with the error)."""
        for r in recs:
            try:
                self._insert([r])
            except Exception as exc:
                if not self._db_alive():
                    raise
                self.stats["rejected"] = self.stats.get("rejected", 0) + 1
                log.error("record refused by the database, kept in %s.rejected: %s", self.spool_path, exc)
                with open(self.spool_path + ".rejected", "a", encoding="utf-8") as f:
                    f.write(json.dumps(dict(r, error=str(exc).splitlines()[0]), default=_to_json) + "\n")

    def _decode(self, k, row):
        out = dict(row)
        for c in k.datetimes & out.keys():
            if isinstance(out[c], str):
                out[c] = dt.datetime.fromisoformat(out[c])
        for c in k.dates & out.keys():
            if isinstance(out[c], str):
                out[c] = dt.date.fromisoformat(out[c])
        return out

    def _insert(self, recs):
        with self.engine.begin() as conn:
            # keep order: consecutive runs of one kind go in one statement, in seq order
            run, kind = [], None
            for r in recs:
                if r["kind"] != kind and run:
                    k = self._kinds[kind]
                    _insert_ignore(conn, k.table, run, k.key)
                    run = []
                kind = r["kind"]
                run.append(self._decode(self._kinds[kind], r["row"]))
            if run:
                k = self._kinds[kind]
                _insert_ignore(conn, k.table, run, k.key)

    def _drain(self, block_timeout):
        batch = []
        try:
            batch.append(self._q.get(timeout=block_timeout))
        except queue.Empty:
            return batch
        while len(batch) < self.batch_size:
            try:
                batch.append(self._q.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        self._next_retry = 0.0
        while True:
            batch: list[dict[str, Any]] = []
            try:
                batch = self._drain(0.05)
                if self._step(batch):
                    return
            except Exception as exc:  # the writer never dies: keep the batch in flight, log, go on
                log.exception("record writer: unexpected error (records kept)")
                with self._lock:
                    self._keep_locked(batch)
                    self._set_alarm(f"writer error {type(exc).__name__}: {exc}")
                self._next_retry = time.monotonic() + self.retry_interval
                self._stop.wait(min(self.retry_interval, 0.5))

    def _step(self, batch: list[dict[str, Any]]) -> bool:
        """One turn of the writer loop with `batch` drained from the queue; True when the thread may end."""
        if batch:
            if self.spool_pending():
                with self._lock:  # keep order: behind what is already spooled (or held in memory)
                    written = self._spool_locked(batch)
                    self._queue_to_spool_locked()
                if written:
                    self._fsync()
            else:
                try:
                    self._insert(batch)
                    self.stats["written"] += len(batch)
                except Exception as exc:  # database down or failing
                    self._failed(exc)
                    self._append(batch)
                    self._next_retry = time.monotonic() + self.retry_interval
        if self.spool_pending() and time.monotonic() >= self._next_retry:
            try:
                self._replay()  # retries the spool file (backlog to disk) and the database
            except Exception as exc:
                self._failed(exc)
                self._next_retry = time.monotonic() + self.retry_interval
        if self._q.empty() and not self.spool_pending():
            self._idle.set()
        if self._stop.is_set() and self._q.empty():
            if not self.spool_pending() or time.monotonic() > self._stop_deadline:
                return True  # database still down: records stay in the spool file for the next start
        return False

    def _failed(self, exc):
        self.stats["errors"] += 1
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if msg != self.last_error:
            log.warning("database write failed, spooling to %s: %s", self.spool_path, msg)
        self.last_error = msg

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "DurableWriter":
        """Start the writer thread (replays a spool left by a previous run first)."""
        self._stop.clear()
        self._stop_deadline = math.inf        # monotonic time stop() gives the writer to drain
        thread = self._thread = threading.Thread(target=self._run, name="trunkline-db-writer", daemon=True)
        thread.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record so far is in the database; False on timeout (records stay spooled)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._idle.wait(min(0.05, max(0.0, end - time.monotonic())))
            if self._idle.is_set() and self._q.empty() and not self.spool_pending():
                return True
        return False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after draining the queue; what the database cannot take stays in the spool file."""
        if not self._thread:
            return
        self._stop_deadline = time.monotonic() + timeout
        self._stop.set()
        self._thread.join(timeout + 1.0)
        # anything still queued (thread gone) goes to disk, never lost
        with self._lock:
            self._queue_to_spool_locked()
            self._spool_locked([], retry=True)
            if self._backlog:
                log.error("record writer stopped with %d records only in memory (spool %s unwritable)",
                          len(self._backlog), self.spool_path)
        self._thread = None

    @property
    def pending(self) -> int:
        """Records queued in memory (not counting the spool file)."""
        return self._q.qsize()
