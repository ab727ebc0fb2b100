"""Live pages: channels/spans, agents, queue wallboard, fed by Server-Sent Events."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, render_template, request
from sqlalchemy import func, select
from werkzeug.local import LocalProxy

from trunkline.acd.core import ACDError
from trunkline.acd.models import AcdAgent, AcdEntry, AcdMember, AcdQueue
from trunkline.acd.store import Refused
from trunkline.data.db import session_scope
from trunkline.data.models import Cdr

from . import sse
from .hub import Hub
from .security import audit, db, require

bp = Blueprint("live", __name__)


class Notifier:
    """Wakes every SSE stream when the engine's bus publishes (the bus callback only sets events)."""

    def __init__(self) -> None:
        self._waiters: set[threading.Event] = set()
        self._lock = threading.Lock()
        self.events = 0
        self.closed = False

    def shutdown(self) -> None:
        """End every SSE stream at its next wake-up (server stopping)."""
        self.closed = True
        self.on_event(None)

    def on_event(self, event: dict[str, Any] | None) -> None:
        """Bus callback: never blocks the tick loop."""
        self.events += 1
        with self._lock:
            waiters = list(self._waiters)
        for w in waiters:
            w.set()

    def waiter(self) -> threading.Event:
        """A new threading.Event set on every bus event."""
        ev = threading.Event()
        with self._lock:
            self._waiters.add(ev)
        return ev

    def drop(self, ev: threading.Event) -> None:
        """Forget a waiter (stream closed)."""
        with self._lock:
            self._waiters.discard(ev)


def _hub() -> Hub:
    hub: Hub = current_app.config["HUB"]
    return hub


def _clock() -> float:
    now = getattr(_hub().engine, "now", None)
    return now if isinstance(now, (int, float)) else time.time()


def channels_snapshot() -> dict[str, Any]:
    """Rows for the channel page, plus one summary row per span (alarms, busy count)."""
    eng = _hub().engine
    rows = list(eng.status()) if eng is not None else []
    now = _clock()
    spans: dict[Any, dict[str, Any]] = {}
    out = []
    for r in rows:
        dur = r.get("duration")
        if dur is None and r.get("since") is not None:
            dur = max(0.0, now - r["since"])
        row = {k: r.get(k) for k in ("channel", "span", "kind", "state", "caller", "called", "call_id")}
        row["duration"] = round(float(dur or 0.0), 1)
        al = r.get("alarms") or []
        row["alarms"] = al if isinstance(al, (list, tuple)) else [str(al)] if al else []
        out.append(row)
        sp = spans.setdefault(r.get("span"), {"span": r.get("span"), "kind": r.get("kind"), "channels": 0,
                                              "busy": 0, "alarms": row["alarms"]})
        sp["channels"] += 1
        sp["busy"] += (r.get("state") or "idle") != "idle"
    busy = [r for r in out if r["state"] != "idle"]
    limit = current_app.config.get("LIVE_MAX_ROWS", 500)
    return {"spans": list(spans.values()), "channels": (busy if len(out) > limit else out)[:limit],
            "busy": len(busy), "total": len(out)}


def agents_snapshot() -> dict[str, Any]:
    """Agents: id, name, state, reason, time in state (s), calls (from the ACD, else its tables)."""
    acd = _hub().acd
    if acd is not None:
        return {"agents": list(acd.agents_status())}
    now = _clock()
    with session_scope(db()) as s:
        rows = s.scalars(select(AcdAgent).order_by(AcdAgent.id)).all()
        return {"agents": [{"id": a.id, "name": a.name, "state": a.state, "reason": a.reason,
                            "in_state": round(max(0.0, now - (a.state_since or now)), 1),
                            "calls": a.calls_taken} for a in rows]}


