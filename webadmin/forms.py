"""Typed configuration forms for queues, agents, queue members and skills: one field list per page and one
server-side validation (ranges, choices, references to existing queues/agents, the ACD's own QueueConfig
check) shared by the pages and the JSON API; errors are per field, in the user's language."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkline.acd.models import AcdAgent, AcdMember, AcdQueue, AcdSkill
from trunkline.acd.queues import QueueConfig, QueueConfigError
from trunkline.acd.strategies import STRATEGIES
from trunkline.data.db import Base
from trunkline.data.pins import pin_for_storage
from trunkline.ivr import dialplan
from trunkline.ivr.dialplan_models import DialCap, DialRule, OutboundRoute
from trunkline.media.moh import DEFAULT_CLASS, class_names

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
PHONE = re.compile(r"\+?[0-9*#]{1,32}")
DTMF_KEYS = ["", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]


class FormErrors(ValueError):
    """Field errors of a submitted form: {field: message} ("" = the form as a whole)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))
        self.errors = errors


@dataclass
class Field:
    """One form field: kind text|int|float|select|bool|password|secret (password: a PIN stored hashed; secret:
    stored as typed; both never shown back, blank on edit = unchanged); `option` = kept in the row's options JSON."""
    key: str
    label: Any
    kind: str = "text"
    lo: float | None = None
    hi: float | None = None
    required: bool = False
    choices: Callable[[Session], list[str]] | None = None
    pattern: re.Pattern[str] | None = None
    option: bool = False
    default: Any = None
    key_field: bool = False
    check: Callable[[str], str | None] | None = None     # extra check of the text: an error message or None


def _dial_pattern(text: str) -> str | None:
    try:
        dialplan.compile_pattern(text)
    except ValueError as exc:
        return _("Not a dial pattern: %(why)s", why=str(exc))
    return None


TRUNKS = ["", "pri", "r2", "ss7", "sip", "analog"]


def _queues(s: Session) -> list[str]:
    return list(s.scalars(select(AcdQueue.name).order_by(AcdQueue.name)))


def _moh_classes(s: Session) -> list[str]:
    """The music-on-hold classes under the running server's prompt directory ("" = the default class)."""
    hub = current_app.config.get("HUB")
    root = getattr(hub, "prompts_dir", None) or current_app.config.get("PROMPTS_DIR", "var/prompts")
    return ["", DEFAULT_CLASS, *(c for c in class_names(root) if c != DEFAULT_CLASS)]   # default: made at start


def _agents(s: Session) -> list[str]:
    return list(s.scalars(select(AcdAgent.id).order_by(AcdAgent.id)))


