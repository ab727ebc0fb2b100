"""Supervisor console and agent workbench over HTTP: roles and groups, colour thresholds and alerts,
force commands checked (409) and audited, the screen pop rendered and masked for people."""
import re
import time

from sqlalchemy import select
from web_fixtures import login, make_app

from trunkline.acd.core import ACDCore
from trunkline.acd.queues import QueueConfig
from trunkline.data.db import session_scope
from trunkline.data.models import AuditLog, User


def _site(tmp_path):
    app, hub = make_app(tmp_path, SUPERVISOR_THRESHOLDS={"wait_warn": 5, "wait_alarm": 10})
    clock = [-12.0]                 # offset from the wall clock the web admin reads (it has no ACD of its own)
    core = ACDCore(hub.session_factory, instance="t", clock=lambda: time.time() + clock[0])
    for q in ("billing", "sales"):
        core.define_queue(QueueConfig(name=q, service_level=20))
    for a, q in (("1001", "billing"), ("1002", "billing"), ("2001", "sales")):
        core.define_agent({"id": a, "name": f"Agent {a}", "number": "5"})
        core.add_member(q, a)
        core.login(a)
    with session_scope(hub.session_factory) as s:
        s.scalars(select(User).where(User.username == "agent")).one().agent_id = "1001"
        s.scalars(select(User).where(User.username == "super")).one().queues = "billing"
    return app, hub, core, clock


def _tok(client, url):
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)


def test_supervisor_sees_their_groups_with_thresholds_and_force_commands_are_checked_and_audited(tmp_path):
    app, hub, core, clock = _site(tmp_path)
    e = core.join("billing", "c1", "13800138000", data={"acct": "77"}).entry
    core.leave(core.join("billing", "c0", "139").entry, "abandon")
    clock[0] = 0.0
    sup = app.test_client()
    assert login(sup, "super").headers["Location"] == "/supervisor"            # lands on the console
    page = sup.get("/supervisor").get_data(as_text=True)
    assert 'id="agents"' in page and 'id="queues"' in page
    snap = sup.get("/supervisor/snapshot").get_json()
    assert [a["id"] for a in snap["agents"]] == ["1001", "1002"]                # not 2001 (sales)
    assert [q["name"] for q in snap["queues"]] == ["billing"]
    q = snap["queues"][0]
    assert q["waiting"] == 1 and 12.0 <= q["longest_wait"] < 30 and q["wait_level"] == "alarm"
    assert q["sl_level"] == "alarm" and {a["level"] for a in snap["alerts"]} == {"alarm"}
    tok = _tok(sup, "/supervisor")
    h = {"X-CSRF-Token": tok}
    assert sup.post("/cti/agent/2001/command", json={"cmd": "force_break"}, headers=h).status_code == 403
    r = sup.post("/cti/agent/1002/command", json={"cmd": "force_break", "reason": "training"}, headers=h)
    assert r.status_code == 200 and core.agent_state("1002") == ("break", "training")
    r = sup.post("/cti/agent/1002/command", json={"cmd": "force_break", "reason": "training"}, headers=h)
    assert r.status_code == 409 and "already not ready" in r.get_json()["error"]
    core.dispatch()                                                             # 1001 rings for c1
    r = sup.post("/cti/agent/1001/command", json={"cmd": "force_logout"}, headers=h)
    assert r.status_code == 409 and "being rung" in r.get_json()["error"]       # refused, not kept for later
    r = sup.post("/cti/agent/1001/command", json={"cmd": "monitor", "mode": "listen", "port": 2}, headers=h)
    assert r.status_code == 409 and "no call in progress" in r.get_json()["error"]
    with session_scope(hub.session_factory) as s:
        acts = [(a.username, a.action, a.target) for a in s.scalars(select(AuditLog).order_by(AuditLog.id))
                if a.action.startswith("supervisor.")]
    assert acts == [("super", "supervisor.force_break", "agent:1002"),
                    ("super", "supervisor.force_break", "agent:1002"),
                    ("super", "supervisor.force_logout", "agent:1001"), ("super", "supervisor.monitor", "agent:1001")]
    # the agent: lands on their own desk; sees the masked screen pop; no console, no other desk
    ag = app.test_client()
    assert login(ag, "agent").headers["Location"] == "/workbench/1001"
    assert ag.get("/supervisor").status_code == 403 and ag.get("/workbench/1002").status_code == 403
    page = ag.get("/workbench/1001").get_data(as_text=True)
    for el in ("sign-in", "sign-out", "ready", "not-ready", "hangup", "hold", "unhold", "transfer", "consult",
               "three-way", "dispose", "wrap-left", "memo-send", "history", "banner", "pop"):
        assert f'id="{el}"' in page, el
    pop = ag.get("/workbench/1001/snapshot").get_json()
    assert pop["state"] == "ringing" and pop["call"]["entry"] == e and pop["call"]["number"] == "13800138000"
    assert pop["call"]["lookup"] == [["acct", "77"]] and pop["call"]["queue"] == "billing"
    assert ag.post("/cti/agent/1002/command", json={"cmd": "ready"},
                   headers={"X-CSRF-Token": _tok(ag, "/workbench/1001")}).status_code == 403


