"""Music-on-hold page: classes with their files and a player; create a class, upload (converted), generate,
remove; which queues use each class."""
from __future__ import annotations

import os
import tempfile
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from trunkline.acd.models import AcdQueue
from trunkline.data.db import session_scope
from trunkline.ivr.moh import FILE_RE, STYLES, MohStore
from trunkline.ivr.prompts import PromptError
from trunkline.media.moh import CLASS_RE, DEFAULT_CLASS, LEGACY_NAMES

from .security import audit, can, db, require

bp = Blueprint("moh", __name__)


def store() -> MohStore:
    """The classes under the running server's prompt directory."""
    hub = current_app.config["HUB"]
    return MohStore(hub.prompts_dir or current_app.config["PROMPTS_DIR"])


def _queues_by_class() -> dict[str, list[str]]:
    """Class name -> queues whose music on hold it is (a queue without the setting uses the default class)."""
    out: dict[str, list[str]] = {}
    with session_scope(db()) as s:
        for q in s.scalars(select(AcdQueue).order_by(AcdQueue.name)):
            opts = q.options if isinstance(q.options, dict) else {}
            cls = str(opts.get("moh", DEFAULT_CLASS) or "")
            out.setdefault(LEGACY_NAMES.get(cls, cls), []).append(q.name)
    return out


def _post(st: MohStore) -> str:
    """Do the posted operation; returns the message (PromptError / ValueError on refusal)."""
    op = request.form.get("op", "")
    cls = request.form.get("cls", "").strip()
    name = request.form.get("name", "").strip()
    if not CLASS_RE.fullmatch(cls):
        raise PromptError(_("class name: 1-32 letters, digits, _ or -"))
    if name and not FILE_RE.fullmatch(name):
        raise PromptError(_("file name: 1-48 letters, digits, _ or -"))
    if op == "create":
        st.create(cls)
        audit("moh_class_create", f"moh:{cls}", "")
        return _("Class %(cls)s created.", cls=cls)
    if op == "upload":
        up = request.files.get("file")
        if up is None or not up.filename:
            raise PromptError(_("choose a file to upload"))
        if not name:
            stem = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_"
                           for c in os.path.splitext(os.path.basename(up.filename))[0])[:48].strip("_-")
            name = stem if FILE_RE.fullmatch(stem) else "upload"
        ext = os.path.splitext(up.filename)[1]
        with tempfile.NamedTemporaryFile(suffix=ext if ext[1:].isalnum() and len(ext) <= 9 else "") as tmp:
            up.save(tmp.name)
            try:
                st.add_file(cls, name, tmp.name)
            except PromptError as exc:
                raise PromptError(_("%(file)s: %(why)s", file=up.filename, why=exc)) from None
        audit("moh_upload", f"moh:{cls}/{name}", up.filename)
        return _("%(file)s added to %(cls)s.", file=up.filename, cls=cls)
    if op == "generate":
        try:
            seconds = float(request.form.get("seconds", "8") or 8)
        except ValueError:
            raise PromptError(_("length: not a valid decimal number")) from None
        st.generate(cls, name or "generated", request.form.get("style", "gentle"), seconds)
        audit("moh_generate", f"moh:{cls}/{name or 'generated'}", request.form.get("style", ""))
        return _("Music generated in %(cls)s.", cls=cls)
    if op == "remove_file":
        st.remove_file(cls, name)
        audit("moh_remove_file", f"moh:{cls}/{name}", "")
        return _("%(file)s removed.", file=name)
    if op == "remove_class":
        st.remove_class(cls)
        audit("moh_remove_class", f"moh:{cls}", "")
        return _("Class %(cls)s removed.", cls=cls)
    raise PromptError(_("unknown operation"))


@bp.route("/config/moh", methods=["GET", "POST"])
@require("config.view")
def page() -> tuple[str, int]:
    """Music-on-hold classes: files with players, upload/generate/remove (config.edit), queues using each."""
    st = store()
    error = msg = None
    if request.method == "POST":
        if not can("config.edit"):
            audit("denied", request.path, "config.edit")
            abort(403)
        try:
            msg = _post(st)
        except (PromptError, ValueError, OSError) as exc:
            error = str(exc)
    used = _queues_by_class()
    classes: list[dict[str, Any]] = [{"name": c, "files": st.files(c), "queues": used.get(c, [])}
                                     for c in st.classes()]
    styles = {"gentle": _("gentle"), "bright": _("bright"), "calm": _("calm")}
    return render_template("moh.html", classes=classes, styles=[(k, styles.get(k, k)) for k in STYLES],
                           error=error, msg=msg,
                           missing=sorted(set(used) - {c["name"] for c in classes} - {""})), (400 if error else 200)


@bp.route("/config/moh/audio/<cls>/<name>")
@require("config.view")
def audio(cls: str, name: str) -> Response:
    """One class file's 8 kHz WAV for the page's player."""
    try:
        path = store().path(cls, name)
    except PromptError as exc:
        abort(404, description=str(exc))
    return send_file(os.path.abspath(path), mimetype="audio/wav", conditional=True)
