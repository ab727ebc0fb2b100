"""Records: CDR search with CSV export, recordings (HTML5 audio with range requests), voicemail, faxes."""
from __future__ import annotations

import csv
import datetime as dt
import io
import os

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file
from sqlalchemy import or_, select

from trunkline.data.db import find_model, session_scope
from trunkline.data.models import Cdr, Fax, Recording

from .security import audit, db, require

bp = Blueprint("records", __name__)

CDR_COLUMNS = ["call_id", "start", "answer", "end", "direction", "trunk", "span", "channel", "caller", "called",
               "queue", "agent", "outcome", "hangup_cause", "duration", "billsec", "wait", "talk", "wrapup",
               "survey_score", "ivr_path", "recording_id"]


def parse_day(text, end=False):
    """'YYYY-MM-DD' (or ISO datetime) -> UTC datetime; with end=True a bare date means the next midnight."""
    if not text:
        return None
    try:
        v = dt.datetime.fromisoformat(text)
    except ValueError:
        abort(400, description=f"not a date: {text!r} (use YYYY-MM-DD)")
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    if end and len(text) <= 10:
        v += dt.timedelta(days=1)
    return v


def cdr_query(args):
    """SELECT over CDRs filtered by date range, number (caller or called), agent, queue, outcome."""
    q = select(Cdr)
    a, b = parse_day(args.get("from")), parse_day(args.get("to"), end=True)
    if a:
        q = q.where(Cdr.start >= a)
    if b:
        q = q.where(Cdr.start < b)
    if args.get("number"):
        pat = "%" + args["number"].strip().replace("%", "").replace("_", "") + "%"
        q = q.where(or_(Cdr.caller.like(pat), Cdr.called.like(pat)))
    for col in ("agent", "queue", "outcome", "direction"):
        if args.get(col):
            q = q.where(getattr(Cdr, col) == args[col].strip())
    return q.order_by(Cdr.start.desc(), Cdr.id.desc())


@bp.route("/cdrs")
@require("records.view")
def cdrs():
    """CDR search page."""
    limit = min(int(request.args.get("limit", 200) or 200), 2000)
    with session_scope(db()) as s:
        rows = s.scalars(cdr_query(request.args).limit(limit)).all()
    return render_template("cdrs.html", rows=rows, args=request.args, limit=limit)


