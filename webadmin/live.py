"""Live pages: channels/spans, agents, queue wallboard, fed by Server-Sent Events."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.local import LocalProxy

from trunkline.acd.core import ACDError
from trunkline.acd.models import AcdAgent, AcdEntry, AcdMember, AcdQueue
from trunkline.acd.queues import QueueConfig, QueueConfigError
from trunkline.acd.store import Refused
from trunkline.data.db import session_scope

from . import figures, sse
from .health import engine_health
from .hub import Hub
from .security import audit, db, require
from .terms import terms

bp = Blueprint("live", __name__)
log = logging.getLogger("trunkline.webadmin.live")


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
                                              "busy": 0, "alarms": row["alarms"],
                                              "signaling": r.get("signaling") or ""})
        sp["channels"] += 1
        sp["busy"] += (r.get("state") or "idle") != "idle"
    busy = [r for r in out if r["state"] != "idle"]
    limit = current_app.config.get("LIVE_MAX_ROWS", 500)
    sip = eng.signaling_status() if eng is not None and hasattr(eng, "signaling_status") else []
    return {"spans": list(spans.values()), "channels": (busy if len(out) > limit else out)[:limit],
            "busy": len(busy), "total": len(out), "sip": sip, "engine": engine_health(_hub())}


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


def today_stats(sl_seconds: float | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Today's figures (the local calendar day of the TIMEZONE setting, webadmin.figures): per queue, per agent,
    overall (also spread at the top level), offered calls per local hour ("per_hour")."""
    tz = figures.zone(current_app.config.get("TIMEZONE"))
    now = now or dt.datetime.now(dt.timezone.utc)
    sl = float(current_app.config.get("SERVICE_LEVEL_SECONDS", 20.0)) if sl_seconds is None else sl_seconds
    a, b = figures.day_bounds(now.astimezone(tz).date(), tz)
    with session_scope(db()) as s:
        f = figures.compute(s, a, b, sl, tz=tz, now=now.timestamp())
    out: dict[str, Any] = dict(f["overall"])
    out.update(queues=f["queues"], agents=f["agents"], overall=f["overall"],
               per_hour=[h["offered"] for h in f["by_hour"]])
    return out


def _queues_from_tables() -> list[dict[str, Any]]:
    """Per-queue waiting / longest wait / available from the ACD tables (no ACD in this server)."""
    now = _clock()
    with session_scope(db()) as s:
        problems: dict[str, str] = {}
        for row in s.scalars(select(AcdQueue).order_by(AcdQueue.name)):
            try:
                QueueConfig.from_row(row)
            except (QueueConfigError, ValueError, TypeError) as exc:     # any stored value: reported, not raised
                problems[row.name] = str(exc)
        names = s.scalars(select(AcdQueue.name).order_by(AcdQueue.name)).all()
        waiting: dict[str, int] = {q: n for q, n in s.execute(
            select(AcdEntry.queue, func.count()).where(AcdEntry.state == "waiting").group_by(AcdEntry.queue))}
        oldest: dict[str, float] = {q: t for q, t in s.execute(
            select(AcdEntry.queue, func.min(AcdEntry.queue_since)).where(AcdEntry.state == "waiting")
            .group_by(AcdEntry.queue))}
        avail: dict[str, int] = {q: n for q, n in s.execute(
            select(AcdMember.queue, func.count()).join(AcdAgent, AcdAgent.id == AcdMember.agent)
            .where(AcdAgent.state == "available").group_by(AcdMember.queue))}
    out = [{"name": n, "waiting": waiting.get(n, 0),
            "longest_wait": round(max(0.0, now - oldest[n]), 1) if oldest.get(n) is not None else 0.0,
            "available": avail.get(n, 0)} for n in names]
    for r in out:
        if r["name"] in problems:
            r["error"] = problems[r["name"]]
    return out


def _live_queues() -> list[dict[str, Any]]:
    """Live per-queue rows from the ACD (else its tables); a queue whose stored configuration is invalid is
    still listed, from the tables, with its problem in "error" (a bad row never breaks the wallboard)."""
    acd = _hub().acd
    rows = _queues_from_tables()
    if acd is None:
        return rows
    try:
        return list(acd.queues_status())
    except (QueueConfigError, ValueError, TypeError) as exc:
        log.warning("queue status: %s", exc)
    good: list[dict[str, Any]] = []
    for r in rows:
        try:
            acd.core.queue_config(r["name"], reload=True)
        except (QueueConfigError, ValueError, TypeError) as exc:
            r["error"] = str(exc)
        good.append(r)
    return good


