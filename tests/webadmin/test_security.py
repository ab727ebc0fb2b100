"""Web admin security through the Flask test client: login, hashing, CSRF, roles, allowlist, rate limit, audit."""
import pytest
from sqlalchemy import select
from web_fixtures import USERS, csrf_of, login, make_app

from trunkline.data import db
from trunkline.data.models import AuditLog, ErrorLog, RoleAllowlist, User


@pytest.fixture
def app(tmp_path):
    app, _ = make_app(tmp_path)
    return app


def _audit(app, action=None):
    with db.session_scope(app.config["SESSION_FACTORY"]) as s:
        q = select(AuditLog).order_by(AuditLog.id)
        if action:
            q = q.where(AuditLog.action == action)
        return [(a.username, a.ip, a.action, a.target, a.detail) for a in s.scalars(q)]


def test_login_required_and_password_hashed(app):
    c = app.test_client()
    r = c.get("/cdrs")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert c.get("/api/live/channels").status_code == 401
    assert login(c, "admin", "wrong-password").status_code == 401
    r = login(c, "admin")
    assert r.status_code == 302
    assert c.get("/cdrs").status_code == 200
    with db.session_scope(app.config["SESSION_FACTORY"]) as s:
        h = s.scalars(select(User.password_hash).where(User.username == "admin")).one()
    assert h.startswith("scrypt:") and USERS["admin"] not in h
    assert ("admin", "127.0.0.1", "login", "admin", "") in _audit(app)
    assert any(a[2] == "login_failed" for a in _audit(app))


def test_session_cookie_flags(tmp_path):
    app, _ = make_app(tmp_path, SESSION_COOKIE_SECURE=True)
    c = app.test_client()
    r = c.get("/login")
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie, cookie
    assert r.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_post_without_csrf_refused(app):
    c = app.test_client()
    # the login form itself needs the token
    c.get("/login")
    r = c.post("/login", data={"username": "admin", "password": USERS["admin"]})
    assert r.status_code == 400
    login(c, "admin")
    r = c.post("/config/table/blacklist", data={"op": "create", "pattern": "400"})
    assert r.status_code == 400 and b"CSRF" in r.data
    r = c.post("/config/table/blacklist", data={"op": "create", "pattern": "400", "csrf_token": "forged"})
    assert r.status_code == 400
    tok = csrf_of(c.get("/config/table/blacklist").get_data(as_text=True))
    r = c.post("/config/table/blacklist", data={"op": "create", "pattern": "400", "match": "prefix",
                                                "action": "reject", "cause": "21", "csrf_token": tok})
    assert r.status_code == 302
    assert any(a[2] == "csrf_refused" for a in _audit(app))
    changes = _audit(app, "config_create")
    assert changes and changes[0][0] == "admin" and changes[0][3] == "ivr_blacklist" and '"400"' in changes[0][4]


@pytest.mark.parametrize("user,allowed,denied", [
    ("viewer", ["/", "/cdrs", "/reports", "/live/wallboard"],
     ["/config", "/config/flows", "/config/table/queues", "/config/users", "/admin/audit", "/recordings/1/audio"]),
    ("agent", ["/", "/live/agents"], ["/cdrs", "/reports", "/config", "/config/users"]),
    ("super", ["/config", "/config/table/queues", "/cdrs"], ["/config/users", "/admin/audit", "/admin/errors"]),
    ("admin", ["/config", "/config/users", "/admin/audit", "/admin/errors"], []),
])
def test_role_permissions_per_page(app, user, allowed, denied):
    c = app.test_client()
    login(c, user)
    for p in allowed:
        assert c.get(p).status_code == 200, (user, p)
    for p in denied:
        assert c.get(p).status_code == 403, (user, p)


def test_viewer_cannot_change_config_even_with_token(app):
    c = app.test_client()
    login(c, "viewer")
    tok = csrf_of(c.get("/").get_data(as_text=True))
    r = c.post("/config/table/blacklist", data={"op": "create", "pattern": "1", "csrf_token": tok})
    assert r.status_code == 403
    assert any(a[0] == "viewer" and a[2] == "denied" for a in _audit(app))


def test_ip_allowlist_per_user_and_per_role(app):
    f = app.config["SESSION_FACTORY"]
    with db.session_scope(f) as s:
        s.scalars(select(User).where(User.username == "super")).one().allow_cidrs = "10.1.0.0/16, 192.168.5.7"
        s.add(RoleAllowlist(role="viewer", cidr="172.16.0.0/12"))
    c = app.test_client()
    assert login(c, "super", ip="127.0.0.1").status_code == 403
    assert login(c, "super", ip="10.1.200.3").status_code == 302
    assert c.get("/cdrs", environ_base={"REMOTE_ADDR": "10.1.200.3"}).status_code == 200
    # same session from another address: refused and logged out
    assert c.get("/cdrs", environ_base={"REMOTE_ADDR": "8.8.8.8"}).status_code == 403
    assert c.get("/cdrs", environ_base={"REMOTE_ADDR": "10.1.200.3"}).status_code == 302
    c2 = app.test_client()
    assert login(c2, "viewer", ip="127.0.0.1").status_code == 403
    assert login(c2, "viewer", ip="172.20.1.1").status_code == 302
    assert any(a[2] == "login_ip_refused" and a[1] == "127.0.0.1" for a in _audit(app))


