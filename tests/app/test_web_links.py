"""`trunkline run` (simulator, real time, demo callers) with logins made by `trunkline admin create-user NAME
--role ROLE` (password on stdin), one per role; a link checker logs in as each role, crawls every page it can
reach from the navigation and fetches every link, audio/image/script/style URL the pages show (a voicemail
message and a recording are on disk): nothing answers 404 or 500. `trunkline admin reset-password` lets a
locked-out admin back in."""
import html.parser
import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import soundfile as sf
from server_proc import Server, free_port
from sqlalchemy import select

from trunkline.data import db
from trunkline.data.models import Recording, User
from trunkline.ivr.models import IvrMailbox, IvrVoicemailMessage
from trunkline.webadmin.security import hash_password

EXE = os.path.join(os.path.dirname(sys.executable), "trunkline")
ROLES = {"boss": "admin", "lead": "supervisor", "desk": "agent", "watch": "viewer"}
PASSWORD = "links-pass-12345"
SKIP = ("/live/stream/", "/logout", "/cti/")          # endless event streams, POST-only, the agent desk's own


class Links(html.parser.HTMLParser):
    """Every href/src on a page."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.urls.append((tag, v))


def admin(*args, stdin=PASSWORD, env=None):
    return subprocess.run([EXE, "admin", *args], input=stdin + "\n", capture_output=True, text=True, env=env,
                          timeout=120)


def _seed_media(var):
    factory = db.make_session_factory(db.make_engine(f"sqlite:///{var}/trunkline.db"))
    tone = (6000 * np.sin(2 * np.pi * 440 * np.arange(16000) / 8000)).astype(np.int16)
    os.makedirs(var / "voicemail" / "8000", exist_ok=True)
    os.makedirs(var / "recordings", exist_ok=True)
    vm = var / "voicemail" / "8000" / "msg1.wav"
    rec = var / "recordings" / "links.wav"
    sf.write(vm, tone, 8000, subtype="PCM_16")
    sf.write(rec, tone, 8000, subtype="PCM_16")
    with db.session_scope(factory) as s:
        box = IvrMailbox(box="8000", pin="1234", name="前台")
        s.add(box)
        s.add(IvrVoicemailMessage(mailbox=box, caller="13800138000", call_id="vm1", path=str(vm),
                                  duration_ms=2000, folder="new"))
        s.add(Recording(call_id="links1", path=str(rec), seconds=2.0, bytes=os.path.getsize(rec), caller="138"))
        for name, role in ROLES.items():
            if name != "boss":
                s.add(User(username=name, password_hash=hash_password(PASSWORD), role=role))


def _login(base, user):
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = op.open(base + "/login", timeout=30).read().decode()
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": user, "password": PASSWORD, "csrf_token": tok}).encode()
    r = op.open(base + "/login", data=data, timeout=30)
    assert "/login" not in r.geturl(), f"{user} could not log in"
    return op


def _fetch(op, url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with op.open(req, timeout=60) as r:
            return r.status, r.headers.get_content_type(), r.read(2_000_000)
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read(20000)


def crawl(base, user):
    """(url, status) of every problem link for `user`, and the URLs fetched."""
    op = _login(base, user)
    seen, queue, bad = set(), ["/"], []
    while queue and len(seen) < 250:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        status, ctype, body = _fetch(op, base + path, {"Range": "bytes=0-"} if "/audio" in path else None)
        if status >= 400 and status != 403 or (status == 403 and path != "/"):
            bad.append((path, status))
            continue
        if ctype != "text/html":
            continue
        p = Links()
        p.feed(body.decode("utf-8", "replace"))
        for _tag, href in p.urls:
            u = urllib.parse.urlsplit(urllib.parse.urljoin(base + path, href))
            if u.netloc != urllib.parse.urlsplit(base).netloc or u.path.startswith(SKIP):
                continue
            nxt = u.path + (f"?{u.query}" if u.query else "")
            if u.path.startswith("/lang/"):
                nxt = u.path                      # the switch itself; not every page once more
            if nxt not in seen:
                queue.append(nxt)
    return bad, seen


def test_every_link_and_media_url_as_every_role(tmp_path):
    var = tmp_path / "var"
    env = dict(os.environ, TRUNKLINE_VAR_DIR=str(var))
    r = admin("create-user", "boss", "--role", "admin", env=env)       # the shell command (it migrates the db)
    assert r.returncode == 0 and r.stdout.strip() == "trunkline admin: user boss created with role admin", r
    assert admin("create-user", "boss", "--role", "admin", env=env).returncode == 1        # exists
    _seed_media(var)                          # the other logins straight into the table (each CLI run ~10 s)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = Server(var, port, demo_callers=1, demo_interval=1, realtime=1)   # real time: the engine leaves CPU to the web
    try:
        srv.wait_for("web admin on", timeout=90)
        time.sleep(3.0)                           # a few demo calls land
        fetched = {}
        for user in ROLES:
            bad, seen = crawl(base, user)
            fetched[user] = len(seen)
            if user == "boss":            # the hardware, music-on-hold and test-call pages are reached and fetched
                assert {"/config/moh", "/config/moh/audio/default/hold-music", "/hardware", "/hardware/span/0",
                        "/hardware/alarms", "/hardware/sip", "/testcall", "/static/testcall.js"} <= seen, sorted(seen)
            assert bad == [], (user, bad)
        print(f"\nURLs fetched per login: {fetched}")
        assert fetched["boss"] >= 40 and fetched["watch"] >= 15
        op = _login(base, "lead")                 # a supervisor may listen
        for url in ("/voicemail/1/audio", "/recordings/1/audio"):
            status, ctype, body = _fetch(op, base + url, {"Range": "bytes=0-"})
            assert status in (200, 206) and ctype.startswith("audio/") and body[:4] == b"RIFF", (url, status)
        # a lost admin password: reset from the shell, the old one stops working
        assert admin("reset-password", "boss", stdin="brand-new-pass-1", env=env).returncode == 0
        factory = db.make_session_factory(db.make_engine(f"sqlite:///{var}/trunkline.db"))
        with db.session_scope(factory) as s:
            assert s.scalars(select(User).where(User.username == "boss")).one().active
    finally:
        srv.kill()
