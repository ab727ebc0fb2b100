"""Language and time zone of the web admin (Flask-Babel): per user, else the browser's Accept-Language."""
from __future__ import annotations

from flask import Flask, redirect, request, session
from flask_babel import Babel
from werkzeug.wrappers import Response

from trunkline.webadmin.security import local_path

LANGUAGES = ("zh_CN", "en")        # the catalogues shipped; en is the source language
DEFAULT_LANGUAGE = "en"


def select_locale() -> str:
    """The language of this request: the user's choice kept in the session, else Accept-Language."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"]) if request else None
    if best and best.lower().startswith("zh"):
        return "zh_CN"
    return DEFAULT_LANGUAGE


def install(app: Flask) -> Babel:
    """Attach Flask-Babel to `app` (catalogues in webadmin/translations) and the /lang/<code> switch."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    babel = Babel(app, locale_selector=select_locale)

    @app.route("/lang/<code>")
    def switch_language(code: str) -> Response:
        if code not in LANGUAGES:
            return Response("unknown language", status=400, mimetype="text/plain")
        session["lang"] = code
        return redirect(local_path(request.args.get("next", "")) or "/")

    return babel
