"""Records: CDR search with CSV export, recordings (HTML5 audio with range requests), voicemail, faxes."""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, stream_with_context
from flask_babel import gettext as _
from PIL import Image
from sqlalchemy import Select, or_, select

from trunkline.data import numbers
from trunkline.data.db import session_scope
from trunkline.data.models import Cdr, Fax, Recording
from trunkline.ivr.models import IvrMailbox, IvrVoicemailMessage

from .i18n import local_time, local_zone
from .rows import export_row, int_arg, listed, row_or_404
from .security import audit, db, require

log = logging.getLogger("trunkline.webadmin")

bp = Blueprint("records", __name__)

CDR_COLUMNS = ["call_id", "start", "answer", "end", "direction", "trunk", "span", "channel", "caller", "called",
               "queue", "agent", "outcome", "hangup_cause", "duration", "billsec", "wait", "talk", "wrapup",
               "survey_score", "ivr_path", "recording_id", "recording_policy"]


def parse_day(text: str | None, end: bool = False) -> dt.datetime | None:
    """"YYYY-MM-DD" (or ISO datetime) -> aware datetime, a day of the local zone; end=True: the next midnight."""
    if not text:
        return None
    try:
        v = dt.datetime.fromisoformat(text)
    except ValueError:
        abort(400, description=_("not a date: %(text)s (use YYYY-MM-DD)", text=text[:40]))
    if v.tzinfo is None:
        v = v.replace(tzinfo=local_zone())          # a day of the TIMEZONE setting
    if end and len(text) <= 10:
        try:
            v += dt.timedelta(days=1)
        except OverflowError:
            abort(400, description=_("date out of range: %(text)s", text=text[:40]))
    return v


def cdr_query(args: Mapping[str, str]) -> Select[Any]:
    """SELECT over CDRs filtered by date range, number (caller or called), agent, queue, outcome."""
    q = select(Cdr)
    a, b = parse_day(args.get("from")), parse_day(args.get("to"), end=True)
    if a:
        q = q.where(Cdr.start >= a)
    if b:
        q = q.where(Cdr.start < b)
    if args.get("number"):
        typed = args["number"].strip().replace("%", "").replace("_", "")
        # +86 / 0086 / 0 / spaces and dashes: any written form finds the number however it was stored
        key = numbers.search_key(typed) if any(ch.isdigit() for ch in typed) else typed
        pat = "%" + (key or typed) + "%"
        q = q.where(or_(Cdr.caller.like(pat), Cdr.called.like(pat)))
    for col in ("agent", "queue", "outcome", "direction"):
        if args.get(col):
            q = q.where(getattr(Cdr, col) == args[col].strip())
    return q.order_by(Cdr.start.desc(), Cdr.id.desc())


@bp.route("/cdrs")
@require("records.view")
def cdrs() -> str:
    """CDR search page."""
    limit = int_arg("limit", 200, 1, 2000)
    with session_scope(db()) as s:
        rows = s.scalars(cdr_query(request.args).limit(limit)).all()
    return render_template("cdrs.html", rows=rows, args=request.args, limit=limit)