def queues_snapshot() -> dict[str, Any]:
    """Wallboard: live per-queue waiting/longest wait/available plus today's figures (cached 5 s); each queue
    row carries today's answered/abandoned/SL/ASA from webadmin.figures, the one definition."""
    queues = _live_queues()
    _stats_cache = current_app.extensions.setdefault("tl_stats_cache", {"at": 0.0, "value": None})
    t = time.monotonic()
    if _stats_cache["value"] is None or t - _stats_cache["at"] > current_app.config.get("STATS_CACHE_SECONDS", 5.0):
        _stats_cache["value"] = today_stats()
        _stats_cache["at"] = t
    today = _stats_cache["value"]
    for q in queues:
        f = today["queues"].get(q.get("name"), {})
        for k in ("offered", "answered", "abandoned", "service_level", "asa", "aht", "abandon_rate"):
            q[k] = f.get(k, 0 if k != "service_level" else None)
    return {"queues": queues, "today": today, "sl_seconds": current_app.config.get("SERVICE_LEVEL_SECONDS", 20.0),
            "errors": [f"{q['name']}: {q['error']}" for q in queues if q.get("error")]}


TOPICS: dict[str, Callable[[], dict[str, Any]]] = {"channels": channels_snapshot, "agents": agents_snapshot,
                                                  "queues": queues_snapshot}


def live_strings() -> dict[str, str]:
    """Words live.js shows, in the user's language (stored values: states, kinds, via terms)."""
    words = {
        "busy_of": _("%(busy)s busy of %(total)s channels"),
        "Span": _("Span"),
        "Kind": _("Kind"),
        "Channels": _("Channels"),
        "Busy": _("Busy"),
        "Alarms": _("Alarms"),
        "Signaling": _("Signaling"),
        "Channel": _("Channel"),
        "State": _("State"),
        "Caller": _("Caller"),
        "Called": _("Called"),
        "Duration": _("Duration"),
        "Call": _("Call"),
        "Agent": _("Agent"),
        "Name": _("Name"),
        "Reason": _("Reason"),
        "In state": _("In state"),
        "Calls": _("Calls"),
        "waiting calls": _("waiting calls"),
        "longest wait": _("longest wait"),
        "agents available": _("agents available"),
        "calls today": _("calls today"),
        "service level": _("service level"),
        "abandon rate": _("abandon rate"),
        "ASA": _("average speed of answer"),
        "avg talk": _("avg talk"),
        "avg handle": _("avg handle"),
        "Queue": _("Queue"),
        "Waiting": _("Waiting"),
        "Longest wait": _("Longest wait"),
        "Available": _("Available"),
        "Logged in": _("Logged in"),
        "On break": _("On break"),
        "EWT": _("EWT"),
        "SL today": _("Service level today"),
        "Answered": _("Answered"),
        "Abandoned": _("Abandoned"),
        "per hour": _("Calls per hour today"),
        "live": _("live"),
        "reconnecting": _("reconnecting…"),
        "problem": _("Configuration problem"),
        "answered today": _("answered today"),
    }
    words.update({f"term:{k}": v for k, v in terms().items()})
    return words


@bp.route("/")
@bp.route("/live/channels")
@require("live.view")
def channels() -> str:
    """Spans and channels page."""
    return render_template("live.html", topic="channels", title=_("Channels"), live_strings=live_strings())


@bp.route("/live/agents")
@require("live.view")
def agents() -> str:
    """Agents page."""
    return render_template("live.html", topic="agents", title=_("Agents"), live_strings=live_strings())


@bp.route("/live/wallboard")
@require("live.view")
def wallboard() -> str:
    """Queue wallboard for the big screen."""
    return render_template("live.html", topic="queues", title=_("Queue wallboard"), live_strings=live_strings())


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
        abort(400, description=_("mode must be listen, whisper or barge, with an agent"))
    station = request.form.get("station", "")
    audit(mode, f"agent:{agent}", f"supervisor station {station}")
    acd = _hub().acd
    if acd is None:
        abort(501, description=_("the ACD is not running in this server; nothing to monitor"))
    try:
        result = acd.monitor(agent=agent, mode=mode, supervisor=g.user.username, station=station)
    except Refused as exc:           # does not apply now (no call, the phone did not answer): say why
        abort(409, description=str(exc))
    except ACDError as exc:          # bad request
        abort(400, description=str(exc))
    return jsonify({"ok": True, "result": result})