def test_login_rate_limited(app):
    c = app.test_client()
    for _ in range(5):
        assert login(c, "admin", "nope-nope", ip="203.0.113.5").status_code == 401
    r = login(c, "admin", ip="203.0.113.5")  # right password, but locked
    assert r.status_code == 429
    # the same address is blocked for every username; another address for another username is not;
    # the same username from another outside address is (the account limit)
    assert login(app.test_client(), "viewer", ip="203.0.113.5").status_code == 429
    assert login(app.test_client(), "viewer", ip="203.0.113.6").status_code == 302
    assert login(app.test_client(), "admin", ip="203.0.113.7").status_code == 429
    assert any(a[2] == "login_throttled" for a in _audit(app))


def test_password_change_ends_other_sessions(app):
    a, b = app.test_client(), app.test_client()
    login(a, "super")
    login(b, "super")
    tok = csrf_of(a.get("/account/password").get_data(as_text=True))
    r = a.post("/account/password", data={"old": USERS["super"], "new": "a-much-better-pass", "csrf_token": tok})
    assert r.status_code == 200 and b"Password changed" in r.data
    assert a.get("/cdrs").status_code == 200
    assert b.get("/cdrs").status_code == 302


def test_user_management_and_audit(app):
    c = app.test_client()
    login(c, "admin")
    tok = csrf_of(c.get("/config/users").get_data(as_text=True))
    r = c.post("/config/users", data={"op": "create", "username": "neo", "role": "viewer", "password": "short",
                                      "csrf_token": tok})
    assert r.status_code == 400 and b"10 characters" in r.data
    r = c.post("/config/users", data={"op": "create", "username": "neo", "role": "viewer", "password": "long-enough-pw",
                                      "allow_cidrs": "not-a-net", "csrf_token": tok})
    assert r.status_code == 400 and b"not an IP network" in r.data
    r = c.post("/config/users", data={"op": "create", "username": "neo", "role": "supervisor",
                                      "password": "long-enough-pw", "allow_cidrs": "127.0.0.0/8", "csrf_token": tok})
    assert r.status_code == 200
    assert login(app.test_client(), "neo", "long-enough-pw").status_code == 302
    assert [a[:4] for a in _audit(app, "user_create")] == [("admin", "127.0.0.1", "user_create", "user:neo")]


def test_errors_are_logged_and_shown_to_admins(app):
    @app.route("/boom")
    def boom():
        raise RuntimeError("kaboom 42")
    c = app.test_client()
    login(c, "admin")
    assert c.get("/boom").status_code == 500
    with db.session_scope(app.config["SESSION_FACTORY"]) as s:
        e = s.scalars(select(ErrorLog)).one()
        assert "kaboom 42" in e.message and "RuntimeError" in e.traceback
    assert b"kaboom 42" in c.get("/admin/errors").data


def test_monitor_is_audited_and_needs_permission(app):
    c = app.test_client()
    login(c, "viewer")
    tok = csrf_of(c.get("/").get_data(as_text=True))
    assert c.post("/live/monitor", data={"agent": "1001", "mode": "barge", "csrf_token": tok}).status_code == 403

    class Acd:
        calls = []

        def monitor(self, **kw):
            self.calls.append(kw)
            return "ok"
    app.config["HUB"].acd = Acd()
    c2 = app.test_client()
    login(c2, "super")
    tok = csrf_of(c2.get("/").get_data(as_text=True))
    r = c2.post("/live/monitor", data={"agent": "1001", "mode": "listen", "station": "7", "csrf_token": tok})
    assert r.status_code == 200 and Acd.calls[0]["mode"] == "listen" and Acd.calls[0]["supervisor"] == "super"
    assert ("super", "127.0.0.1", "listen", "agent:1001", "supervisor station 7") in _audit(app)


@pytest.mark.parametrize("nxt", ["//evil.example/", "/\\evil.example/", "/\\\\evil.example", "\\\\evil.example",
                                 "/\t/evil.example/", "/\n/evil.example", "/\r\n/evil.example", " //evil.example",
                                 "/ /evil.example", "/\x00/evil.example", "/\x0b/evil.example",
                                 "https://evil.example/", "http:/evil.example", "javascript:alert(1)",
                                 "evil.example", "///evil.example"])
def test_login_next_never_leaves_the_site(app, nxt):
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    r = c.post("/login", query_string={"next": nxt},
               data={"username": "admin", "password": USERS["admin"], "csrf_token": csrf_of(page)})
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert loc == "/live/channels", (nxt, loc)


def test_login_next_raw_query_bypasses(app):
    for raw in ("next=/%09/evil.example/", "next=/%5Cevil.example", "next=%2F%2Fevil.example", "next=/%0a/evil"):
        c = app.test_client()
        page = c.get("/login").get_data(as_text=True)
        r = c.post("/login?" + raw, data={"username": "admin", "password": USERS["admin"],
                                          "csrf_token": csrf_of(page)})
        assert r.status_code == 302 and "evil" not in r.headers["Location"], (raw, r.headers["Location"])
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    r = c.post("/login?next=/cdrs%3Ffrom%3D2024-01-01", data={"username": "admin", "password": USERS["admin"],
                                                             "csrf_token": csrf_of(page)})
    assert r.headers["Location"] == "/cdrs?from=2024-01-01"
