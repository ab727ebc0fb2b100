"""Schedule adherence on the supervisor console (its own section, templates/_adherence.html) and the ACD's
"who should be signed in now" query as JSON: per agent of the supervisor's groups, scheduled (working /
break / off, from acd_shifts and the calendars) vs signed in vs ready, in the local time zone."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, current_app, jsonify
from sqlalchemy import select

from trunkline.acd import schedules
from trunkline.acd.models import AcdMember
from trunkline.data.timeutil import from_epoch

from .cti import _core, _factory, _perm, my_queues
from .figures import zone

bp = Blueprint("schedules", __name__)


def _now() -> dt.datetime:
    """The ACD clock (epoch s in the server) as an aware UTC datetime."""
    return from_epoch(_core().now())


def _my_agents() -> set[str] | None:
    mine = my_queues()
    if mine is None:
        return None
    with _factory()() as s:
        return set(s.scalars(select(AcdMember.agent).where(AcdMember.queue.in_(sorted(mine)))))


@bp.route("/supervisor/adherence")
def adherence() -> Response:
    """JSON: schedule adherence now of the agents of this supervisor's groups (acd.schedules.adherence)."""
    if not _perm("monitor"):
        abort(403)
    tz = zone(current_app.config.get("TIMEZONE"))
    return jsonify(schedules.adherence(_factory(), _now(), tz, _my_agents()))


@bp.route("/api/acd/scheduled")
def scheduled() -> Response:
    """JSON: the agents who should be signed in now (working or on a scheduled break), local time."""
    if not _perm("monitor"):
        abort(403)
    tz = zone(current_app.config.get("TIMEZONE"))
    now = _now()
    return jsonify({"time": now.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    "agents": schedules.should_be_signed_in(_factory(), now, tz)})