FORMS: dict[str, tuple[type[Base], list[Field]]] = {
    "queues": (AcdQueue, [
        Field("name", _l("Name"), required=True, pattern=NAME, key_field=True),
        Field("strategy", _l("Strategy"), "select", required=True, choices=lambda s: list(STRATEGIES),
              default="longest-idle"),
        Field("enabled", _l("Enabled"), "bool", default=True),
        Field("ring_timeout", _l("Ring timeout (s)"), "float", 1, 600, required=True, option=True, default=15),
        Field("wrapup", _l("Wrap-up (s)"), "float", 0, 3600, option=True, default=0),
        Field("service_level", _l("Service level target (s)"), "float", 1, 3600, option=True, default=20),
        Field("max_wait", _l("Longest wait before overflow (s, empty = no limit)"), "float", 1, 86400,
              option=True),
        Field("announce_interval", _l("Position announcements every (s, 0 = never)"), "float", 0, 3600,
              option=True, default=0),
        Field("max_no_answer", _l("No-answers before an agent goes on break"), "int", 1, 20, option=True,
              default=3),
        Field("moh", _l("Music on hold class"), "select", choices=_moh_classes, option=True, default="default"),
        Field("voicemail_key", _l("Key for voicemail"), "select", choices=lambda s: DTMF_KEYS, option=True),
        Field("callback_key", _l("Key for a callback"), "select", choices=lambda s: DTMF_KEYS, option=True),
        Field("record", _l("Record calls"), "bool", option=True, default=True),
        Field("recording", _l("Recording policy (empty = whole call)"), "select", option=True,
              choices=lambda s: ["", "none", "ivr", "agent", "whole"]),
    ]),
    "agents": (AcdAgent, [
        Field("id", _l("Agent number"), required=True, pattern=NAME, key_field=True),
        Field("name", _l("Name")),
        Field("pin", _l("PIN (digits)"), "password", pattern=re.compile(r"[0-9]{0,16}")),
        Field("station_port", _l("Station port (FXS)"), "int", 0, 4095),
        Field("number", _l("External number"), pattern=PHONE),
    ]),
    "members": (AcdMember, [
        Field("queue", _l("Queue"), "select", required=True, choices=_queues, key_field=True),
        Field("agent", _l("Agent"), "select", required=True, choices=_agents, key_field=True),
        Field("penalty", _l("Penalty"), "int", 0, 100, default=0),
        Field("position", _l("Position"), "int", 0, 1000, default=0),
        Field("weight", _l("Weight"), "float", 0.01, 100, default=1.0),
    ]),
    "skills": (AcdSkill, [
        Field("agent", _l("Agent"), "select", required=True, choices=_agents, key_field=True),
        Field("skill", _l("Skill"), required=True, pattern=NAME, key_field=True),
        Field("level", _l("Level"), "int", 1, 10, default=1),
    ]),
    "outbound_routes": (OutboundRoute, [
        Field("name", _l("Name"), required=True, pattern=NAME, key_field=True),
        Field("pattern", _l("Number pattern (e.g. _1[3-9]XXXXXXXXX)"), required=True, check=_dial_pattern),
        Field("priority", _l("Priority (lowest first)"), "int", 0, 10000, required=True, default=100),
        Field("trunk", _l("Trunk (empty = any)"), "select", choices=lambda s: TRUNKS),
        Field("strip", _l("Digits to strip"), "int", 0, 16, required=True, default=0),
        Field("prefix", _l("Prefix to add"), pattern=re.compile(r"[0-9*#]{0,16}")),
        Field("caller_id", _l("Caller ID (empty = unchanged)"), pattern=PHONE),
        Field("enabled", _l("Enabled"), "bool", default=True),
    ]),
    "dial_rules": (DialRule, [
        Field("name", _l("Name"), required=True, pattern=NAME, key_field=True),
        Field("role", _l("Role"), "select", required=True, choices=lambda s: ["*", *dialplan.ROLES], default="*"),
        Field("pattern", _l("Number pattern (empty = any)"), check=_dial_pattern),
        Field("dest_class", _l("Destination class (empty = any)"), "select",
              choices=lambda s: ["", *dialplan.CLASSES]),
        Field("action", _l("Action"), "select", required=True, choices=lambda s: ["allow", "deny"], default="deny"),
        Field("priority", _l("Priority (lowest first)"), "int", 0, 10000, required=True, default=100),
        Field("enabled", _l("Enabled"), "bool", default=True),
    ]),
    "dial_caps": (DialCap, [
        Field("role", _l("Role"), "select", required=True, choices=lambda s: list(dialplan.ROLES), key_field=True),
        Field("account", _l("Account (empty = each account)"), pattern=NAME, key_field=True),
        Field("per_hour", _l("Calls per hour (0 = no limit)"), "int", 0, 100000, required=True, default=0),
        Field("per_day", _l("Calls per day (0 = no limit)"), "int", 0, 1000000, required=True, default=0),
    ]),
}
#: dial plan pages (they restrict agents and supervisors) and SIP trunks (carrier credentials): admins only
ADMIN_ONLY = {"outbound_routes", "dial_rules", "dial_caps", "sip_trunks"}


#: page -> a whole-form check(values, session, errors) run after the field checks, on the fields that passed
#: (values has only those); pages defined in other modules (webadmin.shift_form, webadmin.inbound_routes)
#: register their form in FORMS and their check here
CHECKS: dict[str, Callable[[dict[str, Any], Session, dict[str, str]], None]] = {}
#: page -> rows defined elsewhere (e.g. the config file's SIP trunks), listed read-only above the table
EXTRA_ROWS: dict[str, Callable[[], list[dict[str, Any]]]] = {}


def _number(f: Field, text: str) -> tuple[Any, str | None]:
    lo, hi = f.lo, f.hi
    try:
        v: float = int(text) if f.kind == "int" else float(text)
    except ValueError:
        return None, (_("Enter a whole number from %(lo)s to %(hi)s.", lo=f"{lo:g}", hi=f"{hi:g}")
                      if f.kind == "int" else _("Enter a number from %(lo)s to %(hi)s.", lo=f"{lo:g}", hi=f"{hi:g}"))
    if v != v or (lo is not None and v < lo) or (hi is not None and v > hi):
        return None, _("Must be from %(lo)s to %(hi)s.", lo=f"{lo:g}", hi=f"{hi:g}")
    return v, None


def validate(page: str, data: Mapping[str, Any], s: Session, update: bool = False) -> dict[str, Any]:
    """The typed values of a submitted form (text or JSON values); raises FormErrors naming each bad field.
    A blank password field on update means unchanged (left out of the result)."""
    fields = FORMS[page][1]
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        raw = data.get(f.key)
        if f.kind == "bool":
            values[f.key] = raw in (True, 1, "1", "true", "on", "yes")
            continue
        text = "" if raw is None else str(raw).strip()
        if text == "":
            if f.required:
                errors[f.key] = _("This field is required.")
            elif not (f.kind in ("password", "secret") and update):
                values[f.key] = None if f.kind in ("int", "float") else ""
            continue
        if f.kind in ("int", "float"):
            v, err = _number(f, text)
            if err:
                errors[f.key] = err
            else:
                values[f.key] = v
            continue
        if f.choices is not None and text not in f.choices(s):
            errors[f.key] = _("Choose one of the listed values (%(value)s is not one).", value=text[:40])
            continue
        if f.pattern is not None and not f.pattern.fullmatch(text):
            errors[f.key] = (_("Digits only, at most 16.") if f.kind == "password" else
                             _("Use digits, * # and a leading +.") if f.pattern is PHONE else
                             _("Use letters, digits, '.', '_' or '-' (at most 64, not starting with a sign)."))
            continue
        if len(text) > 128:
            errors[f.key] = _("At most 128 characters.")
            continue
        if f.check is not None and (msg := f.check(text)) is not None:
            errors[f.key] = msg
            continue
        values[f.key] = text
    if not errors and page == "queues":
        _check_queue(values, s, errors)
    if page in CHECKS:                      # its own checks on the fields that passed (values has only those)
        CHECKS[page](values, s, errors)
    if errors:
        raise FormErrors(errors)
    return values


