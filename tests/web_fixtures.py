"""Test fixtures for the web admin: an app on a fresh SQLite database and, where no engine is wanted,
an in-memory stand-in engine/ACD (TEST FIXTURE ONLY; the product uses the real engine via webadmin.hub.Hub)."""
import re
import threading

from trunkline.app import schema
from trunkline.data import db
from trunkline.data.models import User
from trunkline.media.heaptrim import HeapTrim
from trunkline.media.overload import OverloadState
from trunkline.media.tickwatch import TickStats
from trunkline.webadmin import create_app
from trunkline.webadmin.hub import Hub
from trunkline.webadmin.security import hash_password


class FixtureBus:
    """Test fixture: a bus with subscribe/publish like media.bus.EventBus."""

    def __init__(self):
        self.subs = []

    def subscribe(self, cb):
        self.subs.append(cb)

    def publish(self, ev):
        for cb in self.subs:
            cb(ev)


class FixtureEngine:
    """Test fixture: channel table in memory with status() shaped like Engine.status()."""

    def __init__(self, channels=4):
        self.bus = FixtureBus()
        self.now = 0.0
        self.channels = channels
        self.calls = {}
        self.stats = {"offered": 0, "answered": 0, "completed": 0, "failed": 0}
        self.running = True
        self.tick_stats = TickStats()
        self.overload_state = OverloadState()
        self.accepting = True
        self.heap_trim = HeapTrim(0.02)
        self.rows = {ch: {"channel": ch, "span": 1, "kind": "E1", "state": "idle", "caller": "", "called": "",
                          "since": None, "call_id": None, "alarms": []} for ch in range(1, channels + 1)}
        self.lock = threading.Lock()

    def status(self):
        with self.lock:
            return [dict(r) for r in self.rows.values()]

    def call(self, ch, caller, called, call_id):
        with self.lock:
            self.rows[ch].update(state="up", caller=caller, called=called, since=self.now, call_id=call_id)
        self.bus.publish({"type": "call", "channel": ch, "call_id": call_id})

    def hangup(self, ch):
        with self.lock:
            self.rows[ch].update(state="idle", caller="", called="", since=None, call_id=None)
        self.bus.publish({"type": "hangup", "channel": ch})


USERS = {"admin": "admin-pass-123", "super": "super-pass-123", "agent": "agent-pass-123", "viewer": "viewer-pass-123"}
ROLE_OF = {"admin": "admin", "super": "supervisor", "agent": "agent", "viewer": "viewer"}


_TEMPLATE = {}


def _template_db():
    """A migrated SQLite file with one user per role, built once per test session and copied per test."""
    if "path" not in _TEMPLATE:
        import tempfile
        d = tempfile.mkdtemp(prefix="tl-webtpl-")
        path = f"{d}/template.db"
        eng = schema.migrate(f"sqlite:///{path}")
        factory = db.make_session_factory(eng)
        with db.session_scope(factory) as s:
            for name, pw in USERS.items():
                s.add(User(username=name, password_hash=hash_password(pw), role=ROLE_OF[name]))
        eng.dispose()
        _TEMPLATE["path"] = path
    return _TEMPLATE["path"]


def make_app(tmp_path, engine=None, **config):
    """A web admin on a migrated SQLite file with one user per role; returns (app, hub)."""
    import shutil
    shutil.copy(_template_db(), tmp_path / "web.db")
    factory = db.make_session_factory(db.make_engine(f"sqlite:///{tmp_path}/web.db"))
    rec = tmp_path / "recordings"
    rec.mkdir()
    hub = Hub(session_factory=factory, engine=engine, recordings_dir=str(rec), prompts_dir=str(tmp_path / "prompts"),
              fax_dir=str(tmp_path / "fax"))
    cfg = {"TESTING": False, "LIVE_STREAM_SECONDS": 3.0, "LIVE_MIN_INTERVAL": 0.05}
    cfg.update(config)
    return create_app(cfg, hub=hub), hub


def csrf_of(html):
    """The CSRF token in a rendered page."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF token in page"
    return m.group(1)


def login(client, user, password=None, ip="127.0.0.1"):
    """Log a test client in; returns the response of the POST."""
    env = {"REMOTE_ADDR": ip}
    page = client.get("/login", environ_base=env).get_data(as_text=True)
    return client.post("/login", data={"username": user, "password": password or USERS[user],
                                       "csrf_token": csrf_of(page)}, environ_base=env)