def today_stats(queue: str | None = None, sl_seconds: float = 20.0,
                now: dt.datetime | None = None) -> dict[str, Any]:
    """Today's queue figures from the CDRs (UTC day): calls per hour, averages (s), SL and abandon (%)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with session_scope(db()) as s:
        q = select(Cdr.start, Cdr.outcome, Cdr.wait, Cdr.talk, Cdr.wrapup, Cdr.queue).where(
            Cdr.start >= day0, Cdr.queue.is_not(None))
        if queue:
            q = q.where(Cdr.queue == queue)
        rows = s.execute(q).all()
    return summarize(rows, sl_seconds, hours_of=True)


def summarize(rows: Sequence[Any], sl_seconds: float = 20.0, hours_of: bool = False) -> dict[str, Any]:
    """Queue figures over CDR rows (start, outcome, wait, talk, wrapup, ...): counts, ASA, AHT, SL %, abandon %."""
    offered = len(rows)
    answered = [r for r in rows if r.outcome == "answered"]
    abandoned = [r for r in rows if r.outcome == "abandoned"]
    waits = [r.wait for r in answered if r.wait is not None]
    talks = [r.talk for r in answered if r.talk is not None]
    handles = [(r.talk or 0.0) + (r.wrapup or 0.0) for r in answered if r.talk is not None]
    all_waits = [r.wait for r in rows if r.wait is not None]
    in_sl = sum(1 for r in answered if (r.wait or 0.0) <= sl_seconds)
    out: dict[str, Any] = {
        "offered": offered, "answered": len(answered), "abandoned": len(abandoned),
        "asa": round(sum(waits) / len(waits), 1) if waits else 0.0,
        "avg_wait": round(sum(all_waits) / len(all_waits), 1) if all_waits else 0.0,
        "avg_talk": round(sum(talks) / len(talks), 1) if talks else 0.0,
        "aht": round(sum(handles) / len(handles), 1) if handles else 0.0,
        "service_level": round(100.0 * in_sl / offered, 1) if offered else 100.0,
        "abandon_rate": round(100.0 * len(abandoned) / offered, 1) if offered else 0.0,
    }
    if hours_of:
        per_hour = [0] * 24
        for r in rows:
            st = r.start if r.start.tzinfo else r.start.replace(tzinfo=dt.timezone.utc)
            per_hour[st.astimezone(dt.timezone.utc).hour] += 1
        out["per_hour"] = per_hour
    return out


def _queues_from_tables() -> list[dict[str, Any]]:
    """Per-queue waiting / longest wait / available from the ACD tables (no ACD in this server)."""
    now = _clock()
    with session_scope(db()) as s:
        names = s.scalars(select(AcdQueue.name).order_by(AcdQueue.name)).all()
        waiting: dict[str, int] = {q: n for q, n in s.execute(
            select(AcdEntry.queue, func.count()).where(AcdEntry.state == "waiting").group_by(AcdEntry.queue))}
        oldest: dict[str, float] = {q: t for q, t in s.execute(
            select(AcdEntry.queue, func.min(AcdEntry.queue_since)).where(AcdEntry.state == "waiting")
            .group_by(AcdEntry.queue))}
        avail: dict[str, int] = {q: n for q, n in s.execute(
            select(AcdMember.queue, func.count()).join(AcdAgent, AcdAgent.id == AcdMember.agent)
            .where(AcdAgent.state == "available").group_by(AcdMember.queue))}
    return [{"name": n, "waiting": waiting.get(n, 0),
             "longest_wait": round(max(0.0, now - oldest[n]), 1) if oldest.get(n) is not None else 0.0,
             "available": avail.get(n, 0)} for n in names]


def queues_snapshot() -> dict[str, Any]:
    """Wallboard: live per-queue waiting/longest wait/available plus today's figures (cached 5 s)."""
    acd = _hub().acd
    queues = list(acd.queues_status()) if acd is not None else _queues_from_tables()
    _stats_cache = current_app.extensions.setdefault("tl_stats_cache", {"at": 0.0, "value": None})
    t = time.monotonic()
    if _stats_cache["value"] is None or t - _stats_cache["at"] > current_app.config.get("STATS_CACHE_SECONDS", 5.0):
        _stats_cache["value"] = today_stats(sl_seconds=current_app.config.get("SERVICE_LEVEL_SECONDS", 20.0))
        _stats_cache["at"] = t
    return {"queues": queues, "today": _stats_cache["value"],
            "sl_seconds": current_app.config.get("SERVICE_LEVEL_SECONDS", 20.0)}