def test_supervisor_and_agent_roles_desk_history_events_and_audit(tmp_path):
    app, hub, core, clock = _site(tmp_path)
    clock[0] = 0.0
    rec = tmp_path / "recordings" / "call.wav"
    rec.write_bytes(b"RIFF0000WAVE")
    calls = {}
    for agent, queue, number in (("1001", "billing", "13800000001"), ("1002", "billing", "13800000002"),
                                 ("2001", "sales", "13800000003")):
        for a in ("1001", "1002", "2001"):                       # only `agent` is ready for this call
            core.set_break(a, "lunch") if a != agent else core.ready(a)
        e = core.join(queue, f"c-{agent}", number).entry
        core.dispatch()
        assert core.answered(e, agent)
        core.set_recording(e, str(rec))
        core.complete(e, by="caller")
        calls[agent] = e
    # the agent: their own desk, history and recordings only; no other agent's events or desk
    ag = app.test_client()
    login(ag, "agent")
    hist = ag.get("/workbench/1001/snapshot").get_json()["history"]
    assert [h["entry"] for h in hist] == [calls["1001"]] and hist[0]["recording"]
    assert ag.get(hist[0]["recording"]).status_code == 200
    assert ag.get(f"/workbench/1001/recording/{calls['1002']}").status_code == 404    # not their call
    for url in ("/workbench/1002/snapshot", f"/workbench/1002/recording/{calls['1002']}", "/cti/agent/1002/events",
                "/cti/agent/1002/state", "/cti/supervisor/events", "/supervisor/snapshot"):
        assert ag.get(url).status_code == 403, url
    # the supervisor (group billing): the desks of their group, not of sales; only their groups' events
    sup = app.test_client()
    login(sup, "super")
    assert sup.get("/workbench/1002/snapshot").status_code == 200
    for url in ("/workbench/2001", "/workbench/2001/snapshot", "/cti/agent/2001/events", "/cti/agent/2001/state"):
        assert sup.get(url).status_code == 403, url
    stream = sup.get("/cti/supervisor/events?seconds=0").get_data(as_text=True)
    assert "13800000001" in stream and "13800000002" in stream
    assert "13800000003" not in stream and '"agent":"2001"' not in stream and '"queue":"sales"' not in stream
    adm = app.test_client()
    login(adm, "admin")
    assert "13800000003" in adm.get("/cti/supervisor/events?seconds=0").get_data(as_text=True)   # admins: all
    # every supervisor action is audited: the console's and an agent's own command given for them
    h = {"X-CSRF-Token": _tok(sup, "/supervisor")}
    assert sup.post("/cti/agent/1002/command", json={"cmd": "ready"}, headers=h).status_code == 200
    assert sup.post("/cti/agent/1002/command", json={"cmd": "force_break", "reason": "training"},
                    headers=h).status_code == 200
    assert sup.post("/cti/agent/2001/command", json={"cmd": "ready"}, headers=h).status_code == 403
    assert ag.post("/cti/agent/1001/command", json={"cmd": "ready"},
                   headers={"X-CSRF-Token": _tok(ag, "/workbench/1001")}).status_code == 200
    with session_scope(hub.session_factory) as s:
        acts = [(a.username, a.action, a.target) for a in s.scalars(select(AuditLog).order_by(AuditLog.id))
                if a.action.startswith("supervisor.")]
    assert acts == [("super", "supervisor.ready", "agent:1002"), ("super", "supervisor.force_break", "agent:1002")]
