"""Typed configuration forms: field-level errors in the user's language, referential checks, the same
validation through the JSON API, and a bad stored row that never breaks the live pages (test client and a
real ACDCore behind the hub; the browser side is in test_forms_browser.py)."""
import random

from web_fixtures import csrf_of, login, make_app

from trunkline.acd.core import ACDCore
from trunkline.acd.models import AcdMember, AcdQueue
from trunkline.acd.queues import QueueConfig
from trunkline.data import db

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


class LiveAcd:
    """The slice of acd.service.ACD the web admin reads, over a real ACDCore (TEST FIXTURE)."""

    def __init__(self, factory):
        self.core = ACDCore(factory, instance="t", clock=lambda: 1000.0, rng=random.Random(1))

    def queues_status(self):
        return self.core.queues_status()

    def agents_status(self):
        return self.core.agents_status()


def _client(app, user="super"):
    c = app.test_client()
    login(c, user)
    return c, csrf_of(c.get("/config/table/queues").get_data(as_text=True))


def test_queue_form_field_errors_and_save(tmp_path):
    app, hub = make_app(tmp_path)
    c, tok = _client(app)
    page = c.get("/config/table/queues").get_data(as_text=True)
    assert '<select name="strategy">' in page and 'name="ring_timeout"' in page and 'type="checkbox"' in page
    r = c.post("/config/table/queues", headers=ZH, data={
        "op": "create", "name": "billing", "strategy": "random-ish", "ring_timeout": "-5", "wrapup": "abc",
        "csrf_token": tok})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert 'id="error-strategy"' in html and 'id="error-ring_timeout"' in html and 'id="error-wrapup"' in html
    assert "请从列出的值中选择" in html and "必须在 1 到 600 之间" in html and "invalid literal" not in html
    with db.session_scope(hub.session_factory) as s:
        assert s.get(AcdQueue, "billing") is None
    r = c.post("/config/table/queues", data={"op": "create", "name": "billing", "strategy": "ring-all",
                                             "ring_timeout": "20", "wrapup": "5", "enabled": "1",
                                             "record": "1", "csrf_token": tok})
    assert r.status_code == 302
    with db.session_scope(hub.session_factory) as s:
        q = s.get(AcdQueue, "billing")
        assert q.strategy == "ring-all" and q.enabled == 1
        assert q.options["ring_timeout"] == 20.0 and q.options["wrapup"] == 5.0 and q.options["record"] is True
    r = c.post("/config/table/queues", data={"op": "create", "name": "billing", "strategy": "ring-all",
                                             "ring_timeout": "20", "csrf_token": tok})
    assert r.status_code == 400 and "Already exists." in r.get_data(as_text=True)
    # members refer to queues and agents that exist
    r = c.post("/config/table/members", headers=ZH, data={"op": "create", "queue": "nope", "agent": "1001",
                                                          "csrf_token": tok})
    assert r.status_code == 400 and 'id="error-queue"' in r.get_data(as_text=True)
    with db.session_scope(hub.session_factory) as s:
        assert s.query(AcdMember).count() == 0


def test_api_shares_the_validation(tmp_path):
    app, hub = make_app(tmp_path)
    c, tok = _client(app)
    h = {"X-CSRF-Token": tok}
    r = c.post("/api/config/queues", json={"op": "create", "values": {"name": "q1", "strategy": "random-ish",
                                                                      "ring_timeout": -5}}, headers=h)
    assert r.status_code == 400 and set(r.get_json()["errors"]) == {"strategy", "ring_timeout"}
    r = c.post("/api/config/queues", json={"op": "create", "values": {"name": "q1", "strategy": "round-robin",
                                                                      "ring_timeout": 12}}, headers=h)
    assert r.status_code == 200, r.get_json()
    r = c.post("/api/config/agents", json={"op": "create", "values": {"id": "1001", "name": "李明", "pin": "12a"}},
               headers=h)
    assert r.status_code == 400 and set(r.get_json()["errors"]) == {"pin"}
    assert c.post("/api/config/agents", json={"op": "create", "values": {"id": "1001", "name": "李明"}},
                  headers=h).status_code == 200
    r = c.post("/api/config/members", json={"op": "create", "values": {"queue": "q1", "agent": "1002"}}, headers=h)
    assert r.status_code == 400 and set(r.get_json()["errors"]) == {"agent"}
    assert c.post("/api/config/members", json={"op": "create", "values": {"queue": "q1", "agent": "1001"}},
                  headers=h).status_code == 200
    viewer = app.test_client()
    login(viewer, "viewer")
    vtok = csrf_of(viewer.get("/").get_data(as_text=True))
    assert viewer.post("/api/config/queues", json={"op": "delete", "key": ["q1"]},
                       headers={"X-CSRF-Token": vtok}).status_code == 403
    rows = c.get("/api/config/queues").get_json()["rows"]
    assert [(r["key"], r["values"]["strategy"], r["problem"]) for r in rows] == [(["q1"], "round-robin", None)]


def test_bad_stored_queue_never_breaks_the_live_pages(tmp_path):
    app, hub = make_app(tmp_path)
    hub.acd = LiveAcd(hub.session_factory)
    hub.acd.core.define_queue({"name": "good", "strategy": "ring-all"})
    with db.session_scope(hub.session_factory) as s:     # written behind the forms' back (old data, SQL)
        s.add(AcdQueue(name="broken", strategy="random-ish", options={"ring_timeout": -5}))
    c, _tok = _client(app, "viewer")
    for _ in range(3):
        r = c.get("/api/live/queues")
        assert r.status_code == 200
        d = r.get_json()
        by = {q["name"]: q for q in d["queues"]}
        assert "error" not in by["good"] and "random-ish" in by["broken"]["error"]
        assert any("broken" in e for e in d["errors"])
    assert c.get("/live/wallboard").status_code == 200
    sup, _t = _client(app, "super")
    page = sup.get("/config/table/queues").get_data(as_text=True)
    assert page.count('class="bad-config"') == 1 and "random-ish" in page


def test_queue_recording_policy_is_a_checked_choice(tmp_path):
    """#17: a queue's recording policy (none / IVR part / agent part / whole call; empty = whole call) is a
    dropdown; another value is a field error; the saved value is what the ACD's QueueConfig reads."""
    app, hub = make_app(tmp_path)
    c, tok = _client(app)
    page = c.get("/config/table/queues", headers=ZH).get_data(as_text=True)
    assert '<select name="recording">' in page and "录音策略" in page and "IVR 部分" in page
    base = {"op": "create", "name": "sales", "strategy": "ring-all", "ring_timeout": "20", "record": "1",
            "csrf_token": tok}
    r = c.post("/config/table/queues", headers=ZH, data=dict(base, recording="sometimes"))
    assert r.status_code == 400 and 'id="error-recording"' in r.get_data(as_text=True)
    assert c.post("/config/table/queues", data=dict(base, recording="agent")).status_code == 302
    with db.session_scope(hub.session_factory) as s:
        q = s.get(AcdQueue, "sales")
        assert q.options["recording"] == "agent"
        assert QueueConfig.from_row(q).recording_policy() == "agent"
