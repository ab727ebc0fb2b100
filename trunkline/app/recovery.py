"""Crash recovery for `trunkline run` (kill -9, power loss, OOM killer): interim call records while the server
runs, and at the next start the repair of what the dead process left open.

While running, `var/run/state.json` says the server is up (pid, start time), and every `interval_s` seconds
`var/run/calls.json` is rewritten atomically (temporary file, fsync, rename) with the interim CDR of every call
in progress: the CDR row as if the call ended at that moment. A clean stop removes both files.

At start, when `state.json` is still there the last run did not stop cleanly:

- every WAV file under the recording roots modified since that run started gets its RIFF and data sizes set
  from the file length (media.wavrepair), so the audio written up to the last flushed block plays;
- every call of the last interim snapshot gets its CDR, ending at the snapshot time (at most `interval_s`
  before the crash) with outcome "interrupted". A call whose final CDR had already been written keeps it:
  CDRs are unique by call_id and the writer never replaces a stored one.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from trunkline.data.spool import DurableWriter
from trunkline.media import Engine
from trunkline.media.cdr import CdrRecorder, cdr_row
from trunkline.media.wavrepair import repair_tree

log = logging.getLogger("trunkline.server")

#: outcome of a CDR closed at restart from the interim record of a call that was up when the server died
INTERRUPTED = "interrupted"


@dataclass
class Recovery:
    """What the start-up repair found: whether the last run crashed, the WAVs repaired, the CDRs closed."""
    crashed: bool = False
    wavs: list[str] = field(default_factory=list)
    cdrs: int = 0


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()}


def _write_atomic(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:   # torn or unreadable: what it held is lost, the start goes on
        log.error("recovery: %s unreadable (%s); ignored", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


class RunJournal:
    """The run marker and interim call records of one server's var dir (see the module docstring)."""

    def __init__(self, var_dir: str, interval_s: float = 10.0) -> None:
        self.dir = os.path.join(var_dir, "run")
        self.state_path = os.path.join(self.dir, "state.json")
        self.calls_path = os.path.join(self.dir, "calls.json")
        self.interval_s = interval_s
        self.snapshots = 0

    def recover(self, writer: DurableWriter, roots: list[str]) -> Recovery:
        """Repair after an unclean stop (nothing when the last run stopped cleanly)."""
        state = _read(self.state_path)
        if not os.path.exists(self.state_path):
            return Recovery()
        started = float(state.get("started", 0.0) or 0.0)
        wavs: list[str] = []
        for root in roots:
            if os.path.isdir(root):
                wavs += repair_tree(root, since=started - 1.0)
        calls = _read(self.calls_path).get("calls", [])
        n = 0
        for row in calls if isinstance(calls, list) else []:
            if isinstance(row, dict) and row.get("call_id"):
                writer.write_cdr(**{**row, "outcome": INTERRUPTED})
                n += 1
        log.warning("recovery: the last run (pid %s) did not stop cleanly: %d WAV headers repaired, %d CDRs of "
                    "calls that were up closed at their last interim record", state.get("pid", "?"), len(wavs), n)
        for p in (self.calls_path, self.state_path):
            if os.path.exists(p):
                os.remove(p)
        return Recovery(True, wavs, n)

    def mark_running(self) -> None:
        """Say this server is up (removed by mark_clean on a clean stop)."""
        os.makedirs(self.dir, exist_ok=True)
        _write_atomic(self.state_path, {"pid": os.getpid(), "started": time.time()})

    def snapshot(self, engine: Engine, recorder: CdrRecorder) -> dict[str, Any]:
        """The interim CDR rows of every call in progress now (times on the wall clock)."""
        if recorder.epoch is None:
            recorder.epoch = time.time() - engine.now
        rows = [_jsonable(cdr_row(call, recorder.server, recorder.epoch)) for call in list(engine.calls.values())]
        return {"time": time.time(), "calls": rows}

    def write(self, data: dict[str, Any]) -> None:
        """Replace the interim records file with `data` (atomic)."""
        _write_atomic(self.calls_path, data)
        self.snapshots += 1

    async def run(self, engine: Engine, recorder: CdrRecorder) -> None:
        """Every interval_s seconds, write the interim records of the calls in progress (file I/O off the loop)."""
        last: list[str] | None = None
        while True:
            await asyncio.sleep(self.interval_s)
            data = self.snapshot(engine, recorder)
            ids = [r["call_id"] for r in data["calls"]]
            if ids or last:                      # nothing to say twice about an idle server
                await asyncio.to_thread(self.write, data)
            last = ids

    def mark_clean(self) -> None:
        """The server stopped cleanly: every call has its final CDR; nothing to repair at the next start."""
        for p in (self.calls_path, self.state_path):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass
