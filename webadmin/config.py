"""Configuration pages: IVR flows (YAML editor with validation), prompts (upload, TTS), queues, agents,
skills, calendars, blacklist (generic table editors), users/roles, audit and error logs. Boards and spans are
read from the running board (webadmin.hardware), not edited here."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from typing import Any, cast

import yaml
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Float, Integer, func, inspect, select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from trunkline.acd.models import AcdAgent, AcdMember, AcdQueue, AcdShift, AcdSkill
from trunkline.data.db import Base, session_scope
from trunkline.data.mail_models import FaxMailbox
from trunkline.data.models import ROLES, AuditLog, ErrorLog, RoleAllowlist, User
from trunkline.data.pins import hash_pin
from trunkline.ivr import flowdoc
from trunkline.ivr.dialplan_models import DialCap, DialRule, OutboundRoute
from trunkline.ivr.models import (
    IvrBlacklistEntry,
    IvrCalendar,
    IvrCalendarDay,
    IvrFlow,
    IvrLookupSource,
    IvrMailbox,
    IvrPrompt,
)
from trunkline.ivr.prompts import LANGS, PromptError, PromptLibrary, check_lang, check_name

from .flow_diagram import diagram
from .forms import ADMIN_ONLY, FORMS
from .inbound_routes import TABLE as INBOUND_ROUTES
from .rows import listed
from .security import audit, can, db, hash_password, parse_cidrs, require, sessions, would_lock_out
from .shift_form import COLUMNS as SHIFT_COLUMNS
from .shift_form import TITLE as SHIFT_TITLE
from .sip_trunk_form import TABLE as SIP_TRUNKS
from .terms import term
from .typed_pages import typed_page

bp = Blueprint("config", __name__)

#: page name -> (model, title, editable columns)
TABLES: dict[str, tuple[type[Base], Any, list[str]]] = {
    "queues": (AcdQueue, _l("Queues"), ["name", "strategy", "options", "enabled"]),
    "agents": (AcdAgent, _l("Agents"), ["id", "name", "pin", "station_port", "number", "host"]),
    "members": (AcdMember, _l("Queue members"), ["queue", "agent", "penalty", "position", "weight"]),
    "skills": (AcdSkill, _l("Agent skills"), ["agent", "skill", "level"]),
    "shifts": (AcdShift, SHIFT_TITLE, SHIFT_COLUMNS),
    "calendars": (IvrCalendar, _l("Calendars"), ["name", "timezone", "weekly"]),
    "calendar_days": (IvrCalendarDay, _l("Holidays and make-up days"), ["calendar_id", "day", "kind", "name", "hours"]),
    "blacklist": (IvrBlacklistEntry, _l("Blacklist"),
                  ["pattern", "match", "action", "flow", "cause", "note", "enabled"]),
    "mailboxes": (IvrMailbox, _l("Voicemail boxes"), ["box", "pin", "name", "email", "max_seconds"]),
    "fax_mailboxes": (FaxMailbox, _l("Fax mailboxes"), ["did", "email", "name"]),
    "lookups": (IvrLookupSource, _l("Lookup sources"), ["name", "kind", "query", "field", "timeout", "enabled"]),
    "role_allowlist": (RoleAllowlist, _l("Role IP allowlist"), ["role", "cidr"]),
    "inbound_routes": INBOUND_ROUTES,
    "outbound_routes": (OutboundRoute, _l("Outbound routes"),
                        ["name", "pattern", "priority", "trunk", "strip", "prefix", "caller_id", "enabled"]),
    "dial_rules": (DialRule, _l("Dial plan rules"), ["name", "role", "pattern", "dest_class", "action", "priority",
                                                      "enabled"]),
    "dial_caps": (DialCap, _l("Outbound call caps"), ["role", "account", "per_hour", "per_day"]),
    "sip_trunks": SIP_TRUNKS,
}
SECRET_COLUMNS = {"pin", "password_hash", "pin_hash"}
#: tables that decide who may log in from where: admin-only (security.manage)
SECURITY_TABLES = {"role_allowlist"} | ADMIN_ONLY


def _model(page: str) -> type[Base]:
    if page not in TABLES:
        abort(404)
    if page in SECURITY_TABLES and not can("security.manage"):
        audit("denied", request.path, "security.manage")
        abort(403)
    return TABLES[page][0]


def _table_name(page: str) -> str:
    return str(TABLES[page][0].__tablename__)


def _columns(page: str, model: type[Base]) -> list[Column[Any]]:
    cols = {c.key: c for c in inspect(model).columns}
    return [cols[n] for n in TABLES[page][2] if n in cols]


def _may_edit() -> None:
    """Abort 403 (audited) unless the user may change configuration."""
    if not can("config.edit"):
        audit("denied", request.path, "config.edit")
        abort(403)


def convert(col: Column[Any], text: str) -> Any:
    """Form text -> a value of the column's type; raises ValueError with a clear message."""
    t = col.type
    if text == "" and col.nullable and not col.primary_key:
        return None
    try:
        if isinstance(t, Boolean):
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(t, Integer):
            return int(text)
        if isinstance(t, Float):
            return float(text)
        if isinstance(t, JSON):
            return json.loads(text or "null") if text.strip() else ({} if not col.nullable else None)
        if isinstance(t, DateTime):
            return dt.datetime.fromisoformat(text)
        if isinstance(t, Date):
            return dt.date.fromisoformat(text)
    except (ValueError, json.JSONDecodeError):
        raise ValueError(_("%(field)s: not a valid %(kind)s (%(text)s)", field=term(col.key),
                           kind=_type_word(col), text=text[:40])) from None
    if col.key == "cidr":
        parse_cidrs(text)
    if col.key == "role" and text not in ROLES:
        raise ValueError(_("role must be one of %(roles)s", roles=", ".join(ROLES)))
    return text


