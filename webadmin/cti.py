"""CTI over the web: Server-Sent Event streams per agent and for supervisors, the agent page, the reference page.

Blueprint `bp` (Flask only). Streams tail the acd_cti_events table, so the web
admin of any server sharing the database sees every document; clients resume
with Last-Event-ID. Agent controls are checked and immediate: applied before
the answer or refused at once (409) with the reason; a call held by another
server gets the request through acd_commands with a deadline (acd.remote).

Inside the Trunkline web admin (security.install) the app's login and CSRF
hooks guard every route; an agent login only reaches its own agent
(users.agent_id), supervisors and admins reach all, and a request without a
logged-in user reaches nothing. Mounted in an app without those hooks, the
blueprint needs `app.config["SESSION_FACTORY"]` (or ACD_SESSION_FACTORY) and
uses no login.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template_string,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Response as WerkzeugResponse

from trunkline.acd import remote
from trunkline.acd.agents import DEFAULT_BREAK_REASONS
from trunkline.acd.commands import CALL_COMMANDS, COMMANDS, check_call_args, check_state
from trunkline.acd.core import ACDCore, ACDError
from trunkline.acd.cti import DOCUMENTS, read_events
from trunkline.acd.models import AcdAgent, AcdCommand, AcdEntry, AcdMember, create_tables
from trunkline.acd.service import ACD, Refused

from . import sse
from .messaging import queue_sms, sms_service
from .rows import float_arg
from .security import audit, can, csrf_token, installed

bp = Blueprint("acd", __name__)

EXAMPLES: dict[str, dict[str, Any]] = {
    "call.offered": {"agent": "1001", "call_id": "a1b2c3-7", "entry": 42, "queue": "billing",
                     "caller_id": "13800138000", "called": "4008001234", "data": {"meter": "4711", "lang": "zh"},
                     "wait": 12.4, "priority": 0, "position_at_entry": 3, "transferred_from": None},
    "call.answered": {"agent": "1001", "call_id": "a1b2c3-7", "entry": 42, "queue": "billing",
                      "caller_id": "13800138000", "called": "4008001234", "data": {"meter": "4711"}, "wait": 15.1},
    "call.missed": {"agent": "1002", "call_id": "a1b2c3-7", "entry": 42, "queue": "billing", "ring_time": 15.0,
                    "reason": "noanswer"},
    "call.ended": {"agent": "1001", "call_id": "a1b2c3-7", "entry": 42, "queue": "billing", "talk_time": 184.2,
                   "ended_by": "caller", "recording": "var/recordings/acd-42-a1b2c3-7.wav"},
    "call.transferred": {"agent": "1001", "call_id": "a1b2c3-7", "entry": 42, "queue": "billing", "kind": "blind",
                         "target": "queue:sales", "data": {"meter": "4711", "transferred_from":
                                                          {"agent": "1001", "queue": "billing", "kind": "blind"}}},
    "agent.state": {"agent": "1001", "state": "break", "reason": "lunch", "previous": "available"},
    "queue.joined": {"call_id": "a1b2c3-7", "entry": 42, "queue": "billing", "caller_id": "13800138000",
                     "position": 3, "ewt": 95.0, "priority": 0},
    "queue.left": {"call_id": "a1b2c3-7", "entry": 42, "queue": "billing", "reason": "abandon", "wait": 61.0,
                   "position": 2},
    "queue.announce": {"call_id": "a1b2c3-7", "entry": 42, "queue": "billing", "position": 2, "ewt": 60.0},
    "supervisor.monitor": {"agent": "1001", "supervisor": "boss", "mode": "whisper", "call_id": "a1b2c3-7"},
}

#: commands only supervisors (and admins) may give
SUPERVISOR_COMMANDS = ("monitor", "force_ready", "force_break", "force_logout")


#: a view's answer: a response, or (JSON response, status)
Reply = Response | tuple[Response, int]


# ------------------------------------------------------------------ helpers
def _factory() -> sessionmaker[Session]:
    cfg = current_app.config
    sf = cfg.get("ACD_SESSION_FACTORY") or cfg.get("SESSION_FACTORY")
    if sf is None:
        abort(503, description="no database configured for the ACD")
    if not current_app.extensions.get("acd_tables"):
        create_tables(sf.kw["bind"])
        current_app.extensions["acd_tables"] = True
    factory: sessionmaker[Session] = sf
    return factory


def _live_acd() -> ACD | None:
    """The ACD running in this server (the web admin's hub), or None (web admin only, or mounted elsewhere)."""
    hub = current_app.config.get("HUB")
    return hub.acd if hub is not None else None


def _core() -> ACDCore:
    acd = _live_acd()
    if acd is not None:
        return acd.core
    return ACDCore(_factory(), instance="web")


def _guarded() -> bool:
    """True inside the web admin (its login hooks ran); False when mounted in an app without them."""
    return installed(current_app)


def _perm(name: str) -> bool:
    """Permission `name` for this request: the logged-in user's role inside the web admin (no user: none);
    mounted without the login hooks there are no users and every route is open."""
    if not _guarded():
        return True
    return getattr(g, "user", None) is not None and can(name)


def my_queues() -> set[str] | None:
    """The queues (agent groups) this supervisor looks after (users.queues); None: every queue (admins, a
    supervisor with none set, or mounted without logins)."""
    user = getattr(g, "user", None)
    if not _guarded() or user is None or user.role != "supervisor":
        return None
    names = {q.strip() for q in (getattr(user, "queues", "") or "").replace(";", ",").split(",") if q.strip()}
    return names or None


def in_my_groups(agent_id: str) -> bool:
    """True when `agent_id` is a member of one of this supervisor's queues (always for every-queue users)."""
    mine = my_queues()
    if mine is None:
        return True
    with _factory()() as s:
        return s.scalar(select(AcdMember.agent).where(AcdMember.agent == str(agent_id),
                                                      AcdMember.queue.in_(sorted(mine))).limit(1)) is not None


def _may_act_as(agent_id: str) -> bool:
    """Supervisors/admins reach the agents of their groups; an agent login only its own agent id."""
    if _perm("monitor"):
        return in_my_groups(agent_id)
    user = getattr(g, "user", None)
    return user is not None and user.agent_id is not None and user.agent_id == str(agent_id)


def _agent_for(agent_id: str) -> dict[str, Any]:
    """The agent a request is about: 403 unless the user may act as them, 404 when unknown."""
    if not _may_act_as(agent_id):
        abort(403)
    return _agent_or_404(agent_id)


def _body() -> dict[str, Any]:
    """The request's JSON object, else its form fields."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else request.form.to_dict()


def _agent_or_404(agent_id: str) -> dict[str, Any]:
    with _factory()() as s:
        a = s.get(AcdAgent, str(agent_id))
        if a is None:
            abort(404, description=f"no agent {agent_id}")
        return {"id": a.id, "name": a.name, "state": a.state, "reason": a.reason, "station_port": a.station_port,
                "number": a.number, "current_entry": a.current_entry}


def _visible(doc: dict[str, Any], queues: set[str], agents: set[str]) -> bool:
    """True when a CTI document is about one of `queues` or `agents` (a supervisor's groups)."""
    return doc.get("queue") in queues or str(doc.get("agent")) in agents


def _group_filter() -> tuple[set[str], set[str]] | None:
    """(queues, agents) of this supervisor's groups, or None when they see every queue."""
    mine = my_queues()
    if mine is None:
        return None
    with _factory()() as s:
        agents = set(s.scalars(select(AcdMember.agent).where(AcdMember.queue.in_(sorted(mine)))))
    return mine, agents


def _stream(agent: str | None, groups: tuple[set[str], set[str]] | None = None) -> Response:
    """SSE response tailing CTI documents (agent None: all, or those of `groups` = (queues, agents))."""
    sf = _factory()
    try:
        last = int(request.headers.get("Last-Event-ID") or request.args.get("after") or "0")
    except ValueError:
        abort(400, description="Last-Event-ID / after must be an event id")
    limit = float_arg("seconds", float(current_app.config.get("LIVE_STREAM_SECONDS", 55.0)), 0.0, 86400.0)
    interval = float(current_app.config.get("CTI_POLL_SECONDS", 0.25))
    acd = _live_acd()
    cond: threading.Condition | None = acd.core.hub.changed if acd is not None else None

    def gen() -> Iterator[str]:
        nonlocal last
        yield sse.retry(2000)
        end = time.monotonic() + limit
        while True:
            with sf() as s:
                docs = read_events(s, after_id=last, agent=agent)
            for d in docs:
                last = d["id"]
                if groups is not None and not _visible(d, *groups):
                    continue
                yield sse.message(json.dumps(d, separators=(",", ":")), event=d["type"], event_id=d["id"])
            if time.monotonic() >= end:
                return
            if not docs:
                yield sse.KEEPALIVE
                if cond is not None:
                    with cond:
                        cond.wait(interval * 4)
                else:
                    time.sleep(interval)
    return sse.event_stream(gen())


# ------------------------------------------------------------------ streams
@bp.route("/cti/agent/<agent_id>/events")
def agent_events(agent_id: str) -> Response:
    """SSE: CTI documents of one agent (screen pops, state changes)."""
    _agent_for(agent_id)
    return _stream(str(agent_id))


@bp.route("/cti/supervisor/events")
def supervisor_events() -> Response:
    """SSE: the CTI documents of the supervisor's groups (admins and group-less supervisors: all)."""
    if not _perm("monitor"):
        abort(403)
    return _stream(None, _group_filter())


# ------------------------------------------------------------------ agent API
@bp.route("/cti/agent/<agent_id>/state")
def agent_state(agent_id: str) -> Response:
    """JSON: the agent's state and the call they are on (the current screen pop)."""
    a = _agent_for(agent_id)
    call = None
    if a["current_entry"]:
        with _factory()() as s:
            e = s.get(AcdEntry, a["current_entry"])
            if e is not None:
                call = {"entry": e.id, "call_id": e.call_id, "queue": e.queue, "caller_id": e.caller_id,
                        "called": e.called, "data": e.data, "state": e.state,
                        "wait": round((e.answered_at or e.offer_at) - e.enqueued_at, 1)}
    a["call"] = call
    return jsonify(a)


def wrapup_seconds(value: object) -> float:
    """The wrap-up time asked for, in seconds (0, 3600]; ACDError (a 400) for anything else."""
    try:
        secs = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ACDError("wrap-up seconds must be a number") from None
    if not 0 < secs <= 3600:          # NaN fails this too
        raise ACDError("wrap-up seconds must be in (0, 3600]")
    return secs


@bp.route("/cti/agent/<agent_id>/command", methods=["POST"])
def agent_command(agent_id: str) -> Reply:
    """Agent controls, checked and immediate: applied before the answer (200) or refused at once with
    the reason (409: does not apply in the agent's state now; 400: bad input). Supervisor-only commands
    (force_*, monitor) are audited."""
    _agent_for(agent_id)
    body = _body()
    cmd = str(body.get("cmd", ""))
    args = {k: v for k, v in body.items() if k not in ("cmd", "csrf_token")}
    if cmd in SUPERVISOR_COMMANDS:
        if not _perm("monitor"):
            abort(403)
        if _guarded():
            if cmd == "monitor":
                args["supervisor"] = g.user.username       # the same supervisor again switches the mode
            audit(f"supervisor.{cmd}", f"agent:{agent_id}", json.dumps(args, sort_keys=True)[:500])
    elif _guarded() and g.user.agent_id != str(agent_id):
        # a supervisor (or admin) working an agent's desk for them: audited like the console's actions
        audit(f"supervisor.{cmd}"[:64], f"agent:{agent_id}", json.dumps(args, sort_keys=True)[:500])
    return _run_command(str(agent_id), cmd, args)


def _run_command(agent_id: str, cmd: str, args: dict[str, Any]) -> Reply:
    """Carry out one command for `agent_id` (the live ACD here, else the shared database) as a JSON reply."""
    if cmd == "break" and len(str(args.get("reason") or "")) > 40:
        return jsonify({"ok": False, "error": "break reason too long (40 characters at most)"}), 400
    acd = _live_acd()
    try:
        if acd is not None:
            out = acd.command(agent_id, cmd, args)
        else:
            out = _without_acd(agent_id, cmd, args)
    except Refused as exc:
        return jsonify({"ok": False, "refused": True, "error": str(exc)}), 409
    except (ACDError, ValueError, TypeError) as exc:
        return jsonify({"ok": False, "error": str(exc)}), 400
    return jsonify(out)


def _without_acd(agent_id: str, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    """A web admin with no ACD in its process: state commands on the shared database, call commands
    handed to the server holding the call (taken within the deadline or refused)."""
    core = _core()
    if cmd not in COMMANDS:
        raise ACDError(f"unknown command {cmd!r}; one of {', '.join(COMMANDS)}")
    with _factory()() as s:
        a = s.get(AcdAgent, agent_id)
        assert a is not None
        state, reason, entry = a.state, a.reason, a.current_entry
    if cmd in CALL_COMMANDS:
        check_call_args(cmd, args)
        if state != "busy" or entry is None:
            raise Refused(f"agent {agent_id} has no call in progress ({cmd} needs a connected call)")
        out = remote.wait_blocking(_factory(), agent_id, cmd, args, entry)
    else:
        if cmd == "login" and (args.get("station") or args.get("number")):
            raise ACDError("signing in at a station or number needs the server running the ACD")
        check_state(agent_id, cmd, state, reason, args)
        if cmd == "login":
            core.login(agent_id)
        elif cmd in ("logout", "force_logout"):
            core.logout(agent_id)
        elif cmd in ("ready", "force_ready"):
            core.ready(agent_id)
        elif cmd in ("break", "force_break"):
            core.set_break(agent_id, str(args.get("reason") or "break"))
        elif cmd == "wrapup":
            core.wrapup(agent_id, wrapup_seconds(args.get("seconds", 30)))
        else:
            raise ACDError(f"{cmd} needs the server running the ACD")
        out = {"ok": True}
    out["state"] = core.agent_state(agent_id)[0]
    return out


def _memo_number(agent_id: str) -> tuple[str | None, str | None]:
    """The caller number of the agent's current call, else of their last answered call (None when none)."""
    with _factory()() as s:
        a = s.get(AcdAgent, str(agent_id))
        e = s.get(AcdEntry, a.current_entry) if a is not None and a.current_entry else None
        if e is None:                # no call now: the last one answered (never an older one for a hidden CLI)
            e = s.scalars(select(AcdEntry).where(AcdEntry.agent == str(agent_id), AcdEntry.caller_id != "",
                                                 AcdEntry.answered_at.is_not(None))
                          .order_by(AcdEntry.answered_at.desc(), AcdEntry.id.desc())).first()
        return (e.caller_id or None, e.call_id) if e is not None else (None, None)


@bp.route("/cti/agent/<agent_id>/memo", methods=["POST"])
def agent_memo(agent_id: str) -> Reply:
    """Send memo: queue an SMS with the memo text to the caller of the agent's current (or last) call."""
    _agent_for(agent_id)
    body = _body()
    number, call_id = _memo_number(agent_id)
    if not number:
        return jsonify({"ok": False, "error": "the agent has no current or last call with a caller number"}), 409
    sms_id, error = queue_sms(number, body.get("text", ""))
    if error:
        return jsonify({"ok": False, "error": error}), (503 if sms_service() is None else 400)
    audit("sms_memo", number, f"agent {agent_id} call {call_id} sms {sms_id}")
    return jsonify({"ok": True, "sms": sms_id, "number": number, "call_id": call_id})


@bp.route("/cti/command/<int:cid>")
def command_result(cid: int) -> Response:
    """JSON: whether a queued command was carried out, and its result."""
    with _factory()() as s:
        row = s.get(AcdCommand, cid)
        if row is None:
            abort(404)
        if not _may_act_as(row.agent):
            abort(403)
        return jsonify({"id": row.id, "cmd": row.cmd, "done": bool(row.done), "taken_by": row.taken_by,
                        "result": row.result})


# ------------------------------------------------------------------ pages
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{{ csrf }}">
<title>{{ title }} · Trunkline</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.2em;max-width:60em}
.pop{border:2px solid #888;border-radius:6px;padding:.8em;margin:.8em 0;min-height:5em}
.pop.ringing{border-color:#d80;background:#fff6e0}.pop.busy{border-color:#080;background:#eefbee}
.state{font-weight:bold;font-size:1.2em}button{margin:.2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}pre{margin:0}
</style></head><body>
{{ body|safe }}
</body></html>"""

AGENT_BODY = """
<h1>Agent {{ a.name }} ({{ a.id }})</h1>
<div id="agent" data-agent="{{ a.id }}" data-events="{{ events_url }}" data-state-url="{{ state_url }}"
     data-command-url="{{ command_url }}">
<p>State: <span class="state" id="state">{{ a.state }}</span> <span id="reason">{{ a.reason }}</span></p>
<div class="pop" id="pop"><em>No call.</em></div>
<p>
<button data-cmd="ready">Ready</button>
<select id="reason-select">{% for r in reasons %}<option>{{ r }}</option>{% endfor %}</select>
<button data-cmd="break">Break</button>
<button data-cmd="wrapup">Wrap-up 30 s</button>
<button data-cmd="hangup">Hang up</button>
</p>
<p>Transfer to <input id="xfer-target" size="10" placeholder="agent or queue">
<select id="xfer-type"><option value="agent">agent</option><option value="queue">queue</option></select>
<select id="xfer-kind"><option>blind</option><option>attended</option></select>
<button data-cmd="transfer">Transfer</button></p>
<p>Memo <input id="memo-text" size="40" maxlength="1530" placeholder="SMS to the caller">
<button id="memo-send" data-memo-url="{{ memo_url }}">Send memo</button></p>
<p id="msg"></p>
<h3>Events</h3><ol id="log" reversed></ol>
</div>
<script src="{{ js_url }}"></script>
"""



def _csrf() -> str:
    return csrf_token() if _guarded() else ""    # mounted without the login hooks: no session, no token


@bp.route("/cti/agent.js")
def agent_js() -> Response:
    """The agent page's script (served, not inline, for the web admin's Content-Security-Policy)."""
    with bp.open_resource("static/cti_agent.js", "rb") as f:
        return Response(f.read(), mimetype="application/javascript")


@bp.route("/cti/agent/<agent_id>")
def agent_page(agent_id: str) -> Reply | WerkzeugResponse | str:
    """The agent page: inside the web admin the agent workbench; mounted alone a bare screen pop + controls."""
    a = _agent_for(agent_id)
    if _guarded():
        return redirect(url_for("desk.workbench", agent_id=a["id"]))
    body = render_template_string(AGENT_BODY, a=a, reasons=DEFAULT_BREAK_REASONS[:-1],
                                  events_url=url_for("acd.agent_events", agent_id=a["id"]),
                                  state_url=url_for("acd.agent_state", agent_id=a["id"]),
                                  command_url=url_for("acd.agent_command", agent_id=a["id"]),
                                  memo_url=url_for("acd.agent_memo", agent_id=a["id"]),
                                  js_url=url_for("acd.agent_js"))
    return render_template_string(PAGE, title=f"Agent {a['id']}", body=body, csrf=_csrf())


REFERENCE_BODY = """
<h1>CTI event documents</h1>
<p>Streams (Server-Sent Events, <code>text/event-stream</code>; each message has <code>id</code> = document id,
<code>event</code> = document type, <code>data</code> = the JSON document; reconnect with
<code>Last-Event-ID</code> or <code>?after=&lt;id&gt;</code>):</p>
<ul><li><code>GET /cti/agent/&lt;agent&gt;/events</code> — documents of one agent</li>
<li><code>GET /cti/supervisor/events</code> — every document</li></ul>
<p>Every document has <code>type</code>, <code>time</code> (seconds, ACD clock) and <code>id</code>.</p>
<table><tr><th>type</th><th>meaning</th><th>fields</th><th>example</th></tr>
{% for t, (desc, fields) in docs.items() %}
<tr id="{{ t }}"><td><code>{{ t }}</code></td><td>{{ desc }}</td><td>{{ fields|join(", ") }}</td>
<td><pre>{{ examples[t] }}</pre></td></tr>{% endfor %}
</table>
<h2>Agent commands</h2>
<p><code>POST /cti/agent/&lt;agent&gt;/command</code> with JSON <code>{"cmd": ...}</code>:
ready · break (<code>reason</code>) · wrapup (<code>seconds</code>) · login · logout ·
transfer (<code>agent</code> or <code>queue</code>, <code>kind</code> blind|attended) · hangup ·
conference (<code>number</code> or <code>port</code>) ·
hold · unhold · disposition (<code>code</code>) · supervisors: monitor (<code>mode</code>, <code>port</code> or
<code>number</code>), force_ready, force_break (<code>reason</code>), force_logout.
Every command is checked against the agent's state now and applied before the answer (200), or refused at once
with the reason (409); nothing is kept to fire later.</p>
"""


@bp.route("/cti/reference")
def reference() -> str:
    """Reference page: every CTI JSON document with its fields and an example."""
    examples = {}
    for t in DOCUMENTS:
        ex: dict[str, Any] = {"id": 1234, "type": t, "time": 1795430000.25}
        ex.update(EXAMPLES.get(t, {}))
        examples[t] = json.dumps(ex, indent=1, ensure_ascii=False)
    body = render_template_string(REFERENCE_BODY, docs=DOCUMENTS, examples=examples)
    return render_template_string(PAGE, title="CTI reference", body=body, csrf=_csrf())