TOPICS: dict[str, Callable[[], dict[str, Any]]] = {"channels": channels_snapshot, "agents": agents_snapshot,
                                                  "queues": queues_snapshot}


@bp.route("/")
@bp.route("/live/channels")
@require("live.view")
def channels() -> str:
    """Spans and channels page."""
    return render_template("live.html", topic="channels", title="Channels")


@bp.route("/live/agents")
@require("live.view")
def agents() -> str:
    """Agents page."""
    return render_template("live.html", topic="agents", title="Agents")


@bp.route("/live/wallboard")
@require("live.view")
def wallboard() -> str:
    """Queue wallboard for the big screen."""
    return render_template("live.html", topic="queues", title="Queue wallboard")


@bp.route("/api/live/<topic>")
@require("live.view")
def snapshot(topic: str) -> Response:
    """One JSON snapshot of a live topic."""
    if topic not in TOPICS:
        abort(404)
    return jsonify(TOPICS[topic]())


@bp.route("/live/stream/<topic>")
@require("live.view")
def stream(topic: str) -> Response:
    """Server-Sent Events: a snapshot on every bus event (at most every LIVE_MIN_INTERVAL s) and every
    LIVE_INTERVAL s."""
    if topic not in TOPICS:
        abort(404)
    app: Flask = cast("LocalProxy[Flask]", current_app)._get_current_object()   # the app behind the proxy
    fn = TOPICS[topic]
    notifier = app.extensions["tl_notifier"]
    interval = app.config.get("LIVE_INTERVAL", 1.0)
    min_interval = app.config.get("LIVE_MIN_INTERVAL", 0.25)
    lifetime = app.config.get("LIVE_STREAM_SECONDS", 55.0)

    def gen() -> Iterator[str]:
        ev = notifier.waiter()
        end = time.monotonic() + lifetime
        last = None
        try:
            yield sse.retry(1000)
            while time.monotonic() < end and not notifier.closed:
                with app.app_context():
                    data = json.dumps(fn(), separators=(",", ":"), default=str)
                if data != last:
                    yield sse.message(data, event=topic)
                    last = data
                else:
                    yield sse.KEEPALIVE
                ev.wait(interval)
                ev.clear()
                if notifier.closed:
                    return
                time.sleep(min_interval)
        finally:
            notifier.drop(ev)

    return sse.event_stream(gen())


@bp.route("/live/monitor", methods=["POST"])
@require("monitor")
def monitor() -> Response:
    """Supervisor listen / whisper / barge on an agent's call (audited); carried out by the ACD."""
    agent = request.form.get("agent", "")
    mode = request.form.get("mode", "")
    if mode not in ("listen", "whisper", "barge") or not agent:
        abort(400, description="mode must be listen, whisper or barge, with an agent")
    station = request.form.get("station", "")
    audit(mode, f"agent:{agent}", f"supervisor station {station}")
    acd = _hub().acd
    if acd is None:
        abort(501, description="the ACD is not running in this server; nothing to monitor")
    try:
        result = acd.monitor(agent=agent, mode=mode, supervisor=g.user.username, station=station)
    except Refused as exc:           # does not apply now (no call, the phone did not answer): say why
        abort(409, description=str(exc))
    except ACDError as exc:          # bad request
        abort(400, description=str(exc))
    return jsonify({"ok": True, "result": result})
