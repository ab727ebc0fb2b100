"""Hardware and trunks pages read from the running board: spans (kind, signaling, alarms), their channels
(state, call, signaling), the span alarm history, what the configuration file asks for against what the board
reports, and SIP (configured trunks, live registrations, live calls with RTP/RTCP loss and jitter)."""
from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from trunkline.data.alarm_models import SpanAlarmEvent
from trunkline.data.db import session_scope
from trunkline.hw_sim.card import parse_sim_url
from trunkline.media.alarm_watch import alarm_names
from trunkline.media.channel_table import channel_rows

from .hub import Hub
from .security import db, require

bp = Blueprint("hardware", __name__)

def alarm_label(name: str) -> str:
    """An alarm's name in the user's language."""
    return {"red": _("red alarm (loss of signal)"), "blue": _("blue alarm (AIS)"),
            "yellow": _("yellow alarm (remote alarm)")}.get(name, name)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"alarm_label": alarm_label}


def _kind_label(kind: str) -> str:
    return {"e1": _("E1 digital trunk"), "t1": _("T1 digital trunk"), "fxo": _("analog trunk ports (FXO)"),
            "fxs": _("station ports (FXS)"), "sip": _("SIP trunk span")}.get(kind, kind)


def _signaling_label(trunk: str) -> str:
    return {"pri": _("ISDN PRI (Q.931)"), "r2": _("China No.1 (R2 MFC)"), "ss7": _("China No.7 (SS7 ISUP)"),
            "analog": _("analog loop start"), "station": _("station (loop start)"),
            "sip": _("SIP")}.get(trunk, trunk)


def _hub() -> Hub:
    hub: Hub = current_app.config["HUB"]
    return hub


def _engine() -> Any:
    return _hub().engine


def spans_now() -> list[dict[str, Any]]:
    """One row per span of the running board: index, kind, law, signaling, channels, busy, alarms (names)."""
    eng = _engine()
    if eng is None or not hasattr(eng, "signaling"):
        return []
    rows = []
    for sig in eng.signaling:
        span = sig.span
        status = sig.status() or {}
        bits = int(span.alarms)
        rows.append({"span": span.index, "kind": span.kind, "kind_label": _kind_label(span.kind), "law": span.law,
                     "trunk": sig.trunk, "signaling": _signaling_label(sig.trunk),
                     "summary": status.get("summary", ""), "channels": len(span.bearer_channels),
                     "dchannel": span.dchannel, "busy": sum(ch in eng.calls for ch in span.bearer_channels),
                     "alarm_bits": bits, "alarms": alarm_names(bits),
                     "first": span.bearer_channels[0] if span.bearer_channels else None})
    return rows


