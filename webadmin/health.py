"""Operator endpoints: `GET /healthz` (JSON liveness/readiness) and `GET /metrics` (Prometheus text).

Both are served without a login or a session (security.SESSIONLESS_ENDPOINTS): load balancers and scrapers
do not log in.

- /healthz answers 200 with a small JSON body when the engine is running and the database answers
  `SELECT 1` within HEALTH_DB_TIMEOUT seconds, else 503 with the reasons. It carries counts only: no URLs,
  no user names, no error texts (a driver's message can hold a host or a user; those go to the log).
- /metrics is the Prometheus text exposition format 0.0.4, every name prefixed `trunkline_`, written by hand
  here (a dozen lines; no prometheus_client global registry). It is served only to client addresses inside
  METRICS_ALLOW (CIDRs separated by spaces or commas; default loopback only, "127.0.0.1/32 ::1/128"; empty:
  nobody); anyone else gets 403. With TRUST_PROXY the address is X-Forwarded-For's first hop.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import threading
from collections.abc import Callable, Iterable

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.orm import Session

from trunkline.acd.agents import STATES as AGENT_STATES
from trunkline.data import procstat
from trunkline.webadmin.hub import Hub
from trunkline.webadmin.security import client_ip, parse_cidrs

log = logging.getLogger("trunkline.webadmin.health")

bp = Blueprint("health", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_METRICS_ALLOW = "127.0.0.1/32 ::1/128"


class DatabaseProbe:
    """`SELECT 1` through the session factory, bounded: at most one probe thread at a time, and a caller waits
    at most `timeout` s (a hung database leaves one daemon thread waiting, never one per request)."""

    def __init__(self, factory: Callable[[], Session], timeout: float = 2.0) -> None:
        self.factory = factory
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: threading.Event | None = None

    def _probe(self, done: threading.Event, result: dict[str, object]) -> None:
        try:
            with self.factory() as s:
                s.execute(text("SELECT 1"))
            result["ok"] = True
        except Exception as exc:   # any failure means unreachable; the text goes to the log, never the body
            log.warning("health check: database unreachable: %s: %s", type(exc).__name__, exc)
            result["ok"], result["error"] = False, type(exc).__name__
        finally:
            done.set()

    def check(self) -> tuple[bool, str]:
        """(reachable, reason): reason is "" when reachable, else a short text without secrets."""
        with self._lock:
            if self._running is not None and not self._running.is_set():
                return False, "database check from an earlier request still has no answer"
            done, result = threading.Event(), dict[str, object]()
            self._running = done
            threading.Thread(target=self._probe, args=(done, result), name="trunkline-health-db",
                             daemon=True).start()
        if not done.wait(self.timeout):
            return False, f"database gave no answer within {self.timeout:g} s"
        if result.get("ok"):
            return True, ""
        return False, f"database unreachable ({result.get('error', 'error')})"


def _hub() -> Hub:
    hub: Hub = current_app.config["HUB"]
    return hub


def _probe() -> DatabaseProbe:
    probe = current_app.extensions.get("tl_db_probe")
    if probe is None:
        probe = current_app.extensions["tl_db_probe"] = DatabaseProbe(
            current_app.config["SESSION_FACTORY"], float(current_app.config.get("HEALTH_DB_TIMEOUT", 2.0)))
    return probe


def engine_health(hub: Hub) -> dict[str, object]:
    """The engine's tick watch, overload state and the record writer's alarm, for the admin and /healthz."""
    out: dict[str, object] = {}
    engine = hub.engine
    if engine is not None:
        ts, ov = engine.tick_stats, engine.overload_state
        out.update({"running": engine.running, "realtime": ts.realtime, "ticks": ts.ticks, "ticks_late": ts.late,
                    "tick_worst_ms": round(ts.worst_tick_s * 1000, 2), "lag_ms": round(ts.lag_s * 1000, 1),
                    "load": round(ov.load, 3), "max_load": ov.max_load, "overloaded": ov.overloaded,
                    "rejected_overload": ov.rejected, "accepting": engine.accepting})
    if hub.writer is not None:
        out["writer_alarm"] = hub.writer.alarm
    return out


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    """200 {"status": "ok", ...} when the engine runs and the database answers, else 503 with "reasons"."""
    hub = _hub()
    reasons = []
    engine = hub.engine
    body: dict[str, object] = {}
    if engine is None:
        reasons.append("no media engine")
        body["engine"] = {"running": False}
    else:
        ts, ov = engine.tick_stats, engine.overload_state
        body["engine"] = {"running": engine.running, "channels": engine.channels, "calls_active": len(engine.calls),
                          "realtime": ts.realtime, "ticks": ts.ticks, "ticks_late": ts.late,
                          "tick_worst_seconds": round(ts.worst_tick_s, 6), "tick_load": round(ov.load, 3),
                          "overloaded": ov.overloaded, "accepting_calls": engine.accepting and not ov.overloaded}
        if not engine.running:
            reasons.append("media engine is not running")
        board = getattr(engine, "board", None)
        if board is not None and hasattr(board, "health"):
            board_health = dict(board.health())          # e.g. the dahdi:// device gone, span alarms, counters
            body["board"] = board_health
            if board_health.get("status", "ok") != "ok":
                reasons.append(f"board: {board_health['status']}")
    db_ok, db_reason = _probe().check()
    body["database"] = {"reachable": db_ok}
    if not db_ok:
        reasons.append(db_reason)
    if hub.writer is not None:
        body["spool"] = {"pending": hub.writer.pending, "file_pending": hub.writer.spool_pending()}
    body = {"status": "unavailable" if reasons else "ok", **body}
    if reasons:
        body["reasons"] = reasons
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp, 503 if reasons else 200


# ---------------------------------------------------------------- /metrics

def metrics_allowed(ip: str, allow: str | None) -> bool:
    """True when `ip` is inside one of the networks of `allow` (IPv4-mapped IPv6 addresses count as IPv4)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return any(a in n for n in parse_cidrs(allow) for a in (addr, mapped) if a is not None and a.version == n.version)


