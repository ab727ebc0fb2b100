"""Typed configuration pages (/config/table/queues|agents|members|skills) and their JSON API
(/api/config/<page>): both validate through webadmin.forms; errors are shown on the field."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from trunkline.data.db import session_scope

from . import forms
from .security import audit, can, db, require

bp = Blueprint("typed", __name__)


def _may_edit(page: str = "") -> None:
    perm = "security.manage" if page in forms.ADMIN_ONLY else "config.edit"   # dial plan: admins only
    if not can(perm):
        audit("denied", request.path, perm)
        abort(403)


def _reload_acd(page: str, values: dict[str, Any]) -> None:
    """A saved queue takes effect in the running ACD (its cached QueueConfig is re-read)."""
    acd = current_app.config["HUB"].acd
    if acd is not None and page == "queues" and values.get("name"):
        try:
            acd.core.queue_config(str(values["name"]), reload=True)
        except (ValueError, KeyError):        # deleted, or refused: the live pages report it
            pass


def _rows(page: str) -> list[dict[str, Any]]:
    model, fields = forms.FORMS[page]
    out = []
    with session_scope(db()) as s:
        for r in s.scalars(select(model).limit(1000)):
            vals = forms.row_values(page, r)
            out.append({"key": [str(vals[f.key]) for f in fields if f.key_field], "values": vals,
                        "problem": forms.stored_problem(page, r, s)})
    return out


def _apply(page: str, op: str, data: dict[str, Any], key: tuple[Any, ...] | None) -> None:
    with session_scope(db()) as s:
        forms.save(s, page, op, data, key)
    detail = {k: ("***" if k in ("pin", "password") else v) for k, v in data.items() if k != "csrf_token"}
    audit(f"config_{op}", page, json.dumps(detail, ensure_ascii=False, default=str)[:1000])
    _reload_acd(page, {"name": data.get("name") or (key or ("",))[0]})
    plan = current_app.config["HUB"].dialplan
    if page in forms.ADMIN_ONLY and plan is not None:
        plan.reload()                          # the running dial plan follows the change at once
    trunks = current_app.config["HUB"].sip_trunks
    if page == "sip_trunks" and trunks is not None:
        trunks.reload()                        # the running SIP spans take the new trunks at once


def typed_page(page: str, title: str) -> Response | tuple[str, int]:
    """List, edit, add and delete rows of `page` with typed fields and field-level errors."""
    errors: dict[str, str] = {}
    submitted: dict[str, Any] | None = None
    editing = request.args.get("edit")
    if request.method == "POST":
        _may_edit(page)
        op = request.form.get("op", "")
        key = tuple(request.form.getlist("key")) or None
        data = {k: request.form.get(k) for k in request.form if k not in ("op", "key", "csrf_token")}
        for f in forms.FORMS[page][1]:
            if f.kind == "bool":
                data[f.key] = request.form.get(f.key, "")
        try:
            _apply(page, op, data, key)
            return redirect(url_for("config.table", page=page))
        except forms.FormErrors as exc:
            errors, submitted = exc.errors, data
            editing = "|".join(key) if key else None
    fields = forms.FORMS[page][1]
    with session_scope(db()) as s:
        choices = {f.key: f.choices(s) for f in fields if f.choices is not None}
    extra = forms.EXTRA_ROWS[page]() if page in forms.EXTRA_ROWS else []
    return render_template("config_form.html", page=page, title=title, fields=fields, rows=_rows(page), extra=extra,
                           choices=choices, errors=errors, submitted=submitted, editing=editing,
                           defaults={f.key: ("" if f.default is None else f.default) for f in fields}), \
        (400 if errors else 200)


@bp.route("/api/config/<page>", methods=["GET", "POST"])
@require("config.view")
def api(page: str) -> Response | tuple[Response, int]:
    """GET: the rows with any stored problem; POST JSON {op, key?, values}: the same validation as the page,
    400 {"errors": {field: message}} when refused."""
    if page not in forms.FORMS:
        abort(404)
    if page in forms.ADMIN_ONLY:
        _may_edit(page)
    if request.method == "GET":
        extra = forms.EXTRA_ROWS[page]() if page in forms.EXTRA_ROWS else []
        return jsonify({"rows": _rows(page), "read_only": extra})
    _may_edit(page)
    doc = request.get_json(silent=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("values", {}), dict):
        return jsonify({"errors": {"": _("Send a JSON object {op, key, values}.")}}), 400
    key = tuple(str(k) for k in doc["key"]) if isinstance(doc.get("key"), list) else None
    try:
        _apply(page, str(doc.get("op", "")), dict(doc.get("values") or {}), key)
    except forms.FormErrors as exc:
        return jsonify({"errors": exc.errors}), 400
    return jsonify({"ok": True})
