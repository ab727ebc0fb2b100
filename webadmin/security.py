"""Authentication and authorisation: login, roles and permissions, CSRF, IP allowlists,
login rate limiting, audit and error logging."""
from __future__ import annotations

import datetime as dt
import functools
import hmac
import ipaddress
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from trunkline.data.db import session_scope
from trunkline.data.models import ROLES, AuditLog, ErrorLog, RoleAllowlist, User

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: app.extensions key set by install(): the app's login, CSRF and permission hooks guard every request
INSTALLED = "tl_security"

#: permission -> roles that have it (pages and actions)
PERMISSIONS = {
    "live.view": {"admin", "supervisor", "agent", "viewer"},
    "records.view": {"admin", "supervisor", "viewer"},
    "recordings.listen": {"admin", "supervisor"},
    "reports.view": {"admin", "supervisor", "viewer"},
    "config.view": {"admin", "supervisor"},
    "config.edit": {"admin", "supervisor"},
    "monitor": {"admin", "supervisor"},  # listen / whisper / barge
    "users.manage": {"admin"},
    "security.manage": {"admin"},  # role IP allowlists, per-user allowlists
    "logs.view": {"admin"},
}


def hash_password(password: str) -> str:
    """scrypt hash (werkzeug) of a password."""
    return generate_password_hash(password, method="scrypt")


def can(perm: str, role: str | None = None) -> bool:
    """True when `role` (default: the logged-in user's) has permission `perm`."""
    role = role if role is not None else (g.user.role if getattr(g, "user", None) else None)
    return role in PERMISSIONS.get(perm, set())


def installed(app: Flask) -> bool:
    """True when install() put the login hooks on `app` (False: a blueprint mounted without them)."""
    return bool(app.extensions.get(INSTALLED))


def require(perm: str) -> Callable[[F], F]:
    """Route decorator: 403 unless the logged-in user's role has `perm`."""
    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            if not can(perm):
                audit("denied", request.path, perm)
                abort(403)
            return fn(*a, **kw)
        wrapper.__dict__["permission"] = perm      # which permission guards the view
        return cast(F, wrapper)
    return deco


def db() -> Callable[[], Session]:
    """The session factory of the running app."""
    return current_app.config["SESSION_FACTORY"]


def client_ip() -> str:
    """Remote address (X-Forwarded-For's first hop only when TRUST_PROXY is set)."""
    if current_app.config.get("TRUST_PROXY") and request.headers.get("X-Forwarded-For"):
        return request.headers["X-Forwarded-For"].split(",")[0].strip()
    return request.remote_addr or ""


def audit(action: str, target: object = "", detail: object = "", username: str | None = None) -> None:
    """Record who (user), from which IP, when, did what (action on target)."""
    user = username if username is not None else (g.user.username if getattr(g, "user", None) else "")
    try:
        with session_scope(db()) as s:
            s.add(AuditLog(username=user, ip=client_ip(), action=action, target=str(target)[:255],
                           detail=str(detail)))
    except SQLAlchemyError:      # the request goes on; the failure is in the application log
        current_app.logger.exception("audit log write failed")


def record_error(factory: Callable[[], Session], source: str, message: str, tb: str = "") -> None:
    """Store an error in the error log (admins see it on /admin/errors)."""
    with session_scope(factory) as s:
        s.add(ErrorLog(source=source, message=str(message)[:4000], traceback=tb))


# ---------------------------------------------------------------- IP allowlist

def parse_cidrs(text: str | None) -> list[IpNetwork]:
    """Networks from a comma/space separated CIDR list; raises ValueError naming a bad entry."""
    nets = []
    for part in (text or "").replace(",", " ").split():
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not an IP network: {part!r}") from None
    return nets


def ip_allowed(user: User, ip: str, session_: Session) -> bool:
    """True when `ip` is inside the user's own allowlist and the role's allowlist (empty = any)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    own = parse_cidrs(user.allow_cidrs)
    if own and not any(addr in n for n in own):
        return False
    role_nets = [ipaddress.ip_network(r.cidr, strict=False) for r in
                 session_.scalars(select(RoleAllowlist).where(RoleAllowlist.role == user.role))]
    if role_nets and not any(addr in n for n in role_nets):
        return False
    return True


def would_lock_out(s: Session) -> str | None:
    """After a pending change in `s`: a message when the logged-in user's own address would be refused."""
    me = s.get(User, g.user.id)
    ip = client_ip()
    if me is None or ip_allowed(me, ip, s):
        return None
    return (f"refused: this change would lock you out (your address {ip} would no longer be allowed "
            f"for user {me.username!r} with role {me.role!r})")


# ---------------------------------------------------------------- login rate limiting