def _type_word(col: Column[Any]) -> str:
    """What kind of value a column takes, in the user's language."""
    t = col.type
    if isinstance(t, Integer):
        return _("whole number")
    if isinstance(t, Float):
        return _("decimal number")
    if isinstance(t, JSON):
        return _("JSON value")
    if isinstance(t, DateTime):
        return _("date and time (YYYY-MM-DD HH:MM)")
    if isinstance(t, Date):
        return _("date (YYYY-MM-DD)")
    return _("value")


def show(col: Column[Any], value: Any) -> str:
    """Column value -> form text."""
    if col.key in SECRET_COLUMNS:
        return ""
    if value is None:
        return ""
    if isinstance(col.type, JSON):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


@bp.route("/config")
@require("config.view")
def index() -> str:
    """List of configuration pages."""
    pages = [(p, t[1]) for p, t in TABLES.items() if p not in SECURITY_TABLES or can("security.manage")]
    return render_template("config_index.html", pages=pages)


@bp.route("/config/table/<page>", methods=["GET", "POST"])
@require("config.view")
def table(page: str) -> Response | str | tuple[str, int]:
    """Generic editor: list rows, add, update, delete (each change audited); queues, agents, members and
    skills have typed forms (webadmin.typed_pages)."""
    model = _model(page)
    if page in FORMS:
        return typed_page(page, str(TABLES[page][1]))
    cols = _columns(page, model)
    pks = [cast(Column[Any], c) for c in inspect(model).primary_key]
    error = None
    if request.method == "POST":
        _may_edit()
        op = request.form.get("op")
        try:
            with session_scope(db()) as s:
                if op in ("update", "delete"):
                    key = tuple(convert(c, request.form.get("pk_" + c.key, "")) for c in pks)
                    row = s.get(model, key if len(key) > 1 else key[0])
                    if row is None:
                        raise ValueError(_("that row no longer exists"))
                else:
                    row = model()
                if op == "delete":
                    s.delete(row)
                    detail = {c.key: show(c, getattr(row, c.key)) for c in pks}
                else:
                    detail = {}
                    for c in cols:
                        if c.key not in request.form and not isinstance(c.type, Boolean):
                            continue
                        text = request.form.get(c.key, "").strip()
                        if c.key in SECRET_COLUMNS and text == "" and op == "update":
                            continue  # blank secret = unchanged
                        if c.key in SECRET_COLUMNS and c.key == "pin_hash":
                            text = hash_password(text)
                        if c.key == "pin" and text:      # voicemail PINs: only a hash is stored
                            if not text.isdigit() or not 4 <= len(text) <= 16:
                                raise ValueError(_("A PIN is 4 to 16 digits."))
                            text = hash_pin(text)
                        val = convert(c, text)
                        if val is None and not c.nullable and c.default is None and not c.primary_key:
                            raise ValueError(_("%(field)s is required", field=term(c.key)))
                        setattr(row, c.key, val)
                        detail[c.key] = "***" if c.key in SECRET_COLUMNS else text
                    if op != "update":
                        s.add(row)
                s.flush()
                if page in SECURITY_TABLES and (lock := would_lock_out(s)):
                    raise ValueError(lock)
            audit(f"config_{op}", _table_name(page), json.dumps(detail, ensure_ascii=False))
            return redirect(url_for("config.table", page=page))
        except IntegrityError as e:
            error = _("Refused by the database (duplicate or missing reference): %(why)s",
                      why=str(e.orig).splitlines()[0])
        except ValueError as e:
            error = str(e)
    with session_scope(db()) as s:
        rows = s.scalars(select(model).limit(1000)).all()
        data = [({c.key: show(c, getattr(r, c.key)) for c in pks},
                 {c.key: show(c, getattr(r, c.key)) for c in cols}) for r in rows]
    return render_template("config_table.html", page=page, title=TABLES[page][1], cols=cols, rows=data,
                           error=error, secret=SECRET_COLUMNS,
                           bools={c.key for c in cols if isinstance(c.type, Boolean)}), (400 if error else 200)


