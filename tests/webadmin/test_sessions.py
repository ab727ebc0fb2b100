"""Server-side sessions (revoked at logout, no password material in the cookie), Secure cookie and HSTS under
TLS, the login limiter under concurrent guesses and its owner exemption, equal cost of unknown and known users,
and the caps on SSE streams."""
import statistics
import threading
import time
import urllib.error
import urllib.request

from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select
from web_fixtures import csrf_of, login, make_app
from web_load import opener

from trunkline.data import db
from trunkline.data.models import User
from trunkline.webadmin import serve


def cookie_of(client, app):
    """The decoded Flask session cookie of a test client."""
    raw = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    return SecureCookieSessionInterface().get_signing_serializer(app).loads(raw)


def test_logout_revokes_the_session_and_the_cookie_holds_no_password_material(tmp_path):
    app, _ = make_app(tmp_path)
    c = app.test_client()
    assert login(c, "admin").status_code == 302
    data = cookie_of(c, app)
    assert set(data) <= {"sid", "_csrf", "_permanent", "lang"}, data
    with db.session_scope(app.config["SESSION_FACTORY"]) as s:
        h = s.scalars(select(User.password_hash).where(User.username == "admin")).one()
    raw = c.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert all(h[i:i + 8] not in raw for i in range(0, len(h) - 8))      # no piece of the hash
    old = raw
    assert c.get("/cdrs").status_code == 200
    tok = csrf_of(c.get("/account/password").get_data(as_text=True))
    assert c.post("/logout", data={"csrf_token": tok}).status_code == 302
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], old)               # the cookie from before logout
    r = thief.get("/cdrs")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert thief.get("/api/live/channels").status_code == 401


