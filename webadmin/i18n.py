"""Language and time zone of the web admin (Flask-Babel): the user's choice (kept with the login and in the
session), else the browser's Accept-Language; catalogues compiled from the shipped .po files at start-up;
every time shown in the TIMEZONE setting."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, redirect, request, session
from flask_babel import Babel, get_locale
from werkzeug.wrappers import Response

from trunkline.data.db import session_scope
from trunkline.data.models import User

from .figures import zone
from .security import db, local_path

LANGUAGES = ("zh_CN", "en")        # the catalogues shipped; en is the source language
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "en"
TRANSLATIONS = os.path.join(os.path.dirname(__file__), "translations")


def select_locale() -> str:
    """The language of this request: the choice in the session, else the user's stored one, else
    Accept-Language (zh* -> zh_CN), else English."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    user = getattr(g, "user", None)
    if user is not None and getattr(user, "language", None) in LANGUAGES:
        return str(user.language)
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"]) if request else None
    if best and best.lower().startswith("zh"):
        return "zh_CN"
    return DEFAULT_LANGUAGE


def compile_catalogues(src: str = TRANSLATIONS, dest: str | None = None) -> str:
    """Compile every <lang>/LC_MESSAGES/messages.po under `src` into .mo files under `dest` (default: a cache
    directory named after the .po contents, reused while they are unchanged); returns the directory."""
    pos = sorted(os.path.join(root, f) for root, _d, files in os.walk(src) for f in files if f.endswith(".po"))
    digest = hashlib.sha256()
    for p in pos:
        with open(p, "rb") as f:
            digest.update(p.encode() + f.read())
    dest = dest or os.path.join(tempfile.gettempdir(), f"trunkline-i18n-{os.getuid()}-{digest.hexdigest()[:16]}")
    for p in pos:
        rel = os.path.relpath(p, src)
        lang = rel.split(os.sep)[0]
        # Babel names the locale zh_CN "zh_Hans_CN" when it looks for the catalogue: write both
        for name in {lang, str(Locale.parse(lang))}:
            out = os.path.join(dest, name, *rel.split(os.sep)[1:])[:-3] + ".mo"
            if os.path.exists(out):
                continue
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(p, "rb") as src_f:
                cat = read_po(src_f)
            tmp = f"{out}.{os.getpid()}.tmp"
            with open(tmp, "wb") as out_f:
                write_mo(out_f, cat, use_fuzzy=False)
            os.replace(tmp, out)
    return dest


def local_zone() -> dt.tzinfo:
    """The time zone every time is shown in (TIMEZONE setting)."""
    return zone(current_app.config.get("TIMEZONE"))


def local_time(v: object, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A datetime (naive = UTC) or epoch seconds as local time text; "" for None."""
    if v is None:
        return ""
    if isinstance(v, (int, float)):
        v = dt.datetime.fromtimestamp(float(v), dt.timezone.utc)
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        return v.astimezone(local_zone()).strftime(fmt)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def install(app: Flask) -> Babel:
    """Attach Flask-Babel to `app` (catalogues compiled from webadmin/translations) and the /lang/<code> switch,
    which also remembers the choice for a logged-in user."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = compile_catalogues()
    babel = Babel(app, locale_selector=select_locale)

    @app.context_processor
    def _languages() -> dict[str, object]:
        loc = str(get_locale() or DEFAULT_LANGUAGE)
        return {"languages": LANGUAGE_NAMES, "tz_name": app.config.get("TIMEZONE") or "UTC",
                "html_lang": "zh-CN" if loc.startswith("zh") else "en"}

    @app.route("/lang/<code>")
    def switch_language(code: str) -> Response:
        if code not in LANGUAGES:
            return Response("unknown language", status=400, mimetype="text/plain")
        session["lang"] = code
        user = getattr(g, "user", None)
        if user is not None:
            with session_scope(db()) as s:
                row = s.get(User, user.id)
                if row is not None:
                    row.language = code
        return redirect(local_path(request.args.get("next", "")) or "/")

    return babel