def _check_queue(values: dict[str, Any], s: Session, errors: dict[str, str]) -> None:
    """The ACD's own check of the whole queue (what the running server will accept)."""
    row = s.get(AcdQueue, values["name"])
    opts = dict(row.options or {}) if row is not None and isinstance(row.options, dict) else {}
    for k, v in queue_options(values).items():
        if v is None and k != "max_wait":           # empty: the ACD's default
            opts.pop(k, None)
        else:
            opts[k] = v
    known = set(QueueConfig.__dataclass_fields__)
    try:
        QueueConfig(name=values["name"], strategy=values["strategy"],
                    **{k: v for k, v in opts.items() if k in known and k not in ("name", "strategy")})
    except (QueueConfigError, TypeError) as exc:
        text = str(exc)
        field = next((f.key for f in FORMS["queues"][1] if f.key in text), "")
        errors[field] = _("The ACD refuses this queue: %(why)s", why=text)


def queue_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options-JSON part of validated queue values (None/"" for optional keys and times = not set)."""
    out: dict[str, Any] = {}
    for f in FORMS["queues"][1]:
        if f.option and f.key in values:
            v = values[f.key]
            out[f.key] = None if v == "" else v
    return out


def key_of(page: str, data: Mapping[str, Any]) -> tuple[Any, ...]:
    """The primary key of the row a form names (the key fields' values, as text)."""
    return tuple(str(data.get(f.key, "")).strip() for f in FORMS[page][1] if f.key_field)


def save(s: Session, page: str, op: str, data: Mapping[str, Any], key: tuple[Any, ...] | None = None) -> Base:
    """Create, update or delete one row from submitted form data (validated here); returns the row.
    Raises FormErrors (also for a duplicate on create or a missing row on update/delete)."""
    model, fields = FORMS[page]
    if op not in ("create", "update", "delete"):
        raise FormErrors({"": _("unknown operation")})
    key = key or key_of(page, data)
    row = s.get(model, key if len(key) > 1 else key[0]) if any(key) else None
    if op in ("update", "delete") and row is None:
        raise FormErrors({"": _("that row no longer exists")})
    if op == "delete":
        assert row is not None
        s.delete(row)
        return row
    values = validate(page, data, s, update=op == "update")
    new_key = tuple(str(values[f.key]) for f in fields if f.key_field)
    if op == "create" or new_key != key:
        if s.get(model, new_key if len(new_key) > 1 else new_key[0]) is not None:
            raise FormErrors({fields[0].key: _("Already exists.")})
    if row is None:
        row = model()
        s.add(row)
    opts = dict(getattr(row, "options", None) or {}) if page == "queues" else {}
    for f in fields:
        if f.key not in values:
            continue
        if f.option:
            opts[f.key] = values[f.key] if values[f.key] not in ("", None) else None
            if opts[f.key] is None and f.key not in ("max_wait",):
                opts.pop(f.key)
        elif f.kind == "bool":
            setattr(row, f.key, 1 if values[f.key] else 0)
        elif f.kind == "password":                    # PINs: only a hash is stored (trunkline.data.pins)
            setattr(row, f.key, pin_for_storage(values[f.key]))
        else:
            setattr(row, f.key, values[f.key] if values[f.key] != "" or not _nullable(model, f.key) else None)
    if page == "queues":
        row.options = opts      # type: ignore[attr-defined]
    s.flush()
    return row


def _nullable(model: type[Base], key: str) -> bool:
    col = model.__table__.columns.get(key)
    return bool(col is not None and col.nullable)


def row_values(page: str, row: Base) -> dict[str, Any]:
    """A stored row as form values (queue options spread into their fields; secrets blank)."""
    fields = FORMS[page][1]
    opts = getattr(row, "options", None) if page == "queues" else None
    opts = opts if isinstance(opts, dict) else {}
    out: dict[str, Any] = {}
    for f in fields:
        v = opts.get(f.key, f.default) if f.option else getattr(row, f.key, None)
        if f.kind in ("password", "secret"):
            v = ""
        elif f.kind == "bool":
            v = bool(v)
        out[f.key] = "" if v is None else v
    return out


def stored_problem(page: str, row: Base, s: Session) -> str | None:
    """Why a stored row would be refused now (None: it is valid) — shown beside rows saved by other means."""
    try:
        validate(page, {k: ("" if v is None else v) for k, v in row_values(page, row).items()} |
                 ({"pin": ""} if page == "agents" else {}), s, update=True)
    except FormErrors as exc:
        return str(exc)
    return None