@bp.route("/cdrs.csv")
@require("records.view")
def cdrs_csv():
    """The same search as CSV (all matching rows)."""
    def gen():
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(CDR_COLUMNS)
        yield buf.getvalue()
        with session_scope(db()) as s:
            for c in s.scalars(cdr_query(request.args).execution_options(yield_per=500)):
                buf.seek(0)
                buf.truncate()
                w.writerow([getattr(c, k) if getattr(c, k) is not None else "" for k in CDR_COLUMNS])
                yield buf.getvalue()
    audit("export", "cdrs.csv", request.query_string.decode()[:200])
    from flask import stream_with_context
    return Response(stream_with_context(gen()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=cdrs.csv"})


def _safe_file(path, base_dirs):
    """Absolute path of a stored file, refused (404) when it lies outside the configured directories."""
    full = os.path.realpath(path)
    if not any(full.startswith(os.path.realpath(d) + os.sep) for d in base_dirs):
        abort(404, description="file outside the media directories")
    if not os.path.isfile(full):
        abort(404, description="file missing on disk")
    return full


def _media_dirs():
    hub = current_app.config.get("HUB")
    dirs = [getattr(hub, "recordings_dir", None), getattr(hub, "fax_dir", None), getattr(hub, "prompts_dir", None)]
    dirs += current_app.config.get("MEDIA_DIRS", [])
    return [d for d in dirs if d]


MIMES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}


@bp.route("/recordings")
@require("records.view")
def recordings():
    """Recordings list with in-browser players."""
    with session_scope(db()) as s:
        q = select(Recording).order_by(Recording.started_at.desc())
        if request.args.get("call_id"):
            q = q.where(Recording.call_id == request.args["call_id"])
        rows = s.scalars(q.limit(200)).all()
    return render_template("recordings.html", rows=rows)


@bp.route("/recordings/<int:rid>/audio")
@require("recordings.listen")
def recording_audio(rid):
    """The audio file, with HTTP range requests (206) for seeking; each first fetch is audited."""
    with session_scope(db()) as s:
        r = s.get(Recording, rid)
        if r is None:
            abort(404)
        path, fmt = r.path, r.format
    full = _safe_file(path, _media_dirs())
    if "Range" not in request.headers or request.headers.get("Range", "").startswith("bytes=0-"):
        audit("listen_recording", f"recording:{rid}", path)
    return send_file(full, mimetype=MIMES.get(fmt, "application/octet-stream"), conditional=True)


# ---------------------------------------------------------------- voicemail (IVR tables)

@bp.route("/voicemail")
@require("records.view")
def voicemail():
    """Voicemail messages by box (the IVR's ivr_voicemail_* tables)."""
    Box, Msg = find_model("ivr_voicemail_boxes"), find_model("ivr_voicemail_messages")
    rows = []
    if Box is not None and Msg is not None:
        with session_scope(db()) as s:
            q = select(Msg, Box.box).join(Box, Box.id == Msg.mailbox_id).order_by(Msg.created_at.desc()).limit(300)
            rows = [{"id": m.id, "box": box, "caller": m.caller, "at": m.created_at, "seconds": m.duration_ms / 1000,
                     "folder": m.folder} for m, box in s.execute(q)]
    return render_template("voicemail.html", rows=rows, available=Box is not None)


@bp.route("/voicemail/<int:mid>/audio")
@require("recordings.listen")
def voicemail_audio(mid):
    """A voicemail message's audio with range requests."""
    Msg = find_model("ivr_voicemail_messages")
    if Msg is None:
        abort(404)
    with session_scope(db()) as s:
        m = s.get(Msg, mid)
        if m is None:
            abort(404)
        path = m.path
    full = _safe_file(path, _media_dirs() + current_app.config.get("VOICEMAIL_DIRS", []))
    audit("listen_voicemail", f"voicemail:{mid}", path)
    return send_file(full, mimetype=MIMES.get(full.rsplit(".", 1)[-1].lower(), "audio/wav"), conditional=True)


# ---------------------------------------------------------------- faxes

@bp.route("/faxes")
@require("records.view")
def faxes():
    """Fax inbox and outbox."""
    with session_scope(db()) as s:
        rows = s.scalars(select(Fax).order_by(Fax.at.desc()).limit(300)).all()
    return render_template("faxes.html", inbox=[f for f in rows if f.direction == "in"],
                           outbox=[f for f in rows if f.direction == "out"])


def tiff_page_png(path, page, max_width=1000):
    """PNG bytes of one page (0-based) of a TIFF file, scaled to at most `max_width` pixels, aspect kept.

    Fax pages have different X/Y resolution (204x98 dpi normal): rows are stretched to square pixels.
    """
    from PIL import Image
    with Image.open(path) as im:
        try:
            im.seek(page)
        except EOFError:
            abort(404, description=f"no page {page + 1}")
        frame = im.convert("L")
        xres, yres = (float(v) for v in im.info.get("dpi", (204, 196)))
        w, h = frame.size
        if xres > 0 and yres > 0 and abs(xres - yres) > 1:
            h = int(round(h * float(xres) / float(yres)))
        scale = min(1.0, max_width / w)
        frame = frame.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.LANCZOS)
        out = io.BytesIO()
        frame.save(out, "PNG", optimize=True)
        return out.getvalue()


@bp.route("/faxes/<int:fid>")
@require("records.view")
def fax(fid):
    """One fax with its page images."""
    with session_scope(db()) as s:
        f = s.get(Fax, fid)
        if f is None:
            abort(404)
    pages = f.pages
    if not pages:
        try:
            from PIL import Image
            with Image.open(_safe_file(f.path, _media_dirs())) as im:
                pages = getattr(im, "n_frames", 1)
        except Exception:
            pages = 0
    return render_template("fax.html", f=f, pages=range(pages))


@bp.route("/faxes/<int:fid>/page/<int:page>.png")
@require("records.view")
def fax_page(fid, page):
    """PNG rendering of page `page` (1-based) of a fax's TIFF file."""
    with session_scope(db()) as s:
        f = s.get(Fax, fid)
        if f is None:
            abort(404)
        path = f.path
    if page < 1:
        abort(404)
    png = tiff_page_png(_safe_file(path, _media_dirs()), page - 1)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})
