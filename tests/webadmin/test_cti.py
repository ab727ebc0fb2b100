"""CTI over HTTP: SSE streams per agent and for supervisors, agent controls, reference page, access rules."""
import json

from acd_rig import billing_core
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from trunkline.acd.core import ACDCore
from trunkline.acd.cti import DOCUMENTS
from trunkline.acd.models import create_tables
from trunkline.acd.queues import QueueConfig
from trunkline.data.db import make_session_factory
from trunkline.webadmin.cti import bp


def sse_docs(text):
    """Parse an SSE body into (id, event, data-dict) tuples."""
    out = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            k, _, v = line.partition(":")
            fields[k] = v.strip()
        if "data" in fields:
            out.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return out


def standalone():
    eng = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    create_tables(eng)
    sf = make_session_factory(eng)
    app = Flask(__name__)
    app.config.update(SESSION_FACTORY=sf, LIVE_STREAM_SECONDS=0.3)
    app.register_blueprint(bp)
    clock = [100.0]
    return app, billing_core(sf, clock), clock


def test_agent_stream_carries_screen_pop_and_resumes():
    app, core, clock = standalone()
    e = core.join("billing", "call-1", "13800138000", called="4008001234", data={"meter": "4711"}).entry
    clock[0] += 7
    o = core.dispatch()[0]
    assert o.agents == ["1001"]
    core.answered(e, "1001")
    c = app.test_client()
    body = c.get("/cti/agent/1001/events").get_data(as_text=True)
    docs = sse_docs(body)
    types = [t for _, t, _ in docs]
    print("agent 1001 stream:", types)
    assert types == ["agent.state", "agent.state", "call.offered", "agent.state", "call.answered"]
    assert [d["state"] for _, t, d in docs if t == "agent.state"] == ["available", "ringing", "busy"]
    pop = docs[2][2]
    assert pop["caller_id"] == "13800138000" and pop["called"] == "4008001234"
    assert pop["data"] == {"meter": "4711"} and pop["queue"] == "billing" and pop["wait"] == 7.0
    # resume after the offer: only the answer comes again
    again = sse_docs(c.get("/cti/agent/1001/events", headers={"Last-Event-ID": str(docs[2][0])})
                     .get_data(as_text=True))
    assert [t for _, t, _ in again] == ["agent.state", "call.answered"]
    # 1002 sees nothing of it; the supervisor stream sees everything, in id order
    assert all(d["agent"] == "1002" for _, _, d in sse_docs(c.get("/cti/agent/1002/events").get_data(as_text=True)))
    sup = sse_docs(c.get("/cti/supervisor/events").get_data(as_text=True))
    assert {"queue.joined", "call.offered", "call.answered"} <= {t for _, t, _ in sup}
    assert [i for i, _, _ in sup] == sorted(i for i, _, _ in sup)
    assert c.get("/cti/agent/1001/events", headers={"Last-Event-ID": "x"}).status_code == 400
    assert c.get("/cti/agent/9999/events").status_code == 404


def test_agent_controls_and_state_json():
    app, core, clock = standalone()
    c = app.test_client()
    r = c.post("/cti/agent/1001/command", json={"cmd": "break", "reason": "lunch"})
    assert r.status_code == 200 and r.get_json()["state"] == "break"
    assert core.agent_state("1001") == ("break", "lunch")
    assert c.post("/cti/agent/1001/command", json={"cmd": "ready"}).get_json()["state"] == "available"
    assert c.post("/cti/agent/1001/command", json={"cmd": "wrapup", "seconds": 20}).get_json()["state"] == "wrapup"
    bad = c.post("/cti/agent/1001/command", json={"cmd": "dance"})
    assert bad.status_code == 400 and "unknown command" in bad.get_json()["error"]
    bad = c.post("/cti/agent/1001/command", json={"cmd": "transfer", "kind": "blind"})
    assert bad.status_code == 400 and "queue or an agent" in bad.get_json()["error"]
    q = c.post("/cti/agent/1001/command", json={"cmd": "transfer", "kind": "blind", "queue": "billing"})
    assert q.status_code == 409 and "no call in progress" in q.get_json()["error"]    # refused, not kept
    for cmd, why in (("hangup", "no call"), ("wrapup", "")):
        r = c.post("/cti/agent/1001/command", json={"cmd": cmd})
        assert (r.status_code == 409 and why in r.get_json()["error"]) if why else r.status_code == 200
    assert c.post("/cti/agent/1001/command", json={"cmd": "login"}).status_code == 409      # already signed in
    core.ready("1001")
    assert c.post("/cti/agent/1001/command", json={"cmd": "ready"}).get_json()["error"].endswith("already ready")
    e = core.join("billing", "call-9", "555", data={"acct": "77"}).entry
    core.dispatch()
    st = c.get("/cti/agent/1001/state").get_json()
    assert st["state"] == "ringing" and st["call"]["entry"] == e and st["call"]["data"] == {"acct": "77"}


def test_agent_page_and_reference_page():
    app, core, clock = standalone()
    c = app.test_client()
    page = c.get("/cti/agent/1001").get_data(as_text=True)
    assert "/cti/agent/1001/events" in page and "/cti/agent.js" in page and "<script>" not in page
    for label in ("Ready", "Break", "Wrap-up", "Transfer", "Hang up"):
        assert label in page
    js = c.get("/cti/agent.js")
    assert js.mimetype == "application/javascript" and "EventSource" in js.get_data(as_text=True)
    ref = c.get("/cti/reference").get_data(as_text=True)
    for t in DOCUMENTS:
        assert f'id="{t}"' in ref
    assert "Last-Event-ID" in ref


def test_inside_web_admin_login_and_agent_scope(tmp_path):
    from web_fixtures import login, make_app

    from trunkline.data.db import session_scope
    from trunkline.data.models import User
    app, hub = make_app(tmp_path)
    core = ACDCore(hub.session_factory, instance="t")
    core.define_queue(QueueConfig(name="billing"))
    for a in ("1001", "1002"):
        core.define_agent({"id": a, "number": "5"})
        core.login(a)
    with session_scope(hub.session_factory) as s:
        s.query(User).filter_by(username="agent").update({"agent_id": "1001"})
    anon = app.test_client()
    assert anon.get("/cti/supervisor/events").status_code in (302, 401)
    ag = app.test_client()
    login(ag, "agent")
    assert ag.get("/cti/agent/1001").headers["Location"] == "/workbench/1001"     # the workbench now
    assert ag.get("/workbench/1001").status_code == 200
    assert ag.get("/cti/agent/1002").status_code == 403 and ag.get("/workbench/1002").status_code == 403
    assert ag.get("/cti/supervisor/events").status_code == 403
    page = ag.get("/workbench/1001").get_data(as_text=True)
    import re
    tok = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert ag.post("/cti/agent/1001/command", json={"cmd": "break"}).status_code == 400     # no CSRF token
    r = ag.post("/cti/agent/1001/command", json={"cmd": "break", "reason": "lunch"}, headers={"X-CSRF-Token": tok})
    assert r.status_code == 200 and core.agent_state("1001") == ("break", "lunch")
    sup = app.test_client()
    login(sup, "super")
    assert sup.get("/workbench/1002").status_code == 200
    body = sup.get("/cti/supervisor/events?seconds=0.2").get_data(as_text=True)
    assert any(t == "agent.state" for _, t, _ in sse_docs(body))