def _value(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return "NaN" if math.isnan(v) else repr(float(v))


def _label(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    """Lines of the Prometheus text format: one family (HELP, TYPE, samples) per add()."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, object], float]]) -> None:
        """Family `trunkline_<name>` of `kind` (gauge/counter) with (labels, value) samples."""
        full = "trunkline_" + name
        self.lines.append(f"# HELP {full} {help_}")
        self.lines.append(f"# TYPE {full} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{full}{{{lab}}} {_value(value)}" if lab else f"{full} {_value(value)}")

    def one(self, name: str, kind: str, help_: str, value: float) -> None:
        """A family with a single unlabelled sample."""
        self.add(name, kind, help_, [({}, value)])

    def text(self) -> str:
        """The exposition body."""
        return "\n".join(self.lines) + "\n"


def exposition(hub: Hub, db_ok: bool) -> str:
    """The metrics of `hub` (engine, tick watch, spool, ACD) in the Prometheus text format."""
    out = Exposition()
    out.one("database_up", "gauge", "1 when the database answered SELECT 1.", db_ok)
    out.one("process_resident_memory_bytes", "gauge", "Resident memory of the server process.",
            procstat.rss_kib() * 1024)
    out.one("process_peak_resident_memory_bytes", "gauge", "Highest resident memory of the server process since start.",
            procstat.peak_rss_kib() * 1024)
    out.one("process_open_fds", "gauge", "File descriptors the server process has open.", procstat.open_fds())
    out.one("process_cpu_seconds_total", "counter", "CPU time of the server process, user + system, all threads.",
            procstat.cpu_seconds())
    engine = hub.engine
    if engine is not None:
        ts = engine.tick_stats
        out.one("engine_running", "gauge", "1 while the media engine ticks.", engine.running)
        out.one("channels", "gauge", "Bearer channels of the board.", engine.channels)
        out.one("calls_active", "gauge", "Calls on the board now.", len(engine.calls))
        out.add("calls_total", "counter",
                "Calls since start: offered (inbound), answered, completed (flow ended normally), failed (flow error).",
                [({"outcome": k}, v) for k, v in dict(engine.stats).items()])
        out.one("ticks_total", "counter", "Engine ticks (one 20 ms block for every channel).", ts.ticks)
        out.one("ticks_late_total", "counter",
                "Ticks handed to the board after their deadline (real time only).", ts.late)
        out.one("tick_worst_seconds", "gauge", "Largest tick processing time (board wait excluded).", ts.worst_tick_s)
        out.one("tick_seconds_total", "counter", "Sum of tick processing times.", ts.busy_s)
        out.one("tick_lag_seconds", "gauge", "How late the last tick reached the board (0 = on time).", ts.lag_s)
        out.one("tick_deadline_seconds", "gauge", "The tick deadline period (the board's block time).", ts.block_s)
        out.one("realtime", "gauge", "1 when the board paces ticks to the wall clock.", ts.realtime)
        ov = engine.overload_state
        out.one("tick_load", "gauge", "Smoothed tick processing time as a share of the block time.", ov.load)
        out.one("overload_limit", "gauge", "Tick load above which new calls get congestion (0 = off).", ov.max_load)
        out.one("overloaded", "gauge", "1 while new calls are refused with cause 42 (overload control).",
                ov.overloaded)
        out.one("calls_rejected_overload_total", "counter", "New calls refused by overload control.", ov.rejected)
        out.one("accepting_calls", "gauge", "0 once the server drains before stopping.", engine.accepting)
        trim = engine.heap_trim.snapshot()
        out.one("heap_trims_total", "counter", "Freed heap given back to the system between ticks (malloc_trim).",
                trim.trims)
        out.one("heap_trim_seconds_total", "counter", "Sum of heap trim times (on the loop, between ticks).",
                trim.busy_s)
        out.one("heap_trim_worst_seconds", "gauge", "Slowest heap trim.", trim.worst_s)
    writer = hub.writer
    if writer is not None:
        out.one("spool_pending", "gauge", "Records queued in memory for the database.", writer.pending)
        out.one("writer_alarm", "gauge", "1 while the record writer can keep records only in memory.",
                bool(writer.alarm))
        out.one("spool_file_pending", "gauge", "1 while the spool file holds records not yet in the database.",
                writer.spool_pending())
        out.add("spool_records_total", "counter", "Records through the durable writer, by result.",
                [({"result": k}, v) for k, v in dict(writer.stats).items()])
    acd = hub.acd
    if acd is not None:
        counts = dict.fromkeys(AGENT_STATES, 0)
        for row in acd.agents_status():
            counts[str(row.get("state"))] = counts.get(str(row.get("state")), 0) + 1
        out.add("acd_agents", "gauge", "ACD agents by state.", [({"state": k}, v) for k, v in counts.items()])
        queues = acd.queues_status()
        out.add("acd_waiting", "gauge", "Calls waiting per ACD queue.",
                [({"queue": q["name"]}, int(q.get("waiting", 0))) for q in queues])
        out.add("acd_longest_wait_seconds", "gauge", "Longest current wait per ACD queue.",
                [({"queue": q["name"]}, float(q.get("longest_wait", 0.0))) for q in queues])
    return out.text()


@bp.route("/metrics")
def metrics() -> Response:
    """Prometheus text exposition; 403 unless the client address is inside METRICS_ALLOW."""
    if not metrics_allowed(client_ip(), current_app.config.get("METRICS_ALLOW", DEFAULT_METRICS_ALLOW)):
        return Response("metrics are not served to this address\n", 403, content_type="text/plain; charset=utf-8")
    db_ok, _ = _probe().check()
    resp = Response(exposition(_hub(), db_ok), 200, content_type=CONTENT_TYPE)
    resp.headers["Cache-Control"] = "no-store"
    return resp
