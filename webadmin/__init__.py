"""Trunkline web admin: Flask app factory `create_app(config, hub)` and `serve()` (waitress)."""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from functools import partial
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from trunkline.data import numbers
from trunkline.webadmin import config as config_pages
from trunkline.webadmin import (
    cti,
    hardware,
    health,
    i18n,
    live,
    messaging,
    moh,
    records,
    reports,
    schedule_adherence,
    security,
    softphone,
    staffing,
    supervisor,
    terms,
    testcall,
    typed_pages,
    workbench,
)
from trunkline.webadmin.hub import Hub

log = logging.getLogger("trunkline.webadmin")

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,              # shown for information; the hub brings the session factory
    "SECRET_KEY": None,                # random per process when unset (sessions end on restart)
    "SESSION_COOKIE_SECURE": False,    # True: the cookie only goes over HTTPS (HTTPS sets it)
    "HTTPS": False,                    # served over TLS (directly or behind a TLS proxy): Secure cookie + HSTS
    "SESSION_IDLE_SECONDS": 7200.0,    # a login session ends after this long without a request
    "LOGIN_TRUSTED_NETWORKS": "127.0.0.1/32 ::1/128",   # failed logins from here never lock an account
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "trunkline_session",
    "PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=8),
    "SESSION_REFRESH_EACH_REQUEST": False,   # the cookie is set at login (and on change), not on every poll
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
    "LOGIN_MAX_FAILURES": 5,           # per source address and per account ...
    "LOGIN_WINDOW_SECONDS": 300.0,     # ... in this window
    "TRUST_PROXY": False,              # take the client address from X-Forwarded-For
    "LIVE_INTERVAL": 1.0,              # s between SSE snapshots without events
    "LIVE_MIN_INTERVAL": 0.25,         # s at least between SSE snapshots
    "LIVE_STREAM_SECONDS": 55.0,       # an SSE response ends after this; EventSource reconnects
    "SSE_MAX_STREAMS": 12,             # open SSE streams in total (each holds a server thread) ...
    "SSE_MAX_PER_USER": 4,             # ... and per login; above: 503 with Retry-After
    "LIVE_MAX_ROWS": 500,              # channel rows sent (busy channels only above this)
    "SERVICE_LEVEL_SECONDS": 20.0,
    "STATS_CACHE_SECONDS": 5.0,
    "PROMPTS_DIR": "var/prompts",
    "MEDIA_DIRS": [],                  # extra directories files may be served from
    "METRICS_ALLOW": health.DEFAULT_METRICS_ALLOW,   # who may scrape /metrics (CIDRs; "" = nobody)
    "HEALTH_DB_TIMEOUT": 2.0,          # s /healthz and /metrics wait for the database's SELECT 1
    "TIMEZONE": "Asia/Shanghai",       # IANA zone of times shown, report days, exports (server: by tone zone)
}


def create_app(config: dict[str, Any] | None, hub: Hub) -> Flask:
    """Build the web admin over `hub`, the running server's facade (its session factory, engine, ACD...);
    a hub without an engine shows no live channels."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = secrets.token_bytes(32)
    app.config["HUB"] = hub
    app.config["SESSION_FACTORY"] = hub.session_factory

    security.install(app)
    i18n.install(app)                           # Flask-Babel: per-user language, Accept-Language default
    app.register_blueprint(live.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(config_pages.bp)
    app.register_blueprint(typed_pages.bp)        # typed config forms' JSON API
    app.register_blueprint(reports.bp)
    app.register_blueprint(messaging.bp)
    app.register_blueprint(cti.bp)              # the ACD's CTI streams + agent page
    app.register_blueprint(workbench.bp)        # the agent workbench (坐席工作台)
    app.register_blueprint(softphone.bp)        # its browser softphone (WebRTC)
    app.register_blueprint(supervisor.bp)       # the supervisor console (班长监控)
    app.register_blueprint(schedule_adherence.bp)   # its schedule adherence section + who should be signed in
    app.register_blueprint(staffing.bp)         # the Erlang C staffing calculator
    app.register_blueprint(health.bp)           # /healthz and /metrics for operators (no login)
    app.register_blueprint(moh.bp)              # music-on-hold classes
    app.register_blueprint(hardware.bp)         # boards, spans, alarm history, SIP (read from the board)
    app.register_blueprint(testcall.bp)         # test call into the hotline from the admin's browser phone

    notifier = live.Notifier()
    app.extensions["tl_notifier"] = notifier
    if hub.engine is not None and hub.engine.bus is not None:
        hub.engine.bus.subscribe(notifier.on_event)

    @app.template_filter("dur")
    def _dur(seconds: float | None) -> str:
        if seconds is None:
            return ""
        s = int(seconds)
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"

    app.add_template_filter(numbers.display, "phone")    # caller ID shown as people write it (138 0013 8000)
    app.add_template_filter(terms.term, "term")

    @app.template_filter("ts")
    def _ts(v: object) -> str:
        return i18n.local_time(v)

    return app


class Stopper:
    """Handle of a running waitress server: call stop() to shut it down."""

    def __init__(self, server: Any, thread: threading.Thread, app: Flask) -> None:
        self.server = server
        self.thread = thread
        self.app = app
        self.port = server.effective_port

    def stop(self, timeout: float = 5.0) -> None:
        """End live streams, finish running requests, close every connection, join the thread."""
        notifier = self.app.extensions.get("tl_notifier")
        if notifier is not None:
            notifier.shutdown()
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        # the sockets are closed in the server's own thread (its trigger runs the close between two polls):
        # closed from here, they vanish under the select() that thread is in, which then fails with EBADF
        close_all = partial(wasyncore.close_all, self.server._map)
        if self.thread.is_alive():
            self.server.trigger.pull_trigger(close_all)
            self.thread.join(timeout)
        if self.server._map:             # the loop had already ended (or did not answer in time)
            close_all()

    __call__ = stop


def serve(app: Flask, host: str = "127.0.0.1", port: int = 8080, threads: int = 32) -> Stopper:
    """Start waitress serving `app` in a daemon thread; returns a Stopper (port=0 picks a free port).

    Each open live page holds one thread for its Server-Sent Events stream, hence the thread count."""
    # idle and half-open connections are dropped after 30 s; many of them never stop new ones being accepted.
    # A body over MAX_CONTENT_LENGTH is refused (413) from its Content-Length before it is read, and a chunked
    # one as soon as it passes the limit: the server never buffers an oversized upload.
    limit = app.config.get("MAX_CONTENT_LENGTH") or 64 * 1024 * 1024
    server = create_server(app, host=host, port=port, threads=threads, channel_timeout=30, connection_limit=1000,
                           max_request_body_size=int(limit) + 1, ident="trunkline",
                           clear_untrusted_proxy_headers=True)
    t = threading.Thread(target=server.run, name="trunkline-web", daemon=True)
    t.start()
    log.info("web admin on http://%s:%s/", host, server.effective_port)
    return Stopper(server, t, app)