def test_secure_cookie_and_hsts_under_tls(tmp_path):
    app, _ = make_app(tmp_path, HTTPS=True)
    c = app.test_client()
    r = c.get("/login")
    assert "Secure" in r.headers.get("Set-Cookie", "")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    plain, _ = make_app(tmp_path / "p", TRUST_PROXY=True) if (tmp_path / "p").mkdir() is None else (None, None)
    r = plain.test_client().get("/login")
    assert "Strict-Transport-Security" not in r.headers and "Secure" not in r.headers.get("Set-Cookie", "")
    r = plain.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})   # behind a TLS proxy
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_concurrent_guesses_cannot_bypass_the_limit(tmp_path):
    """40 wrong guesses at once from one outside address: at most 5 are checked, the rest get 429."""
    app, _ = make_app(tmp_path)
    ip = "198.51.100.7"
    clients = []
    for _ in range(40):
        c = app.test_client()
        clients.append((c, csrf_of(c.get("/login", environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True))))
    start = threading.Barrier(len(clients))
    codes = []

    def guess(c, tok, i):
        start.wait()
        r = c.post("/login", data={"username": "admin", "password": f"guess-{i}", "csrf_token": tok},
                   environ_base={"REMOTE_ADDR": ip})
        codes.append(r.status_code)

    threads = [threading.Thread(target=guess, args=(c, tok, i)) for i, (c, tok) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(codes) == 40
    assert codes.count(401) <= 5 and codes.count(429) >= 35, sorted(codes)


def test_guesses_from_outside_never_lock_the_owner_out_of_an_allowed_network(tmp_path):
    app, _ = make_app(tmp_path, LOGIN_TRUSTED_NETWORKS="10.0.0.0/8")
    for i in range(6):                                    # an attacker spreading guesses over addresses
        login(app.test_client(), "admin", "wrong-wrong", ip=f"198.51.100.{i + 1}")
    assert login(app.test_client(), "admin", ip="198.51.100.99").status_code == 429   # the account limit
    assert login(app.test_client(), "admin", ip="10.1.2.3").status_code == 302        # the owner, office LAN
    for _ in range(5):                                    # failures inside count against that address only
        login(app.test_client(), "super", "wrong-wrong", ip="10.9.9.9")
    assert login(app.test_client(), "super", ip="10.9.9.9").status_code == 429
    assert login(app.test_client(), "super", ip="10.9.9.10").status_code == 302


def test_unknown_and_known_users_cost_the_same(tmp_path):
    app, _ = make_app(tmp_path)

    def cost(user, ip):
        c = app.test_client()
        tok = csrf_of(c.get("/login", environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True))
        t0 = time.perf_counter()
        r = c.post("/login", data={"username": user, "password": "not-the-password", "csrf_token": tok},
                   environ_base={"REMOTE_ADDR": ip})
        assert r.status_code == 401
        return time.perf_counter() - t0

    known, unknown = [], []
    for i in range(4):
        known.append(cost("admin", f"10.0.1.{i}"))
        unknown.append(cost(f"nobody{i}", f"10.0.2.{i}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)


def test_sse_streams_are_capped_per_user_and_in_total(tmp_path):
    """On the real server (waitress): 4 streams per login, 6 in total; over the caps 503 + Retry-After; /login
    still answers; a closed stream gives its slot back; ?seconds=nan is refused."""
    app, _ = make_app(tmp_path, SSE_MAX_STREAMS=6, SSE_MAX_PER_USER=4, LIVE_STREAM_SECONDS=20.0)
    stopper = serve(app, port=0, threads=12)
    base = f"http://127.0.0.1:{stopper.port}"
    try:
        a, b = opener(base, "admin"), opener(base, "super")

        def stream(op):
            try:
                return op.open(base + "/live/stream/channels", timeout=10)
            except urllib.error.HTTPError as exc:
                return exc

        mine = [stream(a) for _ in range(4)]
        assert [r.status for r in mine] == [200] * 4
        over = stream(a)
        assert over.code == 503 and over.headers["Retry-After"]
        other = [stream(b) for _ in range(3)]
        assert [getattr(r, "status", None) or r.code for r in other] == [200, 200, 503]      # 6 in total
        t0 = time.monotonic()
        assert urllib.request.urlopen(base + "/login", timeout=10).status == 200
        assert time.monotonic() - t0 < 5
        for r in mine + other:
            r.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            again = stream(a)
            if getattr(again, "status", None) == 200:
                break
            time.sleep(0.2)
        assert again.status == 200
        again.close()
        try:
            code = b.open(base + "/cti/supervisor/events?seconds=nan", timeout=10).status
        except urllib.error.HTTPError as exc:
            code = exc.code
        assert code == 400                                          # a stream that would never end
    finally:
        stopper.stop()


def test_a_scripts_request_without_a_session_gets_401_and_leaves_the_cookie_alone(tmp_path):
    """A page's poll, EventSource or fetch that runs after logout (or while the same browser logs in again)
    is refused with JSON 401 and no Set-Cookie: answered with the login page it would start a new session
    whose cookie replaces the one a login form was just given (the form then fails its CSRF check)."""
    app, _ = make_app(tmp_path)
    anon = app.test_client()
    for headers in ({"Sec-Fetch-Mode": "cors", "Accept": "*/*"},          # fetch()
                    {"Sec-Fetch-Mode": "cors", "Accept": "text/event-stream"},   # EventSource
                    {"Accept": "application/json"}):                      # a script without Sec-Fetch-*
        r = anon.get("/supervisor/snapshot", headers=headers)
        assert r.status_code == 401 and r.is_json and r.get_json()["ok"] is False, (headers, r.status_code)
        assert "Set-Cookie" not in r.headers, headers
    r = anon.get("/supervisor", headers={"Sec-Fetch-Mode": "navigate", "Accept": "text/html"})   # a page load
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    c = app.test_client()
    assert login(c, "admin").status_code == 302
    r = c.get("/cdrs", headers={"Sec-Fetch-Mode": "navigate", "Accept": "text/html"})
    assert r.status_code == 200 and "Set-Cookie" not in r.headers        # a logged-in page view keeps the cookie
    r = c.get("/no/such/page", headers={"Sec-Fetch-Mode": "cors"})
    assert r.status_code == 404 and r.is_json and "Set-Cookie" not in r.headers