def configured(cfg: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """What the configuration file asks for: kind -> (spans, bearer channels); {} when it cannot say (dahdi://
    takes the spans DAHDI's system.conf configured)."""
    url = str(cfg.get("board_url", ""))
    want: dict[str, tuple[int, int]] = {}
    if url.startswith("sim://"):
        _name, kw, _opts = parse_sim_url(url)
        trunk = str(cfg.get("trunk_signaling", "pri"))
        if kw.get("e1"):
            want["e1"] = (int(kw["e1"]), int(kw["e1"]) * 30)
        if kw.get("t1"):
            want["t1"] = (int(kw["t1"]), int(kw["t1"]) * (23 if trunk == "pri" else 24))
        if kw.get("fxo"):
            want["fxo"] = (1, int(kw["fxo"]))
        fxs_spans, fxs = (1 if kw.get("fxs") else 0), int(kw.get("fxs") or 0)
        if cfg.get("browser_phones"):
            fxs_spans, fxs = fxs_spans + 1, fxs + int(cfg["browser_phones"])
        if fxs:
            want["fxs"] = (fxs_spans, fxs)
    if cfg.get("sip_channels"):
        want["sip"] = (1, int(cfg["sip_channels"]))
    return want


def compare(cfg: dict[str, Any], spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per span kind: configured (spans, channels) against reported by the board, and whether they agree."""
    want = configured(cfg)
    got: dict[str, list[int]] = {}
    for sp in spans:
        got.setdefault(sp["kind"], [0, 0])
        got[sp["kind"]][0] += 1
        got[sp["kind"]][1] += sp["channels"]
    known = bool(want) or not str(cfg.get("board_url", "")).startswith("dahdi://")
    rows = []
    for kind in sorted(set(want) | set(got)):
        w, g = want.get(kind), tuple(got.get(kind, (0, 0)))
        rows.append({"kind": kind, "kind_label": _kind_label(kind), "configured": w, "reported": g,
                     "match": None if w is None and not known else (w == g)})
    return rows


def _history(span: int | None = None, limit: int = 200) -> list[SpanAlarmEvent]:
    with session_scope(db()) as s:
        q = select(SpanAlarmEvent).order_by(SpanAlarmEvent.id.desc()).limit(limit)
        if span is not None:
            q = q.where(SpanAlarmEvent.span == span)
        rows = list(s.scalars(q))
        s.expunge_all()
        return rows


@bp.route("/hardware")
@require("config.view")
def boards() -> str:
    """The board: URL, device health, spans read from it, configured vs reported, the newest alarm events."""
    eng = _engine()
    board = getattr(eng, "board", None)
    spans = spans_now()
    cfg = _hub().board_config
    return render_template("hardware.html", board=board, health=board.health() if board is not None else {},
                           spans=spans, compare=compare(cfg, spans), cfg=cfg, history=_history(limit=20),
                           alarm_counts=Counter(a for sp in spans for a in sp["alarms"]))


@bp.route("/hardware/span/<int:index>")
@require("config.view")
def span(index: int) -> str:
    """One span's channels (state, call, signaling per channel) and its alarm history."""
    eng = _engine()
    sp = next((s for s in spans_now() if s["span"] == index), None)
    if eng is None or sp is None:
        abort(404, description=_("No span %(n)s on the running board.", n=index))
    rows = [r for r in channel_rows(eng) if r["span"] == index]
    if sp["trunk"] == "r2":                  # China No.1: the line signaling bits each timeslot receives now
        for r in rows:
            r["cas"] = format(int(eng.board.backend.get_cas(r["channel"])) & 0xF, "04b")
    extra = sorted({k for r in rows for k in r} - {"channel", "span", "kind", "trunk", "state", "caller", "called",
                                                    "since", "duration", "call_id", "alarms", "signaling"})
    labels = {"cic": _("circuit (CIC)"), "cic_state": _("circuit state"), "cas": _("line signaling bits (ABCD)")}
    return render_template("hardware_span.html", sp=sp, rows=rows, extra=[(k, labels.get(k, k)) for k in extra],
                           history=_history(index))


@bp.route("/hardware/alarms")
@require("config.view")
def alarms() -> str:
    """The alarm history of every span (newest first, local times); ?span=N for one span."""
    raw = request.args.get("span", "")
    span_no = int(raw) if raw.isdigit() and len(raw) < 6 else None
    return render_template("hardware_alarms.html", rows=_history(span_no, 500), span=span_no)


@bp.route("/hardware/sip")
@require("config.view")
def sip() -> str:
    """SIP: the configured trunks, live registrations and live calls (RTP packets, loss, jitter both ways)."""
    eng = _engine()
    live = eng.signaling_status() if eng is not None and hasattr(eng, "signaling_status") else []
    cfg = _hub().board_config
    trunk_set = _hub().sip_trunks               # file + web admin trunks as running now
    trunks = (trunk_set.listing() if trunk_set is not None else
              [dict(t, source="file") for t in cfg.get("sip_trunks") or []])
    return render_template("hardware_sip.html", trunks=trunks,
                           listen=cfg.get("sip_listen", ""), sip_channels=cfg.get("sip_channels", 0),
                           regs=[r for r in live if r.get("kind") == "registration"],
                           calls=[r for r in live if r.get("kind") == "call"])