@bp.route("/cdrs.csv")
@require("records.view")
def cdrs_csv() -> Response:
    """The same search as CSV (all matching rows)."""
    query = cdr_query(request.args)     # bad arguments: a 400 now, not an error in the middle of the stream

    def gen() -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(CDR_COLUMNS)
        yield "\ufeff" + buf.getvalue()           # UTF-8 BOM: Excel reads the Chinese text right
        with session_scope(db()) as s:
            for c in s.scalars(query.execution_options(yield_per=500)):
                buf.seek(0)
                buf.truncate()
                w.writerow(export_row([_export_value(getattr(c, k)) for k in CDR_COLUMNS]))
                yield buf.getvalue()
    audit("export", "cdrs.csv", request.query_string.decode()[:200])
    return Response(stream_with_context(gen()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=cdrs.csv"})


def _export_value(v: object) -> object:
    """A CDR value for the CSV: times in the local time zone (TIMEZONE), the rest as it is."""
    return local_time(v) if isinstance(v, dt.datetime) else v


def _media_problem(full: str, base_dirs: list[str]) -> str | None:
    """Why the stored file at absolute path `full` may not be served (None: it may)."""
    if not any(full.startswith(os.path.realpath(d) + os.sep) for d in base_dirs):
        return _("file outside the media directories")
    if not os.path.isfile(full):
        return _("file missing on disk")
    return None


def _safe_file(path: str, base_dirs: list[str]) -> str:
    """Absolute path of a stored file, refused (404) when it lies outside the configured directories."""
    full = os.path.realpath(path)
    problem = _media_problem(full, base_dirs)
    if problem:
        abort(404, description=problem)
    return full


def _media_dirs() -> list[str]:
    hub = current_app.config["HUB"]
    dirs = [hub.recordings_dir, hub.fax_dir, hub.prompts_dir] + list(current_app.config.get("MEDIA_DIRS", []))
    return [d for d in dirs if d]


MIMES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}


@bp.route("/recordings")
@require("records.view")
def recordings() -> str:
    """Recordings list with in-browser players."""
    rows = listed(Recording, [Recording.started_at.desc()], 200, {"call_id": Recording.call_id})
    return render_template("recordings.html", rows=rows)


@bp.route("/recordings/<int:rid>/audio")
@require("recordings.listen")
def recording_audio(rid: int) -> Response:
    """The audio file, with HTTP range requests (206) for seeking; each first fetch is audited."""
    r = row_or_404(Recording, rid)
    path, fmt = r.path, r.format
    full = _safe_file(path, _media_dirs())
    if "Range" not in request.headers or request.headers.get("Range", "").startswith("bytes=0-"):
        audit("listen_recording", f"recording:{rid}", path)
    return send_file(full, mimetype=MIMES.get(fmt, "application/octet-stream"), conditional=True)


# ---------------------------------------------------------------- voicemail (IVR tables)

@bp.route("/voicemail")
@require("records.view")
def voicemail() -> str:
    """Voicemail messages by box (the IVR's ivr_voicemail_* tables)."""
    Box, Msg = IvrMailbox, IvrVoicemailMessage
    with session_scope(db()) as s:
        q = select(Msg, Box.box).join(Box, Box.id == Msg.mailbox_id).order_by(Msg.created_at.desc()).limit(300)
        rows = [{"id": m.id, "box": box, "caller": m.caller, "at": m.created_at, "seconds": m.duration_ms / 1000,
                 "folder": m.folder} for m, box in s.execute(q)]
    return render_template("voicemail.html", rows=rows)


@bp.route("/voicemail/<int:mid>/audio")
@require("recordings.listen")
def voicemail_audio(mid: int) -> Response:
    """A voicemail message's audio with range requests."""
    path = row_or_404(IvrVoicemailMessage, mid).path
    full = _safe_file(path, _media_dirs() + current_app.config.get("VOICEMAIL_DIRS", []))
    audit("listen_voicemail", f"voicemail:{mid}", path)
    return send_file(full, mimetype=MIMES.get(full.rsplit(".", 1)[-1].lower(), "audio/wav"), conditional=True)


# ---------------------------------------------------------------- faxes

@bp.route("/faxes")
@require("records.view")
def faxes() -> str:
    """Fax inbox and outbox."""
    with session_scope(db()) as s:
        rows = s.scalars(select(Fax).order_by(Fax.at.desc()).limit(300)).all()
    return render_template("faxes.html", inbox=[f for f in rows if f.direction == "in"],
                           outbox=[f for f in rows if f.direction == "out"])


def tiff_page_png(path: str, page: int, max_width: int = 1000) -> bytes:
    """PNG bytes of one page (0-based) of a TIFF file, scaled to at most `max_width` pixels, aspect kept.

    Fax pages have different X/Y resolution (204x98 dpi normal): rows are stretched to square pixels.
    """
    with Image.open(path) as im:
        try:
            im.seek(page)
        except EOFError:
            abort(404, description=_("no page %(n)s", n=page + 1))
        frame = im.convert("L")
        xres, yres = (float(v) for v in im.info.get("dpi", (204, 196)))
        w, h = frame.size
        if xres > 0 and yres > 0 and abs(xres - yres) > 1:
            h = int(round(h * float(xres) / float(yres)))
        scale = min(1.0, max_width / w)
        frame = frame.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        frame.save(out, "PNG", optimize=True)
        return out.getvalue()


@bp.route("/faxes/<int:fid>")
@require("records.view")
def fax(fid: int) -> str:
    """One fax with its page images (a file that cannot be read shows no pages; the log says why)."""
    f = row_or_404(Fax, fid)
    pages = f.pages
    if not pages:
        pages = _tiff_pages(f.path)
    return render_template("fax.html", f=f, pages=range(pages))


@bp.route("/faxes/<int:fid>/page/<int:page>.png")
@require("records.view")
def fax_page(fid: int, page: int) -> Response:
    """PNG rendering of page `page` (1-based) of a fax's TIFF file."""
    path = row_or_404(Fax, fid).path
    if page < 1:
        abort(404)
    png = tiff_page_png(_safe_file(path, _media_dirs()), page - 1)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _tiff_pages(path: str) -> int:
    """Number of pages of a stored fax TIFF file; 0 (logged) when it is not served or cannot be read."""
    full = os.path.realpath(path)
    problem = _media_problem(full, _media_dirs())
    if problem:
        log.warning("fax file %s: %s", path, problem)
        return 0
    try:
        with Image.open(full) as im:
            return int(getattr(im, "n_frames", 1))
    except OSError as exc:          # includes PIL.UnidentifiedImageError: not a TIFF we can read
        log.warning("fax file %s unreadable: %s", path, exc)
        return 0