# ---------------------------------------------------------------- IVR flows

def validate_flow(text: str) -> list[tuple[int | None, str]]:
    """[(line, message)] for a YAML flow document, through the running registry's validator when there is one
    (prompts, queues, sub-flows, calendars checked), else the IVR's parser (empty = valid); never raises."""
    reg = _flow_registry()
    try:
        if reg is not None:
            reg.validate(text)
        else:
            flowdoc.parse(text)
        return []
    except flowdoc.FlowError as e:
        return [(p.line, str(p)) for p in e.problems]
    except (ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as e:   # a checker tripped up
        return [(None, _("the flow could not be checked: %(why)s", why=e))]


@bp.route("/config/flows/diagram", methods=["POST"])
@require("config.view")
def flow_diagram() -> Response:
    """JSON diagram of the posted flow text (nodes, branches, problems per node) for the editor."""
    text = str((request.get_json(silent=True) or {}).get("source", ""))[:200_000]
    reg = _flow_registry()
    return jsonify(diagram(text, reg.validate if reg is not None else flowdoc.parse))


def _flow_name(text: str, fallback: str) -> str:
    """The flow's name from its YAML (the form's name when the text is not YAML with a name)."""
    try:
        doc = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):     # bad or nested too deep: the parser reports it on the line
        doc = None
    name = doc.get("name") if isinstance(doc, dict) else None
    return str(name) if isinstance(name, str) and name.strip() else fallback


def _store_version(name: str, text: str) -> int:
    """Keep `text` as the next version of flow `name` without installing it; returns the version."""
    with session_scope(db()) as s:
        last = s.scalar(select(func.max(IvrFlow.version)).where(IvrFlow.name == name)) or 0
        try:
            lang = (yaml.safe_load(text) or {}).get("language") or "zh"
        except (yaml.YAMLError, AttributeError, RecursionError):
            lang = "zh"
        s.add(IvrFlow(name=name, version=last + 1, source=text, language=str(lang)[:8], created_by=g.user.username))
        return int(last) + 1


def _flow_registry() -> Any:
    return current_app.config["HUB"].flows


@bp.route("/config/flows")
@require("config.view")
def flows() -> str:
    """Flow list: each name with its newest version."""
    Flow = IvrFlow
    with session_scope(db()) as s:
        rows = s.execute(select(Flow.name, func.max(Flow.version), func.max(Flow.created_at))
                         .group_by(Flow.name).order_by(Flow.name)).all()
    return render_template("flows.html", rows=rows)


