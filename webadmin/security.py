"""Authentication and authorisation: login, roles and permissions, CSRF, IP allowlists,
login rate limiting, audit and error logging."""
from __future__ import annotations

import datetime as dt
import functools
import hmac
import ipaddress
import secrets
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from trunkline.data.db import session_scope
from trunkline.data.models import ROLES, AuditLog, ErrorLog, RoleAllowlist, User
from trunkline.webadmin.sessions import LoginLimiter, SessionStore

from .terms import http_message

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


def ip_in(ip: str, cidrs: str | None) -> bool:
    """True when `ip` is inside one of the networks of `cidrs` (a bad address: False)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in parse_cidrs(cidrs))


def restricted_to(user: User, ip: str, session_: Session) -> bool:
    """True when the account is restricted to some networks (its own or its role's list) and `ip` is inside."""
    own = bool(parse_cidrs(user.allow_cidrs))
    role = session_.scalars(select(RoleAllowlist).where(RoleAllowlist.role == user.role)).first() is not None
    return (own or role) and ip_allowed(user, ip, session_)


def sessions() -> SessionStore:
    """The app's server-side session store."""
    store: SessionStore = current_app.extensions["tl_sessions"]
    return store


def _dummy_hash() -> str:
    h = current_app.extensions.get("tl_dummy_hash")
    if h is None:
        h = current_app.extensions["tl_dummy_hash"] = hash_password(secrets.token_hex(16))
    return str(h)


def served_over_tls() -> bool:
    """True when this request came over TLS: HTTPS configured, a TLS socket, or (TRUST_PROXY) a TLS proxy."""
    cfg = current_app.config
    return bool(cfg.get("HTTPS") or request.is_secure or (
        cfg.get("TRUST_PROXY") and request.headers.get("X-Forwarded-Proto", "").lower() == "https"))


def would_lock_out(s: Session) -> str | None:
    """After a pending change in `s`: a message when the logged-in user's own address would be refused."""
    me = s.get(User, g.user.id)
    ip = client_ip()
    if me is None or ip_allowed(me, ip, s):
        return None
    return (f"refused: this change would lock you out (your address {ip} would no longer be allowed "
            f"for user {me.username!r} with role {me.role!r})")


# ---------------------------------------------------------------- login rate limiting

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
        abort(400, description=_("CSRF token missing or wrong"))


# ---------------------------------------------------------------- request hooks

PUBLIC_ENDPOINTS = {"auth.login", "static", "switch_language"}
#: operator endpoints (webadmin/health.py): no login, no session, no database lookup of a session user
SESSIONLESS_ENDPOINTS = {"health.healthz", "health.metrics"}


def is_navigation() -> bool:
    """Whether this request loads a page in the browser (not a script's fetch, EventSource or beacon).

    Browsers say so in Sec-Fetch-Mode; without it (older browsers, scripts, the test client) a request is a
    page load unless it asks only for an event stream or JSON. Only page loads are redirected to the login
    page or shown an HTML error: a script's request answered with the login page would start a new session
    and its cookie could replace the one a login form in the same browser was just given."""
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode:
        return mode == "navigate"
    accept = request.headers.get("Accept", "")
    return not accept or "text/html" in accept or not ("text/event-stream" in accept or "json" in accept)


def load_user() -> Response | None:
    """before_request: CSRF check, load g.user, enforce login and the IP allowlist on every request."""
    g.user = None
    if request.endpoint in SESSIONLESS_ENDPOINTS and request.method in ("GET", "HEAD"):
        return None
    check_csrf()
    uid = sessions().user(session.get("sid")) if "sid" in session else None
    if "sid" in session and uid is None:
        session.clear()                       # logged out, revoked or expired: the cookie opens nothing
    if uid is not None:
        with session_scope(db()) as s:
            u = s.get(User, uid)
            if u is not None and u.active:
                if not ip_allowed(u, client_ip(), s):
                    session.clear()
                    audit("ip_refused", request.path, username=u.username)
                    abort(403, description=_("your address is not allowed"))
                s.expunge(u)
                g.user = u
            else:
                sessions().revoke(session.get("sid"))
                session.clear()
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if request.path.startswith(("/live/stream", "/api/")) or request.method != "GET" or not is_navigation():
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
        limiter: LoginLimiter = current_app.extensions["tl_limiter"]
        with session_scope(db()) as s:     # short: no connection is held while the password is hashed
            u = s.scalars(select(User).where(User.username == username)).first()
            trusted = ip_in(ip, current_app.config.get("LOGIN_TRUSTED_NETWORKS")) or (
                u is not None and restricted_to(u, ip, s))
            uid, stored, active = (u.id, u.password_hash, u.active) if u is not None else (None, None, False)
        # guesses from outside an allowed network count against the account too (never the owner inside it)
        keys = ("ip:" + ip,) if trusted else ("ip:" + ip, "user:" + username.lower())
        wait = limiter.begin(*keys)          # counted before the hash: concurrent guesses cannot slip past
        if wait:
            audit("login_throttled", username, f"retry in {wait:.0f} s", username=username)
            error = _("Too many failed logins; try again in %(s)s s.", s=f"{wait:.0f}")
            return render_template("login.html", error=error), 429
        # the same scrypt work whether the user exists, is inactive or not: no timing tells them apart
        good = check_password_hash(stored if stored is not None else _dummy_hash(), password)
        ok = uid is not None and active and good
        if ok:
            with session_scope(db()) as s:
                u = s.get(User, uid)
                if u is None or not u.active:
                    ok = False
                elif not ip_allowed(u, ip, s):
                    audit("login_ip_refused", username, ip, username=username)
                    return render_template("login.html", error=_("Login from your address is not allowed.")), 403
                else:
                    u.last_login = dt.datetime.now(dt.timezone.utc)
                    lang = session.get("lang")        # the language chosen before logging in stays
                    session.clear()
                    if lang:
                        session["lang"] = lang
                    session.permanent = True
                    session["sid"] = sessions().create(u.id)   # the cookie carries only this random id
                    csrf_token()
                    dest = landing(u)
        if ok:
            limiter.success(*keys)
            audit("login", username, username=username)
            return redirect(local_path(request.args.get("next", "")) or dest)
        audit("login_failed", username, username=username)
        error, status = _("Wrong username or password."), 401
    return render_template("login.html", error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the session."""
    audit("logout", g.user.username if g.user else "")
    sessions().revoke(session.get("sid"))     # the old cookie opens nothing from now on
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
                error = _("Current password is wrong.")
            elif len(new) < 10:
                error = _("The new password needs at least 10 characters.")
            else:
                u.password_hash = hash_password(new)
                sessions().revoke_user(u.id, keep=session.get("sid"))   # every other session of theirs ends
                msg = _("Password changed.")
        if msg:
            audit("password_change", g.user.username)
    return render_template("password.html", msg=msg, error=error), (400 if error else 200)


def install(app: Flask) -> None:
    """Wire security into the app: hooks, limiter, template helpers, error logging."""
    app.extensions[INSTALLED] = True
    app.extensions["tl_limiter"] = LoginLimiter(app.config.get("LOGIN_MAX_FAILURES", 5),
                                                app.config.get("LOGIN_WINDOW_SECONDS", 300.0))
    lifetime = app.config.get("PERMANENT_SESSION_LIFETIME", dt.timedelta(hours=8))
    app.extensions["tl_sessions"] = SessionStore(lifetime.total_seconds(),
                                                 float(app.config.get("SESSION_IDLE_SECONDS", 7200.0)))
    if app.config.get("HTTPS"):
        app.config["SESSION_COOKIE_SECURE"] = True   # served over TLS (directly or behind a TLS proxy)
    app.before_request(load_user)
    app.jinja_env.globals.update(csrf_token=csrf_token, can=can, ROLES=ROLES)
    app.register_blueprint(bp)

    @app.after_request
    def _headers(resp: Response) -> Response:
        if served_over_tls():
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "media-src 'self'; frame-ancestors 'none'")
        return resp

    @app.errorhandler(Exception)
    def _error(exc: Exception) -> tuple[str | Response, int]:
        if isinstance(exc, HTTPException):
            if not is_navigation():                 # a script's request: JSON, and the session is left alone
                return jsonify({"ok": False, "error": http_message(exc)}), exc.code or 500
            return render_template("error.html", code=exc.code, message=http_message(exc)), exc.code or 500
        tb = traceback.format_exc()
        app.logger.error("unhandled error on %s: %s", request.path, tb)
        try:
            record_error(db(), "web", f"{request.method} {request.path}: {type(exc).__name__}: {exc}", tb)
        except SQLAlchemyError:     # the error page is still shown; the failure is in the application log
            app.logger.exception("error log write failed")
        if not is_navigation():
            return jsonify({"ok": False, "error": _("Internal error (logged).")}), 500
        return render_template("error.html", code=500, message=_("Internal error (logged).")), 500