class RateLimiter:
    """At most `max_failures` failed logins per key (IP, username) in `window` seconds."""

    def __init__(self, max_failures: int = 5, window: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window = window
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> float:
        """Seconds until the first of `keys` may try again (0 = not blocked)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for k in keys:
                lst = [t for t in self._fails.get(k, []) if now - t < self.window]
                self._fails[k] = lst
                if len(lst) >= self.max_failures:
                    wait = max(wait, self.window - (now - lst[0]))
        return wait

    def fail(self, *keys: str) -> None:
        """Count one failed attempt against each key."""
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._fails.setdefault(k, []).append(now)

    def reset(self, *keys: str) -> None:
        """Forget the failures of `keys` (after a good login)."""
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)


# ---------------------------------------------------------------- CSRF

def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    tok = session.get("_csrf")
    if not tok:
        tok = session["_csrf"] = secrets.token_urlsafe(32)
    return tok


def check_csrf() -> None:
    """Abort 400 unless a state-changing request carries the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    tok = session.get("_csrf") or ""
    if not tok or not hmac.compare_digest(sent, tok):
        audit("csrf_refused", request.path)
        abort(400, description="CSRF token missing or wrong")


# ---------------------------------------------------------------- request hooks

PUBLIC_ENDPOINTS = {"auth.login", "static", "switch_language"}
#: operator endpoints (webadmin/health.py): no login, no session, no database lookup of a session user
SESSIONLESS_ENDPOINTS = {"health.healthz", "health.metrics"}


def load_user() -> Response | None:
    """before_request: CSRF check, load g.user, enforce login and the IP allowlist on every request."""
    g.user = None
    if request.endpoint in SESSIONLESS_ENDPOINTS and request.method in ("GET", "HEAD"):
        return None
    check_csrf()
    uid = session.get("uid")
    if uid is not None:
        with session_scope(db()) as s:
            u = s.get(User, uid)
            if u is not None and u.active and session.get("pwv") == u.password_hash[-16:]:
                if not ip_allowed(u, client_ip(), s):
                    session.clear()
                    audit("ip_refused", request.path, username=u.username)
                    abort(403, description="your address is not allowed")
                s.expunge(u)
                g.user = u
            else:
                session.clear()
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if request.path.startswith(("/live/stream", "/api/")) or request.method != "GET":
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path))
    return None


def local_path(target: str) -> str | None:
    """`target` when it is a path on this site (for the redirect after login), else None.

    Browsers drop tabs/newlines and read "\\" as "/" in URLs, so "/\t/evil" or "/\\evil" lead off-site
    like "//evil": a target with any control character, whitespace or backslash is refused outright."""
    if not target.startswith("/") or target.startswith("//"):
        return None
    if any(ch <= " " or ch == "\x7f" or ch == "\\" or not ch.isprintable() for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def landing(user: User) -> str:
    """Where a login lands: an agent on their workbench, a supervisor on the console, others on the live pages."""
    if user.agent_id and user.role == "agent":
        return url_for("desk.workbench", agent_id=user.agent_id)
    if user.role == "supervisor":
        return url_for("supervisor.console")
    return url_for("live.channels")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    """Log in with username and password (rate limited, allowlist checked, audited)."""
    error = None
    status = 200
    dest = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        ip = client_ip()
        limiter = current_app.extensions["tl_limiter"]
        keys = ("ip:" + ip, "user:" + username.lower())
        wait = limiter.blocked(*keys)
        if wait:
            audit("login_throttled", username, f"retry in {wait:.0f} s", username=username)
            return render_template("login.html", error=f"Too many failed logins; try again in {wait:.0f} s."), 429
        with session_scope(db()) as s:
            u = s.scalars(select(User).where(User.username == username)).first()
            ok = u is not None and u.active and check_password_hash(u.password_hash, password)
            if u is not None and ok and not ip_allowed(u, ip, s):
                audit("login_ip_refused", username, ip, username=username)
                return render_template("login.html", error="Login from your address is not allowed."), 403
            if u is not None and ok:
                u.last_login = dt.datetime.now(dt.timezone.utc)
                session.clear()
                session.permanent = True
                session["uid"] = u.id
                session["pwv"] = u.password_hash[-16:]  # a password change ends other sessions
                csrf_token()
                dest = landing(u)
        if ok:
            limiter.reset(*keys)
            audit("login", username, username=username)
            return redirect(local_path(request.args.get("next", "")) or dest)
        limiter.fail(*keys)
        audit("login_failed", username, username=username)
        error, status = "Wrong username or password.", 401
    return render_template("login.html", error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the session."""
    audit("logout", g.user.username if g.user else "")
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> tuple[str, int]:
    """Change one's own password (old password required)."""
    msg = error = None
    if request.method == "POST":
        old, new = request.form.get("old", ""), request.form.get("new", "")
        with session_scope(db()) as s:
            u = s.get(User, g.user.id)
            if u is None:                       # deleted while logged in
                abort(401)
            if not check_password_hash(u.password_hash, old):
                error = "Current password is wrong."
            elif len(new) < 10:
                error = "The new password needs at least 10 characters."
            else:
                u.password_hash = hash_password(new)
                session["pwv"] = u.password_hash[-16:]
                msg = "Password changed."
        if msg:
            audit("password_change", g.user.username)
    return render_template("password.html", msg=msg, error=error), (400 if error else 200)


def install(app: Flask) -> None:
    """Wire security into the app: hooks, limiter, template helpers, error logging."""
    app.extensions[INSTALLED] = True
    app.extensions["tl_limiter"] = RateLimiter(app.config.get("LOGIN_MAX_FAILURES", 5),
                                               app.config.get("LOGIN_WINDOW_SECONDS", 300.0))
    app.before_request(load_user)
    app.jinja_env.globals.update(csrf_token=csrf_token, can=can, ROLES=ROLES)
    app.register_blueprint(bp)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "media-src 'self'; frame-ancestors 'none'")
        return resp

    @app.errorhandler(Exception)
    def _error(exc: Exception) -> tuple[str, int]:
        if isinstance(exc, HTTPException):
            return render_template("error.html", code=exc.code, message=exc.description), exc.code or 500
        tb = traceback.format_exc()
        app.logger.error("unhandled error on %s: %s", request.path, tb)
        try:
            record_error(db(), "web", f"{request.method} {request.path}: {type(exc).__name__}: {exc}", tb)
        except SQLAlchemyError:     # the error page is still shown; the failure is in the application log
            app.logger.exception("error log write failed")
        return render_template("error.html", code=500, message="Internal error (logged)."), 500