@bp.route("/config/flows/edit", methods=["GET", "POST"])
@require("config.view")
def flow_edit() -> tuple[str, int]:
    """YAML editor: validation errors (with line numbers) shown and the text kept; only a valid flow goes live;
    "save as draft" keeps an invalid text as a new version that does not go live (the newest valid version
    stays in service, also after a restart)."""
    name = request.values.get("name", "")
    text, errors, saved, draft = "", [], None, None
    if request.method == "POST":
        _may_edit()
        text = request.form.get("source", "").replace("\r\n", "\n")
        errors = validate_flow(text)
        doc_name = _flow_name(text, name)
        if errors:
            audit("flow_rejected", f"flow:{doc_name}", "; ".join(m for _line, m in errors)[:1000])
            if request.form.get("draft") and NAME_RE.fullmatch(doc_name or ""):
                draft = _store_version(doc_name, text)
                audit("flow_draft", f"flow:{doc_name}", f"version {draft}")
                name = doc_name
        else:
            reg = _flow_registry()
            try:
                if reg is not None:
                    reg.load_yaml(text, store=True, author=g.user.username)  # goes live for new calls
                    with session_scope(db()) as s:
                        saved = s.scalar(select(func.max(IvrFlow.version)).where(IvrFlow.name == doc_name))
                else:
                    saved = _store_version(doc_name, text)
            except flowdoc.FlowError as e:
                errors = [(p.line, str(p)) for p in e.problems]
            except (ValueError, KeyError, TypeError, RuntimeError) as e:    # refused while installing
                errors = [(None, _("not installed: %(why)s", why=e))]
            if saved:
                audit("flow_saved", f"flow:{doc_name}", f"version {saved}")
                name = doc_name
    elif name:
        with session_scope(db()) as s:
            row = s.scalars(select(IvrFlow).where(IvrFlow.name == name).order_by(IvrFlow.version.desc())).first()
            text = row.source if row else ""
    return render_template("flow_edit.html", name=name, text=text, errors=errors, saved=saved, draft=draft), \
        (422 if errors else 200)


# ---------------------------------------------------------------- prompts

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_UPLOAD_EXT = re.compile(r"\.[A-Za-z0-9]{1,8}")

def _prompt_library() -> PromptLibrary:
    hub = current_app.config["HUB"]
    lib: PromptLibrary | None = hub.prompts
    if lib is None:
        lib = PromptLibrary(hub.prompts_dir or current_app.config["PROMPTS_DIR"], session_factory=db())
    return lib


@bp.route("/config/prompts", methods=["GET", "POST"])
@require("config.view")
def prompts() -> tuple[str, int]:
    """Prompt library: upload any audio file soundfile reads (converted to 8 kHz once) or define by TTS text."""
    error = msg = None
    if request.method == "POST":
        if not can("config.edit"):
            abort(403)
        name = request.form.get("name", "").strip()
        lang = request.form.get("lang", "").strip() or None
        up = request.files.get("file")
        text = request.form.get("text", "").strip()
        try:
            check_name(name)
            if lang is not None:
                check_lang(lang)
            lib = _prompt_library()
            if up and up.filename:
                # only the extension of the client's file name is used (soundfile may need it), if plain
                ext = os.path.splitext(up.filename)[1]
                with tempfile.NamedTemporaryFile(suffix=ext if _UPLOAD_EXT.fullmatch(ext) else "") as tmp:
                    up.save(tmp.name)
                    path = lib.add_file(name, tmp.name, lang=lang)
                audit("prompt_upload", f"prompt:{lang or ''}/{name}", up.filename)
            elif text:
                path = lib.define_text(name, text, lang=lang)
                audit("prompt_tts", f"prompt:{lang or ''}/{name}", text[:200])
            else:
                raise PromptError(_("choose a file to upload or enter text for TTS"))
            msg = _("Prompt %(name)s saved (%(file)s).", name=name, file=os.path.basename(path))
        except PromptError as e:
            error = _("%(file)s: %(why)s", file=up.filename, why=e) if up and up.filename else str(e)
    return render_template("prompts.html", rows=_prompt_rows(), error=error, msg=msg), (400 if error else 200)


def _prompt_rows() -> list[dict[str, Any]]:
    """Every prompt the IVR can play: the files in the library per language (generated demo prompts, uploads,
    recordings by phone) merged with the prompt table (source, number, text)."""
    lib = _prompt_library()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for lang in LANGS:
        for n in lib.names(lang):
            rows[(n, lang)] = {"name": n, "lang": lang, "number": None, "source": "generated", "text": "",
                               "duration_ms": 0, "file": True}
    with session_scope(db()) as s:
        for p in s.scalars(select(IvrPrompt).order_by(IvrPrompt.name, IvrPrompt.lang)):
            r = rows.setdefault((p.name, p.lang or lib.language), {"name": p.name, "lang": p.lang or lib.language,
                                                                   "file": False})
            r.update(number=p.number, source=p.source, text=p.text, duration_ms=p.duration_ms)
    return [rows[k] for k in sorted(rows)]


@bp.route("/config/prompts/audio/<lang>/<path:name>")
@require("config.view")
def prompt_audio(lang: str, name: str) -> Response:
    """A prompt's 8 kHz WAV for the page's player (text-defined prompts are synthesised on first play)."""
    lib = _prompt_library()
    try:
        check_lang(lang)
        path = lib.path(name, lang)
    except PromptError as e:
        abort(404, description=str(e))
    return send_file(os.path.abspath(path), mimetype="audio/wav", conditional=True)


# ---------------------------------------------------------------- users

@bp.route("/config/users", methods=["GET", "POST"])
@require("users.manage")
def users() -> tuple[str, int]:
    """Users: create, change role/allowlist/active, reset password (shown once), delete."""
    error = msg = None
    if request.method == "POST":
        op = request.form.get("op")
        try:
            with session_scope(db()) as s:
                if op == "create":
                    username = request.form.get("username", "").strip()
                    if not username or len(username) > 64:
                        raise ValueError(_("username required (at most 64 characters)"))
                    role = request.form.get("role", "viewer")
                    if role not in ROLES:
                        raise ValueError(_("unknown role"))
                    password = request.form.get("password", "")
                    if len(password) < 10:
                        raise ValueError(_("password needs at least 10 characters"))
                    cidrs = request.form.get("allow_cidrs", "").strip()
                    parse_cidrs(cidrs)
                    if s.scalars(select(User).where(User.username == username)).first():
                        raise ValueError(_("user %(name)s exists", name=username))
                    s.add(User(username=username, role=role, password_hash=hash_password(password),
                               allow_cidrs=cidrs, agent_id=request.form.get("agent_id") or None))
                    detail = f"role={role} allow={cidrs}"
                    target = username
                else:
                    uid = request.form.get("id", "")
                    if not uid.isascii() or not uid.isdigit() or len(uid) > 9:
                        raise ValueError("no such user")
                    u = s.get(User, int(uid))
                    if u is None:
                        raise ValueError(_("no such user"))
                    target = u.username
                    if op == "update":
                        role = request.form.get("role", u.role)
                        if role not in ROLES:
                            raise ValueError(_("unknown role"))
                        cidrs = request.form.get("allow_cidrs", "").strip()
                        parse_cidrs(cidrs)
                        if u.id == g.user.id and role != "admin":
                            raise ValueError(_("you cannot remove your own admin role"))
                        u.role, u.allow_cidrs = role, cidrs
                        u.active = request.form.get("active") == "on"
                        u.agent_id = request.form.get("agent_id") or None
                        if u.id == g.user.id and not u.active:
                            raise ValueError(_("you cannot deactivate yourself"))
                        s.flush()
                        if u.id == g.user.id and (lock := would_lock_out(s)):
                            raise ValueError(lock)
                        detail = f"role={role} allow={cidrs} active={u.active}"
                    elif op == "password":
                        password = request.form.get("password", "")
                        if len(password) < 10:
                            raise ValueError(_("password needs at least 10 characters"))
                        u.password_hash = hash_password(password)
                        sessions().revoke_user(u.id, keep=session.get("sid") if u.id == g.user.id else None)
                        detail = "password reset"
                    elif op == "delete":
                        if u.id == g.user.id:
                            raise ValueError(_("you cannot delete yourself"))
                        s.delete(u)
                        detail = "deleted"
                    else:
                        raise ValueError(_("unknown operation"))
            audit(f"user_{op}", f"user:{target}", detail)
            msg = _("%(op)s: %(target)s done.", op=term(op), target=target)
        except ValueError as e:
            error = str(e)
    with session_scope(db()) as s:
        rows = s.scalars(select(User).order_by(User.username)).all()
    return render_template("users.html", rows=rows, error=error, msg=msg), (400 if error else 200)


@bp.route("/admin/audit")
@require("logs.view")
def audit_log() -> str:
    """Audit log (newest first), filterable by user and action."""
    rows = listed(AuditLog, [AuditLog.id.desc()], 500, {"user": AuditLog.username, "action": AuditLog.action})
    return render_template("audit.html", rows=rows)


@bp.route("/admin/errors")
@require("logs.view")
def error_log() -> str:
    """Error log (newest first)."""
    with session_scope(db()) as s:
        rows = s.scalars(select(ErrorLog).order_by(ErrorLog.id.desc()).limit(200)).all()
    return render_template("errors.html", rows=rows)
